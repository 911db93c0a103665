"""The README renderer: Markdown (cmark-gfm) cleaned by nh3, nothing of the author's markup survives,
and no text makes it slow."""

from __future__ import annotations

import re

import pytest

from registry.ui.markdown import render_markdown


def test_subset() -> None:
    html = str(render_markdown(
        "# Title\n\nText with *em*, **strong**, `code` and [a link](https://example.com/x?a=1&b=2).\n\n"
        "- one\n- two\n\n1. first\n2. second\n\n> quoted *text*\n\n```python\nprint('<hi>')\n```\n\n"
        "    indented code\n\n---\n\nSee <https://example.org/auto>."))
    assert "<h1>Title</h1>" in html
    assert "<em>em</em>" in html and "<strong>strong</strong>" in html and "<code>code</code>" in html
    assert '<a href="https://example.com/x?a=1&amp;b=2" rel="nofollow noopener noreferrer">a link</a>' in html
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html and "<ol>\n<li>first</li>" in html
    assert "<blockquote>\n<p>quoted <em>text</em></p>\n</blockquote>" in html
    assert '<pre><code class="language-python">print(\'&lt;hi&gt;\')\n</code></pre>' in html
    assert "<pre><code>indented code\n</code></pre>" in html and "<hr>" in html
    assert '<a href="https://example.org/auto"' in html


@pytest.mark.parametrize("source", [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "[x](javascript:alert)",
    "[x](JaVaScRiPt:alert)",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "[x](vbscript:msgbox)",
    '[x](https://ok.example/" onmouseover="alert(1))',
    "![img](https://tracker.example/pixel.png)",
    "`<script>` and **<b onclick=alert(1)>bold</b>**",
    "<svg/onload=alert(1)>",
    "\x000\x00 placeholder forgery",
    "```\n</code></pre><script>alert(1)</script>\n```",
    "# <iframe src=//evil>",
    "> <style>body{display:none}</style>",
])
def test_hostile_input_stays_text(source: str) -> None:
    html = str(render_markdown(source))
    tags = set(re.findall(r"<\s*([a-zA-Z][a-zA-Z0-9]*)", html))
    assert tags <= {"p", "h1", "code", "pre", "strong", "em", "a", "blockquote", "ul", "ol", "li"}, html
    assert "<!--" not in html
    for href in re.findall(r'href="([^"]*)"', html):
        relative = re.match(r"^[\w.-]+(/|$)", href)
        assert href.startswith(("https://", "http://", "/", "#", "./")) or relative, href
    assert "javascript:" not in "".join(re.findall(r'href="([^"]*)"', html)).lower()
    assert not re.search(r"<[a-z]+[^>]*\son[a-z]+=", html)


def test_image_becomes_a_link_and_nothing_is_fetched() -> None:
    html = str(render_markdown("![logo](https://example.com/logo.png)"))
    assert "<img" not in html
    assert '<a href="https://example.com/logo.png" rel="nofollow noopener noreferrer">image: logo</a>' in html


def test_relative_links_are_kept_and_schemes_other_than_http_dropped() -> None:
    assert '<a href="docs/usage.md"' in str(render_markdown("[usage](docs/usage.md)"))
    for source in ("[mail](mailto:a@example.com)", "[file](file:///etc/passwd)", "[x](ftp://example.com/)"):
        html = str(render_markdown(source))
        assert "href" not in html and ":" not in html, html


def test_gfm_tables_and_strikethrough() -> None:
    html = str(render_markdown("| a | b |\n|:-|-:|\n| 1 | ~~2~~ |\n\n- [ ] task"))
    assert "<table>" in html and '<td align="right"><del>2</del></td>' in html
    assert "<input" not in html


@pytest.mark.parametrize("source", [
    "**a " * 16000,  # quadratic in the old renderer: 21 s
    "> " * 600 + "x",  # a RecursionError (500) in the old renderer
    "> " * 100000 + "x",  # quadratic in the sanitizer's parser were it given this nesting
    "*a **b " * 8000 + "c" + "** d*" * 8000,
    "[" * 100000,
    "- " * 50000 + "x",
])
def test_pathological_text_renders_at_once(source: str) -> None:
    # No timing assert here (see test_npm_page_stall.py for the stall bound): cmark is linear, and nesting
    # deeper than MAX_DEPTH is shown as plain text rather than handed to the sanitizer.
    html = str(render_markdown(source))
    assert html and "<script" not in html
