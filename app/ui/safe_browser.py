"""The text browser that shows what a sender wrote: sanitized HTML that loads nothing
but the inline images decoded for it beforehand (and data: images), and follows no link
(it says which was clicked, for the pane to ask about).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QTextBrowser, QWidget

from app.ui.email_rendering import INLINE_IMAGE, data_url_image


class SafeBrowser(QTextBrowser):
    """Shows sanitized email HTML; loads nothing but the images we decoded for it (and
    data: images)."""

    link_requested = Signal(QUrl)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.document().setUndoRedoEnabled(False)
        self.anchorClicked.connect(self.link_requested.emit)
        self.blocked: list[str] = []  # what was asked for and refused (for tests)
        self.images: dict[str, QImage] = {}  # INLINE_IMAGE names: decoded beforehand

    def loadResource(self, type: int, name: QUrl | str) -> Any:
        url = name if isinstance(name, QUrl) else QUrl(name)
        if url.scheme() == INLINE_IMAGE:
            found = self.images.get(url.toString())
            if found is not None:
                return found
        elif url.scheme() == "data":
            return data_url_image(url.toString())
        self.blocked.append(url.toString())
        return None
