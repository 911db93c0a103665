"""What this machine has pushed before: diff ID -> compressed layer, blob -> repositories, image -> manifest.

The docker engine keeps the same kind of memory for ``docker push``. It saves recompressing a layer
the registry already has, finds a sibling repository to mount a blob from, and lets a re-push of an
unchanged image skip ``docker save`` altogether. Every entry is a hint, checked with the registry
before it is trusted; a cache that cannot be read or written is simply not used.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

log = logging.getLogger("pipe.cache")

MAX_LAYERS = 5000
MAX_IMAGES = 200
MAX_REPOS_PER_BLOB = 8


def default_cache_path() -> Path:
    storage = os.environ.get("BITBUCKET_PIPE_STORAGE_DIR")
    if storage:
        return Path(storage) / "blob-cache.json"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bitbucket-packages-pipe" / "blob-cache.json"


class BlobCache:
    def __init__(self, path: Path | None, registry: str) -> None:
        self.path = path
        self.registry = registry
        self._lock = threading.Lock()
        self._all: dict = {}
        if path is not None:
            try:
                self._all = json.loads(path.read_text())
            except (OSError, ValueError):
                self._all = {}
        if not isinstance(self._all, dict):
            self._all = {}
        mine = self._all.setdefault(registry, {})
        self._layers: dict = mine.setdefault("layers", {})
        self._blobs: dict = mine.setdefault("blobs", {})
        self._images: dict = mine.setdefault("images", {})

    def layer(self, diff_id: str) -> dict | None:
        with self._lock:
            entry = self._layers.get(diff_id)
            return dict(entry) if isinstance(entry, dict) else None

    def sources(self, digest: str) -> list[str]:
        with self._lock:
            return list(self._blobs.get(digest) or [])

    def image(self, image_id: str) -> dict | None:
        with self._lock:
            entry = self._images.get(image_id)
            return dict(entry) if isinstance(entry, dict) else None

    def remember_layer(self, diff_id: str, descriptor: dict) -> None:
        with self._lock:
            self._layers.pop(diff_id, None)
            self._layers[diff_id] = {k: descriptor[k] for k in ("mediaType", "digest", "size")}

    def remember_blob(self, digest: str, repository: str) -> None:
        with self._lock:
            repos = [r for r in self._blobs.pop(digest, []) if r != repository]
            self._blobs[digest] = [repository, *repos][:MAX_REPOS_PER_BLOB]

    def remember_image(self, image_id: str, manifest: bytes, media_type: str) -> None:
        with self._lock:
            self._images.pop(image_id, None)
            self._images[image_id] = {"manifest": manifest.decode(), "mediaType": media_type}

    def save(self) -> None:
        if self.path is None:
            return
        with self._lock:
            for table, limit in ((self._layers, MAX_LAYERS), (self._blobs, MAX_LAYERS), (self._images, MAX_IMAGES)):
                for key in list(table)[: max(0, len(table) - limit)]:
                    del table[key]
            text = json.dumps(self._all)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(text)
            os.replace(temporary, self.path)
        except OSError as exc:
            log.debug(f"blob cache not saved: {exc}")
