"""The node's HTTP API (FastAPI)."""
