"""The monthly bulletin (月度通报) of a province, on real Kafka, on SQLite and on PostgreSQL.

Three Zhejiang counties (海曙区 330203, 鄞州区 330212, 西湖区 330106, one node) and 徽县 (621227, Gansu) exchange
records in October and November 2026; each receiving county's node signs its obligations' lifecycle events with its
genuine key, and they reach the national monitor over the monitoring topic, as a node publishes them. The monitor's
bulletins for October and November, for Zhejiang and for Gansu, are checked figure by figure against the counts
made by hand below, as of Friday 20 November 2026 (November still running) and Thursday 3 December (closed).

By hand, for Zhejiang (the deadline is 24:00 of the due day; 海曙区 asked 徽县 for clarification twice):

October (closed on 20 November, so ranked on the full cohort):
  海曙区 receives 4 from 徽县, due 15 Oct: 3 on time, 1 answered late on 3 Nov (open at October's end): 3/4
  鄞州区 receives 2 from 徽县, due 20 Oct: 1 on time, 1 never answered (overdue): 1/2
  西湖区 receives nothing; sends 徽县 1, due 22 Oct: no rate, unranked
November, as of 20 November (running: ranked on the deadlines passed, the assessable rate):
  海曙区 receives 7: from 鄞州区 due 10 Nov on time (clarified: 2 working days paused); from 徽县 due 10 Nov on
    time, due 11 Nov withdrawn by 徽县, due 12 Nov late (answered 14 Nov), due 25 Nov paused for a second
    clarification, due 26 Nov answered early (18 Nov); from 西湖区 due 16 Nov, open, overdue.
    received 6 (the withdrawn one apart), on time 3, late 1; deadlines passed: 10, 10, 12, 16 Nov: 2/4 = 0.5,
    October 0.75: -25 points; overdue now 1
  鄞州区 receives 2 from 徽县, due 5 Nov, both on time: 2/2 = 1.0, October 0.5: +50 points
  西湖区 receives 1 from 徽县, due 13 Nov, on time (clarified the same day: no working day paused): 1/1 = 1.0,
    no October figure; it sends 2 (海曙区's of 16 Nov, and 徽县 one due 9 Nov)
  Ranking: 鄞州区 and 西湖区 tie at 1.0, 鄞州区 received more: 1 鄞州区, 2 西湖区, 3 海曙区.
November, as of 3 December (closed: the full cohort), after 海曙区 answered the 16 November one on 2 December:
  海曙区 3/6 = 0.5 (-25), overdue at November's end still 1 (answered after it); the others as before.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

import openpyxl
import orjson
import pytest

from exchange.adapters.crypto.canonical import monitoring_event_bytes
from exchange.domain.clock import SHANGHAI as CST
from exchange.domain.clock import set_clock, utcnow
from exchange.domain.obligation import end_of_day
from exchange.domain.principals import Role
from tests.integration.conftest import Federation, RunningNode, eventually
from tests.integration.test_deadlines_and_monitor import Clock
from tests.integration.test_trust import produce

pytestmark = pytest.mark.integration

HAISHU, YINZHOU, XIHU, HUI = "330203", "330212", "330106", "621227"


@pytest.fixture
def clock():
    travel = Clock(datetime(2026, 11, 20, 10, 0, tzinfo=CST))
    set_clock(lambda: travel.now)
    yield travel
    set_clock(None)


def day(month: int, d: int, hour: int = 10) -> datetime:
    return datetime(2026, month, d, hour, 0, tzinfo=CST)


def obligation(n: int, sender: str, receiver: str, due: date, *, answered: datetime | None = None,
               withdrawn: datetime | None = None, paused: bool = False, pause_count: int = 0,
               paused_days: int = 0, revision: int = 1) -> dict[str, Any]:
    """A lifecycle event as a receiving node announces it (timing facts and codes only)."""
    received = day(due.month, due.day) - timedelta(days=7)
    event = "answered" if answered else "cancelled" if withdrawn else "paused" if paused else "opened"
    return {
        "event": event, "revision": revision, "message_id": f"bulletin-{n:03d}", "message_type": "outflow_registration",
        "sender": sender, "receiver": receiver, "agreement_id": "default", "agreement_version": 1,
        "calendar_id": "CN@1", "received_at": received.isoformat(), "due_at": end_of_day(due).isoformat(),
        "due_day": due.isoformat(), "provisional": False,
        "answered_at": answered.isoformat() if answered else None, "response_working_days": 3 if answered else None,
        "cancelled_at": withdrawn.isoformat() if withdrawn else None,
        "cancel_reason": "withdrawn" if withdrawn else None, "paused": paused,
        "paused_working_days": paused_days, "pause_count": pause_count,
        "sender_due_at": None, "sender_due_day": None, "sent_at": None, "sender_late": None,
    }


OCT, NOV = 10, 11
LATE_ONE = obligation(20, XIHU, HAISHU, date(2026, 11, 16))  # open and overdue on 20 November
EVENTS = [
    # A verification request (协查), open past its deadline in November: in no record figure of the bulletin (first, so
    # that it has arrived when 海曙区's records have).
    {**obligation(30, HUI, HAISHU, date(2026, 11, 12)), "message_type": "verification_request", "urgency": "urgent"},
    # October
    *(obligation(i, HUI, HAISHU, date(2026, 10, 15), answered=day(OCT, 13)) for i in (1, 2, 3)),
    obligation(4, HUI, HAISHU, date(2026, 10, 15), answered=day(NOV, 3)),
    obligation(5, HUI, YINZHOU, date(2026, 10, 20), answered=day(OCT, 19)),
    obligation(6, HUI, YINZHOU, date(2026, 10, 20)),
    obligation(7, XIHU, HUI, date(2026, 10, 22), answered=day(OCT, 21)),
    # November
    obligation(10, YINZHOU, HAISHU, date(2026, 11, 10), answered=day(NOV, 9), pause_count=1, paused_days=2),
    obligation(11, HUI, HAISHU, date(2026, 11, 10), answered=day(NOV, 10)),
    obligation(12, HUI, HAISHU, date(2026, 11, 11), withdrawn=day(NOV, 6), pause_count=1, paused_days=1),
    obligation(13, HUI, HAISHU, date(2026, 11, 12), answered=day(NOV, 14)),
    obligation(14, HUI, HAISHU, date(2026, 11, 25), paused=True, pause_count=1),
    obligation(15, HUI, HAISHU, date(2026, 11, 26), answered=day(NOV, 18)),
    LATE_ONE,
    obligation(21, HUI, YINZHOU, date(2026, 11, 5), answered=day(NOV, 2)),
    obligation(22, HUI, YINZHOU, date(2026, 11, 5), answered=day(NOV, 5, 23)),
    obligation(23, HUI, XIHU, date(2026, 11, 13), answered=day(NOV, 12), pause_count=1),
    obligation(24, XIHU, HUI, date(2026, 11, 9)),
]


async def announce(federation: Federation, node: RunningNode, events: list[dict[str, Any]]) -> None:
    """Publish the events on the monitoring topic as the receivers' node does: signed by each receiving county."""
    topics = node.node.topics
    for event in events:
        key = node.node.trust.ring.signer(event["receiver"], utcnow())
        signature = key.sign(monitoring_event_bytes(event))
        headers = [("content-type", b"application/json"), ("ce_type", f"cn.mpx.obligation.{event['event']}".encode()),
                   ("mpx-key-id", key.key_id.encode()), ("mpx-signature", signature.encode())]
        await produce(federation.bootstrap, topics.monitor_topic, topics.partition_for(event["receiver"]),
                      event["receiver"], orjson.dumps(event), headers)


def line(rank: int | None, county: str, name: str, received: int, sent: int, answered: int, on_time: int, late: int,
         overdue: int, withdrawn: int, rate: float | None, previous: float | None,
         change: float | None) -> dict[str, Any]:
    return {"rank": rank, "county": county, "name": name, "received": received, "sent": sent, "answered": answered,
            "answered_on_time": on_time, "answered_late": late, "overdue_at_month_end": overdue,
            "withdrawn": withdrawn, "on_time_rate": rate, "previous_on_time_rate": previous, "change_points": change}


# By hand (see the module's docstring).
OCTOBER = [
    line(1, HAISHU, "海曙区", 4, 0, 4, 3, 1, 1, 0, 0.75, None, None),
    line(2, YINZHOU, "鄞州区", 2, 0, 1, 1, 0, 1, 0, 0.5, None, None),
    line(None, XIHU, "西湖区", 0, 1, 0, 0, 0, 0, 0, None, None, None),
]
OCTOBER_TOTAL = line(None, "330000", "浙江省", 6, 1, 5, 4, 1, 2, 0, 4 / 6, None, None)
NOVEMBER_RUNNING = [
    line(1, YINZHOU, "鄞州区", 2, 1, 2, 2, 0, 0, 0, 1.0, 0.5, 50.0),
    line(2, XIHU, "西湖区", 1, 2, 1, 1, 0, 0, 0, 1.0, None, None),
    line(3, HAISHU, "海曙区", 6, 0, 4, 3, 1, 1, 1, 0.5, 0.75, -25.0),
]
# deadlines passed on 20 November: 鄞州区 2 (2 on time), 西湖区 1 (1), 海曙区 4 (2): 5 of 7; October 4 of 6
NOVEMBER_RUNNING_TOTAL = line(None, "330000", "浙江省", 9, 3, 7, 6, 1, 1, 1, 5 / 7, 4 / 6, 100 * (5 / 7 - 4 / 6))
NOVEMBER_CLOSED = [
    line(1, YINZHOU, "鄞州区", 2, 1, 2, 2, 0, 0, 0, 1.0, 0.5, 50.0),
    line(2, XIHU, "西湖区", 1, 2, 1, 1, 0, 0, 0, 1.0, None, None),
    line(3, HAISHU, "海曙区", 6, 0, 5, 3, 2, 1, 1, 0.5, 0.75, -25.0),
]


async def test_the_monthly_bulletin_ranks_the_counties_of_a_province_as_counted_by_hand(
        federation: Federation, clock: Clock):
    zhejiang_node = await federation.start(HAISHU, YINZHOU, XIHU)
    gansu_node = await federation.start(HUI)
    monitor = await federation.start_monitor("all")
    keys = federation.monitor_nodes[-1].keys
    zhejiang = {"Authorization": "Bearer " + (await keys.create(
        name="浙江省卫生健康委", role=Role.PROVINCIAL_MONITOR, provinces=frozenset({"33"}))).key}
    gansu = {"Authorization": "Bearer " + (await keys.create(
        name="甘肃省卫生健康委", role=Role.PROVINCIAL_MONITOR, provinces=frozenset({"62"}))).key}
    for node in (zhejiang_node, gansu_node):
        await announce(federation, node, [e for e in EVENTS if (e["receiver"] == HUI) == (node is gansu_node)])

    async def bulletin(month: str, headers: dict[str, str], **params: str) -> dict[str, Any]:
        response = await monitor.get("/v1/monitor/bulletin", params={"month": month, **params}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def arrived() -> dict[str, Any] | None:
        answer = await bulletin("2026-11", zhejiang)
        total = answer["total"]
        return answer if (total["received"], total["withdrawn"], total["sent"]) == (9, 1, 3) else None

    november = await eventually(arrived, what="every November obligation at the monitor")
    assert november["counties"] == NOVEMBER_RUNNING
    assert november["total"] == pytest.approx(NOVEMBER_RUNNING_TOTAL)
    assert (november["month"], november["province"], november["name"]) == ("2026-11", "330000", "浙江省")
    assert (november["from"], november["to"]) == ("2026-11-01", "2026-12-01")
    assert (november["month_closed"], november["headline"]) == (False, "assessable")
    assert november["as_of"].startswith("2026-11-20T02:00:00") and november["overdue_as_of"] == november["as_of"]
    assert "deadline" in november["cohort"] and "county code" in november["ranking"]
    assert {"received", "sent", "overdue_at_month_end", "on_time_rate", "change_points"} <= november[
        "definitions"].keys()

    october = await bulletin("2026-10", zhejiang)
    assert october["counties"] == OCTOBER and october["total"] == pytest.approx(OCTOBER_TOTAL)
    assert (october["month_closed"], october["headline"]) == (True, "cohort")
    assert october["overdue_as_of"] == "2026-10-31T16:00:00+00:00"  # 24:00 on 31 October in Shanghai

    # The same bulletin for a national key naming the province; Gansu's monitor sees only its county.
    assert (await bulletin("2026-11", {}, province="330000"))["counties"] == NOVEMBER_RUNNING
    gansu_november = await bulletin("2026-11", gansu)
    assert [(r["county"], r["received"], r["sent"], r["overdue_at_month_end"]) for r in gansu_november["counties"]] \
        == [(HUI, 1, 7, 1)]
    assert (gansu_november["province"], gansu_november["counties"][0]["on_time_rate"]) == ("620000", 0.0)
    refused = await monitor.get("/v1/monitor/bulletin", params={"month": "2026-11", "province": "330000"},
                                headers=gansu)
    assert (refused.status_code, refused.json()["type"]) == (403, "urn:mpx:problem:province_not_monitored")
    which = await monitor.get("/v1/monitor/bulletin", params={"month": "2026-11"})  # national, monitor of all
    assert which.status_code == 400 and which.json()["detail_zh"]

    # A month not begun: 422 in Chinese and English.
    future = await monitor.get("/v1/monitor/bulletin", params={"month": "2026-12"}, headers=zhejiang)
    problem = future.json()
    assert (future.status_code, problem["type"]) == (422, "urn:mpx:problem:month_not_begun")
    assert problem["title_zh"] and problem["detail_zh"] and problem["title"] and "2026-12" in problem["detail"]
    malformed = await monitor.get("/v1/monitor/bulletin", params={"month": "2026-13"}, headers=zhejiang)
    assert (malformed.status_code, malformed.json()["type"]) == (422, "urn:mpx:problem:validation_failed")

    # The files a provincial office files: Chinese headings (English beside), in rank order, the total last.
    table = list(csv.reader(io.StringIO((await monitor.get("/v1/monitor/bulletin", params={
        "month": "2026-11", "format": "csv"}, headers=zhejiang)).content.decode("utf-8-sig"))))
    assert table[0] == ["排名 rank", "县区代码 county", "县区 name", "收到(应反馈) received", "发出 sent",
                        "已反馈 answered", "及时反馈 on time", "逾期反馈 late", "月末逾期未反馈 overdue at month end",
                        "已撤回 withdrawn", "及时反馈率 on-time rate", "上月及时反馈率 previous month's rate",
                        "较上月变化(百分点) change (percentage points)"]
    assert [r[:4] for r in table[1:]] == [["1", YINZHOU, "鄞州区", "2"], ["2", XIHU, "西湖区", "1"],
                                          ["3", HAISHU, "海曙区", "6"], ["", "合计 total", "浙江省", "9"]]
    response = await monitor.get("/v1/monitor/bulletin", params={"month": "2026-11", "format": "xlsx"},
                                 headers=zhejiang)
    assert 'filename="bulletin-330000-2026-11.xlsx"' in response.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert (sheet["A1"].value, sheet["K1"].value, sheet["M1"].value) == (
        "排名 rank", "及时反馈率 on-time rate", "较上月变化(百分点) change (percentage points)")
    assert (sheet["A4"].value, sheet["B4"].value, sheet["K4"].value, sheet["M4"].value) == (3, HAISHU, 0.5, -25.0)

    # The clarification figures beside the timeliness counts: 海曙区 clarified 2 of its 6 (2 working days paused),
    # 西湖区 1 of 1 (the same day: none); 海曙区's withdrawn one, though clarified, counts nowhere.
    timeliness = (await monitor.get("/v1/monitor/timeliness", params={"from": "2026-11-01", "to": "2026-12-01"},
                                    headers=zhejiang)).json()
    clarification = {g["group"]: (g["clarified"], g["clarification_rate"], g["paused_working_days"],
                                  g["mean_paused_working_days"]) for g in timeliness["groups"]}
    assert clarification == {HAISHU: (2, 2 / 6, 2, 1.0), XIHU: (1, 1.0, 0, 0.0), YINZHOU: (0, 0.0, 0, None)}
    total = timeliness["total"]
    assert (total["clarified"], total["clarification_rate"], total["paused_working_days"]) == (3, 3 / 9, 2)
    assert total["mean_paused_working_days"] == 2 / 3 and "clarification rate" in timeliness["cohort"]
    assert "clarified" in timeliness["definitions"]
    heading = (await monitor.get("/v1/monitor/timeliness", params={
        "from": "2026-11-01", "to": "2026-12-01", "format": "csv"}, headers=zhejiang)).content.decode("utf-8-sig")
    assert "补充说明率 clarification rate" in heading.splitlines()[0]

    # 3 December: November has closed. 海曙区 answered the overdue one on 2 December: late, and still overdue at
    # November's end.
    clock.to(datetime(2026, 12, 3, 10, 0, tzinfo=CST))
    await announce(federation, zhejiang_node, [{**LATE_ONE, "event": "answered", "revision": 2,
                                                "answered_at": day(12, 2).isoformat(), "response_working_days": 11}])

    async def answered() -> dict[str, Any] | None:
        answer = await bulletin("2026-11", zhejiang)
        return answer if answer["total"]["answered"] == 8 else None

    closed = await eventually(answered, what="the late answer at the monitor")
    assert closed["counties"] == NOVEMBER_CLOSED
    assert (closed["month_closed"], closed["headline"]) == (True, "cohort")
    assert closed["overdue_as_of"] == "2026-11-30T16:00:00+00:00"
    # full cohort: 6 on time of 9; October 4 of 6: no change
    assert closed["total"] == pytest.approx(line(None, "330000", "浙江省", 9, 3, 8, 6, 2, 1, 1, 6 / 9, 4 / 6, 0.0))
