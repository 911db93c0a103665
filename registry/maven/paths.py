"""Maven repository paths: what a request path names, validated and canonical.

``/maven/<workspace>/com/example/lib/1.0/lib-1.0-sources.jar`` names the file ``lib-1.0-sources.jar``
of version ``1.0`` of package ``com.example:lib``. Every other spelling of a path (empty, ``.`` or
``..`` segments, encoded slashes or backslashes, dots inside group directories, a file name that does
not belong to its directory) is refused, so one file has exactly one path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from registry.packages import validate_package_name

METADATA = "maven-metadata.xml"
CHECKSUM_ALGORITHMS = ("md5", "sha1", "sha256", "sha512")
SNAPSHOT = "-SNAPSHOT"

_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+~-]{0,254}\Z")
_GROUP_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,127}\Z")
_TIMESTAMPED_RE = re.compile(r"(\d{8}\.\d{6})-([1-9]\d{0,8})")
# The first part of an extension is not a number: "lib-1.0.1.jar" is no file of version 1.0.
_EXTENSION_RE = re.compile(r"^(?!\d+(?:\.|\Z))[A-Za-z0-9_+~-]+(?:\.[A-Za-z0-9_+~-]+)*\Z")


class InvalidPath(ValueError):
    """The path names nothing a Maven repository holds; the message says why."""


@dataclass(frozen=True, slots=True)
class MavenPath:
    group_id: str
    artifact_id: str
    version: str | None  # None for the artifact-level maven-metadata.xml
    filename: str  # without a checksum suffix
    checksum: str | None = None  # "sha1" when the path asks for the file's .sha1, ...
    classifier: str = ""
    extension: str = ""
    timestamp: str | None = None  # SNAPSHOT builds: "20260101.120000"
    build_number: int | None = None

    @property
    def package_name(self) -> str:
        return f"{self.group_id}:{self.artifact_id}"

    @property
    def is_metadata(self) -> bool:
        return self.filename == METADATA

    @property
    def is_snapshot(self) -> bool:
        return self.version is not None and self.version.endswith(SNAPSHOT)

    @property
    def location(self) -> str:
        """The path below the workspace, without the checksum suffix."""
        dirs = [*self.group_id.split("."), self.artifact_id] + ([self.version] if self.version else [])
        return "/".join([*dirs, self.filename])


def split_segments(raw_path: str) -> list[str]:
    """The decoded segments of a raw (still percent-encoded) path, each checked to be a plain name."""
    segments = []
    for raw in raw_path.split("/"):
        segment = unquote(raw, errors="strict") if "%" in raw else raw
        if not _SEGMENT_RE.match(segment) or segment in (".", ".."):
            shown = segment[:80] or "(empty)"
            raise InvalidPath(f"invalid path segment {shown!r}: not a canonical Maven repository path")
        segments.append(segment)
    return segments


def parse(raw_path: str) -> MavenPath:
    """Parse the part of a request path below ``/maven/<workspace>/``."""
    try:
        segments = split_segments(raw_path)
    except UnicodeDecodeError:
        raise InvalidPath("invalid percent-encoding in the path") from None
    *dirs, name = segments
    checksum = None
    for algorithm in CHECKSUM_ALGORITHMS:
        if name.endswith("." + algorithm):
            checksum, name = algorithm, name[: -len(algorithm) - 1]
            break
    if name == METADATA:
        # Version-level metadata exists for SNAPSHOT versions only; any other directory above
        # maven-metadata.xml is the artifact's.
        if len(dirs) >= 3 and dirs[-1].endswith(SNAPSHOT):
            group, artifact, version = _coordinates(dirs)
            return MavenPath(group, artifact, version, name, checksum)
        if len(dirs) < 2:
            raise InvalidPath("maven-metadata.xml belongs under <group directories>/<artifactId>/")
        group, artifact = _group(dirs[:-1]), dirs[-1]
        _check_package(group, artifact)
        return MavenPath(group, artifact, None, name, checksum)
    if len(dirs) < 3:
        raise InvalidPath("a Maven file path is <group directories>/<artifactId>/<version>/<file>")
    group, artifact, version = _coordinates(dirs)
    classifier, extension, timestamp, build = _file_parts(artifact, version, name)
    return MavenPath(group, artifact, version, name, checksum, classifier, extension, timestamp, build)


def _group(dirs: list[str]) -> str:
    for segment in dirs:
        if not _GROUP_SEGMENT_RE.match(segment):
            raise InvalidPath(f"invalid group directory {segment[:80]!r}: one directory per groupId part")
    return ".".join(dirs)


def _coordinates(dirs: list[str]) -> tuple[str, str, str]:
    group, artifact, version = _group(dirs[:-2]), dirs[-2], dirs[-1]
    _check_package(group, artifact)
    return group, artifact, version


def _check_package(group: str, artifact: str) -> None:
    try:
        validate_package_name("maven", f"{group}:{artifact}")
    except ValueError as exc:
        raise InvalidPath(str(exc)) from None


def _file_parts(artifact: str, version: str, name: str) -> tuple[str, str, str | None, int | None]:
    """(classifier, extension, timestamp, build number) of a file name, which must be
    ``<artifactId>-<version>[-<classifier>].<extension>``; a SNAPSHOT version may be timestamped."""
    expected = f"{artifact}-{version}[-classifier].extension"
    prefix = f"{artifact}-"
    if not name.startswith(prefix):
        raise InvalidPath(f"file {name[:120]!r} does not belong in {artifact}/{version}/: expected {expected}")
    rest = name[len(prefix):]
    timestamp = build = None
    if version.endswith(SNAPSHOT) and rest.startswith(version[: -len(SNAPSHOT)] + "-"):
        after_base = rest[len(version) - len(SNAPSHOT) + 1:]
        match = _TIMESTAMPED_RE.match(after_base)
        if match and after_base[match.end():match.end() + 1] in (".", "-"):
            timestamp, build = match.group(1), int(match.group(2))
            tail = after_base[match.end():]
        elif after_base.startswith("SNAPSHOT"):
            tail = after_base[len("SNAPSHOT"):]
        else:
            tail = ""
    elif rest.startswith(version):
        tail = rest[len(version):]
    else:
        tail = ""
    classifier = ""
    if tail.startswith("-"):
        classifier, dot, extension = tail[1:].partition(".")
        if not dot:
            extension = ""
    elif tail.startswith("."):
        extension = tail[1:]
    else:
        extension = ""
    if not extension or not _EXTENSION_RE.match(extension) or (tail.startswith("-") and not classifier):
        raise InvalidPath(f"file {name[:120]!r} does not belong in {artifact}/{version}/: expected {expected}")
    return classifier, extension, timestamp, build
