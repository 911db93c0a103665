"""npm names on the wire: package names, versions, dist-tags and tarball file names."""

from __future__ import annotations

import re

from registry.packages import validate_package_name

# semver.org's grammar (npm publishes only valid semver versions).
_SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\Z"
)
MAX_VERSION_LENGTH = 256
_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}\Z")


def is_valid_name(name: str) -> bool:
    try:
        validate_package_name("npm", name)
    except ValueError:
        return False
    return True


def is_valid_version(version: object) -> bool:
    return isinstance(version, str) and len(version) <= MAX_VERSION_LENGTH and bool(_SEMVER_RE.match(version))


def is_valid_tag(tag: object) -> bool:
    """A dist-tag: a short word that cannot be mistaken for a version (``npm install pkg@TAG``)."""
    return isinstance(tag, str) and bool(_TAG_RE.match(tag)) and not is_valid_version(tag.lstrip("v="))


def tarball_basename(name: str) -> str:
    """``@scope/name`` -> ``name``: npm's tarballs are named ``<basename>-<version>.tgz``."""
    return name.rsplit("/", 1)[-1]


def tarball_filename(name: str, version: str) -> str:
    return f"{tarball_basename(name)}-{version}.tgz"


def version_of_tarball(name: str, filename: str) -> str | None:
    prefix = tarball_basename(name) + "-"
    if not filename.startswith(prefix) or not filename.endswith(".tgz"):
        return None
    version = filename[len(prefix):-len(".tgz")]
    return version if is_valid_version(version) else None


def semver_key(version: str) -> tuple:
    """Sort key in semver precedence (pre-releases before their release; build metadata ignored)."""
    match = _SEMVER_RE.match(version)
    if match is None:
        return ((-1, -1, -1), 0, ())
    major, minor, patch, pre = int(match.group(1)), int(match.group(2)), int(match.group(3)), match.group(4)
    if pre is None:
        return ((major, minor, patch), 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return ((major, minor, patch), 0, parts)
