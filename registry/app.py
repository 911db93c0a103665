"""Application factory: wires storage, access and the protocol handlers together."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from registry import audit, periodic, quota
from registry.access import token_endpoint
from registry.access.controller import AccessController
from registry.access.jwt_tokens import TokenService
from registry.access.signing_keys import move_database_keys, open_key_ring
from registry.access.store import AccessStore
from registry.content import ContentService, UploadLimits
from registry.context import SERVICES, Services
from registry.gc import collect_periodically
from registry.httputil import is_valid_host
from registry.lifecycle import Lifecycle
from registry.maven import routes as maven_routes
from registry.maven.errors import MavenError
from registry.npm import routes as npm_routes
from registry.npm.errors import NpmError
from registry.oci import routes as oci_routes
from registry.oci.errors import OciError
from registry.pypi import routes as pypi_routes
from registry.pypi.errors import PypiError
from registry.settings import Settings
from registry.storage.factory import open_blob_store, open_database
from registry.storage.faults import RETRY_AFTER_SECONDS, StorageFault, StorageFull
from registry.ui import routes as ui_routes

log = logging.getLogger("packages_registry")
# The pages' own error page (the web UI answers faults in HTML, like its other errors).
FAULT_PAGE = web.AppKey("fault_page", Callable[[web.Request, int, str], Awaitable[web.Response]])


async def build_services(settings: Settings) -> Services:
    keys = open_key_ring(settings.data_dir, settings.signing_key_file)
    blobs = open_blob_store(settings)
    db = await open_database(settings)
    access = AccessStore(db, retention_seconds=settings.retention_days * 86400)
    await move_database_keys(db, keys)
    return Services(
        settings=settings,
        db=db,
        blobs=blobs,
        content=ContentService(db, blobs, UploadLimits(settings.max_uploads_per_credential,
                                                       settings.max_uploads_per_package, settings.upload_idle_seconds)),
        access=access,
        controller=AccessController(access),
        tokens=TokenService(keys, settings.service),
        lifecycle=Lifecycle(db, access),
    )


def _fault_message(fault: StorageFault) -> str:
    # The client hears what happened and what to do, never the backend's own words (hosts, paths).
    if isinstance(fault, StorageFull):
        return "the registry's storage is full: nothing was stored; ask its administrator to free space"
    return f"the registry's {fault.backend} is unavailable for a moment: try again shortly"


async def answer_fault(request: web.Request, fault: StorageFault) -> web.StreamResponse:
    """A backend fault in the error format of the protocol the request speaks (by path prefix)."""
    status, message = fault.status, _fault_message(fault)
    headers = {} if isinstance(fault, StorageFull) else {"Retry-After": str(RETRY_AFTER_SECONDS)}
    head = request.method == "HEAD"
    path = request.path
    if path == "/v2" or path.startswith(("/v2/", "/auth/")):
        code = "UNKNOWN" if isinstance(fault, StorageFull) else "UNAVAILABLE"
        return OciError(code, message, status, headers=headers).response(head)
    if path.startswith("/npm/"):
        return NpmError(status, message, headers).response(head)
    if path.startswith("/maven/"):
        return MavenError(status, message, headers).response()
    if path.startswith("/pypi/"):
        return PypiError(status, message, headers).response()
    response = await request.app[FAULT_PAGE](request, status, message)
    response.headers.update(headers)
    return response


@web.middleware
async def server_errors(request: web.Request, handler) -> web.StreamResponse:
    """A backend fault is answered in the protocol's format with one log line; any other unexpected
    error is logged with its traceback, and the client gets a plain 500 with no detail."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except StorageFault as fault:
        log.warning("%s %s: %d, %s", request.method, request.path, fault.status, fault)
        return await answer_fault(request, fault)
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


@web.middleware
async def valid_host(request: web.Request, handler) -> web.StreamResponse:
    """A request whose Host is not host[:port] (or that has two) is refused before anything uses it: the
    Host makes token realms, npm tarball URLs and links when --public-url is not set."""
    hosts = request.headers.getall("Host", [])
    if len(hosts) > 1 or (hosts and not is_valid_host(hosts[0])):
        message = "invalid Host header"
        if request.path.startswith("/v2/"):
            return web.json_response({"errors": [{"code": "UNSUPPORTED", "message": message}]}, status=400)
        if request.path.startswith("/npm/"):
            return web.json_response({"error": message}, status=400)
        return web.Response(status=400, text=message)
    return await handler(request)


async def create_app(settings: Settings, svc: Services | None = None) -> web.Application:
    svc = svc or await build_services(settings)
    app = web.Application(middlewares=[valid_host, server_errors, audit.address_middleware,
                                       quota.warning_middleware(quota.Warnings(svc.db))],
                          client_max_size=1024**2)
    app[SERVICES] = svc
    token_endpoint.setup(app)
    oci_routes.setup(app, svc)
    npm_routes.setup(app, svc)
    maven_routes.setup(app, svc)
    pypi_routes.setup(app, svc)
    pages = ui_routes.setup(app, svc)  # last: the pages' patterns start at / and must not shadow the protocols
    app[FAULT_PAGE] = pages.fault_page
    if settings.gc_interval > 0:
        app.cleanup_ctx.append(periodic.in_background(lambda: collect_periodically(
            svc.db, svc.content, svc.settings.gc_interval, svc.settings.gc_grace_seconds)))
    periodic.setup(app)
    # Retention applies by itself: what was deleted longer ago than --retention-days is purged.
    app.cleanup_ctx.append(periodic.in_background(svc.lifecycle.purge_forever))

    async def close(_app: web.Application) -> None:
        await svc.db.close()

    app.on_cleanup.append(close)
    return app
