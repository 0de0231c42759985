"""The `mpx` command: run a node, run a local federation, simulate traffic."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(help="Migrant-population exchange 流动人口信息交换", no_args_is_help=True, add_completion=False)
console = Console()


@app.command()
def node() -> None:
    """Run one node with the settings from the environment (see README: configuration)."""
    import uvicorn

    from exchange.api.app import create_app
    from exchange.config import Settings

    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                timeout_graceful_shutdown=10)


@app.command()
def run(
    simulate: bool = typer.Option(False, "--simulate", help="Also post realistic traffic and answer it."),
    rate: float = typer.Option(5.0, help="Messages per second the simulator posts."),
    duration: float = typer.Option(0, help="Stop after this many seconds (0: until Ctrl-C)."),
    base_port: int = typer.Option(8101, help="Port of the first node; the others follow."),
    var: Path = typer.Option(Path("var/run"), help="Where node databases and logs go."),
) -> None:
    """Start the local federation: 621227 徽县, 542526 改则县 and 330203 海曙区, over Kafka."""
    from exchange.federation import run_federation

    try:
        asyncio.run(run_federation(base_port=base_port, simulate=simulate, rate=rate, duration=duration or None,
                                   var=var, print_fn=lambda text: console.print(text, soft_wrap=True)))
    except KeyboardInterrupt:
        console.print("stopped")


@app.command()
def migrate() -> None:
    """Create or upgrade the node's database schema (DATABASE_URL)."""
    from exchange.config import Settings
    from exchange.storage.database import migrate as run_migrations

    asyncio.run(run_migrations(Settings().database_url))
    console.print("database is at the newest schema")


monitor = typer.Typer(help="The monitor's own data (a node started with MPX_ROLE=monitor).")
app.add_typer(monitor, name="monitor")


@monitor.command("rebuild-summary")
def monitor_rebuild_summary() -> None:
    """Recompute the timeliness summaries (both sides) from the stored obligations (DATABASE_URL), e.g. after a
    bulk load.

    The monitor's feed keeps the summary exact as it applies events; only data written around it needs this.
    """
    from exchange.config import Settings
    from exchange.monitor.summary import rebuild
    from exchange.storage.database import create_engine

    async def main() -> int:
        engine = create_engine(Settings().database_url)
        try:
            async with engine.begin() as conn:
                return await rebuild(conn)
        finally:
            await engine.dispose()

    console.print(f"monitor summary rebuilt: {asyncio.run(main()):,} rows")


keys = typer.Typer(help="API keys of local systems, monitors and admins (shown once, stored hashed).")
evidence = typer.Typer(help="The evidence chain: verify it, export and check one case's bundle.")
app.add_typer(keys, name="keys")
app.add_typer(evidence, name="evidence")


def _keystore():  # noqa: ANN202
    from exchange.config import Settings
    from exchange.security.keystore import KeyStore
    from exchange.storage.database import create_engine, migrate

    settings = Settings()
    asyncio.run(migrate(settings.database_url))
    return KeyStore(create_engine(settings.database_url))


def _operator() -> str:
    """Who ran the command, for the evidence chain: ``cli:<login>``."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@keys.command("create")
def keys_create(
    role: str = typer.Option(..., help="county_system, county_operator or admin on a node; provincial_monitor, "
                             "national_monitor or admin on a monitor (MPX_ROLE)."),
    name: str = typer.Option(..., help="Who holds it, e.g. 徽县卫健局流动人口信息系统"),
    county: list[str] = typer.Option([], help="County it acts for, one this node serves (repeat for several)."),
    province: list[str] = typer.Option([], help="Province a provincial monitor oversees, 33 or 330000 (repeat)."),
    days: int = typer.Option(365, help="Days until it expires (1 to 3650)."),
) -> None:
    """Create a key and print it once. The same rules and evidence as POST /v1/admin/keys."""
    from exchange.config import Settings
    from exchange.security.keystore import GrantRefused, check_grant

    try:
        grant = check_grant(Settings(), role=role, name=name, counties=county, provinces=province, days=days)
    except GrantRefused as refused:
        for error in refused.errors:
            console.print(f"[red]{error['field']}: {error['message']} ({error['message_zh']})[/red]")
        raise typer.Exit(2) from None
    store = _keystore()
    issued = asyncio.run(store.issue(grant, by=_operator()))
    asyncio.run(store.engine.dispose())
    console.print(f"key id {issued.key_id}; the key (shown only now):")
    print(issued.key)


@keys.command("list")
def keys_list() -> None:
    """Keys with their role, jurisdiction and state (never the secret)."""
    from rich.table import Table

    store = _keystore()
    rows = asyncio.run(store.list())
    asyncio.run(store.engine.dispose())
    table = Table("key id", "name", "role", "counties/provinces", "expires", "revoked")
    for r in rows:
        table.add_row(r["key_id"], r["name"], r["role"], ",".join(r["counties"] or r["provinces"]),
                      r["expires_at"] or "-", r["revoked_at"] or "-")
    console.print(table)


@keys.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key at once (nodes stop accepting it within seconds). The same as DELETE /v1/admin/keys/{key_id}."""
    store = _keystore()
    done = asyncio.run(store.revoke(key_id, by=_operator()))
    asyncio.run(store.engine.dispose())
    console.print({True: "revoked", False: "already revoked", None: "no such key"}[done])
    raise typer.Exit(1 if done is None else 0)


@keys.command("rotate-signing")
def keys_rotate_signing(
    county: str = typer.Option(..., help="County whose Ed25519 signing key is replaced, e.g. 621227."),
    overlap_days: float = typer.Option(7.0, help="Days the old key stays valid beside the new one."),
) -> None:
    """A new signing key for a county, valid from now; older keys end after the overlap. The running node
    publishes the new key on the keys topic and signs with it within 30 seconds (or at its next start)."""
    from datetime import timedelta

    from exchange.config import Settings
    from exchange.security.payload_crypto import PayloadCipher
    from exchange.storage.database import create_engine, migrate
    from exchange.trust import rotate_signing

    settings = Settings()
    if county not in settings.served:
        console.print(f"[red]{county} is not a county this node serves (MPX_COUNTIES)[/red]")
        raise typer.Exit(2)

    async def main():  # noqa: ANN202
        await migrate(settings.database_url)
        engine = create_engine(settings.database_url)
        try:
            return await rotate_signing(engine, PayloadCipher.from_setting(settings.payload_keys), county,
                                        timedelta(days=overlap_days))
        finally:
            await engine.dispose()

    key, shortened = asyncio.run(main())
    console.print(f"new signing key {key.key_id} for {county}, valid from {key.not_before.isoformat()}")
    for key_id, ends in shortened:
        console.print(f"  {key_id} now ends {ends.isoformat()}")


@keys.command("revoke-signing")
def keys_revoke_signing(
    county: str = typer.Option(..., help="County whose signing key is revoked, e.g. 621227."),
    key_id: str = typer.Option(..., help="The signing key to revoke (a stolen one)."),
) -> None:
    """Revoke a county's signing key at once: publishes a signed revocation on the keys topic; every node refuses
    records signed with the key from then on (key_revoked), whatever their time. If the key is the county's only
    valid one, a new key is made and published first (the node signs with it within 30 seconds)."""
    from exchange.config import Settings
    from exchange.security.key_records import KeyRecord, KeyRevocation, endorser_for
    from exchange.security.payload_crypto import PayloadCipher
    from exchange.storage.database import create_engine, migrate
    from exchange.timeutil import utcnow
    from exchange.transport.connection import client_options
    from exchange.transport.topics import TopicScheme
    from exchange.trust import load_signing_keys, rotate_signing

    settings = Settings()
    if county not in settings.served:
        console.print(f"[red]{county} is not a county this node serves (MPX_COUNTIES)[/red]")
        raise typer.Exit(2)

    async def main() -> str:
        from aiokafka import AIOKafkaProducer

        await migrate(settings.database_url)
        engine = create_engine(settings.database_url)
        cipher = PayloadCipher.from_setting(settings.payload_keys)
        try:
            keys = (await load_signing_keys(engine, cipher, [county])).get(county, [])
            target = next((k for k in keys if k.key_id == key_id), None)
            if target is None:
                raise typer.Exit(1)
            now = utcnow()
            records: list = []
            newer = [k for k in keys if k.not_before > target.not_before and k.public_key().valid_at(now)]
            if not newer:  # the county needs a key to sign with after this one
                fresh, _ = await rotate_signing(engine, cipher, county, timedelta(0), now)
                keys = (await load_signing_keys(engine, cipher, [county]))[county]
                fresh = next(k for k in keys if k.key_id == fresh.key_id)
                records.append(KeyRecord.endorse(fresh.public_key(), endorser_for(fresh, keys)))
                newer = [fresh]
            signer = max(newer, key=lambda k: k.not_before)
            records.append(KeyRevocation.sign(county, key_id, now, signer))
            producer = AIOKafkaProducer(**client_options(settings), acks="all")
            await producer.start()
            try:
                topic = TopicScheme(settings.topic_prefix, settings.topic_partitions).keys_topic
                for record in records:  # the new key before the revocation it signs
                    await producer.send_and_wait(topic, record.to_bytes(), key=record.kafka_key.encode(),
                                                 partition=0, headers=[("content-type", b"application/json")])
            finally:
                await producer.stop()
            return signer.key_id
        finally:
            await engine.dispose()

    signer = asyncio.run(main())
    console.print(f"signing key {key_id} of {county} revoked (signed by {signer}); every node refuses it from now on")


@keys.command("new-payload-key")
def keys_new_payload_key(key_id: str = typer.Option("", help="Id of the key (default: p<date>).")) -> None:
    """Print a new AES-256 payload key as `id:key`, to put first in MPX_PAYLOAD_KEYS (then run `mpx reseal`)."""
    from exchange.security.payload_crypto import new_key
    from exchange.timeutil import utcnow

    print(f"{key_id or utcnow().strftime('p%Y%m%d')}:{new_key()}")


agreements = typer.Typer(help="Cooperation agreements signed by a key the federation trusts.")
app.add_typer(agreements, name="agreements")


@agreements.command("new-key")
def agreements_new_key(key_id: str = typer.Option(..., help="Name of the key, e.g. nhc-2026.")) -> None:
    """Make an agreements signing key: prints MPX_AGREEMENT_SIGNING_KEY (keep it secret, on the node(s) that
    publish agreements) and the entry for MPX_AGREEMENT_KEYS (on every node)."""
    from exchange.security.agreements import new_agreement_key

    signing, trusted = new_agreement_key(key_id)
    print(f"MPX_AGREEMENT_SIGNING_KEY={signing}")
    print(f"MPX_AGREEMENT_KEYS={trusted}")


@agreements.command("sign")
def agreements_sign(file: Path, out: Path = typer.Option(..., help="Signed agreements file to write (JSON).")) -> None:
    """Sign the agreements of a JSON file with MPX_AGREEMENT_SIGNING_KEY, for MPX_AGREEMENTS_FILE on any node."""
    import json

    import orjson

    from exchange.config import Settings
    from exchange.security.agreements import AgreementKeys, AgreementRefused
    from exchange.sla import AgreementError, load_agreements

    settings = Settings()
    keys = AgreementKeys.parse("", settings.agreement_signing_key.get_secret_value())
    try:
        signed = [orjson.loads(keys.sign(a)) for a in load_agreements(file)]
    except (AgreementRefused, AgreementError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    out.write_text(json.dumps({"agreements": signed}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    console.print(f"signed {len(signed)} agreement(s) into {out}")


@app.command()
def reseal() -> None:
    """Re-encrypt every stored payload, outbox and quarantined record and signing key with the current payload key
    (the first of MPX_PAYLOAD_KEYS). Safe while the node runs; drop the old key from the setting afterwards."""
    from exchange.config import Settings
    from exchange.security.payload_crypto import PayloadCipher
    from exchange.storage.database import create_engine, migrate
    from exchange.trust import reseal as reseal_all

    settings = Settings()
    cipher = PayloadCipher.from_setting(settings.payload_keys)
    if cipher.current is None:
        console.print("[red]no payload key configured (MPX_PAYLOAD_KEYS)[/red]")
        raise typer.Exit(2)

    async def main():  # noqa: ANN202
        await migrate(settings.database_url)
        engine = create_engine(settings.database_url)
        try:
            return await reseal_all(engine, cipher)
        finally:
            await engine.dispose()

    counts = asyncio.run(main())
    console.print(f"resealed with key {cipher.current}: " + ", ".join(f"{n} {table}" for table, n in counts.items()))


@evidence.command("verify")
def evidence_verify() -> None:
    """Recompute the node's whole evidence chain; exit 1 at the first broken entry."""
    from exchange.config import Settings
    from exchange.security.evidence import verify
    from exchange.storage.database import create_engine

    engine = create_engine(Settings().database_url)
    count, broken = asyncio.run(verify(engine))
    if broken is None:
        console.print(f"evidence chain intact: {count} entries")
        return
    console.print(f"[red]evidence chain broken at entry {broken}[/red] ({count} entries)")
    raise typer.Exit(1)


@evidence.command("export")
def evidence_export(message_id: str, out: Path = typer.Option(..., help="Bundle file to write (JSON).")) -> None:
    """The signed evidence of one case: its entries (request, receipt, feedback, timings) and the node's signature."""
    from exchange.config import Settings
    from exchange.security.bundle import export_bundle, signing_key_for_case
    from exchange.storage.database import create_engine

    settings = Settings()
    engine = create_engine(settings.database_url)
    key = asyncio.run(signing_key_for_case(engine, settings, message_id))
    out.write_bytes(asyncio.run(export_bundle(engine, settings.node_id, message_id, key)))
    console.print(f"wrote {out}")


@evidence.command("check")
def evidence_check(bundle: Path) -> None:
    """Check a bundle as a third party would: entry hashes and the node's signature."""
    from exchange.security.bundle import check_bundle

    problems = check_bundle(bundle.read_bytes())
    if problems:
        for problem in problems:
            console.print(f"[red]{problem}[/red]")
        raise typer.Exit(1)
    console.print("bundle verified: every entry hash and the signature hold")


if __name__ == "__main__":
    app()
