"""Customer HTML made safe: no scripts, no handlers, nothing loaded from anywhere."""

from __future__ import annotations

import re

import pytest

from app.mail.html import MISSING_IMAGE, REMOTE_IMAGE, sanitize, to_html

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
