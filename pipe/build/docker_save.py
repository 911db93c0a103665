"""Reads a ``docker save`` tar as a stream, in one pass, with flat memory.

Layers in a docker save tar are uncompressed tars (``<id>/layer.tar`` in the classic format,
``blobs/sha256/<hex>`` in the OCI-style format of docker 25+). Each is written to a work
directory while its sha256 (the diff ID) is computed, and handed to ``on_layer`` as soon as it is
complete, so compression and upload can start while the rest of the tar still streams in.
``manifest.json`` (at the end of the classic format) then says which file is the config and in
what order the layers go.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pipe.build.errors import ImageError
from pipe.build.safe_tar import link_target, member_path

BLOCK = 1024 * 1024
MAX_JSON = 16 * 1024 * 1024


@dataclass(frozen=True)
class RawLayer:
    path: str  # inside the archive
    file: Path  # the uncompressed layer on disk
    diff_id: str
    size: int


@dataclass
class SavedImage:
    config: bytes
    layers: list[RawLayer]
    repo_tags: list[str] = field(default_factory=list)


class IterReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (the engine's ``docker save`` stream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = memoryview(b"")
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        # An offset into the current chunk, not a slice of it: slicing copies the rest of the chunk
        # on every small read, which made reading a large image quadratic.
        while self._offset >= len(self._buffer):
            try:
                self._buffer = memoryview(next(self._chunks))
            except StopIteration:
                return 0
            self._offset = 0
        n = min(len(target), len(self._buffer) - self._offset)
        target[:n] = self._buffer[self._offset:self._offset + n]
        self._offset += n
        return n


def _looks_like_layer(path: str, head: bytes) -> bool:
    if path.endswith("layer.tar"):
        return True
    if not path.startswith("blobs/") or not head:
        return False
    return head.lstrip()[:1] not in (b"{", b"[")


def read_docker_save(stream: BinaryIO, workdir: Path, on_layer: Callable[[RawLayer], None] | None = None,
                     wanted_tag: str | None = None) -> SavedImage:
    workdir.mkdir(parents=True, exist_ok=True)
    documents: dict[str, bytes] = {}
    layers: dict[str, RawLayer] = {}
    aliases: dict[str, str] = {}
    try:
        archive = tarfile.open(fileobj=stream, mode="r|*", bufsize=BLOCK)  # noqa: SIM115 - closed by the with below
    except tarfile.TarError as exc:
        raise ImageError(f"not a tar archive: {exc}") from None
    with archive:
        try:
            for member in archive:
                path = member_path(member.name)
                if member.issym() or member.islnk():
                    aliases[path] = link_target(member)
                    continue
                if not member.isfile():
                    continue
                source = archive.extractfile(member)
                assert source is not None
                head = source.read(min(member.size, 512))
                if _looks_like_layer(path, head):
                    layer = _save_layer(path, head, source, workdir / f"layer-{len(layers)}.tar")
                    layers[path] = layer
                    if on_layer:
                        on_layer(layer)
                elif member.size <= MAX_JSON:
                    documents[path] = head + source.read()
        except tarfile.TarError as exc:
            raise ImageError(f"the image archive is damaged or truncated: {exc}") from None

    def resolve(path: str) -> str:
        seen = set()
        while path in aliases and path not in seen:
            seen.add(path)
            path = aliases[path]
        return path

    if "manifest.json" not in documents:
        raise ImageError("the archive has no manifest.json: it is not a `docker save` archive")
    try:
        entries = json.loads(documents["manifest.json"])
    except ValueError:
        raise ImageError("the archive's manifest.json is not valid JSON") from None
    if not isinstance(entries, list) or not entries:
        raise ImageError("the archive's manifest.json lists no image")
    entry = entries[0]
    if wanted_tag:
        entry = next((e for e in entries if wanted_tag in (e.get("RepoTags") or [])), entry)
    elif len(entries) > 1:
        raise ImageError(f"the archive holds {len(entries)} images; save only the one to push")
    config_path = resolve(member_path(str(entry.get("Config", ""))))
    if config_path not in documents:
        raise ImageError(f"the archive's image config {config_path!r} is missing")
    ordered = []
    for layer_path in entry.get("Layers") or []:
        real = resolve(member_path(str(layer_path)))
        if real not in layers:
            raise ImageError(f"the archive's layer {layer_path!r} is missing")
        ordered.append(layers[real])
    return SavedImage(documents[config_path], ordered, list(entry.get("RepoTags") or []))


def _save_layer(path: str, head: bytes, source: BinaryIO, target: Path) -> RawLayer:
    digest = hashlib.sha256(head)
    size = len(head)
    with open(target, "wb") as out:
        out.write(head)
        while block := source.read(BLOCK):
            digest.update(block)
            out.write(block)
            size += len(block)
    return RawLayer(path, target, f"sha256:{digest.hexdigest()}", size)
