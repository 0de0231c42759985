"""What the browser tests of the pages share (the workbench's and the dashboard's): Debian's Chromium with no way
out of this machine, nodes served over real loopback HTTP, people added and signed in.

    async def test_x(web_federation, offline_chromium):
        node = await web_federation.start(HAISHU)
        async with serve(node.app) as base:            # http://127.0.0.1:<free port>
            password = await add_person(node.node, "wang", "clerk", HAISHU)
            page = await sign_in(offline_chromium, base, "wang", password)
            await page.goto(base + "/ui/worklist")

A monitor's app is `federation.monitor_apps[-1]` after `start_monitor` (its people: role "monitor", provinces).
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright

from exchange.adapters.people import check_person
from tests.integration.conftest import Federation

#: Only loopback resolves: every other host name fails as on a network with no way out.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"
#: Where the tests leave screenshots of the pages for a reviewer (not committed).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@asynccontextmanager
async def offline_browser() -> AsyncIterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed: run `make infra` (it installs it)"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=[OFFLINE])
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def offline_chromium() -> AsyncIterator[Browser]:
    async with offline_browser() as browser:
        yield browser


@pytest.fixture
async def web_federation(kafka_bootstrap: str, make_postgres_database: Any) -> AsyncIterator[Federation]:
    """A federation on the session's Kafka, each node on its own PostgreSQL database."""

    async def database(name: str) -> str:
        return await asyncio.to_thread(make_postgres_database)

    fed = Federation(kafka_bootstrap, database, prefix=f"t{uuid.uuid4().hex[:10]}")
    try:
        yield fed
    finally:
        await fed.stop()


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """`app` (already started by the federation) served by uvicorn on a free loopback port, in this event loop."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            assert not task.done(), task.exception()
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def add_person(node: Any, account: str, role: str, *codes: str) -> str:
    """Add a person to `node` (a Node: counties; a MonitorNode: provinces) as `mpx users add` does; its password."""
    password = secrets.token_urlsafe(12)
    monitor = node.settings.role == "monitor"
    person = check_person(node.settings, account=account, role=role, name=f"{account} 测试", password=password,
                          counties=[] if monitor else list(codes), provinces=list(codes) if monitor else [])
    assert await node.people.add(person, password, by="test")
    return password


async def sign_in(browser: Browser, base: str, account: str, password: str, *, lang: str | None = None,
                  viewport: dict[str, int] | None = None) -> Page:
    """A new browser context (its own cookies) signed in as `account`, on the page the sign-in leads to."""
    context = await browser.new_context(viewport=viewport or {"width": 1366, "height": 768}, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{base}/ui/sign-in")
    if lang:
        await page.goto(f"{base}/ui/lang/{lang}?next=/ui/sign-in")
    await page.fill("input[name=account]", account)
    await page.fill("input[name=password]", password)
    await page.click("form[action='/ui/sign-in'] button[type=submit]")
    await page.wait_for_load_state()
    assert "/ui/sign-in" not in page.url, await page.content()
    return page


async def screenshot(page: Page, name: str) -> None:
    """A picture of the page at its size, under var/screenshots/ (for the README and reviewers)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
