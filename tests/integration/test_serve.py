"""`email-campaigns serve`: the channel service without a GUI, stopped by SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from sqlalchemy import func, select

from app.db.models import Email
from app.services.secrets import choose_plain_file_fallback
from tests.integration.test_retrieval import demo_by_cli, make_channel, raw_message

pytestmark = pytest.mark.server


def test_serve_retrieves_until_sigterm(mail_server, mailbox, tmp_path, isolated_home):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    cli, env, db = demo_by_cli(url, isolated_home)
    make_channel(db, mail_server, mailbox, choose_plain_file_fallback(), name="Served")
    mail_server.deliver(mailbox.address, raw_message(1))
    proc = subprocess.Popen(
        [*cli, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )

    def wait_for(expected: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with db.session() as s:
                if (s.scalar(select(func.count()).select_from(Email)) or 0) >= expected:
                    return
            time.sleep(0.05)

    try:
        wait_for(1, 20)  # the first pass after start
        mail_server.deliver(mailbox.address, raw_message(2))  # then IDLE announces this one
        wait_for(2, 5)
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Email)) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Served: idle" in err and "stopping" in err
    db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_one_retriever_per_channel_and_a_survivor_takes_over(  # type: ignore[no-untyped-def]
    mail_server, mailbox, tmp_path, isolated_home, request, backend
):
    from app.db.models import Lease

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    cli, env, db = demo_by_cli(url, isolated_home)
    make_channel(db, mail_server, mailbox, choose_plain_file_fallback(), name="Shared")

    def count() -> int:
        with db.session() as s:
            return s.scalar(select(func.count()).select_from(Email)) or 0

    def holder() -> str | None:
        with db.session() as s:
            return s.scalar(select(Lease.holder))

    def wait_until(check, seconds: float) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.05)
        return False

    def serve() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*cli, "serve", "--lease-seconds", "3"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    mail_server.deliver(mailbox.address, raw_message(1))
    first = serve()
    second: subprocess.Popen[str] | None = None
    try:
        assert wait_until(lambda: count() == 1, 20)
        assert f"pid {first.pid} " in (holder() or "")
        second = serve()
        time.sleep(3)  # the second one starts, finds the lease taken, waits in standby
        mail_server.deliver(mailbox.address, raw_message(2))
        assert wait_until(lambda: count() == 2, 5)
        assert f"pid {first.pid} " in (holder() or "")  # still the first one's

        first.kill()  # dies holding the lease: it is not renewed any more
        first.communicate(timeout=10)  # (closes its pipe)
        mail_server.deliver(mailbox.address, raw_message(3))
        killed_at = time.monotonic()
        assert wait_until(lambda: count() == 3, 20), "the survivor did not take over"
        took = time.monotonic() - killed_at
        assert f"pid {second.pid} " in (holder() or "")
        assert took < 3 + 1 + 5  # the lease, one standby wait, a pass
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        if first.stderr is not None and not first.stderr.closed:
            first.communicate(timeout=20)
    assert second is not None
    _, err = second.communicate(timeout=20)
    assert second.returncode == 0, err
    assert "Shared: standby — retrieved by" in err
    with db.session() as s:
        assert s.scalar(select(func.count(func.distinct(Email.message_id)))) == 3
        assert s.scalar(select(Lease.holder)) is None  # released on a clean stop
    db.dispose()
