"""Keeps credentials out of the server log.

aiohttp logs a request it cannot parse (an oversized or malformed header) with
the offending bytes, which may be an Authorization header. Such records are
rewritten to say what happened without the bytes.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError


class RedactBadRequests(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = "refused a malformed HTTP request (%s %s; its bytes are not logged, they may hold credentials)"
            record.args = (exc.code, type(exc).__name__)
            record.exc_info = None
            record.exc_text = None
        return True


def install() -> None:
    for name in ("aiohttp.server", "aiohttp.web", "aiohttp.access"):
        logging.getLogger(name).addFilter(RedactBadRequests())
