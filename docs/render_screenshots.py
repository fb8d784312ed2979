"""Render the main screens to PNG files in docs/screenshots/ (offscreen, demo data).

Run with `make screenshots` (or QT_QPA_PLATFORM=offscreen python docs/render_screenshots.py).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QItemSelectionModel, Qt  # noqa: E402
from PySide6.QtGui import QFont  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def settle() -> None:
    """What the screens asked of the database has arrived and is shown."""
    from app.ui.operations import operations

    for _ in range(3):
        QApplication.processEvents()
        operations().wait_idle(30)
    QApplication.processEvents()


def save(widget: QWidget, name: str) -> None:
    settle()
    path = OUT / f"{name}.png"
    widget.grab().save(str(path))
    print(f"wrote {path.relative_to(ROOT)}")


def render_sign_in(db) -> None:  # type: ignore[no-untyped-def]
    """The sign-in dialog at its own size: with the screenshots' font, and with a large one
    (28 points, as a user with poor sight may set it)."""
    from app.ui.sign_in import SignInDialog, read_accounts

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    usual = app.font()
    for name, points in (("sign-in", usual.pointSize()), ("sign-in-large-font", 28)):
        font = QFont(usual)
        font.setPointSize(points)
        app.setFont(font)
        sign_in = SignInDialog(db, accounts=read_accounts(db))
        sign_in.show()
        save(sign_in, name)
        sign_in.close()
    app.setFont(usual)


def render_service_level(home: Path) -> None:
    """Management ▸ Service Level at 16:00 in Sydney, over a day of emails of its own database."""
    import random
    import time
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert, select

    from app.db import migrate
    from app.db.engine import Database
    from app.db.models import Campaign, Email, EmailStatus
    from app.services import auth, demo
    from app.ui.context import AppContext
    from app.ui.service_level_screen import ServiceLevelScreen

    db = Database(f"sqlite:///{home / 'service-level.sqlite3'}")
    migrate.upgrade(db)
    demo.seed(db)
    now = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)  # 16:00 in Sydney
    rnd = random.Random(4)
    rows = []
    with db.session() as s:
        campaigns = s.execute(select(Campaign.id, Campaign.title, Campaign.service_level_period))
        for campaign_id, title, period in campaigns:
            if title == "General Enquiries":
                continue  # a quiet campaign: nothing counts yet
            for _ in range(rnd.randint(10, 40)):
                received = now - timedelta(minutes=rnd.randint(1, 14 * 60))
                replied = received + timedelta(seconds=rnd.randint(10, int(period * 1.25)))
                answered = rnd.random() < 0.93 and replied <= now
                rows.append(
                    {
                        "campaign_id": campaign_id,
                        "status": EmailStatus.ACTIONED if answered else EmailStatus.QUEUED,
                        "received_at": received,
                        "queued_at": received,
                        "first_reply_at": replied if answered else None,
                        "raw": b"",
                    }
                )
        s.execute(insert(Email), rows)
    ctx = AppContext(db, auth.sign_in(db, "sam", demo.DEMO_PASSWORD))
    ctx.refresh_settings()
    screen = ServiceLevelScreen(ctx, clock=lambda: now)
    screen.resize(1280, 800)
    screen.show()
    deadline = time.monotonic() + 10
    while (screen.report is None or screen.busy) and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)
    if screen.report is None:
        raise SystemExit("the Service Level screen showed no figures")
    save(screen, "service-level")
    screen.refresh_timer.stop()
    screen.close()
    db.dispose()


def main() -> int:
    with tempfile.TemporaryDirectory() as home:
        os.environ["EMAIL_CAMPAIGNS_HOME"] = home
        from app.db import migrate
        from app.db.engine import Database
        from app.services import auth, demo
        from app.ui.campaign_dialog import EditEmailCampaignDialog, read_dialog_data
        from app.ui.context import AppContext
        from app.ui.main_window import MainWindow
        from app.ui.operations import operations

        app = QApplication.instance() or QApplication(sys.argv)
        app.setFont(QFont("DejaVu Sans", 10))
        OUT.mkdir(parents=True, exist_ok=True)
        db = Database(f"sqlite:///{Path(home) / 'shots.sqlite3'}")
        migrate.upgrade(db)
        demo.seed(db)

        render_sign_in(db)
        render_service_level(Path(home))

        ctx = AppContext(db, auth.sign_in(db, "sam", demo.DEMO_PASSWORD))
        ctx.refresh_settings()
        window = MainWindow(ctx)
        window.resize(1280, 800)
        window.show()
        screen = window.open_configuration()
        operations().wait_idle(30)  # the screen reads its lists off the GUI thread
        model = screen.group_model
        index = model.match(
            model.index(0, 0),
            Qt.ItemDataRole.DisplayRole,
            "Orders & Returns",
            1,
            Qt.MatchFlag.MatchStartsWith | Qt.MatchFlag.MatchRecursive,
        )[0]
        screen.group_tree.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
        )
        screen.show_selected_group()
        operations().wait_idle(30)
        screen.select_campaign(
            next(c.id for c in screen.campaign_model.rows() if c.title == "Orders")
        )
        operations().wait_idle(30)
        save(window, "campaign-configuration")

        dialog = EditEmailCampaignDialog(
            ctx, read_dialog_data(ctx, screen.selected_campaign().id), window
        )
        dialog.show()
        save(dialog, "edit-email-campaign")
        dialog.tabs.setCurrentIndex(1)
        dialog.assigned_filter.setCurrentText("All")
        dialog.team_view.selectRow(2)
        save(dialog, "edit-email-campaign-assigned-teams")
        dialog.reject()

        window.open_templates()
        save(window, "email-templates")
        from app.ui.templates_screen import TemplateEditorDialog

        template = next(t for t in ctx.templates.list_templates() if t.name == "Order status")
        editor_dialog = TemplateEditorDialog(ctx, ctx.templates.get_template(template.id), window)
        editor_dialog.show()
        save(editor_dialog, "template-editor")
        editor_dialog.reject()
        window.close()

        # Administration screens, as the administrator sees them.
        admin_ctx = AppContext(db, auth.sign_in(db, "admin", demo.DEMO_PASSWORD))
        admin_ctx.refresh_settings()
        admin_window = MainWindow(admin_ctx)
        admin_window.resize(1280, 800)
        admin_window.show()
        for opener, name in (
            (admin_window.open_teams, "teams"),
            (admin_window.open_users, "users"),
            (admin_window.open_settings, "settings"),
        ):
            opener()
            save(admin_window, name)
        from app.ui.channel_dialog import ChannelDialog
        from app.ui.operations import operations

        channels = admin_window.open_channels()
        operations().wait_idle()  # the list is read
        save(admin_window, "email-channels")
        channels.view.selectRow(1)
        channels.edit_channel()
        operations().wait_idle()  # the channel is read, its editor open
        channel_dialog = channels.findChild(ChannelDialog)
        for tab in range(channel_dialog.tabs.count()):
            channel_dialog.tabs.setCurrentIndex(tab)
            save(channel_dialog, f"email-channel-tab-{tab + 1}")
        channel_dialog.reject()

        # Management ▸ Emails with a few realistic emails, the HTML one selected.
        import base64

        from PySide6.QtCore import QBuffer, QIODevice
        from PySide6.QtGui import QImage

        from app.services.intake import Fetched, Intake

        logo_image = QImage(str(ROOT / "resources" / "icon-64.png"))
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        logo_image.save(buffer, "PNG")
        LOGO = base64.b64encode(bytes(buffer.data())).decode()

        intake = Intake(db, channels.model.rows()[1].id)
        html = (
            "From: =?utf-8?q?Ren=C3=A9e_Gr=C3=B6=C3=9Fe?= <renee@example.com>\r\n"
            "To: support@example.com\r\nSubject: =?utf-8?q?Bestellung_4711_=E2=80=93_wo_ist_sie=3F?="
            "\r\nDate: Fri, 27 Nov 2026 09:12:00 +0100\r\nMessage-ID: <shot-1@example.com>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=B\r\n\r\n"
            "--B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            "<p>Guten Tag,</p><p>my <b>order 4711</b> has not arrived. Size: Größe 42 – 5 €.</p>"
            '<p><img src="cid:logo@shop"> <img src="https://tracker.example/p.gif" width=1></p>'
            "<script>alert(1)</script><p>Best regards,<br>Renée</p>\r\n"
            "--B\r\nContent-Type: image/png\r\nContent-ID: <logo@shop>\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + LOGO + "\r\n--B--\r\n"
        ).encode()
        samples = [html] + [
            (
                f"From: Customer {n} <c{n}@example.org>\r\nTo: support@example.com\r\n"
                f"Subject: {subject}\r\nDate: Fri, 27 Nov 2026 0{n}:30:00 +0000\r\n"
                f"Message-ID: <shot-{n + 2}@example.org>\r\n\r\n{body}\r\n"
            ).encode()
            for n, (subject, body) in enumerate(
                [
                    ("Refund for order 1288", "Please refund my order."),
                    ("Complaint about delivery", "This is a complaint."),
                    ("日本語の問い合わせ", "サイズについて質問があります。"),
                    ("Question about opening hours", "When are you open?"),
                ],
                start=1,
            )
        ]
        intake.store([Fetched("INBOX", 1, uid, raw) for uid, raw in enumerate(samples, 1)])
        emails = admin_window.open_emails()
        emails.reload()
        settle()  # the list is read off the GUI thread
        if not emails.select_email(1):
            raise SystemExit("the HTML email is not in the Emails screen")
        QApplication.processEvents()
        save(admin_window, "emails")
        admin_window.close()

        render_my_work(db, intake, len(samples))
        db.dispose()
    return 0


def render_my_work(db, intake, first_uid: int) -> None:  # type: ignore[no-untyped-def]
    """My Work as Alice sees it mid-morning: an order email open with a template chosen."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from app.db.models import Email, utcnow
    from app.services import auth, demo
    from app.services.intake import Fetched
    from app.services.work import ReplyText, WorkService
    from app.ui.context import AppContext
    from app.ui.main_window import MainWindow
    from app.ui.my_work import MyWorkScreen

    letters = [
        (
            "Hannah Becker <hannah.becker@example.net>",
            "Order 5521 – where is my parcel?",
            "Hello,\r\n\r\nI ordered a rain jacket (order 5521) on Monday and paid for express "
            "delivery. The tracking page has said 'in preparation' for three days now.\r\n\r\n"
            "Could you tell me when it will be sent? I need it before Saturday.\r\n\r\n"
            "Thank you,\r\nHannah Becker",
        ),
        ("Tom Price <tom@example.org>", "Order 5530 arrived damaged", "The box was crushed."),
        ("Lea Roth <lea@example.net>", "Order 5544: new delivery address", "I have moved."),
        ("Ian Moss <ian@example.com>", "Jacket too small – return label?", "It is too small."),
    ]
    intake.store(
        [
            Fetched(
                "INBOX",
                1,
                first_uid + n,
                (
                    f"From: {sender}\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
                    f"Date: Fri, 27 Nov 2026 08:{10 + n:02d}:00 +0000\r\n"
                    f"Message-ID: <my-work-{n}@example.net>\r\n"
                    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
                    f"{body}\r\n"
                ).encode(),
            )
            for n, (sender, subject, body) in enumerate(letters, 1)
        ]
    )
    with db.session() as s:  # a believable morning: emails have waited a while
        ids = list(s.scalars(select(Email.id).where(Email.campaign_id.is_not(None))))
        for n, email_id in enumerate(sorted(ids)):
            s.execute(
                update(Email)
                .where(Email.id == email_id)
                .values(queued_at=utcnow() - timedelta(minutes=95 - 11 * n))
            )
        by_subject = {subject: i for subject, i in s.execute(select(Email.subject, Email.id))}
    actor = auth.sign_in(db, "alice", demo.DEMO_PASSWORD)
    work = WorkService(db, actor)
    for subject in ("Bestellung 4711 – wo ist sie?", "Jacket too small – return label?"):
        work.take(by_subject[subject])
    work.save_draft(
        by_subject["Jacket too small – return label?"],
        ReplyText(
            to="ian@example.com", subject="Re: Jacket too small – return label?", body="Hi Ian,"
        ),
    )
    opened = by_subject["Order 5521 – where is my parcel?"]
    work.take(opened)
    ctx = AppContext(db, actor)
    ctx.refresh_settings()
    window = MainWindow(ctx)
    window.resize(1280, 800)
    window.show()
    screen = window.open_screen("my_work", "My Work", lambda: MyWorkScreen(ctx, window))
    assert isinstance(screen, MyWorkScreen)
    screen.reload()
    screen.open_email(opened, focus=True)
    combo = screen.editor.template_combo
    combo.setCurrentIndex(combo.findText("Order status"))
    screen.show_status("Reply queued for sending. Opened your next email.")
    save(window, "my-work")
    screen.show_shortcuts()
    assert screen.shortcuts_dialog is not None
    save(screen.shortcuts_dialog, "shortcuts")
    screen.shortcuts_dialog.close()
    screen.editor.clear()  # the reply was only for the picture: close without asking
    WorkService(db, window.ctx.actor).release_held()  # ... and without the held-emails warning
    window.close()


if __name__ == "__main__":
    sys.exit(main())
