"""The lean reader of UID FETCH responses: literals, odd responses, split reads."""

from __future__ import annotations

import io

import pytest
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from app.mail.fetch_reader import fetch_items, read_fetch, read_response, uid_set


class Reader:
    """imaplib's readline/read over bytes; ``chunk`` limits what one read() returns, as a
    socket may."""

    def __init__(self, data: bytes, chunk: int | None = None) -> None:
        self.file = io.BytesIO(data)
        self.chunk = chunk

    def readline(self) -> bytes:
        return self.file.readline()

    def read(self, size: int) -> bytes:
        return self.file.read(min(size, self.chunk) if self.chunk else size)


def literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


MSG1 = b"From: a@example.com\r\nSubject: one\r\n\r\nBody with ) and ( and {5}\r\n"
MSG2 = b"Subject: two\r\n\r\n* 3 FETCH (UID 9 BODY[] {3}\r\nnot a response\r\nA1 OK no\r\n"


def test_bodies_by_uid_with_literals_taken_whole() -> None:
    stream = (
        b"* 1 FETCH (UID 7 BODY[] "
        + literal(MSG1)
        + b")\r\n* 2 FETCH (UID 8 BODY[] "
        + literal(MSG2)
        + b")\r\nA1 OK Fetch completed.\r\n"
    )
    for chunk in (None, 1, 7):  # a literal arriving in pieces is read on to its end
        assert read_fetch(Reader(stream, chunk), b"A1", [7, 8]) == {7: MSG1, 8: MSG2}


def test_items_in_any_order_other_items_and_case() -> None:
    stream = (
        b"* 1 fetch (FLAGS (\\Seen \\Answered) body[] "
        + literal(MSG1)
        + b" MODSEQ (12) uid 7)\r\nA2 ok done\r\n"
    )
    assert read_fetch(Reader(stream), b"A2", [7]) == {7: MSG1}


def test_quoted_and_nil_bodies() -> None:
    stream = (
        b'* 1 FETCH (UID 7 BODY[] "Subject: q\\"uoted\\\\")\r\n'
        b"* 2 FETCH (UID 8 BODY[] NIL)\r\nA3 OK\r\n"
    )
    assert read_fetch(Reader(stream), b"A3", [7, 8]) == {7: b'Subject: q"uoted\\', 8: b""}


def test_unrelated_responses_are_read_past() -> None:
    stream = (
        b"* 4 EXISTS\r\n"
        b"* 1 EXPUNGE\r\n"
        b"* OK [ALERT] " + literal(b"a literal in an untagged OK") + b"\r\n"
        b"* 2 FETCH (UID 3 FLAGS (\\Seen))\r\n"  # another client's flag change: no body
        b"* 5 FETCH (BODY[] " + literal(b"no UID") + b")\r\n"
        b"* 6 FETCH (UID 99 BODY[] " + literal(b"not asked for") + b")\r\n"
        b"* 1 FETCH (UID 7 BODY[] " + literal(MSG1) + b")\r\n"
        b"A4 OK\r\n"
    )
    assert read_fetch(Reader(stream), b"A4", [7]) == {7: MSG1}


def test_several_literals_in_one_response() -> None:
    text, literals = read_response(
        Reader(b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {4}\r\nabcd BODY[] {2}\r\nxy UID 5)\r\n")
    )
    assert literals == [b"abcd", b"xy"]
    found = fetch_items(text, literals)
    assert found == (
        1,
        {b"BODY[HEADER.FIELDS (SUBJECT)]": b"abcd", b"BODY[]": b"xy", b"UID": b"5"},
    )


def test_literal8_and_non_synchronizing_literals() -> None:
    stream = (
        b"* 1 FETCH (UID 7 BODY[] ~{3}\r\nabc)\r\n* 2 FETCH (UID 8 BODY[] {2+}\r\nde)\r\nT OK\r\n"
    )
    assert read_fetch(Reader(stream), b"T", [7, 8]) == {7: b"abc", 8: b"de"}


def test_a_failed_fetch_raises() -> None:
    with pytest.raises(IMAPClientError, match="NO"):
        read_fetch(Reader(b"A5 NO [SERVERBUG] Internal error\r\n"), b"A5", [1])
    with pytest.raises(IMAPClientError, match="BAD"):
        read_fetch(Reader(b"A6 BAD Error in IMAP command\r\n"), b"A6", [1])


def test_the_server_ending_the_session_or_connection_raises_abort() -> None:
    with pytest.raises(IMAPClientAbortError):
        read_fetch(Reader(b"* BYE Server shutting down.\r\n"), b"A7", [1])
    with pytest.raises(IMAPClientAbortError):  # closed in the middle of a literal
        read_fetch(Reader(b"* 1 FETCH (UID 1 BODY[] {100}\r\nshort", chunk=3), b"A7", [1])
    with pytest.raises(IMAPClientAbortError):  # closed before the completion
        read_fetch(Reader(b"* 1 FETCH (UID 1 BODY[] {1}\r\nx)\r\n"), b"A7", [1])


def test_an_unbalanced_fetch_response_raises() -> None:
    with pytest.raises(IMAPClientError):
        read_fetch(Reader(b"* 1 FETCH (UID 1 BODY[] {1}\r\nx))\r\nA8 OK\r\n"), b"A8", [1])
    with pytest.raises(IMAPClientError):
        read_fetch(Reader(b"* 1 FETCH (UID 1 BODY[] {1}\r\nx\r\nA8 OK\r\n"), b"A8", [1])


def test_another_tag_is_not_this_commands_completion() -> None:
    stream = b"A1 OK an earlier command\r\n* 1 FETCH (UID 2 BODY[] {1}\r\nx)\r\nA10 OK\r\n"
    assert read_fetch(Reader(stream), b"A10", [2]) == {2: b"x"}


def test_uid_sets_use_ranges() -> None:
    assert uid_set([1, 2, 3, 5, 7, 8, 9, 10, 20]) == b"1:3,5,7:10,20"
    assert uid_set([4]) == b"4"
    assert uid_set([9, 8, 8, 7]) == b"7:9"
