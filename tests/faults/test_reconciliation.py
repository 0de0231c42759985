"""A record lost behind the receiving node's back (deleted from its database) is found by the next
reconciliation and delivered again."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from exchange.adapters.sql.tables import inbox, messages, obligations
from tests.faults.conftest import ADMIN, ADMIN_TOKEN, HAISHU, HUI, outflow, wait_until

pytestmark = pytest.mark.integration


async def test_a_record_deleted_at_the_receiver_is_found_and_sent_again(sqlite_federation):
    fed = sqlite_federation
    hui = await fed.start(HUI, reconcile_at="", admin_token=ADMIN_TOKEN)
    haishu = await fed.start(HAISHU, reconcile_at="", admin_token=ADMIN_TOKEN)
    ids = await hui.client.send_batch([outflow(n, f"recon-{n:03d}") for n in range(30)])

    async def all_delivered():
        views = [await hui.client.message(i) for i in ids]
        return all(v["state"] == "delivered" for v in views)

    await wait_until(all_delivered, timeout=60, what="30 records delivered")

    # Behind the node's back: three records gone whole (a restored backup), one whose inbox entry survived.
    lost_whole, lost_row_only = ids[3:6], ids[17]
    async with haishu.node.engine.begin() as conn:
        await conn.execute(delete(messages).where(messages.c.id.in_([*lost_whole, lost_row_only])))
        await conn.execute(delete(inbox).where(inbox.c.message_id.in_(lost_whole)))
        await conn.execute(delete(obligations).where(obligations.c.message_id.in_([*lost_whole, lost_row_only])))
    assert len(await haishu.client.inbox_all()) == 26

    # The run is an admin operation (it is also scheduled daily, MPX_RECONCILE_AT).
    assert (await hui.http.post("/v1/reconciliation/run")).status_code in (401, 403)
    run = await hui.http.post("/v1/reconciliation/run", headers=ADMIN)
    assert run.status_code == 202, run.text
    assert run.json()["digests"] == [{"county": HUI, "peer": HAISHU, "total": 30, "parts": 1}]

    async def all_back():
        return {i["id"] for i in await haishu.client.inbox_all()} == set(ids)

    await wait_until(all_back, timeout=60, what="the 4 lost records back at 330203")
    async with haishu.node.engine.connect() as conn:
        stored = await conn.scalar(select(func.count()).select_from(messages).where(messages.c.direction == "in"))
    assert stored == 30

    found = (await haishu.http.get("/v1/reconciliation", headers=ADMIN)).json()
    [checked] = [i for i in found["items"] if i["kind"] == "digest_checked"]
    assert checked["missing"] == 4 and set(checked["missing_ids"]) == {*lost_whole, lost_row_only}
    assert checked["still_missing"] == 0 and checked["status"] == "healed" and found["open_gaps"] == 0
    served = (await hui.http.get("/v1/reconciliation", headers=ADMIN)).json()["items"]
    [resend] = [i for i in served if i["kind"] == "resend_served"]
    assert resend["count"] == 4 and resend["missing"] == 0

    # A second run finds nothing missing.
    await hui.http.post("/v1/reconciliation/run", headers=ADMIN)

    async def second_check():
        items = (await haishu.http.get("/v1/reconciliation", headers=ADMIN)).json()["items"]
        checks = [i for i in items if i["kind"] == "digest_checked"]
        return checks if len(checks) == 2 else None

    checks = await wait_until(second_check, timeout=60, what="the second digest checked")
    assert checks[0]["missing"] == 0 and checks[0]["status"] == "complete"
    print(f"\n[reconciliation] sent 30, deleted at the receiver {len(lost_whole) + 1} "
          f"({len(lost_whole)} whole, 1 with its inbox entry left); digest listed {checked['total']}, receiver "
          f"found {checked['missing']} missing, sender re-sent {resend['count']}; receiver holds {stored} again; "
          f"second run: {checks[0]['missing']} missing")
