"""The Markdown table of a benchmark run (var/bench/results.md), ratios to the run's own baselines included."""

from __future__ import annotations

from typing import Any

from tests.benchmarks.common import ratio

TARGETS = {
    "ingest_ratio": "accepted ≥ 0.30 and published ≥ 0.25 of the raw producer; SQLite: published ÷ accepted "
                    "≥ 0.9",
    "ingest_pg": "≥ 5,000 messages/s on PostgreSQL",
    "e2e_p99": "p99 ≤ 100 ms at 1,000 messages/s",
    "monitor_p95": "p95 ≤ 200 ms at 10 million obligations",
    "breadth": "all counties: start < 10 s, idle < 300 MB",
}


def _f(value: Any, unit: str = "") -> str:  # noqa: ANN401
    if value is None:
        return "–"
    if isinstance(value, float) and value >= 100:
        return f"{value:,.0f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return f"{value}{unit}"


def _load(values: Any) -> str:  # noqa: ANN401
    return " / ".join(f"{v:.1f}" for v in values) if values else "–"


def markdown(r: dict[str, Any]) -> str:
    m, v = r.get("machine", {}), r.get("versions", {})
    pk = v.get("packages", {})
    lines = [
        f"# Benchmarks ({r.get('scale')}) — {r.get('started', '')[:19]} UTC",
        "",
        f"Machine: {m.get('cores')} cores, {m.get('cpu_model')}, {m.get('memory_gib')} GiB, {m.get('os')}. "
        f"CPU yardstick: {_f(r.get('cpu_baseline_json_roundtrips_per_s'))} JSON round trips/s (1 KB, one core).",
        f"Versions: Python {v.get('python')}, Apache Kafka {v.get('kafka')}, PostgreSQL {v.get('postgresql')} "
        f"(settings {r.get('postgresql_settings')}), SQLite {v.get('sqlite')}; "
        + ", ".join(f"{k} {x}" for k, x in pk.items() if x) + ".",
        f"Run took {r.get('seconds')} s. Sizes: {r.get('sizes')}.",
        f"Load average (1/5/15 min) at start {_load(r.get('load_average_at_start'))}, at end "
        f"{_load(r.get('load_average_at_end'))}; CPU yardstick at end "
        f"{_f(r.get('cpu_baseline_at_end_json_roundtrips_per_s'))}/s (a drop from the start means other work "
        "competed for the cores).",
        "",
        "Everything runs on this one machine: the client, the node(s), Kafka and PostgreSQL share its cores.",
        "",
    ]
    if "check_monitor_equivalence" in r:
        c = r["check_monitor_equivalence"]
        lines += [f"Check: SQL monitor queries equal the row-by-row reference: "
                  f"{'passed' if c['passed'] else 'FAILED'} ({c['summary']}).", ""]

    if "ingest" in r:
        i = r["ingest"]
        raw = i["raw_producer"]["per_s"]
        lines += ["## 1. Ingest (POST /v1/messages/batch, 500 × ~1 KB, 4 in flight) and 5. memory", "",
                  f"Baseline: raw aiokafka producer, same records (mean {i['raw_producer']['record_bytes_mean']} B "
                  f"with headers), same broker and settings: **{_f(raw)} records/s**.", "",
                  "| database | accepted/s | ÷ raw | accepted+published/s | ÷ raw | published ÷ accepted | "
                  "request p50 / p99 | node CPU per message | RSS idle | RSS under load |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for kind, label in (("postgresql", "postgresql"), ("postgresql_two_processes", "postgresql, 2 processes"),
                            ("postgresql_split", "postgresql, split: HTTP worker + background process"),
                            ("sqlite", "sqlite")):
            if kind in i:
                x = i[kind]
                lines.append(
                    f"| {label} | {_f(x['accepted_per_s'])} | {ratio(x['accepted_per_s'], raw)} | "
                    f"{_f(x['published_per_s'])} | {ratio(x['published_per_s'], raw)} | "
                    f"{ratio(x['published_per_s'], x['accepted_per_s'])} | {x['request_p50_ms']} / "
                    f"{x['request_p99_ms']} ms | {x['node_cpu_ms_per_message']} ms | {x['rss_idle_mib']} MiB | "
                    f"{x['rss_under_load_mib']} MiB |")
        lines += ["", f"Targets: {TARGETS['ingest_ratio']}; {TARGETS['ingest_pg']}.", ""]
        if "profile" in i and i["profile"].get("samples"):
            p = i["profile"]
            lines += [f"Profile of the node during ingest on PostgreSQL (py-spy, {p['samples']} samples, "
                      f"{p['file']}); inclusive share of samples, our code:", ""]
            lines += [f"- {share} % {name}" for name, share in p["ours_inclusive_top"][:15]]
            lines += ["", "Self time (top 12):", ""] + [f"- {share} % {name}" for name, share in p["self_top"][:12]]
            lines.append("")

    if "e2e" in r:
        e = r["e2e"]
        base = e["kafka_baseline"]
        lines += ["## 2. End to end (sender's 202 → record in the receiver's inbox), two nodes", "",
                  f"Baseline: bare Kafka producer → consumer, same records, {base['rate']}/s: "
                  f"p50 {base['p50_ms']} ms, p99 {base['p99_ms']} ms.", "",
                  "| database | offered/s | achieved/s | kept up | stored p50 / p99 | ÷ Kafka p50 / p99 | "
                  "visible in inbox p50 / p99 | from accepted_at p50 / p99 | 202 → published p50 | "
                  "published → stored p50 |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for kind, x in e.items():
            if not isinstance(x, dict) or "attempts" not in x:
                continue
            for a in x["attempts"]:
                b = e.get(f"kafka_baseline_{a['rate_offered']}", base) if a["rate_offered"] != base["rate"] else base
                missing = f" ({a['missing']:,} missing)" if a.get("missing") else ""
                lines.append(
                    f"| {kind} | {a['rate_offered']} | {a['rate_achieved']} | {'yes' if a['kept_up'] else 'no'} | "
                    f"{_f(a['stored']['p50_ms'])} / {_f(a['stored']['p99_ms'])} ms{missing} | "
                    f"{_f(ratio(a['stored']['p50_ms'], b['p50_ms'], 1))} / {_f(ratio(a['stored']['p99_ms'], b['p99_ms'], 1))} | "
                    f"{_f(a['visible']['p50_ms'])} / {_f(a['visible']['p99_ms'])} ms | "
                    f"{_f(a['from_accepted_at']['p50_ms'])} / {_f(a['from_accepted_at']['p99_ms'])} ms | "
                    f"{_f(a.get('published_by_sender', {}).get('p50_ms'))} ms | "
                    f"{_f(a.get('published_to_stored', {}).get('p50_ms'))} ms |")
        lines += ["", f"Batches of {e['batch']} messages per POST (open loop). 'stored' = receiver's received_at − "
                  "the 202's arrival; 'visible' = first seen by an inbox poller (20 ms) − the 202; '–' with missing: "
                  "records not in the inbox 15 s after the last was sent (the nodes fell behind). Target: "
                  f"{TARGETS['e2e_p99']}.", ""]

    if "sustained" in r:
        s = r["sustained"]
        base = s["kafka_baseline"]
        split = ", each split into an HTTP worker and a background process" if s.get("http_workers") else ""
        lines += [f"## 2b. Sustained: {s['rate_offered']} messages/s offered for {s['seconds']} s, two nodes on "
                  f"PostgreSQL{split} (achieved {s['rate_achieved']}/s, {_f(s['missing'])} missing)", "",
                  f"Baseline: bare Kafka producer → consumer at the same rate, p99 {base['p99_ms']} ms.", "",
                  "| window | messages | stored p50 / p99 | ÷ Kafka p99 | missing | sender's outbox, deepest |",
                  "|---|---|---|---|---|---|"]
        for w in s["windows"]:
            lines.append(f"| {w['window'] * 30}–{(w['window'] + 1) * 30} s | {_f(w['messages'])} | "
                         f"{_f(w['p50_ms'])} / {_f(w['p99_ms'])} ms | "
                         f"{_f(ratio(w['p99_ms'], base['p99_ms'], 1))} | {w['missing']} | "
                         f"{_f(w['outbox_depth_max'])} |")
        lines += ["", "Bounded means: p99 and the outbox do not grow from window to window. Target: "
                  f"{TARGETS['e2e_p99']}, for 10 minutes.", ""]

    if "group" in r:
        g = r["group"]
        one, two = g["processes_1"], g["processes_2"]
        lines += [f"## 2c. A provincial node group (MPX_CONSUMER_GROUP) consuming {_f(g['messages'])} records for "
                  f"{g['counties']} counties ({g['partitions']} partitions), the same records for each run", "",
                  "| processes | stored | seconds (first → last stored) | records/s | ÷ one process |",
                  "|---|---|---|---|---|",
                  f"| 1 | {_f(one['stored'])} | {one['seconds']} | {_f(one['per_s'])} | 1 |",
                  f"| 2 | {_f(two['stored'])} | {two['seconds']} | {_f(two['per_s'])} | "
                  f"{ratio(two['per_s'], one['per_s'])} |", ""]

    if "monitor" in r:
        mo = r["monitor"]
        base = mo["baseline_full_count_ms"]
        lines += [f"## 3. Monitor, {_f(mo['rows'])} obligations on PostgreSQL ({mo['table_mib']} MiB, "
                  f"{_f(mo['overdue_rows'])} overdue)", "",
                  f"Baselines: `SELECT count(*)` of the whole table {base} ms; GET /healthz p50 "
                  f"{mo['baseline_healthz']['p50_ms']} ms. Loaded with COPY in {mo['load_seconds']} s.", "",
                  "| query | p50 | p95 | p50 ÷ full count | response |", "|---|---|---|---|---|"]
        for name, q in mo["queries"].items():
            lines.append(f"| {name} | {q['p50_ms']} ms | {q['p95_ms']} ms | {ratio(q['p50_ms'], base, 2)} | "
                         f"{_f(q['response_bytes'])} B |")
        if "before_after" in mo:
            lines += ["", "Before/after the SQL rewrite (in-process, same data):", "",
                      "| query | before (rows into Python) | after (GROUP BY in SQL) | speed-up | same answer |",
                      "|---|---|---|---|---|"]
            for name, b in mo["before_after"].items():
                lines.append(f"| {name} | {b['before_ms']} ms | {b['after_ms']} ms | {b['speedup']}× | "
                             f"{b['same_answer']} |")
        lines += ["", f"Target: {TARGETS['monitor_p95']}.", ""]

    if "breadth" in r:
        b = r["breadth"]
        one = b.get("1", {})
        raw = r.get("ingest", {}).get("raw_producer", {}).get("per_s")
        lines += ["## 4. Breadth: one node, many counties (PostgreSQL)", "",
                  "| counties | start (first) | start (restart) | ÷ 1 county | RSS idle | RSS under load | "
                  "accepted/s | ÷ 1 county | ÷ raw producer |", "|---|---|---|---|---|---|---|---|---|"]
        for n, x in b.items():
            lines.append(
                f"| {x['counties']} | {x['start_seconds_first']} s | {x['start_seconds_restart']} s | "
                f"{ratio(x['start_seconds_first'], one.get('start_seconds_first'), 2)} | {x['rss_idle_mib']} MiB | "
                f"{x['rss_under_load_mib']} MiB | {_f(x['accepted_per_s'])} | "
                f"{ratio(x['accepted_per_s'], one.get('accepted_per_s'), 2)} | {ratio(x['accepted_per_s'], raw, 3)} |")
        lines += ["", f"Target: {TARGETS['breadth']}. Senders spread over (up to 500 of) the served counties.", ""]
    return "\n".join(lines) + "\n"
