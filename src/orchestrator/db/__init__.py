"""Persistence: the SQLAlchemy models, the async engine and the Alembic migrations."""
