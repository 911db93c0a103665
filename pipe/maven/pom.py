"""Coordinates from a pom: groupId, artifactId, version, packaging; parsed safely.

A pom with a DOCTYPE or entity declarations is refused (no entity expansion, no external fetches).
groupId and version are inherited from ``<parent>`` when the pom leaves them out, as Maven does;
``${...}`` references to the pom's own ``<properties>``, ``project.*`` and ``parent.*`` values are
resolved (CI-friendly versions such as ``${revision}`` included, when the property is in the pom).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

MAX_XML_BYTES = 8 * 1024 * 1024
_PART_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_VERSION_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*\Z")
_REFERENCE_RE = re.compile(r"\$\{([^}]+)\}")


class PomError(Exception):
    pass


@dataclass(frozen=True)
class Coordinates:
    group_id: str
    artifact_id: str
    version: str
    packaging: str = "jar"

    @property
    def is_snapshot(self) -> bool:
        return self.version.endswith("-SNAPSHOT")

    @property
    def gav(self) -> str:
        return f"{self.group_id}:{self.artifact_id}:{self.version}"

    @property
    def package_name(self) -> str:
        return f"{self.group_id}:{self.artifact_id}"

    @property
    def artifact_path(self) -> str:
        """``com/example/lib``: where the artifact's versions live in a repository."""
        return f"{self.group_id.replace('.', '/')}/{self.artifact_id}"


def parse_xml(data: bytes, what: str) -> ET.Element:
    """An XML document with no DTD: refused before parsing if it declares one."""
    if len(data) > MAX_XML_BYTES:
        raise PomError(f"{what} is larger than {MAX_XML_BYTES} bytes")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data or b"<!doctype" in data:
        raise PomError(f"{what} declares a DOCTYPE or entities, which are refused (no entity expansion)")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise PomError(f"{what} is not well-formed XML: {exc}") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    if element is None:
        return None
    for child in element:
        if isinstance(child.tag, str) and _local(child.tag) == name:
            return child
    return None


def _text(element: ET.Element | None, name: str) -> str | None:
    child = _child(element, name)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def read_pom(path: Path) -> Coordinates:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PomError(f"cannot read {path}: {exc.strerror}") from None
    return parse_pom(data, str(path))


def parse_pom(data: bytes, what: str = "the pom") -> Coordinates:
    root = parse_xml(data, what)
    if _local(root.tag) != "project":
        raise PomError(f"{what} is not a pom (its root element is <{_local(root.tag)}>, not <project>)")
    parent = _child(root, "parent")
    values = {
        "groupId": _text(root, "groupId") or _text(parent, "groupId"),
        "artifactId": _text(root, "artifactId"),
        "version": _text(root, "version") or _text(parent, "version"),
        "packaging": _text(root, "packaging") or "jar",
    }
    properties = {}
    declared = _child(root, "properties")
    for element in (list(declared) if declared is not None else []):
        if isinstance(element.tag, str) and element.text is not None:
            properties[_local(element.tag)] = element.text.strip()
    for key in ("groupId", "artifactId", "version"):
        if values[key]:
            properties[f"project.{key}"] = properties[f"pom.{key}"] = str(values[key])
        if _text(parent, key):
            properties[f"project.parent.{key}"] = properties[f"parent.{key}"] = str(_text(parent, key))

    def resolve(value: str, key: str) -> str:
        for _ in range(10):  # references to references, bounded
            replaced = _REFERENCE_RE.sub(lambda m: properties.get(m.group(1), m.group(0)), value)
            if replaced == value:
                break
            value = replaced
        if "${" in value:
            raise PomError(f"{what}: {key} {value!r} refers to a property the pom does not define; set it in "
                           "<properties>, or deploy a pom with the value filled in (e.g. by flatten-maven-plugin)")
        return value

    for key in ("groupId", "artifactId", "version"):
        if not values[key]:
            raise PomError(f"{what} has no {key}" + (" (nor does its <parent>)" if key != "artifactId" else ""))
        values[key] = resolve(str(values[key]), key)
    values["packaging"] = resolve(str(values["packaging"]), "packaging")
    if not _PART_RE.match(values["groupId"] or "") or not _PART_RE.match(values["artifactId"] or ""):
        raise PomError(f"{what}: groupId and artifactId must be letters, digits, _ . -")
    if not _VERSION_RE.match(values["version"] or "") or ".." in str(values["version"]):
        raise PomError(f"{what}: version {values['version']!r} is not a usable Maven version")
    return Coordinates(str(values["groupId"]), str(values["artifactId"]), str(values["version"]),
                       str(values["packaging"]))
