"""PyPI answers to refusals: a status, the message as the reason phrase, and as a plain-text body.

twine and uv print the reason phrase of a failed upload (as PyPI sends its messages there) and
twine's --skip-existing recognises "File already exists" in it; pip prints the status line.
"""

from __future__ import annotations

import re

from aiohttp import web

_UNSAFE_REASON = re.compile(r"[^\x20-\x7e]")


class PypiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self) -> web.Response:
        reason = _UNSAFE_REASON.sub(" ", self.message)[:300]
        return web.Response(status=self.status, reason=reason, text=self.message + "\n", headers=self.headers)


def invalid(message: str) -> PypiError:
    return PypiError(400, message)


def not_found(what: str) -> PypiError:
    return PypiError(404, f"{what} not found")


def project_unknown(workspace: str, project: str) -> PypiError:
    # Also the answer to a caller who may not read the project: it must not tell them it exists.
    return PypiError(
        404,
        f"PyPI package {workspace}/{project} not found. If it is yours, create it and link it to a repository "
        f"first: packages-registry package create {workspace}/{project} --type pypi --repository "
        f"{workspace}/<repository> (or the Create package page)",
    )


def unauthorized(realm: str, message: str = "authentication required") -> PypiError:
    return PypiError(401, message, {"WWW-Authenticate": f'Basic realm="{realm}", charset="UTF-8"'})


def denied(message: str) -> PypiError:
    return PypiError(403, message)


def file_exists(filename: str) -> PypiError:
    # PyPI's words: twine --skip-existing, uv publish and Poetry look for "File already exists".
    return PypiError(400, f"File already exists ({filename!r}): a file name can be uploaded only once, "
                          "even after it is deleted. Upload a new version instead.")
