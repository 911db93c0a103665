"""npm registry errors: ``{"error": "..."}`` with the right status, which the npm CLI prints."""

from __future__ import annotations

import json

from aiohttp import web

REALM = 'Basic realm="packages-registry", charset="UTF-8"'


class NpmError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self, head: bool = False) -> web.Response:
        if head:
            return web.Response(status=self.status, headers=self.headers)
        return web.Response(status=self.status, body=json.dumps({"error": self.message}).encode(),
                            content_type="application/json", headers=self.headers)


def bad_request(message: str) -> NpmError:
    return NpmError(400, message)


def unauthorized(message: str = "authentication required: set an API token (_authToken) for this registry "
                                "in .npmrc, or run `npm login`") -> NpmError:
    # npm shows this and, on a 401, asks for credentials; Basic realm tells it Basic is welcome too.
    return NpmError(401, message, {"WWW-Authenticate": REALM})


def forbidden(message: str) -> NpmError:
    return NpmError(403, message)


def not_found(message: str = "not found") -> NpmError:
    return NpmError(404, message)


def package_not_found(workspace: str, name: str) -> NpmError:
    """The one answer for a package that does not exist and for one the caller may not read."""
    return NpmError(
        404,
        f"package {name} not found in workspace {workspace}. If it is yours, create it and link it to a "
        f"repository first: `packages-registry package create {workspace}/{name} --type npm "
        f"--repository {workspace}/<repository>` or the Create package page",
    )


def conflict(message: str) -> NpmError:
    return NpmError(409, message)


def too_many(message: str) -> NpmError:
    return NpmError(429, message, {"Retry-After": "60"})


def too_large(message: str) -> NpmError:
    return NpmError(413, message)
