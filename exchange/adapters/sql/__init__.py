"""Durable state of a node: messages, outbox, inbox, consumer positions."""
