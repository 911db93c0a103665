"""What the npm package page shows: versions, dist-tags, deprecations, the README (rendered safely),
and how to install it. Read from the npm store; the manifests are publishers' JSON, read defensively."""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup

from registry.access.models import Package
from registry.npm.store import NpmStore, StoredVersion
from registry.ui.markdown import ReadmeCache


@dataclass
class NpmView:
    versions: list[StoredVersion]  # newest first
    dist_tags: dict[str, str]
    current: StoredVersion | None
    readme: Markup
    description: str = ""
    license: str = ""
    homepage: str = ""
    keywords: list[str] = field(default_factory=list)
    dependencies: dict[str, str] = field(default_factory=dict)

    @property
    def deprecations(self) -> list[StoredVersion]:
        return [version for version in self.versions if version.deprecated]

    def tags_of(self, version: str) -> list[str]:
        return [tag for tag, target in self.dist_tags.items() if target == version]


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def npmrc(package_name: str, registry_url: str) -> str:
    """The .npmrc lines that point npm at this workspace's registry, with the token from the environment."""
    scope = package_name.split("/", 1)[0] if package_name.startswith("@") else ""
    target = f"{scope}:registry={registry_url}" if scope else f"registry={registry_url}"
    return f"{target}\n//{registry_url.split('://', 1)[1]}:_authToken=${{BITBUCKET_PACKAGES_TOKEN}}\n"


class NpmPages:
    def __init__(self, store: NpmStore) -> None:
        self.store = store
        self.readmes = ReadmeCache()

    async def view(self, package: Package, version: str | None) -> NpmView | None:
        """The package with one version in front (the one asked for, else ``latest``); None if that
        version does not exist."""
        versions = sorted(await self.store.versions(package.id), key=lambda v: v.created_at, reverse=True)
        tags = await self.store.dist_tags(package.id)
        wanted = version or tags.get("latest") or (versions[0].version if versions else None)
        current = await self.store.version(package.id, wanted) if wanted else None
        if version is not None and current is None:
            return None
        view = NpmView(versions, tags, current, Markup(""))
        if current is None:
            return view
        manifest = current.manifest if isinstance(current.manifest, dict) else {}
        # Rendered off the loop, once per version (a version's README never changes).
        readme = current.readme or _text(manifest.get("readme"))
        view.readme = await self.readmes.render((package.id, current.version, current.digest), readme)
        view.description = _text(manifest.get("description"))
        license_ = manifest.get("license")
        view.license = _text(license_.get("type") if isinstance(license_, dict) else license_)
        homepage = _text(manifest.get("homepage"))
        view.homepage = homepage if homepage.startswith(("https://", "http://")) else ""
        keywords = manifest.get("keywords")
        view.keywords = [k for k in keywords if isinstance(k, str)][:30] if isinstance(keywords, list) else []
        dependencies = manifest.get("dependencies")
        if isinstance(dependencies, dict):
            view.dependencies = {str(k): _text(v) for k, v in list(dependencies.items())[:200]}
        return view
