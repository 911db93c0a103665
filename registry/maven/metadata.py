"""maven-metadata.xml: derived from the stored files, and uploaded ones checked safely.

The server never keeps a client's maven-metadata.xml: two deploys of different versions, each
uploading the document it merged from what it read a moment before, would lose one another's
version. Derived from the file rows on every read, the document is always whole and consistent.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from registry.maven.paths import SNAPSHOT, MavenPath, parse
from registry.maven.store import MavenFile

MAX_UPLOADED_METADATA = 1024 * 1024


class InvalidMetadata(ValueError):
    pass


def _stamp(at: float) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(at))


def _element(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    child = ET.SubElement(parent, tag)
    if text is not None:
        child.text = text
    return child


def _document(root: ET.Element) -> bytes:
    ET.indent(root, "  ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def artifact_metadata(group_id: str, artifact_id: str, versions: list[tuple[str, float, float]]) -> bytes:
    """The artifact-level document: every version in deploy order; ``latest`` and ``release`` are the
    versions (and the release versions) deployed last, as mvn itself records them."""
    root = ET.Element("metadata")
    _element(root, "groupId", group_id)
    _element(root, "artifactId", artifact_id)
    versioning = _element(root, "versioning")
    by_last = sorted(versions, key=lambda item: (item[2], item[0]))
    if by_last:
        _element(versioning, "latest", by_last[-1][0])
    releases = [version for version, _, _ in by_last if not version.endswith(SNAPSHOT)]
    if releases:
        _element(versioning, "release", releases[-1])
    listed = _element(versioning, "versions")
    for version, _, _ in versions:
        _element(listed, "version", version)
    if by_last:
        _element(versioning, "lastUpdated", _stamp(by_last[-1][2]))
    return _document(root)


def snapshot_metadata(group_id: str, artifact_id: str, version: str, files: list[MavenFile]) -> bytes:
    """The version-level document of a SNAPSHOT: its newest timestamped build and, for each
    classifier and extension, the file a resolver should fetch for ``-SNAPSHOT``."""
    latest: dict[tuple[str, str], tuple[tuple, str, float]] = {}
    newest_build: tuple[str, int] | None = None
    for file in files:
        try:
            path = parse(f"{group_id.replace('.', '/')}/{artifact_id}/{version}/{file.filename}")
        except ValueError:
            continue  # recorded under rules since tightened: left out rather than break the document
        value = _snapshot_value(path, version)
        # Timestamped builds outrank a plain -SNAPSHOT file; among builds the higher number wins.
        rank = (path.build_number is not None, path.build_number or 0, file.created_at)
        key = (path.classifier, path.extension)
        if key not in latest or rank > latest[key][0]:
            latest[key] = (rank, value, file.created_at)
        if path.timestamp is not None and path.build_number is not None and (
                newest_build is None or path.build_number > newest_build[1]):
            newest_build = (path.timestamp, path.build_number)
    root = ET.Element("metadata", modelVersion="1.1.0")
    _element(root, "groupId", group_id)
    _element(root, "artifactId", artifact_id)
    _element(root, "version", version)
    versioning = _element(root, "versioning")
    snapshot = _element(versioning, "snapshot")
    if newest_build is not None:
        _element(snapshot, "timestamp", newest_build[0])
        _element(snapshot, "buildNumber", str(newest_build[1]))
    else:
        _element(snapshot, "localCopy", "true")  # only plain -SNAPSHOT files (uniqueVersion false)
    if files:
        _element(versioning, "lastUpdated", _stamp(max(file.created_at for file in files)))
    listed = _element(versioning, "snapshotVersions")
    for (classifier, extension), (_, value, at) in sorted(latest.items()):
        entry = _element(listed, "snapshotVersion")
        if classifier:
            _element(entry, "classifier", classifier)
        _element(entry, "extension", extension)
        _element(entry, "value", value)
        _element(entry, "updated", _stamp(at))
    return _document(root)


def _snapshot_value(path: MavenPath, version: str) -> str:
    if path.timestamp is None:
        return version
    return f"{version[: -len(SNAPSHOT)]}-{path.timestamp}-{path.build_number}"


def check_uploaded(body: bytes, path: MavenPath) -> None:
    """Validate a client's maven-metadata.xml (which is then ignored): well-formed, no DTD, and about
    this artifact. Raises InvalidMetadata. CPU-bound for a large document: call it off the loop.

    defusedxml refuses any DTD (so no entity is ever expanded, in whatever encoding the document is)."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise InvalidMetadata("maven-metadata.xml must not contain a DTD or entity declarations") from None
    except ET.ParseError as exc:
        raise InvalidMetadata(f"maven-metadata.xml is not well-formed XML: {exc}") from None
    if root.tag.rsplit("}", 1)[-1] != "metadata":
        raise InvalidMetadata("maven-metadata.xml must have a <metadata> root element")
    for tag, expected in (("groupId", path.group_id), ("artifactId", path.artifact_id)):
        value = root.findtext(tag)
        if value is None:
            value = next((child.text for child in root if child.tag.rsplit("}", 1)[-1] == tag), None)
        if value is not None and value.strip() != expected:
            raise InvalidMetadata(f"maven-metadata.xml names {tag} {value.strip()[:100]!r}, "
                                  f"but its path is {expected!r}")
