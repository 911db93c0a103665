"""One blob into one repository: already there, mounted from a sibling repository, or uploaded."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from pipe.oci.client import RegistryClient
from pipe.oci.errors import AccessDenied, RegistryError

PRESENT, MOUNTED, UPLOADED = "present", "mounted", "uploaded"


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str
    opener: Callable[[], BinaryIO] = field(repr=False, compare=False)

    @property
    def descriptor(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass
class PushStats:
    """What a push did; updated from several threads."""

    uploaded: int = 0
    present: int = 0
    mounted: int = 0
    bytes_uploaded: int = 0
    bytes_total: int = 0  # of every blob, wherever it came from
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, outcome: str, size: int) -> None:
        with self._lock:
            self.bytes_total += size
            if outcome == UPLOADED:
                self.uploaded += 1
                self.bytes_uploaded += size
            elif outcome == MOUNTED:
                self.mounted += 1
            else:
                self.present += 1


class BlobPusher:
    """Pushes blobs into ``name``. ``sources(digest)`` names sibling repositories that may hold it."""

    def __init__(self, client: RegistryClient, name: str, stats: PushStats,
                 sources: Callable[[str], list[str]] = lambda digest: [],
                 progress: Callable[[int], None] | None = None) -> None:
        self.client = client
        self.name = name
        self.stats = stats
        self.sources = sources
        self.progress = progress

    def find(self, digest: str, size: int) -> tuple[str | None, str | None]:
        """Without uploading: (PRESENT or MOUNTED, None) when done, else (None, an upload Location or None)."""
        if self.client.blob_size(self.name, digest) is not None:
            self.stats.count(PRESENT, size)
            return PRESENT, None
        location = None
        for source in self.sources(digest)[:3]:
            if source == self.name:
                continue
            try:
                location = self.client.mount(self.name, digest, source)
            except AccessDenied:
                continue
            except RegistryError as exc:
                if exc.status in (401, 404):
                    continue  # a source we may not read, or one that is gone: upload instead
                raise
            if location is None:
                self.stats.count(MOUNTED, size)
                return MOUNTED, None
            break
        return None, location

    def push_stream(self, chunks: Iterable[bytes], digest: Callable[[], str], size: Callable[[], int]) -> None:
        """Upload a blob while it is being made (its digest and size are known once ``chunks`` ends)."""
        self.client.upload_stream(self.name, chunks, digest, self.progress)
        self.stats.count(UPLOADED, size())

    def push(self, blob: Blob, location: str | None = None, checked: bool = False) -> str:
        if not checked:
            outcome, location = self.find(blob.digest, blob.size)
            if outcome:
                return outcome
        self.client.upload(self.name, blob.digest, blob.size, blob.opener, self.progress, location)
        self.stats.count(UPLOADED, blob.size)
        return UPLOADED
