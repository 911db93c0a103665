"""Session-wide real parts: one registry server and one docker engine, started here and stopped by PID.

Tests that need a server with other flags start their own with ``start_registry``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from test.support.dockerd import Dockerd, start_dockerd, stop_dockerd
from test.support.registry_server import RegistryServer, start_registry
from test.support.services import S3_CREDENTIALS, start_services, stop_services

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def session_dir() -> Iterator[Path]:
    # Short paths: unix socket paths are limited to about 100 characters.
    path = Path(tempfile.mkdtemp(prefix="pkt-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def registry(session_dir: Path) -> Iterator[RegistryServer]:
    server = start_registry(session_dir / "registry")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dockerd(session_dir: Path) -> Iterator[Dockerd]:
    engine = start_dockerd(session_dir / "docker")
    yield engine
    stop_dockerd(engine)


@pytest.fixture(scope="session")
def busybox_image(dockerd: Dockerd) -> str:
    return dockerd.import_busybox()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    """A name unique to the test, usable in package and repository names."""
    digest = abs(hash((request.node.nodeid, os.getpid()))) % 10**8
    return f"t{digest}"


# --- PostgreSQL + S3 (Ceph) on fixed ports: one run on the machine at a time (a machine-wide lock) ---

@pytest.fixture(scope="session")
def services(session_dir: Path) -> Iterator[dict[str, str]]:
    base = session_dir / "services"
    session_dir.chmod(0o755)  # PostgreSQL runs as its own user and must reach its data dir below
    values = start_services(base)
    values["BASE"] = str(base)  # where the services keep their state (test.support.services.ServiceFaults)
    yield values
    stop_services(base)


@pytest.fixture
def pg_dsn(services: dict[str, str]) -> str:
    return services["PG_DSN"]


@pytest.fixture
def s3_env(services: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in S3_CREDENTIALS:
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
