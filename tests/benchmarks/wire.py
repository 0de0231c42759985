"""What sealing costs per record: the relay's seal-and-sign and the receiver's verify-and-open, against signing and
verifying the payload in clear (the 1.0 binding), interleaved in one process so both see the same machine.

    .venv/bin/python -m tests.benchmarks.wire [records]
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

import orjson

from contracts import MessageType
from contracts.cloudevents import encode_data, envelope_attributes, to_headers
from contracts.examples import example_payload
from exchange.adapters.crypto.canonical import message_bytes
from exchange.adapters.crypto.payload_crypto import PayloadCipher
from exchange.adapters.crypto.sealing import SealingKey
from exchange.adapters.crypto.signing import SigningKey
from exchange.adapters.crypto.trust import Trust
from exchange.adapters.sql.database import create_engine
from exchange.domain.message import new_envelope

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def main(n: int) -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    sender, receiver = Trust(engine, PayloadCipher.from_setting("")), Trust(engine, PayloadCipher.from_setting(""))
    signing = SigningKey.generate("621227", "k1", T0)
    sender.ring.add_signing(signing)
    receiver.ring.add_public(signing.public_key())
    sealing = SealingKey.generate("330203", "s1", T0)
    receiver.openers[("330203", "s1")] = sealing
    sender.sealing.add(sealing.public_key())
    envelope = new_envelope(message_type=MessageType.OUTFLOW_REGISTRATION, schema_version="1.0", sender="621227",
                            receiver="330203", now=datetime.now(UTC), message_id="bench-1")
    headers, value = to_headers(envelope), encode_data(example_payload("outflow_registration"))
    attributes = envelope_attributes(headers)

    def clear_round() -> None:  # 1.0: sign the clear payload, verify it
        data = orjson.loads(value)
        signed = sender.signed_headers(headers, value)
        receiver.verify(signed, envelope, data)
        assert message_bytes(attributes, data)

    def sealed_round() -> None:  # now: seal, sign the sealed value, verify, open
        wire_headers, wire_value = sender.wire(headers, value)
        data = orjson.loads(wire_value)
        receiver.verify(wire_headers, envelope, data)
        receiver.open_record(wire_headers, envelope, data)

    times = {"clear": 0.0, "sealed": 0.0}
    for _ in range(5):  # interleaved rounds: load on the machine hits both alike
        for name, round_ in (("clear", clear_round), ("sealed", sealed_round)):
            start = time.perf_counter()
            for _ in range(n // 5):
                round_()
            times[name] += time.perf_counter() - start
    per = {name: t / n * 1e6 for name, t in times.items()}
    print(f"{n} records, sender and receiver work per record: clear (1.0) {per['clear']:.0f} µs, "
          f"sealed {per['sealed']:.0f} µs, ratio {per['sealed'] / per['clear']:.2f}; "
          f"value {len(value)} bytes clear, {len(sender.wire(headers, value)[1])} sealed")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
