"""`email-campaigns serve`: the channel service without a GUI, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from app.db.engine import Database
from app.db.models import Email
from app.services.secrets import choose_plain_file_fallback
from tests.integration.test_retrieval import make_channel, raw_message

pytestmark = pytest.mark.server


def test_serve_retrieves_until_sigterm(mail_server, mailbox, tmp_path, isolated_home):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "EMAIL_CAMPAIGNS_HOME": str(isolated_home),
    }
    cli = [sys.executable, "-m", "app", "--database", url]
    subprocess.run([*cli, "demo"], env=env, check=True, capture_output=True, timeout=120)
    db = Database(url)
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
