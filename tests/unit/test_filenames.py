"""Attachment names proposed for saving (issue 11, item 4): whatever the sender wrote,
a base name without folders, hidden-file dots, invisible characters or device names."""

from __future__ import annotations

import re
import unicodedata

import pytest

from app.services.filenames import MAX_NAME_BYTES, safe_file_name

HOSTILE = [
    ("../../.bashrc", "bashrc"),
    ("/etc/passwd", "passwd"),
    ("C:\\Windows\\x", "x"),
    ("C:\\Windows\\System32\\drivers\\etc\\hosts", "hosts"),
    ("C:evil.txt", "C_evil.txt"),
    ("..\\..\\AppData\\Roaming\\evil.lnk", "evil.lnk"),
    ("a\x00b.txt", "ab.txt"),
    ("report\x00.pdf\x00.exe", "report.pdf.exe"),
    ("bad\x1b[31m\x07.txt", "bad[31m.txt"),
    ("line\r\nbreak.txt", "line break.txt"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"),  # shown as "invoiceexe.pdf"
    ("\u2066photo\u2069\u200b.jpg\ufeff", "photo.jpg"),
    ("CON", "_CON"),
    ("con", "_con"),
    ("nul.txt", "_nul.txt"),
    ("NUL.tar.gz", "_NUL.tar.gz"),
    ("COM1", "_COM1"),
    ("lpt9.log", "_lpt9.log"),
    ("COM¹.txt", "_COM¹.txt"),
    ("aux .txt", "_aux .txt"),
    ("console.txt", "console.txt"),
    ("name. . ", "name"),
    ("name...", "name"),
    ("  spaced   out  .txt  ", "spaced out .txt"),
    ('what?*<>|".txt', "what______.txt"),
    (".hidden", "hidden"),
    ("...", "attachment"),
    ("..", "attachment"),
    (".", "attachment"),
    ("", "attachment"),
    ("   ", "attachment"),
    ("dir/", "attachment"),
    ("\x00\x00", "attachment"),
    ("Größe 日本語.pdf", "Größe 日本語.pdf"),
    ("Gro\u0308sse.txt", "Grösse.txt"),  # NFC
]


@pytest.mark.parametrize(("name", "expected"), HOSTILE)
def test_hostile_names_become_safe_base_names(name: str, expected: str) -> None:
    assert safe_file_name(name) == expected


@pytest.mark.parametrize(
    "name",
    [h for h, _ in HOSTILE]
    + ["x" * 5000, "é" * 5000 + ".pdf", "a" * 300 + "." + "b" * 40, "日本" * 2000 + ".txt"],
)
def test_every_proposal_can_be_saved_anywhere(name: str) -> None:
    safe = safe_file_name(name, "attachment-7")
    assert safe and len(safe.encode("utf-8")) <= MAX_NAME_BYTES
    assert not re.search(r'[/\\:<>"|?*]', safe)
    assert not any(unicodedata.category(ch)[0] == "C" for ch in safe)
    assert not safe.startswith((".", " ")) and not safe.endswith((".", " "))
    stem = safe.split(".", 1)[0].strip().upper()
    assert stem not in {"CON", "PRN", "AUX", "NUL"} and not re.fullmatch(r"(COM|LPT)\d", stem)


def test_long_names_keep_their_extension() -> None:
    assert safe_file_name("x" * 5000 + ".pdf").endswith("xx.pdf")
    safe = safe_file_name("é" * 5000 + ".tar.gz")
    assert safe.endswith("é.gz") and len(safe.encode()) <= MAX_NAME_BYTES
    assert safe_file_name("a" * 300 + "." + "b" * 40) == "a" * MAX_NAME_BYTES


def test_the_fallback_is_used_when_nothing_is_left() -> None:
    assert safe_file_name("../..", "attachment-12") == "attachment-12"
