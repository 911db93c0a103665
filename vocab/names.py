"""Repository names and tags as the OCI distribution spec defines them."""

from __future__ import annotations

import re

# distribution-spec: <name> components separated by '/', each [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*\Z")
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}\Z")
# A workspace slug as Bitbucket allows it (lower-case here, as image names must be).
WORKSPACE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,61}\Z")
MAX_NAME_LENGTH = 255


def is_valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and bool(NAME_RE.match(name))


def is_valid_tag(tag: str) -> bool:
    return bool(TAG_RE.match(tag))


def is_valid_workspace(slug: str) -> bool:
    return bool(WORKSPACE_RE.match(slug))
