"""Every implementation of the storage interfaces, each against a real backend (PostgreSQL and S3:
the ``services`` fixtures of test/conftest.py)."""

from __future__ import annotations

import asyncio

import pytest


@pytest.fixture
def run():
    """Run a coroutine to completion (the storage interfaces are async)."""
    loop = asyncio.new_event_loop()
    yield loop.run_until_complete
    loop.close()
