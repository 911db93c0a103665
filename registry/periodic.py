"""The server's periodic lifecycle work: apply retention policies, prune the audit log, meter usage.

Every worker process and replica runs the loop; a job is claimed through the database (its last run
time, moved in one transaction) so each runs once per interval however many servers there are.
A failing job is logged and tried again at its next turn: it never stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from registry import audit, usage
from registry.context import SERVICES, Services
from registry.retention import Retention
from registry.storage.faults import StorageFault

log = logging.getLogger("packages_registry")

TICK_SECONDS = 15.0


async def claim(svc: Services, name: str, interval: float) -> bool:
    """Take the job's turn if its interval has passed since anyone last ran it."""
    now = time.time()
    async with svc.db.transaction() as tx:
        await tx.lock(f"periodic:{name}")
        row = await tx.fetchone("SELECT ran_at FROM periodic_runs WHERE name = ?", (name,))
        if row is not None and now - float(row["ran_at"]) < interval:
            return False
        await tx.execute("INSERT INTO periodic_runs (name, ran_at) VALUES (?, ?) ON CONFLICT (name) "
                         "DO UPDATE SET ran_at = excluded.ran_at", (name, now))
    return True


async def apply_retention(svc: Services) -> None:
    removals = await Retention(svc.db, svc.access).run()
    pruned = await audit.prune(svc.db, svc.settings.audit_days)
    if removals or pruned:
        log.info("retention: %d deletions by policies, %d audit entries past %g days pruned",
                 len(removals), pruned, svc.settings.audit_days)


async def sample_usage(svc: Services) -> None:
    await usage.sample(svc.db)


def jobs(svc: Services) -> list[tuple[str, float, Callable[[Services], Awaitable[None]]]]:
    settings = svc.settings
    return [(name, interval, job) for name, interval, job in (
        ("retention", settings.retention_interval, apply_retention),
        ("usage-sample", settings.usage_sample_interval, sample_usage),
    ) if interval > 0]


async def run_forever(svc: Services) -> None:
    while True:
        for name, interval, job in jobs(svc):
            try:
                if await claim(svc, name, interval):
                    await job(svc)
            except StorageFault as exc:  # an outage: one line, as for requests
                log.warning("periodic %s: %s; it runs again at its next turn", name, exc)
            except Exception:
                log.exception("periodic %s failed; it runs again at its next turn", name)
        await asyncio.sleep(min([TICK_SECONDS] + [interval for _, interval, _ in jobs(svc)]))


def in_background(work: Callable[[], Awaitable[None]]) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that runs ``work()`` as a task while the server runs, and cancels it on cleanup."""
    async def run(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(work())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return run


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(in_background(lambda: run_forever(app[SERVICES])))
