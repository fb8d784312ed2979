"""The Qt side of the channel service: its events as a queued signal, and the status-bar
entries showing each channel's state."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QStatusBar

from app.channel_service.runner import ChannelState, ChannelWorker
from app.services.outage import RETRY_SECONDS
from app.services.secrets import SecretStore
from app.services.site import Site
from app.ui.operations import BACKGROUND, Failure, run

log = logging.getLogger(__name__)
# After an internal error (a bug) starting the channels: tried again this much later. The
# database's absence is tried again every outage.RETRY_SECONDS, like everything else: the
# ChannelWorker does that itself (and so does this adapter, should it ever be told of it).
BUG_RETRY_MS = 30_000
UNAVAILABLE_RETRY_MS = int(RETRY_SECONDS * 1000)


class ChannelEvents(QObject):
    """Owns the channel service; re-emits its events on the GUI thread."""

    changed = Signal(object)  # ChannelState; queued across threads automatically

    def __init__(
        self, db: Site, secrets: SecretStore | None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.service = ChannelWorker(db, secrets, self.changed.emit)
        self.states: dict[int, ChannelState] = {}
        self._stopped = False
        self.changed.connect(self._remember)

    def _remember(self, state: ChannelState) -> None:
        self.states[state.channel_id] = state

    def start(self) -> None:
        """Start a worker for each enabled channel that has none (call again after
        changes). The channels are read off the GUI thread; while the database cannot be
        reached they are read again every 0.5 s (the worker's own thread does it: the log
        says once that the database is away); after an internal error, in 30 s."""
        self._stopped = False
        run(self, self.service.start, lambda _r: None, self._not_started, lane=BACKGROUND)

    def _not_started(self, failure: Failure) -> None:
        if failure.unavailable:  # told once per outage by the worker's watch
            self.service.watch.lost(failure.error, "starting the channels")
            wait = UNAVAILABLE_RETRY_MS
        else:
            log.warning("The channels could not be started: %s", failure.message)
            wait = BUG_RETRY_MS
        if not self._stopped:
            QTimer.singleShot(wait, self, self._retry)

    def _retry(self) -> None:
        if not self._stopped:
            self.start()

    def stop(self) -> None:
        self._stopped = True
        self.service.stop()

    def use_secrets(self, secrets: SecretStore | None) -> None:
        self.service.use_secrets(secrets)

    def check_now(self, channel_id: int | None = None) -> None:
        self.service.check_now(channel_id)


class ChannelStatusBar(QObject):
    """One label per channel in the status bar: connected, syncing n of m, last check,
    last error — with the full text as tooltip."""

    def __init__(self, events: ChannelEvents, bar: QStatusBar) -> None:
        super().__init__(bar)
        self.bar = bar
        self.labels: dict[int, QLabel] = {}
        events.changed.connect(self.show_state)
        for state in events.states.values():
            self.show_state(state)

    def label_for(self, channel_id: int) -> QLabel:
        label = self.labels.get(channel_id)
        if label is None:
            label = QLabel(self.bar)
            label.setTextFormat(Qt.TextFormat.PlainText)
            self.bar.addPermanentWidget(label)
            self.labels[channel_id] = label
        return label

    def show_state(self, state: ChannelState) -> None:
        label = self.label_for(state.channel_id)
        text = state.describe()
        label.setToolTip(text + (f"\n{state.last_report}" if state.last_report else ""))
        label.setText(text if len(text) <= 70 else text[:67] + "…")
        color = "#b00020" if state.state == "error" else ""
        label.setStyleSheet(f"color: {color};" if color else "")
