"""Packuments, built from the stored rows: the full document and npm's abbreviated install form.

The abbreviated form (``Accept: application/vnd.npm.install-v1+json``) carries only what an
installer needs, per npm's registry docs (package-metadata.md).
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote

from registry.npm.names import semver_key, tarball_filename
from registry.npm.store import Revision, StoredVersion, rev_string

ABBREVIATED = "application/vnd.npm.install-v1+json"
# The version fields of the abbreviated packument.
INSTALL_FIELDS = (
    "name", "version", "deprecated", "dependencies", "optionalDependencies", "devDependencies",
    "bundleDependencies", "bundledDependencies", "peerDependencies", "peerDependenciesMeta", "acceptDependencies",
    "bin", "directories", "dist", "engines", "_hasShrinkwrap", "hasInstallScript", "cpu", "os", "libc", "funding",
    "license",
)
# Package-level fields the full packument repeats from the latest version, as the public registry does.
LATEST_FIELDS = ("description", "homepage", "keywords", "repository", "author", "bugs", "license",
                 "maintainers", "contributors")


def iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp)) + f".{int(timestamp * 1000) % 1000:03d}Z"


def tarball_url(registry_url: str, name: str, version: str) -> str:
    """``<registry>/@scope/name/-/name-1.0.0.tgz``, as the public registry names tarballs."""
    return f"{registry_url}/{quote(name, safe='@/')}/-/{quote(tarball_filename(name, version))}"


def version_document(registry_url: str, name: str, stored: StoredVersion) -> dict:
    document = dict(stored.manifest)
    document["dist"] = {**document.get("dist", {}), "tarball": tarball_url(registry_url, name, stored.version)}
    if stored.deprecated:
        document["deprecated"] = stored.deprecated
    return document


def latest(versions: list[StoredVersion], tags: dict[str, str]) -> StoredVersion | None:
    by_version = {v.version: v for v in versions}
    if tags.get("latest") in by_version:
        return by_version[tags["latest"]]
    return max(versions, key=lambda v: semver_key(v.version), default=None)


def full(registry_url: str, package_id: int, name: str, revision: Revision, versions: list[StoredVersion],
         tags: dict[str, str], readme: str | None) -> dict:
    """The full packument; ``readme`` is the latest version's."""
    ordered = sorted(versions, key=lambda v: semver_key(v.version))
    newest = latest(ordered, tags)
    document: dict = {"_id": name, "_rev": rev_string(package_id, revision), "name": name}
    if newest is not None:
        for field in LATEST_FIELDS:
            if field in newest.manifest:
                document[field] = newest.manifest[field]
    document["dist-tags"] = tags
    document["versions"] = {v.version: version_document(registry_url, name, v) for v in ordered}
    document["time"] = {"created": iso(revision.created_at), "modified": iso(revision.modified_at),
                        **{v.version: iso(v.created_at) for v in ordered}}
    if newest is not None and readme:
        document["readme"] = readme
        document["readmeFilename"] = "README.md"
    return document


def abbreviated(registry_url: str, name: str, revision: Revision, versions: list[StoredVersion],
                tags: dict[str, str]) -> dict:
    ordered = sorted(versions, key=lambda v: semver_key(v.version))
    rendered = {}
    for stored in ordered:
        document = version_document(registry_url, name, stored)
        rendered[stored.version] = {key: document[key] for key in INSTALL_FIELDS if key in document}
    return {"name": name, "modified": iso(revision.modified_at), "dist-tags": tags, "versions": rendered}


def encode(document: dict) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
