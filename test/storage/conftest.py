"""Every implementation of the storage interfaces, each against a real backend."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from test.support.services import ServiceFaults, start_services, stop_services


@pytest.fixture(scope="session")
def services(session_dir: Path) -> Iterator[dict[str, str]]:
    base = session_dir / "services"
    session_dir.chmod(0o755)  # PostgreSQL runs as its own user and must reach its data dir below
    values = start_services(base)
    values["BASE"] = str(base)
    yield values
    stop_services(base)


@pytest.fixture
def service_faults(services: dict[str, str]) -> Iterator[ServiceFaults]:
    """Restart, stop or freeze the real PostgreSQL and radosgw; whatever a test did is undone after it."""
    faults = ServiceFaults(Path(services["BASE"]))
    yield faults
    if (faults.pg_data / "postmaster.pid").exists():
        faults.pg_thaw()
    else:
        faults.pg_start()
    if not faults.rgw_running():
        faults.rgw_start(services["S3_ENDPOINT"])


@pytest.fixture
def scale_out_env(tmp_path: Path, fresh_schema: str, s3_env: dict[str, str]) -> dict[str, str]:
    """The environment of registry replicas sharing PostgreSQL (a schema of the test's own) and S3."""
    return {
        "PACKAGES_REGISTRY_DATABASE": fresh_schema,
        "PACKAGES_REGISTRY_BLOBS": f"s3://replica-tests/{tmp_path.name}",
        "PACKAGES_REGISTRY_S3_ENDPOINT": s3_env["S3_ENDPOINT"],
        **{name: s3_env[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")},
    }


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


class ScaleOutAdmin:
    """``packages-registry`` commands in-process against the replicas' shared stores (a fresh interpreter
    per command costs seconds; a test's world takes a dozen)."""

    def __init__(self, data: Path, env: dict[str, str]) -> None:
        from test.support.registry_server import RegistryServer

        self._somewhere = RegistryServer(data=data, port=0)
        self._settings = ["--database", env["PACKAGES_REGISTRY_DATABASE"], "--blobs", env["PACKAGES_REGISTRY_BLOBS"],
                          "--s3-endpoint", env["PACKAGES_REGISTRY_S3_ENDPOINT"]]

    def __call__(self, *args: str) -> str:
        from test.registry.conftest import admin

        return admin(self._somewhere, *self._settings, *args)

    def world(self, *packages: tuple[str, str], role: str = "write") -> str:
        """Workspace acme, repository acme/code with ``packages`` (name, type) linked, and the user
        dev@acme.example.com with ``role`` there; their new token."""
        from test.support.registry_server import READ, WRITE

        self("workspace", "create", "acme")
        self("repository", "create", "acme/code")
        for name, package_type in packages:
            self("package", "create", name, "--type", package_type, "--repository", "acme/code")
        self("user", "create", "dev@acme.example.com")
        self("grant", "dev@acme.example.com", "acme/code", role)
        return self("token", "create", "dev@acme.example.com", "--scope", READ, "--scope", WRITE)


@pytest.fixture
def scale_out_admin(tmp_path: Path, scale_out_env: dict[str, str]) -> ScaleOutAdmin:
    return ScaleOutAdmin(tmp_path / "admin", scale_out_env)
