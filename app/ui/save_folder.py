"""The folder a file was last saved to on this workstation, offered again the next time
an attachment or a message is saved.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths

from app import paths

SAVE_FOLDER_FILE = "last-save-folder"


def last_save_folder() -> Path:
    """Where the last attachment or message was saved (this workstation), else the
    Downloads folder, else home."""
    try:
        saved = Path((paths.config_dir() / SAVE_FOLDER_FILE).read_text("utf-8").strip())
        if saved.is_dir():
            return saved
    except (OSError, ValueError):
        pass
    downloads = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DownloadLocation)
    if downloads and Path(downloads).is_dir():
        return Path(downloads)
    return Path.home()


def remember_save_folder(folder: Path) -> None:
    try:
        paths.config_dir().mkdir(parents=True, exist_ok=True)
        (paths.config_dir() / SAVE_FOLDER_FILE).write_text(str(folder), "utf-8")
    except (OSError, ValueError):
        pass  # a convenience only
