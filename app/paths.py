"""Where the application keeps its data, configuration and logs.

Nothing touches the disk at import time. ``EMAIL_CAMPAIGNS_HOME`` moves every
location under one folder (tests and development use it).
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import PlatformDirs

HOME_ENV = "EMAIL_CAMPAIGNS_HOME"
DATABASE_ENV = "EMAIL_CAMPAIGNS_DATABASE"


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


def default_database_url() -> str:
    """The database to use when none is given: the environment, else SQLite."""
    url = os.environ.get(DATABASE_ENV)
    if url:
        return url
    return f"sqlite:///{data_dir() / 'email-campaigns.sqlite3'}"


def resources_dir() -> Path:
    """The top-level ``resources/`` folder (also bundled by PyInstaller)."""
    return Path(__file__).resolve().parent.parent / "resources"
