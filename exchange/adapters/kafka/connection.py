"""How every Kafka client of a node connects: one place, so no producer, consumer or admin client is left
unauthenticated or unencrypted when the settings ask for SASL or TLS."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka.helpers import create_ssl_context

from exchange.config import Settings

log = logging.getLogger(__name__)


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient alike.

    The TLS context is built here, once per call, so a missing or unreadable CA or key file stops the
    node at start with the file's name rather than at the first connection.
    """
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": protocol,
    }
    if protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    if protocol.endswith("SSL"):
        key_password = settings.kafka_ssl_key_password.get_secret_value()
        options["ssl_context"] = create_ssl_context(  # checks broker host names; aiokafka offers no way out
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
            password=key_password or None,
        )
    return options


def describe(options: dict[str, Any]) -> str:
    """The connection for a log line: servers, protocol, mechanism and user, never a password."""
    text = f"{options['bootstrap_servers']} ({options.get('security_protocol', 'PLAINTEXT')}"
    if "sasl_mechanism" in options:
        text += f" {options['sasl_mechanism']} as {options['sasl_plain_username']}"
    return text + ")"


#: How long a stopping node waits for each of its tasks and Kafka clients to end.
STOP_SECONDS = 10.0


async def stop_all(tasks: Iterable[asyncio.Task | None], clients: Iterable[Any]) -> None:
    """Cancel the tasks and stop the Kafka clients, each awaited at most STOP_SECONDS: a shutdown never hangs on
    one that does not answer (its work is in the outbox or on Kafka, taken up again at the next start)."""
    running = [t for t in tasks if t is not None]
    for task in running:
        task.cancel()
    if running:
        _, late = await asyncio.wait(running, timeout=STOP_SECONDS)
        if late:
            log.warning("%s did not stop within %.0fs", ", ".join(t.get_name() for t in late), STOP_SECONDS)
    for client in clients:
        if client is not None:
            try:
                await asyncio.wait_for(client.stop(), STOP_SECONDS)
            except Exception as exc:  # noqa: BLE001 - stopping anyway
                log.warning("a Kafka client did not stop cleanly (%s)", type(exc).__name__)
