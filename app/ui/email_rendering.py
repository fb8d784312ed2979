"""An email prepared for showing, as pure work off the GUI thread: its body decoded, cut
into pieces cheap to lay out (the first part shown at once, the rest when asked for, its
tables laid flat), its inline images decoded beforehand, and its raw source cut into
pieces of whole lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QImage

from app.mail.html import cap_nesting, html_pieces, text_pieces
from app.services.emails import EmailBody, EmailDetail

RAW_SHOWN_LIMIT = 4 * 1024 * 1024  # more than this is exported rather than shown
RAW_AT_ONCE = 128 * 1024  # a larger source is read off the GUI thread, shown in pieces
RAW_PIECE = 64 * 1024
RAW_LINE = 4000  # longer lines of the source are shown folded (each is laid out whole)
# A message this small is read at once: however it is built, sanitizing it takes a few
# milliseconds (larger ones are read off the GUI thread).
BODY_AT_ONCE = 8 * 1024
PART_CHARS = 200_000  # of a body's HTML or text: shown at once; the rest when asked for


# ---- the raw source ------------------------------------------------------------------


@dataclass(frozen=True)
class RawSource:
    """The message's source to show: pieces of whole lines (joined by line breaks)."""

    pieces: list[str]
    size: int  # bytes received
    shown: int  # bytes shown
    folded: bool  # some line was longer than RAW_LINE


def raw_source(raw: bytes) -> RawSource:
    """``raw`` (at most ``RAW_SHOWN_LIMIT`` of it) as text in pieces of about
    ``RAW_PIECE``, lines longer than ``RAW_LINE`` folded."""
    shown = raw[:RAW_SHOWN_LIMIT]
    text = shown.decode("utf-8", errors="backslashreplace").replace("\r\n", "\n")
    lines = text.split("\n")
    folded = any(len(line) > RAW_LINE for line in lines)
    if folded:
        lines = [
            part
            for line in lines
            for part in ([line[i : i + RAW_LINE] for i in range(0, len(line), RAW_LINE)] or [""])
        ]
    pieces: list[str] = []
    start = size = 0
    for i, line in enumerate(lines):
        size += len(line) + 1
        if size >= RAW_PIECE:
            pieces.append("\n".join(lines[start : i + 1]))
            start, size = i + 1, 0
    if start < len(lines) or not pieces:
        pieces.append("\n".join(lines[start:]))
    return RawSource(pieces, len(raw), len(shown), folded)


# ---- the body, prepared off the GUI thread ------------------------------------------------

_DATA_SRC = re.compile(r'src="(data:image/[a-z]+;base64,[A-Za-z0-9+/=]*)"')
# Inline images are decoded beforehand and named by this scheme in what is shown: a
# data: URL of megabytes cost Qt's HTML reader as much as megabytes of text.
INLINE_IMAGE = "inline-image"
MAX_IMAGE_SIDE = 2048  # larger images are shown scaled down (decoded, they fill memory)


@dataclass
class Rendering:
    """A body cut into pieces to show: ``first`` at once, ``rest`` when asked for."""

    first: list[str]
    rest: list[str] = field(default_factory=list)
    rest_size: int = 0  # characters of the body not in ``first``
    images: dict[str, QImage] = field(default_factory=dict)  # by INLINE_IMAGE name
    attachments: list[Any] = field(default_factory=list)
    body: EmailBody | None = None


@dataclass(frozen=True)
class EmailRead:
    """What showing an email needs, read off the GUI thread."""

    detail: EmailDetail
    rendering: Rendering | None  # a small body, prepared
    campaigns: list[tuple[int, str]] | None  # to release a quarantined email into
    agents: list[tuple[int, str]] | None  # to re-open an actioned email to


def _inline_images(html: str) -> tuple[str, dict[str, QImage]]:
    """``html`` with its data: image URLs replaced by ``INLINE_IMAGE`` names, and the
    images decoded (made ready to paint, the largest scaled down)."""
    names: dict[str, str] = {}
    images: dict[str, QImage] = {}

    def named(match: re.Match[str]) -> str:
        url = match.group(1)
        name = names.get(url)
        if name is None:
            name = names[url] = f"{INLINE_IMAGE}:{len(names)}"
            image = data_url_image(url)
            if image is not None:
                if max(image.width(), image.height()) > MAX_IMAGE_SIDE:
                    image = image.scaled(
                        MAX_IMAGE_SIDE,
                        MAX_IMAGE_SIDE,
                        Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation,
                    )
                images[name] = image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
        return f'src="{name}"'

    return _DATA_SRC.sub(named, html), images


def prepare(body: EmailBody, part_chars: int = PART_CHARS) -> Rendering:
    """The pieces of ``body`` (sanitized HTML, else its text), its images decoded. Pure
    work: runs off the GUI thread."""
    images: dict[str, QImage] = {}
    if body.safe_html is not None:
        shown, images = _inline_images(body.safe_html)
        pieces = html_pieces(shown)
    elif body.text_body:
        pieces = text_pieces(body.text_body)
    else:
        pieces = ['<p style="color:#666666"><i>This email has no text.</i></p>']
    first: list[str] = []
    size = 0
    for piece in pieces:
        if size >= part_chars:
            break
        first.append(piece)
        size += len(piece)
    rest = pieces[len(first) :]
    rest_size = sum(len(p) for p in rest)
    if rest and body.safe_html is not None:
        # The rest with its tables laid flat: they would cost too much here.
        rest = html_pieces(cap_nesting("".join(rest), max_table_depth=0))
    return Rendering(first, rest, rest_size, images, body.attachments, body)


def data_url_image(url: str) -> QImage | None:
    """The image of a base64 ``data:image/…`` URL; None if it is not one or holds none."""
    header, _sep, payload = url.partition(",")
    if not header.startswith("data:image/") or not header.endswith(";base64"):
        return None
    image = QImage()
    image.loadFromData(QByteArray.fromBase64(payload.encode("ascii", "ignore")))
    return None if image.isNull() else image
