"""The documents the index serves: Simple Repository API pages (PEP 503 HTML, PEP 691 JSON, with
PEP 592 yanking, PEP 658/714 core metadata and PEP 700 sizes and upload times) and warehouse's
JSON API. Pure functions of the stored rows; the routes cache what they render."""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass
from urllib.parse import quote

from registry.pypi.names import parse_version
from registry.pypi.store import PypiFile, PypiVersion

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
SIMPLE_HTML = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
API_VERSION = "1.1"
# The server's preference among equally acceptable types: JSON is smaller and cheaper to parse.
SERVED_TYPES = (SIMPLE_JSON, SIMPLE_HTML, TEXT_HTML)
_ALIASES = {
    "application/vnd.pypi.simple.latest+json": SIMPLE_JSON,
    "application/vnd.pypi.simple.latest+html": SIMPLE_HTML,
    "text/*": TEXT_HTML,
    "*/*": TEXT_HTML,
}


def negotiate(accept: str | None) -> str | None:
    """The content type to answer with (PEP 691), or None when the client accepts none we serve (406)."""
    if not accept or not accept.strip():
        return TEXT_HTML
    best: tuple[float, int, str] | None = None
    for item in accept.split(",")[:50]:
        media, *params = (piece.strip() for piece in item.split(";"))
        media = _ALIASES.get(media.lower(), media.lower())
        if media not in SERVED_TYPES:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        rank = (quality, -SERVED_TYPES.index(media), media)
        if best is None or rank > best:
            best = rank
    return best[2] if best else None


@dataclass(frozen=True, slots=True)
class FileLinks:
    """Where a project's files are served: ``<base>/<filename>`` and ``<base>/<filename>.metadata``."""

    base: str

    def url(self, file: PypiFile) -> str:
        return f"{self.base}/{quote(file.filename)}"


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment % 1 * 1e6):06d}Z"


def index_page(projects: list[tuple[str, str]], content_type: str) -> bytes:
    """The list of projects: (name, URL of its page) pairs."""
    if content_type == SIMPLE_JSON:
        return json.dumps({"meta": {"api-version": API_VERSION},
                           "projects": [{"name": name} for name, _ in projects]}).encode()
    links = "".join(f'    <a href="{html.escape(url)}">{html.escape(name)}</a>\n' for name, url in projects)
    return (f'<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
            f"    <title>Simple index</title>\n  </head>\n  <body>\n{links}  </body>\n</html>\n").encode()


def project_page(name: str, files: list[PypiFile], versions: list[str], links: FileLinks, content_type: str) -> bytes:
    if content_type == SIMPLE_JSON:
        return json.dumps({
            "meta": {"api-version": API_VERSION},
            "name": name,
            "versions": versions,
            "files": [_simple_json_file(file, links) for file in files],
        }).encode()
    rows = []
    for file in files:
        attributes = [f'href="{html.escape(links.url(file))}#sha256={file.sha256}"']
        if file.requires_python:
            attributes.append(f'data-requires-python="{html.escape(file.requires_python)}"')
        if file.metadata_digest:
            sha = file.metadata_digest.split(":", 1)[1]
            attributes.append(f'data-core-metadata="sha256={sha}"')
            attributes.append(f'data-dist-info-metadata="sha256={sha}"')  # the PEP 658 name, for older pips
        if file.yanked:
            attributes.append(f'data-yanked="{html.escape(file.yanked_reason or "")}"')
        rows.append(f'    <a {" ".join(attributes)}>{html.escape(file.filename)}</a><br/>\n')
    title = html.escape(name)
    return (f'<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
            f"    <title>Links for {title}</title>\n  </head>\n  <body>\n    <h1>Links for {title}</h1>\n"
            f"{''.join(rows)}  </body>\n</html>\n").encode()


def _simple_json_file(file: PypiFile, links: FileLinks) -> dict:
    metadata = {"sha256": file.metadata_digest.split(":", 1)[1]} if file.metadata_digest else False
    return {
        "filename": file.filename,
        "url": links.url(file),
        "hashes": {"sha256": file.sha256},
        "requires-python": file.requires_python,
        "core-metadata": metadata,
        "dist-info-metadata": metadata,
        "yanked": (file.yanked_reason or True) if file.yanked else False,
        "size": file.size,
        "upload-time": _iso(file.created_at),
    }


def sorted_versions(versions: list[str]) -> list[str]:
    def key(text: str):
        parsed = parse_version(text)
        return (parsed is not None, parsed or text)

    return sorted(versions, key=key)


def json_api(name: str, versions: list[PypiVersion], files: list[PypiFile], links: FileLinks,
             project_url: str, version: str | None = None) -> dict:
    """warehouse's /pypi/<project>/json (and /<version>/json when ``version`` is given)."""
    by_version: dict[str, list[PypiFile]] = {}
    for file in files:
        by_version.setdefault(file.version, []).append(file)
    ordered = sorted_versions([v.version for v in versions])
    stable = [v for v in ordered if (p := parse_version(v)) is not None and not p.is_prerelease]
    current_name = version or (stable or ordered or [""])[-1]
    current = next((v for v in versions if v.version == current_name), None)
    metadata = current.metadata() if current else {}
    current_files = by_version.get(current_name, [])
    info = {
        "author": metadata.get("author", ""),
        "author_email": metadata.get("author_email", ""),
        "classifiers": metadata.get("classifiers", []),
        "description": (current.description if current else "") or "",
        "description_content_type": current.description_content_type if current else None,
        "home_page": metadata.get("home_page", ""),
        "keywords": metadata.get("keywords", ""),
        "license": metadata.get("license", ""),
        "license_expression": metadata.get("license_expression"),
        "maintainer": metadata.get("maintainer", ""),
        "maintainer_email": metadata.get("maintainer_email", ""),
        "name": metadata.get("name", name),
        "package_url": project_url,
        "platform": metadata.get("platform"),
        "project_url": project_url,
        "project_urls": metadata.get("project_urls"),
        "release_url": f"{project_url}{current_name}/",
        "requires_dist": metadata.get("requires_dist"),
        "requires_python": (current.requires_python if current else None) or "",
        "summary": metadata.get("summary", ""),
        "version": current_name,
        "yanked": bool(current_files) and all(f.yanked for f in current_files),
        "yanked_reason": next((f.yanked_reason for f in current_files if f.yanked), None) or None,
    }
    document = {
        "info": info,
        "last_serial": int(max((f.created_at for f in files), default=0)),
        "urls": [_json_api_file(f, links) for f in current_files],
        "vulnerabilities": [],
    }
    if version is None:
        document["releases"] = {v: [_json_api_file(f, links) for f in by_version.get(v, [])] for v in ordered}
    return document


def _json_api_file(file: PypiFile, links: FileLinks) -> dict:
    return {
        "comment_text": "",
        "digests": {"md5": file.md5, "sha256": file.sha256, "blake2b_256": file.blake2_256},
        "downloads": -1,
        "filename": file.filename,
        "has_sig": False,
        "md5_digest": file.md5,
        "packagetype": file.packagetype,
        "python_version": file.python_version,
        "requires_python": file.requires_python,
        "size": file.size,
        "upload_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(file.created_at)),
        "upload_time_iso_8601": _iso(file.created_at),
        "url": links.url(file),
        "yanked": file.yanked,
        "yanked_reason": file.yanked_reason or None,
    }
