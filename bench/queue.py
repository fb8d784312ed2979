"""Queue benchmark: Take next, opening My Work and the Emails screen on a large database.

    .venv/bin/python bench/queue.py                 # 1,000,000 emails on SQLite
    .venv/bin/python bench/queue.py --emails 100000 --takes 500

Builds (once, cached under the temporary directory) a SQLite database with the demo
organisation and N emails — mostly actioned, a few per cent queued across the six campaigns,
some held by agents —, then measures, each in a fresh process so that memory figures are the
process's own:

- Take next: ``WorkService.take_next()`` for an agent with three campaigns, one call after
  another; p50, p95 and the slowest.
- My Work: time from creating the screen to its queues being shown (offscreen Qt).
- Emails screen: time from creating the screen to its first rows being read, and the
  process's resident memory then, compared with the same on the demo database alone.

Targets (issue 4): Take next p95 <= 10 ms; My Work opens in <= 200 ms; the Emails screen
shows its first rows in <= 300 ms with <= 50 MB more memory than on an empty database.
"""

# ruff: noqa: E402  (the path is fixed before the other imports)
from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's ``queue``: take its folder off the path
# before anything imports that module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SUBJECTS = [
    "Where is my order {n}?",
    "Return of order {n}",
    "Refund for invoice {n}",
    "Question about opening hours",
    "Größe 42 nicht lieferbar – Bestellung {n}",
    "Complaint about delivery {n}",
    "Partnership proposal {n}",
    "注文 {n} について",
]
RAW = (
    "Received: from mx.customers.example by mail.example.com; {date}\r\n"
    "From: Customer {n} <customer{n}@customers.example>\r\n"
    "To: Example Retail Support <support@example.com>\r\n"
    "Subject: {subject}\r\n"
    "Date: {date}\r\n"
    "Message-ID: <m{n}@customers.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Hello,\r\n\r\nI ordered a kettle three weeks ago and it has not arrived yet. My "
    "customer number is {n}. Could you tell me when it will be delivered?\r\n\r\n"
    "Kind regards,\r\nCustomer {n}\r\n"
)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---- building the database ------------------------------------------------------------


def build(path: Path, emails: int) -> None:
    from app.db import migrate
    from app.db.engine import Database
    from app.services import demo

    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    demo.seed(db)
    db.dispose()
    if emails == 0:
        return
    conn = sqlite3.connect(path)
    campaigns = [row[0] for row in conn.execute("SELECT id FROM campaigns ORDER BY id")]
    agents = [row[0] for row in conn.execute("SELECT id FROM users ORDER BY id")]
    channel = conn.execute("SELECT min(id) FROM channels").fetchone()[0]
    rng = random.Random(4711)
    now = datetime.now(UTC)
    start = now - timedelta(days=365)
    span = (now - start).total_seconds()

    def stamp(value: datetime) -> str:
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")

    def rows(first: int, count: int):  # type: ignore[no-untyped-def]
        for n in range(first, first + count):
            received = start + timedelta(seconds=span * n / emails + rng.random())
            roll = rng.random()
            agent = taken = first_reply = actioned = None
            if roll < 0.03:
                status = "queued"
            elif roll < 0.035:
                status = rng.choice(["assigned", "draft"])
                agent = rng.choice(agents)
                taken = stamp(received + timedelta(minutes=5))
            else:
                status = "actioned"
                agent = rng.choice(agents)
                taken = stamp(received + timedelta(minutes=rng.randint(1, 600)))
                first_reply = actioned = stamp(received + timedelta(minutes=rng.randint(2, 900)))
            subject = rng.choice(SUBJECTS).format(n=n)
            date = received.strftime("%a, %d %b %Y %H:%M:%S +0000")
            raw = RAW.format(n=n, subject=subject, date=date).encode()
            yield (
                channel,
                rng.choice(campaigns),
                status,
                f"Customer {n} <customer{n}@customers.example>",
                "",
                "support@example.com",
                "",
                subject,
                f"<m{n}@customers.example>",
                stamp(received),
                stamp(received),
                agent,
                taken,
                first_reply,
                actioned,
                raw,
                len(raw),
                "INBOX",
                1,
                n + 1,
                False,
                False,
                False,
            )

    sql = (
        "INSERT INTO emails (channel_id, campaign_id, status, from_addr, reply_to, to_addrs,"
        " cc_addrs, subject, message_id, received_at, queued_at, agent_id, taken_at,"
        " first_reply_at, actioned_at, raw, size, imap_folder, uidvalidity, uid,"
        " is_auto_reply, is_bounce, is_oversize) VALUES"
        " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    chunk = 50_000
    for first in range(0, emails, chunk):
        conn.executemany(sql, rows(first, min(chunk, emails - first)))
        conn.commit()
        print(f"  … {min(first + chunk, emails):,} emails", file=sys.stderr, flush=True)
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def database_for(emails: int, fresh: bool) -> Path:
    from app.db.migrate import MIGRATIONS

    version = sorted(p.name for p in (MIGRATIONS / "versions").glob("0*.py"))[-1][:4]
    path = Path(tempfile.gettempdir()) / f"ec-bench-queue-{emails}-{version}.sqlite3"
    if fresh or not path.exists():
        for old in path.parent.glob(path.name + "*"):
            old.unlink()
        print(f"building {path} with {emails:,} emails …", file=sys.stderr, flush=True)
        started = time.perf_counter()
        build(path, emails)
        print(f"  built in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return path


# ---- measurements (each in its own process) --------------------------------------------


def _context(path: Path, login: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from app.db.engine import Database
    from app.db.models import User
    from app.services.auth import actor_for
    from app.services.secrets import KeyringStore
    from app.ui.context import AppContext

    db = Database(f"sqlite:///{path}")
    with db.session() as s:
        user = s.scalar(select(User).where(User.login == login))
        assert user is not None
        actor = actor_for(user)
    ctx = AppContext(db, actor, KeyringStore())
    ctx.refresh_settings()
    return ctx


def measure_take(path: Path, takes: int) -> dict[str, float]:
    from app.db.engine import Database
    from app.services.work import WorkService
    from tests.conftest import actor_of

    db = Database(f"sqlite:///{path}")
    work = WorkService(db, actor_of(db, "alice"))
    work.take_next()  # warm the connection and the page cache
    times = []
    for _ in range(takes):
        started = time.perf_counter()
        taken = work.take_next()
        times.append((time.perf_counter() - started) * 1000)
        if taken is None:
            break
    times.sort()
    return {
        "takes": len(times),
        "p50_ms": statistics.median(times),
        "p95_ms": times[int(len(times) * 0.95) - 1],
        "max_ms": times[-1],
    }


def measure_my_work(path: Path) -> dict[str, float]:
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    ctx = _context(path, "alice")
    try:
        from app.ui.my_work import MyWorkScreen
    except ImportError:
        from app.services.work import WorkService

        started = time.perf_counter()
        WorkService(ctx.db, ctx.actor).queues()
        WorkService(ctx.db, ctx.actor).held()
        return {"open_ms": (time.perf_counter() - started) * 1000, "gui": 0}
    started = time.perf_counter()
    screen = MyWorkScreen(ctx)
    screen.resize(1280, 800)
    screen.show()
    app.processEvents()
    elapsed = (time.perf_counter() - started) * 1000
    screen.close()
    return {"open_ms": elapsed, "gui": 1}


def measure_emails(path: Path) -> dict[str, float]:
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    ctx = _context(path, "sam")
    from app.ui.emails_screen import EmailsScreen

    app.processEvents()
    before = rss_mb()
    started = time.perf_counter()
    screen = EmailsScreen(ctx)
    screen.resize(1280, 800)
    screen.show()
    app.processEvents()
    first = screen.model.index(0, 2).data()
    elapsed = (time.perf_counter() - started) * 1000
    after = rss_mb()
    return {
        "first_rows_ms": elapsed,
        "rss_before_mb": before,
        "rss_after_mb": after,
        "rows": screen.model.rowCount(),
        "first_subject_ok": int(bool(first)),
    }


def child(kind: str, path: Path, takes: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--db", str(path), "--takes", str(takes)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--emails", type=int, default=1_000_000)
    parser.add_argument("--takes", type=int, default=1000)
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached database")
    parser.add_argument("--child", choices=["take", "mywork", "emails"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        measure = {
            "take": lambda: measure_take(args.db, args.takes),
            "mywork": lambda: measure_my_work(args.db),
            "emails": lambda: measure_emails(args.db),
        }
        print(json.dumps(measure[args.child]()))
        return 0

    big = database_for(args.emails, args.fresh)
    empty = database_for(0, args.fresh)
    with tempfile.TemporaryDirectory() as scratch:
        work_copy = Path(scratch) / "work.sqlite3"
        shutil.copy(big, work_copy)  # Take next changes the database: keep the cache clean
        take = child("take", work_copy, args.takes)
        my_work = child("mywork", big, 0)
        emails_big = child("emails", big, 0)
        emails_empty = child("emails", empty, 0)

    more_memory = emails_big["rss_after_mb"] - emails_empty["rss_after_mb"]
    print(
        f"\nQueue benchmark — SQLite, {args.emails:,} emails ({big.stat().st_size / 1e6:,.0f} MB)"
    )
    print(f"{'measure':44} {'figure':>12} {'target':>10}")
    rows = [
        (f"Take next p50 ({take['takes']:.0f} takes)", f"{take['p50_ms']:.2f} ms", ""),
        ("Take next p95", f"{take['p95_ms']:.2f} ms", "≤ 10 ms"),
        ("Take next slowest", f"{take['max_ms']:.2f} ms", ""),
        (
            "My Work opens" + ("" if my_work["gui"] else " (service only: no screen yet)"),
            f"{my_work['open_ms']:.0f} ms",
            "≤ 200 ms",
        ),
        ("Emails screen: first rows", f"{emails_big['first_rows_ms']:.0f} ms", "≤ 300 ms"),
        (
            "Emails screen: first rows, empty database",
            f"{emails_empty['first_rows_ms']:.0f} ms",
            "",
        ),
        ("Emails screen: process memory", f"{emails_big['rss_after_mb']:.0f} MB", ""),
        ("Emails screen: memory, empty database", f"{emails_empty['rss_after_mb']:.0f} MB", ""),
        ("Emails screen: more memory than empty", f"{more_memory:+.0f} MB", "≤ 50 MB"),
    ]
    for name, figure, target in rows:
        print(f"{name:44} {figure:>12} {target:>10}")
    met = (
        take["p95_ms"] <= 10
        and my_work["open_ms"] <= 200
        and emails_big["first_rows_ms"] <= 300
        and more_memory <= 50
    )
    print("\nall targets met" if met else "\nNOT all targets met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
