"""The ceiling for any aiohttp server on this machine: GETs answered from files held in memory, with no
authentication, no lookups and no checks. bench_maven.py runs it beside ours to show how much of the
distance to nginx is aiohttp's own.

    python bench/bare_aiohttp.py ROOT PORT WORKERS
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from aiohttp import web


def load(root: Path) -> dict[str, bytes]:
    return {"/" + path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()}


async def serve(files: dict[str, bytes], port: int, reuse_port: bool) -> None:
    async def handle(request: web.Request) -> web.Response:
        body = files.get(request.path)
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(body=body, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_port=reuse_port, backlog=1024).start()
    await asyncio.Event().wait()


def main() -> None:
    root, port, workers = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    files = load(root)
    for _ in range(workers - 1):
        if os.fork() == 0:
            break
    asyncio.run(serve(files, port, reuse_port=workers > 1))


if __name__ == "__main__":
    main()
