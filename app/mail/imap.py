"""IMAP retrieval with imapclient: connecting securely, naming failures precisely,
fetching in batches and acting on messages once they are safely stored."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from app.domain.enums import AfterRetrieval, Security
from app.mail.fetch_reader import fetch_items, read_fetch, read_response, uid_set

FETCH_BATCH = 200  # messages in one batch at most
# ... and bytes (RFC822.SIZE), but for a larger message, which is a batch of its own: a
# pass holds a few batches at once (fetched ahead, being stored), whatever the mail.
FETCH_BYTES = 64 * 1024 * 1024
SIZES_AT_ONCE = 1000  # UIDs whose sizes one command asks for


def byte_batches(
    sized: Sequence[tuple[int, int]], count: int = FETCH_BATCH, max_bytes: int | None = None
) -> Iterator[list[int]]:
    """The UIDs of ``sized`` ((uid, size) in order), cut into batches of at most ``count``
    messages and ``max_bytes`` (default ``FETCH_BYTES``) bytes; a larger message alone."""
    max_bytes = FETCH_BYTES if max_bytes is None else max_bytes
    batch: list[int] = []
    total = 0
    for uid, size in sized:
        if batch and (len(batch) >= count or total + size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


class ConnectionProblem(Exception):
    """A connection or login failure, with what kind it is and a message for people."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # lookup, refused, timeout, tls, credentials, folder, protocol

    def __reduce__(self) -> tuple[type[ConnectionProblem], tuple[str, str]]:
        return ConnectionProblem, (self.kind, str(self))  # (sent between processes)


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: Security
    username: str
    password: str
    folder: str = "INBOX"
    ca_file: str = ""
    timeout: float = 30.0


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """Certificates are always verified; a CA file adds a private CA."""
    context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConnectionProblem("tls", f"The CA file {ca_file} cannot be used: {exc}") from exc
    return context


def describe_network_error(
    exc: BaseException, host: str, port: int, what: str
) -> ConnectionProblem:
    """Turn a socket/TLS exception into a precise, readable ConnectionProblem."""
    where = f"{what} server {host}:{port}"
    if isinstance(exc, socket.gaierror):
        return ConnectionProblem(
            "lookup", f"The name {host!r} could not be found ({exc.strerror})."
        )
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionProblem(
            "refused", f"The {where} refused the connection: is it running, and is the port right?"
        )
    if isinstance(exc, socket.timeout | TimeoutError):
        return ConnectionProblem("timeout", f"The {where} did not answer in time.")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConnectionProblem(
            "tls",
            f"The certificate of the {where} is not trusted: "
            f"{exc.verify_message}. Set a CA file for a private CA.",
        )
    if isinstance(exc, ssl.SSLError):
        return ConnectionProblem(
            "tls",
            f"TLS with the {where} failed: {exc.reason or exc}. "
            "Check the security setting and the port.",
        )
    if isinstance(exc, OSError):
        return ConnectionProblem(
            "network", f"The {where} could not be reached: {exc.strerror or exc}."
        )
    return ConnectionProblem("protocol", f"The {where} answered unexpectedly: {exc}")


class ImapSession:
    """One logged-in IMAP connection with the folder selected."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        s = settings
        try:
            context = tls_context(s.ca_file)
            self.client = IMAPClient(
                s.host,
                port=s.port,
                ssl=s.security == Security.SSL,
                ssl_context=context,
                timeout=s.timeout,
            )
            if s.security == Security.STARTTLS:
                self.client.starttls(context)
        except ConnectionProblem:
            raise
        except (OSError, IMAPClientError) as exc:
            raise describe_network_error(exc, s.host, s.port, "IMAP") from exc
        try:
            self.client.login(s.username, s.password)
        except LoginError as exc:
            self.close()
            raise ConnectionProblem(
                "credentials", f"The IMAP server refused the login of {s.username!r}: {_text(exc)}"
            ) from exc
        except (OSError, IMAPClientError) as exc:
            self.close()
            raise describe_network_error(exc, s.host, s.port, "IMAP") from exc
        self.capabilities = {
            c.decode().upper() if isinstance(c, bytes) else str(c).upper()
            for c in self.client.capabilities()
        }
        try:
            self.uidvalidity = self.select(s.folder)
        except ConnectionProblem:
            self.close()
            raise

    def select(self, folder: str) -> int:
        try:
            info = self.client.select_folder(folder)
        except IMAPClientError as exc:
            raise ConnectionProblem(
                "folder", f"The folder {folder!r} cannot be opened on the IMAP server: {_text(exc)}"
            ) from exc
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        return self.uidvalidity

    def wait_for_news(self, seconds: float, interrupted: Callable[[], bool]) -> bool:
        """Wait up to ``seconds`` for the server to announce changes (IDLE), checking
        ``interrupted`` about every second. True when the server announced something."""
        deadline = time.monotonic() + seconds
        self.client.idle()
        try:
            while time.monotonic() < deadline and not interrupted():
                wait = min(1.0, max(0.05, deadline - time.monotonic()))
                responses = self.client.idle_check(timeout=wait)
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    return True
            return False
        finally:
            self.client.idle_done()

    @property
    def has_idle(self) -> bool:
        return "IDLE" in self.capabilities

    def uids(self, unseen_only: bool = False) -> list[int]:
        return sorted(int(u) for u in self.client.search(["UNSEEN"] if unseen_only else ["ALL"]))

    def fetch(
        self,
        uids: Sequence[int],
        batch: int = FETCH_BATCH,
        max_bytes: int | None = None,
        before: Callable[[int], bool] | None = None,
    ) -> Iterator[list[tuple[int, bytes]]]:
        """The raw bytes of ``uids``, without setting \\Seen, in batches of at most
        ``batch`` messages and ``max_bytes`` (``FETCH_BYTES``) bytes (``byte_batches``, by
        the sizes the server gives). ``before(bytes)`` is called before each batch is
        fetched (it may wait for room); False ends the fetching."""
        for start in range(0, len(uids), SIZES_AT_ONCE):
            sizes = self._fetch_sizes(list(uids[start : start + SIZES_AT_ONCE]))
            sized = [(uid, sizes[uid]) for uid in uids[start : start + SIZES_AT_ONCE]]
            for chunk in byte_batches(sized, batch, max_bytes):
                if before is not None and not before(sum(sizes[uid] for uid in chunk)):
                    return
                data = self._fetch_bodies(chunk)
                # what is missing was expunged meanwhile by someone else
                fetched = [(uid, data[uid]) for uid in chunk if uid in data]
                del data  # (only the batch holds the messages: the taker frees them)
                yield fetched
                del fetched

    def _fetch_sizes(self, uids: list[int]) -> dict[int, int]:
        """``UID FETCH uids (RFC822.SIZE)``: {uid: size}; a UID expunged meanwhile has 0
        (its batch then only finds it missing). Read as ``_fetch_bodies`` reads."""
        imap4 = self.client._imap
        tag = imap4._new_tag()
        sizes = dict.fromkeys(uids, 0)
        try:
            imap4.send(tag + b" UID FETCH " + uid_set(uids) + b" (RFC822.SIZE)\r\n")
            while True:
                text, literals = read_response(imap4)
                if text.startswith(tag + b" "):
                    if text[len(tag) + 1 :].split(b" ", 1)[0].upper() != b"OK":
                        raise IMAPClientError(f"UID FETCH failed: {_text_of(text)}")
                    return sizes
                if text[:5].upper() == b"* BYE":
                    raise IMAPClientAbortError(f"the IMAP server ended the session: {text!r}")
                found = fetch_items(text, literals) if text[:2] == b"* " else None
                items = found[1] if found else {}
                uid, size = _number(items.get(b"UID")), _number(items.get(b"RFC822.SIZE"))
                if uid in sizes and size is not None:
                    sizes[uid] = size
        finally:
            imap4.tagged_commands.pop(tag, None)

    def _fetch_bodies(self, uids: list[int]) -> dict[int, bytes]:
        """``UID FETCH uids (BODY.PEEK[])`` read by our lean reader (fetch_reader), on
        imaplib's connection under imapclient: imapclient's general parser costs more
        than the transfer."""
        imap4 = self.client._imap
        tag = imap4._new_tag()
        try:
            imap4.send(tag + b" UID FETCH " + uid_set(uids) + b" (BODY.PEEK[])\r\n")
            return read_fetch(imap4, tag, uids)
        finally:
            imap4.tagged_commands.pop(tag, None)

    def after_retrieval(
        self, uids: Sequence[int], action: AfterRetrieval, move_folder: str = ""
    ) -> None:
        """Delete, mark read or move messages that are stored safely."""
        if not uids:
            return
        c = self.client
        if action == AfterRetrieval.MARK_READ:
            c.add_flags(list(uids), [b"\\Seen"], silent=True)
        elif action == AfterRetrieval.MOVE:
            if "MOVE" in self.capabilities:
                c.move(list(uids), move_folder)
            else:
                c.copy(list(uids), move_folder)
                self._delete(uids)
        else:
            self._delete(uids)

    def _delete(self, uids: Sequence[int]) -> None:
        self.client.add_flags(list(uids), [b"\\Deleted"], silent=True)
        if "UIDPLUS" in self.capabilities:
            self.client.uid_expunge(list(uids))
        else:
            self.client.expunge()

    def detach(self) -> None:
        """Close this process's copy of the connection without a word to the server: the
        session went on in a forked child, whose TLS state this process no longer has."""
        imap4 = self.client._imap
        with contextlib.suppress(OSError):
            imap4.file.close()  # the socket's file first: until then close() leaves it open
        with contextlib.suppress(OSError):
            imap4.sock.close()  # no close_notify: only unwrap() would send one

    def close(self) -> None:
        try:
            self.client.logout()
        except Exception:  # a broken connection: just drop it
            with contextlib.suppress(Exception):
                self.client.shutdown()


def _text_of(response: bytes) -> str:
    return response.decode("utf-8", "replace")


def _number(value: object) -> int | None:
    return int(value) if isinstance(value, bytes) and value.isdigit() else None


def _text(exc: BaseException) -> str:
    text = str(exc)
    return text[2:-1] if text.startswith("b'") and text.endswith("'") else text
