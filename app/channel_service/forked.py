"""Fetching and reading in a second process, so that a long pass uses two cores.

Python runs one thread at a time, so the fetch thread of ``sync`` overlaps with storing only
while either waits. For a long pass a child process (forked, so it shares what is loaded
and the logged-in IMAP session) fetches the batches, reads them (``Intake.analyse``:
parsing, hashing, routing) and sends them to this process, which stores them. The child
acts on the server only for the UIDs this process hands back after their commit, so the
order of retrieval (commit, then delete / mark read / move) is that of one process:

- this process killed: the child finds the connection closed and acts on nothing more;
- the child killed: this process finds the connection closed and ends the pass with an
  error; what was committed and not acted on is acted on in the next pass.

Reading is shared: the child reads the first ``share`` messages of each batch and this
process the rest, as it stores them. ``share`` follows the load: it shrinks while this
process waits for batches (the child is behind) and grows while it does not (this process is
behind), so that both processes stay busy whatever the mail and the database cost.

Receiving: a thread of this process receives the child's messages (one ahead of the
storing), so that passing a batch (a megabyte or two through a socket, pickled) overlaps with
storing the one before; without it, both processes waited for each transfer to end.

Flow control: a batch is sent whole and the receiving thread receives the next one only
after the storing thread took the one before; the child fetches ahead two batches of small
messages but one of large ones (``sync._Fetcher``), and a batch holds at most
``imap.FETCH_BYTES`` (or one larger message): at most a few batches are in memory, whatever
the number and the size of the messages.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from typing import Any

from app.db.models import AfterRetrieval
from app.mail import imap as imap_module
from app.mail.imap import FETCH_BATCH, ImapSession
from app.services.intake import Analysed, Fetched, Intake

Batch = list[tuple[int, bytes]]
SHARE_STEP = 8  # messages of a batch moved between the processes at a time
CHILD_AHEAD = 2  # batches the child's fetch thread fetches ahead of its reading
WAITED = 0.002  # seconds this process may wait for a batch without calling it waiting


class ReaderEnded(RuntimeError):
    """The child process ended without saying why (killed, or out of memory)."""


def can_fork() -> bool:
    """Forking is safe only where nothing else runs: no other thread may hold a lock
    the child would need (the GUI and ``serve`` run several threads: they fetch in
    this process). Linux only (macOS system libraries do not support fork)."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


class ForkedReader:
    """Fetches ``uids`` and reads them with ``intake`` in a child process; the same
    interface as ``sync``'s fetch thread (``batches``, ``act_on``, ``finish``, ``acted``).

    The IMAP session belongs to the child from the start: this process only closes its
    copy of the socket (``ImapSession.detach``) and must not use the session again."""

    def __init__(
        self,
        imap: ImapSession,
        uids: Sequence[int],
        action: AfterRetrieval,
        move_folder: str,
        intake: Intake,
        folder: str,
        uidvalidity: int,
        fetcher: Callable[..., Any],
    ) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child_end = context.Pipe()
        self.acted = 0
        self._done = False
        self._share = FETCH_BATCH * 3 // 4  # messages of a batch the child reads
        self._process = context.Process(
            target=_child,
            args=(
                child_end,
                self._conn,
                fetcher,
                imap,
                list(uids),
                action,
                move_folder,
                intake,
                folder,
                uidvalidity,
                self._share,
            ),
            name="imap-reader",
            daemon=True,
        )
        # As the gc module advises before a fork: what is alive now (modules, the database,
        # the intake) leaves the collector's generations, so that the child's collections
        # do not touch (and copy) the pages it shares with this process, and neither
        # process walks those objects again. This process unfreezes them in ``finish``.
        gc.freeze()
        self._process.start()
        child_end.close()
        imap.detach()
        # the child's messages, received by a thread: one ahead of the batch being stored
        # (the next is received once that is taken), none while it holds large messages
        self._inbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._room = threading.Semaphore(1)
        self._storing_large = False  # the room is released once it is stored
        self._receiver = threading.Thread(
            target=self._receive_all, name="imap-receive", daemon=True
        )
        self._receiver.start()

    def batches(self) -> Iterator[tuple[Batch, list[Analysed | None]]]:
        """The fetched batches, read, in order; raises what failed in the child."""
        while True:
            started = time.monotonic()
            message = self._receive(storing=True)
            if time.monotonic() - started > WAITED:  # the child is behind: read more here
                self._share = max(0, self._share - SHARE_STEP)
            else:
                self._share = min(FETCH_BATCH, self._share + SHARE_STEP)
            kind = message[0]
            if kind == "batch":
                self._storing_large = _size(message[1]) > imap_module.FETCH_BYTES // 2
                if not self._storing_large:
                    self._room.release()  # the next is received while this one is stored
                yield message[1], message[2]
                del message  # stored: not held while the next one is received
                self._stored()
            elif kind == "fetched":
                return
            elif kind == "error":
                raise message[1]
            else:
                self._ended(message)
                raise ReaderEnded("The retrieval process ended before fetching everything.")

    def _stored(self) -> None:
        """The batch of large messages given last is stored (or will not be): the next
        message may be received."""
        if self._storing_large:
            self._storing_large = False
            self._room.release()

    def act_on(self, uids: list[int]) -> None:
        """Hand back the UIDs of a committed batch, for the child to act on."""
        self._conn.send(("act", uids, self._share))

    def finish(self) -> BaseException | None:
        """Tell the child to act on what was handed back and stop; wait for it. Returns
        what failed in the child and was not raised yet."""
        error: BaseException | None = None
        self._stored()
        try:
            if not self._done:
                self._conn.send(("finish",))
            while not self._done:
                message = self._receive()
                if message[0] == "finished":
                    self._ended(message)
                    error = message[2]
                elif message[0] == "error":
                    error = message[1]
        except (ReaderEnded, OSError) as exc:
            error = exc
        finally:
            if not self._done:  # interrupted: the child and the receiving thread must stop
                self._hang_up()
            self._receiver.join()  # (it ended with the child's last message, or its end)
            self._process.join()
            self._conn.close()
            gc.unfreeze()
        return error

    def _hang_up(self) -> None:
        """End the connection both ways: the child sees its end (and acts on nothing more),
        and so does the receiving thread, whose last message is taken off so that it ends.
        (Closing the connection would do neither while the thread waits in it.)"""
        with contextlib.suppress(OSError):
            fd = self._conn.fileno()
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=os.dup(fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        while self._receiver.is_alive():
            self._room.release()
            with contextlib.suppress(queue.Empty):
                self._inbox.get(timeout=0.05)

    def _receive(self, storing: bool = False) -> tuple[Any, ...]:
        """The child's next message; the next one may be received at once, but after a
        batch to store (``storing``: ``batches`` says when)."""
        message = self._inbox.get()
        if not storing or message[0] != "batch":
            self._room.release()
        if message[0] == "ended":
            self._done = True
            self._process.join()  # (for its exit code)
            raise ReaderEnded(
                "The retrieval process ended unexpectedly "
                f"(exit code {self._process.exitcode}); nothing stored is lost."
            ) from message[1]
        return message

    def _receive_all(self) -> None:
        """The receiving thread: the child's messages, in order, until its last one
        ("finished") or the end of the connection ("ended")."""
        while True:
            self._room.acquire()
            try:
                message: tuple[Any, ...] = self._conn.recv()
            except (EOFError, OSError) as exc:
                self._inbox.put(("ended", exc))
                return
            self._inbox.put(message)
            if message[0] == "finished":
                return

    def _ended(self, message: tuple[Any, ...]) -> None:
        if message[0] == "finished":
            self._done = True
            self.acted = message[1]


# ---- the child ---------------------------------------------------------------------


def _child(
    conn: Connection,
    parent_end: Connection,
    fetcher_type: Callable[..., Any],
    imap: ImapSession,
    uids: list[int],
    action: AfterRetrieval,
    move_folder: str,
    intake: Intake,
    folder: str,
    uidvalidity: int,
    share: int,
) -> None:
    parent_end.close()  # so that the parent's end closing is seen here as the end
    fetcher = fetcher_type(imap, uids, action, move_folder, ahead=CHILD_AHEAD)
    finishing = False

    def send(message: tuple[Any, ...]) -> None:
        try:
            conn.send(message)
        except OSError as exc:
            raise _ParentGone from exc

    def take() -> None:
        nonlocal finishing, share
        try:
            message = conn.recv()
        except (EOFError, OSError) as exc:
            raise _ParentGone from exc
        if message[0] == "act":
            fetcher.act_on(message[1])
            share = message[2]
        elif message[0] == "finish":
            finishing = True

    try:
        try:
            for batch, _ in fetcher.batches():
                analysed = [
                    _analysed(intake, Fetched(folder, uidvalidity, u, r)) if n < share else None
                    for n, (u, r) in enumerate(batch)
                ]
                send(("batch", batch, analysed))
                del batch, analysed  # sent: not held while the next one is fetched
                while not finishing and conn.poll():
                    take()
                if finishing:
                    break
            else:
                send(("fetched",))
        except _ParentGone:
            raise
        except BaseException as exc:  # fetching failed: the parent raises it
            send(("error", _portable(exc)))
        while not finishing:
            take()
    except _ParentGone:
        pass  # act on nothing more than was handed back
    finally:
        error = fetcher.finish()
        with contextlib.suppress(Exception):
            imap.close()
        with contextlib.suppress(Exception):
            conn.send(("finished", fetcher.acted, _portable(error) if error else None))
        conn.close()


class _ParentGone(Exception):
    """The parent process closed the connection (it ended, or was killed)."""


def _analysed(intake: Intake, message: Fetched) -> Analysed | None:
    try:
        return intake.analyse(message)
    except Exception:  # the parent reads it again, and reports what fails
        return None


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError saying what it was."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _size(batch: Batch) -> int:
    return sum(len(raw) for _, raw in batch)
