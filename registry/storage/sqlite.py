"""SQLite metadata database: the embedded default (WAL, one file under the data dir).

SQLite answers in microseconds, so statements run inline on the event loop:
handing them to a thread would cost more than the query. Reads and writes use
separate connections so a reader never sees another coroutine's uncommitted
transaction; writers are serialised by an asyncio lock within the process and
by SQLite's own lock (BEGIN IMMEDIATE) across processes.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from registry.storage.database import IntegrityError, Params, Row
from registry.storage.faults import StorageFull
from registry.storage.migrate import migrate


@contextmanager
def _translated() -> Iterator[None]:
    """SQLite's errors in the words of registry.storage: a full disk is StorageFull, not a bug."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise IntegrityError(str(exc)) from exc
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            raise StorageFull("database", str(exc)) from exc
        raise


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before we answer the client (nothing acknowledged is lost).
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    # Deleted rows (revoked secrets, moved keys) are overwritten, not left readable in free space.
    conn.execute("PRAGMA secure_delete=FAST")
    return conn


class _Cursor:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        with _translated():
            row = self._conn.execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        with _translated():
            return [dict(row) for row in self._conn.execute(sql, params).fetchall()]

    async def execute(self, sql: str, params: Params = ()) -> int:
        with _translated():
            return self._conn.execute(sql, params).rowcount

    async def lock(self, key: str) -> None:
        """Nothing to do: BEGIN IMMEDIATE already serialises every writer."""


class _WriteCursor(_Cursor):
    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(conn)
        self.steps: list[Callable[[], object]] = []

    def before_commit(self, step: Callable[[], object]) -> None:
        self.steps.append(step)

    def commit(self) -> None:
        """Blocking (in a worker thread): the steps, then the commit; or, if a step fails, the rollback."""
        try:
            for step in self.steps:
                step()
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")


class SqliteDatabase(_Cursor):
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        migrate(str(path))
        self._writer = _connect(path)
        super().__init__(_connect(path))
        self._write_lock = asyncio.Lock()

    def data_version(self) -> int:
        """A number that changes whenever a commit of any connection or process changed the database
        (SQLite's data_version): lets callers keep an answer exactly as long as it is current."""
        return self._conn.execute("PRAGMA data_version").fetchone()[0]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_WriteCursor]:
        await self._write_lock.acquire()
        release = True
        try:
            with _translated():
                self._writer.execute("BEGIN IMMEDIATE")
            cursor = _WriteCursor(self._writer)
            try:
                yield cursor
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            # The commit waits for its fsync (synchronous=FULL): in a thread, so other requests go on
            # meanwhile. The writer stays locked until it is done, even if this task is cancelled.
            commit = asyncio.get_running_loop().run_in_executor(None, cursor.commit)
            try:
                await asyncio.shield(commit)
            except asyncio.CancelledError:
                release = False
                commit.add_done_callback(lambda _done: self._write_lock.release())
                raise
            except BaseException:
                if self._writer.in_transaction:  # a failed COMMIT leaves the transaction open
                    self._writer.execute("ROLLBACK")
                with _translated():
                    raise
        finally:
            if release:
                self._write_lock.release()

    @asynccontextmanager
    async def exclusive(self, key: str) -> AsyncIterator[bool]:
        """Try to take a lock on ``key`` held across this database's processes until the block ends
        (a file lock beside the database); yield whether it was taken."""
        fd = os.open(f"{self.path}.{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    async def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file and empty it: what was overwritten in the
        log (a deleted secret) is then gone from both files."""
        async with self._write_lock:
            self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def close(self) -> None:
        self._conn.close()
        self._writer.close()
