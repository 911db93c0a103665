"""In-process memos that keep Maven GETs cheap, each exact by construction (small files' bytes are
kept by serve_blob's ``memory``, by digest).

- Answers derived from a package's files (a file row, a maven-metadata.xml) keyed by the package's
  ``updated_at``: every deploy moves it in the same transaction that records the file, and the
  access store already answers package lookups fresh (see ``AccessStore._fetchone_recent``), so a
  new deploy is a new key.
"""

from __future__ import annotations

from collections.abc import Hashable


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
