"""Maven artifacts end to end: the pipe deploys to the bundled registry, real mvn resolves what arrived with the
settings that ACTION=configure wrote, and MAVEN_COMMAND runs mvn deploy with generated credentials."""

from __future__ import annotations

import hashlib
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from test.pipe.conftest import lists
from test.support.maven_cli import LOCAL_REPOSITORY, _plugins, forget_group, mvn, write_project
from test.support.registry_server import RegistryServer


@dataclass
class MavenWorld:
    registry: RegistryServer
    workspace: str
    group: str
    username: str
    token: str

    @property
    def url(self) -> str:
        return f"{self.registry.url}/maven/{self.workspace}/"

    @property
    def env(self) -> dict[str, str]:
        return {"REGISTRY": self.registry.url, "BITBUCKET_PACKAGES_USERNAME": self.username,
                "BITBUCKET_PACKAGES_TOKEN": self.token, "BITBUCKET_WORKSPACE": self.workspace,
                "BITBUCKET_REPO_SLUG": "code", "BITBUCKET_REPO_FULL_NAME": f"{self.workspace}/code",
                "PACKAGE_TYPE": "maven"}

    def create(self, artifact: str) -> None:
        self.registry.package(f"{self.workspace}/{self.group}:{artifact}", f"{self.workspace}/code", "maven")

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, auth=(self.username, self.token), timeout=30)


@pytest.fixture
def maven_world(registry: RegistryServer, unique: str) -> Iterator[MavenWorld]:
    workspace = f"m{unique}"
    registry.ensure_repository(f"{workspace}/code")
    username, token = registry.pipeline_token(f"{workspace}/code")
    world = MavenWorld(registry, workspace, f"com.pipe{unique}", username, token)
    yield world
    forget_group(world.group)


def built_artifact(directory: Path, group: str, artifact: str, version: str, greeting: str) -> Path:
    """pom.xml, ARTIFACT-VERSION.jar (one compiled class) and -sources.jar, as a build leaves them."""
    directory.mkdir(parents=True)
    (directory / "pom.xml").write_text(
        f'<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version></project>\n")
    class_name = artifact.capitalize()
    source = directory / "src" / "lib" / f"{class_name}.java"
    source.parent.mkdir(parents=True)
    source.write_text(f"package lib;\npublic class {class_name} {{\n"
                      f"  public static String hello() {{ return \"{greeting}\"; }}\n}}\n")
    classes = directory / "classes"
    subprocess.run(["javac", "--release", "17", "-d", str(classes), str(source)], check=True)
    with zipfile.ZipFile(directory / f"{artifact}-{version}.jar", "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        jar.write(classes / "lib" / f"{class_name}.class", f"lib/{class_name}.class")
    with zipfile.ZipFile(directory / f"{artifact}-{version}-sources.jar", "w") as jar:
        jar.write(source, f"lib/{class_name}.java")
    return directory


def deploy_env(world: MavenWorld, directory: Path, artifact: str, version: str) -> dict[str, str]:
    # a glob, as users write it: the main jar and the sources jar
    return {**world.env, "MAVEN_POM": str(directory / "pom.xml"),
            **lists("MAVEN_FILES", [str(directory / f"{artifact}-{version}*.jar")])}


def consumer(directory: Path, group: str, dependencies: list[tuple[str, str]]) -> Path:
    """A jar project with no repositories of its own: it resolves only through the configured settings."""
    directory.mkdir(parents=True)
    deps = "".join(f"<dependency><groupId>{group}</groupId><artifactId>{a}</artifactId><version>{v}</version>"
                   f"</dependency>" for a, v in dependencies)
    (directory / "pom.xml").write_text(
        f'<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<groupId>{group}</groupId><artifactId>consumer</artifactId><version>1</version>"
        f"<properties><maven.compiler.release>17</maven.compiler.release>"
        f"<project.build.sourceEncoding>UTF-8</project.build.sourceEncoding></properties>"
        f"<dependencies>{deps}</dependencies><build><plugins>{_plugins()}</plugins></build></project>\n")
    main = directory / "src" / "main" / "java" / "app" / "Main.java"
    main.parent.mkdir(parents=True)
    calls = " + ".join(f"lib.{a.capitalize()}.hello()" for a, _ in dependencies)
    main.write_text(f"package app;\npublic class Main {{ public static String all() {{ return {calls}; }} }}\n")
    return directory


def test_release_and_snapshot_deployed_natively_resolve_with_configured_settings(
        maven_world: MavenWorld, run_pipe, tmp_path: Path) -> None:
    world = maven_world
    world.create("lib")
    world.create("snap")
    release = built_artifact(tmp_path / "lib", world.group, "lib", "1.0", "release")
    run = run_pipe(deploy_env(world, release, "lib", "1.0"))
    run.assert_ok()
    assert f"Deployed {world.group}:lib:1.0 to {world.url}" in run.output
    assert f"{world.url}{world.group.replace('.', '/')}/lib/1.0/lib-1.0-sources.jar" in run.output
    assert "<artifactId>lib</artifactId>" in run.output  # the dependency snippet
    jar_path = f"{world.group.replace('.', '/')}/lib/1.0/lib-1.0.jar"
    assert world.get(jar_path + ".sha1").text.strip() == hashlib.sha1((release / "lib-1.0.jar").read_bytes()).hexdigest()

    first = built_artifact(tmp_path / "snap1", world.group, "snap", "2.0-SNAPSHOT", "build one")
    run_pipe(deploy_env(world, first, "snap", "2.0-SNAPSHOT")).assert_ok()
    second = built_artifact(tmp_path / "snap2", world.group, "snap", "2.0-SNAPSHOT", "build two")
    run = run_pipe(deploy_env(world, second, "snap", "2.0-SNAPSHOT"))
    run.assert_ok()
    assert "-2 to " in run.output  # the second build
    metadata = world.get(f"{world.group.replace('.', '/')}/snap/2.0-SNAPSHOT/maven-metadata.xml").text
    assert "<buildNumber>2</buildNumber>" in metadata

    project = consumer(tmp_path / "consumer", world.group, [("lib", "1.0"), ("snap", "2.0-SNAPSHOT")])
    configured = run_pipe({**world.env, "ACTION": "configure", "BITBUCKET_CLONE_DIR": str(project),
                           **lists("CONFIGURE", ["maven"])}, cwd=project)
    configured.assert_ok()
    assert "mvn -s .m2/settings.xml" in configured.output
    mvn(project, project / ".m2" / "settings.xml", "compile").check()
    resolved = LOCAL_REPOSITORY / Path(*world.group.split(".")) / "snap" / "2.0-SNAPSHOT"
    wanted = (second / "snap-2.0-SNAPSHOT.jar").read_bytes()
    assert any(path.read_bytes() == wanted for path in resolved.glob("*.jar"))


def test_release_already_there_then_skip_existing(maven_world: MavenWorld, run_pipe, tmp_path: Path) -> None:
    maven_world.create("fixed")
    built = built_artifact(tmp_path / "fixed", maven_world.group, "fixed", "1.0", "fixed")
    env = deploy_env(maven_world, built, "fixed", "1.0")
    run_pipe(env).assert_ok()
    run_pipe(env).assert_failed(f"{maven_world.group}:fixed:1.0 is already in", "SKIP_EXISTING")
    skipped = run_pipe({**env, "SKIP_EXISTING": "true"})
    skipped.assert_ok()
    assert "already deployed; skipped" in skipped.stdout


def test_maven_command_deploys_a_jar_project(maven_world: MavenWorld, run_pipe, tmp_path: Path) -> None:
    maven_world.create("cmd")
    project = write_project(tmp_path / "cmd", maven_world.group, "cmd", "1.0", "http://127.0.0.1:9/unused/")
    run = run_pipe({**maven_world.env, "MAVEN_COMMAND": "deploy -DskipTests", "MAVEN_POM": str(project / "pom.xml")})
    run.assert_ok()
    assert "BUILD SUCCESS" in run.output
    response = maven_world.get(f"{maven_world.group.replace('.', '/')}/cmd/1.0/cmd-1.0.jar")
    assert response.status_code == 200 and response.content[:2] == b"PK"


def test_maven_failures(maven_world: MavenWorld, run_pipe, tmp_path: Path) -> None:
    built = built_artifact(tmp_path / "nope", maven_world.group, "nope", "1.0", "nope")
    env = deploy_env(maven_world, built, "nope", "1.0")
    run_pipe(env).assert_failed("does not exist", f"{maven_world.workspace}/{maven_world.group}:nope --type maven")
    run_pipe({**env, "REGISTRY": "crg.apkg.io"}).assert_failed("Set MAVEN_REPOSITORY")
    (tmp_path / "evil.xml").write_text('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><project/>')
    run_pipe({**env, "MAVEN_POM": str(tmp_path / "evil.xml")}).assert_failed("DOCTYPE")
    run_pipe({**maven_world.env, "MAVEN_COMMAND": "deploy", "PATH": str(tmp_path / "no-mvn-here")}).assert_failed(
        "MAVEN_COMMAND needs mvn on PATH")
