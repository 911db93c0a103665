"""The Maven repository handlers, mounted at /maven/<workspace>/.

GET and HEAD serve files, their checksums and the derived maven-metadata.xml; PUT deploys. A PUT
is authorised (and a release re-deploy refused) before its body is read: Maven sends
``Expect: 100-continue`` and waits, so a refusal costs no upload.
"""

from __future__ import annotations

import email.utils
import functools
from dataclasses import dataclass

from aiohttp import web
from aiohttp.web_urldispatcher import _default_expect_handler

from registry import audit
from registry.access.models import Package, Right
from registry.content import UploadNotFound
from registry.context import Services
from registry.httputil import SmallBlobs, body_chunks, read_limited, sent_by_another_site, serve_blob
from registry.maven import errors
from registry.maven.cache import Memo
from registry.maven.checksums import (
    HEX_LENGTHS,
    MAX_CHECKSUM_FILE,
    Checksums,
    StreamHasher,
    of_bytes,
    parse_checksum_file,
)
from registry.maven.errors import MavenError
from registry.maven.guard import authorize
from registry.maven.metadata import (
    MAX_UPLOADED_METADATA,
    InvalidMetadata,
    artifact_metadata,
    check_uploaded,
    snapshot_metadata,
)
from registry.maven.paths import InvalidPath, MavenPath, parse
from registry.maven.store import FileExists, MavenFile, MavenStore
from registry.offload import off_loop
from registry.quota import QuotaExceeded
from registry.storage.blobs import BlobNotFound
from registry.storage.database import Transaction
from vocab.names import is_valid_workspace

PREFIX = "/maven/"
# Whole small files (up to httputil.SMALL_READ: most poms and many jars) are kept in memory, within this
# budget, since resolvers fetch the same ones again and again.
SMALL_FILES_BUDGET = 64 * 1024 * 1024
# Deployed files up to this size (by their Content-Length) are read whole and stored and recorded in one
# transaction (ContentService.store_small); larger or unannounced ones stream through an upload session.
SMALL_UPLOAD = 1024 * 1024
_MISSING = object()
_PREPARED = web.RequestKey("maven_put", object)

CONTENT_TYPES = {
    "pom": "text/xml",
    "xml": "text/xml",
    "jar": "application/java-archive",
    "war": "application/java-archive",
    "ear": "application/java-archive",
    "module": "application/json",
    "json": "application/json",
    "asc": "text/plain",
}
# Headers some clients (Maven 3.9's resolver, Gradle) send with a PUT so the server can verify the body.
CHECKSUM_HEADERS = {"X-Checksum-Sha1": "sha1", "X-Checksum-Sha256": "sha256", "X-Checksum-Md5": "md5",
                    "X-Checksum-Sha512": "sha512"}


@dataclass(frozen=True, slots=True)
class _Target:
    workspace: str
    path: MavenPath


@dataclass(frozen=True, slots=True)
class _PreparedPut:
    target: _Target
    package: Package


_TARGETS = Memo(8192)  # raw path -> _Target: parsing is pure, and resolvers ask for the same paths often


def _target(request: web.Request) -> _Target:
    # The raw path, not the router's: a client's "..", "//" or "%2F" must be refused, not resolved.
    raw = request.raw_path.split("?", 1)[0]
    target = _TARGETS.get(raw)
    if target is None:
        target = _parse_target(raw)
        _TARGETS.put(raw, target)
    return target  # type: ignore[return-value]


def _parse_target(raw: str) -> _Target:
    if not raw.startswith(PREFIX):
        raise errors.invalid("not a canonical Maven repository path")
    workspace, _, tail = raw[len(PREFIX):].partition("/")
    if not is_valid_workspace(workspace):
        raise errors.not_found(f"workspace {workspace[:80]!r}")
    if not tail:
        raise errors.not_found("directory listing")
    try:
        return _Target(workspace, parse(tail))
    except InvalidPath as exc:
        raise errors.invalid(str(exc)) from None


@functools.lru_cache(maxsize=4096)
def _stamp(at: float) -> str:
    return email.utils.formatdate(at, usegmt=True)


def _check_claimed(request: web.Request, checksums: Checksums) -> None:
    """Refuse a body whose checksum headers (sent by some clients with a PUT) do not match it."""
    if (header := _claims_other_content(request, checksums)) is not None:
        raise errors.invalid(f"the body's {CHECKSUM_HEADERS[header]} does not match the {header} header")


def _claims_other_content(request: web.Request, checksums: Checksums) -> str | None:
    """The first checksum header of the request (if it sent any) that describes other content."""
    for header, algorithm in CHECKSUM_HEADERS.items():
        claimed = request.headers.get(header)
        if claimed is not None and claimed.strip().lower() != checksums.get(algorithm):
            return header
    return None


def _content_type(path: MavenPath) -> str:
    return CONTENT_TYPES.get(path.extension.rsplit(".", 1)[-1], "application/octet-stream")


class MavenApi:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.store = MavenStore(svc.db)
        self.small_files = SmallBlobs(SMALL_FILES_BUDGET)
        self.derived = Memo(8192)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/maven/{workspace}/{tail:.*}", self.dispatch, expect_handler=self.expect)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            if request.method in ("GET", "HEAD"):
                return await self.get(request, _target(request))
            if request.method == "PUT":
                prepared = request.get(_PREPARED)
                if not isinstance(prepared, _PreparedPut):
                    prepared = await self._prepare_put(request)
                return await self.put(request, prepared)
            raise MavenError(405, f"{request.method} is not supported by the Maven repository",
                             {"Allow": "GET, HEAD, PUT"})
        except MavenError as exc:
            return exc.response()
        except QuotaExceeded as exc:
            return await self._over_quota(request, exc)

    @staticmethod
    async def _over_quota(request: web.Request, exc: QuotaExceeded) -> web.Response:
        await audit.record_request(request, "push", outcome=f"refused: {exc}", workspace=exc.workspace,
                                   target=request.path[:300])
        return errors.denied(str(exc)).response()

    async def expect(self, request: web.Request) -> web.StreamResponse | None:
        """Answer ``Expect: 100-continue``: refuse a PUT now (unauthorised, unknown package, release
        already there) or let the client send its body."""
        if request.method == "PUT" and request.headers.get("Expect", "").lower() == "100-continue":
            try:
                request[_PREPARED] = await self._prepare_put(request)
            except (MavenError, QuotaExceeded) as exc:
                # The body was not read, and a client may send it all the same: closing the
                # connection keeps those bytes from being read as the next request.
                response = exc.response() if isinstance(exc, MavenError) else await self._over_quota(request, exc)
                response.force_close()
                return response
        await _default_expect_handler(request)
        return None

    # --- reads ---

    async def get(self, request: web.Request, target: _Target) -> web.StreamResponse:
        path = target.path
        package = await authorize(request, self.svc, target.workspace, path.package_name, Right.READ)
        if path.is_metadata:
            document = await self._metadata(package, path)
            if document is None:
                raise errors.not_found(path.location)
            headers = {"Cache-Control": "no-cache"}
            if path.checksum:
                return web.Response(text=of_bytes(document).get(path.checksum), content_type="text/plain",
                                    headers=headers)
            return web.Response(body=document, content_type="text/xml", charset="utf-8", headers=headers)
        file = await self._file(package, path)
        if file is None:
            raise errors.not_found(path.location)
        if path.checksum:
            return web.Response(text=file.checksums.get(path.checksum), content_type="text/plain",
                                headers={"Last-Modified": _stamp(file.created_at)})
        headers = {
            "ETag": f'"{file.checksums.sha1}"',
            "Last-Modified": _stamp(file.created_at),
            "X-Checksum-Sha1": file.checksums.sha1,
            "X-Checksum-Md5": file.checksums.md5,
            "X-Checksum-Sha256": file.checksums.sha256,
        }
        if request.method == "GET":
            await audit.record_pull(request, None, package, f"{path.version}/{path.filename}")
        try:
            return await serve_blob(request, self.svc.blobs, file.digest, headers, _content_type(path),
                                    memory=self.small_files)
        except BlobNotFound:
            raise errors.not_found(path.location) from None

    async def _file(self, package: Package, path: MavenPath) -> MavenFile | None:
        assert path.version is not None
        key = ("file", package.id, package.updated_at, path.version, path.filename)
        cached = self.derived.get(key, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        file = await self.store.get_file(package.id, path.version, path.filename)
        self.derived.put(key, file)
        return file

    async def _metadata(self, package: Package, path: MavenPath) -> bytes | None:
        key = ("metadata", package.id, package.updated_at, path.version)
        cached = self.derived.get(key, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        document = await self._derive_metadata(package, path)
        self.derived.put(key, document)
        return document

    async def _derive_metadata(self, package: Package, path: MavenPath) -> bytes | None:
        # Off the loop for a package of thousands of versions or files (about 100 bytes of XML each).
        if path.version is None:
            versions = await self.store.versions(package.id)
            return await off_loop(100 * len(versions), artifact_metadata, path.group_id, path.artifact_id,
                                  versions) if versions else None
        files = await self.store.files(package.id, path.version)
        return await off_loop(100 * len(files), snapshot_metadata, path.group_id, path.artifact_id, path.version,
                              files) if files else None

    # --- deploys ---

    async def _prepare_put(self, request: web.Request) -> _PreparedPut:
        if sent_by_another_site(request, self.svc.settings.public_url):
            # mvn never sends Origin or Sec-Fetch-Site; a browser that does was sent by another site's page.
            raise errors.denied("this request was sent by a page of another site; it was refused")
        target = _target(request)
        path = target.path
        package = await authorize(request, self.svc, target.workspace, path.package_name, Right.WRITE)
        is_release_file = not path.is_metadata and not path.checksum and not self._replaceable(path)
        if is_release_file and (file := await self._file(package, path)) is not None and \
                _claims_other_content(request, file.checksums) is not None:
            # Refused before the body comes when its checksum headers already say it differs; otherwise
            # the body decides (the same bytes again, a retried deploy, are welcome).
            raise self._release_exists(path)
        if not path.is_metadata and not path.checksum and request.content_length:
            # Refused by its announced length before a byte of the body is read (Expect: 100-continue).
            budget = await self.svc.content.quota.budget(package.id)
            if budget is not None:
                await budget.check(request.content_length)
        return _PreparedPut(target, package)

    def _replaceable(self, path: MavenPath) -> bool:
        return path.is_snapshot or self.svc.settings.allow_redeploy

    @staticmethod
    def _release_exists(path: MavenPath) -> MavenError:
        return errors.conflict(f"{path.location} already exists: released versions are immutable "
                               f"(deploy a new version)")

    async def put(self, request: web.Request, prepared: _PreparedPut) -> web.StreamResponse:
        path, package = prepared.target.path, prepared.package
        if path.checksum:
            return await self._put_checksum(request, package, path)
        if path.is_metadata:
            body = await read_limited(request, MAX_UPLOADED_METADATA)
            if body is None:
                raise MavenError(413, f"maven-metadata.xml is larger than {MAX_UPLOADED_METADATA} bytes")
            try:
                await off_loop(len(body), check_uploaded, body, path)
            except InvalidMetadata as exc:
                raise errors.invalid(str(exc)) from None
            # Accepted and set aside: the server derives the document from the files it holds.
            return web.Response(status=201)
        assert path.version is not None
        if request.content_length is not None and request.content_length <= SMALL_UPLOAD:
            return await self._put_small(request, package, path)
        hasher = StreamHasher()
        try:
            digest, info = await self.svc.content.store(package.id, hasher.through(body_chunks(request)))
        except UploadNotFound:
            raise MavenError(503, "the upload was interrupted by garbage collection: deploy again") from None
        checksums = hasher.result(digest.split(":", 1)[1])
        _check_claimed(request, checksums)
        try:
            await self.store.put_file(package.id, path.version, path.filename, digest, info.size, checksums,
                                      replace=self._replaceable(path))
        except FileExists:
            raise self._release_exists(path) from None
        await audit.record_request(request, "push", package=package, target=f"{path.version}/{path.filename}")
        return web.Response(status=201)

    async def _put_small(self, request: web.Request, package: Package, path: MavenPath) -> web.StreamResponse:
        """A body small enough to hold: checked whole, then stored and recorded in one transaction."""
        assert path.version is not None and request.content_length is not None
        data = await read_limited(request, request.content_length)
        if data is None or len(data) != request.content_length:
            raise errors.invalid("the body is not the length its Content-Length announced")
        checksums = await off_loop(len(data), of_bytes, data)
        _check_claimed(request, checksums)
        version, filename, replace = path.version, path.filename, self._replaceable(path)

        async def record(tx: Transaction, digest: str) -> None:
            await self.store.record_file(tx, package.id, version, filename, digest, len(data), checksums, replace)

        try:
            await self.svc.content.store_small(package.id, data, record)
        except FileExists:
            raise self._release_exists(path) from None
        await audit.record_request(request, "push", package=package, target=f"{path.version}/{path.filename}")
        return web.Response(status=201)

    async def _put_checksum(self, request: web.Request, package: Package, path: MavenPath) -> web.StreamResponse:
        assert path.checksum is not None
        body = await read_limited(request, MAX_CHECKSUM_FILE)
        value = parse_checksum_file(body, path.checksum) if body is not None else None
        if value is None:
            raise errors.invalid(f"not a {path.checksum} checksum: expected {HEX_LENGTHS[path.checksum]} hex digits")
        if path.is_metadata:
            return web.Response(status=201)  # the checksum of the client's document, set aside with it
        file = await self._file(package, path)
        if file is None:
            raise errors.conflict(f"{path.location} is not there: upload the file before its checksum")
        if file.checksums.get(path.checksum) != value:
            raise errors.invalid(f"{path.checksum} checksum {value} does not match {path.location}, whose "
                                 f"{path.checksum} is {file.checksums.get(path.checksum)}")
        # Nothing to store: checksums are served from the file's own, computed on upload.
        return web.Response(status=201)


def setup(app: web.Application, svc: Services) -> None:
    MavenApi(svc).add_routes(app)
