"""A real mail stack on 127.0.0.1: dovecot (IMAP+STARTTLS, IMAPS, LMTP) and postfix (SMTP).

Layout of the base folder (nothing is read from /etc/dovecot or /etc/postfix/main.cf)::

    tls/        ca.pem (trust this), server.pem/.key (localhost, 127.0.0.1)
    dovecot/    dovecot.conf, users/DOMAIN/LOCALPART (one passwd-file per user)
    run/        dovecot base_dir and state_dir (sockets, master.pid)
    mail/       Maildirs, owned by the ``vmail`` user
    postfix/    main.cf, master.cf, mailboxes(.db), outbound.regexp, refused(.db)
    spool/ pfdata/  postfix queue_directory and data_directory
    logs/       dovecot.log, postfix.log, *.out (daemon stdout/stderr)

Postfix delivers the local domains into dovecot over LMTP. Every other recipient is rewritten
to the ``outbound`` mailbox, so mail "to customers" can be read back over IMAP and never leaves
the machine. SMTP offers STARTTLS and AUTH PLAIN/LOGIN (after STARTTLS) against dovecot's users.
``refuse_recipient`` makes SMTP refuse chosen addresses at RCPT TO with a chosen answer;
``limit_recipients`` caps the recipients of one message (and how many more it bears).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import smtplib
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from types import TracebackType

from imapclient import IMAPClient

from tests.servers import (
    HOST,
    Daemon,
    ServerError,
    ensure_free,
    free_ports,
    is_root,
    log_tails,
    port_open,
    prepare_base_dir,
    wait_until,
)

DOVECOT = "/usr/sbin/dovecot"
POSTFIX = "/usr/sbin/postfix"
POSTMAP = "/usr/sbin/postmap"
POSTFIX_MASTER = "/usr/lib/postfix/sbin/master"
DOVECOT_LMTP = "/usr/lib/dovecot/lmtp"
OPENSSL = "/usr/bin/openssl"
SCRIPT = "/usr/bin/script"
DH_FILE = Path("/usr/share/dovecot/dh.pem")
MAIL_USER = "vmail"
START_TIMEOUT = 30.0

# the local part becomes a file name: no leading dot, no slash
_ADDRESS = re.compile(r"[a-z0-9_+-][a-z0-9._+-]*@([a-z0-9-]+(?:\.[a-z0-9-]+)+)")

_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""

# master.cf of a minimal postfix: one smtpd on our port, the rest is the stock set of services.
# max_use=1: an smtpd process serves one client, then exits and so drops its connection to
# dovecot's auth process (which otherwise outlives dovecot's stop, waiting for that client)
_MASTER_CF = """\
# service  type  private unpriv  chroot  wakeup  maxproc command
{listen}   inet  n       -       n       -       -       smtpd -o max_use=1
pickup     unix  n       -       n       60      1       pickup
cleanup    unix  n       -       n       -       0       cleanup
qmgr       unix  n       -       n       300     1       qmgr
tlsmgr     unix  -       -       n       1000?   1       tlsmgr
rewrite    unix  -       -       n       -       -       trivial-rewrite
bounce     unix  -       -       n       -       0       bounce
defer      unix  -       -       n       -       0       bounce
trace      unix  -       -       n       -       0       bounce
verify     unix  -       -       n       -       1       verify
flush      unix  n       -       n       1000?   0       flush
proxymap   unix  -       -       n       -       -       proxymap
proxywrite unix  -       -       n       -       1       proxymap
smtp       unix  -       -       n       -       -       smtp
relay      unix  -       -       n       -       -       smtp
showq      unix  n       -       n       -       -       showq
error      unix  -       -       n       -       -       error
retry      unix  -       -       n       -       -       error
discard    unix  -       -       n       -       -       discard
lmtp       unix  -       -       n       -       -       lmtp
anvil      unix  -       -       n       -       1       anvil
scache     unix  -       -       n       -       1       scache
postlog    unix-dgram n  -       n       -       1       postlogd
"""


@dataclass(frozen=True)
class Mailbox:
    """A mail account on the test server."""

    address: str
    password: str


class MailServer:
    """dovecot + postfix in ``base_dir`` on free ports of 127.0.0.1 (see the module docstring)."""

    host = HOST

    def __init__(
        self,
        base_dir: str | os.PathLike[str],
        *,
        domains: tuple[str, ...] = ("example.test",),
        password: str = "secret",
    ) -> None:
        self.base_dir = Path(base_dir).absolute()
        self.domains = tuple(d.lower() for d in domains)
        self.outbound = f"outbound@{self.domains[0]}"
        self._password = password
        self._users: dict[str, str] = {}
        self._lock = threading.Lock()
        self._counter = 0
        self._map_mtime = 0
        self._refused: dict[str, str] = {}
        self._refused_mtime = 0
        self._smtpd_limits: dict[str, int] = {}  # main.cf settings of limit_recipients()
        self._ports: dict[str, int] = {}
        self._dovecot: Daemon | None = None
        self._postfix: Daemon | None = None
        # unique per base folder: dovecot's instance_name and postfix's syslog_name
        self._tag = "ec-" + hashlib.sha1(str(self.base_dir).encode()).hexdigest()[:8]

    # ------------------------------------------------------------------ properties
    def _port(self, name: str) -> int:
        if name not in self._ports:
            raise ServerError("MailServer is not started")
        return self._ports[name]

    @property
    def imap_port(self) -> int:
        """Plain IMAP, STARTTLS offered."""
        return self._port("imap")

    @property
    def imaps_port(self) -> int:
        return self._port("imaps")

    @property
    def smtp_port(self) -> int:
        """SMTP with STARTTLS; AUTH PLAIN/LOGIN after STARTTLS."""
        return self._port("smtp")

    @property
    def lmtp_port(self) -> int:
        return self._port("lmtp")

    @property
    def ca_file(self) -> Path:
        """The CA that signed the servers' certificate (for localhost and 127.0.0.1)."""
        return self.base_dir / "tls" / "ca.pem"

    @property
    def password(self) -> str:
        """Password of the outbound mailbox and the default for add_user()."""
        return self._password

    @property
    def users(self) -> dict[str, str]:
        return dict(self._users)

    @property
    def logs(self) -> list[Path]:
        logs = self.base_dir / "logs"
        return [logs / n for n in ("dovecot.out", "dovecot.log", "postfix.out", "postfix.log")]

    def log_tail(self, lines: int = 25) -> str:
        return log_tails(self.logs, lines)

    # ------------------------------------------------------------------ availability
    @staticmethod
    def unavailable() -> str | None:
        """Why the mail stack cannot run here, or None."""
        if not is_root():
            return "the mail test servers need root (dovecot and postfix switch users)"
        programs = (DOVECOT, POSTFIX, POSTMAP, POSTFIX_MASTER, OPENSSL, SCRIPT, DOVECOT_LMTP)
        missing = [p for p in programs if not os.access(p, os.X_OK)]
        if missing:
            return (
                f"missing {', '.join(missing)}: install the Debian packages dovecot-imapd "
                "dovecot-lmtpd postfix openssl bsdutils (packaging/install-system-deps.sh)"
            )
        return None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        reason = self.unavailable()
        if reason:
            raise ServerError(reason)
        if not self._ports:
            names = ("imap", "imaps", "lmtp", "smtp")
            self._ports = dict(zip(names, free_ports(len(names)), strict=True))
        try:
            self._prepare()
            self._start_dovecot()
            self._start_postfix()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop postfix and dovecot (our own processes only) and wait until they are gone."""
        self.stop_smtp()
        if self._dovecot is not None:
            self._dovecot.stop()

    def restart_imap(self) -> None:
        """Stop and start dovecot only (IMAP, IMAPS, LMTP and SMTP AUTH go away meanwhile)."""
        if self._dovecot is not None:
            self._dovecot.stop()
        self._start_dovecot()

    def stop_smtp(self) -> None:
        if self._postfix is not None:
            self._postfix.stop()

    def start_smtp(self) -> None:
        self._start_postfix()

    def __enter__(self) -> MailServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ users and mail
    def add_user(self, address: str, password: str | None = None) -> Mailbox:
        """Create (or change the password of) a Maildir user; usable at once by IMAP, LMTP, SMTP."""
        address = address.lower()
        match = _ADDRESS.fullmatch(address)
        if not match:
            raise ValueError(f"not a plain mail address: {address!r}")
        if match.group(1) not in self.domains:
            raise ValueError(
                f"{address}: the domain is not one of the local domains {self.domains}"
            )
        password = self._password if password is None else password
        if not password or any(c in password for c in ":\r\n"):
            raise ValueError("the password must be non-empty without ':' or line breaks")
        with self._lock:
            self._write_user(address, password)
            self._users[address] = password
            self._write_postfix_map()
        return Mailbox(address, password)

    def new_mailbox(self, prefix: str = "user") -> Mailbox:
        """A fresh user with a unique address and a random password."""
        with self._lock:
            self._counter += 1
            n = self._counter
        local = re.sub(r"[^a-z0-9.-]+", "-", prefix.lower()).strip("-.")[:40] or "user"
        address = f"{local}-{n}-{secrets.token_hex(3)}@{self.domains[0]}"
        return self.add_user(address, secrets.token_urlsafe(12))

    def refuse_recipient(
        self, address: str, answer: str | None = "550 5.1.1 This mailbox takes no mail"
    ) -> None:
        """SMTP refuses ``address`` at RCPT TO with ``answer`` (a 4xx or 5xx code, an enhanced
        status code, text), from the next connection on; ``answer=None`` accepts it again.
        Postfix answers "CODE X.Y.Z <address>: Recipient address rejected: text"."""
        address = address.lower()
        if answer is not None and (
            not re.fullmatch(r"[45]\d\d [45]\.\d{1,3}\.\d{1,3} [^\r\n]+", answer)
            or not _ADDRESS.fullmatch(address)
        ):
            raise ValueError(f"not a plain address and an SMTP answer: {address!r}, {answer!r}")
        with self._lock:
            if answer is None:
                self._refused.pop(address, None)
            else:
                self._refused[address] = answer
            self._write_refusal_map()

    def limit_recipients(
        self, limit: int | None, *, overshoot: int = 1000, hard_errors: int = 20
    ) -> None:
        """SMTP takes at most ``limit`` recipients in one message (smtpd_recipient_limit:
        Postfix answers "452 4.5.3 Error: too many recipients" to the next ones), and after
        ``overshoot`` more RCPT TO commands counts each as an error, ending the connection at
        ``hard_errors`` errors ("421 4.7.0 … Error: too many errors"); ``limit=None``: back to
        Postfix's defaults (1000, 1000, 20). From the next connection on: returns once a new
        connection is held to it."""
        with self._lock:
            self._smtpd_limits = (
                {}
                if limit is None
                else {
                    "smtpd_recipient_limit": limit,
                    "smtpd_recipient_overshoot_limit": overshoot,
                    "smtpd_hard_error_limit": hard_errors,
                }
            )
            self._write_postfix_conf()
        if self._postfix is None or not self._postfix.running:
            return
        assert self._postfix.process is not None
        self._postfix.process.send_signal(signal.SIGHUP)  # master reads main.cf again
        wanted = 1000 if limit is None else limit

        def applied() -> bool:  # the (wanted + 1)th recipient of a message is refused
            with smtplib.SMTP(self.host, self.smtp_port, "localhost", timeout=10) as probe:
                probe.mail("probe@example.com")
                codes = [probe.rcpt(f"probe-{n}@example.com")[0] for n in range(wanted + 1)]
                probe.rset()
            return codes[:wanted] == [250] * wanted and codes[wanted] == 452

        if not wait_until(applied, START_TIMEOUT):
            raise ServerError(f"postfix did not take smtpd_recipient_limit = {wanted}")

    def deliver(
        self, address: str, message: bytes | Message, sender: str = "customer@example.com"
    ) -> None:
        """Put a message straight into a mailbox over LMTP (bypassing postfix)."""
        raw = message.as_bytes() if isinstance(message, Message) else message
        data = re.sub(rb"\r?\n", b"\r\n", raw)
        with smtplib.LMTP(self.host, self.lmtp_port, "localhost", timeout=10) as lmtp:
            refused = lmtp.sendmail(sender, [address], data)
        if refused:
            raise ServerError(f"LMTP refused {address}: {refused}")

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies the servers against ca_file (hostname checks on)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def imap(self, address: str, password: str | None = None) -> IMAPClient:
        """A logged-in IMAPClient over IMAPS, certificate verified with ca_file. Close it (logout)."""
        address = address.lower()
        if password is None:
            password = self._users[address]
        client = IMAPClient(
            self.host, port=self.imaps_port, ssl=True, ssl_context=self.ssl_context(), timeout=10
        )
        try:
            client.login(address, password)
        except BaseException:
            client.shutdown()
            raise
        return client

    def smtp(self, address: str | None = None, password: str | None = None) -> smtplib.SMTP:
        """An SMTP connection after STARTTLS, logged in as ``address`` if given. Close it (quit)."""
        client = smtplib.SMTP(self.host, self.smtp_port, "localhost", timeout=10)
        try:
            client.starttls(context=self.ssl_context())
            if address is not None:
                address = address.lower()
                client.login(address, self._users[address] if password is None else password)
        except BaseException:
            client.close()
            raise
        return client

    # ------------------------------------------------------------------ setup
    def _path(self, *parts: str) -> Path:
        return self.base_dir.joinpath(*parts)

    def _prepare(self) -> None:
        prepare_base_dir(self.base_dir)
        uid, gid = _mail_user()
        for sub in ("logs", "tls", "dovecot", "run", "postfix", "spool"):
            self._path(sub).mkdir(mode=0o755, exist_ok=True)
        mail = self._path("mail")
        mail.mkdir(mode=0o700, exist_ok=True)
        os.chown(mail, uid, gid)
        postfix = pwd.getpwnam("postfix")
        data = self._path("pfdata")
        data.mkdir(mode=0o700, exist_ok=True)
        os.chown(data, postfix.pw_uid, postfix.pw_gid)
        self._make_certificate()
        self._write_dovecot_conf(uid)
        self._write_postfix_conf()
        with self._lock:
            if self.outbound not in self._users:
                self._write_user(self.outbound, self._password)
                self._users[self.outbound] = self._password
            self._write_postfix_map()
            self._write_refusal_map()

    def _make_certificate(self) -> None:
        """A CA and a server certificate signed by it (kept for the life of the base folder)."""
        tls = self._path("tls")
        if (tls / "server.pem").exists() and (tls / "ca.pem").exists():
            return
        cnf = tls / "openssl.cnf"
        cnf.write_text(_OPENSSL_CNF)
        # EC keys: generated in milliseconds, unlike RSA
        new_key = f"-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -config {cnf}"
        _openssl(
            f"req -x509 {new_key} -days 3650 -set_serial {secrets.randbits(63)} -extensions ca_ext"
            f" -subj '/CN=Email Campaigns test CA' -keyout {tls}/ca.key -out {tls}/ca.pem.tmp"
        )
        _openssl(f"req -new {new_key} -keyout {tls}/server.key -out {tls}/server.csr")
        _openssl(
            f"x509 -req -in {tls}/server.csr -CA {tls}/ca.pem.tmp -CAkey {tls}/ca.key -days 3650"
            f" -set_serial {secrets.randbits(63)} -extfile {cnf} -extensions server_ext"
            f" -out {tls}/server.pem"
        )
        for key in ("ca.key", "server.key"):
            (tls / key).chmod(0o600)
        (tls / "ca.pem.tmp").rename(tls / "ca.pem")  # last: marks the set as complete

    def _write_dovecot_conf(self, mail_uid: int) -> None:
        p = self._path
        dh = f"ssl_dh = <{DH_FILE}" if DH_FILE.exists() else ""
        special = "\n".join(
            f"  mailbox {name} {{\n    special_use = \\{name}\n    auto = subscribe\n  }}"
            for name in ("Drafts", "Sent", "Trash", "Junk")
        )
        conf = f"""\
# generated by tests/servers/mail.py: stand-alone, reads nothing from /etc/dovecot
protocols = imap lmtp
listen = {HOST}
instance_name = {self._tag}
base_dir = {p("run", "dovecot")}
state_dir = {p("run", "dovecot-state")}
log_path = {p("logs", "dovecot.log")}
info_log_path = {p("logs", "dovecot.log")}
auth_verbose = yes
# a failed login costs no 2 s delay, and no penalty doubling up to 15 s for later logins
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
mail_fsync = never
# IDLE notices new mail within about a second
mailbox_idle_check_interval = 1 secs

ssl = yes
ssl_cert = <{p("tls", "server.pem")}
ssl_key = <{p("tls", "server.key")}
{dh}
disable_plaintext_auth = no
auth_mechanisms = plain login

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {p("dovecot", "users")}/%Ld/%Ln
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {p("dovecot", "users")}/%Ld/%Ln
  default_fields = uid={MAIL_USER} gid={MAIL_USER} home={p("mail")}/%Ld/%Ln
}}
first_valid_uid = {mail_uid}
last_valid_uid = {mail_uid}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
{special}
}}

service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {HOST}
    port = {self.lmtp_port}
  }}
}}
# SMTP AUTH: postfix asks dovecot
service auth {{
  unix_listener auth-postfix {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
protocol lmtp {{
  postmaster_address = postmaster@{self.domains[0]}
}}
"""
        p("dovecot", "dovecot.conf").write_text(conf)

    def _write_postfix_conf(self) -> None:
        p = self._path
        conf_dir = p("postfix")
        local = "|".join(re.escape(d) for d in self.domains)
        (conf_dir / "outbound.regexp").write_text(
            f"# every recipient outside the local domains goes to {self.outbound}\n"
            f"!/@({local})$/ {self.outbound}\n"
        )
        main_cf = f"""\
# generated by tests/servers/mail.py: stand-alone, reads nothing from /etc/postfix/main.cf
compatibility_level = 3.6
queue_directory = {p("spool")}
data_directory = {p("pfdata")}
meta_directory = /etc/postfix
syslog_name = postfix-{self._tag}
maillog_file = {p("logs", "postfix.log")}
maillog_file_prefixes = {p("logs")}
myhostname = mx.{self.domains[0]}
mydomain = {self.domains[0]}
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
# refuse_recipient(): chosen addresses refused at RCPT TO with a chosen answer
smtpd_recipient_restrictions = check_recipient_access hash:{conf_dir / "refused"}
virtual_mailbox_domains = {" ".join(self.domains)}
# hash, not texthash: smtpd notices a rebuilt .db and restarts, so new users work at once
virtual_mailbox_maps = hash:{conf_dir / "mailboxes"}
virtual_transport = lmtp:inet:{HOST}:{self.lmtp_port}
virtual_alias_maps = regexp:{conf_dir / "outbound.regexp"}
# must stay empty: its default ($virtual_alias_maps) would make every domain local
virtual_alias_domains =
default_transport = error:the test server never relays mail off this machine
relay_transport = error:the test server never relays mail off this machine
smtputf8_enable = yes
message_size_limit = 52428800
smtpd_error_sleep_time = 0
# mail deferred while dovecot restarts is retried within seconds, not minutes
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtpd_tls_chain_files = {p("tls", "server.key")}, {p("tls", "server.pem")}
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {p("run", "dovecot", "auth-postfix")}
smtpd_sasl_security_options = noanonymous
smtp_tls_security_level = none
biff = no
append_dot_mydomain = no
"""
        # limit_recipients()
        main_cf += "".join(f"{name} = {value}\n" for name, value in self._smtpd_limits.items())
        (conf_dir / "main.cf").write_text(main_cf)
        (conf_dir / "master.cf").write_text(_MASTER_CF.format(listen=f"{HOST}:{self.smtp_port}"))
        # postfix pauses ~1 s ("cool down") on config files changed within the last second
        old = time.time() - 120
        for name in ("main.cf", "master.cf", "outbound.regexp"):
            os.utime(conf_dir / name, (old, old))

    def _write_user(self, address: str, password: str) -> None:
        """One passwd-file per user, so that dovecot sees new users at once (caller holds the lock).

        dovecot checks a passwd-file for changes at most once per second (then by mtime in whole
        seconds and size): one shared file would hide users added within a second of a login.
        A new user's file is new to dovecot; a changed password is visible to lookups that start
        in a later second, so that (rare) case waits for the next second.
        """
        local, domain = address.split("@")
        path = self._path("dovecot", "users", domain, local)
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        line = f"{address}:{{PLAIN}}{password}::::::\n"
        before = path.stat() if path.exists() else None
        if before is not None and path.read_text() == line:
            return
        tmp = path.with_name(f".{local}.tmp")
        tmp.write_text(line)
        tmp.chmod(0o644)
        if before is not None:
            after = tmp.stat()
            if (int(after.st_mtime), after.st_size) == (int(before.st_mtime), before.st_size):
                stamp = int(before.st_mtime) + 1
                os.utime(tmp, (stamp, stamp))
        tmp.replace(path)
        if before is not None:
            time.sleep(1.01 - time.time() % 1)

    def _write_postfix_map(self) -> None:
        """postfix's list of local mailboxes (unknown ones are refused at RCPT TO)."""
        source = self._path("postfix", "mailboxes")
        source.write_text("".join(f"{a}\tOK\n" for a in sorted(self._users)))
        _run([POSTMAP, "-c", str(source.parent), f"hash:{source}"])
        # a long-running smtpd compares the .db's mtime in whole seconds: make each rebuild differ
        db = source.with_name("mailboxes.db")
        mtime = max(int(db.stat().st_mtime), self._map_mtime + 1)
        os.utime(db, (mtime, mtime))
        self._map_mtime = mtime

    def _write_refusal_map(self) -> None:
        """The addresses refused at RCPT TO (caller holds the lock), rebuilt like the list of
        mailboxes, so that a running smtpd sees the change."""
        source = self._path("postfix", "refused")
        source.write_text(
            "".join(f"{a}\t{answer}\n" for a, answer in sorted(self._refused.items()))
        )
        _run([POSTMAP, "-c", str(source.parent), f"hash:{source}"])
        db = source.with_name("refused.db")
        mtime = max(int(db.stat().st_mtime), self._refused_mtime + 1)
        os.utime(db, (mtime, mtime))
        self._refused_mtime = mtime

    # ------------------------------------------------------------------ daemons
    def _wait_ports(self, daemon: Daemon, names: tuple[str, ...]) -> None:
        ports = [self._ports[n] for n in names]

        def ready() -> bool:
            return daemon.exited() is not None or all(port_open(port) for port in ports)

        if not wait_until(ready, START_TIMEOUT) or daemon.exited() is not None:
            code = daemon.exited()
            daemon.stop()
            state = f"exited with {code}" if code is not None else f"not listening on {ports}"
            raise ServerError(f"{daemon.name} {state} after start\n{self.log_tail()}")

    def _start_dovecot(self) -> None:
        conf = str(self._path("dovecot", "dovecot.conf"))
        if self._dovecot is None:
            self._dovecot = Daemon(
                "dovecot", [DOVECOT, "-F", "-c", conf], self._path("logs", "dovecot.out")
            )
        if self._dovecot.running:
            return
        check = subprocess.run(
            [DOVECOT, "-n", "-c", conf], capture_output=True, text=True, check=False
        )
        if check.returncode != 0:
            raise ServerError(f"dovecot config check failed:\n{check.stderr}")
        ensure_free("dovecot", [self.imap_port, self.imaps_port, self.lmtp_port])
        self._dovecot.start()
        self._wait_ports(self._dovecot, ("imap", "imaps", "lmtp"))

    def _start_postfix(self) -> None:
        conf_dir = str(self._path("postfix"))
        if self._postfix is None:
            self._postfix = Daemon(
                "postfix",
                # -d: stay in the foreground as our child (we signal it ourselves on stop)
                [POSTFIX_MASTER, "-d", "-c", conf_dir],
                self._path("logs", "postfix.out"),
                env={**os.environ, "MAIL_CONFIG": conf_dir},
            )
        if self._postfix.running:
            return
        ensure_free("postfix", [self.smtp_port])
        # master -t: exit status 0 = no master holds this configuration's lock
        if subprocess.run([POSTFIX_MASTER, "-t", "-c", conf_dir], check=False).returncode != 0:
            pid_file = self._path("spool", "pid", "master.pid")
            raise ServerError(f"postfix of {conf_dir} is already running (stray? see {pid_file})")
        # creates the queue directories with the right owners and checks the config. postfix
        # prints errors only to a tty (else syslog): script(1) provides one
        check = subprocess.run(
            [SCRIPT, "-qec", shlex.join([POSTFIX, "-c", conf_dir, "check"]), "/dev/null"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            raise ServerError(
                f"postfix check failed:\n{check.stdout}{check.stderr}\n{self.log_tail()}"
            )
        self._postfix.start()
        self._wait_ports(self._postfix, ("smtp",))


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ServerError(f"{shlex.join(argv)} failed ({result.returncode}):\n{result.stderr}")


def _openssl(args: str) -> None:
    # the paths in args come from the base folder, whose characters are checked to be shell-safe
    _run([OPENSSL, *shlex.split(args)])


def _mail_user() -> tuple[int, int]:
    """uid/gid that owns the Maildirs: the system user vmail, created if missing."""
    try:
        pw = pwd.getpwnam(MAIL_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        options = (
            "--system --user-group --no-create-home --home-dir /nonexistent --shell /bin/false"
        )
        subprocess.run(
            [useradd, *options.split(), MAIL_USER],
            capture_output=True,
            check=False,
        )  # may lose a race against a parallel run: look again
        try:
            pw = pwd.getpwnam(MAIL_USER)
        except KeyError:
            raise ServerError(f"could not create the system user {MAIL_USER}") from None
    return pw.pw_uid, pw.pw_gid
