"""Faults of the storage backends, in words every layer above them understands.

Each backend translates its own errors (psycopg's, sqlite3's, boto's, ENOSPC) into these, so that
the application answers them the same way whatever the backend: a 503 with ``Retry-After`` for a
backend that cannot be reached or did not answer in time (it heals by itself, the client tries
again), a 507 for a full disk, each in the protocol's own error format (see ``registry.app``).
"""

from __future__ import annotations

# What a client is told to wait before trying again (Retry-After) when a backend is away.
RETRY_AFTER_SECONDS = 5


class StorageFault(Exception):
    """A backend cannot do what was asked right now; not the request's fault, nor a bug."""

    status = 503

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(f"{backend}: {reason}")
        self.backend = backend
        self.reason = reason


class BackendUnavailable(StorageFault):
    """The database or the blob store cannot be reached, or did not answer within its timeout."""

    status = 503


class StorageFull(StorageFault):
    """No space left for this write (the disk is full, or a write would eat into the reserve)."""

    status = 507


class TransactionConflict(BackendUnavailable):
    """The database aborted a transaction for a deadlock or a serialisation failure: run it again
    (the collector does; a client is told to retry)."""
