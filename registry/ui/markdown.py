"""A small, safe Markdown renderer for package READMEs.

Safety first: the whole text is HTML-escaped before anything else, so no tag, attribute or entity
of the author's survives as markup. Only a small subset is then turned into HTML made here:
headings, paragraphs, lists, block quotes, fenced and indented code, inline code, emphasis, and
links whose target is http(s) (or a relative path). Raw HTML shows as text. Images show as links,
so a README cannot make the viewer's browser fetch anything.
"""

from __future__ import annotations

import re
from html import escape

from markupsafe import Markup

MAX_README = 512 * 1024

_FENCE = re.compile(r"^ {0,3}(```+|~~~+)\s*([\w+.-]*)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^ {0,3}[-*+]\s+(.*)$")
_ORDERED = re.compile(r"^ {0,3}\d{1,9}[.)]\s+(.*)$")
_QUOTE = re.compile(r"^ {0,3}&gt;\s?(.*)$")
_RULE = re.compile(r"^ {0,3}([-*_])(\s*\1){2,}\s*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_LINK = re.compile(r"(!?)\[([^\]\n]{0,500})\]\(\s*([^\s()]{1,2000})(?:\s+&quot;[^\n]*?&quot;)?\s*\)")
_AUTOLINK = re.compile(r"&lt;(https?://[^\s&]+)&gt;")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.DOTALL)
_EM = re.compile(r"(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\1(?![\w*])", re.DOTALL)
_SAFE_HREF = re.compile(r"^(https?://|/|#|\./|[\w.-]+(/|$))", re.IGNORECASE)


def render_markdown(text: str) -> Markup:
    """HTML for ``text`` (Markdown), safe to put in a page as is."""
    text = text[:MAX_README].replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    lines = escape(text, quote=True).split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if fence := _FENCE.match(line):
            marker, language = fence.group(1), fence.group(2)
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith(marker):
                body.append(lines[i])
                i += 1
            i += 1
            cls = f' class="language-{language}"' if language else ""
            out.append(f"<pre><code{cls}>" + "\n".join(body) + "</code></pre>")
            continue
        if line.startswith(("    ", "\t")):
            body = []
            while i < len(lines) and (lines[i].startswith(("    ", "\t")) or not lines[i].strip()):
                body.append(lines[i][4:] if lines[i].startswith("    ") else lines[i][1:])
                i += 1
            out.append("<pre><code>" + "\n".join(body).rstrip("\n") + "</code></pre>")
            continue
        if heading := _HEADING.match(line):
            level = len(heading.group(1))
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            i += 1
            continue
        if _RULE.match(line):
            out.append("<hr>")
            i += 1
            continue
        if _QUOTE.match(line):
            quoted = []
            while i < len(lines) and (match := _QUOTE.match(lines[i])):
                quoted.append(match.group(1))
                i += 1
            out.append(f"<blockquote>{render_markdown_escaped(quoted)}</blockquote>")
            continue
        for pattern, tag in ((_BULLET, "ul"), (_ORDERED, "ol")):
            if pattern.match(line):
                items: list[str] = []
                while i < len(lines) and lines[i].strip():
                    match = pattern.match(lines[i])
                    if match:
                        items.append(match.group(1))
                    elif items:
                        items[-1] += " " + lines[i].strip()
                    i += 1
                out.append(f"<{tag}>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + f"</{tag}>")
                break
        else:
            paragraph = []
            while i < len(lines) and lines[i].strip() and not _starts_block(lines[i]):
                paragraph.append(lines[i].strip())
                i += 1
            if not paragraph:  # a line that only looked like a block start
                paragraph.append(lines[i].strip())
                i += 1
            out.append(f"<p>{_inline(chr(10).join(paragraph))}</p>")
    return Markup("\n".join(out))


def render_markdown_escaped(lines: list[str]) -> str:
    """Blocks of lines that are already escaped (a block quote's content): unescape once, render again."""
    from html import unescape

    return str(render_markdown(unescape("\n".join(lines))))


def _starts_block(line: str) -> bool:
    return bool(_FENCE.match(line) or _HEADING.match(line) or _BULLET.match(line) or _ORDERED.match(line)
                or _QUOTE.match(line) or _RULE.match(line))


def _inline(text: str) -> str:
    """Inline markup of already-escaped text. Code spans are set aside first so nothing inside them
    is read as emphasis or links."""
    spans: list[str] = []

    def keep(html: str) -> str:
        spans.append(html)
        return f"\x00{len(spans) - 1}\x00"

    text = _CODE_SPAN.sub(lambda m: keep(f"<code>{m.group(2).strip()}</code>"), text)
    text = _LINK.sub(lambda m: keep(_link(m.group(1), m.group(2), m.group(3))), text)
    text = _AUTOLINK.sub(lambda m: keep(_anchor(m.group(1), m.group(1))), text)
    text = _STRONG.sub(r"<strong>\2</strong>", text)
    text = _EM.sub(r"<em>\2</em>", text)
    text = text.replace("\n", " ")
    return re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], text)


def _link(bang: str, label: str, href: str) -> str:
    label = _STRONG.sub(r"<strong>\2</strong>", label)
    if bang:
        label = "image: " + (label or href)
    return _anchor(href, label)


def _anchor(href: str, label: str) -> str:
    # href is escaped text already (quotes included), so it cannot leave the attribute.
    scheme_like = ":" in href.split("/", 1)[0]
    if not _SAFE_HREF.match(href) or scheme_like and not href.lower().startswith(("http:", "https:")):
        return label
    return f'<a href="{href}" rel="nofollow noopener noreferrer">{label}</a>'
