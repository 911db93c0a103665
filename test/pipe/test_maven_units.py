"""Maven pieces of the pipe on their own: pom coordinates, file classification, metadata, settings.xml."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipe.maven.artifacts import ArtifactError, classify, plan
from pipe.maven.metadata import ArtifactMetadata, SnapshotMetadata
from pipe.maven.pom import Coordinates, PomError, parse_pom
from pipe.maven.settings_xml import settings_xml
from pipe.oci.auth import Credentials

NS = 'xmlns="http://maven.apache.org/POM/4.0.0"'


def test_coordinates_with_parent_inheritance_and_properties() -> None:
    pom = f"""<project {NS}><modelVersion>4.0.0</modelVersion>
      <parent><groupId>com.acme</groupId><artifactId>parent</artifactId><version>2.1</version></parent>
      <artifactId>lib</artifactId><packaging>war</packaging></project>""".encode()
    assert parse_pom(pom) == Coordinates("com.acme", "lib", "2.1", "war")
    ci = f"""<project {NS}><groupId>com.acme</groupId><artifactId>lib</artifactId><version>${{revision}}</version>
      <properties><revision>1.4.0${{changelist}}</revision><changelist>-SNAPSHOT</changelist></properties>
      </project>""".encode()
    coordinates = parse_pom(ci)
    assert coordinates.version == "1.4.0-SNAPSHOT" and coordinates.is_snapshot and coordinates.packaging == "jar"
    assert coordinates.artifact_path == "com/acme/lib"


@pytest.mark.parametrize(("pom", "message"), [
    (b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x "y">]><project><groupId>&x;</groupId></project>', "DOCTYPE"),
    (b"<project><artifactId>a</artifactId><version>1</version></project>", "no groupId"),
    (b"<project><groupId>g</groupId><artifactId>a</artifactId><version>${nope}</version></project>", "nope"),
    (b"<project><groupId>../g</groupId><artifactId>a</artifactId><version>1</version></project>", "groupId"),
    (b"<settings/>", "not a pom"),
    (b"<project>", "not well-formed"),
])
def test_bad_poms_are_refused(pom: bytes, message: str) -> None:
    with pytest.raises(PomError, match=message):
        parse_pom(pom)


def test_files_are_recognised_by_name(tmp_path: Path) -> None:
    release = Coordinates("g", "lib", "1.0")
    assert classify(tmp_path / "lib-1.0.jar", release).key == ("", "jar")
    assert classify(tmp_path / "lib-1.0-sources.jar", release).key == ("sources", "jar")
    assert classify(tmp_path / "lib-1.0-linux-x86_64.tar.gz", release).key == ("linux-x86_64", "tar.gz")
    assert classify(tmp_path / "whatever-javadoc.jar", release).key == ("javadoc", "jar")
    assert classify(tmp_path / "app.jar", release).key == ("", "jar")
    snapshot = Coordinates("g", "lib", "1.0-SNAPSHOT")
    assert classify(tmp_path / "lib-1.0-SNAPSHOT-tests.jar", snapshot).key == ("tests", "jar")
    assert classify(tmp_path / "lib-1.0-20260101.120000-3-sources.jar", snapshot).key == ("sources", "jar")


def test_plan_orders_files_and_refuses_clashes(tmp_path: Path) -> None:
    coordinates = Coordinates("g", "lib", "1.0")
    for name in ("pom.xml", "lib-1.0.jar", "lib-1.0-sources.jar", "other.jar"):
        (tmp_path / name).write_text(name)
    files = [tmp_path / "lib-1.0-sources.jar", tmp_path / "lib-1.0.jar"]
    order = [(a.classifier, a.extension) for a in plan(files, tmp_path / "pom.xml", coordinates)]
    assert order == [(None, "jar"), (None, "pom"), ("sources", "jar")]
    with pytest.raises(ArtifactError, match="would both be deployed"):
        plan([tmp_path / "lib-1.0.jar", tmp_path / "other.jar"], tmp_path / "pom.xml", coordinates)
    with pytest.raises(ArtifactError, match="no main artifact"):
        plan([tmp_path / "lib-1.0-sources.jar"], tmp_path / "pom.xml", coordinates)
    with pytest.raises(ArtifactError, match="does not exist"):
        plan([tmp_path / "missing.jar"], tmp_path / "pom.xml", coordinates)
    assert len(plan([], tmp_path / "pom.xml", Coordinates("g", "parent", "1.0", "pom"))) == 1


def test_snapshot_metadata_counts_builds_and_merges() -> None:
    first = datetime(2026, 11, 23, 9, 30, 0, tzinfo=UTC)
    metadata = SnapshotMetadata("g", "lib", "1.0-SNAPSHOT")
    value = metadata.next_build(first)
    assert value == "1.0-20261123.093000-1"
    metadata.record(None, "jar", value)
    metadata.record("sources", "jar", value)
    metadata.record(None, "pom", value)

    again = SnapshotMetadata.parse(metadata.to_xml(), "g", "lib", "1.0-SNAPSHOT")
    second = again.next_build(datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC))
    assert second == "1.0-20261123.100005-2"
    again.record(None, "jar", second)
    again.record(None, "pom", second)
    root = ET.fromstring(again.to_xml())
    assert root.findtext("versioning/snapshot/buildNumber") == "2"
    assert root.findtext("versioning/lastUpdated") == "20261123100005"
    values = {(v.findtext("classifier") or "", v.findtext("extension")): v.findtext("value")
              for v in root.iter("snapshotVersion")}
    assert values == {("", "jar"): second, ("", "pom"): second, ("sources", "jar"): value}


def test_artifact_metadata_keeps_versions() -> None:
    metadata = ArtifactMetadata("g", "lib", ["0.9"])
    metadata.add("1.0", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    metadata.add("1.1-SNAPSHOT", datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC))
    parsed = ArtifactMetadata.parse(metadata.to_xml(), "g", "lib")
    assert parsed.versions == ["0.9", "1.0", "1.1-SNAPSHOT"]
    assert (parsed.latest, parsed.release, parsed.last_updated) == ("1.1-SNAPSHOT", "1.0", "20260102030406")


def test_settings_xml_has_server_repository_and_deploy_target() -> None:
    data = settings_xml("http://127.0.0.1:1/maven/ws/", Credentials("u@example.com", "s3cr<t>"))
    root = ET.fromstring(data)
    ns = {"s": "http://maven.apache.org/SETTINGS/1.2.0"}
    assert root.findtext("s:servers/s:server/s:id", namespaces=ns) == "bitbucket-packages"
    assert root.findtext("s:servers/s:server/s:password", namespaces=ns) == "s3cr<t>"
    assert root.findtext("s:profiles/s:profile/s:repositories/s:repository/s:url",
                         namespaces=ns) == "http://127.0.0.1:1/maven/ws/"
    assert root.findtext("s:profiles/s:profile/s:properties/s:altDeploymentRepository",
                         namespaces=ns) == "bitbucket-packages::default::http://127.0.0.1:1/maven/ws/"
    assert root.findtext("s:activeProfiles/s:activeProfile", namespaces=ns) == "bitbucket-packages"
