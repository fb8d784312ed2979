"""Shared fixtures: every test gets its own data folders, database and keyring.

The suite runs on SQLite (the default) and, with ``EMAIL_CAMPAIGNS_TEST_DATABASE=postgresql``,
on a real PostgreSQL server started here: then ``db`` and ``demo_db`` are PostgreSQL
databases (the demo one copied from a template database), and tests marked ``sqlite_only``
(about the SQLite file itself) are skipped.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import keyring
import keyring.backend
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from sqlalchemy import text

from app.db import migrate, security
from app.db.engine import Database
from app.db.models import Role
from app.services import demo
from app.services.auth import SYSTEM, Actor
from app.services.demo import DEMO_PASSWORD
from app.services.secrets import KeyringStore
from tests.servers import ServerError
from tests.servers.mail import MailServer
from tests.servers.postgres import PostgresServer

BACKEND = os.environ.get("EMAIL_CAMPAIGNS_TEST_DATABASE", "sqlite").lower()
if BACKEND not in ("sqlite", "postgresql"):
    raise SystemExit(f"EMAIL_CAMPAIGNS_TEST_DATABASE must be sqlite or postgresql, not {BACKEND}")
ON_POSTGRES = BACKEND == "postgresql"
_database_numbers = itertools.count(1)
T = TypeVar("T")


def pytest_report_header() -> str:
    return f"database backend: {BACKEND}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="about the SQLite file itself; this run is on PostgreSQL")
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)


def require_server(reason: str | None) -> None:
    """Skip a test whose server cannot run here — but fail when ``CI=true``: a CI run must
    not pass by skipping."""
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; the server tests must run when CI=true", pytrace=False)
    pytest.skip(reason)


S = TypeVar("S", bound="PostgresServer | MailServer")


def session_server(kind: type[S], label: str, what: str) -> Iterator[S]:
    """Start a server for the session in a short folder of its own (unix socket paths;
    reachable by the daemons' users, unlike pytest's tmp_path), and stop it at the end."""
    require_server(kind.unavailable())
    base = Path(tempfile.mkdtemp(prefix=f"ec-{label}-", dir="/tmp"))
    server = kind(base)
    try:
        server.start()
    except ServerError as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"{what} did not start: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster for the whole session (role app/app, database email_campaigns)."""
    yield from session_server(PostgresServer, "pg", "PostgreSQL")


def new_database_name() -> str:
    return f"test_{os.getpid()}_{next(_database_numbers)}"


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of an empty database of its own for this test (dropped afterwards)."""
    name = new_database_name()
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


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
def db(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """An empty database at the newest schema."""
    if ON_POSTGRES:
        database = Database(request.getfixturevalue("postgres_url"))
    else:
        database = Database(f"sqlite:///{tmp_path / 'test.sqlite3'}")
    migrate.upgrade(database)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def _demo_template(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    """The demo organisation, built once: a SQLite file each test gets a copy of, or on
    PostgreSQL a template database each test's database is created from."""
    if ON_POSTGRES:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        name = f"demo_template_{os.getpid()}"
        database = Database(server.create_database(name))
        migrate.upgrade(database)
        demo.seed(database)
        database.dispose()
        return name
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database)
    demo.seed(database)
    with database.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return str(path)


def copy_database(template: str, tmp_path: Path, request: pytest.FixtureRequest) -> Database:
    """A database of its own for a test, copied from a template built by the session; on
    PostgreSQL it is dropped when the test ends."""
    if ON_POSTGRES:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        name = new_database_name()
        database = Database(server.create_database(name, template=template))
        restore_logins(database)

        def drop() -> None:
            database.dispose()
            server.drop_database(name)

        request.addfinalizer(drop)
        return database
    path = tmp_path / "demo.sqlite3"
    shutil.copy(template, path)
    return Database(f"sqlite:///{path}")


def derived_template(
    base: str,
    label: str,
    prepare: Callable[[Database], T],
    directory: Path,
    request: pytest.FixtureRequest,
) -> tuple[str, T]:
    """A new template: a copy of ``base`` changed by ``prepare`` (e.g. emails added), for
    the tests of one module to copy again. Returns it and what ``prepare`` returned."""
    if ON_POSTGRES:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        name = f"{label}_template_{os.getpid()}"
        server.drop_database(name)
        database = Database(server.create_database(name, template=base))
        prepared = prepare(database)
        database.dispose()
        return name, prepared
    path = directory / f"{label}.sqlite3"
    shutil.copy(base, path)
    database = Database(f"sqlite:///{path}")
    prepared = prepare(database)
    with database.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return str(path), prepared


@pytest.fixture
def demo_db(
    _demo_template: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Database]:
    """A database holding the demo organisation."""
    database = copy_database(_demo_template, tmp_path, request)
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


def sign_in_as(database: Database, login: str, password: str) -> Actor:
    """Signing in as the site does it: the app's own check in a SQLite file; on PostgreSQL
    the person's own login, whose password the server checks (then signed out again)."""
    if database.is_sqlite:
        from app.services import auth

        return auth.sign_in(database, login, password)
    from app.services.site import SiteAccess

    access = SiteAccess(database.url)
    signed_in = access.sign_in(login, password)
    access.release(signed_in)
    return signed_in.actor


def restore_logins(database: Database, password: str = DEMO_PASSWORD) -> None:
    """PostgreSQL: every user of ``database`` gets their login as their row says, with
    ``password`` (as the owner, nothing in the tables changed). The logins are the
    cluster's: the tests' copies of one template share them, so each copy makes them its
    own when it is made (a test before may have changed or disabled them)."""
    with database.engine.begin() as conn:
        prefix = security.site_prefix(conn)
        for login, role, active in conn.execute(
            text("SELECT login, role, active FROM users ORDER BY id")
        ):
            conn.execute(
                text("SELECT ec_sync_login(:l, :l, :r, :a)"),
                {"l": login, "r": role, "a": active},
            )
            role_name = security.login_role(prefix, login)
            verifier = security.scram_verifier(conn, role_name, password)
            conn.exec_driver_sql(
                "ALTER ROLE \"{}\" PASSWORD '{}'".format(role_name.replace('"', '""'), verifier)
            )


@pytest.fixture
def gui_database(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The database the screens are given, for a database the test uses.

    It is the same database through an engine of its own
    that refuses any use from the GUI thread (once ``refuse`` is called: ``make_ctx`` reads
    the settings first), while the test's own set-up and checks go on using the one given.
    Either way, the screens' operations have all reported before the database goes."""
    # Screens never wait for the database: a test must say why it lets them.
    guard = request.node.get_closest_marker("gui_sql_allowed") is None
    opened: list[Database] = []

    def clone(database: Database, refuse: bool = True) -> Database:
        if not guard:
            return database
        screens = Database(database.url)
        opened.append(screens)
        if refuse:
            screens.refuse_thread(threading.get_ident())
        return screens

    yield clone
    settle_operations()
    for database in opened:
        database.refuse_thread(None)
        database.dispose()


@pytest.fixture
def make_ctx(secrets: KeyringStore, gui_database):  # type: ignore[no-untyped-def]
    """Build the GUI's AppContext for a database and an actor (see ``gui_database``)."""
    from app.ui.context import AppContext

    def build(database: Database, actor: Actor) -> AppContext:
        screens = gui_database(database, refuse=False)
        ctx = AppContext(screens, actor, secrets)
        ctx.refresh_settings()
        if screens is not database:
            screens.refuse_thread(threading.get_ident())
        return ctx

    return build


class SettlingQtBot:
    """pytest-qt's qtbot that, after each key or click it sends and each window it shows,
    waits for the screens' operations to report — as a user waits to see what they did
    before they look. (The work itself runs off the GUI thread as in the application.)"""

    SETTLING = ("keyClick", "keyClicks", "keyPress", "mouseClick", "mouseDClick", "waitExposed")

    def __init__(self, bot: object) -> None:
        self._bot = bot

    def __getattr__(self, name: str) -> object:
        found = getattr(self._bot, name)
        if name not in self.SETTLING:
            return found

        def settling(*args: object, **kwargs: object) -> object:
            result = found(*args, **kwargs)
            settle_operations()
            return result

        return settling


@pytest.fixture
def qtbot(qtbot):  # type: ignore[no-untyped-def]
    return SettlingQtBot(qtbot)


def settle_operations() -> None:
    """Wait until every operation of the screens has reported (none outlives a test)."""
    module = sys.modules.get("app.ui.operations")
    running = getattr(module, "_operations", None)
    if running is not None:
        assert running.wait_idle(30), "an operation of a screen did not end within 30 s"


@pytest.fixture
def answers(monkeypatch):  # type: ignore[no-untyped-def]
    """Message boxes answered through the one factory; records what was shown.

    Returns (shown, replies): ``shown`` lists (kind, text); ``replies`` holds the answers
    to the next confirmations (True when empty)."""
    from app.ui import messages as messages_module

    shown: list[tuple[str, str]] = []
    replies: list[bool] = []

    def confirm(parent, title, text, **_kw):  # type: ignore[no-untyped-def]
        shown.append(("confirm", text))
        return replies.pop(0) if replies else True

    monkeypatch.setattr(messages_module.messages, "confirm", confirm)
    monkeypatch.setattr(
        messages_module.messages, "error", lambda p, t, text: shown.append(("error", text))
    )
    monkeypatch.setattr(
        messages_module.messages, "info", lambda p, t, text: shown.append(("info", text))
    )
    return shown, replies


def stored_bytes(db: Database) -> bytes:
    """Everything the database holds, to search for what must never be stored (passwords):
    the SQLite file and its WAL byte for byte; on PostgreSQL every row of every table."""
    if db.sqlite_path is not None:
        path = db.sqlite_path
        files = (path, path.with_name(path.name + "-wal"))
        return b"".join(p.read_bytes() for p in files if p.exists())
    from sqlalchemy import inspect, text

    rows = []
    with db.engine.connect() as conn:
        for table in inspect(db.engine).get_table_names():
            rows.extend(
                conn.execute(text(f'SELECT row_to_json(t)::text FROM "{table}" t')).scalars()
            )
    return "\n".join(rows).encode()


__all__ = ["Role", "actor_of"]
