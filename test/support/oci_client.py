"""A raw OCI distribution client for the tests (requests), and builders for manifests and blobs.

It speaks the wire protocol as plainly as possible so the tests can check every status and header.
For paths that must reach the server byte for byte (``..``, ``%2e``), use :func:`raw_request`:
requests (urllib3) normalises dot segments before sending.
"""

from __future__ import annotations

import hashlib
import http.client
import json
from dataclasses import dataclass

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ACCEPT = f"{OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST}, {DOCKER_LIST}"


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def descriptor(media_type: str, data: bytes, algorithm: str = "sha256", **extra: object) -> dict:
    return {"mediaType": media_type, "digest": digest_of(data, algorithm), "size": len(data), **extra}


def canonical(document: dict) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def config_blob(arch: str = "amd64", note: str = "") -> bytes:
    return canonical({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                      "config": {"Labels": {"note": note}}})


@dataclass
class Image:
    manifest: bytes
    media_type: str
    blobs: dict[str, bytes]  # digest -> bytes, config first

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)


def image(note: str, layers: int = 1, media_type: str = OCI_MANIFEST, algorithm: str = "sha256",
          subject: dict | None = None, artifact_type: str | None = None, arch: str = "amd64",
          annotations: dict[str, str] | None = None) -> Image:
    """A small image (or artifact, with ``artifact_type``) whose blobs are unique to ``note``."""
    docker = media_type == DOCKER_MANIFEST
    config = b"{}" if artifact_type else config_blob(arch, note)
    config_type = OCI_EMPTY if artifact_type else (DOCKER_CONFIG if docker else OCI_CONFIG)
    layer_blobs = [f"layer {i} of {note}\n".encode() * 10 for i in range(layers)]
    document: dict = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(config_type, config, algorithm),
        "layers": [descriptor(DOCKER_LAYER if docker else OCI_LAYER, blob, algorithm) for blob in layer_blobs],
    }
    if artifact_type:
        document["artifactType"] = artifact_type
    if subject:
        document["subject"] = subject
    if annotations:
        document["annotations"] = annotations
    blobs = {digest_of(config, algorithm): config}
    blobs.update((digest_of(blob, algorithm), blob) for blob in layer_blobs)
    return Image(canonical(document), media_type, blobs)


def index(children: list[tuple[Image, str]], media_type: str = OCI_INDEX) -> bytes:
    """An index (or Docker manifest list) of (image, architecture) entries."""
    return canonical({
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [descriptor(child.media_type, child.manifest, platform={"architecture": arch, "os": "linux"})
                      for child, arch in children],
    })


class OciClient:
    """One caller of the /v2 API: anonymous, Basic (user, token) or Bearer (a token string)."""

    def __init__(self, base_url: str, auth: tuple[str, str] | str | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        if isinstance(auth, tuple):
            self.session.auth = auth
        elif isinstance(auth, str):
            self.session.headers["Authorization"] = f"Bearer {auth}"

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base}{path}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("allow_redirects", False)
        return self.session.request(method, self.url(path), **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def head(self, path: str, **kwargs) -> requests.Response:
        return self.request("HEAD", path, **kwargs)

    def put(self, path: str, **kwargs) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    # --- pushing ---

    def push_blob(self, name: str, data: bytes, algorithm: str = "sha256") -> requests.Response:
        """Monolithic upload: POST ?digest= with the body."""
        return self.post(f"/v2/{name}/blobs/uploads/", params={"digest": digest_of(data, algorithm)}, data=data,
                         headers={"Content-Type": "application/octet-stream"})

    def push_manifest(self, name: str, reference: str, manifest: bytes, media_type: str) -> requests.Response:
        return self.put(f"/v2/{name}/manifests/{reference}", data=manifest, headers={"Content-Type": media_type})

    def push_image(self, name: str, reference: str, img: Image) -> requests.Response:
        """Blobs, then the manifest; returns the manifest PUT's answer (blob failures raise)."""
        for digest, blob in img.blobs.items():
            response = self.push_blob(name, blob, digest.split(":")[0])
            if response.status_code != 201:
                raise AssertionError(f"blob push failed: {response.status_code} {response.text}")
        return self.push_manifest(name, reference, img.manifest, img.media_type)

    def start_upload(self, name: str) -> str:
        response = self.post(f"/v2/{name}/blobs/uploads/")
        assert response.status_code == 202, response.text
        return response.headers["Location"]


def error_codes(response: requests.Response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


def raw_request(host: str, port: int, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """Send ``path`` exactly as given (no normalisation); return (status, headers, body)."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()
