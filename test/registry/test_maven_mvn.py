"""Real Maven 3.8.7 against the registry: mvn deploy (release, SNAPSHOT), deploy:deploy-file, and a
second project resolving what was deployed. Each run costs seconds: the deploys happen once per
module and the tests look at their results."""

from __future__ import annotations

import hashlib
import re
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from test.registry.conftest import admin
from test.support.maven_cli import (
    LOCAL_REPOSITORY,
    MavenRun,
    deploy_file,
    forget_group,
    mvn,
    repository_url,
    write_project,
    write_settings,
)
from test.support.registry_server import READ, WRITE, RegistryServer


@dataclass
class MavenWorld:
    server: RegistryServer
    workspace: str
    group: str
    url: str
    base: Path
    writer: tuple[str, str]
    reader: tuple[str, str]
    writer_settings: Path
    reader_settings: Path

    def get(self, path: str, auth: tuple[str, str] | None = None) -> requests.Response:
        return requests.get(self.url + path, auth=auth or self.reader, timeout=30)

    def group_path(self) -> str:
        return self.group.replace(".", "/")


@pytest.fixture(scope="module")
def mw(registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MavenWorld]:
    tag = uuid.uuid4().hex[:8]
    workspace, group = f"mv{tag}", f"org.t{tag}"
    admin(registry, "workspace", "create", workspace)
    admin(registry, "repository", "create", f"{workspace}/code")
    for artifact in ("lib", "snap", "filed"):
        admin(registry, "package", "create", f"{workspace}/{group}:{artifact}", "--type", "maven",
              "--repository", f"{workspace}/code")
    tokens = {}
    for role in ("write", "read"):
        email = f"{role}@{workspace}.example.com"
        admin(registry, "user", "create", email)
        admin(registry, "grant", email, f"{workspace}/code", role)
        tokens[role] = (email, admin(registry, "token", "create", email, "--scope", READ, "--scope", WRITE))
    base = tmp_path_factory.mktemp("maven")
    world = MavenWorld(registry, workspace, group, repository_url(registry.url, workspace), base,
                       tokens["write"], tokens["read"], write_settings(base / "writer", *tokens["write"]),
                       write_settings(base / "reader", *tokens["read"]))
    yield world
    forget_group(group)


@pytest.fixture(scope="module")
def released(mw: MavenWorld) -> Path:
    project = write_project(mw.base / "lib", mw.group, "lib", "1.0", mw.url)
    mvn(project, mw.writer_settings, "deploy").check()
    return project


@pytest.fixture(scope="module")
def snapshots(mw: MavenWorld) -> Path:
    project = write_project(mw.base / "snap", mw.group, "snap", "1.0-SNAPSHOT", mw.url)
    mvn(project, mw.writer_settings, "deploy").check()
    mvn(project, mw.writer_settings, "deploy").check()
    return project


def test_mvn_deploy_of_a_release(mw: MavenWorld, released: Path) -> None:
    jar = (released / "target" / "lib-1.0.jar").read_bytes()
    prefix = f"{mw.group_path()}/lib"
    served = mw.get(f"{prefix}/1.0/lib-1.0.jar")
    assert served.status_code == 200 and served.content == jar
    assert mw.get(f"{prefix}/1.0/lib-1.0.jar.sha1").text == hashlib.sha1(jar).hexdigest()
    assert mw.get(f"{prefix}/1.0/lib-1.0.jar.sha512").text == hashlib.sha512(jar).hexdigest()
    pom = mw.get(f"{prefix}/1.0/lib-1.0.pom")
    assert pom.status_code == 200 and b"<artifactId>lib</artifactId>" in pom.content
    metadata = mw.get(f"{prefix}/maven-metadata.xml")
    assert "<release>1.0</release>" in metadata.text and "<version>1.0</version>" in metadata.text
    assert mw.get(f"{prefix}/maven-metadata.xml.md5").text == hashlib.md5(metadata.content).hexdigest()


def test_mvn_redeploy_of_a_release_is_refused_with_409(mw: MavenWorld, released: Path) -> None:
    before = mw.get(f"{mw.group_path()}/lib/1.0/lib-1.0.jar").content
    source = released / "src" / "main" / "java" / "example" / "Lib.java"
    source.write_text(source.read_text().replace("lib 1.0", "lib 1.0 changed"))
    run = mvn(released, mw.writer_settings, "deploy")
    assert run.returncode != 0
    assert "409" in run.output and "released versions are immutable" in run.output
    assert mw.get(f"{mw.group_path()}/lib/1.0/lib-1.0.jar").content == before


def test_mvn_deploy_of_snapshots_numbers_the_builds(mw: MavenWorld, snapshots: Path) -> None:
    prefix = f"{mw.group_path()}/snap"
    metadata = mw.get(f"{prefix}/1.0-SNAPSHOT/maven-metadata.xml").text
    assert "<buildNumber>2</buildNumber>" in metadata
    timestamp = re.search(r"<timestamp>(\d{8}\.\d{6})</timestamp>", metadata).group(1)
    assert f"<value>1.0-{timestamp}-2</value>" in metadata
    assert "<extension>jar</extension>" in metadata and "<extension>pom</extension>" in metadata
    jar = mw.get(f"{prefix}/1.0-SNAPSHOT/snap-1.0-{timestamp}-2.jar")
    assert jar.content == (snapshots / "target" / "snap-1.0-SNAPSHOT.jar").read_bytes()
    assert mw.get(f"{prefix}/1.0-SNAPSHOT/snap-1.0-{timestamp.split('.')[0]}.000000-1.jar").status_code == 404
    artifact = mw.get(f"{prefix}/maven-metadata.xml").text
    assert artifact.count("<version>1.0-SNAPSHOT</version>") == 1 and "<release>" not in artifact


def test_a_second_project_resolves_the_release_and_the_snapshot(mw: MavenWorld, released: Path,
                                                                 snapshots: Path) -> None:
    java = ("package example;\npublic class App {\n"
            "    public static String run() { return Lib.hello() + Snap.hello(); }\n}\n")
    consumer = write_project(mw.base / "app", mw.group, "app", "1.0", mw.url,
                             [(mw.group, "lib", "1.0"), (mw.group, "snap", "1.0-SNAPSHOT")], java=java)
    run = mvn(consumer, mw.reader_settings, "compile")
    run.check()
    assert "Downloaded from bitbucket-packages" in run.output
    assert (consumer / "target" / "classes" / "example" / "App.class").exists()
    cached = LOCAL_REPOSITORY / Path(*mw.group.split(".")) / "snap" / "1.0-SNAPSHOT"
    assert any(re.fullmatch(r"snap-1\.0-\d{8}\.\d{6}-2\.jar", path.name) for path in cached.iterdir())


def test_mvn_deploy_file(mw: MavenWorld) -> None:
    jar = mw.base / "filed.jar"
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        archive.writestr("example/readme.txt", "deployed with deploy:deploy-file\n")
    run: MavenRun = deploy_file(mw.base / "deploy-file", mw.writer_settings, mw.url, jar, mw.group, "filed", "2.0")
    run.check()
    # Deploying the same release again (as a retry of an interrupted deploy does) succeeds: same bytes.
    deploy_file(mw.base / "deploy-file", mw.writer_settings, mw.url, jar, mw.group, "filed", "2.0").check()
    prefix = f"{mw.group_path()}/filed"
    assert mw.get(f"{prefix}/2.0/filed-2.0.jar").content == jar.read_bytes()
    assert mw.get(f"{prefix}/2.0/filed-2.0.pom").status_code == 200
    assert "<version>2.0</version>" in mw.get(f"{prefix}/maven-metadata.xml").text
