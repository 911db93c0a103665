"""Reads a ``docker save`` tar as a stream, in one pass, with flat memory.

Layers in a docker save tar are uncompressed tars (``<id>/layer.tar`` in the classic format,
``blobs/sha256/<hex>`` in the OCI-style format of docker 25+). Each is written to a work
directory while its sha256 (the diff ID) is computed, and handed to ``on_layer`` as soon as it is
complete, so compression and upload can start while the rest of the tar still streams in.
``manifest.json`` (at the end of the classic format) then says which file is the config and in
what order the layers go. The docker engine's own stream may be trusted to hold the layers its config
lists (as docker push trusts its store): its layers are not hashed, and take their diff IDs from the
config, in order. A caller that wants to start on a layer before it is complete gets a
``GrowingLayer`` as soon as the layer begins, and follows the file as it is written.
"""

from __future__ import annotations

import dataclasses
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
        """The finished layer. Waits for ``end()``, not only for the last byte: the stream's reader
        writes the last byte before it ends the layer (a fallback upload that asked in between got None)."""
        with self._changed:
            self._changed.wait_for(lambda: self._ended)
            if self._layer is None:
                raise ImageError(f"reading layer {self.path} from the image stream failed")
            return self._layer


@dataclass
class SavedImage:
    config: bytes
    layers: list[RawLayer]
    repo_tags: list[str] = field(default_factory=list)


class IterReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (the engine's ``docker save`` stream).

    It seeks forward (by skipping), which is all tarfile's random-access mode needs to read the
    members in order; that mode hands member bytes through with about half the copies of its stream
    mode, whose joins and slices were a good part of a push's CPU time.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""
        self._offset = 0  # into _buffer
        self._position = 0  # in the whole stream

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("a docker save stream has no known end to seek from")
        if offset < self._position:
            raise io.UnsupportedOperation("a docker save stream cannot go back")
        while self._position < offset and self.read(min(offset - self._position, BLOCK)):
            pass
        return self._position

    def peek(self, size: int = 1) -> bytes:
        if self._offset >= len(self._buffer):
            self._buffer, self._offset = next(self._chunks, b""), 0
        return self._buffer[self._offset:self._offset + size]

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(BLOCK), b""))
        parts = []
        wanted = size
        while wanted > 0:
            if self._offset >= len(self._buffer):
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._buffer, self._offset = chunk, 0
                continue
            take = min(wanted, len(self._buffer) - self._offset)
            if self._offset == 0 and take == len(self._buffer):
                parts.append(self._buffer)  # a whole chunk: no copy
            else:
                parts.append(self._buffer[self._offset:self._offset + take])
            self._offset += take
            wanted -= take
        self._position += size - wanted
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(target))
        target[:len(data)] = data
        return len(data)


def _tar_mode(stream: BinaryIO) -> str:
    """Random access ("r:") over a plain tar that can seek (forward is enough); the stream mode otherwise
    (a gzipped archive, a pipe)."""
    peek = getattr(stream, "peek", None)
    seekable = getattr(stream, "seekable", None)
    if peek is None or seekable is None or not seekable():
        return "r|*"
    return "r|*" if peek(2)[:2] == b"\x1f\x8b" else "r:"


def _looks_like_layer(path: str, head: bytes) -> bool:
    if path.endswith("layer.tar"):
        return True
    if not path.startswith("blobs/") or not head:
        return False
    return head.lstrip()[:1] not in (b"{", b"[")


def read_docker_save(stream: BinaryIO, workdir: Path, on_layer: Callable[[RawLayer], None] | None = None,
                     wanted_tag: str | None = None,
                     on_layer_start: Callable[[GrowingLayer], None] | None = None,
                     trust_config: bool = False) -> SavedImage:
    """The image in a ``docker save`` stream. With ``trust_config`` (the engine's own stream) the layers
    are not hashed: handed to callbacks without a diff ID (""), they get the config's at the end."""
    workdir.mkdir(parents=True, exist_ok=True)
    documents: dict[str, bytes] = {}
    layers: dict[str, RawLayer] = {}
    aliases: dict[str, str] = {}
    try:
        archive = tarfile.open(fileobj=stream, mode=_tar_mode(stream), bufsize=BLOCK)  # noqa: SIM115 - closed below
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
                    target.touch()  # before anyone follows it
                    growing = GrowingLayer(path, target, member.size) if on_layer_start else None
                    if growing is not None and on_layer_start is not None:
                        on_layer_start(growing)
                    layer = None
                    try:
                        layer = _save_layer(path, head, source, target, growing, hashed=not trust_config)
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
    if trust_config:
        ordered = _with_config_diff_ids(documents[config_path], ordered)
    return SavedImage(documents[config_path], ordered, list(entry.get("RepoTags") or []))


def _with_config_diff_ids(config: bytes, layers: list[RawLayer]) -> list[RawLayer]:
    try:
        diff_ids = json.loads(config)["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError):
        raise ImageError("the image's config lists no layers (rootfs.diff_ids)") from None
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layers):
        raise ImageError("the image's layers do not match its config (a different number of layers)")
    return [dataclasses.replace(layer, diff_id=str(diff_id)) for layer, diff_id in zip(layers, diff_ids, strict=True)]


def _save_layer(path: str, head: bytes, source: BinaryIO, target: Path, growing: GrowingLayer | None,
                hashed: bool = True) -> RawLayer:
    """The layer written to ``target``, with its diff ID when ``hashed``."""
    digest = hashlib.sha256(head) if hashed else None
    size = len(head)
    # Unbuffered: what ``growing`` announces is in the file for its reader.
    with open(target, "wb", buffering=0) as out:
        _write_all(out, head)
        while block := source.read(BLOCK):
            if digest is not None:
                digest.update(block)
            _write_all(out, block)
            size += len(block)
            if growing is not None:
                growing.wrote(size)
    return RawLayer(path, target, f"sha256:{digest.hexdigest()}" if digest is not None else "", size)


def _write_all(out: io.RawIOBase, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = out.write(view)
        view = view[written or 0:]
