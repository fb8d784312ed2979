"""Reading-pane benchmark: the worst GUI-thread block while hostile emails are opened.

    .venv/bin/python bench/render.py                    # every body, 120 s limit each
    .venv/bin/python bench/render.py --only tables-20 text-5mb --timeout 60

Each hostile body is stored through ``Intake`` (a fresh SQLite database with the demo
organisation) and opened in the real reading pane (Management ▸ Emails, offscreen Qt), in
a process of its own so that a body which freezes the pane is stopped at ``--timeout``.
A 1 ms heartbeat timer runs on the GUI thread; the worst gap between two of its beats,
minus the millisecond it waits, is the longest the GUI thread did not answer. Measured:

- **open**: from selecting the email until the pane has shown it and 1.5 s have passed
  with nothing more to do (the first time an email is opened its body is decoded and
  stored, as in the product);
- **again**: opening the same email a second time (decoded already);
- **rest**: where the pane shows only a first part, asking for the rest, until it is all
  shown.

The figures are printed as a table (milliseconds); see bench/README.md.
"""

# ruff: noqa: E402  (the path is fixed before the other imports)
from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py is named like the standard library's ``queue``: take this folder off the
# path before anything imports that module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import base64
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAABgAAAAYCAIAAABvFaqvAAAAH0lEQVR4nGM4ISdHFcQwatCoQaMGjRo0atCoQQNvEADG"
    "tUkfvb3KfwAAAABJRU5ErkJggg=="
)
WORDS = [
    "the",
    "parcel",
    "arrived",
    "late",
    "and",
    "the",
    "box",
    "was",
    "damaged",
    "please",
    "send",
    "a",
    "new",
    "kettle",
    "soon",
]


def _message(subject: str) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "Zoe Adams <zoe@customers.example>"
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 02 Nov 2026 08:00:00 +0000"
    msg["Message-ID"] = f"<{subject.replace(' ', '-')}@customers.example>"
    return msg


def html_mail(subject: str, html: str) -> bytes:
    msg = _message(subject)
    msg.set_content(html, subtype="html", cte="base64")
    return msg.as_bytes()


def text_mail(subject: str, text: str) -> bytes:
    msg = _message(subject)
    msg.set_content(text, cte="base64")
    return msg.as_bytes()


def prose(size: int, line: int = 72) -> str:
    """About ``size`` characters of words in lines of ``line``."""
    out: list[str] = []
    total = n = 0
    current: list[str] = []
    width = 0
    while total < size:
        word = WORDS[n % len(WORDS)]
        n += 1
        if width + len(word) + 1 > line:
            out.append(" ".join(current))
            total += width + 1
            current, width = [], 0
        current.append(word)
        width += len(word) + 1
    return "\n".join(out)


def nested(open_tag: str, close_tag: str, depth: int, inner: str = "x") -> str:
    return open_tag * depth + inner + close_tag * depth


def cid_images(count: int) -> bytes:
    msg = _message(f"{count} inline images")
    msg.set_content("Images.")
    html = "".join(f'<p>Image {i}: <img src="cid:img{i}@x"></p>' for i in range(count))
    msg.add_alternative(html, subtype="html")
    related = msg.get_payload()[1]
    for i in range(count):
        related.add_related(PNG, "image", "png", cid=f"<img{i}@x>")
    return msg.as_bytes()


def big_png() -> bytes:
    """A 1,200 x 1,200 PNG of noise: about 4 MB, slow to decode."""
    import random

    from PySide6.QtCore import QBuffer, QByteArray
    from PySide6.QtGui import QImage

    side = 1200
    noise = random.Random(7).randbytes(side * side * 3)
    image = QImage(noise, side, side, side * 3, QImage.Format.Format_RGB888)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QBuffer.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def big_image_mail() -> bytes:
    msg = _message("one big inline image")
    msg.set_content("An image.")
    msg.add_alternative('<p>The photo:</p><img src="cid:big@x"><p>Thanks</p>', subtype="html")
    msg.get_payload()[1].add_related(big_png(), "image", "png", cid="<big@x>")
    return msg.as_bytes()


def five_mb_html() -> str:
    paragraph = "<p>" + prose(400).replace("\n", " <b>and</b> ") + "</p>\n"
    return "<html><body>" + paragraph * (5 * 1024 * 1024 // len(paragraph)) + "</body></html>"


CASES: dict[str, Callable[[], bytes]] = {
    "tables-20": lambda: html_mail(
        "tables 20", nested("<table><tr><td>", "</td></tr></table>", 20)
    ),
    "tables-25": lambda: html_mail(
        "tables 25", nested("<table><tr><td>", "</td></tr></table>", 25)
    ),
    "tables-100": lambda: html_mail(
        "tables 100", nested("<table><tr><td>", "</td></tr></table>", 100)
    ),
    "lists-10000": lambda: html_mail("lists", nested("<ul><li>", "</li></ul>", 10_000)),
    "quotes-10000": lambda: html_mail("quotes", nested("<blockquote>", "</blockquote>", 10_000)),
    "divs-10000": lambda: html_mail("divs", nested("<div>", "</div>", 10_000)),
    "spans-10000": lambda: html_mail("spans", nested("<span>y", "</span>", 10_000)),
    "text-5mb": lambda: text_mail("text 5 MB", prose(5 * 1024 * 1024)),
    "html-5mb": lambda: html_mail("html 5 MB", five_mb_html()),
    "tables-10000-small": lambda: html_mail(
        "small tables", "<table><tr><td>a</td><td>b</td></tr></table>" * 10_000
    ),
    "line-2mb-text": lambda: text_mail("one line", "x" * (2 * 1024 * 1024)),
    "line-2mb-html": lambda: html_mail("one html line", "<p>" + "y" * (2 * 1024 * 1024) + "</p>"),
    "images-10000-remote": lambda: html_mail(
        "remote images",
        "".join(f'<img src="https://t.example/{i}.png" alt="a{i}">' for i in range(10_000)),
    ),
    "images-500-inline": lambda: cid_images(500),
    "image-4mb-inline": big_image_mail,
}


# ---- one case, in its own process ------------------------------------------------------


def run_case(name: str, freeze_gc: bool = False) -> dict[str, float | str]:
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    from app.db import migrate
    from app.db.engine import Database
    from app.services import demo
    from app.services.intake import Fetched, Intake
    from app.ui.context import AppContext
    from app.ui.emails_screen import EmailsScreen

    folder = Path(tempfile.mkdtemp(prefix="bench-render-"))
    os.environ["EMAIL_CAMPAIGNS_HOME"] = str(folder)
    db = Database(f"sqlite:///{folder / 'bench.sqlite3'}")
    migrate.upgrade(db)
    demo.seed(db)
    from sqlalchemy import select

    from app.db.models import Channel, User
    from app.services.auth import actor_for

    with db.session() as s:
        channel = s.scalars(select(Channel.id).where(Channel.name == "Support mailbox")).one()
        sam = actor_for(s.scalars(select(User).where(User.login == "sam")).one())
    raw = CASES[name]()
    [stored] = Intake(db, channel).store([Fetched("INBOX", 1, 1, raw)])
    [small] = Intake(db, channel).store([Fetched("INBOX", 1, 2, text_mail("small", "Hi."))])
    import keyring
    from keyring.backends.null import Keyring

    from app.services.secrets import KeyringStore

    keyring.set_keyring(Keyring())  # never the developer's own keyring
    ctx = AppContext(db, sam, KeyringStore())
    ctx.refresh_settings()

    _app = QApplication.instance() or QApplication([])  # kept alive while measuring
    screen = EmailsScreen(ctx)
    screen.resize(1280, 860)
    screen.show()
    pane = screen.detail
    settle = QEventLoop()  # the window shown and its list read before anything is timed
    QTimer.singleShot(1000, settle.quit)
    settle.exec()
    if freeze_gc:
        # What is alive now is left out of later garbage collections, as an application
        # would do once started: a full collection of it all takes 50-80 ms here.
        import gc

        gc.collect()
        gc.freeze()

    clock = QElapsedTimer()
    clock.start()
    beats = {"last": 0, "worst": 0}

    def beat() -> None:
        now = clock.elapsed()
        beats["worst"] = max(beats["worst"], now - beats["last"])
        beats["last"] = now

    heart = QTimer()
    heart.setInterval(1)
    heart.timeout.connect(beat)

    def measure(action: Callable[[], None], done: Callable[[], bool], limit: float) -> float:
        # An event loop of its own rather than processEvents() in a loop: PySide6 6.12 on
        # Python 3.11 drops a reference to None at every call of a void method, and a
        # few thousand calls end the process ("deallocating None").
        loop = QEventLoop()
        started = time.monotonic()
        quiet_since: list[float] = []

        def check() -> None:
            now = time.monotonic()
            if not done():
                quiet_since.clear()
            elif not quiet_since:
                quiet_since.append(now)
            if (quiet_since and now - quiet_since[0] > 1.5) or now - started > limit:
                loop.quit()

        checker = QTimer()
        checker.setInterval(20)
        checker.timeout.connect(check)
        beats["last"] = clock.elapsed()
        beats["worst"] = 0
        heart.start()
        checker.start()
        QTimer.singleShot(0, action)
        loop.exec()
        heart.stop()
        checker.stop()
        return max(0, beats["worst"] - 1)

    busy = getattr(pane, "busy", lambda: False)

    def shown() -> bool:
        return pane.detail is not None and pane.detail.id == stored.email_id and not busy()

    result: dict[str, float | str] = {"case": name, "bytes": len(raw)}
    result["open"] = measure(lambda: pane.show_email(stored.email_id), shown, 600)
    pane.clear()
    result["again"] = measure(lambda: pane.show_email(stored.email_id), shown, 600)
    rest_button = getattr(pane, "rest_button", None)
    if isinstance(rest_button, QWidget) and rest_button.isVisible():
        result["rest"] = measure(rest_button.click, shown, 600)
    result["shown_chars"] = len(pane.browser.toPlainText())
    raw_busy = getattr(pane, "raw_busy", lambda: False)
    result["raw"] = measure(lambda: pane.tabs.setCurrentIndex(1), lambda: not raw_busy(), 600)
    pane.tabs.setCurrentIndex(0)
    result["leave"] = measure(
        lambda: pane.show_email(small.email_id),
        lambda: pane.detail is not None and pane.detail.id == small.email_id and not busy(),
        600,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="case names")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a case")
    parser.add_argument(
        "--freeze-gc",
        action="store_true",
        help="gc.freeze() once the screen is shown (as the application does once the Workspace is up)",
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)  # the child's own case
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.freeze_gc)))
        return 0
    names = args.only or list(CASES)
    print(
        f"{'body':<22} {'bytes':>10} {'open ms':>9} {'again ms':>9} {'rest ms':>9}"
        f" {'raw ms':>9} {'leave ms':>9} {'shown':>10}"
    )
    for name in names:
        started = time.monotonic()
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--case", name]
                + (["--freeze-gc"] if args.freeze_gc else []),
                capture_output=True,
                text=True,
                timeout=args.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            print(f"{name:<22} {'':>10} {'> ' + str(int(args.timeout)) + ' s':>9}  (stopped)")
            continue
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode or not lines:
            print(f"{name:<22} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(lines[-1])
        rest = f"{r['rest']:.0f}" if "rest" in r else "—"
        print(
            f"{name:<22} {r['bytes']:>10,} {r['open']:>9.0f} {r['again']:>9.0f} {rest:>9}"
            f" {r['raw']:>9.0f} {r['leave']:>9.0f} {r['shown_chars']:>10,}   ({time.monotonic() - started:.0f} s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
