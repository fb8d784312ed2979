"""The ``email-campaigns`` command: the GUI by default, subcommands for scripts."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from app import __version__, paths
from app.domain.enums import EmailStatus, Role
from app.services.errors import ServiceError, ValidationError

if TYPE_CHECKING:
    from app.db.engine import Database
    from app.services.leases import LeaseHolder

# SQLAlchemy, the models and the keyring are imported by the subcommands that use them, not
# here: importing them takes about 0.3 s, which `channel sync` spends connecting to the IMAP
# server meanwhile (app/channel_service/early.py).

EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_ENVIRONMENT = 4
EXIT_BUSY = 5  # another process does it now (holds its lease)


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_INVALID) -> None:
        super().__init__(message)
        self.code = code


_opened: list[Database] = []


def open_database(url: str | None, role_prefix: str | None = None) -> Database:
    """Open the database and bring its schema up to date (backing up a SQLite file first;
    on PostgreSQL its roles too, ``role_prefix`` or the URL's: see ``migrate.upgrade``).
    ``main`` closes it when the command ends."""
    from app.db.engine import role_prefix_of

    url = url or paths.default_database_url()
    db = _database(url)
    _upgrade(db, role_prefix if role_prefix is not None else role_prefix_of(url))
    return db


def _database(url: str | None) -> Database:
    from app.db.engine import Database  # (the subcommands import what they need)

    db = Database(url or paths.default_database_url())
    _opened.append(db)
    return db


def _upgrade(db: Database, role_prefix: str | None = None) -> None:
    """Bring the schema up to date (on PostgreSQL its roles too, with ``role_prefix``);
    what cannot be done is a CliError (the database cannot be opened: its words; a schema
    this program cannot upgrade: what to do)."""
    from sqlalchemy.exc import OperationalError

    from app.db import migrate

    try:
        backup = migrate.upgrade(db, role_prefix=role_prefix if not db.is_sqlite else None)
    except migrate.SchemaError as exc:
        raise CliError(str(exc), EXIT_ENVIRONMENT) from exc
    except OperationalError as exc:
        raise CliError(
            f"Cannot open the database {db.describe()}: {exc.orig}", EXIT_ENVIRONMENT
        ) from exc
    if backup is not None:
        print(f"Database upgraded; the previous version was saved as {backup}", file=sys.stderr)


def open_database_when_reachable(url: str | None, stop: threading.Event) -> Database | None:
    """``open_database`` for a service (``serve``): while the database cannot be reached,
    say so once in the log and try again every ``outage.RETRY_SECONDS`` — the schema check
    and upgrade included — until it can (then the log says so), or until ``stop`` is set
    (None). Anything else (a refused login, a schema too new) ends the command as ever."""
    from app.services import outage
    from app.services.errors import database_unavailable

    db = _database(url)
    watch = outage.watch(db)
    while True:
        try:
            _upgrade(db)
        except CliError as exc:
            if not isinstance(exc.__cause__, Exception) or not _unreachable(exc.__cause__):
                raise
            watch.lost(exc.__cause__, "opening it to serve")
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            watch.lost(exc, "opening it to serve")
        else:
            watch.back()
            return db
        if stop.wait(outage.RETRY_SECONDS):
            return None


def _unreachable(exc: Exception) -> bool:
    """A failure to open the database that is its absence (not a schema it cannot upgrade,
    which is a DatabaseError too)."""
    from app.db.migrate import SchemaError
    from app.services.errors import database_unavailable

    return not isinstance(exc, SchemaError) and database_unavailable(exc)


def _read_secret(prompt: str, what: str) -> str:
    """A password from standard input (typed unseen on a terminal); an empty one is refused:
    setting it would have deleted the stored one."""
    if sys.stdin.isatty():
        import getpass

        secret = getpass.getpass(prompt)
    else:
        secret = sys.stdin.readline().rstrip("\r\n")
    if not secret:
        raise CliError(
            f"{what}: the input was empty, and a password cannot be empty; nothing was changed.",
            EXIT_INVALID,
        )
    return secret


# ---- subcommands ---------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from app.db import migrate

    db = open_database(args.database, args.role_prefix)
    print(f"Database {db.describe()} is at revision {migrate.current_revision(db)}.")
    if not db.is_sqlite:
        from app.db import security

        print(security.describe(db))
    return 0


def cmd_db_service_login(args: argparse.Namespace) -> int:
    from app.db import security

    db = open_database(args.database)
    if db.is_sqlite:
        raise CliError("A SQLite database has no logins: the channel service uses the file.")
    password = _read_secret(f"Password for the login {args.name}: ", "The service login")
    try:
        role = security.create_service_login(db, args.name, password)
    except security.SecurityError as exc:
        raise CliError(str(exc)) from exc
    print(
        f"The channel service signs in as '{role}': "
        f"email-campaigns --database postgresql://{role}:PASSWORD@HOST/DATABASE serve"
    )
    return 0


def cmd_config_export(args: argparse.Namespace) -> int:
    from app.services import config_io

    data = config_io.export_config(open_database(args.database))
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if args.file in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.file).write_text(text, encoding="utf-8")
    return 0


def cmd_config_import(args: argparse.Namespace) -> int:
    from app.services import config_io
    from app.services.auth import SYSTEM

    try:
        if args.file == "-":
            stdin = getattr(sys.stdin, "buffer", None)  # bytes: the file says it is UTF-8
            raw = stdin.read() if stdin is not None else sys.stdin.read().encode()
        else:
            raw = Path(args.file).read_bytes()
    except OSError as exc:
        raise CliError(f"{args.file}: cannot be read: {exc.strerror}") from exc
    try:
        data = config_io.read_config(raw)
    except config_io.ConfigFileError as exc:
        raise CliError(f"{args.file}: {exc.message}") from exc
    db = open_database(args.database)
    counts = config_io.import_config(db, SYSTEM, data, check_only=args.check)
    what = ", ".join(f"{n} {k}" for k, n in counts.items())
    if args.check:
        print(f"{args.file} can be imported into {db.describe()}: {what}. Nothing was changed.")
    else:
        print(f"Imported {what}.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from app.services import demo

    db = open_database(args.database)
    demo.seed(db)
    print(
        f"Demo organisation created in {db.describe()}. Sign in as admin, sam or alice "
        f"with the password '{demo.DEMO_PASSWORD}'."
    )
    return 0


def cmd_user_set_password(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from app.db.models import User
    from app.services.auth import SYSTEM
    from app.services.people import PeopleService

    db = open_database(args.database)
    with db.session() as s:
        user = s.scalar(select(User).where(User.login == args.login))
        if user is None:
            raise CliError(f"login: no user '{args.login}'.")
        user_id = user.id
    PeopleService(db, SYSTEM).set_password(user_id, _read_secret("New password: ", "password"))
    print(f"Password of '{args.login}' set.")
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    from app.services.auth import SYSTEM
    from app.services.people import PeopleService, UserData

    db = open_database(args.database)
    data = UserData(
        login=args.login,
        display_name=args.display_name if args.display_name is not None else args.login,
        email=args.email,
        role=args.role,
    )
    PeopleService(db, SYSTEM).create_user(data, _read_secret("Password: ", "password"))
    print(f"User '{args.login}' ({args.role}) created; they can sign in now.")
    return 0


def cmd_channel_set_password(args: argparse.Namespace) -> int:
    from app.services import secrets
    from app.services.auth import SYSTEM
    from app.services.channels import ChannelService

    db = open_database(args.database)
    store = secrets.default_store()
    if store is None:
        raise CliError(
            "No system keyring is available to keep the password. Install and unlock one "
            "(e.g. GNOME Keyring or KWallet), or choose the unencrypted file in the "
            "channel screen.",
            EXIT_ENVIRONMENT,
        )
    channel_id = _channel_id(db, args.name)
    direction = "inbound" if args.inbound else "outbound"
    password = _read_secret(f"{direction} password: ", f"{direction} password")
    ChannelService(db, SYSTEM, store).set_password(channel_id, direction, password)
    print(f"The {direction} password of '{args.name}' is kept in {store.description}.")
    return 0


def _channel_id(db: Database, name: str) -> int:
    from sqlalchemy import select

    from app.db.models import Channel

    with db.session() as s:
        channel_id = s.scalar(select(Channel.id).where(Channel.name == name))
    if channel_id is None:
        raise CliError(f"channel: no email channel named '{name}'.")
    return channel_id


def cmd_channel_sync(args: argparse.Namespace) -> int:
    from app.channel_service.early import EarlyConnection

    # connecting (TLS, login, SELECT) while the rest of the command is imported and the
    # database opened; the pass takes the session only if its settings are the usual ones
    early = EarlyConnection(args.database or paths.default_database_url(), args.name)
    try:
        from app.channel_service.forked import ReaderEnded
        from app.channel_service.servers import imap_settings
        from app.channel_service.sync import sync_channel
        from app.mail.imap import ConnectionProblem
        from app.services import secrets

        db = open_database(args.database)
        channel_id = _channel_id(db, args.name)
        store = secrets.default_store()
        with _channel_lease(db, channel_id, args.name) as stop:
            try:
                opened = early.take(imap_settings(db, channel_id, store))
                report = sync_channel(
                    db, channel_id, store, opened=opened, progress=stop.progress, stop=stop
                )
            except (ConnectionProblem, ReaderEnded) as exc:
                raise CliError(f"channel {args.name}: {exc}", EXIT_ENVIRONMENT) from exc
    finally:
        early.close()
    print(report.summary())
    if stop.is_set():
        holder = stop.holder()
        why = (
            f"{holder} took the channel over (this pass's lease ran out)"
            if holder is not None
            else "the channel's lease could not be renewed"
        )
        raise CliError(
            f"channel {args.name}: the pass stopped early: {why}. What was stored is kept; "
            "the rest is retrieved by the next pass.",
            EXIT_BUSY,
        )
    return 0


class _LeaseKept(threading.Event):
    """Set once the lease of ``channel sync`` is lost (another process retrieves the
    channel now): the pass stops after its batch. ``progress`` renews the lease."""

    def __init__(self, lease: LeaseHolder) -> None:
        super().__init__()
        self.lease = lease

    def progress(self, _done: int, _total: int) -> None:
        if not self.is_set() and not self.lease.keep():
            self.set()

    def holder(self) -> str | None:
        """Who holds the lease now, if that can be read."""
        try:
            return self.lease.current_holder()
        except Exception:  # (the database is away: the message names nobody)
            return None


@contextlib.contextmanager
def _channel_lease(db: Database, channel_id: int, name: str) -> Iterator[_LeaseKept]:
    """Hold the channel's retrieval lease during ``channel sync``, as ``serve`` and the
    workstations do: refused, naming its holder, while one of them retrieves the channel."""
    from app.services.leases import LeaseHolder, channel_lease_name

    lease = LeaseHolder(db, channel_lease_name(channel_id))
    held = lease.take()
    if held is not None:
        raise CliError(
            f"channel {name}: {held[0]} retrieves it now (it holds the channel's lease); "
            "nothing was done. Leave the retrieval to it, or stop it first.",
            EXIT_BUSY,
        )
    try:
        yield _LeaseKept(lease)
    finally:
        with contextlib.suppress(Exception):  # (the lease runs out by itself)
            lease.release()


def cmd_channel_test(args: argparse.Namespace) -> int:
    from app.channel_service.check import check_channel
    from app.services import secrets

    db = open_database(args.database)
    result = check_channel(db, _channel_id(db, args.name), secrets.default_store())
    print(result.imap_message)
    print(result.smtp_message)
    return 0 if result.ok else EXIT_ENVIRONMENT


def _lease_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not 3 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 3 and 3600 seconds")
    return value


def _housekeeping_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0.1 and 3600 seconds")
    return value


def cmd_serve(args: argparse.Namespace) -> int:
    import logging
    import signal

    from app.channel_service.runner import ChannelState, ChannelWorker
    from app.services import presence, secrets
    from app.services.errors import database_unavailable

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    # A service outlives outages, its start included: it waits for the database to come.
    db = open_database_when_reachable(args.database, done)
    if db is None:
        logging.info("stopping (the database was never reached)")
        return 0
    last: dict[int, str] = {}

    def report(state: ChannelState) -> None:
        if state.state == "syncing":
            return  # progress is for screens, not logs
        line = state.describe()
        if last.get(state.channel_id) != line:
            last[state.channel_id] = line
            logging.info("%s", line)

    service = ChannelWorker(db, secrets.default_store(), report, lease_seconds=args.lease_seconds)
    service.start()
    logging.info(
        "serving %d enabled channel(s) and the outbox of %s; stop with Ctrl+C or SIGTERM",
        len(service.workers),
        db.describe(),
    )
    # Housekeeping. Nothing here ends the process: through a database outage the workers
    # wait and carry on by themselves (the log says once that it is away, once that it is
    # back), and a bug is logged and tried again at the next tick.
    while not done.wait(args.housekeeping_seconds):
        try:
            service.start()  # channels enabled meanwhile (in any workstation) get a worker
            returned = presence.return_abandoned(db)
        except Exception as exc:
            if database_unavailable(exc):
                service.watch.lost(exc, "returning abandoned emails")
            else:
                logging.exception(
                    "housekeeping failed; trying again in %s s", args.housekeeping_seconds
                )
            continue
        service.watch.back()
        if returned:
            logging.info("%d held email(s) of silent workstations returned", len(returned))
    logging.info("stopping")
    service.stop()
    return 0


def cmd_outbox_drain(args: argparse.Namespace) -> int:
    from app.channel_service.outbox import drain_outbox
    from app.services import secrets

    db = open_database(args.database)
    channel_id = _channel_id(db, args.channel) if args.channel is not None else None
    report = drain_outbox(db, secrets.default_store(), channel_id=channel_id)
    print(report.summary())
    return 0


def cmd_emails_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from app.db.models import Campaign
    from app.services.auth import SYSTEM
    from app.services.emails import EmailQuery, EmailService

    db = open_database(args.database)
    campaign_id = None
    if args.campaign is not None:
        with db.session() as s:
            campaign_id = s.scalar(select(Campaign.id).where(Campaign.title == args.campaign))
        if campaign_id is None:
            raise CliError(f"campaign: no email campaign titled '{args.campaign}'.")
    if args.limit is not None and args.limit < 0:
        raise CliError("limit: must be 0 or more.")
    query = EmailQuery(
        campaign_id=campaign_id,
        status=EmailStatus(args.status) if args.status else None,
        limit=args.limit,
    )
    records = EmailService(db, SYSTEM).list_json(query)
    if args.json:
        sys.stdout.write(json.dumps(records, indent=2, ensure_ascii=False) + "\n")
        return 0
    for r in records:
        flags = f" [{', '.join(r['flags'])}]" if r["flags"] else ""
        print(
            f"{r['id']:>7}  {r['received_at'][:16].replace('T', ' ')} UTC  {r['status']:<11}  "
            f"{(r['campaign'] or '-')[:24]:<24}  {r['from'][:32]:<32}  {r['subject']}{flags}"
        )
    return 0


def _day_argument(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; use YYYY-MM-DD.") from None


def cmd_report_service_level(args: argparse.Namespace) -> int:
    from app.services.auth import SYSTEM
    from app.services.service_level import FROM_FIELD, ServiceLevelService

    service = ServiceLevelService(open_database(args.database), SYSTEM)
    last_day = args.to if args.to is not None else service.local_today()
    first_day = args.from_ if args.from_ is not None else last_day
    try:
        report = service.report(first_day, last_day)
    except ValidationError as exc:
        option = "--from" if exc.field == FROM_FIELD else "--to"
        raise CliError(f"{option}: {exc.message}") from exc
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
        return 0
    days = report.first_day.isoformat()
    if not report.is_single_day:
        days += f" to {report.last_day.isoformat()}"
    print(f"Service level for {days} ({report.timezone}), as of {report.now:%Y-%m-%d %H:%M} UTC")
    width = max([len("Campaign"), *(len(r.campaign) for r in report.rows)])
    print(
        f"{'Campaign':<{width}}  {'Period':>7}  {'Answered':>8}  {'Within':>8}  "
        f"{'Waiting beyond':>14}  {'Service level':>13}"
    )
    for row in (*report.rows, report.overall):
        period = f"{row.period} s" if row.period is not None else ""
        level = row.service_level
        shown = f"{level:.1f} %" if level is not None else "-"
        print(
            f"{row.campaign:<{width}}  {period:>7}  {row.answered:>8}  {row.answered_within:>8}  "
            f"{row.waiting_beyond:>14}  {shown:>13}"
        )
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    from app.ui.application import run_gui

    return run_gui(args.database)


# ---- parser --------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="email-campaigns",
        description="Email Campaigns: email queues for contact centres. "
        "Without a command, starts the desktop application.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--database",
        metavar="URL",
        help=f"database URL (default: ${paths.DATABASE_ENV}, else SQLite in the user's data "
        "folder), e.g. postgresql://user@host/emailcampaigns",
    )
    parser.set_defaults(func=cmd_gui)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def add(
        parent: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        func: Callable[[argparse.Namespace], int] | None,
        text: str,
    ) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=text, description=text)
        if func is not None:
            p.set_defaults(func=func)
        return p

    db = add(sub, "db", None, "database maintenance")
    db_sub = db.add_subparsers(title="commands", metavar="COMMAND", required=True)
    up = add(db_sub, "upgrade", cmd_db_upgrade, "upgrade the database schema to this version")
    up.add_argument(
        "--role-prefix",
        metavar="PREFIX",
        help="PostgreSQL: put PREFIX before every login name of this site (set once; lets "
        "two sites share a cluster), e.g. acme_",
    )
    svc = add(
        db_sub,
        "service-login",
        cmd_db_service_login,
        "PostgreSQL: make the channel service's own login (password from standard input)",
    )
    svc.add_argument("name", help="its name, after the site's role prefix (e.g. serve)")

    config = add(sub, "config", None, "export or import the configuration as JSON")
    config_sub = config.add_subparsers(title="commands", metavar="COMMAND", required=True)
    export = add(config_sub, "export", cmd_config_export, "write the configuration as JSON")
    export.add_argument("file", nargs="?", help="output file (default: standard output)")
    imp = add(
        config_sub, "import", cmd_config_import, "load a configuration into an empty database"
    )
    imp.add_argument("file", help="JSON file written by 'config export' ('-': standard input)")
    imp.add_argument(
        "--check",
        action="store_true",
        help="import it in a transaction of the database that is rolled back: every problem "
        "an import would meet, nothing changed",
    )

    add(sub, "demo", cmd_demo, "fill an empty database with the demo organisation")

    serve = add(sub, "serve", cmd_serve, "run the channel service (retrieval) without a GUI")
    serve.add_argument(
        "--lease-seconds",
        type=_lease_seconds,
        default=30.0,
        metavar="S",
        help="if this process dies (stops renewing its channels' leases), another one takes "
        "its channels over within S seconds (default 30)",
    )
    serve.add_argument(
        "--housekeeping-seconds",
        type=_housekeeping_seconds,
        default=30.0,
        metavar="S",
        help="how often channels enabled meanwhile are started and the emails held by "
        "silent workstations returned to their queues (default 30)",
    )

    user = add(sub, "user", None, "user accounts")
    user_sub = user.add_subparsers(title="commands", metavar="COMMAND", required=True)
    setpw = add(
        user_sub,
        "set-password",
        cmd_user_set_password,
        "set a user's password, read from standard input",
    )
    setpw.add_argument("login")
    create = add(
        user_sub,
        "create",
        cmd_user_create,
        "create a user (a site's first administrator, say), the password read from standard input",
    )
    create.add_argument("login")
    create.add_argument(
        "--role",
        required=True,
        choices=[r.value for r in Role],
        help="what the user may do",
    )
    create.add_argument("--display-name", metavar="NAME", help="the name shown (default: LOGIN)")
    create.add_argument("--email", default="", metavar="ADDRESS", help="the user's address")

    channel = add(sub, "channel", None, "email channels")
    channel_sub = channel.add_subparsers(title="commands", metavar="COMMAND", required=True)
    chpw = add(
        channel_sub,
        "set-password",
        cmd_channel_set_password,
        "keep a channel's password in the keyring, read from standard input",
    )
    chpw.add_argument("name")
    sync = add(
        channel_sub,
        "sync",
        cmd_channel_sync,
        "retrieve new email from a channel once and say what was done",
    )
    sync.add_argument("name")
    test = add(
        channel_sub,
        "test",
        cmd_channel_test,
        "log in to a channel's IMAP and SMTP servers and report precisely what fails",
    )
    test.add_argument("name")
    direction = chpw.add_mutually_exclusive_group(required=True)
    direction.add_argument("--inbound", action="store_true", help="the IMAP password")
    direction.add_argument("--outbound", action="store_true", help="the SMTP password")

    outbox = add(sub, "outbox", None, "replies waiting to be sent")
    outbox_sub = outbox.add_subparsers(title="commands", metavar="COMMAND", required=True)
    drain = add(
        outbox_sub,
        "drain",
        cmd_outbox_drain,
        "send the replies that are due once (retrying what failed temporarily) and report",
    )
    drain.add_argument("--channel", metavar="NAME", help="only replies sent through this channel")

    emails = add(sub, "emails", None, "email records")
    emails_sub = emails.add_subparsers(title="commands", metavar="COMMAND", required=True)
    listing = add(
        emails_sub,
        "list",
        cmd_emails_list,
        "list email records, newest first (docs/emails-json.md describes --json)",
    )
    listing.add_argument("--json", action="store_true", help="write a JSON array")
    listing.add_argument("--campaign", metavar="TITLE", help="only this campaign's emails")
    listing.add_argument(
        "--status",
        choices=[s.value for s in EmailStatus],
        help="only emails with this status",
    )
    listing.add_argument("--limit", type=int, metavar="N", help="at most N emails")

    report = add(sub, "report", None, "reports")
    report_sub = report.add_subparsers(title="commands", metavar="COMMAND", required=True)
    level = add(
        report_sub,
        "service-level",
        cmd_report_service_level,
        "the service level per campaign and overall for days in the organisation's time zone "
        "(docs/service-level.md describes it and --json)",
    )
    level.add_argument("--json", action="store_true", help="write a JSON object")
    level.add_argument(
        "--from",
        dest="from_",
        type=_day_argument,
        metavar="YYYY-MM-DD",
        help="first day (default: the last day)",
    )
    level.add_argument(
        "--to", type=_day_argument, metavar="YYYY-MM-DD", help="last day (default: today)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"email-campaigns: error: {exc}", file=sys.stderr)
        return exc.code
    except ServiceError as exc:
        print(f"email-campaigns: error: {exc}", file=sys.stderr)
        secret_error = _loaded("app.services.secrets", "SecretStoreError")
        if secret_error is not None and isinstance(exc, secret_error):
            return EXIT_ENVIRONMENT  # the keyring failed, not the input
        return EXIT_INVALID
    except Exception as exc:
        database_error = _loaded("sqlalchemy.exc", "SQLAlchemyError")
        if database_error is None or not isinstance(exc, database_error):
            raise
        print(f"email-campaigns: database error: {exc}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    finally:
        while _opened:
            _opened.pop().dispose()
        if args.func is not cmd_gui:
            _skip_final_collection()


def _loaded(module: str, name: str) -> type[BaseException] | None:
    """An exception class of ``module`` if that was imported, else None: what was never
    imported cannot have been raised (the subcommands import what they use)."""
    found = sys.modules.get(module)
    return getattr(found, name, None) if found is not None else None


def _skip_final_collection() -> None:
    """At exit, Python's last garbage collections walk every object still loaded (SQLAlchemy,
    the models, Qt): 80-150 ms of a command's time, to free memory the process's end frees
    anyway. Frozen objects are left out of them; exit handlers and buffers run as usual.
    Registered for the process's exit, not done now: ``main`` is also called in-process
    (tests), where everything must stay collectable."""
    import atexit
    import gc

    atexit.unregister(gc.freeze)  # once, however often main runs
    atexit.register(gc.freeze)
