"""Maven path grammar, checksum files and derived maven-metadata.xml, without a server."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from registry.maven.checksums import Checksums, parse_checksum_file
from registry.maven.metadata import InvalidMetadata, artifact_metadata, check_uploaded, snapshot_metadata
from registry.maven.paths import InvalidPath, parse
from registry.maven.store import MavenFile


def test_file_paths() -> None:
    path = parse("com/example/lib/1.0/lib-1.0-sources.jar.sha256")
    assert (path.package_name, path.version, path.filename, path.checksum) == \
        ("com.example:lib", "1.0", "lib-1.0-sources.jar", "sha256")
    assert (path.classifier, path.extension) == ("sources", "jar")
    build = parse("com/example/lib/2.0-SNAPSHOT/lib-2.0-20260102.030405-17-tests.jar")
    assert (build.timestamp, build.build_number, build.classifier, build.is_snapshot) == \
        ("20260102.030405", 17, "tests", True)
    assert parse("com/example/lib/1.0/lib-1.0.tar.gz").extension == "tar.gz"
    assert parse("com/example/lib/1.0/lib-1.0.jar.asc").extension == "jar.asc"


def test_metadata_paths() -> None:
    artifact = parse("com/example/lib/maven-metadata.xml.md5")
    assert (artifact.package_name, artifact.version, artifact.checksum) == ("com.example:lib", None, "md5")
    version = parse("com/example/lib/1.0-SNAPSHOT/maven-metadata.xml")
    assert (version.package_name, version.version) == ("com.example:lib", "1.0-SNAPSHOT")


@pytest.mark.parametrize("raw", [
    "", "lib-1.0.jar", "lib/1.0/lib-1.0.jar", "com/example/lib/1.0/", "com/example/lib/1.0/lib-1.0",
    "com/example/lib/1.0/lib-1.0.1.jar", "com/example/lib/1.0/lib-1.0-.jar", "com/./lib/1.0/lib-1.0.jar",
    "com/ex%2Fample/lib/1.0/lib-1.0.jar", "com/example/lib/1.0/lib-1.0.jar%ZZ", "com/example/lib/1.0/%2e%2e",
    "com/example/lib/1.0-SNAPSHOT/lib-1.0-20260102.0304-1.jar", "-com/example/lib/1.0/lib-1.0.jar",
    "com/example/lib/1.0/" + "a" * 300,
])
def test_invalid_paths(raw: str) -> None:
    with pytest.raises(InvalidPath):
        parse(raw)


def test_checksum_files() -> None:
    sha1 = "a" * 40
    assert parse_checksum_file(f"{sha1}\n".encode(), "sha1") == sha1
    assert parse_checksum_file(f"{sha1.upper()}  lib-1.0.jar".encode(), "sha1") == sha1
    for bad in (b"", b"a" * 39, b"g" * 40, "é".encode() * 20):
        assert parse_checksum_file(bad, "sha1") is None


def _file(name: str, at: float) -> MavenFile:
    return MavenFile("1.0-SNAPSHOT", name, "sha256:" + "0" * 64, 1, Checksums("", "", "0" * 64, ""), at)


def test_snapshot_metadata_names_the_newest_build_per_classifier_and_extension() -> None:
    files = [_file("lib-1.0-20260101.000000-1.jar", 1.0), _file("lib-1.0-20260101.000000-1.pom", 1.0),
             _file("lib-1.0-20260102.000000-2.jar", 2.0), _file("lib-1.0-20260102.000000-2-sources.jar", 2.0),
             _file("lib-1.0-20260102.000000-2.pom", 2.0)]
    root = ET.fromstring(snapshot_metadata("com.example", "lib", "1.0-SNAPSHOT", files))
    assert root.findtext("versioning/snapshot/buildNumber") == "2"
    assert root.findtext("versioning/snapshot/timestamp") == "20260102.000000"
    values = {(entry.findtext("classifier") or "", entry.findtext("extension")): entry.findtext("value")
              for entry in root.iter("snapshotVersion")}
    assert values == {("", "jar"): "1.0-20260102.000000-2", ("sources", "jar"): "1.0-20260102.000000-2",
                      ("", "pom"): "1.0-20260102.000000-2"}


def test_artifact_metadata_lists_versions_in_deploy_order() -> None:
    root = ET.fromstring(artifact_metadata("com.example", "lib", [("1.0", 1, 1), ("2.0-SNAPSHOT", 2, 5),
                                                                   ("1.1", 3, 3)]))
    assert [v.text for v in root.iter("version")] == ["1.0", "2.0-SNAPSHOT", "1.1"]
    assert (root.findtext("versioning/latest"), root.findtext("versioning/release")) == ("2.0-SNAPSHOT", "1.1")


def test_uploaded_metadata_checks() -> None:
    path = parse("com/example/lib/maven-metadata.xml")
    check_uploaded(b"<metadata xmlns='http://maven.apache.org/METADATA/1.1.0'><groupId>com.example</groupId>"
                   b"</metadata>", path)
    for body in (b"<!DOCTYPE x><metadata/>", b"<!ENTITY a 'b'>", b"<metadata>", b"<project/>",
                 b"<metadata><artifactId>other</artifactId></metadata>"):
        with pytest.raises(InvalidMetadata):
            check_uploaded(body, path)
