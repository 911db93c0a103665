"""Python project names and versions: validity (PEP 508) and the normal form (PEP 503)."""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

_PROJECT_NAME_RE = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE)
MAX_NAME = 200


def is_valid_project_name(name: str) -> bool:
    return len(name) <= MAX_NAME and _PROJECT_NAME_RE.fullmatch(name) is not None


def normalize(name: str) -> str:
    """PEP 503's normal form: lower case, runs of ``-_.`` as one ``-``."""
    return canonicalize_name(name)


def parse_version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None
