"""Package names per type: what each protocol accepts as a package name."""

from __future__ import annotations

import re

from registry.pypi.names import is_valid_project_name, normalize
from vocab.names import is_valid_name

_NPM_NAME_RE = re.compile(r"^(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*\Z")
_MAVEN_PART_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


def validate_package_name(package_type: str, name: str) -> str:
    """The package's name as stored (PyPI names in their normal form); ValueError unless ``name`` is a
    valid package name of that type."""
    if package_type == "container":
        if not is_valid_name(name):
            raise ValueError(f"invalid image name {name!r}: lower-case letters, digits and . _ - / separators")
    elif package_type == "npm":
        if len(name) > 214 or not _NPM_NAME_RE.match(name):
            raise ValueError(f"invalid npm package name {name!r}")
    elif package_type == "maven":
        group, sep, artifact = name.partition(":")
        if not sep or not _MAVEN_PART_RE.match(group) or not _MAVEN_PART_RE.match(artifact) or ".." in name:
            raise ValueError(f"invalid Maven package {name!r}: use groupId:artifactId")
    elif package_type == "pypi":
        if not is_valid_project_name(name):
            raise ValueError(f"invalid Python project name {name!r}: letters, digits, and . _ - inside")
        return normalize(name)
    else:
        raise ValueError(f"unknown package type {package_type!r}")
    return name
