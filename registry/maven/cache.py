"""In-process caches that keep Maven GETs cheap, each exact by construction.

- Small files by digest: content-addressed bytes never change, so a hit is always right.
- Answers derived from a package's files (a file row, a maven-metadata.xml) keyed by the package's
  ``updated_at``: every deploy moves it in the same transaction that records the file, and the
  access store already answers package lookups fresh (see ``AccessStore._fetchone_recent``), so a
  new deploy is a new key.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class SmallBlobs:
    """Bytes of small blobs, least recently used dropped first, within a byte budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self._items: OrderedDict[str, bytes] = OrderedDict()

    def get(self, digest: str) -> bytes | None:
        data = self._items.get(digest)
        if data is not None:
            self._items.move_to_end(digest)
        return data

    def put(self, digest: str, data: bytes) -> None:
        if len(data) > self.budget or digest in self._items:
            return
        self._items[digest] = data
        self.size += len(data)
        while self.size > self.budget:
            _, dropped = self._items.popitem(last=False)
            self.size -= len(dropped)


class Memo:
    """A bounded map of derived answers; emptied whole when full (stale keys are never asked again)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: dict[Hashable, object] = {}

    def get(self, key: Hashable, default: object = None) -> object:
        return self._items.get(key, default)

    def put(self, key: Hashable, value: object) -> None:
        if len(self._items) >= self.limit:
            self._items.clear()
        self._items[key] = value
