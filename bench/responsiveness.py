"""Responsiveness benchmark (issue 12): how long the GUI thread stops answering during a
scripted session of the real application, on PostgreSQL across a slow network.

    .venv/bin/python bench/responsiveness.py                  # PostgreSQL, 30 ms round trip
    .venv/bin/python bench/responsiveness.py --delay-ms 5     # 10 ms round trip
    .venv/bin/python bench/responsiveness.py --sqlite         # a SQLite file, no proxy
    .venv/bin/python bench/responsiveness.py --json           # the figures as JSON

PostgreSQL: a throw-away server (``tests.servers.postgres``, as ``bench/queue.py
--start-postgresql``; needs root) with the demo organisation, a supervisor ``bench`` in
every team and 2,000 queued emails spread over five campaigns. The application connects
through ``bench/latency_proxy.py``, which delays every chunk by ``--delay-ms`` each way
(pipelined: latency, not bandwidth). ``--sqlite``: the same data in a temporary SQLite file.

The application is started as ``email-campaigns --database URL`` starts it
(``app.ui.application.run_gui``: the sign-in dialog, then the Workspace), offscreen, in this
process, and driven like a user, through what the screens show — labels, button texts,
accessible names, menus and keyboard shortcuts (see "What the script looks for"): sign in
by typing; Ctrl+1 (My Work); 20 × (Ctrl+N, a template chosen with the keyboard, Ctrl+Return);
Management ▸ Emails, its list scrolled to five further pages; Management ▸ Service Level;
Campaigns ▸ Configuration, a campaign's Edit dialog, its description changed and saved;
Ctrl+1 again and 35 s without touching anything. It waits for what the screen shows by
running the Qt event loop, never by blocking the GUI thread itself.

Meanwhile another process (the agent ``bench-agent``, same campaigns) takes and answers an
email every 300 ms through the services, connected straight to the database (not through
the proxy: its pace is the same on every run), so that change notifications keep reaching
the application.

A 5 ms timer (``Qt.PreciseTimer``) on the GUI thread records its lateness (the time between
two ticks less 5 ms) from the moment the Workspace is first shown. Reported: the longest
stall, stalls over 50 and 100 ms, p50/p95/p99 lateness, the longest stall of each phase,
Take next → email shown (from the key press until the reading pane and the reply show the
email taken), GUI-thread CPU, requests to the server (chunks through the proxy), and the idle
seconds "frozen" (1-second windows of the idle phase overlapped by a stall over 50 ms).
Targets (issue 12, at 30 ms round trip): no stall over 50 ms (100 ms while a screen is built
for the first time), p99 ≤ 20 ms, Take next → shown ≤ 150 ms (median).
"""

# ruff: noqa: E402  (the path is fixed before the other imports)
from __future__ import annotations

import sys
from pathlib import Path

# Run as a program, this folder comes first on the path, and bench/queue.py would stand
# for the standard library's ``queue``: take the folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import traceback
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

BENCH_LOGIN = "bench"  # the supervisor at the workstation (Emails, Service Level need one)
OTHER_LOGIN = "bench-agent"  # the other process
PASSWORD = "bench-password-12"
TEAMS = ("Front Line", "Escalations", "Sales Desk")  # every demo campaign's queue
CAMPAIGNS = ("Orders", "Returns", "General Enquiries", "Complaints", "Sales Leads")
EDITED_CAMPAIGN = ("Customer Service", "Complaints")  # its group, its title
TICK_MS = 5.0
STALL_MS = 50.0
FIRST_BUILD_MS = 100.0
P99_MS = 20.0
TAKE_SHOWN_MS = 150.0
BENCH_ID = re.compile(r"\(bench (\d+)\)")  # in each email's subject: which one is shown
TOPICS = [
    "Where is my order?",
    "Return of a kettle",
    "Refund for invoice",
    "Question about opening hours",
    "Complaint about the delivery",
    "Partnership proposal",
    "Wrong size delivered",
    "Change of address",
]
T = TypeVar("T")


# ---- the database ----------------------------------------------------------------------


def prepare(url: str, emails: int) -> None:
    """Migrate, seed the demo organisation (its channels off: there is no mail server),
    add the two bench users and ``emails`` queued emails over ``CAMPAIGNS``."""
    from sqlalchemy import select, update

    from app.db import migrate
    from app.db.engine import Database
    from app.db.models import Campaign, Channel, Email, EmailStatus, History, Role, Team
    from app.services import demo
    from app.services.auth import SYSTEM
    from app.services.people import PeopleService, UserData

    db = Database(url)
    try:
        migrate.upgrade(db)
        demo.seed(db)
        with db.session() as s:
            s.execute(update(Channel).values(enabled=False))
            teams = [t for t in s.scalars(select(Team.id).where(Team.name.in_(TEAMS)))]
            campaigns = {
                title: cid
                for title, cid in s.execute(
                    select(Campaign.title, Campaign.id).where(Campaign.title.in_(CAMPAIGNS))
                )
            }
            channel = s.scalar(select(Channel.id).where(Channel.name == "Support mailbox"))
        assert len(teams) == len(TEAMS) and len(campaigns) == len(CAMPAIGNS)
        people = PeopleService(db, SYSTEM)
        people.create_user(
            UserData(
                BENCH_LOGIN, "Bench Supervisor", "bench@example.com", Role.SUPERVISOR, True, teams
            ),
            PASSWORD,
        )
        people.create_user(
            UserData(
                OTHER_LOGIN, "Bench Agent", "bench-agent@example.com", Role.AGENT, True, teams
            ),
            PASSWORD,
        )
        start = datetime.now(UTC) - timedelta(hours=6)
        order = [campaigns[t] for t in CAMPAIGNS]
        with db.session() as s:
            for n in range(1, emails + 1):
                at = start + timedelta(seconds=n * 5)
                subject = f"{TOPICS[n % len(TOPICS)]} (bench {n:04d})"
                sender = f"Customer {n} <customer{n}@customers.example>"
                body = (
                    f"Hello,\n\nI wrote about this last week. My customer number is {n}.\n"
                    "Could you tell me what happens next?\n\n" + "Kind regards,\n"
                    f"Customer {n}\n"
                )
                raw = (
                    f"From: {sender}\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
                    f"Date: {at:%a, %d %b %Y %H:%M:%S +0000}\r\n"
                    f"Message-ID: <bench.{n}@customers.example>\r\nMIME-Version: 1.0\r\n"
                    "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body.replace("\n", "\r\n")
                ).encode()
                email = Email(
                    channel_id=channel,
                    campaign_id=order[n % len(order)],
                    status=EmailStatus.QUEUED,
                    from_addr=sender,
                    to_addrs="support@example.com",
                    subject=subject,
                    message_id=f"<bench.{n}@customers.example>",
                    received_at=at,
                    queued_at=at,
                    raw=raw,
                    size=len(raw),
                    text_body=body,
                )
                email.history.append(History(at=at, action="arrived", detail="bench"))
                s.add(email)
    finally:
        db.dispose()
    if not url.startswith("sqlite"):
        import psycopg
        from sqlalchemy.engine import make_url

        libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")


# ---- the other agent (a process of its own) --------------------------------------------


def other_agent(url: str, interval: float) -> int:
    """Take and answer an email every ``interval`` seconds until standard input ends;
    prints ``ready`` once connected, and at the end a JSON line of what it did."""
    from sqlalchemy import select

    from app.db.engine import Database
    from app.db.models import User
    from app.services.auth import actor_for
    from app.services.work import ReplyText, WorkService

    db = Database(url)
    with db.session() as s:
        user = s.scalar(select(User).where(User.login == OTHER_LOGIN))
        assert user is not None
        actor = actor_for(user)
    work = WorkService(db, actor)
    work.queues()  # connected, the statements' first use done
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print("ready", flush=True)
    answered, errors, took = 0, [], []
    due = time.monotonic()
    while not stop.is_set():
        started = time.monotonic()
        try:
            taken = work.take_next()
            if taken is not None:
                item = work.open(taken)
                choices = work.templates(taken)
                text = item.reply
                if choices:
                    t = choices[0]
                    text = ReplyText(
                        to=item.reply.to, subject=t.subject, body=t.body, template_id=t.template_id
                    )
                work.send(taken, text)
                answered += 1
        except Exception as exc:  # noted and reported; the next one is tried
            errors.append(f"{type(exc).__name__}: {exc}")
        took.append(time.monotonic() - started)
        due += interval
        stop.wait(max(0.0, due - time.monotonic()))
    db.dispose()
    print(
        json.dumps(
            {
                "answered": answered,
                "errors": errors[:5],
                "error_count": len(errors),
                "median_ms": statistics.median(took) * 1000 if took else None,
            }
        ),
        flush=True,
    )
    return 0


class Child:
    """A child process of this benchmark that says ``ready`` (or ``listening …``) first."""

    def __init__(self, argv: list[str], what: str) -> None:
        self.what = what
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.process.stdout is not None
        self.first = self.process.stdout.readline().strip()
        if not self.first:
            self.process.wait()
            raise SystemExit(f"{what} did not start (exit code {self.process.returncode})")

    def ask(self, line: str) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def finish(self, timeout: float = 30) -> str:
        """End its input; its last line of output."""
        out, _ = self.process.communicate(timeout=timeout)
        lines = out.strip().splitlines()
        return lines[-1] if lines else ""

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


# ---- what the script looks for on screen -------------------------------------------------
# The only places that know how the screens look: by what a user sees (label and button
# texts, menu entries, window titles) or what a screen reader is told (accessible names).
# None reads an attribute of the application's classes.


def plain(text: str) -> str:
    """A caption as read: 'Sub&ject:' → 'Subject'."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip(":").strip()


def _widgets(root: Any, kind: Any, visible: bool = True) -> list[Any]:
    return [w for w in root.findChildren(kind) if w.isVisible() or not visible]


def field_by_label(root: Any, caption: str, visible: bool = True) -> Any:
    """The field a label with that caption names (as its mnemonic does); ``visible``:
    only a label and field on screen now."""
    from PySide6.QtWidgets import QLabel

    for label in _widgets(root, QLabel, visible):
        buddy = label.buddy()
        if (
            buddy is not None
            and plain(label.text()) == caption
            and (buddy.isVisible() or not visible)
        ):
            return buddy
    return None


def button(root: Any, caption: str) -> Any:
    from PySide6.QtWidgets import QAbstractButton

    return next((b for b in _widgets(root, QAbstractButton) if plain(b.text()) == caption), None)


def named(root: Any, kind: Any, name: str, visible: bool = True) -> Any:
    """A widget by its accessible name; ``visible``: only one on screen now."""
    return next((w for w in _widgets(root, kind, visible) if w.accessibleName() == name), None)


def main_window() -> Any:
    from PySide6.QtWidgets import QApplication, QMainWindow

    return next(
        (w for w in QApplication.topLevelWidgets() if isinstance(w, QMainWindow) and w.isVisible()),
        None,
    )


def dialog_titled(prefix: str) -> Any:
    from PySide6.QtWidgets import QApplication, QDialog

    return next(
        (
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, QDialog) and w.isVisible() and w.windowTitle().startswith(prefix)
        ),
        None,
    )


def menu_action(window: Any, menu: str, item: str) -> Any:
    """Menu ▸ item of the window's menu bar."""
    for top in window.menuBar().actions():
        if top.menu() is not None and plain(top.text()) == menu:
            for action in top.menu().actions():
                if plain(action.text()) == item:
                    return action
    raise Unreachable(f"no menu entry {menu} ▸ {item}")


def cell_text(view: Any, row: int, column: int = 0) -> str:
    """What a list shows in a cell (as painted; the model may read it first)."""
    model = view.model()
    if model is None or not 0 <= row < model.rowCount():
        return ""
    value = model.index(row, column).data()
    return "" if value is None else str(value)


def find_row(view: Any, text: str, column: int = 0, how: str = "exactly") -> Any:
    """The index showing ``text`` in ``column`` (in a tree, at any depth), or None;
    ``how``: "exactly", "starts" (with) or "contains"."""
    from PySide6.QtCore import Qt

    model = view.model()
    start = model.index(0, column)
    if not start.isValid():
        return None
    flags = {
        "exactly": Qt.MatchFlag.MatchExactly,
        "starts": Qt.MatchFlag.MatchStartsWith,
        "contains": Qt.MatchFlag.MatchContains,
    }[how]
    found = model.match(
        start, Qt.ItemDataRole.DisplayRole, text, 1, flags | Qt.MatchFlag.MatchRecursive
    )
    return found[0] if found else None


def shown_bench_id(label: Any) -> int | None:
    """Which bench email a visible label names (its subject), if any."""
    if label is None or not label.isVisible():
        return None
    found = BENCH_ID.search(label.text())
    return int(found.group(1)) if found else None


# ---- driving and waiting ------------------------------------------------------------------


class Unreachable(Exception):
    """The screen never showed what the script waited for."""


class Waiting:
    """What the waiting knows of the measuring."""

    beat: Heartbeat | None = None  # once it runs, each wait ends with two of its ticks
    found_at = 0.0  # when the last wait_until saw what it waited for


def _loop_until(check: Callable[[], T], seconds: float) -> tuple[T | None, float]:
    """Run the event loop until ``check()`` gives something true: that and when, or None
    after ``seconds``."""
    from PySide6.QtCore import QEventLoop, QTimer

    found = check()
    if found:
        return found, time.perf_counter()
    loop = QEventLoop()
    deadline = time.perf_counter() + seconds
    result: list[Any] = [None, 0.0]

    def poll() -> None:
        value = check()
        if value or time.perf_counter() > deadline:
            result[:] = [value, time.perf_counter()]
            loop.quit()

    timer = QTimer()
    timer.setInterval(2)
    timer.timeout.connect(poll)
    timer.start()
    loop.exec()
    timer.stop()
    if not result[0]:  # the loop was ended by the application quitting, not by poll()
        value = check()
        if value:
            return value, time.perf_counter()
    return result[0], result[1]


def settle() -> None:
    """Run the event loop until the heartbeat has ticked twice from now: a stall that the
    last step caused is recorded then (in its phase), and the application has had a turn
    of its event loop, as it has between a user's actions."""
    beat = Waiting.beat
    if beat is None or not beat.timer.isActive():
        return
    ticks = len(beat.ends)
    _loop_until(lambda: len(beat.ends) >= ticks + 2, 10)


def wait_until(check: Callable[[], T], seconds: float, what: str) -> T:
    """Run the event loop until ``check()`` gives something true (noting when in
    ``Waiting.found_at``), then settle; that something, or Unreachable."""
    found, at = _loop_until(check, seconds)
    if not found:
        raise Unreachable(f"{what}: not shown within {seconds:g} s")
    Waiting.found_at = at
    settle()
    return found


def closed(widget: Any) -> Callable[[], bool]:
    """A check: ``widget`` is no longer shown (hidden, or deleted)."""
    import shiboken6

    return lambda: not shiboken6.isValid(widget) or not widget.isVisible()


def run_for(seconds: float) -> None:
    """Let the application run on its own for ``seconds``."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def press(key: Any, modifiers: Any = None, widget: Any = None) -> None:
    """A key typed where the keyboard focus is (as a user would)."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    target = widget or QApplication.focusWidget() or QApplication.activeWindow()
    if target is None:
        raise Unreachable("no widget has the keyboard focus")
    QTest.keyClick(target, key, modifiers or Qt.KeyboardModifier.NoModifier)


def activate(window: Any) -> None:
    """Bring ``window`` to the front, as a click on it would (a closed dialog leaves no
    window active on the offscreen platform); its shortcuts work from then on."""
    from PySide6.QtWidgets import QApplication

    if QApplication.activeWindow() is not window:
        window.activateWindow()
    wait_until(lambda: QApplication.activeWindow() is window, 10, "the window active")


def type_text(widget: Any, text: str) -> None:
    from PySide6.QtTest import QTest

    QTest.keyClicks(widget, text)


def click(widget: Any, pos: Any = None) -> None:
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    QTest.mouseClick(
        widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos or QPoint()
    )


def click_row(view: Any, index: Any) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    view.scrollTo(index)
    QTest.mouseClick(
        view.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        view.visualRect(index).center(),
    )


# ---- measuring ------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    start: float
    end: float = 0.0
    first_build: bool = False  # a screen built for the first time: up to 100 ms allowed
    counted: bool = True  # before the Workspace is shown: reported, not counted
    cpu_ms: float = 0.0  # of the GUI thread
    requests: int | None = None  # chunks to the server through the proxy
    note: str = ""


@dataclass
class Take:
    shown_ms: float  # key press → the email in the reading pane and the reply
    cpu_ms: float  # GUI-thread CPU meanwhile
    sent_ms: float  # Send → the editor free again


class Heartbeat:
    """A 5 ms precise timer on the GUI thread; each tick's time and the gap before it."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.ends = array("d")
        self.gaps = array("d")
        self.previous = 0.0
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(int(TICK_MS))
        self.timer.timeout.connect(self.beat)

    def start(self) -> None:
        self.previous = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def beat(self) -> None:
        now = time.perf_counter()
        self.ends.append(now)
        self.gaps.append(now - self.previous)
        self.previous = now


class DialogGuard:
    """Answers message boxes nobody expected (an error, a confirmation), noting them: the
    script must not hang in a modal loop. A confirmation is accepted, the rest closed."""

    def __init__(self, note: Callable[[str], None]) -> None:
        from PySide6.QtCore import QTimer

        self.note = note
        self.timer = QTimer()
        self.timer.setInterval(100)
        self.timer.timeout.connect(self.look)
        self.timer.start()

    def look(self) -> None:
        from PySide6.QtWidgets import QApplication, QMessageBox

        for box in QApplication.topLevelWidgets():
            if isinstance(box, QMessageBox) and box.isVisible():
                self.note(f"a message box answered: {box.windowTitle()}: {box.text()}")
                accept = next(
                    (
                        b
                        for b in box.buttons()
                        if box.buttonRole(b) == QMessageBox.ButtonRole.AcceptRole
                    ),
                    None,
                )
                if accept is not None:
                    accept.click()
                else:
                    box.done(0)


@dataclass
class SessionResult:
    phases: list[Phase] = field(default_factory=list)
    takes: list[Take] = field(default_factory=list)
    shown_at: float | None = None
    idle: tuple[float, float] | None = None
    troubles: list[str] = field(default_factory=list)
    exit_code: int | None = None


class Session:
    """The scripted session, run inside the application's event loop."""

    def __init__(self, args: argparse.Namespace, proxy: Child | None) -> None:
        self.args, self.proxy = args, proxy
        self.beat = Heartbeat()
        Waiting.beat = self.beat
        self.result = SessionResult()
        self.guard: DialogGuard | None = None
        self._phase: Phase | None = None
        self._cpu = 0.0
        self._requests: int | None = None
        self._filter: Any = None
        self.window: Any = None  # the Workspace, once shown
        self.queues: Any = None  # My Work's Queues list, once built

    # ---- phases ----------------------------------------------------------------------
    def _proxy_requests(self) -> int | None:
        if self.proxy is None:
            return None
        return int(json.loads(self.proxy.ask("stats"))["chunks_up"])

    def phase(
        self,
        name: str,
        *,
        first_build: bool = False,
        counted: bool = True,
        start: float | None = None,
    ) -> None:
        """A new phase from now (or ``start``, a moment already passed)."""
        self.end_phase(start)
        self._cpu = time.thread_time()
        self._requests = self._proxy_requests()
        begun = time.perf_counter() if start is None else start
        self._phase = Phase(name, begun, first_build=first_build, counted=counted)

    def end_phase(self, end: float | None = None) -> None:
        phase = self._phase
        if phase is None:
            return
        settle()
        phase.end = time.perf_counter() if end is None else end
        phase.cpu_ms = (time.thread_time() - self._cpu) * 1000
        requests = self._proxy_requests()
        if requests is not None and self._requests is not None:
            phase.requests = requests - self._requests
        self.result.phases.append(phase)
        self._phase = None

    def note(self, text: str) -> None:
        self.result.troubles.append(text)
        if self._phase is not None:
            self._phase.note = (self._phase.note + "; " if self._phase.note else "") + text

    # ---- the whole session -------------------------------------------------------------
    def run(self) -> None:
        """Called once by the application's event loop."""
        from PySide6.QtWidgets import QApplication

        self.guard = DialogGuard(self.note)
        try:
            self.script()
        except Unreachable as exc:
            self.note(f"stopped: {exc}")
        except Exception:
            self.note("stopped by an error:\n" + traceback.format_exc())
        finally:
            self.end_phase()
            self.beat.stop()
            if self._filter is not None:
                QApplication.instance().removeEventFilter(self._filter)
        self.leave()

    def leave(self) -> None:
        """Close the Workspace (Ctrl+Q) as a user would; the application then ends."""
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QApplication

        window = main_window()
        app = QApplication.instance()
        if window is None:
            app.exit(3)
            return
        try:
            activate(window)
            press(Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
            wait_until(lambda: main_window() is None, 30, "the Workspace closing")
        except Unreachable as exc:
            self.note(str(exc))
            app.exit(3)

    def script(self) -> None:
        self.sign_in()
        self.my_work_first()
        self.take_loop()
        self.emails()
        self.service_level()
        self.campaign_edit()
        self.idle()

    # ---- the steps ---------------------------------------------------------------------
    def sign_in(self) -> None:
        from PySide6.QtCore import QEvent, QObject, Qt
        from PySide6.QtWidgets import QApplication, QMainWindow

        dialog = wait_until(lambda: dialog_titled("Sign in"), 60, "the sign-in dialog")
        login = wait_until(lambda: field_by_label(dialog, "Login name"), 10, "Login name")
        if QApplication.activeWindow() is not dialog:
            dialog.activateWindow()  # as a click on it would
        wait_until(lambda: QApplication.focusWidget() is login, 10, "the focus in Login name")
        type_text(login, BENCH_LOGIN)
        press(Qt.Key.Key_Tab)
        password = field_by_label(dialog, "Password")
        wait_until(lambda: QApplication.focusWidget() is password, 5, "the focus in Password")
        type_text(password, PASSWORD)

        result = self.result

        class Shown(QObject):
            """Notes when the Workspace is first shown (removed right after)."""

            def eventFilter(self, watched: QObject, event: QEvent) -> bool:
                if (
                    result.shown_at is None
                    and event.type() == QEvent.Type.Show
                    and isinstance(watched, QMainWindow)
                ):
                    result.shown_at = time.perf_counter()
                return False

        self._filter = Shown()
        QApplication.instance().installEventFilter(self._filter)
        self.beat.start()
        self.phase("sign-in: Enter → Workspace shown", counted=False)
        press(Qt.Key.Key_Return)
        window = wait_until(main_window, 60, "the Workspace")
        QApplication.instance().removeEventFilter(self._filter)
        self._filter = None
        if result.shown_at is None:  # never expected: the window is visible
            result.shown_at = time.perf_counter()
        # What the sign-in did after showing the window counts (so do the figures from here).
        self.phase("Workspace: shown → active", start=result.shown_at)
        wait_until(lambda: QApplication.activeWindow() is window, 10, "the Workspace active")
        self.window = window

    def my_work_first(self) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QTableView

        self.phase("My Work: first build (Ctrl+1)", first_build=True)
        press(Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
        queues = wait_until(
            lambda: named(self.window, QTableView, "Queues"), 30, "My Work's Queues list"
        )
        wait_until(
            lambda: any(
                cell_text(queues, r) in CAMPAIGNS for r in range(queues.model().rowCount())
            ),
            30,
            "the campaigns in Queues",
        )
        self.queues = queues

    def take_loop(self) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QApplication, QLabel

        takes = self.args.takes
        self.phase(f"Take next → template → Send × {takes}")
        window = self.window
        # Found once, shown or not (the reading pane and the reply are hidden while no
        # email is open), then only looked at: finding widgets costs the GUI thread.
        header = named(window, QLabel, "Email headers", visible=False)
        subject = field_by_label(window, "Subject", visible=False)
        template = field_by_label(window, "Template", visible=False)
        if header is None or subject is None or template is None:
            raise Unreachable("My Work shows no reading pane or reply editor")
        seen: set[int] = set()
        ctrl = Qt.KeyboardModifier.ControlModifier
        for number in range(1, takes + 1):
            cpu_at = [0.0]

            def shown(cpu_at: list[float] = cpu_at) -> int | None:
                bench_id = shown_bench_id(header)
                if bench_id is None or bench_id in seen or not subject.isVisible():
                    return None
                if f"(bench {bench_id:04d})" not in subject.text():
                    return None
                cpu_at[0] = time.thread_time()
                return bench_id

            cpu, pressed = time.thread_time(), time.perf_counter()
            press(Qt.Key.Key_N, ctrl)  # Take next
            bench_id = wait_until(shown, 60, f"take {number}: the email taken")
            shown_ms = (Waiting.found_at - pressed) * 1000
            cpu_ms = (cpu_at[0] - cpu) * 1000
            seen.add(bench_id)
            # A template, with the keyboard: Alt+P (Tem&plate:), then Down.
            press(Qt.Key.Key_P, Qt.KeyboardModifier.AltModifier)
            if QApplication.focusWidget() is not template:
                self.note("Alt+P did not reach the Template field; focused it directly")
                template.setFocus()
            before = template.currentIndex()
            press(Qt.Key.Key_Down)
            wait_until(
                lambda before=before: template.currentIndex() != before, 10, "a template chosen"
            )
            send = wait_until(lambda: button(window, "Send"), 10, "the Send button")
            wait_until(send.isEnabled, 10, "Send enabled")
            sending = time.perf_counter()
            press(Qt.Key.Key_Return, ctrl)  # Send

            def sent(bench_id: int = bench_id) -> bool:
                return shown_bench_id(header) != bench_id

            wait_until(sent, 60, f"take {number}: the reply sent")
            self.result.takes.append(Take(shown_ms, cpu_ms, (Waiting.found_at - sending) * 1000))

    def emails(self) -> None:
        from PySide6.QtCore import QPoint, Qt
        from PySide6.QtWidgets import QTableView

        window = self.window
        self.phase("Emails: first build (Management ▸ Emails)", first_build=True)
        menu_action(window, "Management", "Emails").trigger()
        view = wait_until(lambda: named(window, QTableView, "Emails"), 30, "the Emails list")
        model = view.model()
        subject_column = next(
            (
                c
                for c in range(model.columnCount())
                if model.headerData(c, Qt.Orientation.Horizontal) == "Subject"
            ),
            0,
        )

        def top_row() -> int | None:
            index = view.indexAt(QPoint(1, 1))
            if not index.isValid():
                return None
            text = cell_text(view, index.row(), subject_column)
            return index.row() + 1 if "(bench " in text else None  # + 1: row 0 is true

        wait_until(top_row, 30, "the first emails in the list")
        pages = self.args.pages
        self.phase(f"Emails: scrolled to {pages} further pages")
        bar = view.verticalScrollBar()
        for k in range(1, pages + 1):
            # The scroll bar's thumb dragged to k/(pages+1) of the list: with 2,000 emails
            # and 200 a page, each a page not read before.
            target = bar.maximum() * k // (pages + 1)
            bar.setValue(target)
            wait_until(
                lambda target=target: (top_row() or 0) - 1 >= target * 0.9,
                30,
                f"the emails at page position {k}",
            )

    def service_level(self) -> None:
        from PySide6.QtWidgets import QLabel

        window = self.window
        self.phase("Service Level: first build (Management ▸ Service Level)", first_build=True)
        menu_action(window, "Management", "Service Level").trigger()

        def figures() -> bool:
            label = named(window, QLabel, "Days shown")
            return label is not None and "answered" in label.text()

        wait_until(figures, 30, "the service level figures")

    def campaign_edit(self) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QTableView, QTreeView

        window = self.window
        group, title = EDITED_CAMPAIGN
        self.phase(
            "Campaign Configuration: first build (Campaigns ▸ Configuration)", first_build=True
        )
        menu_action(window, "Campaigns", "Configuration").trigger()
        tree = wait_until(
            lambda: named(window, QTreeView, "Campaign Groups"), 30, "the campaign group tree"
        )
        # Shown as "Customer Service (2)": the group and its number of campaigns.
        wait_until(lambda: find_row(tree, f"{group} (", how="starts"), 30, f"the group {group}")

        self.phase(f"Campaign: {title} edited and saved")
        click_row(tree, find_row(tree, f"{group} (", how="starts"))
        show = wait_until(lambda: button(window, "Show"), 10, "the Show button")
        wait_until(show.isEnabled, 10, "Show enabled")
        click(show)
        table = wait_until(lambda: named(window, QTableView, "Campaigns"), 10, "the campaign list")
        click_row(table, wait_until(lambda: find_row(table, title), 30, f"the campaign {title}"))
        edit = wait_until(lambda: button(window, "Edit Campaign…"), 10, "Edit Campaign…")
        wait_until(edit.isEnabled, 10, "Edit Campaign… enabled")
        click(edit)
        dialog = wait_until(
            lambda: dialog_titled("Edit Email Campaign"), 30, "the Edit Email Campaign dialog"
        )
        description = wait_until(
            lambda: field_by_label(dialog, "Campaign Description"), 10, "Campaign Description"
        )
        # Filled in (and enabled) before it is typed into: a dialog may read the campaign
        # after it opens.
        wait_until(
            lambda: description.isEnabled() and description.toPlainText().strip(),
            30,
            "the campaign's description in the dialog",
        )
        click(description)
        press(Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier, description)
        mark = f" Edited at {datetime.now(UTC):%H:%M:%S}."
        type_text(description, mark)
        save = wait_until(lambda: button(dialog, "Save"), 10, "the Save button")
        wait_until(save.isEnabled, 10, "Save enabled")
        click(save)
        wait_until(closed(dialog), 30, "the dialog closed after Save")

        wait_until(
            lambda: find_row(table, mark.strip(), column=1, how="contains"),
            30,
            "the new description in the campaign list",
        )

    def idle(self) -> None:
        from PySide6.QtCore import Qt

        window = self.window
        self.phase("My Work again (Ctrl+1)")
        activate(window)
        press(Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
        wait_until(self.queues.isVisible, 30, "My Work in front")
        seconds = self.args.idle_seconds
        self.phase(f"idle {seconds:g} s (My Work)")
        started = time.perf_counter()
        run_for(seconds)
        self.result.idle = (started, time.perf_counter())


def run_session(url: str, args: argparse.Namespace, proxy: Child | None) -> Session:
    """The application as ``email-campaigns --database URL`` runs it, with the script."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.ui.application import run_gui

    _app = QApplication.instance() or QApplication([sys.argv[0]])  # kept alive
    session = Session(args, proxy)
    QTimer.singleShot(0, session.run)
    session.result.exit_code = run_gui(url)
    return session


# ---- the figures ------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-int(q * 1000) * len(ordered) // 1000) - 1))]


def analyse(session: Session) -> dict[str, Any]:
    result, beat = session.result, session.beat
    phases = result.phases
    shown = result.shown_at
    if shown is None or len(phases) < 2:
        return {"troubles": result.troubles, "phases": [asdict(p) for p in phases]}
    end = phases[-1].end
    starts = [p.start for p in phases]
    per_phase: list[list[float]] = [[] for _ in phases]
    stalls: list[tuple[float, float]] = []  # (from, to) of each stall over 50 ms
    counted: list[float] = []
    over_limit = 0
    for tick_end, gap in zip(beat.ends, beat.gaps, strict=True):
        if tick_end > end:
            break
        if tick_end <= shown:
            per_phase[0].append(max(0.0, gap * 1000 - TICK_MS))
            continue
        if tick_end - gap < shown:  # the tick that waited for the sign-in to end
            per_phase[0].append(max(0.0, gap * 1000 - TICK_MS))
        begun = max(tick_end - gap, shown)
        late = max(0.0, (tick_end - begun) * 1000 - TICK_MS)
        index = max(1, max(i for i, s in enumerate(starts) if s <= tick_end))
        per_phase[index].append(late)
        counted.append(late)
        if late > (FIRST_BUILD_MS if phases[index].first_build else STALL_MS):
            over_limit += 1
        if late > STALL_MS:
            stalls.append((begun + TICK_MS / 1000, tick_end))
    frozen = None
    if result.idle is not None:
        idle_start, _idle_end = result.idle
        seconds = int(session.args.idle_seconds)  # its first seconds (stalls make it longer)
        frozen = sum(
            1
            for k in range(seconds)
            if any(a < idle_start + k + 1 and b > idle_start + k for a, b in stalls)
        )
    takes = result.takes
    shown_ms = [t.shown_ms for t in takes]
    figures: dict[str, Any] = {
        "longest_stall_ms": max(counted, default=0.0),
        "stalls_over_50_ms": sum(1 for v in counted if v > 50),
        "stalls_over_100_ms": sum(1 for v in counted if v > 100),
        "over_limit": over_limit,
        "p50_ms": percentile(counted, 0.50),
        "p95_ms": percentile(counted, 0.95),
        "p99_ms": percentile(counted, 0.99),
        "ticks": len(counted),
        "seconds": end - shown,
        "take_shown_median_ms": statistics.median(shown_ms) if shown_ms else None,
        "take_shown_p95_ms": percentile(shown_ms, 0.95) if shown_ms else None,
        "take_shown_max_ms": max(shown_ms, default=None),
        "take_cpu_median_ms": statistics.median(t.cpu_ms for t in takes) if takes else None,
        "send_median_ms": statistics.median(t.sent_ms for t in takes) if takes else None,
        "takes": len(takes),
        "idle_seconds": None if result.idle is None else int(session.args.idle_seconds),
        "idle_seconds_frozen": frozen,
        "phases": [
            {
                **asdict(p),
                "seconds": p.end - p.start,
                "longest_stall_ms": max(per_phase[i], default=0.0),
                "stalls_over_50_ms": sum(1 for v in per_phase[i] if v > 50),
            }
            for i, p in enumerate(phases)
        ],
        "troubles": result.troubles,
        "exit_code": result.exit_code,
    }
    met = (
        over_limit == 0
        and figures["p99_ms"] <= P99_MS
        and figures["take_shown_median_ms"] is not None
        and figures["take_shown_median_ms"] <= TAKE_SHOWN_MS
    )
    figures["targets_met"] = met
    return figures


def report(figures: dict[str, Any], setting: str) -> str:
    def ms(value: float | None) -> str:
        return "—" if value is None else f"{value:,.0f} ms"

    lines = [f"Responsiveness — {setting}", ""]
    if "longest_stall_ms" not in figures:
        lines.append("The session did not reach the Workspace.")
        lines += figures["troubles"]
        return "\n".join(lines)
    f = figures
    rows = [
        ("longest stall", ms(f["longest_stall_ms"]), "≤ 50 ms (≤ 100 ms first build)"),
        ("stalls over the limit", f"{f['over_limit']}", "0"),
        ("stalls > 50 ms", f"{f['stalls_over_50_ms']}", ""),
        ("stalls > 100 ms", f"{f['stalls_over_100_ms']}", ""),
        (
            "lateness p50 / p95 / p99",
            f"{f['p50_ms']:.1f} / {f['p95_ms']:.1f} / {f['p99_ms']:.1f} ms",
            "p99 ≤ 20 ms",
        ),
        (
            f"Take next → email shown, median / p95 ({f['takes']})",
            f"{ms(f['take_shown_median_ms'])} / {ms(f['take_shown_p95_ms'])}",
            "median ≤ 150 ms",
        ),
        ("Take next: GUI-thread CPU, median", ms(f["take_cpu_median_ms"]), ""),
        ("Send → editor free, median", ms(f["send_median_ms"]), ""),
        (
            "idle seconds frozen",
            "—"
            if f["idle_seconds_frozen"] is None
            else f"{f['idle_seconds_frozen']} of {f['idle_seconds']}",
            "0",
        ),
        ("measured", f"{f['seconds']:.0f} s, {f['ticks']:,} ticks", ""),
    ]
    lines.append(f"{'measure':44} {'figure':>24}   target")
    lines += [f"{name:44} {value:>24}   {target}" for name, value, target in rows]
    lines.append("")
    lines.append(
        f"{'phase':64} {'seconds':>8} {'longest':>9} {'> 50 ms':>8} {'GUI CPU':>9} {'requests':>9}"
    )
    for p in f["phases"]:
        name = p["name"] + ("" if p["counted"] else " (not counted)")
        requests = "—" if p["requests"] is None else f"{p['requests']:,}"
        lines.append(
            f"{name:64} {p['seconds']:>8.1f} {p['longest_stall_ms']:>6.0f} ms"
            f" {p['stalls_over_50_ms']:>8} {p['cpu_ms']:>6.0f} ms {requests:>9}"
        )
    lines.append("")
    lines.append("targets met" if f["targets_met"] else "targets NOT met")
    if f["troubles"]:
        lines.append("")
        lines.append("Trouble:")
        lines += [f"  {t}" for t in f["troubles"]]
    return "\n".join(lines)


# ---- main ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--delay-ms", type=float, default=15.0, help="added each way by the proxy (default 15)"
    )
    parser.add_argument("--emails", type=int, default=2000, help="queued emails (default 2,000)")
    parser.add_argument("--takes", type=int, default=20, help="Take next → Send (default 20)")
    parser.add_argument("--pages", type=int, default=5, help="Emails pages scrolled to (5)")
    parser.add_argument("--idle-seconds", type=float, default=35.0, help="idle at the end (35)")
    parser.add_argument(
        "--other-interval-ms",
        type=float,
        default=300.0,
        help="the other agent answers an email this often (default 300; 0: no other agent)",
    )
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, no proxy")
    parser.add_argument("--json", action="store_true", help="the figures as JSON")
    parser.add_argument("--trace", type=Path, help="write every tick and phase to this file")
    parser.add_argument("--other-agent", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.other_agent:
        return other_agent(args.other_agent, args.other_interval_ms / 1000)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    import keyring
    from keyring.backends.null import Keyring

    keyring.set_keyring(Keyring())  # never the developer's own keyring
    scratch = Path(tempfile.mkdtemp(prefix="ec-bench-resp-", dir="/tmp"))
    os.chmod(scratch, 0o755)  # the postgres user reaches its folder inside
    os.environ["EMAIL_CAMPAIGNS_HOME"] = str(scratch / "home")  # nothing of the user's
    server: Any = None
    proxy = other = None
    try:
        if args.sqlite:
            direct = url = f"sqlite:///{scratch / 'bench.sqlite3'}"
            setting = "SQLite (a local file, no proxy)"
        else:
            from tests.servers.postgres import PostgresServer

            say("starting PostgreSQL …")
            server = PostgresServer(scratch / "server")
            server.start()
            direct = server.url
            setting = (
                f"PostgreSQL through a {2 * args.delay_ms:g} ms round trip"
                f" ({args.delay_ms:g} ms each way)"
            )
        setting += f", {args.emails:,} queued emails, {args.takes} takes"
        say(f"preparing {args.emails:,} queued emails …")
        started = time.perf_counter()
        prepare(direct, args.emails)
        say(f"  prepared in {time.perf_counter() - started:.1f} s")
        if server is not None:
            proxy = Child(
                [
                    sys.executable,
                    str(ROOT / "bench" / "latency_proxy.py"),
                    "--target",
                    f"{server.host}:{server.port}",
                    "--delay-ms",
                    str(args.delay_ms),
                ],
                "the latency proxy",
            )
            port = int(proxy.first.rpartition(":")[2])
            url = (
                f"postgresql+psycopg://{server.user}:{server.password}@127.0.0.1:{port}/"
                f"{server.database}"
            )
        if args.other_interval_ms > 0:
            other = Child(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--other-agent",
                    direct,
                    "--other-interval-ms",
                    str(args.other_interval_ms),
                ],
                "the other agent",
            )
            setting += f", another agent answering every {args.other_interval_ms:g} ms"
        say("the session …")
        session = run_session(url, args, proxy)
        other_report = json.loads(other.finish()) if other is not None else None
        other = None
        if proxy is not None:
            proxy.finish()
            proxy = None
    finally:
        for child in (other, proxy):
            if child is not None:
                child.kill()
        if server is not None:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    figures = analyse(session)
    figures["setting"] = setting
    figures["other_agent"] = other_report
    if args.trace is not None:
        args.trace.write_text(
            json.dumps(
                {
                    "shown_at": session.result.shown_at,
                    "ends": list(session.beat.ends),
                    "gaps": list(session.beat.gaps),
                    "phases": [asdict(p) for p in session.result.phases],
                }
            )
        )
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(report(figures, setting))
        if other_report is not None:
            print(
                f"\nThe other agent answered {other_report['answered']} emails"
                f" ({other_report['error_count']} errors)."
            )
    return 0 if not figures.get("troubles") and figures.get("exit_code") == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
