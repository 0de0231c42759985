"""/docs and /redoc render in a real Chromium that reaches nothing but this machine (as on a county's intranet,
or where the public CDNs and Google's fonts are blocked): Swagger UI and ReDoc come from the node itself.

Chromium is Debian's (`make infra` installs it); a missing browser is a missing install step, so it fails.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser

from tests.web.conftest import offline_browser


@pytest.fixture
async def offline_chromium():  # noqa: ANN201
    async with offline_browser() as browser:  # the pages' tests launch it likewise (tests/web/conftest.py)
        yield browser


async def open_page(browser: Browser, url: str, ready: str) -> tuple[list[str], list[str]]:
    """Open `url`, wait until `ready` matches, and return the texts of the matches and every URL the page asked
    for that its Content Security Policy did not stop inside the browser."""
    page = await browser.new_page()
    requested: list[str] = []
    blocked: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("requestfailed", lambda request: "csp" in (request.failure or "") and blocked.append(request.url))
    await page.goto(url)
    await page.wait_for_selector(ready, state="attached", timeout=30_000)  # (ReDoc's menu may be folded)
    texts = [await e.text_content() or "" for e in await page.query_selector_all(ready)]
    await page.close()
    return texts, [u for u in requested if u not in blocked]


async def test_the_browser_really_cannot_reach_a_cdn(offline_chromium: Browser):
    """What the old pages loaded, and what these must not need, fails in this browser."""
    page = await offline_chromium.new_page()
    with pytest.raises(Exception, match="ERR_NAME_NOT_RESOLVED"):
        await page.goto("https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js")
    await page.close()


async def test_swagger_ui_and_redoc_list_the_operations_offline(local_federation, offline_chromium: Browser):
    node = local_federation.url("330203")
    monitor = local_federation.monitor_url
    pages = {
        # Swagger UI: one block per operation, its path in the summary.
        (node, "/docs"): (".opblock-summary-path", {"/v1/messages", "/v1/inbox", "/v1/messages/{message_id}/feedback"}),
        (monitor, "/docs"): (".opblock-summary-path", {"/v1/monitor/timeliness", "/v1/monitor/overdue"}),
        # ReDoc: one menu entry per operation, its summary as the label.
        (node, "/redoc"): ("li[data-item-id*='operation/'] label", {"Post Message", "Get Inbox", "Post Feedback"}),
        (monitor, "/redoc"): ("li[data-item-id*='operation/'] label", {"Timeliness", "Overdue"}),
    }
    for (base, path), (selector, operations) in pages.items():
        texts, requested = await open_page(offline_chromium, base + path, selector)
        shown = " ".join(texts)
        print(f"{base}{path}: {len(texts)} operations rendered, {len(requested)} requests")
        assert all(op in shown for op in operations), (path, texts)
        # No Google font, no CDN: nothing left this machine (ReDoc's logo from its CDN is stopped by the policy).
        outside = [u for u in requested if urlsplit(u.removeprefix("blob:")).hostname != "127.0.0.1"]
        assert outside == [], (path, outside)
