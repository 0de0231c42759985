"""Kafka at the edge: topic scheme, CloudEvents binding, outbox relay, inbound consumer."""
