"""File names that come from senders, made safe to propose when saving.

An attachment's name is whatever the sender wrote: ``../../.bashrc``, ``/etc/passwd``,
``C:\\Windows\\x``, ``CON``, a name with NUL or an invisible right-to-left override that
shows ``invoice‮fdp.exe`` as ``invoiceexe.pdf``, 5,000 characters. ``safe_file_name``
proposes a base name a user can save under on Linux, macOS and Windows: no folder, no
leading dot (a hidden or configuration file), no control or invisible formatting
characters, none of the characters Windows refuses, no reserved device name, not ending in
a dot or a space, at most ``MAX_NAME_BYTES`` bytes of UTF-8 (the extension kept).
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_BYTES = 200  # file systems allow 255; room is left for " (2)" and the like
MAX_EXTENSION = 16  # longer "extensions" are part of the name when it is shortened
# Device names Windows reserves whatever the extension (CON, con.txt, COM1.tar.gz).
_RESERVED = re.compile(r"(?i)(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)\Z")
_WINDOWS_REFUSED = re.compile(r'[<>:"|?*]')
_SPACES = re.compile(r"\s+")
# Unicode categories that are never part of a name worth keeping: controls (NUL, ESC…),
# formats (bidirectional overrides, zero-width characters, BOM), line and paragraph
# separators, surrogates left by undecodable bytes, private use, unassigned.
_DROPPED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


def _visible(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch) not in _DROPPED_CATEGORIES)


def _shortened(name: str, limit: int) -> str:
    """``name`` in at most ``limit`` bytes of UTF-8, its extension kept where it has one."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > MAX_EXTENSION:
        stem, extension = name, ""
    else:
        extension = "." + extension
    room = limit - len(extension.encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return cut.rstrip(". ") + extension


def safe_file_name(name: str, fallback: str = "attachment") -> str:
    """A base name to propose for saving ``name`` (see the module); ``fallback`` when
    nothing of it is left (an empty name, only dots, only a folder)."""
    text = unicodedata.normalize("NFC", name or "")
    # The last part of any path, written with either separator.
    text = re.split(r"[/\\]", text)[-1]
    text = _visible(_SPACES.sub(" ", text))
    text = _WINDOWS_REFUSED.sub("_", text)
    text = _SPACES.sub(" ", text).strip()
    text = text.lstrip(". ").rstrip(". ")
    text = _shortened(text, MAX_NAME_BYTES)
    if not text:
        return fallback
    stem = text.split(".", 1)[0].rstrip(" ")
    if _RESERVED.match(stem):
        text = "_" + text
    return text
