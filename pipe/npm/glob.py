"""The part of minimatch that npm's packer uses for ignore rules and `files` entries.

npm-packlist compiles every rule with ``{matchBase: true, dot: true, flipNegate: true, nocase: true}``;
this is that behaviour: ``!`` negation, ``{a,b}`` braces, ``*``, ``?``, ``[...]``, ``**`` across
directories, a pattern without ``/`` matching the basename, and ``partial`` matching (could a path
below this directory still match?). Extglobs (``+(a|b)``) are taken literally.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

GLOBSTAR = object()  # a "**" path segment
_MAGIC = set("*?[")


def expand_braces(pattern: str) -> list[str]:
    """``a{b,c}d`` -> ``abd``, ``acd`` (nested braces too); a brace without a comma stays literal."""
    depth, start = 0, -1
    for i, char in enumerate(pattern):
        if char == "\\":
            continue
        if char == "{":
            if depth == 0:
                start = i
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                alternatives = _split_top_level(pattern[start + 1:i])
                if len(alternatives) < 2:
                    head = pattern[:i + 1]
                    return [head + rest for rest in expand_braces(pattern[i + 1:])]
                prefix, suffix = pattern[:start], pattern[i + 1:]
                results: list[str] = []
                for alternative in alternatives:
                    results.extend(expand_braces(prefix + alternative + suffix))
                return results
    return [pattern]


def _split_top_level(body: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in body:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _segment(part: str) -> object:
    """One path segment of a pattern: GLOBSTAR, or a compiled regex."""
    if part == "**":
        return GLOBSTAR
    regex, i, only_stars = "", 0, bool(part) and set(part) == {"*"}
    while i < len(part):
        char = part[i]
        if char == "\\" and i + 1 < len(part):
            regex += re.escape(part[i + 1])
            i += 2
            continue
        if char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char == "[":
            end = part.find("]", i + 2 if part[i + 1:i + 2] in ("!", "^") else i + 1)
            if end < 0:
                regex += re.escape(char)
            else:
                body = part[i + 1:end]
                negate = body[:1] in ("!", "^")
                if negate:
                    body = body[1:]
                body = body.replace("\\", "\\\\")
                regex += f"[{'^' if negate else ''}{body}]"
                i = end
        else:
            regex += re.escape(char)
        i += 1
    if only_stars:
        regex = "[^/]+"  # a segment of only * never matches the empty segment
    magic = any(char in _MAGIC for char in part)
    # dot: true lets * match a leading dot, but "." and ".." are never matched by magic
    prefix = r"(?!\.\.?\Z)" if magic else ""
    return re.compile(rf"^{prefix}{regex}\Z", re.IGNORECASE | re.DOTALL)


@dataclass
class Rule:
    pattern: str
    negate: bool
    glob_parts: list[list[str]]
    _compiled: list[list[object]] = field(repr=False)
    comment: bool = False

    @classmethod
    def compile(cls, pattern: str) -> Rule:
        negate, text = False, pattern
        while text.startswith("!"):
            negate, text = not negate, text[1:]
        comment = text.startswith("#")
        glob_parts = []
        for expanded in expand_braces(text):
            parts: list[str] = []
            for part in re.split(r"/+", expanded):
                if part == "**" and parts and parts[-1] == "**":
                    continue
                parts.append(part)
            glob_parts.append(parts or [""])
        compiled = [[_segment(part) for part in parts] for parts in glob_parts]
        return cls(pattern, negate, glob_parts, compiled, comment)

    def match(self, path: str, partial: bool = False) -> bool:
        """Whether the pattern (ignoring its negation) matches ``path``."""
        if self.comment:
            return False
        segments = re.split(r"/+", path)
        basename = next((s for s in reversed(segments) if s), "")
        for compiled in self._compiled:
            target = [basename] if len(compiled) == 1 else segments
            if _match_one(target, compiled, partial):
                return True
        return False


def _match_one(file: list[str], pattern: list[object], partial: bool) -> bool:
    fi, pi = 0, 0
    fl, pl = len(file), len(pattern)
    while fi < fl and pi < pl:
        segment = pattern[pi]
        if segment is GLOBSTAR:
            rest = pi + 1
            if rest == pl:
                return all(part not in (".", "..") for part in file[fi:])
            start = fi
            while start < fl:
                if _match_one(file[start:], pattern[rest:], partial):
                    return True
                if file[start] in (".", ".."):
                    break
                start += 1
            return partial and start == fl
        if not segment.match(file[fi]):  # type: ignore[attr-defined]
            return False
        fi += 1
        pi += 1
    if fi == fl and pi == pl:
        return True
    if fi == fl:
        return partial
    return fi == fl - 1 and file[fi] == ""
