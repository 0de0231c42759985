"""The `mpx` command: run a node, run a local federation, simulate traffic."""

from __future__ import annotations

import asyncio
import logging
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


if __name__ == "__main__":
    app()
