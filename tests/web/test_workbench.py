"""The county workbench (县级工作台) in a real browser, on real Kafka and PostgreSQL, with no way off this machine.

李强, clerk of 徽县 (621227), enters an outflow registration for 海曙区 (330203): with a wrong check character in
the ID number the Chinese error shows beside the field as he types and again when he sends, and nothing is sent;
corrected, it goes. 王芳, clerk of 海曙区, finds it in her 待办, opens it, answers it (a contract error first, beside
its field); 李强 sees it answered. She reports the steps of a verification request from 徽县, which sees them. 海曙区's
viewer reads it but has no answer form, and a forged answer with her own session and token is refused, changing
nothing. An Excel import with one bad row shows that row's error and sends the other two. Every page loads only
what the node serves; screenshots at 1366×768 (and a phone's width) go to var/screenshots/.
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import httpx
import openpyxl
import pytest
from playwright.async_api import Browser, Page
from sqlalchemy import func, select

from adapters.workbook import columns, flatten, template
from contracts import MessageType
from contracts.clock import today_in_china
from exchange.adapters.sql.tables import audit_log, messages
from tests.integration.conftest import RunningNode, eventually
from tests.integration.test_round_trip import HAISHU, HUI, message
from tests.web.conftest import add_person, screenshot, serve, sign_in

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

OUTFLOW = MessageType.OUTFLOW_REGISTRATION


async def _count(node: RunningNode, *where) -> int:  # noqa: ANN002
    async with node.node.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(messages).where(*where))


def _watch_outside(page: Page) -> list[str]:
    """Every URL the page asks for that is not on this machine (none may be)."""
    outside: list[str] = []
    page.on("request", lambda r: urlsplit(r.url).hostname not in ("127.0.0.1", None) and outside.append(r.url))
    return outside


async def _fill(page: Page, data: dict) -> None:
    """Fill the form's payload inputs as a clerk would (selects by value, dates in the date picker)."""
    for key, value in flatten(data).items():
        selector = f"[name='{key}']"
        if await page.locator(f"select{selector}").count():
            await page.select_option(selector, str(value).lower() if isinstance(value, bool) else str(value))
        elif isinstance(value, list):
            await page.fill(selector, ",".join(value))
        else:
            await page.fill(selector, str(value))


async def test_a_record_is_entered_answered_and_seen_answered_in_the_browser(web_federation,
                                                                             offline_chromium: Browser):
    hui = await web_federation.start(HUI)
    haishu = await web_federation.start(HAISHU)
    liqiang = await add_person(hui.node, "liqiang", "clerk", HUI)
    wangfang = await add_person(haishu.node, "wangfang", "clerk", HAISHU)
    zhaomin = await add_person(haishu.node, "zhaomin", "viewer", HAISHU)
    async with serve(hui.app) as hui_url, serve(haishu.app) as haishu_url:
        # 李强 enters an outflow registration with a wrong ID check character: the error is beside the field.
        page = await sign_in(offline_chromium, hui_url, "liqiang", liqiang)
        outside = _watch_outside(page)
        data = message(OUTFLOW, HUI, HAISHU, 7)["data"]
        good_id = data["person"]["id_number"]
        wrong_id = good_id[:-1] + ("0" if good_id[-1] != "0" else "1")
        await page.goto(f"{hui_url}/ui/new/{OUTFLOW.value}")
        await page.fill("[name=receiver]", HAISHU)
        await _fill(page, {**data, "person": {**data["person"], "id_number": wrong_id}})
        await page.locator("#error-person-id_number").filter(has_text="校验码错误").wait_for(timeout=10_000)
        await screenshot(page, "enter-record")
        await page.click("#entry-form button[type=submit]")
        assert "公民身份号码校验码错误" in await page.text_content("#error-person-id_number")
        assert await _count(hui) == 0  # nothing sent

        await page.fill("[name='person.id_number']", good_id)
        await page.click("#entry-form button[type=submit]")
        await page.wait_for_url(f"**/ui/records/{HUI}/*")
        record_id = page.url.rsplit("/", 1)[1]
        assert await _count(hui, messages.c.id == record_id, messages.c.type == OUTFLOW.value) == 1

        # 王芳 sees it in 待办, opens it, answers it.
        clerk = await sign_in(offline_chromium, haishu_url, "wangfang", wangfang)
        outside += _watch_outside(clerk)

        async def listed() -> bool:
            await clerk.goto(f"{haishu_url}/ui/worklist")
            return await clerk.locator(f"#worklist tr[data-message-id='{record_id}']").count() == 1

        await eventually(listed, what="the record in 海曙区's 待办")

        async def listed_id(message_id: str) -> bool:
            """Listed in 待办, and its page open."""
            await clerk.goto(f"{haishu_url}/ui/worklist")
            row = clerk.locator(f"#worklist tr[data-message-id='{message_id}'] a")
            if await row.count() == 0:
                return False
            await row.click()
            await clerk.wait_for_url(f"**/ui/records/{HUI}/{message_id}")
            return True

        row = clerk.locator(f"#worklist tr[data-message-id='{record_id}']")
        assert await row.get_attribute("data-status") == "on_time"
        assert "反馈" in await clerk.text_content("#counts")
        await screenshot(clerk, "worklist")
        await row.locator("a").click()
        await clerk.wait_for_url(f"**/ui/records/{HUI}/{record_id}")
        assert data["person"]["name"] in await clerk.text_content("#content")  # the two counties' staff see it
        form = clerk.locator("#answer-form")
        await form.locator("[name=status]").select_option("moved_on")  # moved on, but to where? the contract asks
        await form.locator("[name=reason]").fill("已离开本区")
        await form.locator("[name=handled_on]").fill(today_in_china().isoformat())
        await form.locator("button[type=submit]").click()
        assert "新流入地" in await clerk.text_content("label[for=f-answer-new_region]")
        assert "须填写新的流入地" in await clerk.text_content("#error-answer-new_region")
        assert await _count(haishu, messages.c.type == "feedback") == 0
        await form.locator("[name=status]").select_option("confirmed")
        await form.locator("[name=reason]").fill("")
        await form.locator("[name=handled_on]").fill(today_in_china().isoformat())
        await screenshot(clerk, "record")
        await clerk.click("#answer-form button[type=submit]")
        await clerk.wait_for_url("**answered=*")
        assert await clerk.locator("#answer-form").count() == 0
        async with haishu.node.engine.connect() as conn:
            acted = await conn.scalar(select(audit_log.c.principal).where(audit_log.c.event == "answered",
                                                                          audit_log.c.message_id.isnot(None)))
        assert acted == "person:wangfang"

        # 李强 sees it answered, and who answered is in the thread.
        async def answered() -> bool:
            await page.goto(f"{hui_url}/ui/records/{HUI}/{record_id}")
            return await page.get_attribute("#state", "data-state") == "answered"

        await eventually(answered, what="the record answered at 徽县")
        assert await page.locator("#thread tr[data-kind=feedback]").count() == 1
        assert await page.locator("#thread tr[data-kind=sent] td").nth(3).text_content() == "person:liqiang"

        # The viewer reads the record but has no answer form; a forged answer with her session is refused.
        viewer = await sign_in(offline_chromium, haishu_url, "zhaomin", zhaomin)
        await viewer.goto(f"{haishu_url}/ui/records/{HUI}/{record_id}")
        assert await viewer.locator("form[action*='/answer'], #clarification-request-form").count() == 0
        token = await viewer.get_attribute("input[name=csrf_token]", "value")
        cookie = {c["name"]: c["value"] for c in await viewer.context.cookies()}["mpx_session"]
        before = await _count(haishu)
        async with httpx.AsyncClient(base_url=haishu_url, cookies={"mpx_session": cookie}) as forged:
            refused = await forged.post(f"/ui/records/{HUI}/{record_id}/answer", data={
                "csrf_token": token, "status": "rejected", "reason": "伪造", "handled_on": today_in_china().isoformat()})
            assert refused.status_code == 403 and refused.json()["type"] == "urn:mpx:problem:forbidden"
            entering = await forged.post(f"/ui/new/{OUTFLOW.value}", data={"csrf_token": token, "sender": HAISHU})
            assert entering.status_code == 403
        assert await _count(haishu) == before

        # The inbox in Excel: a sheet per type, the record in it.
        await clerk.goto(f"{haishu_url}/ui/worklist")
        href = await clerk.get_attribute("a[href^='/ui/inbox.xlsx']", "href")
        exported = await clerk.context.request.get(haishu_url + href)  # the browser's own session
        assert exported.ok, await exported.text()
        inbox = openpyxl.load_workbook(io.BytesIO(await exported.body()))
        assert inbox.sheetnames == [OUTFLOW.value]
        assert [r[0] for r in inbox[OUTFLOW.value].iter_rows(min_row=2, values_only=True)] == [record_id]

        # CSRF: the clerk's own session without the form's token, or with another, answers nothing.
        clerk_cookie = {c["name"]: c["value"] for c in await clerk.context.cookies()}["mpx_session"]
        async with httpx.AsyncClient(base_url=haishu_url, cookies={"mpx_session": clerk_cookie}) as forged:
            for token in ({}, {"csrf_token": "0" * 43}):
                refused = await forged.post(f"/ui/records/{HUI}/{record_id}/answer", data={
                    **token, "status": "rejected", "reason": "伪造", "handled_on": today_in_china().isoformat()})
                assert refused.status_code == 403 and refused.json()["type"] == "urn:mpx:problem:csrf_failed"
        assert await _count(haishu) == before

        # English on request.
        await clerk.goto(f"{haishu_url}/ui/lang/en?next=/ui/worklist")
        assert await clerk.text_content("h1") == "To-do"
        await clerk.goto(f"{haishu_url}/ui/lang/zh?next=/ui/worklist")
        assert await clerk.text_content("h1") == "待办"

        # A verification request (协查) from 徽县: 王芳 reports its steps from its page, and 徽县 sees them.
        request = await hui.client.send(message(MessageType.VERIFICATION_REQUEST, HUI, HAISHU, 8))
        await eventually(lambda: listed_id(request), what="the verification request in 海曙区's 待办")
        for step in ({"step": "matched", "found": "false"},
                     {"step": "answered", "result": "not_found", "findings": "辖区内查无此人"}):
            form = clerk.locator("#verification-step-form")
            for name, value in step.items():
                field = form.locator(f"[name={name}]")
                await (field.select_option(value) if await form.locator(f"select[name={name}]").count()
                       else field.fill(value))
            await form.locator("button[type=submit]").click()
            await clerk.wait_for_url("**answered=*")
        assert await clerk.locator("#verification-step-form").count() == 0

        async def steps_seen() -> bool:
            await page.goto(f"{hui_url}/ui/records/{HUI}/{request}")
            return await page.locator("#thread tr[data-kind=answered]").count() == 1

        await eventually(steps_seen, what="the verification steps at 徽县")

        # Counterparts: 海曙区 exchanges with 徽县, which acknowledged what it was sent.
        await clerk.goto(f"{haishu_url}/ui/counterparts")
        assert await clerk.locator(f"#counterparts tr[data-counterpart='{HUI}']").count() == 1

        # On a phone the to-do list still reads.
        await clerk.set_viewport_size({"width": 390, "height": 844})
        await clerk.goto(f"{haishu_url}/ui/worklist")
        await screenshot(clerk, "worklist-phone")
        assert outside == []


def _sheet(rows: list[dict]) -> bytes:
    """The template of outflow registrations, filled with `rows` (its example row replaced)."""
    book = openpyxl.load_workbook(io.BytesIO(template(OUTFLOW)))
    sheet = book.worksheets[0]
    sheet.delete_rows(2)
    keys = [c.key for c in columns(OUTFLOW)]
    for row in rows:
        flat = flatten(row)
        sheet.append([("是" if flat.get(k) else "否") if isinstance(flat.get(k), bool)
                      else ",".join(flat[k]) if isinstance(flat.get(k), list) else flat.get(k) for k in keys])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_an_excel_import_with_a_bad_row_sends_the_others(web_federation, offline_chromium: Browser,
                                                               tmp_path):
    hui = await web_federation.start(HUI)
    liqiang = await add_person(hui.node, "liqiang", "clerk", HUI)
    rows = [{"receiver": HAISHU, **message(OUTFLOW, HUI, HAISHU, seed)["data"]} for seed in (11, 12, 13)]
    person = rows[1]["person"]
    person["id_number"] = person["id_number"][:-1] + ("0" if person["id_number"][-1] != "0" else "1")
    sheet = tmp_path / "outflow.xlsx"
    sheet.write_bytes(_sheet(rows))
    async with serve(hui.app) as base:
        # Without a session a page leads to the sign-in page, and a form's post is refused.
        anonymous = await (await offline_chromium.new_context()).new_page()
        await anonymous.goto(f"{base}/ui/import")
        assert urlsplit(anonymous.url).path == "/ui/sign-in"
        async with httpx.AsyncClient(base_url=base) as outsider:
            assert (await outsider.post("/ui/import", data={"sender": HUI})).status_code == 401

        page = await sign_in(offline_chromium, base, "liqiang", liqiang)
        outside = _watch_outside(page)
        await page.goto(f"{base}/ui/import")
        async with page.expect_download() as download:
            await page.click(f"a[href='/ui/import/template/{OUTFLOW.value}']")
        assert (await download.value).suggested_filename == f"{OUTFLOW.value}.xlsx"
        await page.select_option("[name=type]", OUTFLOW.value)
        await page.set_input_files("[name=file]", str(sheet))
        await page.click("#import-form button[type=submit]")
        bad = page.locator("#import-rows tr[data-row='3']")
        assert "公民身份号码校验码错误" in await bad.text_content()
        assert await page.locator("#import-rows td.error:not(:empty)").count() == 1
        assert await _count(hui) == 0  # a preview sends nothing
        await screenshot(page, "import-preview")
        await page.click("#import-send button")
        await page.locator("#import-summary").filter(has_text="已发送 2").wait_for()
        assert await _count(hui, messages.c.type == OUTFLOW.value) == 2
        assert outside == []


async def test_a_record_is_clarified_and_another_withdrawn_in_the_browser(web_federation, offline_chromium: Browser):
    """王芳 asks 徽县 to clarify a record; 李强 finds the request in his 待办 and answers it from the record's page; he
    withdraws another record from its page, and 海曙区 sees it withdrawn, with nothing left to answer."""
    hui = await web_federation.start(HUI)
    haishu = await web_federation.start(HAISHU)
    liqiang = await add_person(hui.node, "liqiang", "clerk", HUI)
    wangfang = await add_person(haishu.node, "wangfang", "clerk", HAISHU)
    asked, withdrawn = [await hui.client.send(message(OUTFLOW, HUI, HAISHU, seed)) for seed in (11, 12)]
    async with serve(hui.app) as hui_url, serve(haishu.app) as haishu_url:
        clerk = await sign_in(offline_chromium, haishu_url, "wangfang", wangfang)

        async def opened(page: Page, url: str, selector: str) -> bool:
            await page.goto(url)
            return await page.locator(selector).count() == 1

        await eventually(lambda: opened(clerk, f"{haishu_url}/ui/records/{HUI}/{asked}", "#clarification-request-form"),
                         what="the record at 海曙区")
        form = clerk.locator("#clarification-request-form")
        await form.locator("[name=reason]").select_option("missing_field")
        await form.locator("[name=question]").fill("请补充现居住地详细地址")
        await form.locator("button[type=submit]").click()
        await clerk.wait_for_url("**answered=*")

        # 李强: the request in 待办, the record's page with the clarification form (and the withdrawal form).
        page = await sign_in(offline_chromium, hui_url, "liqiang", liqiang)

        async def requested() -> bool:
            await page.goto(f"{hui_url}/ui/worklist")
            return await page.locator(f"#worklist a[href='/ui/records/{HUI}/{asked}']").count() == 1

        await eventually(requested, what="the clarification request in 徽县's 待办")
        await page.click(f"#worklist a[href='/ui/records/{HUI}/{asked}']")
        await page.wait_for_url(f"**/ui/records/{HUI}/{asked}")
        assert await page.locator("#withdrawal-form").count() == 1
        await page.locator("#clarification-form [name=answer]").fill("现居住地：海曙区某街道某社区")
        await page.click("#clarification-form button[type=submit]")
        await page.wait_for_url("**answered=*")
        assert await page.locator("#clarification-form").count() == 0  # answered once

        async def clarified() -> bool:
            await clerk.goto(f"{haishu_url}/ui/records/{HUI}/{asked}")
            return await clerk.locator("#thread tr[data-kind=clarified]").count() == 1

        await eventually(clarified, what="the clarification at 海曙区")

        # 李强 withdraws the other record: 海曙区's page says so and offers nothing to answer.
        await page.goto(f"{hui_url}/ui/records/{HUI}/{withdrawn}")
        await page.locator("#withdrawal-form [name=reason]").select_option("sent_in_error")
        await page.click("#withdrawal-form button[type=submit]")
        await page.wait_for_url("**answered=*")
        assert await _count(hui, messages.c.type == "withdrawal") == 1

        async def gone() -> bool:
            await clerk.goto(f"{haishu_url}/ui/records/{HUI}/{withdrawn}")
            return "已撤回" in (await clerk.text_content("#state") or "")

        await eventually(gone, what="the record withdrawn at 海曙区")
        assert await clerk.locator("#answer-form, #clarification-request-form").count() == 0
