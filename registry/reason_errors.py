"""Refusals told in the status line: a status, the message as the reason phrase, and as a plain-text body.

Maven, Gradle, twine and uv print the status line of a failed request ("status code: 409, reason
phrase: ..."), not the body: the reason phrase is where their users see why.
"""

from __future__ import annotations

import re

from aiohttp import web

_UNSAFE_REASON = re.compile(r"[^\x20-\x7e]")


class ReasonPhraseError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self) -> web.Response:
        reason = _UNSAFE_REASON.sub(" ", self.message)[:300]
        return web.Response(status=self.status, reason=reason, text=self.message + "\n", headers=self.headers)
