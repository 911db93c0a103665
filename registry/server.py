"""Running the server: one process, or several sharing the port (SO_REUSEPORT)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from aiohttp import web

from registry import logredact
from registry.connection_timeouts import ConnectionTimeouts, TimedAppRunner
from registry.settings import Settings
from registry.storage.factory import describe
from registry.storage.probe import probe_blob_store

log = logging.getLogger("packages_registry")


async def _run(settings: Settings, host: str, port: int, reuse_port: bool) -> None:
    from registry.app import create_app

    logredact.install()
    app = await create_app(settings)
    timeouts = ConnectionTimeouts(settings.header_timeout, settings.body_timeout, settings.body_min_rate,
                                  settings.keepalive_timeout)
    runner = TimedAppRunner(app, timeouts, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port, backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Create the schema and signing key once, before workers race to do it.
    from registry.app import build_services

    async def prepare() -> None:
        svc = await build_services(settings)
        try:
            await probe_blob_store(svc.blobs, svc.content.holding_blob)
        finally:
            await svc.db.close()

    asyncio.run(prepare())
    print(f"packages-registry listening on http://{host}:{port} ({describe(settings)}; "
          f"{workers} worker{'s' if workers > 1 else ''})", flush=True)
    if workers <= 1:
        asyncio.run(_run(settings, host, port, reuse_port=False))
        return
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            try:
                asyncio.run(_run(settings, host, port, reuse_port=True))
            finally:
                os._exit(0)
        children.append(pid)

    def forward(signum, _frame) -> None:
        for child in children:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for child in children:
        _, code = os.waitpid(child, 0)
        status = status or os.waitstatus_to_exitcode(code)
    sys.exit(status)
