"""The reading pane's pure parts: who sent it (issue 11, item 2), where a link goes (item
13), the pieces of a raw source."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QUrl

from app.ui.email_rendering import RAW_LINE, raw_source
from app.ui.mail_display import (
    NAME_SHOWN,
    addresses_html,
    link_host_note,
    mailbox_html,
    sender_parts,
)

MIXED = " — mixed scripts: Latin and Cyrillic letters in one name."


@pytest.mark.parametrize(
    ("url", "note"),
    [
        ("https://xn--pypal-4ve.com/login", "Site: pаypal.com (xn--pypal-4ve.com)" + MIXED),
        ("https://pаypal.com/login", "Site: pаypal.com (xn--pypal-4ve.com)" + MIXED),  # а typed
        ("mailto:ceo@xn--pypal-4ve.com", "Site: pаypal.com (xn--pypal-4ve.com)" + MIXED),
        (
            "https://login.xn--mazon-3ve.com/",
            "Site: login.аmazon.com (login.xn--mazon-3ve.com)" + MIXED,
        ),
        ("https://xn--fcebook-2fg.com/", "Site: fаcebook.com (xn--fcebook-2fg.com)" + MIXED),
        (
            "https://xn--gogle-rce.com/",  # a Greek omicron
            "Site: gοogle.com (xn--gogle-rce.com) — mixed scripts: Latin and Greek letters",
        ),
        ("https://xn--mnchen-3ya.de/", "Site: münchen.de (xn--mnchen-3ya.de)"),
        ("https://xn--wgv71a119e.jp/", "Site: 日本語.jp (xn--wgv71a119e.jp)"),
        ("https://xn--gckr3f0f.jp/", "Site: クラウド.jp (xn--gckr3f0f.jp)"),
        ("https://shop.example/help", ""),
        ("mailto:help@shop.example", ""),
    ],
)
def test_links_to_internationalised_hosts_show_their_ascii_form(url: str, note: str) -> None:
    said = link_host_note(QUrl(url))
    assert said.startswith(note), said
    assert ("mixed scripts" in said) == ("mixed scripts" in note)
    if "mixed" in note:
        assert said.endswith("It may imitate the name of another site.")
    else:
        assert said == note


def test_a_mailbox_shows_the_name_quoted_and_the_address_whole() -> None:
    assert mailbox_html("ceo@bank.example", "attacker@evil.example") == (
        "“ceo@bank.example” &lt;<b>attacker@evil.example</b>&gt;"
    )
    assert mailbox_html("", "zoe@customers.example") == "<b>zoe@customers.example</b>"
    assert "(no address)" in mailbox_html("ceo@bank.example", "")
    assert "(not an email address)" in mailbox_html("", '"ceo@bank.example"')
    # Invisible and direction-changing characters go; a long name is shortened.
    shown = mailbox_html("\u202eelpmaxe.knab@oec\u200b", "a@evil.example")
    assert shown.startswith("“elpmaxe.knab@oec”")
    long = mailbox_html("ceo@bank.example " * 200, "a@evil.example")
    assert len(long.split("”")[0]) <= NAME_SHOWN + 1 and "<b>a@evil.example</b>" in long
    assert "&lt;script&gt;" in mailbox_html("<script>", "a@b.example")


def test_address_headers_and_the_first_sender() -> None:
    assert addresses_html('"ceo@bank.example" <attacker@evil.example>, bob@x.example') == (
        "“ceo@bank.example” &lt;<b>attacker@evil.example</b>&gt;, <b>bob@x.example</b>"
    )
    assert sender_parts('"ceo@bank.example" <attacker@evil.example>') == (
        "ceo@bank.example",
        "attacker@evil.example",
    )


def test_the_raw_source_in_pieces_is_the_source() -> None:
    raw = b"Subject: x\r\n\r\n" + b"line of the body\r\n" * 20_000
    source = raw_source(raw)
    assert len(source.pieces) > 3 and not source.folded
    assert "\n".join(source.pieces) == raw.decode().replace("\r\n", "\n")
    long = raw_source(b"a" * (RAW_LINE * 2 + 5) + b"\r\nend")
    assert long.folded and "\n".join(long.pieces) == "\n".join(
        ["a" * RAW_LINE, "a" * RAW_LINE, "aaaaa", "end"]
    )
