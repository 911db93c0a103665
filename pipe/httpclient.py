"""HTTP to an npm registry or a Maven repository: Basic credentials, retries, typed errors.

Both protocols authenticate with Basic (user or pipeline username + token), as Bitbucket documents
for npm (``username`` + ``_password``) and Maven (a settings.xml server), so the credentials are sent
with every request. Retries are the OCI client's: connection errors, 5xx and 429 with backoff that
honours ``Retry-After``; never 4xx.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import IO, Any

import requests

from pipe.oci.auth import Credentials
from pipe.oci.errors import AccessDenied, AuthenticationFailed, RegistryError, RegistryUnavailable
from pipe.oci.transport import USER_AGENT, RetryPolicy, Transient, retry_after_seconds


class NotFound(RegistryError):
    """404: the package (or file) does not exist, or the credentials cannot see it."""


class Conflict(RegistryError):
    """The server refused to overwrite what is there (a published version, a release file)."""


def server_message(response: requests.Response) -> str:
    """The server's own explanation: npm's ``{"error": ...}``, OCI-style ``errors``, or short plain text."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip() if response.headers.get("Content-Type", "").startswith("text/plain") else ""
        return text[:300]
    if isinstance(body, dict):
        for key in ("error", "message", "reason"):
            if isinstance(body.get(key), str):
                return body[key][:500]
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", ""))[:500]
    return ""


class HttpClient:
    def __init__(self, credentials: Credentials, verify_tls: bool = True, retry: RetryPolicy | None = None,
                 timeout: float = 300.0, connect_timeout: float = 15.0) -> None:
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self.timeout = (connect_timeout, timeout)
        self.session = requests.Session()
        self.session.verify = verify_tls
        self.session.trust_env = False  # no proxies or .netrc credentials from the environment
        self.session.headers["User-Agent"] = USER_AGENT

    def request(self, method: str, url: str, *, ok: tuple[int, ...],
                data: bytes | Callable[[], IO[bytes]] | None = None,
                headers: dict[str, str] | None = None) -> requests.Response:
        """One request with retries; a status outside ``ok`` raises the matching error.

        ``data`` may be a callable that opens the body afresh, so that a large file is streamed, and
        streamed again from its start on a retry.
        """
        all_headers = {"Authorization": self.credentials.basic_header(), **(headers or {})}

        def attempt() -> requests.Response:
            body = data() if callable(data) else data
            try:
                response = self.session.request(method, url, data=body, headers=all_headers, timeout=self.timeout,
                                                allow_redirects=False)
            except requests.RequestException as exc:
                raise Transient(f"{method} {display(url)} failed: {_describe(exc)}") from None
            finally:
                if body is not None and not isinstance(body, bytes):
                    body.close()
            if response.status_code == 429 or response.status_code >= 500:
                message = server_message(response)
                raise Transient(f"{method} {display(url)} answered {response.status_code}"
                                + (f" ({message})" if message else ""),
                                retry_after_seconds(response.headers.get("Retry-After")), response.status_code)
            return response

        try:
            response = self.retry.call(attempt)
        except Transient as exc:
            raise RegistryUnavailable(f"{exc} (gave up after {self.retry.attempts} attempts)", exc.status) from None
        if response.status_code not in ok:
            raise error_for(response, f"{method} {display(url)}")
        return response

    def get_json(self, url: str, headers: dict[str, str] | None = None) -> Any | None:
        """A JSON document, or None when it is not there (404)."""
        response = self.request("GET", url, ok=(200, 404), headers={"Accept": "application/json", **(headers or {})})
        if response.status_code == 404:
            return None
        try:
            return json.loads(response.content)
        except ValueError:
            raise RegistryError(f"GET {display(url)} answered invalid JSON") from None


def error_for(response: requests.Response, what: str) -> RegistryError:
    status = response.status_code
    detail = server_message(response)
    text = f"{what} answered {status}" + (f": {detail}" if detail else "")
    if status == 401:
        return AuthenticationFailed(text, status, "UNAUTHORIZED", detail)
    if status == 403:
        return AccessDenied(text, status, "DENIED", detail)
    if status == 404:
        return NotFound(text, status, "NOT_FOUND", detail)
    if status == 409:
        return Conflict(text, status, "CONFLICT", detail)
    return RegistryError(text, status, None, detail)


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectionError):
        return "connection error" if "refused" not in str(exc).lower() else "connection refused"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return type(exc).__name__


def display(url: str) -> str:
    """A URL for messages: no query string, no user info."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"
