"""Every implementation of the storage interfaces, each against a real backend (PostgreSQL and S3:
the ``services`` fixtures of test/conftest.py), and registry replicas sharing them, under faults."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.storage.database import Database
from registry.storage.postgres import PostgresDatabase
from registry.storage.sqlite import SqliteDatabase
from test.support.services import ServiceFaults, shared_stores_env


@pytest.fixture
def run():
    """Run a coroutine to completion (the storage interfaces are async)."""
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path, run) -> Iterator[Database]:
    """A Database of each implementation: SQLite in the test's directory, PostgreSQL in a fresh schema."""
    if request.param == "sqlite":
        database: Database = SqliteDatabase(tmp_path / "metadata.db")
    else:
        database = run(PostgresDatabase.connect(request.getfixturevalue("fresh_schema")))
    yield database
    run(database.close())


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
    """The environment of registry replicas sharing PostgreSQL (a schema of the test's own), S3, and one
    signing-key directory, as every replica would mount it (a secret volume); nothing else is local."""
    from test.registry.conftest import admin
    from test.support.registry_server import RegistryServer

    keys = tmp_path / "signing-keys"
    admin(RegistryServer(data=tmp_path / "admin", port=0), "--signing-key-file", str(keys), "keys", "rotate")
    return {**shared_stores_env(s3_env, fresh_schema, f"s3://replica-tests/{tmp_path.name}"),
            "PACKAGES_REGISTRY_SIGNING_KEY_FILE": str(keys)}


class ScaleOutAdmin:
    """``packages-registry`` commands in-process against the replicas' shared stores (a fresh interpreter
    per command costs seconds; a test's world takes a dozen)."""

    def __init__(self, data: Path, env: dict[str, str]) -> None:
        from test.support.registry_server import RegistryServer

        self._somewhere = RegistryServer(data=data, port=0)
        self._settings = ["--database", env["PACKAGES_REGISTRY_DATABASE"], "--blobs", env["PACKAGES_REGISTRY_BLOBS"],
                          "--s3-endpoint", env["PACKAGES_REGISTRY_S3_ENDPOINT"],
                          "--signing-key-file", env["PACKAGES_REGISTRY_SIGNING_KEY_FILE"]]

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
