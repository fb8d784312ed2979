"""Channel passwords: kept in the operating system's keyring, never in the database.

Where no keyring backend exists, the only alternative is an explicitly chosen,
clearly labelled file readable by the user alone. Nothing here logs a secret.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

import keyring
import keyring.backend
import keyring.errors

from app import paths
from app.services.errors import ServiceError

SERVICE = "email-campaigns"


class SecretStoreError(ServiceError):
    """The secret could not be read or written; the message says why."""


class SecretStore(Protocol):
    description: str

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, secret: str) -> None: ...
    def delete(self, key: str) -> None: ...


def keyring_available() -> bool:
    backend = keyring.get_keyring()
    try:
        priority = float(backend.priority)  # type: ignore[arg-type]
    except Exception:
        return False
    return priority > 0 and "fail" not in type(backend).__module__


class KeyringStore:
    def __init__(self) -> None:
        backend = keyring.get_keyring()
        self.description = f"the system keyring ({type(backend).__name__})"

    def get(self, key: str) -> str | None:
        try:
            return keyring.get_password(SERVICE, key)
        except keyring.errors.KeyringError as exc:
            raise SecretStoreError(f"The system keyring could not be read: {exc}") from exc

    def set(self, key: str, secret: str) -> None:
        try:
            keyring.set_password(SERVICE, key, secret)
        except keyring.errors.KeyringError as exc:
            raise SecretStoreError(f"The system keyring could not be written: {exc}") from exc

    def delete(self, key: str) -> None:
        try:
            keyring.delete_password(SERVICE, key)
        except keyring.errors.PasswordDeleteError:
            pass
        except keyring.errors.KeyringError as exc:
            raise SecretStoreError(f"The system keyring could not be written: {exc}") from exc


class PlainFileStore:
    """The explicit fallback: an unencrypted file only the user can read."""

    LABEL = "Unencrypted file in your profile (no system keyring available)"

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.config_dir() / "channel-passwords.json"
        self.description = f"an unencrypted file ({self.path})"

    def _load(self) -> dict[str, str]:
        if paths.is_own_folder(self.path.parent):  # as an older version may have left them
            paths.make_private(self.path.parent)
            paths.make_private(self.path)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SecretStoreError(f"{self.path} could not be read: {exc}") from exc
        return {str(k): str(v) for k, v in data.items()}

    def _save(self, data: dict[str, str]) -> None:
        paths.private_folder(self.path.parent)
        tmp = self.path.with_suffix(".tmp")
        fd = paths.open_private(tmp)  # 0600 even if a .tmp was left there, looser
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, self.path)

    def get(self, key: str) -> str | None:
        return self._load().get(key)

    def set(self, key: str, secret: str) -> None:
        data = self._load()
        data[key] = secret
        self._save(data)

    def delete(self, key: str) -> None:
        data = self._load()
        if data.pop(key, None) is not None:
            self._save(data)


def fallback_chosen_marker() -> Path:
    return paths.config_dir() / "use-unencrypted-password-file"


def default_store() -> SecretStore | None:
    """The keyring; else the file store if the user chose it; else None (ask them)."""
    if keyring_available():
        return KeyringStore()
    if fallback_chosen_marker().exists():
        return PlainFileStore()
    return None


def choose_plain_file_fallback() -> SecretStore:
    marker = fallback_chosen_marker()
    paths.private_folder(marker.parent)
    with os.fdopen(paths.open_private(marker), "w", encoding="utf-8") as fh:
        fh.write("The user chose to keep channel passwords in an unencrypted file.\n")
    return PlainFileStore()


def channel_key(installation_id: str, channel_uuid: str, direction: str) -> str:
    if direction not in ("inbound", "outbound"):
        raise ValueError(direction)
    return f"{installation_id}/channel/{channel_uuid}/{direction}"
