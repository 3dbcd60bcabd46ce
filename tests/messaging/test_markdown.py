"""Markdown XSS: a corpus of script, event-handler and dangerous-URL payloads renders inert."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from messaging.markdown import render_markdown

PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<body onload=alert(1)>",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<object data=javascript:alert(1)>",
    "<embed src=javascript:alert(1)>",
    "<form action=javascript:alert(1)><button>x</button></form>",
    "<meta http-equiv=refresh content=0;url=javascript:alert(1)>",
    "<base href=javascript:alert(1)//>",
    "<link rel=stylesheet href=javascript:alert(1)>",
    "<!-- <script>alert(1)</script> -->",
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](&#x6A;avascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](file:///etc/passwd)",
    "[x](<javascript:alert(1)>)",
    "<javascript:alert(1)>",
    "![x](javascript:alert(1))",
    "![x](https://tracker.example/pixel.png)",
    "[x](https://ok.example \"title\\\" onmouseover=alert(1) x=\\\"\")",
    "[x]: javascript:alert(1)\n\n[y][x]",
    "`<script>alert(1)</script>`",
    "```\n<script>alert(1)</script>\n```",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
    "\"><script>alert(1)</script>",
    "<a href=\"https://ok.example\" onclick=\"alert(1)\">x</a>",
]

ALLOWED_TAGS = {"p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
                "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
                "table", "thead", "tbody", "tr", "th", "td"}


class _Elements(HTMLParser):
    """The real elements and attributes of the output (escaped text is not an element)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def _elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.elements


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_renders_inert(payload: str) -> None:
    html = render_markdown(payload)
    for tag, attrs in _elements(html):
        assert tag in ALLOWED_TAGS, html
        assert not any(name.startswith("on") or name == "style" for name in attrs), html
        if tag == "a":
            href = (attrs.get("href") or "").strip()
            assert re.match(r"(https?|mailto):", href, re.I), html
            assert attrs.get("rel") == "noopener noreferrer nofollow", html
    assert not re.search(r"<\s*script", html, re.I)


def test_safe_links_get_rel_and_keep_scheme() -> None:
    html = render_markdown("[report](https://example.org/r?a=1&b=2) and <mailto:a@b.example>")
    assert '<a href="https://example.org/r?a=1&amp;b=2" rel="noopener noreferrer nofollow">' in html
    assert 'href="mailto:a@b.example"' in html
    assert html.count('rel="noopener noreferrer nofollow"') == 2


def test_ordinary_markdown_survives() -> None:
    html = render_markdown("# Title\n\n**bold** _it_ ~~gone~~\n\n- one\n- two\n\n> quote\n\n`code`")
    for fragment in ("<h1>Title</h1>", "<strong>bold</strong>", "<em>it</em>", "<s>gone</s>",
                     "<li>one</li>", "<blockquote>", "<code>code</code>"):
        assert fragment in html


def test_table_alignment_drops_inline_style() -> None:
    html = render_markdown("| a | b |\n|:-:|--:|\n| 1 | 2 |")
    assert "<table>" in html and "style" not in html
