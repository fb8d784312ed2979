"""Customer HTML made safe to show: no scripts, no forms, no remote loads.

``sanitize`` keeps a set of formatting tags (nh3/ammonia does the parsing, so what
comes out is well-formed), drops event handlers and scripts, keeps only http/https/
mailto links (with rel="noopener noreferrer"), and never lets the viewer fetch
anything: image sources other than ``cid:`` parts we were given as ``data:`` URLs are
removed and the image is replaced by a short text placeholder, so that tracking
pixels and remote images never reach the network. CSS that could load (``url()``,
``@import``, IE ``expression``) is removed with the whole ``style`` attribute.
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
    """``html`` reduced to safe formatting; ``cid_map`` maps Content-IDs (without angle
    brackets) to the ``data:image/...;base64,`` URLs of the inline parts to show."""
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
    return _IMG.sub(_image, cleaned)


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
