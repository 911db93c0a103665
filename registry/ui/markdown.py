"""Package READMEs as safe HTML: Markdown by cmark-gfm, cleaned by nh3.

cmark-gfm (GitHub's C implementation of CommonMark) parses in linear time with no recursion to
exhaust, so no README can hold a worker for long: a 64 KB pathological text renders in milliseconds.
Raw HTML is off (cmark omits it) and the result is cleaned by nh3 (the ammonia sanitizer) to a small
set of tags and attributes, with links only to http(s) or relative addresses. Images are shown as
links, so a README cannot make the viewer's browser fetch anything.

Rendering runs off the event loop and once per version: ``ReadmeCache`` keeps what it rendered,
keyed by the version's tarball digest, and lets concurrent viewers of the same version share one
rendering.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Hashable

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options
from markupsafe import Markup

from registry.lru import BudgetLru

MAX_README = 512 * 1024  # characters rendered; a longer README is cut there
CACHE_BUDGET = 32 * 1024 * 1024  # characters of rendered HTML kept between views

_EXTENSIONS = ("table", "strikethrough", "autolink", "tagfilter")
# No CMARK_OPT_UNSAFE: raw HTML is omitted, and javascript:, vbscript:, file: and data: links dropped.
_OPTIONS = Options.CMARK_OPT_VALIDATE_UTF8
_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre", "code", "em",
         "strong", "del", "a", "hr", "br", "table", "thead", "tbody", "tr", "th", "td"}
_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
_LANGUAGE_CLASS = re.compile(r"language-[\w+.#-]{1,40}")
# cmark writes an image exactly so (with raw HTML off, no other <img> can be in its output).
_IMAGE = re.compile(r'<img src="([^"]*)" alt="([^"]*)"(?: title="[^"]*")? />')
# The sanitizer's HTML parser takes time growing with the square of the nesting depth (20,000 nested
# quotes: 3 s): deeper than this, the README is shown as plain text. Browsers stop nesting near 500.
MAX_DEPTH = 64
_TAG = re.compile(r"<(/?)[a-z][a-z0-9]*[^>]*?(/?)>")


def _attribute(tag: str, name: str, value: str) -> str | None:
    if name == "class":
        return value if _LANGUAGE_CLASS.fullmatch(value) else None
    if name == "href" and not value:
        return None  # what cmark leaves of a javascript:, data: or file: link
    return value


_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    attributes=_ATTRIBUTES,
    attribute_filter=_attribute,
    url_schemes={"http", "https"},
    link_rel="nofollow noopener noreferrer",
    strip_comments=True,
)


def _image_as_link(match: re.Match[str]) -> str:
    src, alt = match.group(1), match.group(2)
    return f'<a href="{src}">image: {alt or src}</a>'


def render_markdown(text: str) -> Markup:
    """HTML for ``text`` (Markdown), safe to put in a page as is. CPU-bound: call it off the loop."""
    text = text[:MAX_README].replace("\x00", "\ufffd")
    html = cmarkgfm.markdown_to_html_with_extensions(text, _OPTIONS, _EXTENSIONS)
    if _deeper_than(html, MAX_DEPTH):
        return Markup("<pre>%s</pre>") % text
    html = _IMAGE.sub(_image_as_link, html)
    return Markup(_CLEANER.clean(html))


def _deeper_than(html: str, limit: int) -> bool:
    """Whether cmark's output nests elements deeper than ``limit`` (its text has every < escaped,
    so each < starts a tag of its own)."""
    depth = 0
    for tag in _TAG.finditer(html):
        if tag.group(2):  # <hr />, <br />, <img ... />
            continue
        depth += -1 if tag.group(1) else 1
        if depth > limit:
            return True
    return False


class ReadmeCache:
    """Rendered READMEs by key (a version's tarball digest: a version's README never changes),
    least recently used dropped first within a budget of characters. Concurrent requests for a
    version not rendered yet wait for one rendering instead of each starting their own."""

    def __init__(self, budget: int = CACHE_BUDGET) -> None:
        self._done: BudgetLru[Hashable, Markup] = BudgetLru(budget)
        self._pending: dict[Hashable, asyncio.Future[Markup]] = {}

    async def render(self, key: Hashable, text: str) -> Markup:
        if not text:
            return Markup("")
        if (html := self._done.get(key)) is not None:
            return html
        task = self._pending.get(key)
        if task is None:
            # A task of its own: a viewer who goes away does not cancel the others' rendering.
            task = asyncio.ensure_future(asyncio.to_thread(render_markdown, text))
            self._pending[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def _finished(self, key: Hashable, task: asyncio.Future[Markup]) -> None:
        del self._pending[key]
        if not task.cancelled() and task.exception() is None:
            html = task.result()
            self._done.put(key, html, len(html))
