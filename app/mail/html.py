"""Customer HTML made safe to show: no scripts, no forms, no remote loads.

``sanitize`` keeps a set of formatting tags (nh3/ammonia does the parsing, so what
comes out is well-formed), drops event handlers and scripts, keeps only http/https/
mailto links (with rel="noopener noreferrer"), and never lets the viewer fetch
anything: image sources other than ``cid:`` parts we were given as ``data:`` URLs are
removed and the image is replaced by a short text placeholder, so that tracking
pixels and remote images never reach the network. CSS that could load (``url()``,
``@import``, IE ``expression``) is removed with the whole ``style`` attribute.

Nesting is capped, because Qt's rich-text layout is not linear in it: each level of
nested tables about doubles the time to lay out what they hold (20 levels of a 1 KB
email took 21 s), and deep lists, quotes and divisions cost the square of their depth,
in the HTML parser as in Qt. Tables nest at most ``MAX_TABLE_DEPTH`` deep, lists and
quotes ``MAX_LIST_DEPTH`` and ``MAX_QUOTE_DEPTH``, any element ``MAX_DEPTH``, and an
email has at most ``MAX_TABLES`` tables; beyond that the tags are dropped and their text
kept, cells separated by a space and rows, items and blocks by a line break.

``html_parts`` and ``text_parts`` cut what is shown into pieces that the viewer can
lay out in a few milliseconds each (see ``app.ui.message_view``).
"""

from __future__ import annotations

import html as html_lib
import re

import nh3

REMOTE_IMAGE = "[remote image blocked]"
MISSING_IMAGE = "[image not shown]"

TAGS = {
    "a", "abbr", "address", "b", "bdi", "bdo", "blockquote", "br", "caption", "center",
    "cite", "code", "col", "colgroup", "dd", "del", "dfn", "div", "dl", "dt", "em", "font",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol",
    "p", "pre", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var", "wbr",
}  # fmt: skip
# Removed together with their content (the rest of the unknown tags keep their text).
CLEAN_CONTENT = {"script", "style", "title", "template", "noembed", "noframes", "xmp"}
_COMMON = {"align", "bgcolor", "color", "dir", "lang", "style", "title", "valign"}
ATTRIBUTES: dict[str, set[str]] = {
    "*": _COMMON,
    "a": {"href"},
    "img": {"src", "alt", "width", "height", "border"},
    "font": {"face", "size"},
    "table": {"border", "cellpadding", "cellspacing", "width", "height"},
    "td": {"colspan", "rowspan", "width", "height", "nowrap"},
    "th": {"colspan", "rowspan", "width", "height", "nowrap", "scope"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "ol": {"start", "type"},
    "ul": {"type"},
    "li": {"value"},
    "blockquote": {"cite"},
    "q": {"cite"},
}
STYLE_PROPERTIES = {
    "background-color", "border", "border-bottom", "border-collapse", "border-color",
    "border-left", "border-right", "border-style", "border-top", "border-width", "color",
    "direction", "display", "font", "font-family", "font-size", "font-style", "font-weight",
    "height", "line-height", "list-style-type", "margin", "margin-bottom", "margin-left",
    "margin-right", "margin-top", "padding", "padding-bottom", "padding-left",
    "padding-right", "padding-top", "text-align", "text-decoration", "text-indent",
    "vertical-align", "white-space", "width",
}  # fmt: skip
LINK_SCHEMES = ("http:", "https:", "mailto:")
# Markers the attribute filter leaves in a blocked image's src, replaced afterwards.
_BLOCKED_REMOTE = "about:blocked-remote"
_BLOCKED_OTHER = "about:blocked-other"
_DANGEROUS_CSS = re.compile(
    r"url\s*\(|expression\s*\(|@import|behavior|binding|\\|javascript", re.I
)
_IMG = re.compile(r"<img\b[^>]*>")  # nh3 escapes '<' and '>' inside attribute values
_SRC = re.compile(r'\ssrc="([^"]*)"')
_ALT = re.compile(r'\salt="([^"]*)"')
_SAFE_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp|bmp);base64,[A-Za-z0-9+/=]*\Z")


def _cid_key(value: str) -> str:
    return value.strip().strip("<>").strip().lower()


def sanitize(html: str, cid_map: dict[str, str] | None = None) -> str:
    """``html`` reduced to safe formatting with its nesting capped; ``cid_map`` maps
    Content-IDs (without angle brackets) to the ``data:image/...;base64,`` URLs of the
    inline parts to show."""
    html = _bounded(html)
    images = {_cid_key(k): v for k, v in (cid_map or {}).items() if _SAFE_DATA_IMAGE.match(v)}

    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        if attr == "src":
            lowered = value.strip().lower()
            if lowered.startswith("cid:"):
                return images.get(_cid_key(value.strip()[4:]), _BLOCKED_OTHER)
            if lowered.startswith(("http:", "https:", "//")):
                return _BLOCKED_REMOTE
            return _BLOCKED_OTHER
        if attr == "href":
            return value if value.strip().lower().startswith(LINK_SCHEMES) else None
        if attr == "cite":
            return None  # a URL a viewer might fetch, and nothing a reader needs
        if attr == "style" and _DANGEROUS_CSS.search(value):
            return None
        return value

    cleaned = nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags=CLEAN_CONTENT,
        attributes=ATTRIBUTES,
        attribute_filter=attribute_filter,
        strip_comments=True,
        link_rel="noopener noreferrer",
        url_schemes={"http", "https", "mailto", "cid"},
        # Relative URLs reach attribute_filter, which allows none of them (it tells a
        # protocol-relative remote image from other sources).
        url_relative="pass_through",
        filter_style_properties=STYLE_PROPERTIES,
    )
    return cap_nesting(_IMG.sub(_image, cleaned))


def _image(match: re.Match[str]) -> str:
    tag = match.group(0)
    src = _SRC.search(tag)
    if src is not None and src.group(1).startswith("data:image/"):
        return tag
    alt = _ALT.search(tag)
    placeholder = (
        REMOTE_IMAGE if src is not None and src.group(1) == _BLOCKED_REMOTE else (MISSING_IMAGE)
    )
    if alt is not None and alt.group(1).strip():
        placeholder = f"{placeholder[:-1]}: {alt.group(1).strip()}]"
    # alt is already escaped by nh3; the placeholder itself is plain text.
    return f'<span style="color:#666666">{_escape_keep_entities(placeholder)}</span>'


def _escape_keep_entities(text: str) -> str:
    return html_lib.escape(html_lib.unescape(text), quote=False)


def to_html(text: str) -> str:
    """Plain text shown as HTML: escaped, line breaks kept (CR LF and CR count once)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    escaped = html_lib.escape(lines, quote=False)
    return f'<div style="white-space:pre-wrap">{escaped}</div>'


# ---- nesting -------------------------------------------------------------------------

MAX_DEPTH = 32  # elements inside one another
MAX_TABLE_DEPTH = 4  # tables inside tables
MAX_LIST_DEPTH = 8  # lists (ul, ol, dl) inside lists
MAX_QUOTE_DEPTH = 8  # blockquotes inside blockquotes
MAX_TABLES = 1000  # tables in one email; each is a frame of Qt's document
# Before the parser: block containers (and formatting elements) deeper than this are
# dropped from the raw HTML. The parser looks through every open element for each block it
# opens (quadratic: 10,000 nested lists took it 1.5 s); the caps above apply precisely to
# what it gives back.
PARSER_DEPTH = 100
# Formatting elements left open are reopened by the parser in every block that follows:
# at most this many.
PARSER_FORMATTING = 20

_CONTAINER = re.compile(
    r"<(/?)(?:address|article|aside|blockquote|center|details|dialog|dir|div|dl|fieldset"
    r"|figcaption|figure|footer|form|header|hgroup|listing|main|menu|nav|ol|pre|search"
    r"|section|summary|table|ul)(?=[\s/>])[^>]*>",
    re.I,
)
# Left open, each is reopened by the parser in every block after it (10,000 unclosed
# <font> tags took it 3 s).
_FORMATTING = re.compile(
    r"<(/?)(?:a|b|big|code|em|font|i|nobr|s|small|strike|strong|tt|u)(?=[\s/>])[^>]*>", re.I
)
# In nh3's output every '<' of text and attribute values is escaped: this finds the tags.
_TAG = re.compile(r"<(/?)([a-z][a-z0-9]*)[^>]*>")
_VOID = frozenset({"br", "hr", "img", "col", "wbr"})
_TABLE_PARTS = frozenset({"tbody", "thead", "tfoot", "tr", "td", "th", "caption", "colgroup"})
_LISTS = frozenset({"ul", "ol", "dl"})
_LIST_ITEMS = frozenset({"li", "dt", "dd"})
_CELLS = frozenset({"td", "th"})
# Dropped, these end a line (their text would otherwise run into the next).
_BLOCKS = frozenset(
    {
        "address", "blockquote", "caption", "center", "dd", "div", "dl", "dt", "h1", "h2",
        "h3", "h4", "h5", "h6", "li", "ol", "p", "pre", "table", "tr", "ul",
    }
)  # fmt: skip
# Kept, these start a new line.
_LINES = _BLOCKS | _TABLE_PARTS | {"br", "hr"}


def _bounded(html: str) -> str:
    """``html`` without the block containers nested deeper than ``PARSER_DEPTH`` and the
    formatting elements beyond ``PARSER_FORMATTING`` open (their end tags go too; the
    text stays). Approximate on broken
    HTML, which is harmless: it only bounds the parser's work, and what it leaves is
    sanitized like any input."""
    if html.count("<") <= PARSER_DEPTH:
        return html
    containers, formatting = _Bound(PARSER_DEPTH), _Bound(PARSER_FORMATTING)
    return "".join(
        _FORMATTING.sub(formatting, _CONTAINER.sub(containers, part)) for part in _slices(html)
    )


def _slices(html: str, size: int = 64 * 1024) -> list[str]:
    """``html`` in slices of about ``size``, each cut before a ``<``: a regular expression
    holds the GIL for its whole search, and one over megabytes stopped the GUI thread
    (the sanitizing runs beside it) for 90 ms."""
    parts = []
    start = 0
    while len(html) - start > size:
        cut = html.find("<", start + size)
        if cut == -1:
            break
        parts.append(html[start:cut])
        start = cut
    parts.append(html[start:])
    return parts


class _Bound:
    """One pass of ``_bounded``: a start tag is kept while fewer than ``limit`` are open;
    an end tag closes the innermost open one."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept: list[bool] = []
        self.depth = 0

    def __call__(self, match: re.Match[str]) -> str:
        if match.group(1):
            if not self.kept:
                return match.group(0)
            if self.kept.pop():
                self.depth -= 1
                return match.group(0)
            return ""
        keep = self.depth < self.limit
        self.kept.append(keep)
        self.depth += keep
        return match.group(0) if keep else ""


def cap_nesting(
    html: str,
    *,
    max_depth: int = MAX_DEPTH,
    max_table_depth: int = MAX_TABLE_DEPTH,
    max_list_depth: int = MAX_LIST_DEPTH,
    max_quote_depth: int = MAX_QUOTE_DEPTH,
    max_tables: int = MAX_TABLES,
) -> str:
    """Well-formed HTML (``sanitize``'s) with tags beyond the caps dropped, their text
    kept. A table is kept with all its parts or dropped with all of them (so is a list
    with its items): what is kept stays a valid table or list."""
    out: list[str] = []
    # Each open element: (name, kept). The nearest table's and list's fate decides their
    # parts'.
    stack: list[tuple[str, bool]] = []
    tables: list[bool] = []
    lists: list[bool] = []
    depth = table_depth = list_depth = quote_depth = table_count = 0
    pos = 0
    at_line_start = True  # what is kept starts a line here: no break is needed
    wanted = ""  # what a dropped tag left to separate its text from the next: " ", "<br>"

    def content(piece: str) -> None:
        """Text or an inline tag: after the separator a dropped tag left, if one."""
        nonlocal wanted, at_line_start
        if wanted and not (wanted == "<br>" and at_line_start):
            out.append(wanted)
        wanted = ""
        out.append(piece)
        at_line_start = False

    def structure(piece: str, starts_line: bool) -> None:
        """A kept tag; one that starts a line makes a separator needless."""
        nonlocal wanted, at_line_start
        if starts_line:
            wanted, at_line_start = "", True
        elif wanted:
            content(piece)
            return
        out.append(piece)

    def separate(by: str) -> None:
        nonlocal wanted
        if wanted != "<br>":
            wanted = by

    for match in _TAG.finditer(html):
        if match.start() > pos:
            text = html[pos : match.start()]
            if text.strip():
                content(text)
            else:
                out.append(text)
        pos = match.end()
        closing, name = match.group(1), match.group(2)
        if closing:
            if not stack:  # not from sanitize: left as it is
                out.append(match.group(0))
                continue
            name, kept = stack.pop()
            if name == "table":
                tables.pop()
                table_depth -= kept
            elif name in _LISTS:
                lists.pop()
                list_depth -= kept
            elif name == "blockquote":
                quote_depth -= kept
            if kept:
                depth -= 1
                structure(f"</{name}>", name in _LINES)
            elif name in _CELLS:
                separate(" ")
            elif name in _BLOCKS:
                separate("<br>")
            continue
        if name in _VOID:
            if name in ("br", "hr"):
                structure(match.group(0), True)
            elif name != "col":
                content(match.group(0))
            elif tables and tables[-1]:
                out.append(match.group(0))
            continue
        if name == "table":
            # Room for the table's own parts (tbody, tr, td) inside the depth cap.
            keep = (
                table_depth < max_table_depth
                and table_count < max_tables
                and depth + 4 <= max_depth
            )
            tables.append(keep)
            table_depth += keep
            table_count += keep
        elif name in _TABLE_PARTS:
            keep = bool(tables and tables[-1])
        elif name in _LISTS:
            keep = list_depth < max_list_depth and depth + 2 <= max_depth
            lists.append(keep)
            list_depth += keep
        elif name in _LIST_ITEMS:
            keep = lists[-1] if lists else depth < max_depth
        elif name == "blockquote":
            keep = quote_depth < max_quote_depth and depth < max_depth
            quote_depth += keep
        else:
            keep = depth < max_depth
        stack.append((name, keep))
        if keep:
            depth += 1
            if name in _LINES:
                structure(match.group(0), True)
            else:
                content(match.group(0))
        elif name in _BLOCKS:
            separate("<br>")
    out.append(html[pos:])
    return "".join(out)


# ---- pieces to show -----------------------------------------------------------------

# What a piece may cost the viewer to lay out, in units of one character of text outside
# tables: Qt 6 takes about 1 ms per 1,000 characters it inserts into a document that is
# shown (bench/render.py), each level of tables around the text multiplying that by about
# 3 (a table lays its cells out more than once, each nested one again inside each pass).
PIECE_COST = 16_000
PIECE_CHARS = 24_000  # and at most this much HTML in one piece, tags included
_TAG_COST = 10
_TABLE_COST = 150  # a new frame in the document
_IMAGE_COST = 100
_TABLE_FACTOR = 3
# Qt lays a paragraph out whole, and a long one costs it more per character: text goes in
# paragraphs of at most this many characters (a longer one continues in the next).
LONG_PARAGRAPH = 3_000
# Qt breaks a line between two characters only where the text allows it; a long run
# without such a place costs the square of its length (a 100 KB line: 0.8 s). Runs longer
# than this get an invisible break opportunity (U+200B) every LONG_RUN characters.
LONG_RUN = 1000
_MIN_TEXT = 256  # a piece holds at least this much of a long text
_RUN = re.compile(r"[^\s\u200b]{" + str(LONG_RUN + 1) + ",}")
_ENTITY_TAIL = re.compile(r"&[#0-9A-Za-z]*\Z")


def _entity_safe(text: str, at: int) -> int:
    """``at``, or the start of the character reference it would cut."""
    tail = _ENTITY_TAIL.search(text, max(0, at - 12), at)
    return tail.start() if tail is not None and tail.start() > 0 else at


def break_long_runs(text: str) -> str:
    """HTML text with a U+200B every ``LONG_RUN`` characters of a run without a space
    (never inside a character reference such as ``&amp;``)."""

    def broken(match: re.Match[str]) -> str:
        run = match.group(0)
        pieces = []
        start = 0
        while len(run) - start > LONG_RUN:
            end = _entity_safe(run, start + LONG_RUN)
            if end <= start:
                end = start + LONG_RUN
            pieces.append(run[start:end])
            start = end
        pieces.append(run[start:])
        return "\u200b".join(pieces)

    return _RUN.sub(broken, text)


def _text_cut(text: str, room: int) -> int:
    """Where to cut ``text`` to keep at most ``room`` characters: after a space if one is
    in the second half, never inside a character reference."""
    if room >= len(text):
        return len(text)
    space = max(text.rfind(" ", room // 2, room), text.rfind("\n", room // 2, room))
    at = space + 1 if space > 0 else room
    return _entity_safe(text, at)


def html_pieces(html: str, cost: int = PIECE_COST, chars: int = PIECE_CHARS) -> list[str]:
    """Well-formed HTML (``sanitize``'s) cut into well-formed pieces that each cost the
    viewer at most about ``cost`` (see ``PIECE_COST``) and hold at most ``chars``: where
    a cut falls inside elements, the piece closes them and the next opens them again.
    Pieces are cut after an element where they can be, inside a long text where not; a
    text longer than ``LONG_PARAGRAPH`` continues in a new paragraph (its elements closed
    and opened again); long runs get break opportunities (``break_long_runs``). The whole
    is in a ``<div>``, so that every text has a block to continue in."""
    pieces: list[str] = []
    out: list[str] = ["<div>"]
    opened: list[tuple[str, str, int]] = [("div", "<div>", _TAG_COST)]  # name, tag, cost
    used, size, fresh = _TAG_COST, 5, True  # fresh: ``out`` holds only reopened tags
    table_depth = pos = paragraph = 0

    def closing() -> str:
        return "".join(f"</{name}>" for name, _tag, _cost in reversed(opened))

    def reopen() -> None:
        nonlocal used, size, paragraph
        out.extend(tag for _name, tag, _cost in opened)
        used += sum(c for _name, _tag, c in opened)
        size += sum(len(tag) for _name, tag, _cost in opened)
        paragraph = 0

    def cut() -> None:
        nonlocal out, used, size, fresh
        pieces.append("".join(out) + closing())
        out, used, size, fresh = [], 0, 0, True
        reopen()

    def new_paragraph() -> None:
        nonlocal size
        out.append(closing())
        size += len(out[-1])
        reopen()

    def text(segment: str) -> None:
        nonlocal used, size, fresh, paragraph
        factor = _TABLE_FACTOR**table_depth
        while segment:
            room = min((cost - used) // factor, chars - size)
            if room < len(segment) and room < _MIN_TEXT and not fresh:
                cut()
                continue
            piece_room = max(room, _MIN_TEXT)
            paragraph_room = LONG_PARAGRAPH - paragraph
            if paragraph_room < _MIN_TEXT and paragraph_room < len(segment):
                new_paragraph()
                continue
            take = min(piece_room, paragraph_room)
            at = _text_cut(segment, take)
            out.append(segment[:at])
            used += at * factor
            size += at
            paragraph += at
            fresh = False
            segment = segment[at:]
            if segment:
                if take == piece_room:
                    cut()
                else:
                    new_paragraph()

    for match in _TAG.finditer(html):
        if match.start() > pos:
            text(break_long_runs(html[pos : match.start()]))
        pos = match.end()
        tag, is_end, name = match.group(0), match.group(1), match.group(2)
        if name in _LINES:
            paragraph = 0
        if is_end:
            if len(opened) > 1 and opened[-1][0] == name:
                opened.pop()
                table_depth -= name == "table"
            out.append(tag)
            size += len(tag)
            if used >= cost or size >= chars:
                cut()
            continue
        spent = (
            _TABLE_COST
            if name == "table"
            else _IMAGE_COST + len(tag) // 64
            if name == "img"
            else _TAG_COST
        )
        if not fresh and (used + spent > cost or size + len(tag) > chars):
            cut()
        out.append(tag)
        used += spent
        size += len(tag)
        fresh = False
        if name not in _VOID:
            opened.append((name, tag, spent))
            table_depth += name == "table"
    text(break_long_runs(html[pos:]))
    if not fresh or not pieces:
        pieces.append("".join(out) + closing())
    return pieces


TEXT_LINES = 16  # lines of plain text in one paragraph (a block of Qt's document)


def text_pieces(text: str, chars: int = PIECE_COST) -> list[str]:
    """Plain text as HTML pieces of about ``chars`` characters, each whole lines.

    Lines go up to ``TEXT_LINES`` (and ``LONG_PARAGRAPH`` characters) to a paragraph,
    joined by line breaks: a paragraph per line made a 5 MB text 72,000 blocks, which Qt
    took 0.2 s to throw away. A longer line is cut (at a space where it can be); long runs
    get break opportunities."""
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        while len(line) > LONG_PARAGRAPH:
            at = line.rfind(" ", LONG_PARAGRAPH // 2, LONG_PARAGRAPH)
            at = at + 1 if at > 0 else LONG_PARAGRAPH
            lines.append(line[:at])
            line = line[at:]
        lines.append(line)
    pieces: list[str] = []
    paragraphs: list[str] = []
    group: list[str] = []
    size = group_size = 0

    def end_paragraph() -> None:
        nonlocal group, group_size, size
        body = "<br>".join(break_long_runs(html_lib.escape(line, quote=False)) for line in group)
        paragraphs.append(f'<p style="margin:0; white-space:pre-wrap">{body}</p>')
        size += len(paragraphs[-1])
        group, group_size = [], 0

    for line in lines:
        if group and (len(group) == TEXT_LINES or group_size + len(line) > LONG_PARAGRAPH):
            end_paragraph()
            if size >= chars:
                pieces.append("".join(paragraphs))
                paragraphs, size = [], 0
        group.append(line)
        group_size += len(line) + 1
    end_paragraph()
    pieces.append("".join(paragraphs))
    return pieces
