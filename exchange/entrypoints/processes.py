"""`mpx node --http-workers N`: one node as several processes on one PostgreSQL database.

One process answers HTTP and also runs the relay, the consumer and the feeds: under load the event loop is shared,
and a batch being accepted delays the batch being published. Split, N HTTP workers share the node's port (uvicorn's
workers) and one background process runs the rest (``MPX_PROCESS_ROLE``), each on its own core; they meet in the
database, and the workers wake the background relay through it (exchange/adapters/sql/signals.py). The background
process also answers HTTP, on its own port: its /metrics carries the relay's and the consumer's figures.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
from fastapi import FastAPI

from exchange.config import Settings

log = logging.getLogger(__name__)

START_SECONDS = 120.0


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Linux: `sig` when the process that started this one dies, whatever way (no orphan keeps the port)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def http_worker() -> FastAPI:
    """The app of one HTTP worker (uvicorn's factory, in a process of its own)."""
    from exchange.entrypoints.http.app import create_app

    die_with_parent()
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return create_app(settings)


class Background:
    """The background process: started, waited for, started again if it dies while the node runs."""

    def __init__(self, settings: Settings, port: int):
        self.env = {**os.environ, "MPX_PROCESS_ROLE": "background", "MPX_PORT": str(port)}
        self.url = f"http://{settings.host}:{port}/healthz"
        self.drain_seconds = settings.drain_seconds
        self.proc: subprocess.Popen | None = None
        self.stopping = threading.Event()

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "exchange.entrypoints.cli", "node"], env=self.env,
                                     stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)

    def wait_up(self) -> None:
        """Until it answers HTTP: its database is migrated, its keys made."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the background process exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the background process did not answer {self.url} within {START_SECONDS:.0f}s")

    def watch(self) -> None:
        """Start it again if it dies (the HTTP workers keep accepting meanwhile: the outbox holds the records)."""
        while not self.stopping.wait(1.0):
            if self.proc.poll() is not None and not self.stopping.is_set():
                log.error("background process exited with %s; starting it again", self.proc.returncode)
                self.start()

    def stop(self) -> None:
        """SIGTERM: it drains its batch in flight, as a single node does."""
        self.stopping.set()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(self.drain_seconds + 15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def serve(settings: Settings, workers: int, background_port: int) -> None:
    import uvicorn

    background = Background(settings, background_port)
    background.start()
    try:
        background.wait_up()
        threading.Thread(target=background.watch, name="background-watch", daemon=True).start()
        os.environ["MPX_PROCESS_ROLE"] = "http"  # the workers read their settings from the environment
        # uvicorn raises the signal that stopped it again once stopped: handled, so that the background process is
        # stopped and waited for (below) before this one exits.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: None)
        uvicorn.run("exchange.entrypoints.processes:http_worker", factory=True, workers=workers, host=settings.host,
                    port=settings.port, log_level=settings.log_level.lower(), timeout_graceful_shutdown=10)
    finally:
        background.stop()
