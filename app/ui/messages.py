"""Every message box goes through here, so that tests can answer them in one place."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


class Messages:
    def confirm(
        self,
        parent: QWidget | None,
        title: str,
        text: str,
        *,
        ok: str = "OK",
        cancel: str = "Cancel",
    ) -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
        ok_button = box.addButton(ok, QMessageBox.ButtonRole.AcceptRole)
        cancel_button = box.addButton(cancel, QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(cancel_button)
        box.setEscapeButton(cancel_button)
        box.exec()
        return box.clickedButton() is ok_button

    def error(self, parent: QWidget | None, title: str, text: str) -> None:
        QMessageBox.warning(parent, title, text)

    def info(self, parent: QWidget | None, title: str, text: str) -> None:
        QMessageBox.information(parent, title, text)


messages = Messages()
