"""Persistence: engine and sessions, typed models, Alembic migrations."""
