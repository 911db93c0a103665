"""Real Maven (3.8.7) runs for the tests: poms, settings.xml with credentials, and ``mvn`` itself.

The plugins a small jar build needs are in ~/.m2 and Maven Central is unreachable, so builds stay
on what the local repository already holds. Each test artifact gets its own groupId, so the local
repository never answers for the server; producers skip ``install`` for the same reason, and
:func:`forget_group` removes what consumers downloaded into ~/.m2.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

SERVER_ID = "bitbucket-packages"
LOCAL_REPOSITORY = Path.home() / ".m2" / "repository"
# Versions whose whole dependency tree is in ~/.m2 (Maven 3.8.7's default deploy plugin is 2.7;
# 3.x, as the issue asks, sends Expect: 100-continue).
DEPLOY_PLUGIN = "org.apache.maven.plugins:maven-deploy-plugin:3.1.1"
PLUGINS = {
    "maven-deploy-plugin": "3.1.1",
    "maven-jar-plugin": "3.4.2",
    "maven-compiler-plugin": "3.11.0",
    "maven-resources-plugin": "3.3.1",
    "maven-install-plugin": "3.1.1",
}
# Surefire's tree is not complete in ~/.m2, and these projects have no tests: it is unbound.
UNBOUND_PLUGINS = {"maven-surefire-plugin": ("3.2.5", "default-test")}


@dataclass(frozen=True)
class MavenRun:
    returncode: int
    output: str

    def check(self) -> MavenRun:
        if self.returncode != 0:
            raise AssertionError(f"mvn failed ({self.returncode}):\n{self.output[-6000:]}")
        return self


def repository_url(server_url: str, workspace: str) -> str:
    return f"{server_url}/maven/{workspace}/"


def write_settings(directory: Path, username: str, password: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "settings.xml"
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<settings>
  <servers>
    <server>
      <id>{SERVER_ID}</id>
      <username>{escape(username)}</username>
      <password>{escape(password)}</password>
    </server>
  </servers>
</settings>
""")
    return path


def _plugins() -> str:
    pinned = "".join(
        f"<plugin><groupId>org.apache.maven.plugins</groupId><artifactId>{name}</artifactId>"
        f"<version>{version}</version></plugin>"
        for name, version in PLUGINS.items()
    )
    unbound = "".join(
        f"<plugin><groupId>org.apache.maven.plugins</groupId><artifactId>{name}</artifactId>"
        f"<version>{version}</version><executions><execution><id>{execution}</id><phase>none</phase>"
        f"</execution></executions></plugin>"
        for name, (version, execution) in UNBOUND_PLUGINS.items()
    )
    return pinned + unbound


def write_project(directory: Path, group_id: str, artifact_id: str, version: str, url: str,
                  dependencies: list[tuple[str, str, str]] = (), java: str = "") -> Path:
    """A jar project deploying to ``url`` (and resolving from it), with one class."""
    directory.mkdir(parents=True, exist_ok=True)
    deps = "".join(f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version>"
                   f"</dependency>" for g, a, v in dependencies)
    (directory / "pom.xml").write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>{group_id}</groupId>
  <artifactId>{artifact_id}</artifactId>
  <version>{version}</version>
  <packaging>jar</packaging>
  <properties>
    <maven.compiler.source>17</maven.compiler.source>
    <maven.compiler.target>17</maven.compiler.target>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
    <maven.install.skip>true</maven.install.skip>
  </properties>
  <dependencies>{deps}</dependencies>
  <repositories>
    <repository><id>{SERVER_ID}</id><url>{url}</url>
      <releases><enabled>true</enabled></releases><snapshots><enabled>true</enabled></snapshots>
    </repository>
  </repositories>
  <distributionManagement>
    <repository><id>{SERVER_ID}</id><url>{url}</url></repository>
    <snapshotRepository><id>{SERVER_ID}</id><url>{url}</url></snapshotRepository>
  </distributionManagement>
  <build><plugins>{_plugins()}</plugins></build>
</project>
""")
    package_dir = directory / "src" / "main" / "java" / "example"
    package_dir.mkdir(parents=True, exist_ok=True)
    class_name = "".join(part.capitalize() for part in artifact_id.split("-"))
    (package_dir / f"{class_name}.java").write_text(
        java or f"package example;\npublic class {class_name} {{\n"
                f"    public static String hello() {{ return \"{artifact_id} {version}\"; }}\n}}\n")
    return directory


def mvn(directory: Path, settings: Path, *goals: str, timeout: float = 300) -> MavenRun:
    """Run mvn in ``directory`` (on its pom.xml, if it has one)."""
    # -U: look at the server's metadata again (SNAPSHOT updates) instead of the daily cache.
    result = subprocess.run(
        ["mvn", "-B", "-U", "-s", str(settings), *goals],
        cwd=directory, capture_output=True, text=True, timeout=timeout, check=False,
    )
    return MavenRun(result.returncode, result.stdout + result.stderr)


def deploy_file(directory: Path, settings: Path, url: str, file: Path, group_id: str, artifact_id: str,
                version: str, *extra: str) -> MavenRun:
    """``mvn deploy:deploy-file`` of one jar, outside any project."""
    directory.mkdir(parents=True, exist_ok=True)
    return mvn(directory, settings, f"{DEPLOY_PLUGIN}:deploy-file", f"-Dfile={file}", f"-DgroupId={group_id}",
               f"-DartifactId={artifact_id}", f"-Dversion={version}", "-Dpackaging=jar", f"-Durl={url}",
               f"-DrepositoryId={SERVER_ID}", *extra)


def forget_group(group_id: str) -> None:
    """Remove a test group from the local repository (what resolution downloaded there)."""
    shutil.rmtree(LOCAL_REPOSITORY / Path(*group_id.split(".")), ignore_errors=True)
