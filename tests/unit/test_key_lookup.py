"""API keys looked up on every request: made-up key ids must cost the node no memory."""

from __future__ import annotations

from exchange.adapters.api_keys import KeyStore
from exchange.adapters.crypto import apikeys
from exchange.adapters.sql.database import create_engine, migrate
from exchange.adapters.unit_of_work import evidence_only
from exchange.domain.principals import Role


async def test_guessed_keys_are_refused_and_leave_nothing_behind(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'node.db'}"
    await migrate(url)
    engine = create_engine(url)
    try:
        store = KeyStore(engine, evidence_only(engine))
        issued = await store.create(name="徽县流动人口信息系统", role=Role.COUNTY_SYSTEM, counties=frozenset({"621227"}))
        assert (await store.authenticate(issued.key)).counties == {"621227"}

        for _ in range(200):  # someone trying random keys
            key_id, key, _ = apikeys.new_key()
            assert await store.authenticate(key) is None

        assert list(store._cache) == [issued.key_id]
    finally:
        await engine.dispose()
