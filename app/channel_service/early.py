"""Connecting to a channel's IMAP server while ``channel sync`` is still starting.

The command spends its first 0.3 s importing SQLAlchemy and the models and opening the
database; the IMAP server spends about as long on TLS, the login and the first SELECT (which
it may spend reading the folder's index). Both can happen at once: for a SQLite database,
``EarlyConnection`` reads the channel's IMAP settings with the sqlite3 module alone (no
SQLAlchemy), takes the password from the store and connects, in a thread, while the command
imports and opens the database the usual way.

The pass uses that session only if the settings read the usual way (after the schema check
and any migration, by ``sync.imap_settings``) are the same in every field, password
included; otherwise the session is closed and the pass connects as always. So nothing read
here decides anything: at worst (another schema, a channel changed meanwhile, a database
that cannot be read this way) the time is not saved. Imports SQLAlchemy nowhere.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

from app.domain.enums import Security
from app.mail.imap import ImapSession, ImapSettings


class EarlyConnection:
    """Connects to the IMAP server of the channel ``name`` of the database ``url`` in a
    thread; ``take`` gives the session to the pass (or None: connect as usual)."""

    def __init__(self, url: str, name: str) -> None:
        self._url = url
        self._name = name
        self.settings: ImapSettings | None = None  # as read here; None: nothing tried
        self._session: ImapSession | None = None
        self._error: BaseException | None = None  # what connecting with them raised
        self._thread = threading.Thread(target=self._run, name="imap-early", daemon=True)
        self._thread.start()

    def take(self, settings: ImapSettings) -> ImapSession | None:
        """The session, logged in with the folder selected, if it was made with exactly
        ``settings``; else None (and nothing is left open). Raises what connecting with
        exactly ``settings`` raised (a wrong password, a timeout): the pass would get the
        same, a second time."""
        self._thread.join()  # (also: forking wants this process to have one thread)
        session, self._session = self._session, None
        if self.settings != settings:
            if session is not None:
                with contextlib.suppress(Exception):
                    session.close()
            return None
        if self._error is not None:
            raise self._error
        return session

    def close(self) -> None:
        """Close the session if it was not taken (the command failed before the pass)."""
        self._thread.join()
        if self._session is not None:
            with contextlib.suppress(Exception):
                self._session.close()
            self._session = None

    def _run(self) -> None:
        try:
            settings = _read_settings(self._url, self._name)
        except Exception:  # not readable this way: the pass connects as usual
            return
        if settings is None:
            return
        self.settings = settings
        try:
            self._session = ImapSession(settings)
        except BaseException as exc:  # kept for take(), which raises it if the settings hold
            self._error = exc


def _sqlite_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///path`` URL (no driver, no options), else None."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = Path(url[len(prefix) :])
    return path if path.name and path.is_file() else None


def _read_settings(url: str, name: str) -> ImapSettings | None:
    """The channel's IMAP settings with its password, as ``sync.imap_settings`` reads them;
    None where this cannot (not a SQLite file, no such channel, no password)."""
    from app.services.secrets import channel_key, default_store

    path = _sqlite_path(url)
    if path is None:
        return None
    # read-only, and not waiting for writers: this only saves time when it is quick
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0.5)
    try:
        row = conn.execute(
            "SELECT imap_host, imap_port, imap_security, imap_username, imap_folder, ca_file, "
            "uuid FROM channels WHERE name = ?",
            (name,),
        ).fetchone()
        org = conn.execute("SELECT installation_id FROM organisation LIMIT 1").fetchone()
    finally:
        conn.close()
    if row is None:
        return None
    host, port, security, username, folder, ca_file, uuid = row
    store = default_store()
    if store is None:
        return None
    password = store.get(channel_key(org[0] if org else "", uuid, "inbound"))
    if not password:
        return None
    return ImapSettings(
        host=host,
        port=int(port),
        security=Security(security),
        username=username,
        password=password,
        folder=folder or "INBOX",
        ca_file=ca_file,
    )
