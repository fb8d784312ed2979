"""bench/queue.py --database: agent processes against one PostgreSQL queue, and the raw-SQL
baselines, each email taken and answered exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]


def test_queue_benchmark_on_postgresql(postgres_url: str) -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "queue.py"),
            "--database",
            postgres_url,
            "--agents",
            "3",
            "--emails",
            "90",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=240,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    lines = {line.split("  ")[0]: line.split() for line in out.stdout.splitlines() if line}
    assert lines["emails done"][-3:] == ["90", "90", "90"]
    assert lines["duplicates"][-3:] == ["0", "0", "0"]
    assert lines["lost"][-3:] == ["0", "0", "0"]
    assert "0 duplicates, 0 lost: yes" in out.stdout
