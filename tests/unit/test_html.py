"""Customer HTML made safe: no scripts, no handlers, nothing loaded from anywhere."""

from __future__ import annotations

import html as html_lib
import re

import pytest

from app.mail.html import (
    LONG_PARAGRAPH,
    LONG_RUN,
    MAX_DEPTH,
    MAX_LIST_DEPTH,
    MAX_QUOTE_DEPTH,
    MAX_TABLE_DEPTH,
    MAX_TABLES,
    MISSING_IMAGE,
    PIECE_CHARS,
    REMOTE_IMAGE,
    TEXT_LINES,
    break_long_runs,
    html_pieces,
    sanitize,
    text_pieces,
    to_html,
)

PNG_URL = "data:image/png;base64,iVBORw0KGgo="


def srcs(html: str) -> list[str]:
    return re.findall(r'\ssrc="([^"]*)"', html)


def test_scripts_and_their_content_are_removed() -> None:
    out = sanitize(
        "<p>Hi</p><script>alert('x')</script><SCRIPT src=https://evil.example/x.js></SCRIPT>"
        "<noscript><p>No JS</p></noscript>"
    )
    assert "script" not in out.lower() and "alert" not in out and "evil" not in out
    assert "<p>Hi</p>" in out


def test_event_handlers_are_dropped() -> None:
    out = sanitize(
        '<img src="x" onerror="alert(1)"><p onclick="steal()" onmouseover="x()">Text</p>'
        '<body onload="go()">b</body>'
    )
    assert "onerror" not in out and "onclick" not in out and "onmouseover" not in out
    assert "onload" not in out and "alert" not in out and "<p>Text</p>" in out


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "jav&#x09;ascript:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "file:///etc/passwd",
        "//evil.example/x",
        "/relative",
        "cid:part@x",
    ],
)
def test_only_http_https_and_mailto_links_keep_their_href(href: str) -> None:
    out = sanitize(f'<a href="{href}">click</a>')
    assert "href" not in out, out
    assert "click" in out


def test_links_keep_safe_urls_with_noopener() -> None:
    out = sanitize(
        '<a href="https://shop.example/help?a=1&amp;b=2" target="_blank">help</a> '
        '<a href="mailto:help@shop.example">mail</a>'
    )
    assert 'href="https://shop.example/help?a=1&amp;b=2"' in out
    assert 'href="mailto:help@shop.example"' in out
    assert out.count('rel="noopener noreferrer"') == 2 and "target" not in out


@pytest.mark.parametrize(
    "style",
    [
        "background:url(https://t.example/bg.png)",
        "background-image: URL( 'https://t.example/bg.png' )",
        "width: expression(alert(1))",
        "color: red; behavior: url(x.htc)",
        "color: \\72 ed; background: u\\72l(https://t.example/x)",
        "@import 'https://t.example/s.css'",
    ],
)
def test_css_that_could_load_or_run_is_removed(style: str) -> None:
    out = sanitize(f'<p style="{style}">Styled</p>')
    assert "url" not in out.lower() and "expression" not in out and "t.example" not in out
    assert "Styled" in out


def test_harmless_css_properties_are_kept_and_others_dropped() -> None:
    out = sanitize('<p style="color: #333; font-weight: bold; position: fixed; top: 0">x</p>')
    assert "color:#333" in out.replace(" ", "") and "font-weight" in out
    assert "position" not in out and "top" not in out


def test_style_blocks_forms_and_frames_are_removed() -> None:
    out = sanitize(
        "<style>body { background: url(https://t.example/a) }</style>"
        '<form action="https://evil.example/post"><input name="card"><button>Pay</button></form>'
        '<iframe src="https://evil.example/frame"></iframe>'
        '<object data="https://evil.example/o"></object><embed src="https://evil.example/e">'
        '<link rel="stylesheet" href="https://t.example/s.css">'
        '<meta http-equiv="refresh" content="0;url=https://evil.example/">'
        '<base href="https://evil.example/"><svg><image href="https://t.example/s"/></svg>'
        '<video poster="https://t.example/v.png" src="https://t.example/v.mp4"></video>'
        '<table background="https://t.example/bg.png" bgcolor="#ffffff"><tr><td>cell</td></tr></table>'
    )
    for bad in ("<style", "<form", "<input", "<iframe", "<object", "<embed", "<link", "<meta"):
        assert bad not in out, bad
    assert "evil.example" not in out and "t.example" not in out and "url(" not in out
    assert 'bgcolor="#ffffff"' in out and "cell" in out


def test_tracking_pixel_and_remote_images_are_replaced_by_a_placeholder() -> None:
    out = sanitize(
        '<p>Hi</p><img src="https://t.example/p.gif" width="1" height="1">'
        '<img src="http://t.example/logo.png" alt="Shop logo">'
        '<img src="//t.example/proto-relative.png">'
    )
    assert "t.example" not in out and "<img" not in out
    assert out.count(REMOTE_IMAGE[:-1]) == 3
    assert "[remote image blocked: Shop logo]" in out


def test_cid_images_are_rewritten_to_the_data_we_supply() -> None:
    out = sanitize(
        '<img src="cid:logo@shop.example" alt="Logo"><img src="CID:Other@Shop.Example">'
        '<img src="cid:unknown@shop.example">',
        {"<logo@shop.example>": PNG_URL, "other@shop.example": PNG_URL},
    )
    assert srcs(out) == [PNG_URL, PNG_URL]
    assert "cid:" not in out.lower()
    assert MISSING_IMAGE in out  # a cid: that names no part we have


def test_only_image_data_urls_we_supply_are_used() -> None:
    out = sanitize(
        '<img src="data:image/png;base64,AAAA"><img src="cid:a@x"><img src="cid:b@x">',
        {
            "a@x": "data:image/svg+xml;base64,PHN2Zz48c2NyaXB0Lz48L3N2Zz4=",
            "b@x": "https://t.example/b.png",
        },
    )
    assert srcs(out) == [] and "data:" not in out and "t.example" not in out
    assert out.count(MISSING_IMAGE) == 3


def test_non_ascii_text_is_preserved() -> None:
    text = "Größe – 5 € 日本語 «ÇÃ» 🙂"
    out = sanitize(f"<p><b>{text}</b></p><img alt='{text}' src='https://t.example/x'>")
    assert f"<p><b>{text}</b></p>" in out
    assert f"[remote image blocked: {text}]" in out


def test_markup_in_alt_text_stays_text() -> None:
    out = sanitize('<img alt="&lt;b&gt;x&lt;/b&gt; &quot;q&quot;" src="https://t.example/x">')
    assert "<b>" not in out and "&lt;b&gt;x&lt;/b&gt;" in out


def test_formatting_is_kept() -> None:
    html = (
        '<table border="1" cellpadding="4"><tr><td colspan="2" align="center">a</td></tr></table>'
        '<ul><li>one</li></ul><blockquote><font color="#ff0000" face="Arial">red</font></blockquote>'
    )
    out = sanitize(html)
    for kept in (
        'cellpadding="4"',
        'colspan="2"',
        "<li>one</li>",
        'color="#ff0000"',
        "<blockquote>",
    ):
        assert kept in out, kept


def test_plain_text_as_html_is_escaped() -> None:
    assert to_html("a < b & <script>\nline 2") == (
        '<div style="white-space:pre-wrap">a &lt; b &amp; &lt;script&gt;\nline 2</div>'
    )


def test_plain_text_line_endings_count_once() -> None:
    from app.mail.html import to_html

    assert to_html("Hello,\r\n\r\nBye\rnow\n") == (
        '<div style="white-space:pre-wrap">Hello,\n\nBye\nnow\n</div>'
    )


# ---- hostile nesting (issue 11, item 3) ------------------------------------------------

_TAGS = re.compile(r"<(/?)([a-z][a-z0-9]*)[^>]*>")
_VOID_TAGS = {"br", "hr", "img", "col", "wbr"}


def nesting(html: str) -> dict[str, int]:
    """The deepest nesting of elements in well-formed ``html``: of all of them ("*") and
    of tables, lists and quotes inside their own kind. Fails on unbalanced tags."""
    stack: list[str] = []
    deepest = {"*": 0, "table": 0, "list": 0, "blockquote": 0}
    kinds = {"table": "table", "ul": "list", "ol": "list", "dl": "list"}
    kinds["blockquote"] = "blockquote"
    for closing, name in _TAGS.findall(html):
        if name in _VOID_TAGS:
            continue
        if closing:
            assert stack and stack[-1] == name, (stack[-5:], name)
            stack.pop()
            continue
        stack.append(name)
        deepest["*"] = max(deepest["*"], len(stack))
        kind = kinds.get(name)
        if kind:
            count = sum(1 for n in stack if kinds.get(n) == kind)
            deepest[kind] = max(deepest[kind], count)
    assert not stack, stack[-5:]
    return deepest


def text_of(html: str) -> str:
    """The words of ``html``, tags and invisible break opportunities dropped."""
    return " ".join(re.sub(r"<[^>]*>", " ", html).replace("\u200b", "").split())


@pytest.mark.parametrize("depth", [20, 25, 100])
def test_nested_tables_are_capped_keeping_their_text(depth: int) -> None:
    html = "".join(f"<table><tr><td>level{i}" for i in range(depth)) + "x"
    html += "</td></tr></table>" * depth
    out = sanitize(html)
    assert nesting(out)["table"] == MAX_TABLE_DEPTH
    assert text_of(out) == " ".join(f"level{i}" for i in range(depth)) + "x"


def test_cells_of_flattened_tables_stay_apart() -> None:
    inner = "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>"
    out = sanitize("<table><tr><td>" * MAX_TABLE_DEPTH + inner + "</td></tr></table>" * 4)
    assert nesting(out)["table"] == MAX_TABLE_DEPTH
    assert "a b<br>c" in out  # cells by a space, rows by a line


@pytest.mark.parametrize(
    ("open_tags", "close_tags", "kind", "cap"),
    [
        ("<ul><li>", "</li></ul>", "list", MAX_LIST_DEPTH),
        ("<ol><li>", "</li></ol>", "list", MAX_LIST_DEPTH),
        ("<dl><dd>", "</dd></dl>", "list", MAX_LIST_DEPTH),
        ("<blockquote>", "</blockquote>", "blockquote", MAX_QUOTE_DEPTH),
        ("<div>", "</div>", "*", MAX_DEPTH),
        ("<span>", "</span>", "*", MAX_DEPTH),
    ],
)
def test_deep_lists_quotes_and_divisions_are_capped(
    open_tags: str, close_tags: str, kind: str, cap: int
) -> None:
    depth = 10_000
    out = sanitize("".join(f"{open_tags}i{n} " for n in range(depth)) + close_tags * depth)
    assert nesting(out)[kind] == cap
    assert nesting(out)["*"] <= MAX_DEPTH
    assert text_of(out).split() == [f"i{n}" for n in range(depth)]


def test_items_of_flattened_lists_are_on_lines_of_their_own() -> None:
    html = "<ul><li>" * MAX_LIST_DEPTH + "<ul><li>one</li><li>two</li></ul>"
    out = sanitize(html + "</li></ul>" * MAX_LIST_DEPTH)
    assert nesting(out)["list"] == MAX_LIST_DEPTH
    assert "one<br>two" in out


def test_unclosed_formatting_and_many_tables_are_bounded() -> None:
    fonts = sanitize("".join(f'<font size="{n % 7}" face="f{n}">w{n} ' for n in range(10_000)))
    assert nesting(fonts)["*"] <= MAX_DEPTH
    assert text_of(fonts).split() == [f"w{n}" for n in range(10_000)]
    tables = sanitize("<table><tr><td>a</td><td>b</td></tr></table>" * (MAX_TABLES + 500))
    assert tables.count("<table") == MAX_TABLES
    assert text_of(tables) == " ".join(["a b"] * (MAX_TABLES + 500))


def test_ordinary_layout_tables_are_left_alone() -> None:
    html = (
        '<table width="600"><tr><td><table><tr><td><table><tr><td>'
        "<p>Hello <b>there</b></p><ul><li>one<ul><li>two</li></ul></li></ul>"
        "<blockquote><blockquote>quoted</blockquote></blockquote>"
        "</td></tr></table></td></tr></table></td></tr></table>"
    )
    out = sanitize(html)
    assert "<br>" not in out
    assert nesting(out) == {"*": 16, "table": 3, "list": 2, "blockquote": 2}


# ---- pieces to show --------------------------------------------------------------------


def test_pieces_are_well_formed_bounded_and_hold_all_the_text() -> None:
    paragraph = "<p>" + "word " * 400 + "<a href='https://x.example/'>link</a></p>"
    nested = "<table><tr><td>" * 3 + "deep " * 5000 + "</td></tr></table>" * 3
    html = sanitize(paragraph * 100 + nested + "<p>" + "y" * 50_000 + "</p><p>end</p>")
    pieces = html_pieces(html)
    assert len(pieces) > 10
    for piece in pieces:
        nesting(piece)  # balanced
        assert len(piece) <= PIECE_CHARS + 500  # the tags it reopens
    joined = "".join(pieces)
    assert text_of(joined).replace(" ", "") == text_of(html).replace(" ", "")
    assert joined.count('href="https://x.example/"') == 100
    # No paragraph longer than LONG_PARAGRAPH, no run longer than LONG_RUN.
    for text in re.split(r"<[^>]*>", joined):
        assert len(text) <= LONG_PARAGRAPH
        assert all(len(run) <= LONG_RUN for run in re.split(r"[\s\u200b]", text))


def test_long_runs_are_never_broken_inside_a_character_reference() -> None:
    text = "&amp;" * 1000 + "x" * 3000
    broken = break_long_runs(text)
    assert broken.replace("\u200b", "") == text
    assert all(not re.search(r"&[#0-9A-Za-z]*$", part) for part in broken.split("\u200b")[:-1])
    assert break_long_runs("a " * 3000) == "a " * 3000  # nothing to break


def test_text_pieces_keep_every_line() -> None:
    lines = [f"line {n} <&>" for n in range(20_000)] + ["z" * 20_000, "", "last"]
    pieces = text_pieces("\r\n".join(lines))
    assert len(pieces) > 10
    shown = "".join(pieces)
    assert "<script" not in shown and "&lt;&amp;&gt;" in shown
    # Paragraphs of at most TEXT_LINES lines; the text back, lines apart.
    for paragraph in re.findall(r"<p [^>]*>(.*?)</p>", shown):
        assert paragraph.count("<br>") < TEXT_LINES
    back = re.sub(r"<[^>]*>", "", re.sub(r"<br>|</p>", "\n", shown))
    back = html_lib.unescape(back).replace("\u200b", "")
    assert back.split("\n")[:3] == ["line 0 <&>", "line 1 <&>", "line 2 <&>"]
    assert "z" * 20_000 in back.replace("\n", "") and back.rstrip("\n").endswith("last")
