"""Loggers of libraries that print SQL parameters or Kafka request contents at DEBUG are capped at INFO.

A node's DEBUG logging is for the node's own code, whose log lines carry ids and
counties only; aiosqlite and aiokafka at DEBUG would print stored payloads and
record values, i.e. personal data. (A level, not a filter: filters on a logger do
not reach the records of its child loggers, e.g. ``aiokafka.producer.producer``.)

SQLAlchemy's engine logs every statement at INFO (its echo); capped at INFO it
echoed every statement even when the node logged at WARNING, a tenth of the
node's time under load. It is capped at WARNING.
"""

import logging

CAPPED = {"aiosqlite": logging.INFO, "aiokafka": logging.INFO, "asyncpg": logging.INFO,
          "sqlalchemy.engine": logging.WARNING, "sqlalchemy.pool": logging.WARNING}


def cap_chatty_loggers() -> None:
    for name, floor in CAPPED.items():
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < floor:
            logger.setLevel(floor)


cap_chatty_loggers()
