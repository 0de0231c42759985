"""Signals between the processes of one node on its PostgreSQL database (LISTEN/NOTIFY).

When a node runs as several processes (``MPX_PROCESS_ROLE``: HTTP workers and one background process), a record
accepted by an HTTP worker must wake the relay in the background process at once, not at its next look at the
outbox; a calendar override added through one worker must reach the others' calendars; and the HTTP workers must
know whether the background process reaches the broker (readiness, the 503's cause). PostgreSQL's LISTEN/NOTIFY
carries these small signals without a table or a poll. A signal is a hint, never the only path: the relay still
looks at the outbox every ``MPX_RELAY_IDLE_SECONDS`` and the rules are read again periodically, so a signal lost
with a dropped connection delays, never loses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
import orjson
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

OUTBOX, WEBHOOKS, RULES, STATUS = "mpx_outbox", "mpx_webhooks", "mpx_rules", "mpx_status"
#: How often the background process says whether it reaches the broker; silence for STALE_AFTER means it does not.
STATUS_EVERY, STALE_AFTER = 2.0, 10.0
KEEPALIVE = 15.0


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL (postgresql+asyncpg://…) as asyncpg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class BackgroundStatus:
    """What the HTTP workers last heard from the background process."""

    broker: bool = False
    failing: bool = False
    heard_at: float = field(default=float("-inf"))

    def heard(self, payload: str) -> None:
        if not payload:  # (listening again after a reconnection)
            return
        body = orjson.loads(payload)
        self.broker, self.failing, self.heard_at = bool(body["broker"]), bool(body["failing"]), time.monotonic()

    @property
    def alive(self) -> bool:
        return time.monotonic() - self.heard_at < STALE_AFTER

    @staticmethod
    def payload(broker: bool, failing: bool) -> str:
        return orjson.dumps({"broker": broker, "failing": failing}).decode()


class Signals:
    """One connection of its own (not the pool's): it listens on `listen`'s channels and sends the notifications.
    Sending is coalesced: a burst of wake-ups while one is being sent makes one more, not one each."""

    def __init__(self, database_url: str, listen: dict[str, Callable[[str], None]]):
        self.dsn = asyncpg_dsn(database_url)
        self.listen = listen
        self._conn: asyncpg.Connection | None = None
        self._sending: dict[str, str] = {}
        self._wake_sender = asyncio.Event()

    def notify(self, channel: str, payload: str = "") -> None:
        """Send `channel` soon (from synchronous code: after a commit); a lost connection drops it (a hint)."""
        self._sending[channel] = payload
        self._wake_sender.set()

    async def run(self) -> None:
        """Stay connected and listening (reconnecting with backoff); send what `notify` queued."""
        backoff = 0.5
        while True:
            try:
                self._conn = await asyncpg.connect(self.dsn, timeout=10)
                for channel, callback in self.listen.items():
                    await self._conn.add_listener(channel, _listener(callback))
                backoff = 0.5
                for callback in self.listen.values():
                    callback("")  # anything sent while not listening: look now
                await self._send_forever()
            except Exception as exc:  # noqa: BLE001 - whatever broke the connection: connect again
                log.warning("database signals interrupted (%s); reconnecting in %.1fs", type(exc).__name__, backoff)
            finally:
                if self._conn is not None:
                    with contextlib.suppress(Exception):
                        await self._conn.close(timeout=2)
                    self._conn = None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10)

    async def _send_forever(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake_sender.wait(), KEEPALIVE)
            except TimeoutError:
                await self._conn.execute("SELECT 1")  # a connection dropped in silence is found, and listened again
                continue
            self._wake_sender.clear()
            sending, self._sending = self._sending, {}
            for channel, payload in sending.items():
                await self._conn.execute("SELECT pg_notify($1, $2)", channel, payload)


def _listener(callback: Callable[[str], None]) -> Callable[..., None]:
    def on_notification(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            callback(payload)
        except Exception:  # noqa: BLE001 - a bad payload must not end the listening
            log.exception("a database signal could not be handled")

    return on_notification
