"""PostgreSQL metadata database: for teams that run several registry replicas.

The SQL is the same as SQLite's (written once in the domain modules, with ``?``
placeholders); this backend only translates placeholders and keeps a small
pool of write connections. Where SQLite serialises all writers with one lock,
PostgreSQL locks rows, so code that must not interleave with another writer
(a blob's commit and its garbage collection) takes a transaction-scoped
advisory lock on a key via :meth:`Transaction.lock`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg.rows import dict_row

from registry.storage.database import IntegrityError, Params, Row
from registry.storage.migrate import migrate

WRITE_CONNECTIONS = 4
_PLACEHOLDER_RE = re.compile(r"\?")


def _translate(sql: str) -> str:
    # No statement of ours has a literal '?' or '%'; escape '%' anyway so psycopg never misreads one.
    return _PLACEHOLDER_RE.sub("%s", sql.replace("%", "%%"))


class _Cursor:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        cursor = await self._conn.execute(_translate(sql), tuple(params))
        return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = await self._conn.execute(_translate(sql), tuple(params))
        return await cursor.fetchall()

    async def execute(self, sql: str, params: Params = ()) -> int:
        try:
            cursor = await self._conn.execute(_translate(sql), tuple(params))
        except psycopg.errors.IntegrityError as exc:
            raise IntegrityError(str(exc).splitlines()[0]) from exc
        return cursor.rowcount

    async def lock(self, key: str) -> None:
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))


class PostgresDatabase(_Cursor):
    dialect = "postgres"

    def __init__(self, reader: psycopg.AsyncConnection, writers: list[psycopg.AsyncConnection]) -> None:
        super().__init__(reader)
        self._writers: asyncio.Queue[psycopg.AsyncConnection] = asyncio.Queue()
        for writer in writers:
            self._writers.put_nowait(writer)
        self._all = [reader, *writers]

    @classmethod
    async def connect(cls, dsn: str, writers: int = WRITE_CONNECTIONS) -> PostgresDatabase:
        async def open_one() -> psycopg.AsyncConnection:
            return await psycopg.AsyncConnection.connect(dsn, autocommit=True, row_factory=dict_row)

        # One replica at a time applies pending migrations; when there are none, nothing is locked.
        await asyncio.to_thread(migrate, dsn)
        reader = await open_one()
        return cls(reader, [await open_one() for _ in range(writers)])

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Cursor]:
        conn = await self._writers.get()
        try:
            async with conn.transaction():
                yield _Cursor(conn)
        finally:
            self._writers.put_nowait(conn)

    async def close(self) -> None:
        for conn in self._all:
            await conn.close()
