"""The operation API: work on lanes, outcomes on the GUI thread, in order, none lost."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QObject
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError

from app.db.engine import Database
from app.services.errors import DatabaseUnavailable, ValidationError
from app.ui import operations as ops
from app.ui.operations import BACKGROUND, INTERACTIVE, READS, Failure, Operations


@pytest.fixture
def lanes(qapp):  # type: ignore[no-untyped-def]
    made = Operations()
    yield made
    made.wait_idle(10)
    made.shutdown()


def test_work_runs_off_the_gui_thread_and_its_result_comes_back_on_it(lanes) -> None:  # type: ignore[no-untyped-def]
    gui = threading.get_ident()
    seen: dict[str, int] = {}

    def work() -> int:
        seen["work"] = threading.get_ident()
        return 42

    got: list[int] = []

    def done(value: int) -> None:
        seen["done"] = threading.get_ident()
        got.append(value)

    lanes.run(None, work, done)
    assert lanes.wait_idle(5)
    assert got == [42]
    assert seen["work"] != gui
    assert seen["done"] == gui


def test_a_lane_runs_its_jobs_in_order_one_at_a_time(lanes) -> None:  # type: ignore[no-untyped-def]
    running = 0
    most = 0
    order: list[int] = []
    lock = threading.Lock()

    def job(n: int):  # type: ignore[no-untyped-def]
        def work() -> int:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.001)
            with lock:
                running -= 1
            return n

        return work

    for n in range(200):
        lanes.run(None, job(n), order.append)
    assert lanes.wait_idle(10)
    assert order == list(range(200))
    assert most == 1


def test_no_outcome_is_lost_from_many_lanes_at_once(lanes) -> None:  # type: ignore[no-untyped-def]
    """The old background module said queued signals from pool threads were sometimes lost:
    here 20,000 outcomes come from the three lanes and a fourth Operations at once."""
    other = Operations()
    got = {INTERACTIVE: 0, READS: 0, BACKGROUND: 0, "other": 0}

    def count(lane: str):  # type: ignore[no-untyped-def]
        def done(_value: object) -> None:
            got[lane] += 1

        return done

    for _ in range(5000):
        for lane in (INTERACTIVE, READS, BACKGROUND):
            lanes.run(None, lambda: 1, count(lane), lane=lane)
        other.run(None, lambda: 1, count("other"))
    assert lanes.wait_idle(60) and other.wait_idle(60)
    other.shutdown()
    assert got == {INTERACTIVE: 5000, READS: 5000, BACKGROUND: 5000, "other": 5000}


def test_a_long_read_does_not_hold_up_the_interactive_lane(lanes) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()
    order: list[str] = []
    lanes.run(None, lambda: release.wait(10), lambda _r: order.append("report"), lane=READS)
    lanes.run(None, lambda: "taken", order.append)
    deadline = time.monotonic() + 5
    while "taken" not in order and time.monotonic() < deadline:
        lanes.wait_idle(0.01)
    assert order == ["taken"]
    release.set()
    assert lanes.wait_idle(5)
    assert order == ["taken", "report"]


def test_a_job_not_started_is_replaced_by_a_newer_one_with_its_key(lanes) -> None:  # type: ignore[no-untyped-def]
    owner = QObject()
    release = threading.Event()
    ran: list[int] = []
    lanes.run(owner, lambda: release.wait(10))  # the lane is busy
    time.sleep(0.05)
    for n in range(10):
        lanes.run(owner, lambda n=n: ran.append(n), coalesce="reload")
    assert lanes.pending(owner) == 2
    release.set()
    assert lanes.wait_idle(5)
    assert ran == [9]


def test_the_owner_deleted_meanwhile_hears_nothing(lanes, qtbot) -> None:  # type: ignore[no-untyped-def]
    owner = QObject()
    release = threading.Event()
    heard: list[object] = []
    lanes.run(owner, lambda: release.wait(10), heard.append)
    later_ran = threading.Event()
    lanes.run(owner, later_ran.set, heard.append)
    owner.deleteLater()
    qtbot.waitUntil(lambda: not _valid(owner), timeout=2000)
    release.set()
    assert lanes.wait_idle(5)
    assert heard == []
    assert not later_ran.is_set()  # not started: its owner was gone


def _valid(obj: QObject) -> bool:
    import shiboken6

    return bool(shiboken6.isValid(obj))


def test_failures_are_translated_at_the_boundary(lanes, caplog) -> None:  # type: ignore[no-untyped-def]
    failures: list[Failure] = []

    def fail(exc: BaseException):  # type: ignore[no-untyped-def]
        def work() -> None:
            raise exc

        return work

    lost = OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    lost.connection_invalidated = True
    for exc in (
        ValidationError("Subject", "must not be empty"),
        DatabaseUnavailable("refused"),
        lost,
        ProgrammingError("SELECT nothing", {}, Exception('column "nothing" does not exist')),
        KeyError("bug"),
    ):
        lanes.run(None, fail(exc), failed=failures.append)
    assert lanes.wait_idle(5)
    assert [f.kind for f in failures] == [
        "refused",
        "unavailable",
        "unavailable",
        "internal",
        "internal",
    ]
    assert failures[0].message == "Subject: must not be empty"
    assert "cannot be reached" in failures[2].message
    assert "server closed the connection" in failures[2].message
    assert "Internal error (ProgrammingError" in failures[3].message
    # A bug is logged with its traceback; what the user can act on is not.
    logged = [r for r in caplog.records if r.name == "app.ui.operations"]
    assert len(logged) == 2
    assert all(r.exc_info for r in logged)


def test_a_real_database_that_is_away_is_unavailable_and_a_wrong_statement_is_a_bug(  # type: ignore[no-untyped-def]
    lanes, db: Database, tmp_path
) -> None:
    failures: list[Failure] = []

    def wrong() -> None:
        with db.session() as s:
            s.execute(text("SELECT no_such_column FROM emails"))

    lanes.run(None, wrong, failed=failures.append)
    (tmp_path / "a-file").write_text("")
    if db.is_sqlite:  # a folder that cannot be made: a file stands in its way
        url = f"sqlite:///{tmp_path}/a-file/x.db"
    else:  # nobody listens on port 1
        url = "postgresql://nobody@127.0.0.1:1/none"

    def unreachable() -> None:
        away = Database(url)
        try:
            with away.session() as s:
                s.execute(text("SELECT 1"))
        finally:
            away.dispose()

    lanes.run(None, unreachable, failed=failures.append)
    assert lanes.wait_idle(30)
    assert [f.kind for f in failures] == ["internal", "unavailable"]


def test_the_process_has_one_operations(qapp) -> None:  # type: ignore[no-untyped-def]
    assert ops.operations() is ops.operations()


def test_screens_under_test_cannot_use_the_database_on_the_gui_thread(  # type: ignore[no-untyped-def]
    lanes, demo_db: Database, make_ctx, agent
) -> None:
    from app.db.engine import RefusedThread
    from app.services.work import WorkService

    ctx = make_ctx(demo_db, agent)
    work = WorkService(ctx.db, ctx.actor)
    with pytest.raises(RefusedThread):
        work.queues()  # on the GUI thread
    got: list[object] = []
    lanes.run(None, work.queues, got.append)  # on a lane
    assert lanes.wait_idle(10)
    assert got and isinstance(got[0], list)
    WorkService(demo_db, agent).queues()  # the test's own set-up and checks may


def test_shutting_down_ends_the_jobs_given_and_tells_nobody(qapp) -> None:  # type: ignore[no-untyped-def]
    lanes = Operations()
    finished = threading.Event()
    heard: list[object] = []

    def slow() -> str:
        time.sleep(0.2)
        finished.set()
        return "queued"

    lanes.run(None, slow, heard.append)
    lanes.shutdown(timeout=5)
    assert finished.is_set()  # the job given before ran to its end
    assert heard == []  # the application is ending: no callback, no message box
    assert lanes.pending() == 0
