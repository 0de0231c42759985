"""The domain core: plain Python, no FastAPI, Kafka or SQLAlchemy."""
