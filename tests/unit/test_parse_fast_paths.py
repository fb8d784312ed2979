"""The fast readers (headers without the email parser; only the text parts decoded) give
exactly what the full ``email`` parser gives, on the corpus and on awkward mail."""

from __future__ import annotations

import base64
import dataclasses
import random

import pytest

from app.mail import parse
from tests.corpus import cpython_corpus, own_corpus

CORPUS = cpython_corpus() + own_corpus()

AWKWARD = [
    b"From: foo <a@b\r\nSubject: unclosed\r\n\r\nbody\r\n",
    "Subject: Gr\xf6\xdfe raw 8-bit\r\nFrom: x@y.z\r\n\r\nk\xf6rper\r\n".encode("latin-1"),
    b"From: a@b.c\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"!!!not base64!!!\r\n",
    b"From: a@b.c\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=Z\r\n\r\n"
    b"--Z\r\nContent-Type: text/plain\r\n\r\ntruncated",
    b"From: a@b.c\r\nSubject: =?x-unknown-charset?q?Gr=FC=DFe?=\r\n\r\nno date\r\n",
    b"\r\nno headers at all\r\n",
    b"Subject: only headers",
    b"Subject: x\n\nlf only\n",
    b" continuation first\r\nSubject: x\r\n\r\nb",
    b"From someone Tue Nov 27\r\nSubject: x\r\n\r\nb",
    b"Subject: a\r\n  folded\r\n\tmore\r\nX-Empty:\r\n\r\nbody",
    b'Subject: a\r\nContent-Type: multipart/alternative; boundary="q"\r\n\r\npre\r\n--q\r\n'
    b"Content-Type: text/html\r\n\r\n<b>h</b>\r\n--q \r\n\r\nplain default\r\n--q--\r\nepi",
    b"Subject: a\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"
    b"Content-Type: text/plain; name=x.txt\r\n\r\nnamed\r\n--q\r\n"
    b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    b"R3LDvMOfZQ==\r\n--q--\r\n",
    b"Subject: a\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--qq\r\n\r\nx\r\n--q\r\n"
    b"Content-Disposition: attachment\r\n\r\natt\r\n--q\r\nContent-Transfer-Encoding: x-weird"
    b"\r\n\r\nw\r\n--q--",
    b'From: =?utf-8?q?J=C3=BCrgen?= <J@Example.DE>\r\nTo: "Doe, Jane" <jane@x.org>, '
    b"b@y.org\r\nCc: undisclosed-recipients:;\r\nSubject: =?iso-8859-1?q?Gr=FC=DFe?=\r\n"
    b"Message-ID: <a@b> <c@d>\r\nReferences: <1@x>\r\n <2@x>\r\nAuto-Submitted: auto-replied"
    b"\r\nContent-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: "
    b"quoted-printable\r\n\r\n<p>Gr=FC=DFe</p>\r\n",
]


def generated(count: int) -> list[bytes]:
    """Varied, deterministic mail: plain, QP, base64, HTML, alternative, mixed."""
    rng = random.Random(1127)
    out = []
    for n in range(count):
        name = rng.choice(["Renée Größe", "山田 明子", "Jan Kowalski", "O'Brien, Pat"])
        encoded = "=?utf-8?b?" + base64.b64encode(name.encode()).decode() + "?="
        head = (
            f"From: {encoded} <c{n}@example.com>\r\nTo: support@example.com\r\n"
            f"Subject: =?utf-8?q?Bestellung_{n}_=E2=80=93_Gr=C3=B6=C3=9Fe?=\r\n"
            f"Date: Fri, 27 Nov 2026 10:{n % 60:02d}:00 +0100\r\n"
            f"Message-ID: <g{n}@example.com>\r\nMIME-Version: 1.0\r\n"
        )
        kind = n % 4
        if kind == 0:
            body = (
                "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe\r\n"
            )
        elif kind == 1:
            body = "Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hallo <b>Welt</b></p>\r\n"
        elif kind == 2:
            body = (
                'Content-Type: multipart/alternative; boundary="a"\r\n\r\n--a\r\n'
                "Content-Type: text/plain; charset=utf-8\r\n\r\nplain\r\n--a\r\n"
                "Content-Type: text/html; charset=utf-8\r\n\r\n<i>html</i>\r\n--a--\r\n"
            )
        else:
            body = (
                'Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\n'
                "Content-Type: text/plain; charset=iso-8859-1\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\nR3L832U=\r\n--m\r\n"
                'Content-Type: application/pdf; name="r.pdf"\r\n'
                "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--m--\r\n"
            )
        out.append((head + body).encode())
    return out


MESSAGES = [p.read_bytes() for p in CORPUS] + AWKWARD + generated(40)


@pytest.mark.parametrize("raw", MESSAGES)
def test_fast_header_reader_matches_the_email_parser(
    raw: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = parse.read_envelope(raw)
    monkeypatch.setattr(parse, "_header_pairs", lambda _block: None)  # force the full parser
    full = parse.read_envelope(raw)
    assert dataclasses.asdict(fast) == dataclasses.asdict(full)


@pytest.mark.parametrize("raw", MESSAGES)
def test_fast_text_reader_matches_the_full_body_reader(raw: bytes) -> None:
    text, html, _problems = parse.read_texts(raw)
    body = parse.read_body(raw)
    assert (text, html) == (body.text, body.html)


def test_the_fast_header_reader_is_really_used() -> None:
    fast = sum(parse.Headers(raw).pairs is not None for raw in MESSAGES)
    assert fast >= 60, f"only {fast} of {len(MESSAGES)} messages took the fast path"
