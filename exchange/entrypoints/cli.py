"""The `mpx` command: run a node, run a local federation, simulate traffic.

Every command and option an office runs says what it does in Chinese beside English (tests/newcomer/test_cli_help.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import typer
from rich.console import Console

from contracts import MessageType
from exchange.entrypoints.local_broker import Choice

app = typer.Typer(help="Migrant-population exchange 流动人口信息交换", no_args_is_help=True, add_completion=False)
console = Console()


@app.command()
def node(
    http_workers: int = typer.Option(
        0, min=0, help="HTTP 工作进程数; 另有一个后台进程负责转发和接收 (需 PostgreSQL). 0: 一个进程做全部. "
        "HTTP worker processes on MPX_PORT, and one more process for the relay, consumer and feeds (PostgreSQL "
        "only). 0: one process does everything."),
    background_port: int = typer.Option(
        0, help="后台进程的 HTTP 端口 (其 /metrics 含转发和接收的指标); 0: MPX_PORT+1. The background process's HTTP "
        "port (its /metrics has the relay's and consumer's figures); 0: MPX_PORT+1."),
) -> None:
    """运行一个节点，配置取自环境变量 (见 README: Configuration). Run one node with the settings from the environment."""
    import uvicorn
    from pydantic import ValidationError

    from exchange.config import Settings
    from exchange.entrypoints.http.app import create_app
    from exchange.production import UnsafeSettings, refuse_unsafe

    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if http_workers:
        from exchange.entrypoints.processes import serve

        try:
            Settings(process_role="http")  # refused on SQLite, before anything starts
            refuse_unsafe(settings)
        except ValidationError:
            typer.echo("--http-workers 需要 PostgreSQL (DATABASE_URL) / --http-workers needs PostgreSQL (DATABASE_URL)",
                       err=True)
            raise typer.Exit(2) from None
        except UnsafeSettings as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
        try:
            serve(settings, http_workers, background_port or settings.port + 1)
        except RuntimeError as exc:  # the background process did not come up: its log says why
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        return
    try:
        application = create_app(settings)
    except UnsafeSettings as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    uvicorn.run(application, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                timeout_graceful_shutdown=10)


@app.command()
def run(
    simulate: bool = typer.Option(False, "--simulate", help="同时模拟业务流量并反馈 Also post realistic traffic and answer it."),
    rate: float = typer.Option(5.0, help="模拟器每秒发送的报文数 Messages per second the simulator posts."),
    duration: float = typer.Option(0, help="运行秒数后停止 (0: 直到 Ctrl-C) Stop after this many seconds (0: until Ctrl-C)."),
    base_port: int = typer.Option(8101, help="第一个节点的端口，其余依次递增 Port of the first node; the others follow."),
    var: Path = typer.Option(Path("var/run"), help="节点数据库、日志和 API 密钥的目录 Where node databases, logs and API keys go."),
    broker: Choice = typer.Option(
        Choice.auto, help="未设 KAFKA_BOOTSTRAP_SERVERS 时启动的消息服务: auto (有 Java 则 Apache Kafka, 否则内嵌), kafka, embedded. "
        "The broker started without KAFKA_BOOTSTRAP_SERVERS: auto (Apache Kafka if Java is there, else the embedded "
        "one), kafka, embedded."),
) -> None:
    """启动本地联盟: 621227 徽县, 542526 改则县, 330203 海曙区 和全国监测节点. Start the local federation: three county
    nodes and a national monitor, over Kafka."""
    from exchange.entrypoints.federation import run_federation

    try:
        asyncio.run(run_federation(base_port=base_port, simulate=simulate, rate=rate, duration=duration or None,
                                   var=var, broker_choice=broker, print_fn=lambda text: console.print(text, soft_wrap=True)))
    except KeyboardInterrupt:
        console.print("已停止 stopped")


@app.command()
def migrate() -> None:
    """创建或升级节点数据库结构 (DATABASE_URL). Create or upgrade the node's database schema."""
    from exchange.adapters.sql.database import migrate as run_migrations
    from exchange.config import Settings

    asyncio.run(run_migrations(Settings().database_url))
    console.print("数据库已是最新结构 database is at the newest schema")


@app.command()
def example(
    message_type: str = typer.Argument(..., help="报文类型 Message type: outflow_registration, pregnancy_check, "
                                       "birth, return_cancellation, or feedback (the body of an answer)."),
    sender: str = typer.Option("621227", "--from", help="发送县 Sending county: 621227, 542526 or 330203."),
    receiver: str = typer.Option("330203", "--to", help="接收县 Receiving county: 621227, 542526 or 330203."),
    message_id: str = typer.Option("", "--id", help="报文编号 (可选) Message id to set (optional)."),
    status: str = typer.Option("confirmed", help="反馈状态 Feedback status: received, confirmed, not_found, "
                               "moved_on or rejected."),
    seed: int = typer.Option(0, help="换一个人 Another seed, another (fictitious) person."),
) -> None:
    """打印一条完整有效的报文 (虚构人员), 可直接 POST. Print a complete, valid message body (a fictitious person) to
    POST to /v1/messages, or with `feedback` one to POST to /v1/messages/{id}/feedback."""
    import json

    from exchange.entrypoints.examples import ExampleRefused, submission

    try:
        body = submission(message_type, sender=sender, receiver=receiver, message_id=message_id or None,
                          status=status, seed=seed)
    except ExampleRefused as refused:
        console.print(f"[red]{refused} ({refused.zh})[/red]")
        raise typer.Exit(2) from None
    print(json.dumps(body, ensure_ascii=False, indent=2))


@app.command("template")
def template_command(
    message_type: str = typer.Argument(..., help="报文类型 Message type: outflow_registration, pregnancy_check, birth, "
                                                 "return_cancellation, verification_request, feedback."),
    output: Path = typer.Option(None, "--output", "-o", help="写入该文件 (默认: 标准输出) Write to this file (default: "
                                                             "standard output)."),
) -> None:
    """Excel 模板: 中文列名、下拉选项和示例行 An Excel template for a message type: Chinese headings, drop-downs, an
    example row."""
    from adapters.workbook import SHEET_TYPES, template

    if message_type not in SHEET_TYPES:
        console.print(f"[red]未知的报文类型 unknown message type {message_type!r}: "
                      f"{', '.join(t.value for t in SHEET_TYPES)}[/red]")
        raise typer.Exit(2)
    content = template(MessageType(message_type))
    if output is None:
        typer.get_binary_stream("stdout").write(content)
    else:
        output.write_bytes(content)


@app.command("import")
def import_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="填好的 .xlsx 或 .csv A filled-in .xlsx or .csv."),
    message_type: str = typer.Option(..., "--type", help="表中报文的类型 The sheet's message type (as mpx template)."),
    county: str = typer.Option(..., help="发送县 The sending county (the key's)."),
    url: str = typer.Option("http://127.0.0.1:8101", help="节点地址 The node's address."),
    key: str = typer.Option("", envvar="MPX_API_KEY", help="本县系统的 API 密钥 The county system's API key "
                                                           "(or MPX_API_KEY)."),
    valid_only: bool = typer.Option(False, "--valid-only", help="只发送无误的行 Send the valid rows even when others "
                                                                "have problems (default: all or nothing)."),
    check: bool = typer.Option(False, "--check", help="只校验不发送 Check every row, send nothing (no node needed)."),
) -> None:
    """导入 Excel/CSV: 逐行校验并发送，结果另存 Check every row with the contracts and send them; the result workbook
    (status, id, problems per row) is written beside the file. Importing the same file again sends nothing twice."""
    import hashlib

    from rich.progress import Progress

    from adapters.client import AsyncClient, ProblemError
    from adapters.workbook import SHEET_TYPES, SheetError, read, result, send

    if message_type not in SHEET_TYPES:
        console.print(f"[red]未知的报文类型 unknown message type {message_type!r}[/red]")
        raise typer.Exit(2)
    content = file.read_bytes()
    try:
        rows = read(content, file.name, MessageType(message_type), county)
    except SheetError as refused:
        console.print(f"[red]{refused.zh} / {refused.en}[/red]")
        raise typer.Exit(2) from None
    bad = [row for row in rows if row.problems]
    for row in bad:
        console.print(f"第 {row.number} 行 row {row.number}: " + "；".join(row.problems))
    sent: dict[int, str] = {}
    if not check and (not bad or valid_only):
        async def main() -> dict[int, str]:
            async with AsyncClient(url, api_key=key) as client:
                with Progress(console=console) as progress:
                    task = progress.add_task("发送 sending", total=len(rows) - len(bad))
                    return await send(rows, client.send_batch, hashlib.sha256(content).hexdigest(),
                                      lambda n: progress.advance(task, n))

        try:
            sent = asyncio.run(main())
        except ProblemError as refused:
            console.print(f"[red]{refused.detail_zh} / {refused.detail}[/red]")
    out = file.with_name(f"{file.stem}.result.xlsx")
    out.write_bytes(result(rows, sent))
    console.print(f"已发送 sent {len(sent)}，有误 with problems {len(bad)}，共 of {len(rows)} 行 rows; 结果 result: {out}")
    raise typer.Exit(1 if bad or (not check and len(sent) < len(rows)) else 0)


@app.command("export")
def export_command(
    what: str = typer.Argument(..., help="inbox (收到的报文) 或 or worklist (待办)."),
    county: str = typer.Option(..., help="县区 The county (the key's)."),
    output: Path = typer.Option(..., "--output", "-o", help="写入该文件 Write to this file (.xlsx or .csv)."),
    message_type: str = typer.Option("", "--type", help="只导出该类型 Only this message type (inbox; needed for .csv)."),
    url: str = typer.Option("http://127.0.0.1:8101", help="节点地址 The node's address."),
    key: str = typer.Option(..., envvar="MPX_API_KEY", help="本县系统的 API 密钥 The county's API key (or MPX_API_KEY)."),
) -> None:
    """导出收到的报文或待办 (Excel 每种报文一页，或 CSV) Export what the county received (a sheet per message type) or
    its to-do list, every page, as .xlsx or .csv."""
    from adapters.client import Client, ProblemError
    from adapters.workbook import export_csv, export_tables, export_xlsx

    if what not in ("inbox", "worklist") or output.suffix.lower() not in (".xlsx", ".csv"):
        console.print("[red]导出 inbox 或 worklist，文件为 .xlsx 或 .csv / export inbox or worklist, to .xlsx or .csv[/red]")
        raise typer.Exit(2)

    try:
        with Client(url, api_key=key) as client:
            items = list(client.iter_inbox(county=county, type=message_type or None) if what == "inbox"
                         else client.iter_worklist(county=county))
        tables = export_tables(what, items)
    except ProblemError as refused:
        console.print(f"[red]{refused.detail_zh} / {refused.detail}[/red]")
        raise typer.Exit(1) from None
    if output.suffix.lower() == ".csv":
        if len(tables) > 1:
            console.print("[red]CSV 只能是一种报文，请用 --type / a CSV holds one message type: add --type[/red]")
            raise typer.Exit(2)
        output.write_bytes(export_csv(next(iter(tables.values()), ([], []))))
    else:
        output.write_bytes(export_xlsx(tables))
    console.print(f"已导出 exported {sum(len(rows) for _, rows in tables.values())} 行 rows: {output}")


@app.command("folder")
def folder_command(
    county: str = typer.Option(..., help="本县区 The county (the key's)."),
    out: Path = typer.Option(..., "--out", file_okay=False, help="发件夹: 放入的 JSON/Excel/CSV 文件将被发送 The outgoing "
                                                                 "folder: JSON, Excel or CSV files put there are sent."),
    incoming: Path = typer.Option(..., "--in", file_okay=False, help="收件夹: 收到的报文写成文件 The incoming folder: "
                                                                     "what arrives is written there, a file each."),
    url: str = typer.Option("http://127.0.0.1:8101", help="节点地址 The node's address."),
    key: str = typer.Option(..., envvar="MPX_API_KEY", help="本县系统的 API 密钥 The county's API key (or MPX_API_KEY)."),
    settle: float = typer.Option(1.0, min=0.0, help="文件须静止的秒数 Seconds a file must be unchanged before it is "
                                                    "sent."),
    poll: float = typer.Option(2.0, min=0.1, help="查收间隔秒数 Seconds between looks at the inbox."),
) -> None:
    """文件夹交换: 发送发件夹中的文件 (移入 sent/ 或 failed/ 并附结果)，将收到的报文写入收件夹，每条一次，重启后继续. Exchange
    through folders: send the files put in --out (moved to sent/ or failed/ with a result beside), write what arrives
    into --in, each message once, across restarts. Stops on Ctrl-C or SIGTERM."""
    import signal

    from adapters.client import AsyncClient
    from adapters.folder import FolderBridge

    async def main() -> None:
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        async with AsyncClient(url, api_key=key) as client:
            bridge = FolderBridge(client, county, out, incoming, settle=settle, poll=poll, say=console.print)
            console.print(f"文件夹交换已启动 folder bridge started: {county} out={out} in={incoming}")
            await bridge.run(stop)

    asyncio.run(main())


monitor = typer.Typer(help="监测节点自身的数据 The monitor's own data (a node started with MPX_ROLE=monitor).")
app.add_typer(monitor, name="monitor")


@monitor.command("rebuild-summary")
def monitor_rebuild_summary() -> None:
    """由已存的反馈义务重算及时性汇总 (批量导入后). Recompute the timeliness summaries (both sides) from the stored
    obligations (DATABASE_URL), e.g. after a bulk load.

    The monitor's feed keeps the summary exact as it applies events; only data written around it needs this.
    """
    from exchange.adapters.sql.database import create_engine
    from exchange.adapters.sql.monitor_summary import rebuild
    from exchange.config import Settings

    async def main() -> int:
        engine = create_engine(Settings().database_url)
        try:
            async with engine.begin() as conn:
                return await rebuild(conn)
        finally:
            await engine.dispose()

    console.print(f"monitor summary rebuilt: {asyncio.run(main()):,} rows")


roster = typer.Typer(help="定期清查: 向各现居住地发送本月名单 The monthly roster check: send each residence county the "
                     "month's roster.")
app.add_typer(roster, name="roster")


@roster.command("run")
def roster_run(month: str = typer.Option(..., help="清查月份 Month to check, YYYY-MM (on or after its cut-off day).")
               ) -> None:
    """发送该月清查名单 (每月每对县区一次). Send the month's rosters from this node's counties (MPX_COUNTIES), once per
    month and county pair: a pair sent before is reported and sent nothing. The node's relay publishes them."""
    from exchange.adapters.sql.database import migrate
    from exchange.bootstrap import Node
    from exchange.config import Settings
    from exchange.domain.problems import Problem

    if not re.fullmatch(r"20[0-9]{2}-(0[1-9]|1[0-2])", month):
        console.print("[red]月份应为 YYYY-MM / the month is YYYY-MM[/red]")
        raise typer.Exit(2)

    async def main() -> dict:
        settings = Settings()
        await migrate(settings.database_url)
        node = Node(settings)
        try:
            return await node.rosters.run(month)
        finally:
            await node.engine.dispose()

    try:
        done = asyncio.run(main())
    except Problem as refused:
        console.print(f"[red]{refused.detail_zh} / {refused.detail_en}[/red]")
        raise typer.Exit(1) from None
    for pair in done["sent"]:
        console.print(f"已发送 sent {pair['registration_county']} → {pair['residence_county']}: {pair['entries']} "
                      f"人 persons ({pair['roster_id']})")
    for pair in done["already_sent"]:
        console.print(f"此前已发送 sent before {pair['registration_county']} → {pair['residence_county']} "
                      f"({pair['roster_id']})")
    if not done["sent"] and not done["already_sent"]:
        console.print("无在外人员 nobody registered away")


keys = typer.Typer(help="本地系统、监测和管理员的 API 密钥 (只显示一次，散列存储) API keys of local systems, monitors "
                   "and admins (shown once, stored hashed).")
evidence = typer.Typer(help="证据链: 校验、导出和核查单个案件的证据包 The evidence chain: verify it, export and check one "
                       "case's bundle.")
app.add_typer(keys, name="keys")
app.add_typer(evidence, name="evidence")


def _keystore():  # noqa: ANN202
    from exchange.adapters.api_keys import KeyStore
    from exchange.adapters.sql.database import create_engine, migrate
    from exchange.adapters.unit_of_work import evidence_only
    from exchange.config import Settings

    settings = Settings()
    asyncio.run(migrate(settings.database_url))
    engine = create_engine(settings.database_url)
    return KeyStore(engine, evidence_only(engine))


def _operator() -> str:
    """Who ran the command, for the evidence chain: ``cli:<login>``."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


users = typer.Typer(help="登录工作台和监测看板的人员账户 (与 API 密钥分开) People who sign in to the workbench and "
                    "the dashboard (separate from API keys).")
app.add_typer(users, name="users")


def _people():  # noqa: ANN202
    from exchange.adapters.people import PersonStore
    from exchange.config import Settings

    keys = _keystore()
    return PersonStore(keys.engine, keys.uow, Settings())


@users.command("add")
def users_add(
    account: str = typer.Argument(..., help="登录账户 (小写字母、数字、点、短横线) Account name to sign in with."),
    role: str = typer.Option(..., help="角色 Role: clerk (办事员: 录入和反馈) or viewer (查看员: 只读) on a node; monitor "
                             "(省级监测) on a monitor."),
    name: str = typer.Option("", help="姓名或岗位 Who it is, e.g. 海曙区流动人口办 王芳 (default: the account)."),
    county: list[str] = typer.Option([], help="所属县区 (本节点服务的县，可重复) County the person works for (repeat)."),
    province: list[str] = typer.Option([], help="省级监测覆盖的省，33 或 330000 (可重复) Province a monitor person "
                                       "oversees (repeat)."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="从标准输入读取密码 Read the password from "
                                        "standard input (else it is asked for twice)."),
) -> None:
    """添加人员账户; 密码以 argon2 散列保存，并记入证据链. Add a person; the password is stored as an argon2 hash and the
    account's creation is a line of the evidence chain."""
    import sys

    from exchange.adapters.api_keys import GrantRefused
    from exchange.adapters.people import check_person

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else typer.prompt(
        "密码 Password", hide_input=True, confirmation_prompt=True)
    store = _people()
    try:
        person = check_person(store.settings, account=account, role=role, name=name or account, counties=county,
                              provinces=province, password=password)
    except GrantRefused as refused:
        for error in refused.errors:
            console.print(f"[red]{error['field']}: {error['message_zh']} ({error['message']})[/red]")
        raise typer.Exit(2) from None
    added = asyncio.run(store.add(person, password, by=_operator()))
    asyncio.run(store.engine.dispose())
    if not added:
        console.print(f"[red]账户已存在 the account exists: {account}[/red]")
        raise typer.Exit(1)
    console.print(f"已添加 added: {account} ({person.role.value}, {','.join(sorted(person.counties or person.provinces))})")


@users.command("disable")
def users_disable(account: str = typer.Argument(..., help="要停用的账户 Account to disable.")) -> None:
    """停用账户 (如人员离岗): 不能再登录，已登录的会话立即结束，并记入证据链. Disable an account (someone who left): it
    can no longer sign in, its sessions end at once, and the evidence chain records it."""
    store = _people()
    done = asyncio.run(store.disable(account, by=_operator()))
    asyncio.run(store.engine.dispose())
    console.print("已停用 disabled" if done else "无此账户或已停用 no such account, or disabled already")
    if not done:
        raise typer.Exit(1)


@users.command("list")
def users_list() -> None:
    """列出人员账户及其角色、辖区和锁定状态. People with their role, jurisdiction and lockout."""
    from rich.table import Table

    store = _people()
    rows = asyncio.run(store.list())
    asyncio.run(store.engine.dispose())
    table = Table("account", "name", "role", "counties/provinces", "locked until")
    for r in rows:
        table.add_row(r["account"], r["name"], r["role"], ",".join(r["counties"] or r["provinces"]),
                      str(r["locked_until"] or "-"))
    console.print(table)


@keys.command("create")
def keys_create(
    role: str = typer.Option(..., help="角色 Role: county_system, county_operator or admin on a node; "
                             "provincial_monitor, national_monitor or admin on a monitor (MPX_ROLE)."),
    name: str = typer.Option(..., help="持有者 Who holds it, e.g. 徽县卫健局流动人口信息系统"),
    county: list[str] = typer.Option([], help="代表的县 (本节点服务的县，可重复) County it acts for, one this node serves (repeat)."),
    province: list[str] = typer.Option([], help="省级监测覆盖的省，33 或 330000 (可重复) Province a provincial "
                                       "monitor oversees (repeat)."),
    days: int = typer.Option(365, help="有效天数 (1 到 3650) Days until it expires (1 to 3650)."),
) -> None:
    """创建密钥并只显示一次. Create a key and print it once. The same rules and evidence as POST /v1/admin/keys."""
    from exchange.adapters.api_keys import GrantRefused, check_grant
    from exchange.config import Settings

    try:
        grant = check_grant(Settings(), role=role, name=name, counties=county, provinces=province, days=days)
    except GrantRefused as refused:
        for error in refused.errors:
            console.print(f"[red]{error['field']}: {error['message']} ({error['message_zh']})[/red]")
        raise typer.Exit(2) from None
    store = _keystore()
    issued = asyncio.run(store.issue(grant, by=_operator()))
    asyncio.run(store.engine.dispose())
    console.print(f"密钥编号 key id {issued.key_id}; 密钥 (只显示这一次) the key (shown only now):")
    print(issued.key)


@keys.command("list")
def keys_list() -> None:
    """列出密钥的角色、辖区和状态 (不显示密钥本身). Keys with their role, jurisdiction and state (never the secret)."""
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
def keys_revoke(key_id: str = typer.Argument(..., help="要吊销的密钥编号 Id of the key to revoke.")) -> None:
    """立即吊销密钥 (节点数秒内停止接受). Revoke a key at once (nodes stop accepting it within seconds). The same
    as DELETE /v1/admin/keys/{key_id}."""
    store = _keystore()
    done = asyncio.run(store.revoke(key_id, by=_operator()))
    asyncio.run(store.engine.dispose())
    console.print({True: "已吊销 revoked", False: "此前已吊销 already revoked", None: "无此密钥 no such key"}[done])
    raise typer.Exit(1 if done is None else 0)


def _served(county: str):  # noqa: ANN202 - Settings, imported late (a quick CLI)
    """This node's settings, for a command about one of its counties (exit 2 for another county)."""
    from exchange.config import Settings

    settings = Settings()
    if county not in settings.served:
        console.print(f"[red]{county} is not a county this node serves (MPX_COUNTIES)[/red]")
        raise typer.Exit(2)
    return settings


def _on_node_database(settings, work):  # noqa: ANN001,ANN202 - work(engine, cipher) -> awaitable
    """Run `work` on the node's (migrated) database with its payload keys, as a console command does."""
    from exchange.adapters.crypto.payload_crypto import PayloadCipher
    from exchange.adapters.sql.database import create_engine, migrate

    async def main():  # noqa: ANN202
        await migrate(settings.database_url)
        engine = create_engine(settings.database_url)
        try:
            return await work(engine, PayloadCipher.from_setting(settings.payload_keys))
        finally:
            await engine.dispose()

    return asyncio.run(main())


webhooks = typer.Typer(help="推送订阅: 县业务系统接收事件的网址 (密钥只显示一次) Webhook subscriptions: where a county's case "
                       "system is pushed its events (the secret shown once).")
app.add_typer(webhooks, name="webhooks")


def _webhooks(work):  # noqa: ANN001,ANN202 - work(store, settings) -> awaitable
    """Run `work` with the node's webhook store (evidence lines name the operator: cli:<login>)."""
    from exchange.adapters.unit_of_work import evidence_only
    from exchange.adapters.webhooks.store import WebhookStore
    from exchange.config import Settings

    settings = Settings()
    return _on_node_database(settings, lambda engine, cipher: work(
        WebhookStore(engine, evidence_only(engine), cipher), settings))


def _shown(view: dict | None) -> None:
    if view is None:
        console.print("[red]无此订阅 no such subscription[/red]")
        raise typer.Exit(1)
    reason = f" — {view['disabled_reason']}" if view["disabled_reason"] else ""
    console.print(f"{view['id']} {view['county']} {view['state']} {view['url']} {','.join(view['kinds'])}{reason}")


@webhooks.command("add")
def webhooks_add(
    county: str = typer.Option(..., help="县 (本节点服务) County whose events are pushed (served by this node)."),
    url: str = typer.Option(..., help="接收网址 http(s) URL, on a host in MPX_WEBHOOK_HOSTS."),
    kind: list[str] = typer.Option(..., help="事件类别 (可重复) Kind, repeat: record_received, feedback_received, "
                                   "state_changed, todo_due."),
) -> None:
    """新建推送订阅，密钥只显示这一次. Subscribe a URL; print its signing secret once. The same rules and evidence as
    POST /v1/admin/webhooks."""
    from exchange.domain.webhooks import WebhookKind, url_problem

    settings = _served(county)
    wrong = url_problem(url, frozenset(h.lower() for h in settings.webhook_hosts))
    unknown = [k for k in kind if k not in {k.value for k in WebhookKind}]
    if wrong or unknown:
        console.print(f"[red]{wrong[1]} {wrong[0]}[/red]" if wrong else
                      f"[red]未知的事件类别 unknown kind: {', '.join(unknown)}[/red]")
        raise typer.Exit(2)
    view, secret = _webhooks(lambda store, _: store.create(county, url, [WebhookKind(k) for k in kind], by=_operator()))
    _shown(view)
    console.print("签名密钥 (只显示这一次) the signing secret (shown only now):")
    print(secret)


@webhooks.command("list")
def webhooks_list() -> None:
    """列出订阅及其状态 (不显示密钥). Subscriptions and their state (never the secret)."""
    for view in _webhooks(lambda store, settings: store.list(settings.served)):
        _shown(view)


@webhooks.command("pause")
def webhooks_pause(subscription: str = typer.Argument(..., help="订阅编号 Subscription id (wh_…).")) -> None:
    """暂停推送，事件保留待恢复后按序送达. Pause: events are kept and delivered in order on resume."""
    from exchange.domain.webhooks import State

    _shown(_webhooks(lambda store, s: store.set_state(subscription, s.served, State.PAUSED, by=_operator())))


@webhooks.command("resume")
def webhooks_resume(subscription: str = typer.Argument(..., help="订阅编号 Subscription id (wh_…).")) -> None:
    """恢复推送 (含已停用的订阅). Resume (a paused or disabled subscription); held events go out first, in order."""
    from exchange.domain.webhooks import State

    _shown(_webhooks(lambda store, s: store.set_state(subscription, s.served, State.ACTIVE, by=_operator())))


@webhooks.command("deliveries")
def webhooks_deliveries(
    subscription: str = typer.Argument(..., help="订阅编号 Subscription id (wh_…)."),
    failed: bool = typer.Option(False, "--failed", help="只列失败的 Only those given up."),
    limit: int = typer.Option(50, min=1, max=500, help="最多几条 At most this many, newest first."),
) -> None:
    """推送记录: 每次尝试的状态、耗时和错误 (不含内容). The delivery log: every attempt's status, duration and error
    (never the payload)."""
    from rich.table import Table

    from exchange.domain.webhooks import WebhookDeliveryState

    items = _webhooks(lambda store, s: store.deliveries(
        subscription, s.served, state=WebhookDeliveryState.FAILED if failed else None, limit=limit))
    if items is None:
        _shown(None)
    table = Table("seq", "webhook-id", "type", "state", "attempts (status ms error)")
    for d in items:
        table.add_row(str(d["seq"]), d["event_id"], d["type"], d["state"], "; ".join(
            f"{a['status'] or '-'} {a['duration_ms']}ms {a['error'] or ''}".strip() for a in d["log"]))
    console.print(table)


@webhooks.command("retry")
def webhooks_retry(
    subscription: str = typer.Argument(..., help="订阅编号 Subscription id (wh_…)."),
    delivery: int | None = typer.Option(None, help="重推这一条 (seq) Retry this failed delivery."),
    since: datetime | None = typer.Option(None, formats=["%Y-%m-%dT%H:%M:%S%z"],
                                          help="重推此后的全部失败推送 Retry every failed one stored since "
                                          "(e.g. 2026-12-01T00:00:00+0800)."),
) -> None:
    """重新推送失败的事件. Send failed deliveries again, from a fresh schedule, in their order."""
    if (delivery is None) == (since is None):
        console.print("[red]须指定 --delivery 或 --since 之一 give --delivery or --since[/red]")
        raise typer.Exit(2)
    done = _webhooks(lambda store, s: store.retry(subscription, s.served, seq=delivery, since=since, by=_operator()))
    if done is None:
        _shown(None)
    console.print(f"重新推送 retrying {done}")


@keys.command("rotate-signing")
def keys_rotate_signing(
    county: str = typer.Option(..., help="更换 Ed25519 签名密钥的县 County whose Ed25519 signing key is replaced, "
                               "e.g. 621227."),
    overlap_days: float = typer.Option(7.0, help="旧密钥与新密钥并存的天数 Days the old key stays valid beside the new one."),
) -> None:
    """为县更换签名密钥，立即生效. A new signing key for a county, valid from now; older keys end after the overlap.
    The running node publishes the new key on the keys topic and signs with it within 30 seconds (or at its next
    start)."""
    from exchange.adapters.crypto.trust import rotate_signing

    settings = _served(county)
    key, shortened = _on_node_database(
        settings, lambda engine, cipher: rotate_signing(engine, cipher, county, timedelta(days=overlap_days)))
    console.print(f"new signing key {key.key_id} for {county}, valid from {key.not_before.isoformat()}")
    for key_id, ends in shortened:
        console.print(f"  {key_id} now ends {ends.isoformat()}")


@keys.command("rotate-sealing")
def keys_rotate_sealing(
    county: str = typer.Option(..., help="更换加密密钥的县区 County whose X25519 sealing key is replaced, e.g. 330203."),
) -> None:
    """为县区生成新的端到端加密密钥. A new sealing key for a county (records are sealed end to end to it).

    The running node publishes it on the keys topic within 30 seconds; senders seal to it once they learn it.
    Older keys stay, so records sealed to them that are still on their way (or resent) still open."""
    from exchange.adapters.crypto.trust import add_sealing_key

    settings = _served(county)
    key = _on_node_database(settings, lambda engine, cipher: add_sealing_key(engine, cipher, county))
    console.print(f"new sealing key {key.key_id} for {county}, from {key.not_before.isoformat()}")


@keys.command("revoke-signing")
def keys_revoke_signing(
    county: str = typer.Option(..., help="吊销签名密钥的县 County whose signing key is revoked, e.g. 621227."),
    key_id: str = typer.Option(..., help="要吊销的签名密钥 The signing key to revoke (a stolen one)."),
) -> None:
    """立即吊销县的签名密钥. Revoke a county's signing key at once: publishes a signed revocation on the keys topic;
    every node refuses records signed with the key from then on (key_revoked), whatever their time. If the key is
    the county's only valid one, a new key is made and published first (the node signs with it within 30 s)."""
    from exchange.adapters.crypto.key_records import KeyRecord, KeyRevocation, endorser_for
    from exchange.adapters.crypto.trust import load_signing_keys, rotate_signing
    from exchange.adapters.kafka.connection import client_options
    from exchange.adapters.kafka.topics import TopicScheme
    from exchange.domain.clock import utcnow

    settings = _served(county)

    async def revoke(engine, cipher) -> str:  # noqa: ANN001
        from aiokafka import AIOKafkaProducer

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

    signer = _on_node_database(settings, revoke)
    console.print(f"signing key {key_id} of {county} revoked (signed by {signer}); every node refuses it from now on")


@keys.command("new-payload-key")
def keys_new_payload_key(
    key_id: str = typer.Option("", help="密钥编号 (默认 p<日期>) Id of the key (default: p<date>)."),
) -> None:
    """生成新的 AES-256 载荷密钥. Print a new AES-256 payload key as `id:key`, to put first in MPX_PAYLOAD_KEYS (then
    run `mpx reseal`)."""
    from exchange.adapters.crypto.payload_crypto import new_key
    from exchange.domain.clock import utcnow

    print(f"{key_id or utcnow().strftime('p%Y%m%d')}:{new_key()}")


agreements = typer.Typer(help="合作协议 (须由联邦信任的密钥签名) Cooperation agreements signed by a key the federation trusts.")
app.add_typer(agreements, name="agreements")


@agreements.command("new-key")
def agreements_new_key(key_id: str = typer.Option(..., help="密钥名称 Name of the key, e.g. nhc-2026.")) -> None:
    """生成协议签名密钥. Make an agreements signing key: prints MPX_AGREEMENT_SIGNING_KEY (keep it secret, on the node(s) that
    publish agreements) and the entry for MPX_AGREEMENT_KEYS (on every node)."""
    from exchange.adapters.crypto.signed_agreements import new_agreement_key

    signing, trusted = new_agreement_key(key_id)
    print(f"MPX_AGREEMENT_SIGNING_KEY={signing}")
    print(f"MPX_AGREEMENT_KEYS={trusted}")


@agreements.command("sign")
def agreements_sign(
    file: Path = typer.Argument(..., help="待签署的协议文件 JSON file of agreements to sign."),
    out: Path = typer.Option(..., help="输出的已签名协议文件 Signed agreements file to write (JSON)."),
) -> None:
    """签署协议文件. Sign the agreements of a JSON file with MPX_AGREEMENT_SIGNING_KEY, for MPX_AGREEMENTS_FILE on any
    node."""
    import json

    import orjson

    from exchange.adapters.crypto.signed_agreements import AgreementKeys, AgreementRefused
    from exchange.config import Settings
    from exchange.domain import AgreementError, load_agreements

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
    """用当前载荷密钥重新加密全部存储数据. Re-encrypt every stored payload, outbox and quarantined record and signing
    key with the current payload key (the first of MPX_PAYLOAD_KEYS). Safe while the node runs; drop the old key
    from the setting afterwards."""
    from exchange.adapters.crypto.payload_crypto import PayloadCipher
    from exchange.adapters.crypto.trust import reseal as reseal_all
    from exchange.config import Settings

    settings = Settings()
    cipher = PayloadCipher.from_setting(settings.payload_keys)
    if cipher.current is None:
        console.print("[red]no payload key configured (MPX_PAYLOAD_KEYS)[/red]")
        raise typer.Exit(2)

    counts = _on_node_database(settings, lambda engine, _: reseal_all(engine, cipher))
    console.print(f"resealed with key {cipher.current}: " + ", ".join(f"{n} {table}" for table, n in counts.items()))


@evidence.command("verify")
def evidence_verify(
    heads: list[Path] = typer.Option([], help="对方节点持有的本节点证据链末端文件 (`mpx evidence heads` on each peer); "
                                              "files of this node's chain heads as its peers hold them; repeatable."),
) -> None:
    """校验节点的整条证据链. Recompute the node's whole evidence chain; exit 1 at the first broken entry, or when an
    entry differs from the head a peer holds (the chain was rewritten and its hashes recomputed)."""
    from exchange.adapters.crypto.evidence import check_heads, entries, verify_chain
    from exchange.adapters.sql.database import create_engine
    from exchange.config import Settings

    async def main():  # noqa: ANN202
        engine = create_engine(Settings().database_url)
        try:
            return await entries(engine)
        finally:
            await engine.dispose()

    chain = asyncio.run(main())
    broken = verify_chain(chain)
    if broken is not None:
        console.print(f"[red]evidence chain broken at entry {broken}[/red] ({len(chain)} entries)")
        raise typer.Exit(1)
    held = [head for path in heads for head in orjson.loads(path.read_bytes())]
    differing = check_heads(chain, held)
    if differing:
        console.print(f"[red]evidence chain differs from what its peers hold at entries "
                      f"{', '.join(map(str, differing[:20]))}[/red] ({len(held)} heads, {len(chain)} entries)")
        raise typer.Exit(1)
    console.print(f"evidence chain intact: {len(chain)} entries" +
                  (f", matching {len(held)} heads held by peers" if held else ""))


@evidence.command("heads")
def evidence_heads(
    node_id: str = typer.Option(..., "--node", help="对方节点编号 Id of the peer node whose chain heads to export "
                                                    "(its MPX_NODE_ID, as in its receipts)."),
    out: Path = typer.Option(..., help="输出文件 File to write (JSON)."),
) -> None:
    """导出对方节点证据链末端. The heads of a peer node's evidence chain this node received in its delivery
    receipts, for `mpx evidence verify --heads` on that node."""
    from exchange.adapters.crypto.evidence import peer_heads
    from exchange.adapters.sql.database import create_engine
    from exchange.config import Settings

    async def main():  # noqa: ANN202
        engine = create_engine(Settings().database_url)
        try:
            return await peer_heads(engine, node_id)
        finally:
            await engine.dispose()

    held = asyncio.run(main())
    out.write_bytes(orjson.dumps(held, option=orjson.OPT_INDENT_2))
    console.print(f"{len(held)} heads of {node_id} written to {out}")


@evidence.command("export")
def evidence_export(
    message_id: str = typer.Argument(..., help="案件的报文编号 Message id of the case."),
    out: Path = typer.Option(..., help="写入的证据包文件 (JSON) Bundle file to write (JSON)."),
) -> None:
    """导出单个案件的签名证据包. The signed evidence of one case: its entries (request, receipt, feedback, timings)
    and the node's signature."""
    from exchange.adapters.crypto.bundle import export_bundle, signing_key_for_case
    from exchange.adapters.sql.database import create_engine
    from exchange.config import Settings

    settings = Settings()
    engine = create_engine(settings.database_url)
    key = asyncio.run(signing_key_for_case(engine, settings, message_id))
    out.write_bytes(asyncio.run(export_bundle(engine, settings.node_id, message_id, key)))
    console.print(f"wrote {out}")


@evidence.command("check")
def evidence_check(bundle: Path = typer.Argument(..., help="证据包文件 Bundle file (JSON).")) -> None:
    """以第三方身份核查证据包. Check a bundle as a third party would: entry hashes and the node's signature."""
    from exchange.adapters.crypto.bundle import check_bundle

    problems = check_bundle(bundle.read_bytes())
    if problems:
        for problem in problems:
            console.print(f"[red]{problem}[/red]")
        raise typer.Exit(1)
    console.print("bundle verified: every entry hash and the signature hold")


if __name__ == "__main__":
    app()
