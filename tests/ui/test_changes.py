"""The change hub: one reader of the change token per workstation, off the GUI thread,
telling every shown screen."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from app.db.engine import Database
from app.ui.changes import ChangeWatcher, hub_of
from tests.work_data import add_email


def test_every_shown_screen_hears_a_change_made_elsewhere_and_a_hidden_one_hears_it_when_shown(  # type: ignore[no-untyped-def]
    qtbot, demo_db: Database, make_ctx, agent
) -> None:
    ctx = make_ctx(demo_db, agent)
    shown, hidden = QWidget(), QWidget()
    qtbot.addWidget(shown)
    qtbot.addWidget(hidden)
    heard = {"shown": 0, "hidden": 0}
    for name, screen in (("shown", shown), ("hidden", hidden)):
        watcher = ChangeWatcher(ctx, screen)
        watcher.changed.connect(lambda name=name: heard.__setitem__(name, heard[name] + 1))
    shown.show()
    qtbot.waitExposed(shown)
    hub = hub_of(ctx)
    qtbot.waitUntil(lambda: hub._token is not None, timeout=3000)  # the first reading
    add_email(demo_db, "Orders", subject="From the channel service")
    qtbot.waitUntil(lambda: heard["shown"] == 1, timeout=3000)
    assert heard["hidden"] == 0
    hidden.show()
    qtbot.waitExposed(hidden)
    assert heard["hidden"] == 1  # missed while hidden: told once on showing
    shown.hide()
    hidden.hide()
    qtbot.waitUntil(lambda: not hub.timer.isActive(), timeout=1000)  # nobody shown: no reading
    add_email(demo_db, "Orders", subject="While nobody looks")
    qtbot.wait(1500)
    assert heard == {"shown": 1, "hidden": 1}
    shown.show()
    qtbot.waitUntil(lambda: heard["shown"] == 2, timeout=3000)


def test_one_hub_per_workstation(demo_db: Database, make_ctx, agent, qapp) -> None:  # type: ignore[no-untyped-def]
    ctx = make_ctx(demo_db, agent)
    assert hub_of(ctx) is hub_of(ctx)
