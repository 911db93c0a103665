"""Copying images between repositories (of one registry or two) without holding their blobs:
manifests are copied byte for byte (digests are kept), each blob streams from the source to the
target (or is mounted, within one registry), and what the target already has is skipped.

Used by ``ACTION: merge`` (per-platform images of sibling packages into one index) and
``ACTION: copy`` (an image or index, with its signature and referrers, from another registry).
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field

from pipe.oci.client import Manifest, Progress, RegistryClient
from pipe.oci.errors import RegistryError
from vocab.cosign import signature_tag
from vocab.mediatypes import DOCKER_MANIFEST_LIST, OCI_INDEX

INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
MAX_MANIFESTS = 1000  # an index (with its children's referrers) larger than this is refused


class RemoteBlob(io.RawIOBase):
    """A source blob as a file: read as it streams; a seek (an upload resuming) asks again from there."""

    def __init__(self, client: RegistryClient, name: str, digest: str) -> None:
        self._client, self._name, self._digest = client, name, digest
        self._offset = 0
        self._stream = None
        self._context = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET:
            raise OSError("RemoteBlob seeks from the start only")
        if offset != self._offset or self._stream is None:
            self._reopen(offset)
        return self._offset

    def _reopen(self, offset: int) -> None:
        self._close_stream()
        self._context = self._client.open_blob(self._name, self._digest)
        self._stream = self._context.__enter__()
        skip = offset
        while skip > 0:  # the registry streams from the start: drop what was already sent
            dropped = self._stream.read(min(skip, 1024 * 1024))
            if not dropped:
                break
            skip -= len(dropped)
        self._offset = offset

    def readinto(self, buffer) -> int:
        if self._stream is None:
            self._reopen(self._offset)
        data = self._stream.read(len(buffer))
        buffer[:len(data)] = data
        self._offset += len(data)
        return len(data)

    def _close_stream(self) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
        self._stream = self._context = None

    def close(self) -> None:
        self._close_stream()
        super().close()


@dataclass
class Transfer:
    source: RegistryClient
    source_name: str
    target: RegistryClient
    target_name: str
    same_registry: bool = False
    log: logging.Logger | None = None
    progress: Progress | None = None
    copied_blobs: int = 0
    skipped_blobs: int = 0
    bytes_copied: int = 0
    _done: set[str] = field(default_factory=set)

    def blob(self, descriptor: dict) -> None:
        digest, size = str(descriptor["digest"]), int(descriptor.get("size", -1))
        if digest in self._done:
            return
        self._done.add(digest)
        if self.target.blob_size(self.target_name, digest) is not None:
            self.skipped_blobs += 1
            return
        location = None
        if self.same_registry and self.source_name != self.target_name:
            # Within one registry the blob need not travel: mounted, or else the upload it opened is used.
            location = self.target.mount(self.target_name, digest, self.source_name)
            if location is None:
                self.skipped_blobs += 1
                return
        if size < 0:
            raise RegistryError(f"the source manifest gives no size for {digest}")
        self.target.upload(self.target_name, digest, size,
                           lambda: RemoteBlob(self.source, self.source_name, digest), self.progress, location)
        self.copied_blobs += 1
        self.bytes_copied += size

    def manifest(self, reference: str, tag: str | None = None) -> Manifest:
        """Copy the manifest ``reference`` (and everything it references) from the source; put it in the
        target by digest, and under ``tag`` too."""
        manifest = self.source.get_manifest(self.source_name, reference)
        if manifest is None:
            raise RegistryError(f"{self.source_name}:{reference} is not in the source registry")
        document = json.loads(manifest.body)
        if manifest.media_type in INDEX_TYPES or isinstance(document.get("manifests"), list):
            children = document.get("manifests", [])
            if len(children) > MAX_MANIFESTS:
                raise RegistryError(f"{self.source_name}:{reference} lists more than {MAX_MANIFESTS} manifests")
            for child in children:
                self.manifest(str(child["digest"]))
        else:
            for descriptor in [document.get("config"), *document.get("layers", [])]:
                if isinstance(descriptor, dict) and descriptor.get("digest") and not descriptor.get("urls"):
                    self.blob(descriptor)
        if manifest.digest not in self._done:
            self.target.put_manifest(self.target_name, manifest.digest, manifest.body, manifest.media_type)
            self._done.add(manifest.digest)
        if tag:
            self.target.put_manifest(self.target_name, tag, manifest.body, manifest.media_type)
        return manifest

    def attachments(self, digest: str) -> list[str]:
        """Copy the cosign signature (tag ``sha256-<hex>.sig``) and the OCI referrers of ``digest``, when the
        source has them; returns the digests copied."""
        copied = []
        tag = signature_tag(digest)
        if self.source.get_manifest(self.source_name, tag) is not None:
            copied.append(self.manifest(tag, tag).digest)
        for referrer in self.source.referrers(self.source_name, digest):
            if referrer["digest"] not in self._done:
                copied.append(self.manifest(str(referrer["digest"])).digest)
        return copied

