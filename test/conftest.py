"""Session-wide real parts: one registry server and one docker engine, started here and stopped by PID.

Tests that need a server with other flags start their own with ``start_registry``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from test.support.dockerd import Dockerd, start_dockerd, stop_dockerd
from test.support.registry_server import RegistryServer, start_registry

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
