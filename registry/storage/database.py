"""The metadata database interface.

Queries are written once, in portable SQL with ``?`` placeholders, by the
domain modules (access, oci, npm, maven). A backend only has to run them:
SQLite (embedded default) or PostgreSQL translate placeholders and the few
schema words that differ (see ``SCHEMA_WORDS``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Row = dict[str, Any]
Params = Sequence[Any]


class IntegrityError(Exception):
    """A uniqueness or foreign-key constraint refused a write."""


class Transaction(Protocol):
    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return the number of rows it changed."""

    async def lock(self, key: str) -> None:
        """Hold a lock on ``key`` until the transaction ends, against every other writer taking it.

        Backends whose transactions are already serialised (SQLite) need do nothing.
        """


class WriteTransaction(Transaction, Protocol):
    """What ``Database.transaction()`` yields."""

    def before_commit(self, step: Callable[[], object]) -> None:
        """Have ``step`` run between now and the commit, which waits for it and happens only if it returns
        (if it raises, the transaction is rolled back and its error raised). For work outside the database
        that must be done, and durable, before the rows that point at it are (making blobs visible).
        Blocking: it runs in a worker thread; SQLite runs it in the commit's own thread once the block is
        done (one thread hop for both), PostgreSQL starts it at once, beside the statements that follow.
        So whatever it needs done first must be done before it is registered."""


class Database(Transaction, Protocol):
    """Reads outside a transaction see committed data; writes go through ``transaction()``."""

    dialect: str

    def transaction(self) -> AbstractAsyncContextManager[WriteTransaction]:
        """A write transaction: serialised with every other writer, committed on exit."""

    def exclusive(self, key: str) -> AbstractAsyncContextManager[bool]:
        """Try to take a lock on ``key`` that every process and replica sharing the database respects,
        held until the block ends; the block gets whether it was taken (one collector at a time)."""

    async def close(self) -> None: ...


async def iterate(db: Transaction, sql: str, params: Params, key: str, page: int = 1000) -> AsyncIterator[Row]:
    """Walk a large table in keyset pages ordered by ``key`` (``sql`` must filter ``key > ?`` last)."""
    last: Any = ""
    while True:
        rows = await db.fetchall(f"{sql} ORDER BY {key} LIMIT {int(page)}", (*params, last))
        for row in rows:
            yield row
        if len(rows) < page:
            return
        last = rows[-1][key]
