"""Shared fixtures: every test gets its own data folders, database and keyring."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.db import migrate
from app.db.engine import Database
from app.db.models import Role
from app.services import demo
from app.services.auth import SYSTEM, Actor
from app.services.secrets import KeyringStore


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend that keeps secrets in memory (for tests only)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.secrets.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every standard folder of the app at a temporary one."""
    home = tmp_path / "home"
    monkeypatch.setenv("EMAIL_CAMPAIGNS_HOME", str(home))
    monkeypatch.delenv("EMAIL_CAMPAIGNS_DATABASE", raising=False)
    return home


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def secrets(memory_keyring: MemoryKeyring) -> KeyringStore:
    return KeyringStore()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """An empty database at the newest schema."""
    database = Database(f"sqlite:///{tmp_path / 'test.sqlite3'}")
    migrate.upgrade(database)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def _demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo organisation, built once; each test gets a copy of the file."""
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database)
    demo.seed(database)
    with database.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return path


@pytest.fixture
def demo_db(_demo_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A database holding the demo organisation."""
    import shutil

    path = tmp_path / "demo.sqlite3"
    shutil.copy(_demo_template, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


def actor_of(db: Database, login: str) -> Actor:
    from sqlalchemy import select

    from app.db.models import User
    from app.services.auth import actor_for

    with db.session() as s:
        user = s.scalar(select(User).where(User.login == login))
        assert user is not None, login
        return actor_for(user)


@pytest.fixture
def admin(demo_db: Database) -> Actor:
    return actor_of(demo_db, "admin")


@pytest.fixture
def supervisor(demo_db: Database) -> Actor:
    return actor_of(demo_db, "sam")


@pytest.fixture
def agent(demo_db: Database) -> Actor:
    return actor_of(demo_db, "alice")


@pytest.fixture
def system() -> Actor:
    return SYSTEM


@pytest.fixture
def make_ctx(secrets: KeyringStore):  # type: ignore[no-untyped-def]
    """Build the GUI's AppContext for a database and an actor."""
    from app.ui.context import AppContext

    def build(database: Database, actor: Actor) -> AppContext:
        ctx = AppContext(database, actor, secrets)
        ctx.refresh_settings()
        return ctx

    return build


__all__ = ["Role", "actor_of"]
