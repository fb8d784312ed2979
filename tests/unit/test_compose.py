"""Outgoing messages: headers, threading, non-ASCII, injection refused, Bcc only in the envelope."""

from __future__ import annotations

import email
import random
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest

from app.mail import compose
from app.mail.compose import HeaderError, Mailbox, Outgoing
from app.mail.fields import decode_words, parse_addresses
from app.mail.parse import Headers

UNICODE = "Größe – 5 € 日本語"
WHEN = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)


def outgoing(**changes: object) -> Outgoing:
    base: dict[str, object] = {
        "sender": Mailbox("Example Retail Support", "support@example.com"),
        "to": [Mailbox("Zoe Adams", "zoe@customers.example")],
        "cc": [Mailbox("Adams, Bob", "bob@customers.example")],
        "bcc": [Mailbox("", "audit@example.com")],
        "subject": "Re: Where is my order?",
        "body": "Hello Zoe,\n\nit is on its way.\n",
        "message_id": "<ec.1@example.com>",
        "date": WHEN,
        "in_reply_to": "<q1@customers.example>",
        "references": ["<q0@customers.example>", "<q1@customers.example>"],
    }
    base.update(changes)
    return Outgoing(**base)  # type: ignore[arg-type]


def parsed(out: Outgoing) -> tuple[bytes, EmailMessage]:
    raw = compose.to_bytes(compose.build(out))
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return raw, msg


def test_headers_and_threading() -> None:
    raw, msg = parsed(outgoing())
    assert str(msg["From"]) == "Example Retail Support <support@example.com>"
    assert str(msg["To"]) == "Zoe Adams <zoe@customers.example>"
    assert str(msg["Cc"]) == '"Adams, Bob" <bob@customers.example>'
    assert str(msg["Subject"]) == "Re: Where is my order?"
    assert msg["Message-ID"] == "<ec.1@example.com>"
    assert msg["In-Reply-To"] == "<q1@customers.example>"
    assert msg["References"] == "<q0@customers.example> <q1@customers.example>"
    assert msg["Date"].datetime == WHEN
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_content().replace("\r\n", "\n") == "Hello Zoe,\n\nit is on its way.\n"
    # SMTP line ends everywhere, nothing but ASCII on the wire
    assert raw.count(b"\n") == raw.count(b"\r\n")
    assert raw.isascii()


def test_bcc_is_only_in_the_envelope() -> None:
    out = outgoing()
    raw, msg = parsed(out)
    assert "Bcc" not in msg
    assert b"audit@example.com" not in raw
    assert out.envelope_recipients == [
        "zoe@customers.example",
        "bob@customers.example",
        "audit@example.com",
    ]


def test_a_recipient_in_to_and_bcc_gets_one_envelope_entry() -> None:
    out = outgoing(bcc=[Mailbox("", "zoe@customers.example")], cc=[])
    assert out.envelope_recipients == ["zoe@customers.example"]


def test_non_ascii_subject_names_and_body_are_encoded() -> None:
    out = outgoing(
        sender=Mailbox(UNICODE, "support@example.com"),
        to=[Mailbox(UNICODE, "zoe@customers.example")],
        subject=f"Re: {UNICODE} " + "and a long subject that must be folded " * 3,
        body=f"{UNICODE}\n" + "é" * 200 + "\n",
    )
    raw, msg = parsed(out)
    assert raw.isascii()
    assert b"=?utf-8?" in raw  # RFC 2047 encoded words
    assert str(msg["From"]) == f"{UNICODE} <support@example.com>"
    assert msg["From"].addresses[0].display_name == UNICODE
    assert msg["To"].addresses[0].display_name == UNICODE
    assert str(msg["Subject"]) == out.subject
    assert msg.get_content().replace("\r\n", "\n") == out.body
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))


def test_html_alternative() -> None:
    _, msg = parsed(outgoing(html="<p>Hello <b>Zoe</b></p>"))
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert "<b>Zoe</b>" in html.get_content()


def test_date_keeps_the_instant_and_needs_a_zone() -> None:
    sydney = timezone(timedelta(hours=11))
    _, msg = parsed(outgoing(date=WHEN.astimezone(sydney)))
    assert msg["Date"].datetime == WHEN
    with pytest.raises(HeaderError) as refused:
        compose.build(outgoing(date=datetime(2026, 1, 1)))
    assert refused.value.field == "Date"


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("Subject", {"subject": "Hi\r\nBcc: evil@example.com"}),
        ("Subject", {"subject": "Hi\nBcc: evil@example.com"}),
        ("Subject", {"subject": "Hi\rBcc: evil@example.com"}),
        ("Subject", {"subject": "Hi\u2028Bcc: evil@example.com"}),
        ("Subject", {"subject": "Hi\x00there"}),
        ("From", {"sender": Mailbox("Support\r\nBcc: evil@example.com", "s@example.com")}),
        ("To", {"to": [Mailbox("Zoe\r\nBcc: evil@example.com", "zoe@customers.example")]}),
        ("Cc", {"cc": [Mailbox("", "bob@customers.example\r\nBcc: evil@example.com")]}),
        ("Message-ID", {"message_id": "<a@b>\r\nBcc: evil@example.com"}),
        ("In-Reply-To", {"in_reply_to": "<a@b>\r\nBcc: evil@example.com"}),
        ("References", {"references": ["<a@b> <c@d>"]}),
    ],
)
def test_line_breaks_in_headers_are_refused(field: str, changes: dict[str, object]) -> None:
    with pytest.raises(HeaderError) as refused:
        compose.build(outgoing(**changes))
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ")
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize(
    "text",
    [
        "zoe@customers.example\r\nBcc: evil@example.com",
        "Zoe\r\n <zoe@customers.example>",
        "zoe@customers.example\n",
    ],
)
def test_injection_through_a_typed_address_is_refused(text: str) -> None:
    with pytest.raises(HeaderError, match="line breaks") as refused:
        compose.parse_mailboxes("To", text)
    assert refused.value.field == "To"


@pytest.mark.parametrize(
    "text",
    [
        "zoe",
        "zoe@",
        "@customers.example",
        "zoe@customers.example bob@customers.example",
        "Zoe <zoe@customers.example",
        "friends: zoe@customers.example;",
        "<>",
        "zoe..x@customers.example",
        "jörg@customers.example",
    ],
)
def test_an_address_must_be_exactly_one_addr_spec(text: str) -> None:
    with pytest.raises(HeaderError) as refused:
        compose.parse_mailbox("Bcc", text)
    assert refused.value.field == "Bcc"
    assert text.strip() in str(refused.value)


def test_addresses_are_parsed_and_stored_so_that_they_split_back() -> None:
    typed = '"Adams, Zoe" <zoe@customers.example>; bob@customers.example,  Ann <ann@bücher.example>'
    boxes = compose.parse_mailboxes("To", typed)
    assert boxes == [
        Mailbox("Adams, Zoe", "zoe@customers.example"),
        Mailbox("", "bob@customers.example"),
        Mailbox("Ann", "ann@xn--bcher-kva.example"),
    ]
    stored = compose.format_mailboxes(boxes)
    assert compose.parse_mailboxes("To", stored) == boxes
    assert compose.parse_mailboxes("To", ["a@x.example, b@x.example", "c@x.example"]) == [
        Mailbox("", "a@x.example"),
        Mailbox("", "b@x.example"),
        Mailbox("", "c@x.example"),
    ]
    assert compose.parse_mailboxes("To", "") == []
    assert compose.split_addresses('(a, b) x@y.example; "q;r" <z@y.example>,') == [
        "(a, b) x@y.example",
        '"q;r" <z@y.example>',
    ]


@pytest.mark.parametrize(
    ("typed", "parts"),
    [
        # the seed's space between two addresses; tabs and runs of spaces alike
        ("abc@mailserver.com xyz@mailserver.com", ["abc@mailserver.com", "xyz@mailserver.com"]),
        (
            "  Abc@MailServer.com \t  xyz@mailserver.com ",
            ["Abc@MailServer.com", "xyz@mailserver.com"],
        ),
        # a name stays with the <address> after it, a comment with the part before it
        ("Zoe Adams <zoe@x.example> max@x.example", ["Zoe Adams <zoe@x.example>", "max@x.example"]),
        ("zoe@x.example (Zoe) max@x.example", ["zoe@x.example (Zoe)", "max@x.example"]),
        # quotes and <> hold their spaces; an '@' inside quotes makes no address
        ('"Zoe Adams" <zoe@x.example>', ['"Zoe Adams" <zoe@x.example>']),
        ('"a@b" <zoe@x.example> max@x.example', ['"a@b" <zoe@x.example>', "max@x.example"]),
        ('"zoe adams"@x.example max@x.example', ['"zoe adams"@x.example', "max@x.example"]),
        ("Zoe < zoe@x.example >", ["Zoe < zoe@x.example >"]),
        # words without an '@' between addresses stay together, to be named as typed
        ("Zoe Adams zoe@x.example", ["Zoe Adams", "zoe@x.example"]),
        (
            "zoe@x.example please copy max@x.example",
            ["zoe@x.example", "please copy", "max@x.example"],
        ),
        ("abc", ["abc"]),
        ("", []),
    ],
)
def test_split_loosely_keeps_each_part_as_typed(typed: str, parts: list[str]) -> None:
    assert compose.split_loosely(typed) == parts


def test_no_recipient_at_all_is_refused() -> None:
    with pytest.raises(HeaderError, match="at least one recipient"):
        compose.build(outgoing(to=[], cc=[], bcc=[]))


def test_bcc_only_is_allowed() -> None:
    raw, msg = parsed(outgoing(to=[], cc=[]))
    assert "To" not in msg and "Bcc" not in msg and b"audit@" not in raw


def test_message_ids_are_unique_on_the_channels_domain() -> None:
    first = compose.make_message_id("Support@Example.COM")
    second = compose.make_message_id("support@example.com")
    assert first != second
    assert first.startswith("<") and first.endswith("@example.com>")
    compose.check_message_id("Message-ID", first)
    assert compose.make_message_id("a@bücher.example").endswith("@xn--bcher-kva.example>")


def test_references_of_a_long_thread_keep_the_first_and_the_latest() -> None:
    ids = [f"<m{n}@x.example>" for n in range(30)]
    refs = compose.thread_references("<m30@x.example>", ids)
    assert len(refs) == 20
    assert refs[0] == "<m0@x.example>" and refs[-1] == "<m30@x.example>"
    assert compose.thread_references(None, []) == []
    assert compose.thread_references("<a@x>", ["<a@x>", "junk"]) == ["<a@x>"]


def test_body_line_ends_are_normalised() -> None:
    _, msg = parsed(outgoing(body="one\r\ntwo\rthree\nfour"))
    assert msg.get_content().replace("\r\n", "\n") == "one\ntwo\nthree\nfour\n"


def test_long_thread_ids_are_folded_between_ids_never_encoded() -> None:
    long_id = "<" + "x" * 90 + "@outlook.example>"
    refs = [f"<m{n}@customers.example>" for n in range(6)] + [long_id]
    raw, msg = parsed(outgoing(in_reply_to=long_id, references=refs))
    assert b"=?" not in raw
    assert msg["In-Reply-To"] == long_id
    assert msg["References"].split() == refs
    assert str(msg["References"]) == " ".join(refs)
    lines = raw.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert any(line.startswith(b"References: <m0@") for line in lines)


def _outcome(parse: object, text: str) -> object:
    try:
        return parse("To", text)  # type: ignore[operator]
    except HeaderError as exc:
        return ("refused", str(exc))


def test_the_quick_path_for_plain_addresses_agrees_with_the_full_parser() -> None:
    """Plain addresses skip the email package's parser; every answer (and every refusal) must
    be the parser's, and stored text must be what the header would print."""
    rng = random.Random(20261127)
    pieces = [
        "zoe",
        "Zoe",
        "Adams",
        "5",
        "x-y",
        "o'neil",
        "a+tag",
        "{b}",
        "~",
        ".",
        "..",
        "@",
        "@@",
        " ",
        "  ",
        "<",
        ">",
        '"',
        "(c)",
        ",",
        ";",
        ":",
        "customers",
        "example",
        "-",
        "ö",
        "\t",
        "[1.2.3.4]",
        "\\",
    ]
    shapes = [
        lambda: f"{word()}@{host()}",
        lambda: f"{name()} <{word()}@{host()}>",
        lambda: "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))),
    ]

    def word() -> str:
        return "".join(rng.choice([*pieces[:12], "."]) for _ in range(rng.randint(1, 3)))

    def host() -> str:
        return ".".join(
            rng.choice(["customers", "example", "a-b", "-x", "b1", "ö", ""])
            for _ in range(rng.randint(1, 3))
        )

    def name() -> str:
        return " ".join(
            rng.choice(["Zoe", "Adams", "5", "O'Neil", "Dr.", "A,B", "", "Jörg"])
            for _ in range(rng.randint(1, 3))
        )

    quick = 0
    for _ in range(20000):
        text = rng.choice(shapes)()
        got = _outcome(compose.parse_mailbox, text)
        full = _outcome(compose.parse_mailbox_fully, text.strip()) if text.strip() else got
        assert got == full, text
        if isinstance(got, Mailbox):
            quick += compose._PLAIN.fullmatch(text.strip()) is not None
            assert str(got) == str(got.header()), text
    assert quick > 1000  # the quick path was taken, and checked, many times


# ---- header values are text: never decoded again, whatever Python builds them -------------

# Issue 11, item 1: a customer's Subject that decodes to this text (an encoded word inside an
# encoded word). The email package decoded it once more while building the reply: on a
# Python without the CVE-2024-6923 fix (3.11.7) the reply carried an X-Injected header and
# the attacker's HTML body; on one with it (Debian's 3.11.2) the customer read a subject
# that was not the text.
INJECTION = (
    "=?utf-8?q?Order=0D=0AX-Injected:_1=0D=0AContent-Type:_text/html=0D=0A=0D=0A<h1>Pay</h1>?="
)
FIELDS = ["Content-Transfer-Encoding", "Content-Type", "Date", "From", "MIME-Version"]
FIELDS += ["Message-ID", "Subject", "To"]


def read_back(raw: bytes) -> EmailMessage:
    """The message as policy.default reads it, after the checks any reading must pass:
    exactly the fields that were asked for, one plain text body, CRLF, ASCII."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    assert sorted(msg.keys()) == FIELDS, raw.decode("ascii", "replace")
    assert msg.get_content_type() == "text/plain" and not msg.is_multipart()
    assert raw.count(b"\n") == raw.count(b"\r\n") and raw.isascii()
    return msg


def plain(**changes: object) -> Outgoing:
    return outgoing(cc=[], bcc=[], in_reply_to=None, references=[], **changes)


def test_the_issues_subject_reads_literally_and_adds_no_header_or_body() -> None:
    out = plain(subject=f"Re: {INJECTION}", body="Your order is on its way.\n")
    raw = compose.message_bytes(out)
    msg = read_back(raw)
    assert str(msg["Subject"]) == f"Re: {INJECTION}"
    assert msg.get_content().replace("\r\n", "\n") == "Your order is on its way.\n"
    assert b"X-Injected" not in raw.split(b"\r\n\r\n")[0]
    assert b"<h1>" not in raw
    # as this product reads it, too (the check before sending reads it so)
    headers = Headers(raw)
    assert decode_words(headers.get("Subject") or "") == f"Re: {INJECTION}"
    assert headers.get("X-Injected") is None


@pytest.mark.parametrize(
    "changes",
    [
        {"sender": Mailbox(INJECTION, "support@example.com")},
        {"to": [Mailbox(INJECTION, "zoe@customers.example")]},
        {
            "to": [
                Mailbox("Zoe", "zoe@customers.example"),
                Mailbox(f"{INJECTION}, x", "x@y.example"),
            ]
        },
    ],
    ids=["channel-display-name", "customer-name", "second-name"],
)
def test_an_encoded_word_in_a_display_name_stays_text(changes: dict[str, object]) -> None:
    out = plain(**changes)
    raw = compose.message_bytes(out)
    msg = read_back(raw)
    for label, boxes in (("From", [out.sender]), ("To", out.to)):
        written = [(b.name, b.address) for b in boxes]
        assert [(m.name, m.address) for m in parse_addresses(Headers(raw).get(label) or "")] == (
            written
        )
        # policy.default reads a space between the two encoded words of a long name (RFC
        # 2047 6.2 drops it, as this product's reader does): the rest is the same
        assert [(a.display_name.replace(" ", ""), a.addr_spec) for a in msg[label].addresses] == [
            (name.replace(" ", ""), address) for name, address in written
        ]


# The pieces hostile subjects and names are made of: line breaks and NUL (refused), encoded
# words inside encoded words, halves of them, words longer than a line, specials, 8-bit text.
HOSTILE = [
    "\r",
    "\n",
    "\r\n",
    "\x00",
    "\u2028",
    "\x85",
    "\t",
    " ",
    "  ",
    "=?",
    "?=",
    "=?utf-8?q?",
    "=?utf-8?b?",
    "=0D=0A",
    "=?utf-8?b?DQpYLUluamVjdGVkOiAx?=",
    "=?utf-8?q?=3D=3Futf-8=3Fq=3F=3D0D=3D0ABcc:_evil@example.com=3F=3D?=",
    INJECTION,
    "X-Injected: 1",
    "Bcc: evil@example.com",
    "<h1>Pay</h1>",
    '"',
    "\\",
    "<",
    ">",
    ",",
    ";",
    ":",
    "(",
    ")",
    "@",
    "_",
    "Zoë",
    "日本語",
    "x" * 100,
    "=?utf-8?q?" + "y" * 120 + "?=",
]
REFUSED = set("\r\n\x00\u2028\x85")


def test_generated_hostile_subjects_and_names_are_refused_or_read_back_as_written() -> None:
    """Each subject and display name made of the pieces above either is refused (a line
    break or a control character: HeaderError naming the field) or reads back exactly as
    written, with exactly the fields asked for and lines of 78 characters at most."""
    rng = random.Random(20261204)
    refused = read = 0
    for _ in range(3000):
        subject = "".join(rng.choice(HOSTILE) for _ in range(rng.randint(0, 10)))
        name = "".join(rng.choice(HOSTILE) for _ in range(rng.randint(0, 5)))
        out = plain(
            subject=subject,
            to=[Mailbox(name, "zoe@customers.example"), Mailbox("", "bob@customers.example")],
        )
        if REFUSED & set(subject + name):
            with pytest.raises(HeaderError) as error:
                compose.message_bytes(out)
            assert error.value.field == ("Subject" if REFUSED & set(subject) else "To")
            refused += 1
            continue
        raw = compose.message_bytes(out)
        msg = read_back(raw)
        assert str(msg["Subject"]) == subject
        # (policy.default reads the white space in a display name its own way: runs as one,
        # and one between two encoded words of a long name, which RFC 2047 drops)
        (shown, _), bob = [(a.display_name, a.addr_spec) for a in msg["To"].addresses]
        assert "".join(shown.split()) == "".join(name.split())
        assert bob == ("", "bob@customers.example")
        assert all(len(line) <= 78 for line in raw.split(b"\r\n")), raw
        read += 1
    assert refused > 500 and read > 500


def test_what_is_built_is_read_back_and_refused_when_it_reads_otherwise() -> None:
    """The last check before a message goes out reads the bytes as a mail client would:
    the bytes a Python without the CVE-2024-6923 fix made of the issue's subject are
    refused, as is any field added, doubled or changed."""
    out = plain(subject=f"Re: {INJECTION}")
    good = compose.message_bytes(out)
    compose.verify(out, good)
    head, body = good.split(b"\r\n\r\n", 1)
    subject = next(line for line in head.split(b"\r\n") if line.startswith(b"Subject:"))
    injected = head.replace(
        good[good.index(subject) : good.index(b"Message-ID:")],
        b"Subject: Re: Order\r\nX-Injected: 1\r\nContent-Type: text/html\r\n\r\n<h1>Pay</h1>\r\n",
    )
    bad = {
        "Headers": [
            injected + b"\r\n\r\n" + body,
            head + b"\r\nBcc: evil@example.com\r\n\r\n" + body,
            head + b"\r\nTo: evil@example.com\r\n\r\n" + body,
        ],
        "Subject": [head.replace(subject, b"Subject: Re: Order") + b"\r\n\r\n" + body],
        "To": [head.replace(b"To: Zoe Adams <zoe@", b"To: Zoe Adams <eve@") + b"\r\n\r\n" + body],
        "Message": [head.replace(b"text/plain", b"text/html") + b"\r\n\r\n" + body],
    }
    for field_name, datas in bad.items():
        for data in datas:
            with pytest.raises(HeaderError, match="does not read back as written") as error:
                compose.verify(out, data)
            assert error.value.field == field_name, data


def test_the_check_before_queueing_reads_the_header_fields_back_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``check`` (run when a reply is queued) refuses what would not read back, before
    anything is built: here a writer that lets the email package's decoding through."""
    out = plain(subject=f"Re: {INJECTION}")
    compose.check(out)

    def decoded_again(text: str) -> list[object]:  # what a Python without the fix wrote
        return [compose._Unit("", str(make_header(decode_header(text))))]

    monkeypatch.setattr(compose, "_text_units", decoded_again)
    with pytest.raises(HeaderError) as error:
        compose.check(out)
    assert error.value.field == "Headers"


def test_an_8bit_message_id_is_refused_and_left_out_of_references() -> None:
    with pytest.raises(HeaderError) as error:
        compose.build(outgoing(in_reply_to="<größe@customers.example>", references=[]))
    assert error.value.field == "In-Reply-To"
    assert compose.thread_references("<größe@x.example>", ["<a@x.example>"]) == ["<a@x.example>"]
