"""Application factory: wires storage, access and the protocol handlers together."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from registry import periodic, quota
from registry.access import token_endpoint
from registry.access.controller import AccessController
from registry.access.jwt_tokens import TokenService, load_or_create_key
from registry.access.store import AccessStore
from registry.content import ContentService
from registry.context import SERVICES, Services
from registry.maven import routes as maven_routes
from registry.npm import routes as npm_routes
from registry.oci import routes as oci_routes
from registry.settings import Settings
from registry.storage.factory import open_blob_store, open_database
from registry.ui import routes as ui_routes

log = logging.getLogger("packages_registry")


async def build_services(settings: Settings) -> Services:
    blobs = open_blob_store(settings)
    db = await open_database(settings)
    access = AccessStore(db)
    return Services(
        settings=settings,
        db=db,
        blobs=blobs,
        content=ContentService(db, blobs),
        access=access,
        controller=AccessController(access),
        tokens=TokenService(await load_or_create_key(db)),
    )


@web.middleware
async def server_errors(request: web.Request, handler) -> web.StreamResponse:
    """An unexpected error is logged with its traceback, and the client gets a plain 500 with no detail."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (OSError, HttpProcessingError) as exc:
        if request.transport is None or request.transport.is_closing():
            # The client went away mid-request (a dropped upload): not a server error. Nobody will read
            # this answer; aiohttp drops it quietly, where a raised error would be logged with a traceback.
            log.info("client went away during %s %s", request.method, request.path)
            return web.Response(status=400, text="connection lost")
        log.exception("I/O error on %s %s", request.method, request.path)
        raise web.HTTPInternalServerError(text="internal server error") from exc
    except Exception:
        log.exception("error on %s %s", request.method, request.path)
        raise web.HTTPInternalServerError(text="internal server error") from None


async def create_app(settings: Settings, svc: Services | None = None) -> web.Application:
    svc = svc or await build_services(settings)
    app = web.Application(middlewares=[server_errors, quota.warning_middleware(quota.Warnings(svc.db))],
                          client_max_size=1024**2)
    app[SERVICES] = svc
    token_endpoint.setup(app)
    oci_routes.setup(app, svc)
    npm_routes.setup(app, svc)
    maven_routes.setup(app, svc)
    ui_routes.setup(app, svc)  # last: the pages' patterns start at / and must not shadow the protocols
    periodic.setup(app)

    async def close(_app: web.Application) -> None:
        await svc.db.close()

    app.on_cleanup.append(close)
    return app
