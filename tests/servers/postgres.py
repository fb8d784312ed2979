"""A throw-away PostgreSQL cluster on 127.0.0.1 for integration tests.

``base_dir/pg`` (owned by the ``postgres`` OS user) holds the data directory and the unix socket;
the server log is ``base_dir/logs/postgres.log``. Durability is off (fsync, full_page_writes,
synchronous_commit): fast, and a crash only loses test data. The role ``app`` (password ``app``,
CREATEDB) owns the default database; ``create_database()`` gives each test a fresh one.
"""

from __future__ import annotations

import os
import pwd
import re
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

from tests.servers import (
    HOST,
    Daemon,
    ServerError,
    ensure_free,
    free_ports,
    is_root,
    log_tails,
    prepare_base_dir,
    wait_until,
)

OS_USER = "postgres"
START_TIMEOUT = 30.0
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _bin_dir(version: int | None) -> Path | None:
    """/usr/lib/postgresql/N/bin of the given or else the newest installed version."""
    root = Path("/usr/lib/postgresql")
    if version is not None:
        found = [root / str(version) / "bin"]
    else:
        found = sorted(
            (p.parent for p in root.glob("*/bin/initdb")),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
    return next((b for b in found if (b / "initdb").exists() and (b / "postgres").exists()), None)


class PostgresServer:
    host = HOST
    user = "app"
    password = "app"

    def __init__(
        self,
        base_dir: str | os.PathLike[str],
        *,
        database: str = "email_campaigns",
        version: int | None = None,
    ) -> None:
        if not _NAME.fullmatch(database):
            raise ValueError(f"bad database name {database!r}")
        self.base_dir = Path(base_dir).absolute()
        self.database = database
        self.version = version
        self._port: int | None = None
        self._daemon: Daemon | None = None

    # ------------------------------------------------------------------ properties
    @property
    def port(self) -> int:
        if self._port is None:
            raise ServerError("PostgresServer is not started")
        return self._port

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "pg" / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "pg"

    @property
    def log(self) -> Path:
        return self.base_dir / "logs" / "postgres.log"

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of ``database`` as the role app."""
        return (
            f"postgresql+psycopg://{self.user}:{self.password}@{self.host}:{self.port}/{database}"
        )

    def dsn_for(self, database: str) -> str:
        """libpq connection string for psycopg.connect()."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    @property
    def dsn(self) -> str:
        return self.dsn_for(self.database)

    def log_tail(self, lines: int = 25) -> str:
        return log_tails([self.log, self.base_dir / "logs" / "initdb.log"], lines)

    # ------------------------------------------------------------------ availability
    @staticmethod
    def unavailable(version: int | None = None) -> str | None:
        """Why PostgreSQL cannot run here, or None."""
        if not is_root():
            return "the PostgreSQL test server needs root (it runs initdb as the postgres user)"
        hint = "install the Debian package postgresql-15 (packaging/install-system-deps.sh)"
        if _bin_dir(version) is None:
            return f"PostgreSQL server programs are missing: {hint}"
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return f"the OS user postgres is missing: {hint}"
        return None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        reason = self.unavailable(self.version)
        if reason:
            raise ServerError(reason)
        bin_dir = _bin_dir(self.version)
        assert bin_dir is not None
        if self._port is None:
            self._port = free_ports(1)[0]
        try:
            self._initdb(bin_dir)
            self._start(bin_dir)
            self._create_role_and_database()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Fast shutdown (SIGINT: SIGTERM would wait for open client sessions); waits."""
        if self._daemon is not None:
            self._daemon.stop(timeout=30)

    def restart(self) -> None:
        """Stop and start the same cluster on the same port (data kept; clients get cut off)."""
        self.stop()
        bin_dir = _bin_dir(self.version)
        assert bin_dir is not None
        self._start(bin_dir)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ databases
    def create_database(self, name: str, template: str | None = None) -> str:
        """Create a database owned by app — empty, or a copy of ``template`` (which nobody
        may be connected to) — and return its SQLAlchemy URL."""
        for each in (name, template or name):
            if not _NAME.fullmatch(each):
                raise ValueError(f"bad database name {each!r} (lower case letters, digits, _)")
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        with psycopg.connect(self.dsn_for("postgres"), autocommit=True) as conn:
            conn.execute(statement)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        # As the superuser: FORCE may have to end an autovacuum worker, which the app role
        # may not.
        with psycopg.connect(self._admin_dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    # ------------------------------------------------------------------ internals
    def _initdb(self, bin_dir: Path) -> None:
        prepare_base_dir(self.base_dir)
        pw = pwd.getpwnam(OS_USER)
        logs = self.base_dir / "logs"
        logs.mkdir(mode=0o755, exist_ok=True)
        root = self.socket_dir
        root.mkdir(mode=0o700, exist_ok=True)
        os.chown(root, pw.pw_uid, pw.pw_gid)  # postgres insists on owning its data directory
        if (self.data_dir / "PG_VERSION").exists():
            return
        argv = [
            str(bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        ]
        with (logs / "initdb.log").open("wb") as out:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd="/",
                user=OS_USER,
                group=pw.pw_gid,
                extra_groups=[],
                check=False,
            )
        if result.returncode != 0:
            raise ServerError(f"initdb failed ({result.returncode}):\n{self.log_tail()}")

    def _start(self, bin_dir: Path) -> None:
        if self._daemon is not None and self._daemon.running:
            return
        settings = {
            "listen_addresses": HOST,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "logging_collector": "off",
            "max_connections": "200",
        }
        argv = [str(bin_dir / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self._daemon = Daemon("postgres", argv, self.log, stop_signal=signal.SIGINT, user=OS_USER)
        ensure_free("postgres", [self.port])
        self._daemon.start()
        daemon = self._daemon

        def ready() -> bool:
            if daemon.exited() is not None:
                return True
            try:
                psycopg.connect(self._admin_dsn(), connect_timeout=2).close()
            except psycopg.OperationalError:
                return False
            return True

        started = time.monotonic()
        if not wait_until(ready, START_TIMEOUT, interval=0.05) or daemon.exited() is not None:
            code = daemon.exited()
            daemon.stop()
            state = f"exited with {code}" if code is not None else "not accepting connections"
            raise ServerError(
                f"postgres {state} after {time.monotonic() - started:.1f} s\n{self.log_tail()}"
            )

    def _admin_dsn(self) -> str:
        # superuser over the unix socket (trust): only root and postgres can reach its folder
        return f"host={self.socket_dir} port={self.port} user=postgres dbname=postgres"

    def _create_role_and_database(self) -> None:
        with psycopg.connect(self._admin_dsn(), autocommit=True) as conn:
            role = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (self.user,)
            ).fetchone()
            if role is None:
                conn.execute(
                    # CREATEROLE: the site's owner makes each person's login (app.db.security)
                    sql.SQL("CREATE ROLE {} LOGIN CREATEDB CREATEROLE PASSWORD {}").format(
                        sql.Identifier(self.user), sql.Literal(self.password)
                    )
                )
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if exists is None:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(self.database), sql.Identifier(self.user)
                    )
                )
