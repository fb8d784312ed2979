"""Retrieval benchmark: our ``channel sync`` against mbsync, getmail6 and a bare IMAP FETCH.

Generates N realistic messages (deterministic: seeded), APPENDs them to a mailbox of a real
Dovecot (tests/servers/mail.py, on free ports of 127.0.0.1), then gives every contender its own
copy of that mailbox (the Maildir with Dovecot's indexes, copied on disk: same UIDs, same
state) and times it as a child process, with the child's peak memory (ru_maxrss from wait4):

- ours: ``email-campaigns channel sync`` into a fresh SQLite database (demo configuration, a
  channel with Subject, Sender and Body filters, "mark as read" after retrieval);
- mbsync (Debian's isync): pull into a Maildir;
- getmail6: into a Maildir, as an unprivileged user (it refuses to deliver as root);
- bare FETCH: imapclient fetching BODY.PEEK[] of every message in batches, storing nothing.

Each contender is checked to have retrieved all N messages. Needs root (Dovecot switches
users) and the Debian packages of packaging/install-system-deps.sh, plus isync and getmail6
for those two contenders (see bench/README.md). Run from the repository root:

    .venv/bin/python bench/ingest.py --n 10000
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
import binascii
import json
import os
import pwd
import random
import shutil
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.header import Header
from email.utils import format_datetime, formataddr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_USER = "ecbench"
CHANNEL = "Bench"
SEED = 20261127
APPEND_CHUNK = 250  # messages per MULTIAPPEND command
BARE_FETCH_BATCH = 500


# ---- the messages ----------------------------------------------------------------

SENTENCES = {
    "en": [
        "I ordered a kettle three weeks ago and it still has not arrived.",
        "Could you please tell me when my parcel will be delivered?",
        "The invoice shows the wrong address; please correct it.",
        "I would like to return the shoes, they are one size too small.",
        "Your colleague on the phone promised a call back, which never came.",
        "Thank you for the quick answer yesterday, that solved it.",
        "Please find the receipt attached to this message.",
        "My customer number is in the subject line.",
    ],
    "de": [
        "Ich habe vor drei Wochen einen Wasserkocher bestellt, der noch nicht angekommen ist.",
        "Hiermit erkläre ich die Kündigung meines Vertrags zum nächstmöglichen Termin.",
        "Die Rechnung enthält eine falsche Anschrift, bitte korrigieren Sie das.",
        "Mit freundlichen Grüßen aus Köln, und vielen Dank für Ihre Mühe.",
        "Die Größe passt leider nicht, ich möchte die Schuhe zurückschicken.",
    ],
    "fr": [
        "J'ai commandé une bouilloire il y a trois semaines et je ne l'ai toujours pas reçue.",
        "Pourriez-vous m'indiquer la date de livraison prévue ?",
        "Je souhaite être remboursé, le produit était défectueux à l'arrivée.",
        "Veuillez trouver ci-joint le reçu de ma commande, merci d'avance.",
    ],
    "es": [
        "Quisiera saber cuándo llegará mi pedido, ya pasó más de una semana.",
        "La factura tiene un error en el número de identificación fiscal.",
        "Muchas gracias por su atención, quedo a la espera de su respuesta.",
    ],
    "pl": [
        "Zamówiłem czajnik trzy tygodnie temu i nadal nie dotarł.",
        "Proszę o zwrot pieniędzy za uszkodzony towar, dziękuję za szybką odpowiedź.",
    ],
    "el": ["Θα ήθελα να επιστρέψω το προϊόν, ευχαριστώ πολύ για τη βοήθεια."],
    "ja": [
        "三週間前に注文した電気ケトルがまだ届いていません。",
        "請求書の住所が間違っていますので、修正をお願いします。",
    ],
}
SUBJECTS = [
    "Where is my order {n}?",
    "Question about invoice {n}",
    "Return of item {n}",
    "Refund request {n}",
    "Kündigung Vertrag Nr. {n}",
    "Größe passt nicht – Bestellung {n}",
    "Réclamation commande n° {n}",
    "Consulta sobre el pedido {n}",
    "Zamówienie {n} – reklamacja",
    "注文番号 {n} について",
    "Change of address",
    "Thank you!",
    "Re: Your ticket {n}",
]
NAMES = [
    "Jürgen Größe",
    "Anna Müller",
    "Zoë Lefèvre",
    "José Martínez",
    "Łukasz Wójcik",
    "山田 太郎",
    "Νίκος Παπαδόπουλος",
    "Mary O'Brien",
    "John Smith",
    "Chloé Dubois",
]
DOMAINS = ["example.com", "mail.example.de", "example.fr", "partner.example.org", "example.jp"]
ATTACHMENTS = [
    ("application/pdf", "receipt.pdf"),
    ("image/png", "photo.png"),
    ("image/jpeg", "Schaden_Größe.jpg"),
    ("text/csv", "items.csv"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Brief.docx"),
]


def _encoded(text: str) -> str:
    """A header value, RFC 2047 encoded if it is not ASCII."""
    if text.isascii():
        return text
    return Header(text, "utf-8").encode(linesep="\r\n")


def _paragraphs(rng: random.Random, size: int) -> list[str]:
    lang = rng.choice(["en", "en", "en", "de", "de", "fr", "es", "pl", "el", "ja"])
    out: list[str] = []
    total = 0
    while total < size:
        para = " ".join(rng.choice(SENTENCES[lang]) for _ in range(rng.randint(2, 5)))
        out.append(para)
        total += len(para.encode())
    return out


def _text_part(paragraphs: list[str], charset: str = "utf-8") -> tuple[str, bytes]:
    """(headers, encoded body) of a text/plain part in quoted-printable."""
    text = "\n\n".join(textwrap.fill(p, 72) for p in paragraphs) + "\n"
    encoded = binascii.b2a_qp(text.encode(charset, "replace"))
    return (
        f"Content-Type: text/plain; charset={charset}\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n",
        encoded.replace(b"\n", b"\r\n"),
    )


def _html_part(paragraphs: list[str]) -> tuple[str, bytes]:
    from html import escape

    html = (
        '<html><head><meta charset="utf-8"><style>p{font-family:Arial}</style></head>\n'
        "<body>\n"
        + "\n".join(f'<p style="margin:0 0 8px 0">{escape(p)}</p>' for p in paragraphs)
        + '\n<div class="signature"><b>Sent from my phone</b></div>\n</body></html>\n'
    )
    encoded = binascii.b2a_qp(html.encode())
    return (
        'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n',
        encoded.replace(b"\n", b"\r\n"),
    )


def _attachment(rng: random.Random) -> tuple[str, bytes]:
    content_type, name = rng.choice(ATTACHMENTS)
    data = rng.randbytes(rng.randint(600, 3000))
    if name.isascii():
        disposition = f'attachment; filename="{name}"'
    else:
        from urllib.parse import quote

        disposition = f"attachment; filename*=utf-8''{quote(name)}"
    body = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (
        f'Content-Type: {content_type}; name="{_encoded(name)}"\r\n'
        f"Content-Disposition: {disposition}\r\nContent-Transfer-Encoding: base64\r\n",
        body,
    )


def _multipart(subtype: str, parts: list[tuple[str, bytes]], boundary: str) -> tuple[str, bytes]:
    body = b"This is a multi-part message in MIME format.\r\n"
    for headers, payload in parts:
        body += f"\r\n--{boundary}\r\n{headers}\r\n".encode() + payload.rstrip(b"\r\n")
    body += f"\r\n--{boundary}--\r\n".encode()
    return f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n', body


def make_message(n: int, rng: random.Random) -> bytes:
    """One customer email: headers as real mail has them, one of several MIME structures."""
    name = rng.choice(NAMES)
    local = f"customer{rng.randint(1, 5000)}"
    domain = rng.choice(DOMAINS)
    when = 1_790_000_000 + n * 37 + rng.randint(0, 30)
    from datetime import UTC, datetime

    date = format_datetime(datetime.fromtimestamp(when, UTC))
    subject = rng.choice(SUBJECTS).format(n=10_000 + n)
    msgid = f"<{n}.{rng.getrandbits(48):012x}@{domain}>"
    hops = "".join(
        f"Received: from mx{h}.{domain} (mx{h}.{domain} [192.0.2.{rng.randint(1, 254)}])\r\n"
        f"\tby mx.example.test (Postfix) with ESMTPS id {rng.getrandbits(40):010X}\r\n"
        f"\tfor <support@example.test>; {date}\r\n"
        for h in range(rng.randint(1, 3))
    )
    dkim = base64.b64encode(rng.randbytes(128)).decode()
    headers = (
        f"Return-Path: <{local}@{domain}>\r\n{hops}"
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=mail;\r\n"
        f"\th=from:to:subject:date:message-id; bh={dkim[:44]};\r\n"
        f"\tb={dkim[44:120]}\r\n\t{dkim[120:]}\r\n"
        f"From: {formataddr((name, f'{local}@{domain}'), charset='utf-8')}\r\n"
        "To: Example Support <support@example.test>\r\n"
    )
    if rng.random() < 0.2:
        headers += f"Cc: {formataddr((rng.choice(NAMES), f'cc{n}@{domain}'), charset='utf-8')}\r\n"
    headers += f"Subject: {_encoded(subject)}\r\nDate: {date}\r\nMessage-ID: {msgid}\r\n"
    if subject.startswith("Re:") or rng.random() < 0.1:
        parent = f"<{n - 1}.reply@example.test>"
        headers += f"In-Reply-To: {parent}\r\nReferences: <root{n}@example.test> {parent}\r\n"
    if rng.random() < 0.03:
        headers += "Auto-Submitted: auto-replied\r\n"
    headers += (
        f"X-Mailer: {rng.choice(['Thunderbird 115.6', 'Apple Mail (2.3731)', 'Outlook 16.0'])}\r\n"
        "MIME-Version: 1.0\r\n"
    )
    size = int(rng.lognormvariate(6.7, 0.6))  # text bytes: median ~0.8 KB
    paragraphs = _paragraphs(rng, size)
    kind = rng.random()
    boundary = f"----=_Part_{n}_{rng.getrandbits(32):08x}"
    if kind < 0.35:
        part = _text_part(paragraphs, "iso-8859-1" if rng.random() < 0.1 else "utf-8")
    elif kind < 0.50:
        part = _html_part(paragraphs)
    elif kind < 0.78:
        part = _multipart("alternative", [_text_part(paragraphs), _html_part(paragraphs)], boundary)
    else:
        inner = _multipart(
            "alternative", [_text_part(paragraphs), _html_part(paragraphs)], boundary + "_alt"
        )
        files = [_attachment(rng) for _ in range(rng.randint(1, 2))]
        part = _multipart("mixed", [inner, *files], boundary)
    part_headers, body = part
    return (headers + part_headers + "\r\n").encode() + body


def make_large_message(n: int, rng: random.Random, megabytes: float) -> bytes:
    """A customer email of about ``megabytes`` MB: a short text and a base64 attachment."""
    small = make_message(n, rng)
    head, _, _ = small.partition(b"MIME-Version: 1.0\r\n")
    boundary = f"----=_Large_{n}_{rng.getrandbits(32):08x}"
    data = rng.randbytes(int(megabytes * 1e6 * 3 / 4))
    scan = base64.encodebytes(data).replace(b"\n", b"\r\n")
    text = _text_part(["Please find the scan of my receipt attached."])
    file = (
        'Content-Type: application/pdf; name="scan.pdf"\r\n'
        'Content-Disposition: attachment; filename="scan.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n",
        scan,
    )
    part_headers, body = _multipart("mixed", [text, file], boundary)
    return head + b"MIME-Version: 1.0\r\n" + (part_headers + "\r\n").encode() + body


def messages(n: int, large: int = 0, large_mb: float = 50) -> Iterator[bytes]:
    """``n`` messages; ``large`` of them (spread evenly) of ``large_mb`` MB each."""
    rng = random.Random(SEED)
    big = {i * n // large + n // (2 * large) for i in range(large)} if large else set()
    for i in range(n):
        yield make_large_message(i, rng, large_mb) if i in big else make_message(i, rng)


# ---- measuring child processes ---------------------------------------------------


@dataclass
class Result:
    name: str
    seconds: float
    peak_mb: float
    retrieved: int
    note: str = ""


def run_timed(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    user: str | None = None,
    cwd: Path | None = None,
) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB of the child and its descendants, output); raises on
    a non-zero exit."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            user=user,
            group=user,  # (its own group: getmail refuses to deliver as GID 0 too)
            extra_groups=[] if user else None,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited with {proc.returncode}:\n{text[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, text


# ---- the mailbox -----------------------------------------------------------------


class Bench:
    def __init__(self, n: int, base: Path, large: int = 0, large_mb: float = 50) -> None:
        from tests.servers.mail import MailServer

        self.n = n
        self.large, self.large_mb = large, large_mb
        self.base = base
        self.server = MailServer(base / "srv")
        self.pristine_home: Path | None = None
        self.total_bytes = 0
        self._clones = 0

    def home_of(self, address: str) -> Path:
        local, domain = address.split("@")
        return self.base / "srv" / "mail" / domain / local

    def populate(self) -> float:
        """APPEND the N messages to a fresh mailbox; returns the seconds it took."""
        box = self.server.new_mailbox("pristine")
        started = time.perf_counter()
        with self.server.imap(box.address) as client:
            chunk: list[bytes] = []
            for raw in messages(self.n, self.large, self.large_mb):
                self.total_bytes += len(raw)
                chunk.append(raw)
                if len(chunk) == APPEND_CHUNK or sum(map(len, chunk)) > 64e6:
                    client.multiappend("INBOX", chunk)
                    chunk = []
            if chunk:
                client.multiappend("INBOX", chunk)
            info = client.select_folder("INBOX", readonly=True)
            if int(info[b"EXISTS"]) != self.n:
                raise RuntimeError(f"the mailbox has {info[b'EXISTS']} messages, not {self.n}")
        self.pristine_home = self.home_of(box.address)
        return time.perf_counter() - started

    def clone(self, prefix: str) -> tuple[str, str]:
        """A new account whose Maildir is a copy of the pristine one: (address, password)."""
        assert self.pristine_home is not None
        self._clones += 1
        box = self.server.new_mailbox(f"{prefix}{self._clones}")
        home = self.home_of(box.address)
        home.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", str(self.pristine_home), str(home)], check=True)
        return box.address, box.password

    def count_on_server(self, address: str, criteria: str) -> int:
        with self.server.imap(address) as client:
            client.select_folder("INBOX", readonly=True)
            return len(client.search([criteria]))


# ---- contenders ------------------------------------------------------------------


def bare_fetch_child(spec: str) -> int:
    """The bare FETCH contender (run as a child process of the benchmark)."""
    import ssl

    from imapclient import IMAPClient

    s = json.loads(spec)
    context = ssl.create_default_context(cafile=s["ca"])
    client = IMAPClient(s["host"], port=s["port"], ssl=True, ssl_context=context)
    client.login(s["user"], s["password"])
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["ALL"])
    count = size = 0
    for start in range(0, len(uids), BARE_FETCH_BATCH):
        data = client.fetch(uids[start : start + BARE_FETCH_BATCH], ["BODY.PEEK[]"])
        for item in data.values():
            count += 1
            size += len(item[b"BODY[]"])
    client.logout()
    print(json.dumps({"count": count, "bytes": size}))
    return 0


def run_bare_fetch(bench: Bench) -> Result:
    address, password = bench.clone("fetch")
    spec = {
        "host": bench.server.host,
        "port": bench.server.imaps_port,
        "user": address,
        "password": password,
        "ca": str(bench.server.ca_file),
    }
    argv = [sys.executable, __file__, "--bare-fetch-child", json.dumps(spec)]
    seconds, peak, out = run_timed(argv)
    got = json.loads(out.strip().splitlines()[-1])
    return Result(
        "bare FETCH (imapclient)",
        seconds,
        peak,
        got["count"],
        f"{got['bytes'] / 1e6:.1f} MB, batches of {BARE_FETCH_BATCH}",
    )


def _our_cli() -> list[str]:
    script = Path(sys.executable).with_name("email-campaigns")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app"]


def compile_ours() -> None:
    """Compile our modules' bytecode, as installing the package does (pip, the Debian and
    PyInstaller packages): the editable install of a checkout has none, and without it every
    start compiles ``app`` again (0.3 s; more where PYTHONDONTWRITEBYTECODE is set)."""
    import compileall

    compileall.compile_dir(str(ROOT / "app"), quiet=1)


def prepare_ours(bench: Bench, work: Path) -> tuple[list[str], dict[str, str], str]:
    """A fresh SQLite database with the demo configuration and a channel on a clone of the
    mailbox: (command, environment, database URL)."""
    address, password = bench.clone("ours")
    home = work / "home"
    url = f"sqlite:///{work / 'bench.sqlite3'}"
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "EMAIL_CAMPAIGNS_HOME": str(home),
    }
    cli = [*_our_cli(), "--database", url]
    subprocess.run([*cli, "demo"], env=env, check=True, capture_output=True)
    os.environ["EMAIL_CAMPAIGNS_HOME"] = str(home)
    os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    from sqlalchemy import select

    from app.db.engine import Database
    from app.db.models import AfterRetrieval, Campaign, Security
    from app.services.auth import SYSTEM
    from app.services.channels import ChannelData, ChannelService, FilterData
    from app.services.secrets import choose_plain_file_fallback

    db = Database(url)
    with db.session() as s:
        campaigns = {title: id_ for title, id_ in s.execute(select(Campaign.title, Campaign.id))}
    store = choose_plain_file_fallback()
    channels = ChannelService(db, SYSTEM, store)
    channel = channels.create_channel(
        ChannelData(
            name=CHANNEL,
            email_address=address,
            display_name="Bench Support",
            default_campaign_id=campaigns["General Enquiries"],
            enabled=True,
            imap_host=bench.server.host,
            imap_port=bench.server.imaps_port,
            imap_security=Security.SSL,
            imap_username=address,
            after_retrieval=AfterRetrieval.MARK_READ,
            ca_file=str(bench.server.ca_file),
            smtp_host=bench.server.host,
            smtp_port=bench.server.smtp_port,
            smtp_security=Security.STARTTLS,
            smtp_username=address,
        )
    )
    for field, match, keyword, target in (
        ("subject", "contains", "order", "Orders"),
        ("subject", "regex", r"(?i)\b(return|refund|Rücksendung)\b", "Returns"),
        ("sender", "ends_with", "@partner.example.org", "Sales Leads"),
        ("body", "contains", "kündigung", "Complaints"),
        ("body", "regex", r"(?i)defectueux|défectueux|uszkodzony", "Complaints"),
    ):
        channels.add_filter(channel.id, FilterData(field, match, keyword, campaigns[target]))
    channels.set_password(channel.id, "inbound", password)
    db.dispose()
    return [*cli, "channel", "sync", CHANNEL], env, url


def run_ours(bench: Bench, work: Path) -> Result:
    work.mkdir(parents=True)
    compile_ours()
    argv, env, url = prepare_ours(bench, work)
    address = _channel_address(url)
    seconds, peak, out = run_timed(argv, env=env)
    from sqlalchemy import func, select

    from app.db.engine import Database
    from app.db.models import Email

    db = Database(url)
    with db.session() as s:
        stored = s.scalar(select(func.count()).select_from(Email)) or 0
        by_campaign = s.scalar(select(func.count(func.distinct(Email.campaign_id)))) or 0
    db.dispose()
    unseen = bench.count_on_server(address, "UNSEEN")
    if unseen:
        raise RuntimeError(f"ours: {unseen} messages were left unread on the server\n{out}")
    return Result(
        "email-campaigns channel sync",
        seconds,
        peak,
        stored,
        f"SQLite, Body filter, routed to {by_campaign} campaigns, marked read",
    )


def _channel_address(url: str) -> str:
    from sqlalchemy import select

    from app.db.engine import Database
    from app.db.models import Channel

    db = Database(url)
    with db.session() as s:
        address = s.scalars(select(Channel.imap_username).where(Channel.name == CHANNEL)).one()
    db.dispose()
    return address


def _maildir_count(path: Path) -> int:
    return sum(1 for sub in ("cur", "new") if (path / sub).is_dir() for _ in (path / sub).iterdir())


def run_mbsync(bench: Bench, work: Path) -> Result:
    address, password = bench.clone("mbsync")
    work.mkdir(parents=True)
    maildir = work / "Maildir"
    maildir.mkdir()
    rc = work / "mbsyncrc"
    rc.write_text(
        textwrap.dedent(
            f"""\
            IMAPAccount bench
            # mbsync checks the certificate's DNS names only (not IP addresses)
            Host localhost
            Port {bench.server.imaps_port}
            User {address}
            Pass {password}
            SSLType IMAPS
            CertificateFile {bench.server.ca_file}

            IMAPStore bench-far
            Account bench

            MaildirStore bench-near
            Path {maildir}/
            Inbox {maildir}/INBOX

            Channel bench
            Far :bench-far:
            Near :bench-near:
            Patterns INBOX
            Create Near
            Sync Pull
            Expunge None
            SyncState *
            """
        )
    )
    seconds, peak, _ = run_timed(["mbsync", "-c", str(rc), "-q", "bench"])
    return Result(
        "mbsync (isync)", seconds, peak, _maildir_count(maildir / "INBOX"), "Maildir, fsync"
    )


def ensure_bench_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(BENCH_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                BENCH_USER,
            ],
            check=True,
        )
        return pwd.getpwnam(BENCH_USER)


def run_getmail(bench: Bench, work: Path) -> Result:
    address, password = bench.clone("getmail")
    user = ensure_bench_user()
    work.mkdir(parents=True)
    maildir = work / "Maildir"
    for sub in ("", "cur", "new", "tmp"):
        (maildir / sub).mkdir(exist_ok=True)
    ca = work / "ca.pem"
    shutil.copy(bench.server.ca_file, ca)
    rc = work / "getmailrc"
    rc.write_text(
        textwrap.dedent(
            f"""\
            [retriever]
            type = SimpleIMAPSSLRetriever
            server = localhost
            port = {bench.server.imaps_port}
            username = {address}
            password = {password}
            mailboxes = ("INBOX",)
            ca_certs = {ca}

            [destination]
            type = Maildir
            path = {maildir}/

            [options]
            read_all = true
            delete = false
            verbose = 0
            """
        )
    )
    for path in [work, *work.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)
    rc.chmod(0o600)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work), "LANG": "C.UTF-8"}
    seconds, peak, _ = run_timed(
        ["getmail", "--getmaildir", str(work), "--rcfile", str(rc)],
        env=env,
        user=BENCH_USER,
        cwd=work,
    )
    return Result(
        "getmail6", seconds, peak, _maildir_count(maildir), f"Maildir, as user {BENCH_USER}"
    )


# ---- report ----------------------------------------------------------------------


def median_result(runs: list[Result]) -> Result:
    best = sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]
    if len(runs) > 1:
        times = ", ".join(f"{r.seconds:.2f}" for r in runs)
        best.note += f"; median of {len(runs)} runs ({times} s)"
        best.peak_mb = max(r.peak_mb for r in runs)
    return best


def print_table(n: int, mbytes: float, results: list[Result]) -> None:
    by_name = {r.name: r for r in results}
    mbsync = next((r for k, r in by_name.items() if k.startswith("mbsync")), None)
    fetch = next((r for k, r in by_name.items() if k.startswith("bare FETCH")), None)
    print(f"\n{n} messages, {mbytes:.1f} MB")
    head = (
        f"{'contender':<30} {'seconds':>8} {'msg/s':>8} {'peak MB':>8} "
        f"{'x mbsync':>9} {'x FETCH':>8}  retrieved"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        vs_mbsync = f"{r.seconds / mbsync.seconds:.2f}" if mbsync else "-"
        vs_fetch = f"{r.seconds / fetch.seconds:.2f}" if fetch else "-"
        print(
            f"{r.name:<30} {r.seconds:>8.2f} {n / r.seconds:>8.0f} {r.peak_mb:>8.1f} "
            f"{vs_mbsync:>9} {vs_fetch:>8}  {r.retrieved}{'' if r.retrieved == n else ' (!)'}"
        )
    for r in results:
        if r.note:
            print(f"  {r.name}: {r.note}")
    ours = by_name.get("email-campaigns channel sync")
    if ours is not None:
        checks = []
        if mbsync is not None:
            ok = ours.seconds <= 0.5 * mbsync.seconds
            checks.append(f"<= 0.5 x mbsync: {'met' if ok else 'NOT met'}")
        if fetch is not None:
            ok = ours.seconds <= 3 * fetch.seconds
            checks.append(f"<= 3 x bare FETCH: {'met' if ok else 'NOT met'}")
        if checks:
            print("targets: " + "; ".join(checks))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="number of messages (1000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender (median)")
    parser.add_argument("--skip-mbsync", action="store_true")
    parser.add_argument("--skip-getmail", action="store_true")
    parser.add_argument("--only-ours", action="store_true", help="ours and bare FETCH only")
    parser.add_argument(
        "--keep", action="store_true", help="keep the folder (server, mailboxes, databases)"
    )
    parser.add_argument(
        "--large", type=int, default=0, help="of the N messages, this many large ones (0)"
    )
    parser.add_argument(
        "--large-mb", type=float, default=50, help="the size of a large message in MB (50)"
    )
    parser.add_argument("--bare-fetch-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_fetch_child:
        return bare_fetch_child(args.bare_fetch_child)

    from tests.servers.mail import MailServer

    reason = MailServer.unavailable()
    if reason:
        print(f"ingest: cannot start Dovecot: {reason}", file=sys.stderr)
        return 2
    skip_mbsync = args.skip_mbsync or args.only_ours
    skip_getmail = args.skip_getmail or args.only_ours
    if not skip_mbsync and shutil.which("mbsync") is None:
        print("ingest: mbsync is missing (apt-get install isync): skipped", file=sys.stderr)
        skip_mbsync = True
    if not skip_getmail and shutil.which("getmail") is None:
        print("ingest: getmail is missing (apt-get install getmail6): skipped", file=sys.stderr)
        skip_getmail = True

    base = Path(tempfile.mkdtemp(prefix="ec-bench-", dir="/tmp"))
    base.chmod(0o755)  # the daemons' users must reach the server's folder
    bench = Bench(args.n, base, args.large, args.large_mb)
    results: list[Result] = []
    try:
        bench.server.start()
        seconds = bench.populate()
        mbytes = bench.total_bytes / 1e6
        print(
            f"appended {args.n} messages ({mbytes:.1f} MB, "
            f"{bench.total_bytes / args.n / 1024:.1f} KB on average) in {seconds:.1f} s",
            flush=True,
        )
        contenders: list[tuple[str, Callable[[int], Result]]] = [
            ("bare FETCH", lambda i: run_bare_fetch(bench)),
            ("ours", lambda i: run_ours(bench, base / f"ours{i}")),
        ]
        if not skip_mbsync:
            contenders.append(("mbsync", lambda i: run_mbsync(bench, base / f"mbsync{i}")))
        if not skip_getmail:
            contenders.append(("getmail", lambda i: run_getmail(bench, base / f"getmail{i}")))
        failed = 0
        for label, run in contenders:
            runs = []
            for i in range(args.repeat):
                try:
                    r = run(i)
                except RuntimeError as exc:  # e.g. getmail timing out its delivery child
                    failed += 1
                    print(f"  {label}: run failed: {str(exc)[-500:]}", flush=True)
                    continue
                print(
                    f"  {label}: {r.seconds:.2f} s, {r.peak_mb:.0f} MB, {r.retrieved}", flush=True
                )
                if r.retrieved != args.n:
                    raise RuntimeError(f"{label} retrieved {r.retrieved} of {args.n} messages")
                runs.append(r)
            if runs:
                results.append(median_result(runs))
        print_table(args.n, mbytes, results)
        if failed:
            print(f"{failed} run(s) failed (see above): not in the table", file=sys.stderr)
            return 1
    finally:
        bench.server.stop()
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
