"""Reads a ``docker save`` tar as a stream, in one pass, with flat memory.

Layers in a docker save tar are uncompressed tars (``<id>/layer.tar`` in the classic format,
``blobs/sha256/<hex>`` in the OCI-style format of docker 25+). Each is written to a work
directory while its sha256 (the diff ID) is computed, and handed to ``on_layer`` as soon as it is
complete, so compression and upload can start while the rest of the tar still streams in.
``manifest.json`` (at the end of the classic format) then says which file is the config and in
what order the layers go. A caller that wants to start on a layer before it is complete gets a
``GrowingLayer`` as soon as the layer begins, and follows the file as it is written.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
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


class GrowingLayer:
    """A layer file still being written from the stream; ``blocks()`` follows it from another thread."""

    def __init__(self, path: str, file: Path, size: int) -> None:
        self.path = path  # inside the archive
        self.file = file
        self.size = size  # from the tar header: known before the first byte
        self._written = 0
        self._ended = False
        self._layer: RawLayer | None = None
        self._changed = threading.Condition()

    def wrote(self, total: int) -> None:
        with self._changed:
            self._written = total
            self._changed.notify_all()

    def end(self, layer: RawLayer | None) -> None:
        """The file is complete (``layer``), or will never be (None: reading the stream failed)."""
        with self._changed:
            self._layer, self._ended = layer, True
            self._changed.notify_all()

    def _wait_for(self, offset: int) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._written >= offset or self._ended)
            if self._ended and self._layer is None:
                raise ImageError(f"reading layer {self.path} from the image stream failed")

    def blocks(self, size: int = BLOCK) -> Iterator[tuple[bytes, bool]]:
        """(block, is the last one), as soon as each is written; an empty layer gives one empty last block."""
        with open(self.file, "rb") as source:
            offset = 0
            while True:
                end = min(offset + size, self.size)
                self._wait_for(end)
                block = source.read(end - offset)
                if len(block) != end - offset:
                    raise ImageError(f"layer {self.path} is shorter on disk than in the image stream")
                offset = end
                yield block, offset >= self.size
                if offset >= self.size:
                    return

    def result(self) -> RawLayer:
        self._wait_for(self.size)
        assert self._layer is not None
        return self._layer


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
                     wanted_tag: str | None = None,
                     on_layer_start: Callable[[GrowingLayer], None] | None = None) -> SavedImage:
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
                    target = workdir / f"layer-{len(layers)}.tar"
                    growing = GrowingLayer(path, target, member.size) if on_layer_start else None
                    if growing is not None and on_layer_start is not None:
                        on_layer_start(growing)
                    layer = None
                    try:
                        layer = _save_layer(path, head, source, target, growing)
                    finally:
                        if growing is not None:
                            growing.end(layer)
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


def _save_layer(path: str, head: bytes, source: BinaryIO, target: Path, growing: GrowingLayer | None) -> RawLayer:
    digest = hashlib.sha256(head)
    size = len(head)
    # Unbuffered: what ``growing`` announces is in the file for its reader.
    with open(target, "wb", buffering=0) as out:
        _write_all(out, head)
        while block := source.read(BLOCK):
            digest.update(block)
            _write_all(out, block)
            size += len(block)
            if growing is not None:
                growing.wrote(size)
    return RawLayer(path, target, f"sha256:{digest.hexdigest()}", size)


def _write_all(out: io.RawIOBase, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = out.write(view)
        view = view[written or 0:]
