"""What the Maven artifact page shows: versions (releases and snapshots), each version's files with
their checksums, and the <dependency> and settings.xml snippets."""

from __future__ import annotations

from dataclasses import dataclass

from registry.access.models import Package
from registry.maven.paths import SNAPSHOT
from registry.maven.store import MavenFile, MavenStore


@dataclass(frozen=True, slots=True)
class MavenVersion:
    version: str
    first_at: float
    last_at: float

    @property
    def is_snapshot(self) -> bool:
        return self.version.endswith(SNAPSHOT)


@dataclass
class MavenView:
    group_id: str
    artifact_id: str
    releases: list[MavenVersion]  # newest first
    snapshots: list[MavenVersion]
    current: MavenVersion | None
    files: list[MavenFile]

    @property
    def packaging(self) -> str:
        """jar unless the version has only a POM (a parent or BOM) or another main artifact."""
        if self.current is None:
            return "jar"
        names = [f.filename for f in self.files]
        if any(name.endswith(".jar") for name in names):
            return "jar"
        for extension in ("war", "aar", "zip"):
            if any(name.endswith("." + extension) for name in names):
                return extension
        return "pom" if any(name.endswith(".pom") for name in names) else "jar"

    def dependency(self) -> str:
        version = self.current.version if self.current else "VERSION"
        lines = ["<dependency>", f"  <groupId>{self.group_id}</groupId>",
                 f"  <artifactId>{self.artifact_id}</artifactId>", f"  <version>{version}</version>"]
        if self.packaging != "jar":
            lines.append(f"  <type>{self.packaging}</type>")
        return "\n".join(lines + ["</dependency>"])


def settings_xml(repository_url: str, email: str) -> str:
    """A settings.xml that resolves from (and deploys to) this workspace's repository, token from the env."""
    return f"""<settings>
  <servers>
    <server>
      <id>bitbucket-packages</id>
      <username>{email or "you@example.com"}</username>
      <password>${{env.BITBUCKET_PACKAGES_TOKEN}}</password>
    </server>
  </servers>
  <profiles>
    <profile>
      <id>bitbucket-packages</id>
      <repositories>
        <repository>
          <id>bitbucket-packages</id>
          <url>{repository_url}</url>
          <snapshots><enabled>true</enabled></snapshots>
        </repository>
      </repositories>
    </profile>
  </profiles>
  <activeProfiles>
    <activeProfile>bitbucket-packages</activeProfile>
  </activeProfiles>
</settings>
"""


class MavenPages:
    def __init__(self, store: MavenStore) -> None:
        self.store = store

    async def view(self, package: Package, version: str | None) -> MavenView | None:
        """The artifact with one version's files in front (the one asked for, else the newest release,
        else the newest snapshot); None if that version does not exist."""
        group_id, _, artifact_id = package.name.partition(":")
        versions = [MavenVersion(*row) for row in await self.store.versions(package.id)][::-1]
        releases = [v for v in versions if not v.is_snapshot]
        snapshots = [v for v in versions if v.is_snapshot]
        if version is not None:
            current = next((v for v in versions if v.version == version), None)
            if current is None:
                return None
        else:
            current = (releases or snapshots or [None])[0]
        files = await self.store.files(package.id, current.version) if current else []
        return MavenView(group_id, artifact_id, releases, snapshots, current, files)
