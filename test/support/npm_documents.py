"""npm publish documents built by hand, for the tests that must send what no npm client would.

``tarball`` makes a gzip'd tar from (path, bytes) entries (and links or other member types when asked);
``publish_document`` wraps it the way ``npm publish`` does, with integrity and shasum that match
unless told otherwise.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from urllib.parse import quote

import requests

ABBREVIATED = "application/vnd.npm.install-v1+json"


def package_json(name: str, version: str, **extra: object) -> bytes:
    return json.dumps({"name": name, "version": version, "main": "index.js", **extra}).encode()


def tarball(entries: list[tuple[str, bytes]], links: list[tuple[str, str, bytes]] = ()) -> bytes:
    """A .tgz of ``entries`` (path, content) plus ``links`` (path, target, type: tarfile.SYMTYPE...)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content in entries:
            info = tarfile.TarInfo(path)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
        for path, target, kind in links:
            info = tarfile.TarInfo(path)
            info.type = kind
            info.linkname = target
            tar.addfile(info)
    return gzip.compress(raw.getvalue(), mtime=0)  # reproducible: the same entries, the same bytes


def package_tarball(name: str, version: str, code: bytes = b"module.exports = 42;\n") -> bytes:
    return tarball([("package/package.json", package_json(name, version)), ("package/index.js", code)])


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def publish_document(name: str, version: str, data: bytes | None = None, *, tag: str = "latest",
                     integrity_value: str | None = None, shasum: str | None = None,
                     manifest_extra: dict | None = None) -> dict:
    data = package_tarball(name, version) if data is None else data
    manifest = {"name": name, "version": version, "main": "index.js", **(manifest_extra or {}),
                "dist": {"integrity": integrity_value or integrity(data),
                         "shasum": shasum or hashlib.sha1(data).hexdigest(),
                         "tarball": f"http://elsewhere.invalid/{name}/-/{name}-{version}.tgz"}}
    return {
        "_id": name, "name": name, "description": "hand-made", "dist-tags": {tag: version},
        "versions": {version: manifest}, "access": None,
        "_attachments": {f"{name}-{version}.tgz": {"content_type": "application/octet-stream",
                                                   "data": base64.b64encode(data).decode(), "length": len(data)}},
    }


class NpmHttp:
    """Raw HTTP against ``<server>/npm/<workspace>`` with one caller's Authorization header."""

    def __init__(self, base_url: str, workspace: str, authorization: str | None = None) -> None:
        self.workspace = workspace
        self.registry = f"{base_url}/npm/{workspace}"
        self.session = requests.Session()
        if authorization:
            self.session.headers["Authorization"] = authorization

    @staticmethod
    def bearer(token: str) -> str:
        return f"Bearer {token}"

    @staticmethod
    def basic(username: str, token: str) -> str:
        return "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode()

    def url(self, path: str) -> str:
        return f"{self.registry}/{path}"

    @staticmethod
    def escaped(name: str) -> str:
        """``@scope/name`` -> ``@scope%2fname``, as npm sends package names."""
        return quote(name, safe="@")

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, self.url(path), **kwargs)

    def packument(self, name: str, abbreviated: bool = False, **kwargs) -> requests.Response:
        headers = {"Accept": ABBREVIATED if abbreviated else "application/json", **kwargs.pop("headers", {})}
        return self.request("GET", self.escaped(name), headers=headers, **kwargs)

    def publish(self, name: str, document: dict) -> requests.Response:
        return self.request("PUT", self.escaped(name), json=document)

    def tarball(self, name: str, version: str) -> requests.Response:
        return self.request("GET", f"{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz")
