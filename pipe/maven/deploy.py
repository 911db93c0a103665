"""Deploy built files to a Maven repository the way maven-deploy-plugin does, over plain HTTP.

Each file is PUT, then its ``.md5``, ``.sha1``, ``.sha256`` and ``.sha512``; then
maven-metadata.xml (version level first for a SNAPSHOT, then artifact level), each with its
checksums. SNAPSHOT files are named with a timestamp and the next build number.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipe.httpclient import HttpClient
from pipe.maven.artifacts import Artifact
from pipe.maven.metadata import ArtifactMetadata, SnapshotMetadata
from pipe.maven.pom import Coordinates

CHECKSUMS = ("md5", "sha1", "sha256", "sha512")
METADATA = "maven-metadata.xml"


CHUNK = 1024 * 1024


def checksums(data: bytes) -> dict[str, str]:
    return {algorithm: hashlib.new(algorithm, data).hexdigest() for algorithm in CHECKSUMS}


def file_checksums(path: Path) -> tuple[dict[str, str], int]:
    """All four checksums of a file in one pass, and its size: flat memory for large artifacts."""
    hashers = {algorithm: hashlib.new(algorithm) for algorithm in CHECKSUMS}
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            size += len(chunk)
            for hasher in hashers.values():
                hasher.update(chunk)
    return {algorithm: hasher.hexdigest() for algorithm, hasher in hashers.items()}, size


@dataclass
class Deployed:
    coordinates: Coordinates
    version: str  # the timestamped version of a SNAPSHOT, else the version
    files: list[str] = field(default_factory=list)  # URLs of the artifacts (not checksums or metadata)
    already_there: bool = False


class MavenRepository:
    def __init__(self, client: HttpClient, url: str, log: logging.Logger) -> None:
        self.client = client
        self.url = url
        self.log = log

    def _get(self, path: str) -> bytes | None:
        response = self.client.request("GET", self.url + path, ok=(200, 404))
        return response.content if response.status_code == 200 else None

    def exists(self, path: str) -> bool:
        return self.client.request("HEAD", self.url + path, ok=(200, 404)).status_code == 200

    def _put(self, path: str, data: bytes | Path, content_type: str = "application/octet-stream") -> str:
        """PUT a file (streamed from disk) or a document, then its checksum files."""
        url = self.url + path
        if isinstance(data, Path):
            source = data
            sums, size = file_checksums(source)
            body = lambda: source.open("rb")  # reopened for each attempt
            headers = {"Content-Type": content_type, "Content-Length": str(size)}
            self.client.request("PUT", url, ok=(200, 201, 204), data=body, headers=headers)
        else:
            sums = checksums(data)
            self.client.request("PUT", url, ok=(200, 201, 204), data=data, headers={"Content-Type": content_type})
        for algorithm, digest in sums.items():
            self.client.request("PUT", f"{url}.{algorithm}", ok=(200, 201, 204), data=digest.encode(),
                                headers={"Content-Type": "text/plain"})
        return url

    def release_exists(self, coordinates: Coordinates) -> bool:
        path = f"{coordinates.artifact_path}/{coordinates.version}/{coordinates.artifact_id}-{coordinates.version}.pom"
        return self.exists(path)

    def deploy(self, coordinates: Coordinates, artifacts: list[Artifact], now: datetime | None = None) -> Deployed:
        now = (now or datetime.now(UTC)).astimezone(UTC)
        base = f"{coordinates.artifact_path}/{coordinates.version}/"
        snapshot: SnapshotMetadata | None = None
        version = coordinates.version
        if coordinates.is_snapshot:
            existing = self._get(base + METADATA)
            snapshot = (SnapshotMetadata.parse(existing, coordinates.group_id, coordinates.artifact_id,
                                               coordinates.version) if existing
                        else SnapshotMetadata(coordinates.group_id, coordinates.artifact_id, coordinates.version))
            version = snapshot.next_build(now)
        result = Deployed(coordinates, version)
        for artifact in artifacts:
            name = artifact.file_name(coordinates.artifact_id, version)
            path = Path(artifact.path)
            self.log.info(f"Uploading {name} ({path.stat().st_size} bytes)")
            result.files.append(self._put(base + name, path, _content_type(artifact.extension)))
            if snapshot is not None:
                snapshot.record(artifact.classifier, artifact.extension, version)
        if snapshot is not None:
            self._put(base + METADATA, snapshot.to_xml(), "application/xml")
        existing = self._get(f"{coordinates.artifact_path}/{METADATA}")
        metadata = (ArtifactMetadata.parse(existing, coordinates.group_id, coordinates.artifact_id) if existing
                    else ArtifactMetadata(coordinates.group_id, coordinates.artifact_id))
        metadata.add(coordinates.version, now)
        self._put(f"{coordinates.artifact_path}/{METADATA}", metadata.to_xml(), "application/xml")
        return result


def _content_type(extension: str) -> str:
    return {"pom": "application/xml", "jar": "application/java-archive"}.get(extension, "application/octet-stream")
