"""Real servers on 127.0.0.1 for integration tests: mail (dovecot + postfix) and PostgreSQL.

Each server keeps everything (configs, data, logs, pid files) in one base folder and listens on
ports found free at start. The daemons run as children of the test process, in their own session,
so stopping them means signalling exactly those pids and waiting for their sessions to empty.
They need root (dovecot/postfix drop privileges per user, initdb runs as ``postgres``).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HOST = "127.0.0.1"
# unix sockets live below the base folder and their paths are limited to 107 bytes
MAX_BASE_DIR_LENGTH = 70
_SAFE_PATH = re.compile(r"/[A-Za-z0-9._+/-]+")


class ServerError(RuntimeError):
    """A test server could not be set up, started or stopped (the message has the log tail)."""


def free_ports(count: int) -> list[int]:
    """Distinct ports that are free on 127.0.0.1 right now (all sockets held until all are found)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(s)
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def ensure_free(name: str, ports: Sequence[int]) -> None:
    """Fail clearly if something (say, a stray server of an earlier run) holds our ports."""
    busy = [port for port in ports if port_open(port)]
    if busy:
        raise ServerError(f"{name}: port(s) {busy} on {HOST} already in use by another process")


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``condition`` until it is true (returns True) or ``timeout`` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def log_tails(paths: Sequence[Path], lines: int = 25) -> str:
    parts = [f"--- {p} ---\n{t}" for p in paths if (t := tail(p, lines))]
    return "\n".join(parts) or "(no log output)"


def prepare_base_dir(base_dir: str | os.PathLike[str]) -> Path:
    """Create the base folder and make sure the daemons' users can reach it.

    Its path goes verbatim into configs and unix socket paths, hence the length and charset limit.
    Every parent must be searchable by others (dovecot, vmail, postfix, postgres).
    """
    path = Path(base_dir).absolute()
    text = str(path)
    if len(text) > MAX_BASE_DIR_LENGTH or not _SAFE_PATH.fullmatch(text) or text == "/":
        raise ServerError(
            f"base folder must be an absolute path of at most {MAX_BASE_DIR_LENGTH} characters "
            f"[A-Za-z0-9._+/-] (unix socket paths are limited): {text!r}"
        )
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    for parent in path.parents:
        if not parent.stat().st_mode & 0o001:
            raise ServerError(
                f"{parent} is not searchable by other users (chmod o+x), needed for {path}"
            )
    return path


def is_root() -> bool:
    return os.geteuid() == 0


# Signals the daemon ($2) with $1 when stdin reaches EOF, i.e. when the test process died without
# stopping it (we never write to the pipe; a normal stop() kills the watchdog first). PDEATHSIG
# would not do: postfix's master changes its effective uid, which clears it.
_WATCHDOG = 'read -r _; kill -s "$1" "$2" 2>/dev/null'


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes of session ``sid``: a daemon and everything it forked."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            members.append(int(entry.name))
    return members


class Daemon:
    """One server process run in the foreground as our child, in a session of its own."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        *,
        stop_signal: signal.Signals = signal.SIGTERM,
        user: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.stop_signal = stop_signal
        self.user = user
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self._stop_watchdog()  # of an earlier process that ended by itself
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd="/",
                env=self.env,
                start_new_session=True,
                user=self.user,
                group=self.user,
                extra_groups=[] if self.user else None,
            )
        signal_name = self.stop_signal.name.removeprefix("SIG")
        self._watchdog = subprocess.Popen(
            ["/bin/sh", "-c", _WATCHDOG, "watchdog", signal_name, str(self.process.pid)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # out of reach of the terminal's Ctrl-C
        )

    def exited(self) -> int | None:
        """The exit code if the process has already ended, else None."""
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = 20, linger: float = 0.5) -> None:
        """Signal our own process and wait for it; then for everything it forked.

        Children normally end before their master, but some outlive it waiting for clients
        (dovecot's imap for ~10 s while an IMAP client keeps its connection, dovecot's auth until
        postfix's smtpd disconnects): ``linger`` seconds after the master is gone, whatever is
        left of the daemon's session gets SIGKILL.
        """
        self._stop_watchdog()
        process = self.process
        if process is None:
            return
        pid = process.pid
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, self.stop_signal)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                process.wait(5)
        if not wait_until(lambda: not session_members(pid), linger):
            for member in session_members(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(member, signal.SIGKILL)
            wait_until(lambda: not session_members(pid), 5)
        self.process = None

    def _stop_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.kill()
            watchdog.wait()
            assert watchdog.stdin is not None
            watchdog.stdin.close()
