"""People sign in to the pages of a node and of a monitor in a real browser, and the session is the server's.

王芳 (clerk of 海曙区 330203) signs in and sees who she is; a wrong password says so in Chinese, and three in a
row (MPX_WEB_LOCKOUT_ATTEMPTS) lock the account (even the right password is then refused) with a line in the
evidence chain. A form posted without the session's CSRF token, or with another, is refused and changes nothing.
Signing out ends the session on the server: the old cookie, replayed, no longer opens a page; a session past its
expiry is refused likewise. A monitor's people (provincial monitors) sign in on the monitor, to its dashboard.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser
from sqlalchemy import select

from exchange.adapters.sql.tables import audit_log
from exchange.domain.clock import set_clock, wall_clock
from tests.integration.test_round_trip import HAISHU
from tests.web.conftest import add_person, serve, sign_in

pytestmark = pytest.mark.integration


async def _evidence(node, event: str) -> list[str]:  # noqa: ANN001
    async with node.engine.connect() as conn:
        return list(await conn.scalars(select(audit_log.c.principal).where(audit_log.c.event == event)))


async def test_a_clerk_signs_in_is_locked_out_and_csrf_and_sign_out_hold(web_federation, offline_chromium: Browser):
    running = await web_federation.start(HAISHU, web_lockout_attempts=3)
    node = running.node
    password = await add_person(node, "wangfang", "clerk", HAISHU)
    await add_person(node, "zhaolei", "clerk", HAISHU)
    assert await _evidence(node, "person_added") == ["test", "test"]
    async with serve(running.app) as base:
        page = await sign_in(offline_chromium, base, "wangfang", password)
        assert "/ui/worklist" in page.url
        assert "wangfang" in await page.text_content("header .person")
        cookies = {c["name"]: c for c in await page.context.cookies()}
        session = cookies["mpx_session"]
        assert session["httpOnly"] and session["sameSite"] == "Lax" and session["path"] == "/ui"

        # CSRF: the sign-out form without its token, or with another, is refused; the session goes on.
        async with httpx.AsyncClient(base_url=base, cookies={"mpx_session": session["value"]}) as forged:
            for data in ({}, {"csrf_token": "x" * 43}):
                refused = await forged.post("/ui/sign-out", data=data)
                assert refused.status_code == 403 and refused.json()["type"] == "urn:mpx:problem:csrf_failed", refused.text
            assert (await forged.get("/ui/worklist")).status_code == 200
            # Signing out (the page's own form) ends the session on the server: the copied cookie stops working.
            await page.click("header form[action='/ui/sign-out'] button")
            await page.wait_for_url("**/ui/sign-in")
            assert (await forged.get("/ui/worklist")).status_code == 303
        assert await _evidence(node, "signed_out") == ["person:wangfang"]

        # Expiry: eight hours later (MPX_WEB_SESSION_MINUTES 480) the session is over, whatever the cookie says.
        page = await sign_in(offline_chromium, base, "wangfang", password)
        set_clock(lambda: wall_clock() + timedelta(minutes=481))
        try:
            await page.goto(base + "/ui/worklist")
            assert "/ui/sign-in" in page.url
        finally:
            set_clock(None)

        # Lockout: a wrong password is told in Chinese; the third locks the account, and then the right one fails.
        page = await (await offline_chromium.new_context()).new_page()
        for _ in range(3):
            await page.goto(base + "/ui/sign-in")
            await page.fill("input[name=account]", "zhaolei")
            await page.fill("input[name=password]", "not the password")
            await page.click("form[action='/ui/sign-in'] button[type=submit]")
            assert "账户或密码不正确" in await page.text_content("#sign-in-error")
        await page.goto(base + "/ui/sign-in")
        await page.fill("input[name=account]", "zhaolei")
        await page.fill("input[name=password]", password)  # even a right password: the account is locked
        await page.click("form[action='/ui/sign-in'] button[type=submit]")
        assert "账户已锁定" in await page.text_content("#sign-in-error")
        assert await _evidence(node, "person_locked") == ["person:zhaolei"]

    await web_federation.start_monitor("33")
    monitor = web_federation.monitor_apps[-1]
    zhou = await add_person(monitor.state.node, "zhou", "monitor", "33")
    async with serve(monitor) as base:
        page = await sign_in(offline_chromium, base, "zhou", zhou)
        assert urlsplit(page.url).path == "/ui/dashboard"  # the dashboard's page (exchange/entrypoints/http/web)
