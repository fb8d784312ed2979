"""Every file and folder the app creates is private, whatever the umask (issue 11, item 9):
the database (and SQLite's -wal and -shm files), the backups made before an upgrade, the
data and configuration folders, the unencrypted password file and its marker."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command

from app import paths
from app.cli import main
from app.db import migrate
from app.db.engine import Database
from app.services import secrets


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def open_to_others(*found: Path) -> dict[str, str]:
    """Those of ``found`` that the group or others may use, with their modes."""
    return {str(p): oct(mode(p)) for p in found if mode(p) & 0o077}


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def test_the_default_database_its_wal_and_its_folders_are_private(  # type: ignore[no-untyped-def]
    umask: int, isolated_home: Path, capsys
) -> None:
    assert main(["demo"]) == 0  # the user's own SQLite file, as on the first `make run`
    database = paths.default_database_path()
    assert database.exists() and database.parent == paths.data_dir()
    db = Database(paths.default_database_url())
    try:
        with db.engine.connect() as conn:  # -wal and -shm exist while a connection is open
            conn.exec_driver_sql("SELECT count(*) FROM users").scalar()
            wal = database.with_name(database.name + "-wal")
            shm = database.with_name(database.name + "-shm")
            assert wal.exists() and shm.exists()
            assert open_to_others(isolated_home, paths.data_dir(), database, wal, shm) == {}
            assert mode(database) == mode(wal) == mode(shm) == 0o600
            assert mode(paths.data_dir()) == mode(isolated_home) == 0o700
    finally:
        db.dispose()


def test_a_database_elsewhere_and_the_folders_made_for_it_are_private(
    umask: int, tmp_path: Path
) -> None:
    path = tmp_path / "new" / "deeper" / "x.sqlite3"
    db = Database(f"sqlite:///{path}")
    try:
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1").scalar()
            found = [path.parent.parent, path.parent, path]
            found += [path.with_name(path.name + s) for s in ("-wal", "-shm")]
            assert all(p.exists() for p in found)
            assert open_to_others(*found) == {}
    finally:
        db.dispose()


def test_the_backup_before_an_upgrade_is_private(  # type: ignore[no-untyped-def]
    umask: int, isolated_home: Path, capsys
) -> None:
    db = Database(paths.default_database_url())
    command.upgrade(migrate.alembic_config(db), "0001")
    db.dispose()
    assert main(["db", "upgrade"]) == 0
    backups = list(paths.data_dir().glob("*.bak"))
    assert len(backups) == 1 and ".0001." in backups[0].name
    assert mode(backups[0]) == 0o600
    assert str(backups[0]) in capsys.readouterr().err


def test_the_unencrypted_password_file_and_the_configuration_folder_are_private(
    umask: int, isolated_home: Path
) -> None:
    store = secrets.choose_plain_file_fallback()
    store.set("key", "s3cret")
    assert isinstance(store, secrets.PlainFileStore)
    found = [paths.config_dir(), store.path, secrets.fallback_chosen_marker()]
    assert open_to_others(*found) == {}
    assert mode(paths.config_dir()) == 0o700 and mode(store.path) == 0o600
    assert secrets.default_store() is not None  # (no keyring here: the file is chosen)


def test_a_temporary_password_file_left_open_to_others_is_not_reused_so(
    umask: int, isolated_home: Path
) -> None:
    store = secrets.PlainFileStore()
    paths.config_dir().mkdir(parents=True)
    left = store.path.with_suffix(".tmp")
    left.write_text("{}")
    left.chmod(0o666)
    store.set("key", "s3cret")
    assert mode(store.path) == 0o600


def test_what_older_versions_left_open_in_the_apps_folders_is_made_private(
    isolated_home: Path,
) -> None:
    previous = os.umask(0o022)
    try:
        db = Database(paths.default_database_url())
        migrate.upgrade(db)
        db.dispose()
    finally:
        os.umask(previous)
    database = paths.default_database_path()
    backup = database.with_name(database.name + ".0006.20260101T000000Z.bak")
    backup.write_bytes(b"")
    config = paths.config_dir()
    config.mkdir(parents=True)
    password_file = config / "channel-passwords.json"
    password_file.write_text("{}")
    for path, loose in (
        (paths.data_dir(), 0o755),
        (database, 0o644),
        (backup, 0o644),
        (config, 0o755),
        (password_file, 0o644),
    ):
        path.chmod(loose)
    Database(paths.default_database_url()).dispose()  # opening the database
    assert open_to_others(paths.data_dir(), database, backup) == {}
    assert secrets.PlainFileStore().get("key") is None  # reading a password
    assert open_to_others(config, password_file) == {}


def test_a_database_file_of_someone_elses_choosing_keeps_its_mode(tmp_path: Path) -> None:
    """Outside the app's own folders a mode was chosen by whoever made the file (a group
    sharing it): it is left as it is; only new files are made private."""
    path = tmp_path / "shared.sqlite3"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    path.chmod(0o660)
    Database(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o660


def test_a_folder_that_cannot_be_made_is_said_not_a_traceback(capsys) -> None:  # type: ignore[no-untyped-def]
    # (no folder can be made under /proc, not even by root)
    assert main(["--database", "sqlite:////proc/no-such/x.sqlite3", "db", "upgrade"]) == 4
    assert "Cannot open the database" in capsys.readouterr().err
