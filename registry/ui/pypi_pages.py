"""What the PyPI project page shows: versions (yanked ones marked), the files of one version with
their hashes and sizes, requires-python, the README from the version's long_description (rendered
safely, once per version, in a thread), and the pip/uv/.pypirc/pip.conf snippets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from registry.access.models import Package
from registry.pypi.names import parse_version
from registry.pypi.store import PypiFile, PypiStore, PypiVersion
from registry.ui.markdown import ReadmeCache

# Escaping plain text this long takes more than a millisecond: it goes to a thread.
INLINE_TEXT = 64 * 1024
# A project page of more versions and files than this is arranged in a thread.
INLINE_ROWS = 50


@dataclass
class PypiView:
    versions: list[PypiVersion]  # newest first
    yanked: set[str]  # versions whose every file is yanked
    current: PypiVersion | None
    files: list[PypiFile]
    readme: Markup
    summary: str = ""
    links: dict[str, str] = field(default_factory=dict)


def _preformatted(text: str) -> Markup:
    return Markup("<pre>") + escape(text) + Markup("</pre>")


def snippets(project: str, index_url: str, upload_url: str, email: str) -> dict[str, str]:
    host = index_url.split("://", 1)[1].split("/", 1)[0]
    return {
        "pip": f"pip install --index-url {index_url} {project}",
        "uv": f"uv add --index ours={index_url} {project}",
        "pypirc": (f"[distutils]\nindex-servers = bitbucket-packages\n\n[bitbucket-packages]\n"
                   f"repository = {upload_url}\nusername = {email or 'you@example.com'}\n"
                   "# password: your API token (or twine's TWINE_PASSWORD)\n"),
        "pipconf": f"[global]\nindex-url = {index_url}\n# credentials: ~/.netrc for {host}, or a keyring\n",
    }


class PypiPages:
    def __init__(self, store: PypiStore) -> None:
        self.store = store
        self.readmes = ReadmeCache()

    async def view(self, package: Package, version: str | None) -> PypiView | None:
        """The project with one version in front (the one asked for, else the newest release that is not
        yanked); None if that version does not exist."""
        versions = await self.store.versions(package.id)
        files = await self.store.files(package.id)
        # Parsing and ordering every version takes more than a millisecond past a few dozen rows: in a thread.
        view = (await asyncio.to_thread(_arrange, versions, files, version)
                if len(versions) + len(files) > INLINE_ROWS else _arrange(versions, files, version))
        if view is None:
            return None
        current = view.current
        if current is not None:
            view.readme = await self._readme(package, current)
            metadata = await current.metadata_off_loop()
            view.summary = str(metadata.get("summary", ""))
            urls = metadata.get("project_urls") or {}
            home = metadata.get("home_page")
            view.links = {**({"Homepage": home} if home else {}), **urls}
        return view

    async def _readme(self, package: Package, version: PypiVersion) -> Markup:
        text = version.description or ""
        if not text.strip():
            return Markup("")
        kind = (version.description_content_type or "").split(";", 1)[0].strip().lower()
        if kind == "text/markdown":
            return await self.readmes.render((package.id, version.version, version.created_at), text)
        # reStructuredText and plain text are shown as they are: escaped, never interpreted.
        return _preformatted(text) if len(text) < INLINE_TEXT else await asyncio.to_thread(_preformatted, text)


def _arrange(versions: list[PypiVersion], files: list[PypiFile], wanted: str | None) -> PypiView | None:
    """The page's versions newest first, the yanked ones, and the version in front with its files (blocking:
    parses every version)."""
    parsed = {v.version: parse_version(v.version) for v in versions}
    ordered = sorted(versions, key=lambda v: (parsed[v.version] is not None, parsed[v.version] or v.version),
                     reverse=True)
    by_version: dict[str, list[PypiFile]] = {}
    for file in files:
        by_version.setdefault(file.version, []).append(file)
    yanked = {v.version for v in ordered if (mine := by_version.get(v.version)) and all(f.yanked for f in mine)}
    if wanted is not None:
        current = next((v for v in ordered if v.version == wanted), None)
        if current is None:
            return None
    else:
        usable = [v for v in ordered if v.version not in yanked]
        stable = [v for v in usable if not (parsed[v.version] or parse_version("0")).is_prerelease]
        current = (stable or usable or ordered or [None])[0]
    return PypiView(ordered, yanked, current, by_version.get(current.version, []) if current else [], Markup(""))
