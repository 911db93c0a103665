"""maven-metadata.xml as maven-deploy-plugin (Maven Resolver) writes it on deploy.

Artifact level (``group/artifact/maven-metadata.xml``): every version, ``latest`` (the version just
deployed), ``release`` (the last release deployed) and ``lastUpdated``. Version level, for SNAPSHOTs
(``group/artifact/1.0-SNAPSHOT/maven-metadata.xml``): the snapshot's timestamp and build number and a
``snapshotVersion`` per (classifier, extension). Both merge what the repository already has, so
nothing deployed before is lost.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime

from pipe.maven.pom import PomError, _child, _local, _text, parse_xml


@dataclass
class ArtifactMetadata:
    group_id: str
    artifact_id: str
    versions: list[str] = field(default_factory=list)
    latest: str | None = None
    release: str | None = None
    last_updated: str | None = None

    @classmethod
    def parse(cls, data: bytes, group_id: str, artifact_id: str) -> ArtifactMetadata:
        root = _checked_root(data, "the repository's maven-metadata.xml")
        versioning = _child(root, "versioning")
        versions_element = _child(versioning, "versions")
        versions = [v.text.strip() for v in (list(versions_element) if versions_element is not None else [])
                    if isinstance(v.tag, str) and _local(v.tag) == "version" and v.text and v.text.strip()]
        return cls(group_id, artifact_id, versions, _text(versioning, "latest"), _text(versioning, "release"),
                   _text(versioning, "lastUpdated"))

    def add(self, version: str, now: datetime) -> None:
        if version not in self.versions:
            self.versions.append(version)
        self.latest = version
        if not version.endswith("-SNAPSHOT"):
            self.release = version
        self.last_updated = now.strftime("%Y%m%d%H%M%S")

    def to_xml(self) -> bytes:
        root = ET.Element("metadata")
        _add(root, "groupId", self.group_id)
        _add(root, "artifactId", self.artifact_id)
        versioning = ET.SubElement(root, "versioning")
        if self.latest:
            _add(versioning, "latest", self.latest)
        if self.release:
            _add(versioning, "release", self.release)
        versions = ET.SubElement(versioning, "versions")
        for version in self.versions:
            _add(versions, "version", version)
        _add(versioning, "lastUpdated", self.last_updated or "")
        return _serialize(root)


@dataclass
class SnapshotVersion:
    classifier: str | None
    extension: str
    value: str
    updated: str


@dataclass
class SnapshotMetadata:
    group_id: str
    artifact_id: str
    version: str  # 1.0-SNAPSHOT
    timestamp: str | None = None  # 20261123.093000
    build_number: int = 0
    last_updated: str | None = None
    snapshot_versions: list[SnapshotVersion] = field(default_factory=list)

    @classmethod
    def parse(cls, data: bytes, group_id: str, artifact_id: str, version: str) -> SnapshotMetadata:
        root = _checked_root(data, "the repository's SNAPSHOT maven-metadata.xml")
        versioning = _child(root, "versioning")
        snapshot = _child(versioning, "snapshot")
        try:
            build_number = int(_text(snapshot, "buildNumber") or 0)
        except ValueError:
            build_number = 0
        items = []
        container = _child(versioning, "snapshotVersions")
        for element in list(container) if container is not None else []:
            extension, value = _text(element, "extension"), _text(element, "value")
            if extension and value:
                items.append(SnapshotVersion(_text(element, "classifier"), extension, value,
                                             _text(element, "updated") or ""))
        return cls(group_id, artifact_id, version, _text(snapshot, "timestamp"), max(build_number, 0),
                   _text(versioning, "lastUpdated"), items)

    def next_build(self, now: datetime) -> str:
        """Start a new build: the timestamped version its files are named with (``1.0-20261123.093000-2``)."""
        self.timestamp = now.strftime("%Y%m%d.%H%M%S")
        self.build_number += 1
        self.last_updated = now.strftime("%Y%m%d%H%M%S")
        return f"{self.version.removesuffix('-SNAPSHOT')}-{self.timestamp}-{self.build_number}"

    def record(self, classifier: str | None, extension: str, value: str) -> None:
        self.snapshot_versions = [item for item in self.snapshot_versions
                                  if (item.classifier or "", item.extension) != (classifier or "", extension)]
        self.snapshot_versions.append(SnapshotVersion(classifier, extension, value, self.last_updated or ""))

    def to_xml(self) -> bytes:
        root = ET.Element("metadata", {"modelVersion": "1.1.0"})
        _add(root, "groupId", self.group_id)
        _add(root, "artifactId", self.artifact_id)
        _add(root, "version", self.version)
        versioning = ET.SubElement(root, "versioning")
        snapshot = ET.SubElement(versioning, "snapshot")
        _add(snapshot, "timestamp", self.timestamp or "")
        _add(snapshot, "buildNumber", str(self.build_number))
        _add(versioning, "lastUpdated", self.last_updated or "")
        container = ET.SubElement(versioning, "snapshotVersions")
        for item in self.snapshot_versions:
            element = ET.SubElement(container, "snapshotVersion")
            if item.classifier:
                _add(element, "classifier", item.classifier)
            _add(element, "extension", item.extension)
            _add(element, "value", item.value)
            _add(element, "updated", item.updated)
        return _serialize(root)


def _checked_root(data: bytes, what: str) -> ET.Element:
    root = parse_xml(data, what)
    if _local(root.tag) != "metadata":
        raise PomError(f"{what} is not Maven metadata (root <{_local(root.tag)}>)")
    return root


def _add(parent: ET.Element, name: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, name)
    element.text = text
    return element


def _serialize(root: ET.Element) -> bytes:
    ET.indent(root, space="  ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"
