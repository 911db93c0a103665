"""OCI image layouts written by hand: a multi-arch index of small, runnable-looking images.

Each platform image has one uncompressed layer (a tar with a file saying which platform it is), a
config whose diff_ids match, and the layout's index.json names the index by a tag.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterable
from pathlib import Path

from test.support.oci_client import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, canonical, digest_of

REF_NAME = "org.opencontainers.image.ref.name"


def tar_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), 0o644, 0
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def write_layout_blob(layout: Path, data: bytes) -> dict:
    """``data`` as a blob of the layout; its digest and size, for a descriptor."""
    digest = digest_of(data)
    path = layout / "blobs" / "sha256" / digest.split(":")[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": digest, "size": len(data)}


def write_image_layout(layout: Path, manifest: bytes, blobs: Iterable[bytes], tag: str) -> str:
    """A layout of one image manifest (and its ``blobs``) that index.json names by ``tag``; its digest."""
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    for blob in blobs:
        write_layout_blob(layout, blob)
    descriptor = {"mediaType": OCI_MANIFEST, **write_layout_blob(layout, manifest), "annotations": {REF_NAME: tag}}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [descriptor]}))
    return descriptor["digest"]


def write_multiarch_layout(layout: Path, tag: str, note: str,
                           platforms: tuple[str, ...] = ("amd64", "arm64")) -> str:
    """Write the layout; return the digest of its index."""
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    entries = []
    for arch in platforms:
        layer = tar_of({f"etc/{note}-platform": f"{note} on linux/{arch}\n".encode()})
        layer_desc = {"mediaType": OCI_LAYER, **write_layout_blob(layout, layer)}
        config = canonical({
            "architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/bin"], "Labels": {"note": note}},
            "rootfs": {"type": "layers", "diff_ids": [digest_of(layer)]},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "test"}],
        })
        manifest = canonical({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, **write_layout_blob(layout, config)},
            "layers": [layer_desc],
        })
        entries.append({"mediaType": OCI_MANIFEST, **write_layout_blob(layout, manifest),
                        "platform": {"architecture": arch, "os": "linux"}})
    index = canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    index_desc = {"mediaType": OCI_INDEX, **write_layout_blob(layout, index), "annotations": {REF_NAME: tag}}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                   "manifests": [index_desc]}))
    return index_desc["digest"]


def layout_blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / digest.replace(":", "/")).read_bytes()
