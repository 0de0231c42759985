"""The provincial dashboard (省级监测看板) in a real, offline Chromium, on real Kafka and PostgreSQL.

徽县 (621227, Gansu) sends seven outflow registrations (with names and ID numbers) to three Zhejiang counties on one
node: 海曙区 330203 and 鄞州区 330212 (宁波市 3302), 西湖区 330106 (杭州市 3301). A day later 海曙区 answers two, 鄞州区
and 西湖区 one each; three weeks later 海曙区 answers its third, late, and the other two are overdue. The monitor
(national scope) gets each obligation's lifecycle from the monitoring topic.

Zhejiang's provincial monitor person signs in: the overview shows, for the same period, exactly the figures the API
gives (GET /v1/monitor/timeliness, verification, overdue, bulletin): by prefecture, then drilled down to 宁波市's
counties, then to 海曙区; the trend by month; the overdue list; the bulletin, whose Excel download opens with
openpyxl and holds the API's table. The charts are ECharts canvases from the node itself, the browser reaches
nothing else, and no name or ID number of the records appears in any page. Gansu's monitor person sees none of
Zhejiang's counties and is refused 宁波市. Screenshots at 1366×768 and on a phone go to var/screenshots/.

The clock only moves forward from the wall time (the browser keeps its own).
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from playwright.async_api import Page

from contracts import MessageType
from contracts.examples import full_region_name
from exchange.domain.clock import set_clock, utcnow
from exchange.domain.figures import trend_window
from exchange.domain.obligation import local_day
from exchange.domain.principals import Role
from tests.integration.conftest import eventually
from tests.integration.test_deadlines_and_monitor import Clock, _obligation, _personal_values, _xlsx_text, answer_on
from tests.integration.test_round_trip import HAISHU, HUI, message
from tests.web.conftest import add_person, screenshot, serve, sign_in

pytestmark = pytest.mark.integration

YINZHOU, XIHU = "330212", "330106"
ZHEJIANG_AREAS = ("330203", "330212", "330106", "海曙区", "鄞州区", "西湖区", "宁波市", "杭州市")
ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dX](?!\d)")


@pytest.fixture
def clock():
    travel = Clock(utcnow())
    set_clock(lambda: travel.now)
    yield travel
    set_clock(None)


def outflow(n: int, to: str) -> dict[str, Any]:
    """An outflow registration from 徽县 to `to`, a real person's fields in it (the examples' own, moved to `to`)."""
    record = message(MessageType.OUTFLOW_REGISTRATION, HUI, HAISHU, n)
    record["data"].update(destination_region=to, destination_address=f"{full_region_name(to)}中山路{n}号")
    return {**record, "receiver": to}


async def table(page: Page, selector: str) -> dict[str, dict[str, Any]]:
    """A figures table as {row's group: {figure: count or rate}}, in the page's order: counts from the cells' text,
    rates exactly (rate0, rate1, … in the order of the columns)."""
    rows = await page.eval_on_selector_all(f"{selector} tbody tr[data-group], {selector} tbody tr[data-county]", """
        rows => rows.map(r => [r.dataset.group || r.dataset.county, Object.fromEntries(
            [...r.querySelectorAll('[data-figure]')].map(c => [c.dataset.figure, Number(c.textContent.replace(/,/g, ''))])
            .concat([...r.querySelectorAll('[data-value]')].map((c, i) => ['rate' + i, c.dataset.value === '' ? null : Number(c.dataset.value)])))])""")
    return dict(rows)


def expected(groups: list[dict[str, Any]], figures: tuple[str, ...], rates: tuple[str, ...]) -> dict[str, dict]:
    return {g["group"]: {**{f: g[f] for f in figures}, **{f"rate{i}": g[r] for i, r in enumerate(rates)}}
            for g in groups}


COUNTS = ("due", "answered", "answered_on_time", "answered_late", "overdue_open", "open_not_due")
RATES = ("headline_feedback_rate", "headline_on_time_rate", "clarification_rate")


async def test_a_provincial_monitor_sees_the_apis_figures_drills_down_and_no_person(
        web_federation, offline_chromium, clock: Clock):
    settings = {"record_max_age_hours": 24 * 60}  # the clock jumps weeks ahead with records in flight
    hui = await web_federation.start(HUI, **settings)
    zhejiang_node = await web_federation.start(HAISHU, YINZHOU, XIHU, **settings)
    await web_federation.start_monitor("all")
    monitor_app, monitor = web_federation.monitor_apps[-1], web_federation.monitor_nodes[-1]
    keys = {province: (await monitor.keys.create(name=f"{province} monitor", role=Role.PROVINCIAL_MONITOR,
                                                 provinces=frozenset({province}))).key for province in ("33", "62")}

    sent = [outflow(n, to) for n, to in enumerate([HAISHU, HAISHU, HAISHU, YINZHOU, YINZHOU, XIHU, XIHU], start=1)]
    ids = [await hui.client.send(m) for m in sent]
    for message_id in ids:
        await eventually(lambda m=message_id: _obligation(zhejiang_node, m), what=f"the obligation of {message_id}")
    start = clock.now
    clock.to(start + timedelta(days=1))
    for n in (0, 1, 3, 5):  # 海曙区 two, 鄞州区 and 西湖区 one each, on time
        await zhejiang_node.client.answer(ids[n], answer_on(local_day(clock.now).isoformat()))
    clock.to(start + timedelta(days=21))
    await zhejiang_node.client.answer(ids[2], answer_on(local_day(clock.now).isoformat()))  # 海曙区's third, late

    first = local_day(start).replace(day=1)
    end = (local_day(clock.now).replace(day=1) + timedelta(days=32)).replace(day=1)
    period = {"from": first.isoformat(), "to": end.isoformat()}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=monitor_app), base_url="http://monitor.test",
                                 headers={"Authorization": f"Bearer {keys['33']}"}) as api:

        async def get(path: str, **params: str) -> dict[str, Any]:
            response = await api.get(path, params=params)
            assert response.status_code == 200, response.text
            return response.json()

        async def arrived() -> bool:
            total = (await get("/v1/monitor/timeliness", **period))["total"]
            return (total["due"], total["answered"], total["overdue_open"]) == (7, 5, 2)

        await eventually(arrived, what="every obligation's lifecycle at the monitor")
        # The API's drill-down (region=) keeps its jurisdiction: Gansu's key gets nothing of 宁波市; no code, 400.
        gansu_ningbo = await api.get("/v1/monitor/timeliness", params={**period, "region": "330200"},
                                     headers={"Authorization": f"Bearer {keys['62']}"})
        assert gansu_ningbo.status_code == 200 and gansu_ningbo.json()["groups"] == []
        assert (await api.get("/v1/monitor/overdue", params={"region": "001234"})).status_code == 400

        password = await add_person(monitor, "zj-jiance", "monitor", "33")
        gansu_password = await add_person(monitor, "gs-jiance", "monitor", "62")
        async with serve(monitor_app) as base:
            page = await sign_in(offline_chromium, base, "zj-jiance", password)
            requested: list[str] = []
            page.context.on("request", lambda request: requested.append(request.url))
            pages: list[str] = []

            # The province: its prefectures, as the API answers them for the same period.
            await page.goto(f"{base}/ui/dashboard?from={period['from']}&to={period['to']}")
            figures = await get("/v1/monitor/timeliness", **period, group_by="prefecture")
            assert [g["group"] for g in figures["groups"]] == ["330100", "330200"]
            assert await table(page, "#groups") == expected(figures["groups"], COUNTS, RATES)
            cards = await page.eval_on_selector_all("#total [data-figure]", "cs => Object.fromEntries(cs.map(c => "
                                                    "[c.dataset.figure, c.querySelector('.card-value').textContent]))")
            total = figures["total"]
            assert cards["due"] == str(total["due"]) and cards["overdue_open"] == str(total["overdue_open"])
            assert cards["headline_on_time_rate"] == f"{total['headline_on_time_rate'] * 100:.1f}%"
            # the definitions beside the figures: cohort, numerator, denominator, Chinese and the API's English
            notes = await page.inner_text(".footnotes")
            assert "及时反馈率 = 截止前反馈 ÷ 应反馈" in notes and figures["cohort"] in notes
            assert "应反馈" in (await page.get_attribute("#total [data-figure=due]", "title") or "")
            trend_from, trend_to = trend_window(end)
            trend = await get("/v1/monitor/timeliness", group_by="month", **{
                "from": trend_from.isoformat(), "to": trend_to.isoformat()})
            assert await table(page, "#trend") == expected(trend["groups"], ("due", "answered", "overdue_open"),
                                                           RATES[:2])
            verification = await get("/v1/monitor/verification", **period, group_by="prefecture")
            assert (await table(page, "#verification"))["total"] == expected(
                [{**verification["total"], "group": "total"}], ("due", "answered", "overdue_open"), RATES[:2])["total"]
            overdue = await get("/v1/monitor/overdue")
            assert overdue["count"] == 2
            assert f"逾期未反馈 overdue now: {overdue['count']}" in await page.inner_text("h2:has-text('overdue now')")
            # the charts: ECharts canvases, drawn from the node's own copy of the library
            await page.wait_for_selector("#chart-trend[data-rendered] canvas")
            assert len(await page.query_selector_all(".chart[data-rendered] canvas")) == 2
            months = await page.eval_on_selector("#chart-trend", "c => JSON.parse(c.dataset.chart).labels")
            assert len(months) == 12 and months[-1] == (end - timedelta(days=1)).strftime("%Y-%m")  # the whole year
            assert f"{base}/ui/static/vendor/echarts/echarts.min.js" in requested
            await screenshot(page, "dashboard-province")
            pages.append(await page.content())

            # Drill down: 宁波市, its counties; then 海曙区.
            await page.click("#groups a.drill:has-text('宁波市')")
            await page.wait_for_url("**region=330200**")
            ningbo = await get("/v1/monitor/timeliness", **period, region="330200")
            assert [g["group"] for g in ningbo["groups"]] == [HAISHU, YINZHOU]
            assert await table(page, "#groups") == expected(ningbo["groups"], COUNTS, RATES)
            assert "浙江省" in await page.inner_text(".crumbs")
            await screenshot(page, "dashboard-prefecture")
            pages.append(await page.content())
            await page.click("#groups a.drill:has-text('海曙区')")
            await page.wait_for_url("**region=330203**")
            haishu = await get("/v1/monitor/timeliness", **period, region="330203")
            assert await table(page, "#groups") == expected(haishu["groups"], COUNTS, RATES)
            assert haishu["total"]["answered_late"] == 1
            pages.append(await page.content())

            # The overdue list, with working days overdue.
            await page.goto(f"{base}/ui/dashboard/overdue")
            listed = await page.eval_on_selector_all("#overdue tbody tr", "rs => rs.map(r => [r.cells[0].innerText, "
                                                     "Number(r.cells[5].innerText)])")
            assert listed == [[i["message_id"], i["working_days_overdue"]] for i in overdue["items"]]
            assert all(i["working_days_overdue"] >= 1 for i in overdue["items"])
            pages.append(await page.content())

            # The month's bulletin, and its Excel file as the API's.
            month = overdue["items"][0]["due_day"][:7]
            bulletin = await get("/v1/monitor/bulletin", month=month)
            await page.goto(f"{base}/ui/dashboard/bulletin?month={month}")
            shown = await table(page, "#bulletin")
            counts = ("received", "sent", "answered", "answered_on_time", "answered_late", "overdue_at_month_end",
                      "withdrawn")
            assert list(shown) == [c["county"] for c in bulletin["counties"]] + ["total"]
            for row in bulletin["counties"]:
                assert {f: shown[row["county"]][f] for f in counts} == {f: row[f] for f in counts}
                assert shown[row["county"]]["rate0"] == row["on_time_rate"]
            await page.wait_for_selector("#chart-bulletin[data-rendered] canvas")
            await screenshot(page, "dashboard-bulletin")
            pages.append(await page.content())
            async with page.expect_download() as download_info:
                await page.click("a.download")
            download = await download_info.value
            downloaded = Path(await download.path()).read_bytes()
            workbook = openpyxl.load_workbook(io.BytesIO(downloaded))
            api_workbook = openpyxl.load_workbook(io.BytesIO((await api.get("/v1/monitor/bulletin", params={
                "month": month, "format": "xlsx"})).content))
            rows = len(bulletin["counties"]) + 2  # headings, counties, total
            assert [[c.value for c in r] for r in workbook.active.iter_rows(max_row=rows)] == [
                [c.value for c in r] for r in api_workbook.active.iter_rows(max_row=rows)]
            assert download.suggested_filename == f"bulletin-330000-{month}.xlsx"
            excel_text = _xlsx_text(downloaded)

            await page.goto(f"{base}/ui/dashboard/roster")
            pages.append(await page.content())

            # On a phone: the same page, nothing wider than the screen but the tables' own scroll.
            phone = await sign_in(offline_chromium, base, "zj-jiance", password, viewport={"width": 390, "height": 844})
            await phone.goto(f"{base}/ui/dashboard?from={period['from']}&to={period['to']}")
            await phone.wait_for_selector("#chart-groups[data-rendered] canvas")
            assert await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            await screenshot(phone, "dashboard-phone")

            # Attack-style: no name or ID number of the records sent, anywhere in any page or the download.
            personal = _personal_values(sent)
            assert any(ID_NUMBER.fullmatch(v) for v in personal) and len(personal) >= 7
            for text in [*pages, excel_text]:
                assert not ID_NUMBER.search(text), "an ID number on the dashboard"
                assert not [v for v in personal if v in text]
            outside = [u for u in requested if not u.startswith((base + "/", "blob:" + base))]
            assert outside == [], outside

            # Gansu's monitor person: none of Zhejiang's counties, and 宁波市 refused.
            gansu = await sign_in(offline_chromium, base, "gs-jiance", gansu_password)
            seen = []
            for path in (f"/ui/dashboard?from={period['from']}&to={period['to']}", "/ui/dashboard/overdue",
                         f"/ui/dashboard/bulletin?month={month}", "/ui/dashboard/roster"):
                response = await gansu.goto(base + path)
                assert response is not None and response.status == 200, path
                seen.append(await gansu.content())
            refused = await gansu.goto(f"{base}/ui/dashboard?region=330200&from={period['from']}&to={period['to']}")
            seen.append(await gansu.content())
            assert [a for text in seen for a in ZHEJIANG_AREAS if a in text] == []
            assert refused is not None and refused.status == 403
            assert "621227" in seen[2]  # Gansu's own bulletin: 徽县 sent the records
