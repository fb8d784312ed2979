"""Retrieval batches capped by bytes (issue 11, item 13): how UIDs are cut by their sizes,
the sizes asked for before the bodies, and a fetch thread that holds at most a batch's
bytes ahead of the storing (a larger message: one at a time)."""

from __future__ import annotations

import io
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.channel_service import sync
from app.db.models import AfterRetrieval
from app.mail import imap
from app.mail.imap import FETCH_BATCH, ImapSession, byte_batches

MB = 1024 * 1024


def test_a_batch_holds_at_most_200_messages_and_64_mb_a_larger_message_alone() -> None:
    assert imap.FETCH_BYTES == 64 * MB
    small = [(uid, 5_000) for uid in range(1, 451)]
    assert [len(b) for b in byte_batches(small)] == [FETCH_BATCH, FETCH_BATCH, 50]
    sized = [(1, 30 * MB), (2, 30 * MB), (3, 5 * MB), (4, 50 * MB), (5, 200 * MB), (6, 1)]
    sized += [(7, 64 * MB), (8, 1), (9, 0)]
    assert list(byte_batches(sized)) == [[1, 2], [3, 4], [5], [6], [7], [8, 9]]
    assert list(byte_batches([(1, 10), (2, 10), (3, 10)], count=2, max_bytes=15)) == [
        [1],
        [2],
        [3],
    ]
    assert list(byte_batches([])) == []


class FakeIMAP4:
    """imaplib's side of a session: what is sent, and the server's answers read back."""

    def __init__(self, bodies: dict[int, bytes], expunged: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.bodies, self.expunged = bodies, expunged
        self.sent: list[bytes] = []
        self.tagged_commands: dict[bytes, object] = {}
        self._tags = 0
        self._out = io.BytesIO()

    def _new_tag(self) -> bytes:
        self._tags += 1
        return b"A%d" % self._tags

    def send(self, data: bytes) -> None:
        self.sent.append(data)
        tag, _, rest = data.partition(b" UID FETCH ")
        uid_set, _, items = rest.partition(b" ")
        uids = [u for u in _uids(uid_set) if u in self.bodies and u not in self.expunged]
        out = b""
        for n, uid in enumerate(uids, 1):
            if b"RFC822.SIZE" in items:
                out += b"* %d FETCH (UID %d RFC822.SIZE %d)\r\n" % (n, uid, len(self.bodies[uid]))
            else:
                body = self.bodies[uid]
                out += b"* %d FETCH (UID %d BODY[] {%d}\r\n%s)\r\n" % (n, uid, len(body), body)
        self._out = io.BytesIO(out + tag + b" OK Fetch completed.\r\n")

    def readline(self) -> bytes:
        return self._out.readline()

    def read(self, size: int) -> bytes:
        return self._out.read(size)


def _uids(uid_set: bytes) -> list[int]:
    out: list[int] = []
    for part in uid_set.split(b","):
        first, _, last = part.partition(b":")
        out += range(int(first), int(last or first) + 1)
    return out


def session(fake: FakeIMAP4) -> ImapSession:
    made = ImapSession.__new__(ImapSession)
    made.client = type("Client", (), {"_imap": fake})()  # type: ignore[assignment]
    return made


def test_the_sizes_are_asked_for_then_the_bodies_batch_by_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(imap, "FETCH_BYTES", 100)
    bodies = {uid: b"x" * size for uid, size in [(1, 30), (2, 30), (3, 50), (4, 150), (5, 10)]}
    fake = FakeIMAP4(bodies, expunged={3})  # (expunged by someone else meanwhile)
    got = list(session(fake).fetch([1, 2, 3, 4, 5]))
    assert got == [[(1, bodies[1]), (2, bodies[2])], [(4, bodies[4])], [(5, bodies[5])]]
    assert fake.sent == [
        b"A1 UID FETCH 1:5 (RFC822.SIZE)\r\n",
        b"A2 UID FETCH 1:3 (BODY.PEEK[])\r\n",  # 3 has no size: nothing to hold it back
        b"A3 UID FETCH 4 (BODY.PEEK[])\r\n",
        b"A4 UID FETCH 5 (BODY.PEEK[])\r\n",
    ]
    assert fake.tagged_commands == {}


def test_sizes_are_asked_for_a_thousand_uids_at_a_time() -> None:
    fake = FakeIMAP4({uid: b"m" for uid in range(1, 2501)})
    batches = list(session(fake).fetch(list(range(1, 2501))))
    assert sum(map(len, batches)) == 2500
    sizes = [s for s in fake.sent if b"RFC822.SIZE" in s]
    assert sizes == [
        b"A1 UID FETCH 1:1000 (RFC822.SIZE)\r\n",
        b"A7 UID FETCH 1001:2000 (RFC822.SIZE)\r\n",
        b"A13 UID FETCH 2001:2500 (RFC822.SIZE)\r\n",
    ]
    assert [len(b) for b in batches] == [200] * 12 + [100]


# ---- the fetch thread of a pass -------------------------------------------------------------


class Batch(list):  # type: ignore[type-arg]
    """A batch that can be watched (weakly) for when nothing holds it any more."""


class WatchedSession:
    """Stands for ImapSession: batches of the given sizes, each fetched after ``before``
    allows it; records the bytes of the batches still held by anyone at each fetch."""

    def __init__(self, sizes: list[list[int]]) -> None:
        self.sizes = sizes
        self.alive: list[weakref.ref[Batch]] = []
        self.at_fetch: list[tuple[int, int]] = []  # (bytes held, bytes of the next batch)
        self.acted: list[int] = []

    def fetch(
        self, uids: list[int], before: Callable[[int], bool] | None = None
    ) -> Iterator[list[tuple[int, bytes]]]:
        uid = 0
        for sizes in self.sizes:
            if before is not None and not before(sum(sizes)):
                return
            held = sum(len(raw) for ref in self.alive if (b := ref()) for _, raw in b)
            self.at_fetch.append((held, sum(sizes)))
            batch = Batch()
            for size in sizes:
                uid += 1
                batch.append((uid, b"x" * size))
            self.alive.append(weakref.ref(batch))
            yield batch
            del batch

    def after_retrieval(self, uids: list[int], action: Any, move_folder: str) -> None:
        self.acted += uids


@pytest.mark.parametrize("ahead", [1, 2])
def test_the_fetch_thread_holds_at_most_a_batchs_bytes_ahead_of_the_storing(
    monkeypatch: pytest.MonkeyPatch, ahead: int
) -> None:
    """Small batches are fetched ahead as before (``ahead`` of them); a batch of large
    messages only once what is held (fetched, or being stored) leaves room for it, or nothing
    is held: memory stays within about one batch's bytes, or the largest message."""
    monkeypatch.setattr(imap, "FETCH_BYTES", 100)
    sizes = [[5, 5], [5], [60], [70], [5, 5], [150], [40], [40], [5], [5], [5]]
    watched = WatchedSession(sizes)
    fetcher = sync._Fetcher(watched, [], AfterRetrieval.DELETE, "", ahead=ahead)  # type: ignore[arg-type]
    taken = 0
    for batch, _ in fetcher.batches():
        time.sleep(0.02)  # storing it, while the thread may fetch the next
        fetcher.act_on([uid for uid, _ in batch])
        taken += len(batch)
        del batch
    assert fetcher.finish() is None
    assert taken == sum(map(len, sizes)) == len(watched.acted) == fetcher.acted
    for held, size in watched.at_fetch:
        assert held == 0 or held + size <= 100, watched.at_fetch
    small_ahead = [held for held, size in watched.at_fetch[:3] if held]
    assert small_ahead, "small batches are fetched while one is stored"


def test_a_pass_that_stops_early_stops_the_waiting_fetch_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(imap, "FETCH_BYTES", 100)
    watched = WatchedSession([[90], [90], [90]])
    fetcher = sync._Fetcher(watched, [], AfterRetrieval.DELETE, "", ahead=2)  # type: ignore[arg-type]
    for batch, _ in fetcher.batches():
        fetcher.act_on([uid for uid, _ in batch])
        break  # (the thread waits for room for the second batch meanwhile)
    done = threading.Event()
    threading.Thread(target=lambda: (fetcher.finish(), done.set()), daemon=True).start()
    assert done.wait(5), "finish() waited for ever"
    assert watched.acted == [1] and len(watched.at_fetch) <= 2
