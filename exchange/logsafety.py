"""Loggers of libraries that print SQL parameters or Kafka request contents at DEBUG are capped at INFO.

A node's DEBUG logging is for the node's own code, whose log lines carry ids and
counties only; aiosqlite and aiokafka at DEBUG would print stored payloads and
record values, i.e. personal data.
"""

import logging

CAPPED = ("aiosqlite", "aiokafka", "sqlalchemy.engine", "asyncpg")


def cap_chatty_loggers() -> None:
    for name in CAPPED:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


cap_chatty_loggers()
