"""Every implementation of the storage interfaces, each against a real backend."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from test.support.services import start_services, stop_services


@pytest.fixture(scope="session")
def services(session_dir: Path) -> Iterator[dict[str, str]]:
    base = session_dir / "services"
    session_dir.chmod(0o755)  # PostgreSQL runs as its own user and must reach its data dir below
    values = start_services(base)
    yield values
    stop_services(base)


@pytest.fixture
def run():
    """Run a coroutine to completion (the storage interfaces are async)."""
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()


@pytest.fixture
def pg_dsn(services: dict[str, str]) -> str:
    return services["PG_DSN"]


@pytest.fixture
def s3_env(services: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, services[name])
    return services


@pytest.fixture
def fresh_schema(pg_dsn: str) -> Iterator[str]:
    """A DSN whose search_path is a schema of its own, dropped afterwards (tests do not share tables)."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{pg_dsn}?options=-csearch_path%3D{schema}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
