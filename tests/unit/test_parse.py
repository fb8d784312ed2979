"""MIME parsing: CPython's own email test corpus and malformed mail of our own."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.mail.parse import attachment_bytes, decode_header_text, read_body, read_envelope
from tests.corpus import CPYTHON_DATA as CORPUS
from tests.corpus import cpython_corpus, own_corpus, require_cpython_corpus

CORPUS_FILES = cpython_corpus()


def test_the_corpus_is_there() -> None:
    assert len(require_cpython_corpus()) >= 40
    assert len(own_corpus()) >= 10


@pytest.mark.parametrize("path", CORPUS_FILES + own_corpus(), ids=lambda p: p.name)
def test_every_corpus_message_is_read_without_error(path: Path) -> None:
    raw = path.read_bytes()
    env = read_envelope(raw)
    body = read_body(raw)
    assert isinstance(env.subject, str) and isinstance(env.problems, list)
    assert body.text is not None or body.html is not None or body.attachments or len(raw) < 400


def test_corpus_samples_decode_as_expected() -> None:
    require_cpython_corpus()
    env = read_envelope((CORPUS / "msg_01.txt").read_bytes())
    assert env.subject == "This is a test message"
    assert env.from_address == "bbb@ddd.com"
    assert env.message_id == "<15090.61304.110929.45684@aaa.zzz.org>"
    bounce = read_envelope((CORPUS / "msg_16.txt").read_bytes())
    assert bounce.is_bounce and bounce.is_auto_reply
    body = read_body((CORPUS / "msg_02.txt").read_bytes())
    assert len(body.attachments) == 7


def build(headers: str, body: bytes = b"Hello\r\n") -> bytes:
    return headers.strip().replace("\n", "\r\n").encode("latin-1") + b"\r\n\r\n" + body


def test_rfc2047_headers_in_several_charsets() -> None:
    raw = build(
        "From: =?iso-8859-1?q?J=FCrgen_Gr=F6=DFe?= <jurgen@example.de>\n"
        "To: =?utf-8?b?5bGx55Sw?= <yamada@example.jp>, b@example.com\n"
        "Subject: =?utf-8?q?Gr=C3=B6=C3=9Fe_=E2=80=93_5_=E2=82=AC?= =?shift_jis?b?k/qWe4zq?=\n"
        "Message-ID: <a@b>\nDate: Fri, 27 Nov 2026 10:00:00 +0100"
    )
    env = read_envelope(raw)
    assert env.from_name == "Jürgen Größe" and env.from_address == "jurgen@example.de"
    assert env.subject == "Größe – 5 €日本語"
    assert env.to == ["山田 <yamada@example.jp>", "b@example.com"]
    assert env.date is not None and env.date.utcoffset() is not None
    assert env.problems == []


def test_unknown_charset_falls_back_and_says_so() -> None:
    raw = build(
        "From: a@b.c\nSubject: =?x-klingon?q?Gr=C3=BC=C3=9Fe?=\nDate: Fri, 27 Nov 2026 10:00:00 +0000"
    )
    env = read_envelope(raw)
    assert env.subject == "Grüße"
    assert any("unknown charset" in p for p in env.problems)


def test_raw_8bit_headers_are_decoded() -> None:
    raw = (
        "From: Jürgen <j@example.de>\r\nSubject: Größe 日本語\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000"
        "\r\n\r\nbody\r\n"
    ).encode()
    env = read_envelope(raw)
    assert env.subject == "Größe 日本語" and env.from_name == "Jürgen"
    latin = "Subject: Gr\xf6\xdfe\r\nFrom: a@b.c\r\n\r\nx".encode("latin-1")
    assert read_envelope(latin).subject == "Größe"


def test_unclosed_from_address_still_gives_the_sender() -> None:
    env = read_envelope(build("From: foo <a@b\nSubject: hi"))
    assert env.from_address == "a@b"
    assert any("unclosed" in p for p in env.problems)


def test_missing_date_and_message_id_are_noted_not_fatal() -> None:
    env = read_envelope(build("From: a@example.com\nSubject: no date"))
    assert env.date is None and env.message_id is None
    assert "no Date header" in env.problems
    env = read_envelope(build("From: a@example.com\nDate: the day after tomorrow"))
    assert env.date is None and any("unreadable Date" in p for p in env.problems)


def test_bad_transfer_encodings_keep_the_text() -> None:
    raw = build(
        "From: a@b.c\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: base64",
        b"SGVsbG8gV2\xff9ybGQ=!!not base64 at all\r\n",
    )
    body = read_body(raw)
    assert body.text is not None
    raw = build(
        "From: a@b.c\nContent-Type: text/plain\nContent-Transfer-Encoding: x-uuencode-7",
        b"plain words\r\n",
    )
    body = read_body(raw)
    assert body.text is not None and "plain words" in body.text
    assert any("unknown transfer encoding" in p for p in body.problems)


def test_truncated_mime_still_yields_what_is_there() -> None:
    raw = build(
        'From: a@b.c\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="XX"',
        b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n"
        b"--XX\r\nContent-Type: application/pdf; name=a.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK",  # ends mid-part, no close
    )
    body = read_body(raw)
    assert body.text is not None and body.text.strip() == "Grüße"
    assert [a.filename for a in body.attachments] == ["a.pdf"]


def test_html_inline_cid_images_and_attachments() -> None:
    raw = build(
        'From: a@b.c\nMIME-Version: 1.0\nContent-Type: multipart/related; boundary="R"',
        b"--R\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n"
        b'<p>Gr\xfc\xdfe <img src="cid:logo@x"></p>\r\n'
        b"--R\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
        b"--R\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="=?utf-8?q?R=C3=BCckgabe.txt?="\r\n\r\n'
        b"data\r\n--R--\r\n",
    )
    body = read_body(raw)
    assert body.html is not None and "Grüße" in body.html
    logo, doc = body.attachments
    assert logo.content_id == "logo@x" and logo.inline and logo.content_type == "image/png"
    assert attachment_bytes(raw, logo.part_index) == b"\x89PNG\r\n\x1a\n"
    assert doc.filename == "Rückgabe.txt" and not doc.inline
    assert attachment_bytes(raw, doc.part_index).strip() == b"data"


@pytest.mark.parametrize(
    ("headers", "auto", "bounce"),
    [
        ("Auto-Submitted: auto-replied", True, False),
        ("Auto-Submitted: no", False, False),
        ("Precedence: bulk", True, False),
        ("Precedence: list", True, False),
        ("X-Autoreply: yes", True, False),
        ("Content-Type: multipart/report; report-type=delivery-status; boundary=x", True, True),
        ("X-Nothing: 1", False, False),
    ],
)
def test_auto_replies_and_bounces_are_flagged(headers: str, auto: bool, bounce: bool) -> None:
    env = read_envelope(build(f"From: customer@example.com\n{headers}"))
    assert (env.is_auto_reply, env.is_bounce) == (auto, bounce)


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.com", "postmaster@example.org"])
def test_mailer_daemon_senders_are_bounces(sender: str) -> None:
    env = read_envelope(build(f"From: {sender}\nSubject: Undeliverable"))
    assert env.is_bounce and env.is_auto_reply


def test_decode_header_text_keeps_malformed_encoded_words() -> None:
    assert decode_header_text("=?utf-8?q?broken") == "=?utf-8?q?broken"
    assert decode_header_text(None) == ""
