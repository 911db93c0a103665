"""Blob and manifest operations on one registry, over a Transport.

Uploads: small blobs go in one PUT; large ones in chunked PATCHes (Content-Range). A chunk that
fails on the way (a dropped connection, a 5xx) is not simply resent: the client asks the upload
session how far the registry got (GET -> ``Range: 0-N``) and continues from there.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPException
from typing import BinaryIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pipe.oci.auth import scope_for
from pipe.oci.errors import RegistryError, RegistryUnavailable, UploadFailed
from pipe.oci.session import Response
from pipe.oci.transport import RetryPolicy, Transient, Transport, decode_json
from vocab.digests import digest_bytes
from vocab.mediatypes import ACCEPT_MANIFESTS

log = logging.getLogger("pipe.oci")

CHUNK_SIZE = 32 * 1024 * 1024
MIN_CHUNK_SIZE = 1024 * 1024
MONOLITHIC_LIMIT = 4 * 1024 * 1024
READ_BLOCK = 1024 * 1024
_RANGE_RE = re.compile(r"^(?:bytes=)?0-(\d+)\Z")

Progress = Callable[[int], None]


def with_query(url: str, **params: str) -> str:
    """Add query parameters to a URL that may already carry some (Location headers often do)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


class _Slice(io.RawIOBase):
    """``length`` bytes of a file from ``offset``; reports progress as the connection reads it."""

    def __init__(self, opener: Callable[[], BinaryIO], offset: int, length: int,
                 progress: Progress | None) -> None:
        self._file = opener()
        self._file.seek(offset)
        self._left = length
        self._length = length
        self._progress = progress

    def __len__(self) -> int:
        return self._length

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._file.read(min(size, max(READ_BLOCK, size)))
        self._left -= len(data)
        if self._progress and data:
            self._progress(len(data))
        return data

    def close(self) -> None:
        self._file.close()
        super().close()


@dataclass
class Manifest:
    body: bytes
    media_type: str
    digest: str


class RegistryClient:
    def __init__(self, transport: Transport, chunk_size: int = CHUNK_SIZE,
                 max_resumes: int = 8) -> None:
        self.transport = transport
        self.chunk_size = chunk_size
        self.max_resumes = max_resumes

    @property
    def retry(self) -> RetryPolicy:
        return self.transport.retry

    @staticmethod
    def push_scopes(name: str, *sources: str) -> tuple[str, ...]:
        return (scope_for(name, "pull,push"), *(scope_for(s, "pull") for s in sources if s != name))

    def check_push(self, name: str) -> None:
        """Fail now, not after a build, when ``name`` does not exist or these credentials may not push to it.

        Asking the token endpoint for push is not enough: it may grant less than asked for without
        saying so. Starting an upload is what a push does first (it fetches the push token too); the
        session is then cancelled.
        """
        self.transport.ping()
        location = self.start_upload(name)
        try:
            self.transport.send("DELETE", location, self.push_scopes(name))
        except (Transient, RegistryError) as exc:
            log.debug(f"an unused upload session was left to the registry to collect: {exc}")

    # --- blobs ---

    def blob_size(self, name: str, digest: str) -> int | None:
        """The blob's size if the repository has it, else None."""
        response = self.transport.request("HEAD", f"/v2/{name}/blobs/{digest}", self.push_scopes(name),
                                          ok=(200, 404))
        if response.status_code == 404:
            return None
        try:
            return int(response.headers.get("Content-Length", "-1"))
        except ValueError:
            return -1

    def get_blob(self, name: str, digest: str, limit: int = 16 * 1024 * 1024) -> bytes:
        response = self.transport.request("GET", f"/v2/{name}/blobs/{digest}", self.push_scopes(name),
                                          ok=(200,), stream=True)
        try:
            data = response.raw.read(limit + 1)
        except (OSError, HTTPException) as exc:
            raise RegistryUnavailable(f"the download of blob {short(digest)} broke off ({type(exc).__name__})") from None
        finally:
            response.close()
        if len(data) > limit:
            raise RegistryError(f"blob {digest} is larger than expected")
        return data

    @contextmanager
    def open_blob(self, name: str, digest: str) -> Iterator[BinaryIO]:
        """A blob's bytes as a stream (for blobs too large to hold in memory)."""
        response = self.transport.request("GET", f"/v2/{name}/blobs/{digest}", self.push_scopes(name),
                                          ok=(200,), stream=True)
        try:
            yield response.raw
        finally:
            response.close()

    def mount(self, name: str, digest: str, source: str) -> str | None:
        """Mount ``digest`` from ``source``: None when mounted, else the Location of an upload to use."""
        response = self.transport.request(
            "POST", f"/v2/{name}/blobs/uploads/", self.push_scopes(name, source),
            params={"mount": digest, "from": source}, ok=(201, 202))
        if response.status_code == 201:
            return None
        return self.transport.absolute(response.headers["Location"])

    def start_upload(self, name: str) -> str:
        response = self.transport.request("POST", f"/v2/{name}/blobs/uploads/", self.push_scopes(name),
                                          ok=(202,), headers={"Content-Length": "0"})
        location = response.headers.get("Location")
        if not location:
            raise RegistryError("the registry started an upload without a Location")
        return self.transport.absolute(location)

    def upload(self, name: str, digest: str, size: int, opener: Callable[[], BinaryIO],
               progress: Progress | None = None, location: str | None = None) -> None:
        """Upload a blob whose content ``opener()`` returns, resuming after failures."""
        if size <= min(MONOLITHIC_LIMIT, self.chunk_size):
            self._upload_monolithic(name, digest, size, opener, progress, location)
        else:
            self._upload_chunked(name, digest, size, opener, progress, location)

    def upload_stream(self, name: str, chunks: Iterable[bytes], digest: Callable[[], str],
                      progress: Progress | None = None) -> None:
        """Upload a blob whose bytes are still being made: one PATCH whose body is sent as it comes
        (chunked transfer encoding, as docker push sends a layer), then the digest.

        One request per layer, not one per few megabytes: each request costs the registry an
        authorisation and its upload session's bookkeeping. No resume here: after a failure the session
        is cancelled and the exception raised, for the caller to upload the blob again from a file
        (``upload``).
        """
        scopes = self.push_scopes(name)
        location = self.start_upload(name)
        sent = 0

        def counted() -> Iterator[bytes]:
            nonlocal sent
            for chunk in chunks:
                if chunk:
                    yield chunk
                    sent += len(chunk)
                    if progress:
                        progress(len(chunk))

        try:
            response = self.transport.send("PATCH", location, scopes, body=counted(),
                                           headers={"Content-Type": "application/octet-stream"})
            if response.status_code != 202:
                raise self._upload_error(response, "a streamed layer")
            location = self.transport.absolute(response.headers.get("Location") or location)
            response = self.transport.send("PUT", with_query(location, digest=digest()), scopes,
                                           headers={"Content-Length": "0"})
            if response.status_code != 201:
                raise self._upload_error(response, digest())
        except BaseException:
            if progress and sent:
                progress(-sent)  # counted again by the upload that replaces this one
            try:
                self.transport.send("DELETE", location, scopes)
            except (Transient, RegistryError) as exc:
                log.debug(f"an unused upload session was left to the registry to collect: {exc}")
            raise

    def _upload_monolithic(self, name: str, digest: str, size: int, opener: Callable[[], BinaryIO],
                           progress: Progress | None, location: str | None) -> None:
        scopes = self.push_scopes(name)
        for attempt in range(self.retry.attempts):
            location = location or self.start_upload(name)
            try:
                with opener() as handle:
                    data = handle.read()
                response = self.transport.send(
                    "PUT", with_query(location, digest=digest), scopes, body=data,
                    headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
            except Transient as exc:
                if self.blob_size(name, digest) is not None:
                    return
                if attempt + 1 >= self.retry.attempts:
                    raise RegistryUnavailable(f"upload of {short(digest)} failed: {exc}") from None
                log.warning(f"upload of {short(digest)} failed ({exc}); starting again")
                time.sleep(self._backoff(attempt))
                location = None
                continue
            if response.status_code == 201:
                if progress:
                    progress(size)
                return
            raise self._upload_error(response, digest)

    def _upload_chunked(self, name: str, digest: str, size: int, opener: Callable[[], BinaryIO],
                        progress: Progress | None, location: str | None) -> None:
        scopes = self.push_scopes(name)
        location = location or self.start_upload(name)
        offset = 0
        failures = 0  # in a row, without progress
        chunk_size = self.chunk_size
        while True:
            counted = _Counter(progress)
            chunk_start = offset
            try:
                if offset < size:
                    end = min(offset + chunk_size, size)
                    response = self.transport.send(
                        "PATCH", location, scopes,
                        body=lambda o=offset, e=end, c=counted: _Slice(opener, o, e - o, c),
                        headers={"Content-Type": "application/octet-stream",
                                 "Content-Range": f"{offset}-{end - 1}", "Content-Length": str(end - offset)})
                    if response.status_code != 202:
                        raise self._upload_error(response, digest)
                    location = self.transport.absolute(response.headers.get("Location", location))
                    offset = end
                    failures = 0
                    continue
                response = self.transport.send("PUT", with_query(location, digest=digest), scopes,
                                               headers={"Content-Length": "0"})
                if response.status_code == 201:
                    return
                raise self._upload_error(response, digest)
            except Transient as exc:
                failures += 1
                # A registry drops a chunk that did not arrive whole: on a link that keeps dropping,
                # smaller chunks still get through.
                chunk_size = max(MIN_CHUNK_SIZE, chunk_size // 4)
                if failures > self.max_resumes:
                    raise RegistryUnavailable(f"upload of {short(digest)} failed {failures} times: {exc}") from None
                time.sleep(self._backoff(failures - 1))
                if offset >= size and self.blob_size(name, digest) is not None:
                    return  # the final PUT went through; only its answer was lost
                resumed = self._resume_point(name, location)
                if resumed is None:
                    log.warning(f"upload of {short(digest)} interrupted ({exc}); the session is gone, starting again")
                    location, offset = self.start_upload(name), 0
                else:
                    if resumed[1] > offset:
                        failures = 0
                    location, offset = resumed
                    log.warning(f"upload of {short(digest)} interrupted ({exc}); resuming at byte {offset} of {size}")
                if progress and counted.total:
                    # Take back what was counted as sent but did not reach the registry.
                    progress(-(counted.total - min(counted.total, max(0, offset - chunk_start))))

    def _resume_point(self, name: str, location: str) -> tuple[str, int] | None:
        """(location, next offset) of an upload session, or None if the registry no longer knows it."""
        try:
            response = self.transport.request("GET", location, self.push_scopes(name), ok=(204, 404))
        except RegistryError:
            return None
        if response.status_code == 404:
            return None
        match = _RANGE_RE.match(response.headers.get("Range", "").strip())
        offset = int(match.group(1)) + 1 if match else 0
        if match and int(match.group(1)) == 0:
            offset = 0  # "0-0" is what registries say for an empty session; a 1-byte one is resent whole
        return self.transport.absolute(response.headers.get("Location", location)), offset

    def _backoff(self, attempt: int) -> float:
        return min(self.retry.initial * (2 ** attempt), self.retry.maximum)

    def _upload_error(self, response: Response, digest: str) -> RegistryError:
        error = self.transport.error_for(response, f"upload of {short(digest)}")
        if error.code in ("DIGEST_INVALID", "BLOB_UPLOAD_INVALID", "SIZE_INVALID"):
            return UploadFailed(error.message, error.status, error.code, error.detail)
        return error

    # --- manifests ---

    def get_manifest(self, name: str, reference: str) -> Manifest | None:
        response = self.transport.request("GET", f"/v2/{name}/manifests/{reference}", self.push_scopes(name),
                                          ok=(200, 404), headers={"Accept": ACCEPT_MANIFESTS})
        if response.status_code == 404:
            return None
        body = response.content
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if not media_type:
            media_type = str(decode_json(response).get("mediaType", ""))
        return Manifest(body, media_type, digest_bytes(body))

    def referrers(self, name: str, digest: str) -> list[dict]:
        """The OCI 1.1 referrers of a manifest; none from a registry without the referrers API."""
        response = self.transport.request("GET", f"/v2/{name}/referrers/{digest}", self.push_scopes(name),
                                          ok=(200, 404, 400), headers={"Accept": "application/vnd.oci.image.index.v1+json"})
        if response.status_code != 200:
            return []
        document = decode_json(response)
        manifests = document.get("manifests") if isinstance(document, dict) else None
        return [item for item in manifests or [] if isinstance(item, dict) and item.get("digest")]

    def put_manifest(self, name: str, reference: str, body: bytes, media_type: str) -> str:
        response = self.transport.request("PUT", f"/v2/{name}/manifests/{reference}", self.push_scopes(name),
                                          ok=(201,), body=body, headers={"Content-Type": media_type})
        return response.headers.get("Docker-Content-Digest") or digest_bytes(body)


class _Counter:
    def __init__(self, progress: Progress | None) -> None:
        self.total = 0
        self._progress = progress

    def __call__(self, n: int) -> None:
        self.total += n
        if self._progress:
            self._progress(n)


def short(digest: str) -> str:
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}:{hex_part[:12]}"
