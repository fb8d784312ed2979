"""Alembic environment: runs on the application's own engine."""

from alembic import context

from app.db.engine import Database
from app.db.models import Base
from app.db.security import migrated_by_alembic

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    db: Database | None = config.attributes.get("database")
    if db is None:
        db = Database(config.get_main_option("sqlalchemy.url") or "")
    with db.engine.connect() as connection:
        if db.is_sqlite:
            # Python's sqlite3 runs DDL outside any transaction unless one is open: each
            # CREATE TABLE would be committed alone, and an upgrade interrupted (a full disk)
            # would leave half a schema. One transaction makes it all or nothing, as on
            # PostgreSQL; IMMEDIATE: a second process starting meanwhile waits, then sees
            # the schema done. (Alembic then opens no transactions of its own.)
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=db.is_sqlite,
            compare_type=True,
            include_object=migrated_by_alembic,  # (the roles' own table is security.py's)
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
