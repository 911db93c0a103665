"""The PyPI index of a workspace, mounted at /pypi/<workspace>/.

- ``POST /pypi/<ws>/`` (also ``.../legacy/``): the legacy upload API (twine, uv publish, Poetry)
- ``GET /pypi/<ws>/simple/`` and ``/simple/<project>/``: the Simple Repository API, HTML or JSON
- ``GET /pypi/<ws>/files/<project>/<filename>`` and ``<filename>.metadata``: files and core metadata
- ``GET /pypi/<ws>/pypi/<project>/json`` and ``/<version>/json``: warehouse's JSON API

Every answer is filtered by the one access check: the index lists only what the caller may read,
and a project the caller may not read answers exactly like one that does not exist.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from registry import audit
from registry.access.models import Package, Right
from registry.context import Services
from registry.httputil import SmallBlobs, external_base, sent_by_another_site, serve_blob
from registry.offload import INLINE_BYTES
from registry.pypi import errors, simple
from registry.pypi.distributions import (
    Distribution,
    InvalidDistribution,
    inspect,
    inspect_small_wheel,
    parse_filename,
)
from registry.pypi.errors import PypiError
from registry.pypi.guard import PYPI, authorize, caller_of
from registry.pypi.names import is_valid_project_name, normalize, parse_version
from registry.pypi.store import FileExists, PypiStore
from registry.pypi.upload import UploadedFile, UploadForm, file_chunks, receive
from registry.quota import QuotaExceeded
from registry.storage.blobs import BlobNotFound
from vocab.names import is_valid_workspace

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
INDEX_PAGE_LIMIT = 10_000
RENDERED_CACHE_SIZE = 4096
METADATA_BUDGET = 32 * 1024 * 1024
# Rendering a page of this many files takes more than a millisecond: it goes to a thread.
INLINE_FILES = 50
# The digests a client may declare (form field: algorithm), each checked against the file's own, taken
# once as it is staged (the content service's sha256 and these).
DIGEST_FIELDS = {"sha256_digest": "sha256", "md5_digest": "md5", "blake2_256_digest": "blake2b_256"}
STAGED_DIGESTS = ("md5", "blake2b_256")
METADATA_TYPE = "text/plain"


def _pypi_errors(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except PypiError as exc:
            return exc.response()
        except QuotaExceeded as exc:
            await audit.record_request(request, "push", outcome=f"refused: {exc}", workspace=exc.workspace,
                                       target=request.path[:300])
            return errors.denied(str(exc)).response()

    return wrapped


def _workspace(request: web.Request) -> str:
    workspace = request.match_info["workspace"]
    if not is_valid_workspace(workspace):
        raise errors.not_found(f"workspace {workspace[:80]!r}")
    return workspace


def _project(raw: str) -> str:
    if not is_valid_project_name(raw):
        raise errors.not_found(f"project {raw[:100]!r}")
    return normalize(raw)


class PypiApi:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.store = PypiStore(svc.db)
        self.metadata_files = SmallBlobs(METADATA_BUDGET)
        # Rendered documents by (package id, kind, base URL, content type): (package updated_at, body).
        self._rendered: dict[tuple, tuple[float, bytes]] = {}

    def add_routes(self, app: web.Application) -> None:
        add = app.router.add_route
        for path in ("/pypi/{workspace}/", "/pypi/{workspace}/legacy/"):
            add("POST", path, _pypi_errors(self.upload))
        add("GET", "/pypi/{workspace}/simple", _pypi_errors(self.slash))
        add("GET", "/pypi/{workspace}/simple/", _pypi_errors(self.index))
        add("GET", "/pypi/{workspace}/simple/{project}", _pypi_errors(self.slash))
        add("GET", "/pypi/{workspace}/simple/{project}/", _pypi_errors(self.project_page))
        add("GET", "/pypi/{workspace}/files/{project}/{filename}", _pypi_errors(self.file))
        add("GET", "/pypi/{workspace}/pypi/{project}/json", _pypi_errors(self.json_api))
        add("GET", "/pypi/{workspace}/pypi/{project}/{version}/json", _pypi_errors(self.json_api))

    # --- the Simple Repository API ---

    async def slash(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently(request.path + "/" + (f"?{request.query_string}" if request.query_string else ""))

    async def index(self, request: web.Request) -> web.StreamResponse:
        workspace = _workspace(request)
        caller = await caller_of(request, self.svc)
        content_type = _negotiated(request)
        packages = await self.svc.access.visible_packages(caller.principal, workspace=workspace, package_type=PYPI,
                                                          limit=INDEX_PAGE_LIMIT)
        base = f"{external_base(request, self.svc.settings.public_url)}/pypi/{workspace}/simple"
        body = simple.index_page([(p.name, f"{base}/{p.name}/") for p in packages], content_type)
        return _simple_response(body, content_type)

    async def project_page(self, request: web.Request) -> web.StreamResponse:
        workspace, raw = _workspace(request), request.match_info["project"]
        project = _project(raw)
        if raw != project:  # PEP 503: redirect to the normal form
            raise web.HTTPMovedPermanently(f"/pypi/{workspace}/simple/{project}/")
        content_type = _negotiated(request)
        package, _ = await authorize(request, self.svc, workspace, project, Right.READ)
        links = self._links(request, package)

        async def render() -> bytes:
            files = await self.store.files(package.id)
            versions = simple.sorted_versions(list(dict.fromkeys(f.version for f in files)))
            work = functools.partial(simple.project_page, package.name, files, versions, links, content_type)
            return await asyncio.to_thread(work) if len(files) > INLINE_FILES else work()

        body = await self._cached(package, ("simple", links.base, content_type), render)
        return _simple_response(body, content_type)

    # --- files ---

    async def file(self, request: web.Request) -> web.StreamResponse:
        workspace, project = _workspace(request), _project(request.match_info["project"])
        filename = request.match_info["filename"]
        wants_metadata = filename.endswith(".metadata")
        if wants_metadata:
            filename = filename[: -len(".metadata")]
        package, caller = await authorize(request, self.svc, workspace, project, Right.READ)
        if wants_metadata:
            found = await self.store.metadata_file(package.id, filename)
            if found is None:
                raise errors.not_found(f"file {filename[:200]!r}")
            digest, body = found
            headers = _immutable(digest)
            if body is not None:  # kept in the row (a server may answer a Range with the whole file)
                return web.Response(body=body, headers=headers, content_type=METADATA_TYPE, charset="utf-8")
        else:
            stored = await self.store.file(package.id, filename)
            if stored is None:
                raise errors.not_found(f"file {filename[:200]!r}")
            digest = stored.digest
            headers = {**_immutable(digest), "Content-Disposition": f'attachment; filename="{filename}"'}
            if request.method == "GET":
                await audit.record_pull(request, caller.principal, package, filename)
        try:
            return await serve_blob(request, self.svc.blobs, digest, headers,
                                    f"{METADATA_TYPE}; charset=utf-8" if wants_metadata else "application/octet-stream",
                                    memory=self.metadata_files if wants_metadata else None)
        except BlobNotFound:
            raise errors.not_found(f"file {filename[:200]!r}") from None

    # --- warehouse's JSON API ---

    async def json_api(self, request: web.Request) -> web.StreamResponse:
        workspace, raw = _workspace(request), request.match_info["project"]
        project = _project(raw)
        version = request.match_info.get("version")
        package, _ = await authorize(request, self.svc, workspace, project, Right.READ)
        links = self._links(request, package)
        base = external_base(request, self.svc.settings.public_url)
        project_url = f"{base}/pypi/{workspace}/simple/{project}/"

        async def render() -> bytes:
            versions = await self.store.versions(package.id)
            if version is not None and not any(v.version == version for v in versions):
                raise errors.not_found(f"version {version[:100]!r} of {project}")
            files = await self.store.files(package.id)

            def build() -> bytes:
                return json.dumps(simple.json_api(package.name, versions, files, links, project_url, version)).encode()

            # The document grows with every file and release (and decodes one release's metadata): built in
            # a thread, once per change.
            heavy = len(files) > INLINE_FILES or max((len(v.metadata_json) for v in versions), default=0) > INLINE_BYTES
            return await asyncio.to_thread(build) if heavy else build()

        body = await self._cached(package, ("json", links.base, version), render)
        return web.Response(body=body, content_type="application/json", headers={"Cache-Control": "no-cache"})

    # --- upload ---

    async def upload(self, request: web.Request) -> web.StreamResponse:
        workspace = _workspace(request)
        if sent_by_another_site(request, self.svc.settings.public_url):
            # A multipart POST is what a page of another site can make a browser send, with the Basic
            # credentials it keeps for us; twine, uv and Poetry send no Origin or Sec-Fetch-Site.
            raise errors.denied("uploads from a web page of another site are refused")
        caller = await caller_of(request, self.svc)
        limit = self.svc.settings.pypi_max_file_bytes
        if request.content_length is not None and request.content_length > limit + 16 * 1024 * 1024:
            raise errors.PypiError(413, f"the upload is larger than this index accepts ({limit} bytes per file)")
        target: dict[str, Package] = {}

        async def before_file(fields: dict[str, str], filename: str) -> None:
            """Cheap refusals before the file's bytes are read: who, which project, which file name."""
            try:
                name = parse_filename(filename) if filename else None
            except InvalidDistribution as exc:
                raise errors.invalid(str(exc)) from None
            project = normalize(fields.get("name") or (name.project if name else ""))
            if not project or not is_valid_project_name(project):
                raise errors.invalid("the upload names no valid project (form field 'name')")
            package, _ = await authorize(request, self.svc, workspace, project, Right.WRITE, caller)
            if name is not None and await self.store.file_exists(package.id, name.filename):
                raise errors.file_exists(name.filename)
            budget = await self.svc.content.quota.budget(package.id)  # a full workspace refuses before the file
            if budget is not None and request.content_length is not None:
                await budget.check(request.content_length)
            target["package"] = package

        form = await receive(request, self._spool_dir(), limit, before_file)
        try:
            actor = await audit.request_actor(request, caller.principal)
            return await self._accept(form, target.get("package"), caller.principal.name, actor)
        finally:
            if form.file is not None and form.file.path is not None:  # a spooled file (held in memory: nothing)
                await asyncio.to_thread(form.discard)

    async def _accept(self, form: UploadForm, package: Package | None, uploader: str,
                      actor: audit.Actor) -> web.StreamResponse:
        fields, uploaded = form.fields, form.file
        action = fields.get(":action", "file_upload")
        if action != "file_upload":
            raise errors.invalid(f"unsupported :action {action[:40]!r}: this index takes file_upload only")
        if fields.get("protocol_version", "1") != "1":
            raise errors.invalid("unsupported protocol_version: this index speaks version 1")
        if uploaded is None or package is None:
            raise errors.invalid("the upload has no file (form field 'content')")
        declared = {algorithm: fields[name].strip().lower() for name, algorithm in DIGEST_FIELDS.items()
                    if fields.get(name, "").strip()}
        if not declared:
            raise errors.invalid("the upload declares no digest of its file: send sha256_digest (twine, uv and "
                                 "Poetry do)")
        content = self.svc.content
        # A spooled (large) file is copied into the store while it is read (in a thread). A file held in
        # memory is handed to a thread that writes and syncs it, then hashed (on the loop when small) and
        # read (a small wheel on the loop, else in a thread), and the commit's statements run while it is
        # synced ("early"). A wheel's core metadata file goes into the file's row (PypiStore.record): no
        # file, sync and directory sync of its own. The checks come when all is known; a refused upload's
        # file is discarded.
        if uploaded.path is not None:
            staging = asyncio.ensure_future(content.stage(file_chunks(uploaded.path), STAGED_DIGESTS, seal=True))
        else:
            staging = asyncio.ensure_future(content.stage(uploaded.data, STAGED_DIGESTS, seal=True, early=True))
        try:
            if uploaded.data is not None:
                await staging  # its write under way, its digests taken
            inspected = _inspect_small(uploaded)
            if inspected is None:
                inspected = await asyncio.to_thread(_inspect, uploaded)
            staged = await staging
            dist = self._checked(fields, declared, package, staged.hexdigests, inspected)

            async def record(tx, digest: str) -> None:
                # The file's rows, and its audit entry, in the transaction that links its blob.
                await PypiStore.record(tx, package.id, dist, digest, staged.size, staged.hexdigests["md5"],
                                       staged.hexdigests["blake2b_256"], uploader)
                await audit.record_in(tx, "push", actor, package=package, target=uploaded.filename)

            await content.commit_staged(staged, package.id, record)
        except BaseException as exc:
            await asyncio.wait([staging])
            if not staging.cancelled() and staging.exception() is None:  # a committed blob left the upload area
                await content.discard(staging.result())
            if isinstance(exc, BlobNotFound):  # the staged bytes were taken by garbage collection meanwhile
                raise errors.PypiError(503, "the upload was interrupted by garbage collection: upload again"
                                       ) from None
            if isinstance(exc, FileExists):
                raise errors.file_exists(uploaded.filename) from None
            raise
        return web.Response(text="OK\n")

    @staticmethod
    def _checked(fields: dict[str, str], declared: dict[str, str], package: Package, hexdigests: dict[str, str],
                 inspected: Distribution | InvalidDistribution) -> Distribution:
        """The file's distribution once its digests (``hexdigests``, as ``declared``) and metadata agree with
        the form; else the refusal."""
        for algorithm, value in declared.items():
            if hexdigests[algorithm] != value:
                raise errors.invalid(f"the file's {algorithm} digest does not match the declared {algorithm} "
                                     "(was the upload cut short?)")
        if isinstance(inspected, InvalidDistribution):
            raise errors.invalid(str(inspected))
        dist = inspected
        if dist.name.project != normalize(package.name):
            raise errors.invalid(f"the file {dist.name.filename!r} is of project {dist.name.project!r}, not "
                                 f"{package.name!r}")
        form_version = parse_version(fields.get("version", ""))
        if normalize(fields.get("name", package.name)) != dist.name.project or (
                form_version is not None and form_version != dist.name.version):
            raise errors.invalid("the form's name and version do not match the file's own metadata "
                                 f"({dist.name.project} {dist.version})")
        return dist

    # --- helpers ---

    def _spool_dir(self) -> Path:
        return self.svc.settings.data_dir / "spool" / "pypi"

    def _links(self, request: web.Request, package: Package) -> simple.FileLinks:
        base = external_base(request, self.svc.settings.public_url)
        return simple.FileLinks(f"{base}/pypi/{package.workspace}/files/{package.name}")

    async def _cached(self, package: Package, key: tuple, render: Callable[[], Awaitable[bytes]]) -> bytes:
        full_key = (package.id, *key)
        hit = self._rendered.get(full_key)
        if hit is not None and hit[0] == package.updated_at:
            return hit[1]
        body = await render()
        if len(self._rendered) >= RENDERED_CACHE_SIZE:
            self._rendered.pop(next(iter(self._rendered)))
        self._rendered[full_key] = (package.updated_at, body)
        return body


def _inspect_small(uploaded: UploadedFile) -> Distribution | InvalidDistribution | None:
    """``_inspect`` on the loop for a small wheel in hand; None for any other file."""
    if uploaded.data is None:
        return None
    try:
        return inspect_small_wheel(uploaded.data, uploaded.filename)
    except InvalidDistribution as exc:
        return exc


def _inspect(uploaded: UploadedFile) -> Distribution | InvalidDistribution:
    """Blocking (in a thread): what the file is. An unreadable file is returned, not raised, so that a
    wrong digest (a cut upload) is what the client hears first."""
    try:
        return inspect(uploaded.data if uploaded.data is not None else uploaded.path, uploaded.filename)
    except InvalidDistribution as exc:
        return exc


def _immutable(digest: str) -> dict[str, str]:
    """Headers of a file served by its name, which never changes content (PyPI never replaces a file)."""
    return {"ETag": f'"{digest.split(":", 1)[1]}"', "Cache-Control": "max-age=31536000, immutable"}


def _negotiated(request: web.Request) -> str:
    content_type = simple.negotiate(request.headers.get("Accept"))
    if content_type is None:
        raise errors.PypiError(406, f"this index serves {', '.join(simple.SERVED_TYPES)}")
    return content_type


def _simple_response(body: bytes, content_type: str) -> web.Response:
    response = web.Response(body=body, headers={"Vary": "Accept", "Cache-Control": "max-age=0, no-cache"})
    response.content_type = content_type
    if content_type != simple.SIMPLE_JSON:
        response.charset = "utf-8"
    return response


def setup(app: web.Application, svc: Services) -> None:
    PypiApi(svc).add_routes(app)
