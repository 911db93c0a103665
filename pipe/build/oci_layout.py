"""Reads an OCI image layout (a directory, or a tar of one): what to push, children before parents."""

from __future__ import annotations

import json
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pipe.build.errors import ImageError, UnsafeArchive
from pipe.build.safe_tar import member_path
from pipe.push.blobs import Blob
from vocab.digests import Digest, InvalidDigest, digest_bytes
from vocab.mediatypes import IMAGE_MANIFESTS, INDEXES, MAX_MANIFEST_BYTES

REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class LayoutManifest:
    digest: str
    media_type: str
    body: bytes


@dataclass
class LayoutImage:
    blobs: list[Blob]  # configs and layers, each once
    manifests: list[LayoutManifest]  # children first; the last one is what the tags point at

    @property
    def top(self) -> LayoutManifest:
        return self.manifests[-1]


def is_layout_dir(path: Path) -> bool:
    return (path / "oci-layout").is_file() and (path / "index.json").is_file()


def extract_layout_tar(archive: Path, target: Path) -> Path:
    """Extract an OCI layout tar (regular files and directories only) after checking every path."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                path = member_path(member.name)
                if not path or member.isdir():
                    continue
                if not member.isfile():
                    raise UnsafeArchive(f"archive member {member.name!r} is not a regular file or directory")
                destination = target / path
                destination.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                with open(destination, "wb") as out:
                    shutil.copyfileobj(source, out, 1024 * 1024)
    except tarfile.TarError as exc:
        raise ImageError(f"{archive.name} is not a readable tar: {exc}") from None
    return target


def _blob_path(root: Path, digest: str) -> Path:
    try:
        parsed = Digest.parse(digest)
    except InvalidDigest as exc:
        raise ImageError(f"the OCI layout names an invalid digest: {exc}") from None
    return root / "blobs" / parsed.algorithm / parsed.hex


def _read_document(root: Path, descriptor: dict) -> bytes:
    digest = str(descriptor.get("digest", ""))
    path = _blob_path(root, digest)
    if not path.is_file():
        raise ImageError(f"the OCI layout lacks blob {digest}")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ImageError(f"manifest {digest} is larger than registries accept")
    body = path.read_bytes()
    if digest_bytes(body, digest.split(":")[0]) != digest:
        raise ImageError(f"blob {digest} in the OCI layout does not match its digest")
    return body


def read_layout(root: Path, wanted_ref: str | None = None) -> LayoutImage:
    if not is_layout_dir(root):
        raise ImageError(f"{root} is not an OCI image layout (no oci-layout and index.json)")
    try:
        index = json.loads((root / "index.json").read_text())
    except ValueError:
        raise ImageError("the OCI layout's index.json is not valid JSON") from None
    entries = [d for d in index.get("manifests") or [] if isinstance(d, dict)]
    if wanted_ref:
        named = [d for d in entries if (d.get("annotations") or {}).get(REF_NAME) == wanted_ref]
        entries = named or entries
    if not entries:
        raise ImageError("the OCI layout's index.json lists no image")
    if len(entries) > 1:
        raise ImageError(f"the OCI layout holds {len(entries)} images; keep only the one to push")
    image = LayoutImage([], [])
    seen: set[str] = set()
    _walk(root, entries[0], image, seen)
    return image


def _walk(root: Path, descriptor: dict, image: LayoutImage, seen: set[str]) -> None:
    digest = str(descriptor.get("digest", ""))
    if digest in seen:
        return
    seen.add(digest)
    body = _read_document(root, descriptor)
    try:
        document = json.loads(body)
    except ValueError:
        raise ImageError(f"manifest {digest} is not valid JSON") from None
    media_type = str(descriptor.get("mediaType") or document.get("mediaType") or "")
    if media_type in INDEXES:
        for child in document.get("manifests") or []:
            _walk(root, child, image, seen)
    elif media_type in IMAGE_MANIFESTS:
        for blob in [document.get("config") or {}, *(document.get("layers") or [])]:
            blob_digest = str(blob.get("digest", ""))
            if blob_digest in seen:
                continue
            seen.add(blob_digest)
            path = _blob_path(root, blob_digest)
            if not path.is_file():
                raise ImageError(f"the OCI layout lacks blob {blob_digest}")
            size = path.stat().st_size
            if size != int(blob.get("size", -1)):
                raise ImageError(f"blob {blob_digest} has {size} bytes, its descriptor says {blob.get('size')}")
            image.blobs.append(Blob(blob_digest, size, str(blob.get("mediaType", "")),
                                    lambda p=path: open(p, "rb")))  # noqa: SIM115 - the caller closes it
    else:
        raise ImageError(f"manifest {digest} has a media type this pipe cannot push: {media_type or 'none'}")
    image.manifests.append(LayoutManifest(digest, media_type, body))
