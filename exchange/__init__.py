"""The exchange node."""

from exchange import logsafety  # noqa: F401 - caps libraries that would log personal data at DEBUG
