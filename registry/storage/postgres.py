"""PostgreSQL metadata database: for teams that run several registry replicas.

The SQL is the same as SQLite's (written once in the domain modules, with ``?``
placeholders); this backend translates placeholders and keeps a pool of
connections (psycopg_pool). Where SQLite serialises all writers with one lock,
PostgreSQL locks rows, so code that must not interleave with another writer
(a blob's commit and its garbage collection) takes a transaction-scoped
advisory lock on a key via :meth:`Transaction.lock`.

Faults heal by themselves. Every statement, and every wait for a connection,
is bounded by ``timeout`` (on the server by ``statement_timeout``, and here as
well, for a server that does not answer at all); past it, or when the server
cannot be reached, the caller gets :class:`BackendUnavailable` at once. The
pool checks each connection before handing it out; after a failure the next
request probes the server with one fresh connection (one probe at a time: the
requests that waited for it share its answer) and, once it answers, replaces
the whole pool, so no connection from before an outage or a restart is used
again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from registry.storage.database import IntegrityError, Params, Row
from registry.storage.faults import BackendUnavailable, StorageFull, TransactionConflict
from registry.storage.migrate import migrate

DEFAULT_POOL_SIZE = 8
DEFAULT_TIMEOUT = 5.0
# An advisory lock is held across a blob's commit (a copy, on S3): waiting for one may take longer
# than a statement.
LOCK_WAIT_FACTOR = 6
_PLACEHOLDER_RE = re.compile(r"\?")
T = TypeVar("T")

log = logging.getLogger("packages_registry")


def _translate(sql: str) -> str:
    # No statement of ours has a literal '?' or '%'; escape '%' anyway so psycopg never misreads one.
    return _PLACEHOLDER_RE.sub("%s", sql.replace("%", "%%"))


def _connect_kwargs(dsn: str, timeout: float) -> dict[str, Any]:
    params: dict[str, Any] = conninfo_to_dict(dsn)
    # Added to the DSN's own options (a search_path, say), not in place of them.
    options = f"{params.get('options', '')} -c statement_timeout={int(timeout * 1000)}".strip()
    return {**params, "options": options, "connect_timeout": max(1, math.ceil(timeout)),
            "autocommit": True, "row_factory": dict_row}


class ConnectionLost(BackendUnavailable):
    """A connection broke under a statement (the server restarted, say): a read may be tried again on a
    fresh connection, since the pool is renewed before the next use."""


class _Lease:
    """One connection taken from the pool for a read or a transaction.

    A statement that overruns its bound is abandoned, not awaited: cancelling a query on a frozen
    server waits for that server too. The connection then goes back to the pool only once the
    abandoned statement has ended (the pool discards it, as its state is unknown).
    """

    def __init__(self, db: PostgresDatabase, conn: psycopg.AsyncConnection) -> None:
        self.db = db
        self.conn = conn
        self.abandoned: asyncio.Task | None = None
        self.lock_wait_set = False  # the transaction's statement_timeout raised for lock waits (SET LOCAL)

    async def run(self, call: Callable[[], Awaitable[T]], bound: float | None = None) -> T:
        if self.abandoned is not None:
            raise BackendUnavailable("database", "the connection was lost")
        task = asyncio.ensure_future(call())
        try:
            done, _ = await asyncio.wait({task}, timeout=bound or self.db.bound)
        except asyncio.CancelledError:
            task.cancel()
            self.abandoned = task
            raise
        if not done:
            task.cancel()
            self.abandoned = task
            self.db.suspect()
            raise BackendUnavailable("database", f"no answer within {bound or self.db.bound:g} s")
        try:
            return task.result()
        except psycopg.errors.IntegrityError as exc:
            raise IntegrityError(str(exc).splitlines()[0]) from exc
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as exc:
            raise TransactionConflict("database", str(exc).splitlines()[0]) from exc
        except psycopg.errors.DiskFull as exc:
            raise StorageFull("database", str(exc).splitlines()[0]) from exc
        except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable) as exc:
            raise BackendUnavailable("database", str(exc).splitlines()[0]) from exc
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self.db.suspect()
            raise ConnectionLost("database", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                                 ) from exc


class _Cursor:
    def __init__(self, lease: _Lease) -> None:
        self._lease = lease

    async def _execute(self, sql: str, params: Params) -> psycopg.AsyncCursor:
        conn = self._lease.conn
        return await self._lease.run(lambda: conn.execute(_translate(sql), tuple(params)))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        cursor = await self._execute(sql, params)
        return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = await self._execute(sql, params)
        return await cursor.fetchall()

    async def execute(self, sql: str, params: Params = ()) -> int:
        return (await self._execute(sql, params)).rowcount

    async def lock(self, key: str) -> None:
        conn, wait = self._lease.conn, self._lease.db.timeout * LOCK_WAIT_FACTOR
        if not self._lease.lock_wait_set:  # once per transaction: SET LOCAL lasts until it ends
            await self._lease.run(lambda: conn.execute(f"SET LOCAL statement_timeout = {int(wait * 1000)}"))
            self._lease.lock_wait_set = True
        await self._lease.run(
            lambda: conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,)), wait + 1)


class _WriteCursor(_Cursor):
    def __init__(self, lease: _Lease) -> None:
        super().__init__(lease)
        self.steps: list[asyncio.Future] = []

    def before_commit(self, step: Callable[[], object]) -> None:
        # Started at once, beside the statements that follow (each a round trip to the server).
        self.steps.append(asyncio.ensure_future(asyncio.to_thread(step)))


class PostgresDatabase:
    dialect = "postgres"

    def __init__(self, dsn: str, pool_size: int = DEFAULT_POOL_SIZE, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        # Our own bound sits a little above the server's, which answers a clean error when it can.
        self.bound = timeout + 1
        self._kwargs = _connect_kwargs(dsn, timeout)
        self._pool_size = pool_size
        self._pool = self._new_pool()
        self._down = False
        self._probes = 0  # probes made so far: a request that waited for another's probe takes its answer
        self._probe_lock = asyncio.Lock()
        self._background: set[asyncio.Task] = set()

    @classmethod
    async def connect(cls, dsn: str, pool_size: int = DEFAULT_POOL_SIZE, timeout: float = DEFAULT_TIMEOUT
                      ) -> PostgresDatabase:
        try:
            # One replica at a time applies pending migrations; when there are none, nothing is locked.
            await asyncio.to_thread(migrate, dsn)
            db = cls(dsn, pool_size, timeout)
            await db._pool.open(wait=True, timeout=db.bound)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise BackendUnavailable("database", str(exc).strip().splitlines()[-1] if str(exc).strip()
                                     else "no connection") from None
        return db

    def _new_pool(self) -> AsyncConnectionPool:
        return AsyncConnectionPool(
            "", kwargs=self._kwargs, min_size=1, max_size=self._pool_size, open=False, timeout=self.timeout,
            check=self._check, reconnect_timeout=self.timeout, name="packages-registry",
        )

    async def _check(self, conn: psycopg.AsyncConnection) -> None:
        try:
            await AsyncConnectionPool.check_connection(conn)
        except Exception:
            self.suspect()
            raise

    def suspect(self) -> None:
        """A connection failed: the next request probes the server before using the pool again."""
        self._down = True

    def _later(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _recover(self) -> None:
        probes_seen = self._probes
        async with self._probe_lock:
            if not self._down:
                return
            if self._probes != probes_seen:
                raise BackendUnavailable("database", "unavailable (probed just now)")
            self._probes += 1
            try:
                probe = await asyncio.wait_for(psycopg.AsyncConnection.connect(**self._kwargs), self.bound)
            except (OSError, psycopg.Error, TimeoutError) as exc:
                raise BackendUnavailable("database", str(exc).strip().splitlines()[-1] if str(exc).strip()
                                         else "no answer") from None
            await probe.close()
            stale, self._pool = self._pool, self._new_pool()
            await self._pool.open(wait=False)
            self._down = False
            log.info("database reachable again: connection pool renewed")
            self._later(stale.close())

    @asynccontextmanager
    async def _lease(self) -> AsyncIterator[_Lease]:
        if self._down:
            await self._recover()
        pool = self._pool
        task = asyncio.ensure_future(pool.getconn())
        try:
            done, _ = await asyncio.wait({task}, timeout=self.bound)
        except asyncio.CancelledError:
            self._give_back_when_done(pool, task)
            raise
        if not done:
            self.suspect()
            self._give_back_when_done(pool, task)
            raise BackendUnavailable("database", f"no connection within {self.bound:g} s")
        try:
            conn = task.result()
        except PoolTimeout:
            # Either every connection is busy, or the pooled ones were found dead (a database restart) and
            # the pool is still backing off its own reconnection: the next use probes the server and renews
            # the pool if it answers, and a read is tried once more at once.
            self.suspect()
            raise ConnectionLost("database", f"no connection within {self.timeout:g} s") from None
        except psycopg.Error as exc:
            self.suspect()
            raise BackendUnavailable("database", str(exc).splitlines()[0] if str(exc) else "unavailable") from None
        lease = _Lease(self, conn)
        try:
            yield lease
        finally:
            if lease.abandoned is None:
                await pool.putconn(conn)
            else:
                self._later(self._put_back_after(pool, conn, lease.abandoned))

    def _give_back_when_done(self, pool: AsyncConnectionPool, task: asyncio.Task) -> None:
        task.cancel()

        async def give_back() -> None:
            with suppress(BaseException):
                conn = await task
                await pool.putconn(conn)

        self._later(give_back())

    async def _put_back_after(self, pool: AsyncConnectionPool, conn: psycopg.AsyncConnection,
                              abandoned: asyncio.Task) -> None:
        with suppress(BaseException):
            await abandoned
        with suppress(Exception):
            await conn.close()  # its state is unknown: the pool replaces it
        with suppress(Exception):
            await pool.putconn(conn)

    # --- reads outside a transaction ---

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await self._read(lambda cursor: cursor.fetchone(sql, params))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._read(lambda cursor: cursor.fetchall(sql, params))

    async def _read(self, read: Callable[[_Cursor], Awaitable[T]]) -> T:
        """A read outside a transaction; once more on a fresh connection when the first one was lost
        (the first request after a database restart still holds a connection from before it)."""
        for attempt in (1, 2):
            try:
                async with self._lease() as lease:
                    return await read(_Cursor(lease))
            except ConnectionLost:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._lease() as lease:
            return await _Cursor(lease).execute(sql, params)

    async def lock(self, key: str) -> None:
        """Outside a transaction a lock would end at once: nothing to hold."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_WriteCursor]:
        async with self._lease() as lease:
            conn = lease.conn
            await lease.run(lambda: conn.execute("BEGIN"))
            cursor = _WriteCursor(lease)
            try:
                yield cursor
                for step in cursor.steps:
                    await step
            except BaseException:
                if cursor.steps:  # none left running behind the rollback
                    await asyncio.wait(cursor.steps)
                    for step in cursor.steps:
                        if not step.cancelled():
                            step.exception()  # seen: the failure raised is this one
                if lease.abandoned is None:
                    with suppress(Exception):
                        await lease.run(lambda: conn.execute("ROLLBACK"))
                raise
            await lease.run(lambda: conn.execute("COMMIT"))

    @asynccontextmanager
    async def exclusive(self, key: str) -> AsyncIterator[bool]:
        """Try to take a lock on ``key`` held across replicas until the block ends (a session-level
        advisory lock on a connection of its own); yield whether it was taken."""
        async with self._lease() as lease:
            conn = lease.conn
            cursor = await lease.run(lambda: conn.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 1)) AS taken", (key,)))
            taken = bool((await cursor.fetchone())["taken"])
            try:
                yield taken
            finally:
                if taken and lease.abandoned is None:
                    with suppress(Exception):
                        await lease.run(lambda: conn.execute(
                            "SELECT pg_advisory_unlock(hashtextextended(%s, 1))", (key,)))

    async def close(self) -> None:
        await self._pool.close()
        for task in list(self._background):
            task.cancel()
