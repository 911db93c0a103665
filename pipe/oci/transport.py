"""HTTP to one registry: authentication (Basic or Bearer tokens), retries with backoff, error mapping.

Retries cover connection errors, 5xx and 429 only, with exponential backoff that honours
``Retry-After``; 401 and 403 are never retried (one fresh-token retry after a 401 is part of the
auth flow, not a retry). Each thread gets its own session (pipe/oci/session.py).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin

if TYPE_CHECKING:
    from tenacity import RetryCallState, Retrying

from pipe.oci.auth import Challenge, Credentials, TokenCache, parse_challenge, scope_key
from pipe.oci.errors import (
    AccessDenied,
    AuthenticationFailed,
    NameUnknown,
    RegistryError,
    RegistryUnavailable,
)
from pipe.oci.reference import Registry
from pipe.oci.session import HttpFailure, Response, Session

log = logging.getLogger("pipe.oci")

USER_AGENT = "bitbucket-packages-pipe"
# A socket send buffer per write; http.client's default (8 KiB) costs throughput on fast links.
SEND_BLOCK = 1024 * 1024
MAX_RETRY_AFTER = 60.0
T = TypeVar("T")


class Transient(Exception):
    """A failure worth retrying: a connection error, a 5xx or a 429."""

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial: float = 0.5
    maximum: float = 8.0

    def delay(self, exc: BaseException | None, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (from 1)."""
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), MAX_RETRY_AFTER)
        backoff = self.initial * (2 ** max(attempt - 1, 0))
        import random  # only after a failure: a warm re-push has none

        return min(backoff + random.uniform(0, self.initial), self.maximum)

    def wait(self, state: RetryCallState) -> float:
        return self.delay(state.outcome.exception() if state.outcome else None, state.attempt_number)

    def retrying(self, first: int = 1) -> Retrying:
        """tenacity's loop for attempts ``first`` to ``attempts``."""
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

        skipped = first - 1

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0
            log.warning(f"{exc}; retrying in {delay:.1f}s (attempt {state.attempt_number + skipped + 1})")

        return Retrying(stop=stop_after_attempt(self.attempts - skipped), reraise=True,
                        wait=lambda state: self.delay(state.outcome.exception() if state.outcome else None,
                                                      state.attempt_number + skipped),
                        retry=retry_if_exception_type(Transient), before_sleep=log_retry)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, retried on Transient.

        The first attempt runs without tenacity: nearly every call succeeds at once, and importing
        tenacity (it brings asyncio along) was a good part of a warm re-push's time.
        """
        try:
            return fn(*args, **kwargs)
        except Transient as exc:
            if self.attempts <= 1:
                raise
            delay = self.delay(exc, 1)
            log.warning(f"{exc}; retrying in {delay:.1f}s (attempt 2)")
        time.sleep(delay)
        return self.retrying(first=2)(fn, *args, **kwargs)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        import email.utils

        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def registry_errors(response: Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


class Transport:
    def __init__(self, registry: Registry, credentials: Credentials | None, retry: RetryPolicy | None = None,
                 timeout: float = 300.0, connect_timeout: float = 15.0) -> None:
        self.registry = registry
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self.timeout = (connect_timeout, timeout)
        self.tokens = TokenCache()
        self._challenge: Challenge | None = None
        self._challenge_known = False
        self._local = threading.local()
        self._lock = threading.Lock()

    # --- sessions ---

    @property
    def session(self) -> Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = Session(verify=self.registry.verify_tls, headers={"User-Agent": USER_AGENT},
                              blocksize=SEND_BLOCK)
            self._local.session = session
        return session

    def absolute(self, location: str) -> str:
        """Resolve a Location header against the registry (it may be relative)."""
        return urljoin(self.registry.base_url + "/", location)

    # --- auth ---

    def _auth_header(self, scopes: tuple[str, ...]) -> str | None:
        challenge = self._challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return self.credentials.basic_header() if self.credentials else None
        token = self.tokens.get(scope_key(scopes))
        return f"Bearer {token}" if token else None

    def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...]) -> None:
        if not challenge.realm:
            raise RegistryError("the registry asked for a bearer token but named no token endpoint")
        params: list[tuple[str, str]] = []
        if challenge.service:
            params.append(("service", challenge.service))
        params += [("scope", scope) for scope in scopes]
        headers = {"Authorization": self.credentials.basic_header()} if self.credentials else {}

        def attempt() -> Response:
            try:
                response = self.session.request("GET", challenge.realm, params=params, headers=headers,
                                                timeout=self.timeout)
            except HttpFailure as exc:
                raise Transient(f"token endpoint {challenge.realm} unreachable: {exc}") from None
            self._raise_transient(response, "token endpoint")
            return response

        response = self.retry.call(attempt)
        if response.status_code in (401, 403):
            detail = _first_message(response)
            raise AuthenticationFailed(
                "the registry's token endpoint refused the credentials" + (f": {detail}" if detail else ""),
                response.status_code, "UNAUTHORIZED", detail)
        if response.status_code != 200:
            raise RegistryError(f"the token endpoint answered {response.status_code}", response.status_code)
        try:
            body = response.json()
            token = body.get("token") or body.get("access_token")
            lifetime = float(body.get("expires_in") or 0)
        except (ValueError, AttributeError, TypeError):
            token, lifetime = None, 0
        if not token:
            raise RegistryError("the token endpoint answered without a token")
        self.tokens.put(scope_key(scopes), token, lifetime)

    def _learn_challenge(self, response: Response) -> Challenge | None:
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is not None:
            with self._lock:
                self._challenge = challenge
                self._challenge_known = True
        return challenge

    def ping(self) -> None:
        """GET /v2/: learns how the registry wants to be authenticated."""
        response = self.request("GET", "/v2/", scopes=(), ok=(200, 401), authenticate=False)
        if response.status_code == 401:
            self._learn_challenge(response)
        self._challenge_known = True

    # --- requests ---

    def send(self, method: str, url: str, scopes: tuple[str, ...], *,
             body: Callable[[], Any] | bytes | Iterator[bytes] | None = None, headers: dict[str, str] | None = None,
             params: dict[str, str] | list[tuple[str, str]] | None = None, stream: bool = False,
             authenticate: bool = True) -> Response:
        """One request with the auth flow and no retries; connection errors, 5xx and 429 raise Transient.

        ``body``: bytes, a callable that opens it afresh for each attempt, or an iterator of chunks (sent
        with chunked transfer encoding, once: a 401 then comes back to the caller rather than being
        answered with a new token and the request sent again)."""
        replayable = body is None or isinstance(body, bytes) or callable(body)
        url = self.absolute(url)
        refreshed = False
        challenge = self._challenge
        if authenticate and challenge is not None and challenge.scheme == "bearer" and self.credentials is not None \
                and self.tokens.get(scope_key(scopes)) is None:
            # The registry's way is known (ping): fetch the token first rather than learn again from a 401.
            self._fetch_token(challenge, scope_key(scopes))
        while True:
            all_headers = dict(headers or {})
            if authenticate:
                auth = self._auth_header(scopes)
                if auth:
                    all_headers["Authorization"] = auth
            data = body() if callable(body) else body
            try:
                response = self.session.request(method, url, data=data, headers=all_headers, params=params,
                                                stream=stream, timeout=self.timeout, allow_redirects=True)
            except HttpFailure as exc:
                raise Transient(f"{method} {self._display(url)} failed: {exc}") from None
            self._raise_transient(response, f"{method} {self._display(url)}")
            if response.status_code != 401 or not authenticate or refreshed or not replayable:
                return response
            challenge = self._learn_challenge(response)
            if challenge is None:
                return response
            response.close()
            refreshed = True
            if challenge.scheme == "bearer":
                wanted = scope_key(scopes + challenge.scopes)
                self.tokens.drop(scope_key(scopes))
                self._fetch_token(challenge, wanted)
                if wanted != scope_key(scopes):
                    token = self.tokens.get(wanted)
                    if token:
                        self.tokens.put(scope_key(scopes), token, None)
            elif self.credentials is None:
                return response

    def request(self, method: str, url: str, scopes: tuple[str, ...], *, ok: tuple[int, ...],
                **kwargs: Any) -> Response:
        """``send`` with retries; a status outside ``ok`` raises the matching RegistryError."""
        try:
            response = self.retry.call(self.send, method, url, scopes, **kwargs)
        except Transient as exc:
            raise RegistryUnavailable(f"{exc} (gave up after {self.retry.attempts} attempts)",
                                      exc.status) from None
        if response.status_code not in ok:
            raise self.error_for(response, f"{method} {self._display(self.absolute(url))}")
        return response

    def _raise_transient(self, response: Response, what: str) -> None:
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            detail = _first_message(response)
            response.close()
            raise Transient(f"{what} answered {response.status_code}" + (f" ({detail})" if detail else ""),
                            retry_after, response.status_code)

    def error_for(self, response: Response, what: str) -> RegistryError:
        errors = registry_errors(response)
        code = str(errors[0].get("code", "")) if errors else ""
        detail = _first_message(response)
        status = response.status_code
        text = f"{what} answered {status}" + (f" {code}" if code else "") + (f": {detail}" if detail else "")
        if status == 401:
            return AuthenticationFailed(text, status, code or "UNAUTHORIZED", detail)
        if status == 403:
            return AccessDenied(text, status, code or "DENIED", detail)
        if status == 404 and code == "NAME_UNKNOWN":
            return NameUnknown(text, status, code, detail)
        return RegistryError(text, status, code, detail)

    def _display(self, url: str) -> str:
        """A URL for messages: path only, no query (upload state and digests are noise there)."""
        return url.split("?", 1)[0].removeprefix(self.registry.base_url)


def _first_message(response: Response) -> str:
    errors = registry_errors(response)
    if errors:
        return str(errors[0].get("message", ""))[:500]
    return ""


def decode_json(response: Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        raise RegistryError(f"the registry answered invalid JSON ({response.status_code})") from None
