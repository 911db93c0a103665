"""Schema migrations: numbered, forward-only steps in ``migrations/``, applied with yoyo-migrations.

Every start (server, CLI command) calls :func:`migrate`. When the database is current it only reads
yoyo's table of applied migrations, takes no lock and changes nothing, so starting a replica or
running ``gc`` beside live pushes never locks a table. Pending migrations are applied under
yoyo's lock, one process at a time. A database that has migrations this code does not know was
made by a newer release: refused, rather than served by code that does not understand it.

A new migration is a file ``NNNN_what.py`` (the next number) calling ``yoyo.step`` with SQL
statements written once for both dialects (``registry.storage.schema.run_statements``).
"""

from __future__ import annotations

import logging
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

log = logging.getLogger("packages_registry")


class DatabaseNewerThanCode(Exception):
    def __init__(self, unknown: int) -> None:
        super().__init__(f"the metadata database has {unknown} migration(s) this version of packages-registry does "
                         "not know: it was upgraded by a newer release. Run that release (or newer) instead.")


def yoyo_url(database: str) -> str:
    """yoyo's URL for our database setting: a SQLite file path, or a postgresql:// URL (psycopg 3)."""
    if database.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + database.split("://", 1)[1]
    return f"sqlite:///{Path(database).resolve()}"


def _backend(database: str):
    # yoyo's get_backend() also creates its lock table and probes for transactional DDL, both writes:
    # done only when there is something to apply (see migrate()).
    from yoyo.connections import default_migration_table, get_backend_class, parse_uri

    parsed = parse_uri(yoyo_url(database))
    return get_backend_class(parsed.scheme.lower())(parsed, default_migration_table)


def pending(database: str) -> list[str]:
    """Ids of the migrations not yet applied (refuses a database newer than the code)."""
    from yoyo import read_migrations

    backend = _backend(database)
    try:
        return [m.id for m in _pending(backend, read_migrations(str(MIGRATIONS_DIR)))]
    finally:
        backend.connection.close()


def migrate(database: str) -> list[str]:
    """Apply pending migrations; return their ids (empty when the database was current)."""
    from yoyo import read_migrations

    backend = _backend(database)
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        if not _pending(backend, migrations):
            return []
        backend.init_database()
        with backend.lock(timeout=120):
            _pending(backend, migrations)  # another process may have moved on meanwhile
            todo = backend.to_apply(migrations)
            if todo:
                log.info("applying schema migrations: %s", ", ".join(m.id for m in todo))
                backend.apply_migrations(todo)
            return [m.id for m in todo]
    finally:
        backend.connection.close()


def _pending(backend, migrations) -> list:
    applied = set(backend.get_applied_migration_hashes()) if _initialised(backend) else set()
    unknown = applied - {m.hash for m in migrations}
    if unknown:
        raise DatabaseNewerThanCode(len(unknown))
    return [m for m in migrations if m.hash not in applied]


def _initialised(backend) -> bool:
    # Reading yoyo's table before it exists would create it (a write, and a lock on PostgreSQL).
    return backend.migration_table in backend.list_tables()
