"""Where the application keeps its data, configuration and logs, and how it creates them:
folders 0700 and files 0600 whatever the umask (the database holds every email; the
configuration folder may hold channel passwords).

Nothing touches the disk at import time. ``EMAIL_CAMPAIGNS_HOME`` moves every
location under one folder (tests and development use it).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from platformdirs import PlatformDirs

HOME_ENV = "EMAIL_CAMPAIGNS_HOME"
DATABASE_ENV = "EMAIL_CAMPAIGNS_DATABASE"
DATABASE_FILE = "email-campaigns.sqlite3"
PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600

log = logging.getLogger(__name__)


def _dirs() -> PlatformDirs:
    return PlatformDirs("email-campaigns", appauthor=False)


def _override() -> Path | None:
    value = os.environ.get(HOME_ENV)
    return Path(value) if value else None


def data_dir() -> Path:
    base = _override()
    return base / "data" if base else Path(_dirs().user_data_dir)


def config_dir() -> Path:
    base = _override()
    return base / "config" if base else Path(_dirs().user_config_dir)


def log_dir() -> Path:
    base = _override()
    return base / "logs" if base else Path(_dirs().user_log_dir)


def default_database_path() -> Path:
    """This user's own SQLite database (the one ``make run`` starts on)."""
    return data_dir() / DATABASE_FILE


def default_database_url() -> str:
    """The database to use when none is given: the environment, else SQLite."""
    url = os.environ.get(DATABASE_ENV)
    if url:
        return url
    return f"sqlite:///{default_database_path()}"


def is_own_folder(folder: Path) -> bool:
    """One of the app's own folders (data, configuration), where whatever is open to
    others was made so by an older version under the umask, and is made private."""
    return any(_same(folder, own) for own in (data_dir(), config_dir()))


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def private_folder(folder: Path) -> Path:
    """``folder`` and its missing parents created 0700 (the umask would leave them open to
    others); an app's own folder that exists is made private too."""
    missing = []
    current = folder
    while not current.exists() and current.parent != current:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=PRIVATE_FOLDER)
        except FileExistsError:
            continue  # made meanwhile by another process
        os.chmod(path, PRIVATE_FOLDER)  # mkdir's mode passes through the umask
    if is_own_folder(folder):
        make_private(folder)
    return folder


def create_private_file(path: Path) -> bool:
    """Create ``path`` empty, 0600 whatever the umask, unless it exists; False when it could
    not be made (whoever opens it next reports why)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return True
    except OSError as exc:
        log.debug("%s could not be created here: %s", path, exc)
        return False
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return True


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> int:
    """A descriptor of ``path`` opened with ``flags``, the file 0600 whatever the umask or the
    mode of a file left there before."""
    fd = os.open(path, flags, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_private(path: Path) -> None:
    """Take away the group's and others' access to an existing file or folder of this user
    (symbolic links are left alone); a failure is logged, not raised."""
    try:
        info = path.lstat()
    except OSError:
        return
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode) or not mode & 0o077 or info.st_uid != os.getuid():
        return
    try:
        os.chmod(path, mode & ~0o077)
    except OSError as exc:
        log.warning("%s is readable by others and could not be made private: %s", path, exc)


def resources_dir() -> Path:
    """The top-level ``resources/`` folder (also bundled by PyInstaller)."""
    return Path(__file__).resolve().parent.parent / "resources"
