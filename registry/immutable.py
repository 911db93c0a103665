"""Immutable tags: per container package, tag patterns (``v*``, ``1.*``) whose tags, once pushed, can
be neither moved to another manifest nor deleted (npm versions and Maven releases are immutable by
their protocols already). Checked inside the transaction that would move or delete the tag."""

from __future__ import annotations

import fnmatch
import time

from registry.storage.database import Database, Transaction

MAX_PATTERNS = 100
MAX_PATTERN_LENGTH = 128


class ImmutableTag(Exception):
    def __init__(self, tag: str, pattern: str, what: str) -> None:
        super().__init__(f"tag {tag} is immutable (it matches the package's immutable tag pattern {pattern!r}) "
                         f"and cannot be {what}; push a new tag instead")
        self.tag, self.pattern = tag, pattern


def matching(tag: str, patterns: list[str]) -> str | None:
    return next((pattern for pattern in patterns if fnmatch.fnmatchcase(tag, pattern)), None)


async def patterns(db: Database | Transaction, package_id: int) -> list[str]:
    rows = await db.fetchall("SELECT pattern FROM immutable_tags WHERE package_id = ? ORDER BY pattern",
                             (package_id,))
    return [row["pattern"] for row in rows]


async def add(db: Database, package_id: int, pattern: str) -> None:
    if not pattern or len(pattern) > MAX_PATTERN_LENGTH or any(c.isspace() for c in pattern):
        raise ValueError(f"an immutable tag pattern is a tag or a glob such as v* (up to {MAX_PATTERN_LENGTH} "
                         f"characters, no spaces)")
    async with db.transaction() as tx:
        if len(await patterns(tx, package_id)) >= MAX_PATTERNS:
            raise ValueError(f"a package has at most {MAX_PATTERNS} immutable tag patterns")
        await tx.execute("INSERT INTO immutable_tags (package_id, pattern, created_at) VALUES (?, ?, ?) "
                         "ON CONFLICT DO NOTHING", (package_id, pattern, time.time()))


async def remove(db: Database, package_id: int, pattern: str) -> bool:
    async with db.transaction() as tx:
        return await tx.execute("DELETE FROM immutable_tags WHERE package_id = ? AND pattern = ?",
                                (package_id, pattern)) > 0


async def check_move(tx: Transaction, package_id: int, tag: str, previous: str | None, digest: str) -> None:
    """Refuse to point an existing immutable tag (now at ``previous``, None when there is no such tag yet)
    at another manifest (pushing the same one again is fine)."""
    if previous is None or previous == digest:
        return
    pattern = matching(tag, await patterns(tx, package_id))
    if pattern is not None:
        raise ImmutableTag(tag, pattern, "overwritten")


async def check_delete(tx: Transaction, package_id: int, tags: list[str]) -> None:
    """Refuse to delete any of ``tags`` (a tag, or the tags of a manifest being deleted) that is immutable."""
    found = await patterns(tx, package_id)
    for tag in tags:
        pattern = matching(tag, found)
        if pattern is not None:
            raise ImmutableTag(tag, pattern, "deleted")
