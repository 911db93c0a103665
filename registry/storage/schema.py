"""The metadata schema, portable across SQLite and PostgreSQL.

The tables themselves are made by numbered, forward-only migrations in ``migrations/`` (applied by
``registry.storage.migrate``). Their statements are written once for both dialects, with
``{word}`` placeholders for the few types that differ.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

SCHEMA_WORDS = {
    "sqlite": {"pk": "INTEGER PRIMARY KEY AUTOINCREMENT", "bytes": "BLOB", "float": "REAL", "ctext": "TEXT"},
    "postgres": {
        "pk": "BIGSERIAL PRIMARY KEY",
        "bytes": "BYTEA",
        "float": "DOUBLE PRECISION",
        "ctext": 'TEXT COLLATE "C"',  # lexical (byte) order for tags and names, as SQLite does
    },
}


# Every table whose rows belong to one package (by package_id): deleting a package deletes them all.
PACKAGE_TABLES = ("tags", "manifest_refs", "manifests", "package_blobs", "uploads",
                  "npm_versions", "npm_dist_tags", "npm_packuments", "maven_files", "pypi_files", "pypi_versions",
                  "retention_policies", "immutable_tags", "signature_policies")


def dialect_of(connection: object) -> str:
    """The dialect of a DB-API connection handed to a migration step."""
    return "sqlite" if isinstance(connection, sqlite3.Connection) else "postgres"


def render(statements: Iterable[str], dialect: str) -> list[str]:
    words = SCHEMA_WORDS[dialect]
    return [statement.format(**words) for statement in statements]


def run_statements(connection, statements: Iterable[str]) -> None:
    """Run schema statements (with ``{word}`` placeholders) in a migration step."""
    cursor = connection.cursor()
    try:
        for statement in render(statements, dialect_of(connection)):
            cursor.execute(statement)
    finally:
        cursor.close()
