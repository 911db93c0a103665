"""Pushes one image to one repository under several tags.

Three ways in: an image in the docker engine, a ``docker save`` archive, an OCI layout. For the
engine and archives, layers are compressed (gzip) and pushed while the ``docker save`` stream is
still being read. Before anything is compressed the pusher asks what it can avoid:
- a tag that already points at this very image (same config digest) with the same annotations:
  nothing to push (other annotations: only a new manifest);
- an image this machine pushed before: its manifest's blobs are checked (HEAD) or mounted;
- layers the registry has under the tags being pushed (their configs map diff IDs to compressed
  digests), or that this machine pushed anywhere in the workspace: HEAD or mount, no compression.
When none of the engine image's layers is known, nothing needs checking first: each layer is
compressed and uploaded while docker save is still writing it. Manifests are OCI image manifests
carrying the build's annotations (pipe/push/annotate.py).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from pipe.annotations import with_image_created
from pipe.build.errors import ImageError
from pipe.oci.client import Manifest, RegistryClient
from pipe.oci.errors import RegistryError
from pipe.oci.transport import Transient
from pipe.progress import PushProgress
from pipe.push.annotate import LayoutAnnotator, image_manifest
from pipe.push.blobs import PRESENT, UPLOADED, Blob, BlobPusher, PushStats
from pipe.push.cache import BlobCache
from vocab.digests import digest_bytes
from vocab.mediatypes import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    IMAGE_MANIFESTS,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)

if TYPE_CHECKING:
    import tempfile
    from concurrent.futures import Future

    from pipe.build.compress import GzipBlocks
    from pipe.build.docker_save import GrowingLayer, RawLayer
    from pipe.build.engine import Engine
    from pipe.build.oci_layout import LayoutImage

# What only an upload needs (archives, compression, threads) is imported when a push gets that far: a
# warm re-push that finds the image already there is mostly start-up time.

log = logging.getLogger("pipe.push")

GZIP_LAYERS = frozenset({DOCKER_LAYER_GZIP, OCI_LAYER_GZIP})


@dataclass
class PushResult:
    name: str
    digest: str
    media_type: str
    size: int  # manifest + every blob it references
    tags: list[str]
    stats: PushStats
    already_pushed: bool = False


@dataclass
class _Known:
    """diff ID -> compressed descriptor, learned from the registry and the cache."""

    layers: dict[str, dict] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)


class ImagePusher:
    def __init__(self, client: RegistryClient, name: str, cache: BlobCache,
                 progress: PushProgress | None = None, workers: int = 4,
                 workdir: Path | None = None, annotations: Mapping[str, str] | None = None) -> None:
        self.client = client
        self.name = name
        self.cache = cache
        self.stats = PushStats()
        self.workers = workers
        self.workdir = workdir
        self.annotations = dict(annotations or {})
        self.progress = progress or PushProgress(log, name)  # counts only, unless the caller runs it
        self._known = _Known()
        self.blobs = BlobPusher(client, name, self.stats, self._sources, self.progress)

    # --- public ---

    def push_engine_image(self, engine: Engine, image: str, tags: list[str]) -> PushResult:
        info = engine.inspect(image)
        remote = self._remote_manifests(tags)
        done = self._already_there(info.id, info.created, remote, tags)
        if done is not None:
            return done
        cached = self._from_cache(info.id, info.created, tags)
        if cached is not None:
            return cached
        self._learn_layers(remote.values())
        self.progress.plan(len(info.diff_ids), info.size, reading="docker save")
        # When no layer of the image is known to be in the registry, none needs checking before it is
        # compressed: each is compressed and uploaded while docker save is still writing it.
        stream = not any(self._known.layers.get(d) or self.cache.layer(d) for d in info.diff_ids)
        with self._tempdir() as tmp:
            work = Path(tmp)
            return self._push_saved(engine.save(image), work, tags, stream, from_engine=True)

    def push_archive(self, path: Path, tags: list[str]) -> PushResult:
        from pipe.build.oci_layout import extract_layout_tar, read_layout

        if path.is_dir():
            return self.push_layout(read_layout(path), tags)
        kind = archive_kind(path)
        with self._tempdir() as tmp:
            work = Path(tmp)
            if kind == "oci-layout":
                return self.push_layout(read_layout(extract_layout_tar(path, work / "layout")), tags)
            self._learn_layers(self._remote_manifests(tags).values())
            self.progress.plan(0, path.stat().st_size, reading=path.name)
            with open(path, "rb") as stream:
                return self._push_saved(stream, work, tags)

    def push_layout(self, image: LayoutImage, tags: list[str]) -> PushResult:
        from concurrent.futures import ThreadPoolExecutor

        self.progress.plan(len(image.blobs), sum(blob.size for blob in image.blobs))
        with ThreadPoolExecutor(self.workers, thread_name_prefix="blob") as pool:
            futures = [pool.submit(self._push_layout_blob, blob) for blob in image.blobs]
            _wait_all(futures)
        annotator = LayoutAnnotator(self.annotations)
        manifests = [annotator.rewrite(m.digest, m.body, m.media_type) for m in image.manifests]
        for child in manifests[:-1]:
            self.client.put_manifest(self.name, child.digest, child.body, child.media_type)
        top = manifests[-1]
        digest = self._put_tags(top.body, top.media_type, tags)
        size = len(top.body) + sum(blob.size for blob in image.blobs)
        return PushResult(self.name, digest, top.media_type, size, tags, self.stats)

    def _push_layout_blob(self, blob: Blob) -> None:
        outcome = self._push_blob(blob)
        self.progress.layer_done(blob.size, outcome == UPLOADED)

    # --- the shortcuts ---

    def _remote_manifests(self, tags: list[str]) -> dict[str, Manifest]:
        found = {}
        for tag in tags:
            try:
                manifest = self.client.get_manifest(self.name, tag)
            except RegistryError as exc:
                if exc.status in (401, 403, 404):
                    raise
                continue
            if manifest is not None:
                found[tag] = manifest
        return found

    def _manifest(self, config: dict, layers: list[dict], created: object) -> bytes:
        return image_manifest(config, layers, with_image_created(self.annotations, created))

    def _already_there(self, image_id: str, created: str | None, remote: dict[str, Manifest],
                       tags: list[str]) -> PushResult | None:
        """A tag already points at this image (same config): write only what differs (tags, annotations)."""
        for manifest in remote.values():
            document = _image_manifest(manifest.body, manifest.media_type)
            if document is None or (document.get("config") or {}).get("digest") != image_id:
                continue
            blobs = [document["config"], *document.get("layers", [])]
            try:
                body = self._manifest(document["config"], document.get("layers") or [], created)
            except (KeyError, TypeError, ValueError):
                continue
            digest = digest_bytes(body)
            for tag in tags:
                if tag not in remote or remote[tag].digest != digest:
                    digest = self.client.put_manifest(self.name, tag, body, OCI_MANIFEST)
            for blob in blobs:
                self.stats.count(PRESENT, int(blob.get("size", 0)))
            self._remember(image_id, body, OCI_MANIFEST, blobs, document)
            size = len(body) + sum(int(b.get("size", 0)) for b in blobs)
            return PushResult(self.name, digest, OCI_MANIFEST, size, tags, self.stats,
                              already_pushed=all(t in remote and remote[t].digest == digest for t in tags))
        return None

    def _from_cache(self, image_id: str, created: str | None, tags: list[str]) -> PushResult | None:
        entry = self.cache.image(image_id)
        if not entry:
            return None
        body = str(entry.get("manifest", "")).encode()
        media_type = str(entry.get("mediaType", ""))
        document = _image_manifest(body, media_type)
        if document is None:
            return None
        blobs = [document.get("config") or {}, *(document.get("layers") or [])]
        # Only HEAD and mount here: if any blob would need an upload, the slow path does it all.
        for blob in blobs:
            outcome, location = self.blobs.find(str(blob.get("digest")), int(blob.get("size", 0)))
            if outcome is None:
                if location:
                    self._cancel(location)
                log.debug("a cached image's blob is gone from the registry; pushing from docker save")
                return None
        try:
            body = self._manifest(blobs[0], blobs[1:], created)
        except (KeyError, TypeError, ValueError):
            return None
        digest = self._put_tags(body, OCI_MANIFEST, tags)
        self._remember(image_id, body, OCI_MANIFEST, blobs, document)
        return PushResult(self.name, digest, OCI_MANIFEST, len(body) + sum(int(b.get("size", 0)) for b in blobs),
                          tags, self.stats)

    def _cancel(self, location: str) -> None:
        try:
            self.client.transport.send("DELETE", location, self.client.push_scopes(self.name))
        except (Transient, RegistryError) as exc:
            log.debug(f"an unused upload session was left to the registry to collect: {exc}")

    def _learn_layers(self, manifests: object) -> None:
        """Map diff IDs to compressed layers from manifests the registry already has."""
        for manifest in manifests:  # type: ignore[attr-defined]
            document = _image_manifest(manifest.body, manifest.media_type)
            if document is None:
                continue
            try:
                config = json.loads(self.client.get_blob(self.name, document["config"]["digest"]))
                diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
            except (RegistryError, ValueError, KeyError, TypeError, AttributeError):
                continue
            layers = document.get("layers") or []
            if len(diff_ids) != len(layers):
                continue
            for diff_id, layer in zip(diff_ids, layers, strict=True):
                if layer.get("mediaType") in GZIP_LAYERS:
                    self._known.layers.setdefault(diff_id, layer)
                    self._known.sources.setdefault(layer["digest"], []).append(self.name)

    def _sources(self, digest: str) -> list[str]:
        return [*self._known.sources.get(digest, []), *self.cache.sources(digest)]

    # --- docker save ---

    def _push_saved(self, stream: BinaryIO, work: Path, tags: list[str], stream_layers: bool = False,
                    from_engine: bool = False) -> PushResult:
        """Push a ``docker save`` stream. Streamed layers (``stream_layers``) need no diff ID before they are
        uploaded: the engine's own (``from_engine``) are then not hashed (docker_save.py)."""
        from concurrent.futures import ThreadPoolExecutor

        from pipe.build.docker_save import read_docker_save

        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="layer")
        futures: dict[str, Future[dict]] = {}  # by diff ID; by path in the archive when streamed
        lock = threading.Lock()

        def on_layer(layer: RawLayer) -> None:
            with lock:
                if layer.diff_id in futures:
                    layer.file.unlink(missing_ok=True)
                    return
                self.progress.found_layer()
                futures[layer.diff_id] = pool.submit(self._push_layer, layer, work)

        def on_layer_start(growing: GrowingLayer) -> None:
            with lock:
                self.progress.found_layer()
                futures[growing.path] = pool.submit(self._stream_layer, growing, work)

        try:
            saved = read_docker_save(_Counted(stream, self.progress.read), work / "save",
                                     None if stream_layers else on_layer,
                                     on_layer_start=on_layer_start if stream_layers else None,
                                     trust_config=stream_layers and from_engine)
            self.progress.save_finished()
            _wait_all(list(futures.values()))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        try:
            config = json.loads(saved.config)
            diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        except (ValueError, AttributeError):
            raise ImageError("the image's config is not valid JSON") from None
        if diff_ids != [layer.diff_id for layer in saved.layers]:
            raise ImageError("the image's layers do not match its config (diff IDs differ)")
        layers = [futures[layer.path if stream_layers else layer.diff_id].result() for layer in saved.layers]
        for layer, descriptor in zip(saved.layers, layers, strict=True):
            self._remember_blob(layer.diff_id, descriptor)
        config_file = work / "config.json"
        config_file.write_bytes(saved.config)
        config_blob = Blob(digest_bytes(saved.config), len(saved.config), DOCKER_CONFIG,
                           lambda: open(config_file, "rb"))  # noqa: SIM115 - the caller closes it
        self._push_blob(config_blob)
        manifest = self._manifest(config_blob.descriptor, layers, config.get("created"))
        digest = self._put_tags(manifest, OCI_MANIFEST, tags)
        self._remember(config_blob.digest, manifest, OCI_MANIFEST, [], None)
        size = len(manifest) + config_blob.size + sum(int(layer["size"]) for layer in layers)
        return PushResult(self.name, digest, OCI_MANIFEST, size, tags, self.stats)

    def _stream_layer(self, growing: GrowingLayer, work: Path) -> dict:
        """Compress and upload a layer while docker save still writes it; after a failure, push it from the file."""
        from pipe.build.compress import GzipBlocks

        gzip = GzipBlocks()
        try:
            self.blobs.push_stream(_compressed_chunks(growing, gzip), lambda: gzip.digest, lambda: gzip.size)
        except (Transient, RegistryError) as exc:
            log.warning(f"the streamed upload of a layer failed ({exc}); uploading it from a file instead")
            return self._push_layer(growing.result(), work)
        except BaseException:
            growing.file.unlink(missing_ok=True)  # a failed read of the stream, or an interrupt
            raise
        layer = growing.result()
        layer.file.unlink(missing_ok=True)
        descriptor = {"mediaType": DOCKER_LAYER_GZIP, "digest": gzip.digest, "size": gzip.size}
        self.progress.resized(layer.size, gzip.size)
        self.progress.layer_done(gzip.size, uploaded=True)
        return descriptor

    def _push_layer(self, layer: RawLayer, work: Path) -> dict:
        try:
            known = self._known.layers.get(layer.diff_id) or self.cache.layer(layer.diff_id)
            location = None
            if known and known.get("mediaType") in GZIP_LAYERS:
                outcome, location = self.blobs.find(str(known["digest"]), int(known["size"]))
                if outcome:
                    self.progress.resized(layer.size, int(known["size"]))
                    self.progress.layer_done(int(known["size"]), uploaded=False)
                    return {k: known[k] for k in ("mediaType", "digest", "size")}
            from pipe.build.compress import gzip_file

            compressed = work / f"{layer.file.name}.gz"
            digest, size = gzip_file(layer.file, compressed)
            layer.file.unlink(missing_ok=True)
            self.progress.resized(layer.size, size)
            blob = Blob(digest, size, DOCKER_LAYER_GZIP, lambda: open(compressed, "rb"))  # noqa: SIM115
            checked = False
            if not known or known.get("digest") != digest:
                if location:
                    self._cancel(location)
                outcome, location = self.blobs.find(digest, size)
                if outcome:
                    self.progress.layer_done(size, uploaded=False)
                    return blob.descriptor
                checked = True
            self.blobs.push(blob, location, checked=checked or location is not None)
            self.progress.layer_done(size, uploaded=True)
            compressed.unlink(missing_ok=True)
            return blob.descriptor
        finally:
            layer.file.unlink(missing_ok=True)

    def _push_blob(self, blob: Blob) -> str:
        outcome = self.blobs.push(blob)
        self.cache.remember_blob(blob.digest, self.name)
        return outcome

    def _remember_blob(self, diff_id: str, descriptor: dict) -> None:
        self.cache.remember_layer(diff_id, descriptor)
        self.cache.remember_blob(str(descriptor["digest"]), self.name)

    def _remember(self, image_id: str, body: bytes, media_type: str, blobs: list[dict],
                  document: dict | None) -> None:
        self.cache.remember_image(image_id, body, media_type)
        for blob in blobs:
            self.cache.remember_blob(str(blob.get("digest")), self.name)

    def _put_tags(self, body: bytes, media_type: str, tags: list[str]) -> str:
        digest = digest_bytes(body)
        for tag in tags:
            digest = self.client.put_manifest(self.name, tag, body, media_type)
        return digest

    def _tempdir(self) -> tempfile.TemporaryDirectory:
        import tempfile

        return tempfile.TemporaryDirectory(prefix="pipe-push-", dir=self.workdir)


def _image_manifest(body: bytes, media_type: str) -> dict | None:
    if media_type not in IMAGE_MANIFESTS:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        return None
    return document


def _compressed_chunks(growing: GrowingLayer, gzip: GzipBlocks) -> Iterator[bytes]:
    """The layer gzipped, a block at a time, as fast as docker save writes it."""
    for block, last in growing.blocks():
        yield gzip.add(block, last)


class _Counted:
    """A stream that tells how many bytes were read from it (docker save's progress)."""

    def __init__(self, stream: BinaryIO, count: Callable[[int], None]) -> None:
        self._stream = stream
        self._count = count

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._count(len(data))
        return data

    # What tarfile's random-access mode uses besides read (forward seeks skip bytes: they count too).

    def seekable(self) -> bool:
        return self._stream.seekable()

    def tell(self) -> int:
        return self._stream.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        before = self._stream.tell()
        position = self._stream.seek(offset, whence)
        self._count(max(0, position - before))
        return position

    def peek(self, size: int = 1) -> bytes:
        return self._stream.peek(size)  # type: ignore[attr-defined]


def _wait_all(futures: list[Future]) -> None:
    """Wait for every future; raise the first failure (the others are cancelled or finish)."""
    error: BaseException | None = None
    for future in futures:
        try:
            future.result()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            if error is None:
                error = exc
                for other in futures:
                    other.cancel()
    if error is not None:
        raise error


def archive_kind(path: Path) -> str:
    """'docker-save' or 'oci-layout', from the member names of a tar."""
    import tarfile

    try:
        with tarfile.open(path, mode="r:*") as tar:
            names = {name.lstrip("./").rstrip("/") for name in tar.getnames()}
    except (tarfile.TarError, OSError) as exc:
        raise ImageError(f"IMAGE_ARCHIVE {path} is not a readable tar archive: {exc}") from None
    if "manifest.json" in names:
        return "docker-save"
    if "oci-layout" in names and "index.json" in names:
        return "oci-layout"
    raise ImageError(f"IMAGE_ARCHIVE {path} is neither a `docker save` archive nor an OCI image layout")

