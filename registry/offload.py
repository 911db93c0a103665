"""Work that grows with its input runs off the event loop.

The server is one event loop per worker: a parse, a hash or a render that takes milliseconds on the
loop holds up every other request of every user for as long. Small inputs are handled inline (a
thread hop costs more than the work); anything larger goes to the default thread pool, where C code
(hashlib, json, cmark, nh3, expat) runs without holding up the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# Up to this many bytes of input, the work takes well under a millisecond (JSON, XML, SHA-2): inline.
INLINE_BYTES = 16 * 1024


async def off_loop(size: int, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``work(*args, **kwargs)``: inline when its input (``size`` bytes) is small, else in a thread."""
    if size <= INLINE_BYTES:
        return work(*args, **kwargs)
    return await asyncio.to_thread(work, *args, **kwargs)
