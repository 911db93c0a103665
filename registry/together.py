"""Steps run side by side, none left behind: every one has ended before the first failure, if any, is
raised (syncs of different files, requests to an object store: their waits overlap)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def together(steps: Iterable[Awaitable[T]]) -> list[T]:
    """The steps' results, in order, once all of them have ended; else the first failure."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]
