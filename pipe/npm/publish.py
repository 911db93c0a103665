"""npm's publish protocol, as the npm CLI (libnpmpublish) speaks it.

``PUT <registry>/<name, with / as %2f>`` with the document
``{_id, name, description, dist-tags: {TAG: version}, versions: {version: manifest}, access,
_attachments: {"<name>-<version>.tgz": {content_type, data (base64), length}}}``; the manifest is
package.json plus ``_id`` and ``dist`` (sha512 ``integrity``, sha1 ``shasum``, ``tarball`` URL).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import urljoin

from pipe.httpclient import HttpClient
from pipe.npm.tarball import Tarball

NAME_RE = re.compile(r"^(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*\Z")
# semver 2.0.0 (npm's own grammar, without the loose forms)
VERSION_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                        r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
                        r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\Z")
TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


def name_problem(name: str) -> str | None:
    if len(name) > 214:
        return "is longer than 214 characters"
    if not NAME_RE.match(name):
        return ("is not a valid npm name (lower-case letters, digits, - . _ ~, optionally @scope/ before; not "
                "starting with . or _)")
    return None


def version_problem(version: str) -> str | None:
    return None if VERSION_RE.match(version) else "is not a valid semver version (like 1.2.3 or 1.2.3-beta.1)"


def tag_problem(tag: str) -> str | None:
    if not TAG_RE.match(tag):
        return "must be letters, digits, . _ -, starting with a letter or digit"
    if VERSION_RE.match(tag.removeprefix("v")) or re.match(r"^v?\d+(\.\d+)*\Z", tag):
        return "looks like a version: npm refuses tags that parse as a semver range"
    return None


def escaped_name(name: str) -> str:
    """How a package name goes into a registry URL: ``@scope%2fname``."""
    return name.replace("/", "%2f")


def tarball_url(registry: str, name: str, version: str) -> str:
    return urljoin(registry, f"{name}/-/{name}-{version}.tgz")


def publish_document(tarball: Tarball, registry: str, tag: str, access: str | None) -> dict[str, Any]:
    name, version = tarball.name, tarball.version
    manifest = dict(tarball.manifest)
    manifest["_id"] = f"{name}@{version}"
    manifest["dist"] = {**(manifest.get("dist") if isinstance(manifest.get("dist"), dict) else {}),
                        "integrity": tarball.integrity, "shasum": tarball.shasum,
                        "tarball": tarball_url(registry, name, version)}
    document: dict[str, Any] = {
        "_id": name,
        "name": name,
        "description": manifest.get("description"),
        "dist-tags": {tag: version},
        "versions": {version: manifest},
        "access": access,
        "_attachments": {
            f"{name}-{version}.tgz": {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(tarball.data).decode(),
                "length": tarball.size,
            },
        },
    }
    return document


class NpmRegistry:
    def __init__(self, client: HttpClient, url: str) -> None:
        self.client = client
        self.url = url

    def package_url(self, name: str) -> str:
        return self.url + escaped_name(name)

    def published_versions(self, name: str) -> set[str] | None:
        """The versions the registry has, or None when it knows no such package (or may not show it)."""
        packument = self.client.get_json(self.package_url(name),
                                         headers={"Accept": "application/vnd.npm.install-v1+json; q=1.0, "
                                                            "application/json; q=0.8"})
        if not isinstance(packument, dict):
            return None
        versions = packument.get("versions")
        return set(versions) if isinstance(versions, dict) else set()

    def publish(self, tarball: Tarball, tag: str, access: str | None) -> None:
        body = json.dumps(publish_document(tarball, self.url, tag, access)).encode()
        self.client.request("PUT", self.package_url(tarball.name), ok=(200, 201),
                            data=body, headers={"Content-Type": "application/json",
                                                "npm-command": "publish"})
