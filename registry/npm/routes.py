"""The npm registry API of a workspace, mounted at /npm/<workspace>/.

Scoped names arrive as ``@scope%2fname`` and aiohttp hands us the decoded path, so one catch-all
route dispatches on the path's shape: ``-/...`` endpoints first, then ``<name>`` forms. Every name,
version, tag and document is validated before it reaches storage.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar
from urllib.parse import quote

from aiohttp import web

from registry import audit
from registry.access.authn import AuthenticationFailed
from registry.access.models import Package, Right
from registry.access.store import NameReserved
from registry.content import StagedBlob
from registry.context import Services
from registry.httputil import external_base, is_json_body, read_limited, sent_by_another_site, serve_blob
from registry.npm import errors, login, names, packument, publish, tarball
from registry.npm.body import BadBody, BodyTooLarge, PutBodyReader
from registry.npm.errors import NpmError
from registry.npm.guard import NPM, authenticated, authorize
from registry.npm.store import NpmStore, StaleRevision, VersionExists, rev_string
from registry.quota import QuotaExceeded
from registry.storage.blobs import BlobNotFound
from vocab.names import is_valid_workspace

Handler = Callable[..., Awaitable[web.StreamResponse]]
T = TypeVar("T")
_NAME = r"(?P<name>(?:@[^/]+/)?[^/@][^/]*)"
BODY_BLOCK = 1024 * 1024
# The incremental parse builds objects in Python (about 1 µs a token): only tiny pieces stay on the loop.
INLINE_PARSE_BYTES = 4 * 1024
# PUT documents (without the tarball) bigger than this are parsed one at a time: see _PutBody.
LARGE_DOCUMENT_BYTES = 1024 * 1024
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MAX_DEPRECATION_CHARS = 1024
PACKUMENT_CACHE_SIZE = 2048
SEARCH_MAX_SIZE = 250
SEARCH_SCAN_LIMIT = 5000
# Parsing and checking a body this small takes less time on the event loop than handing it to a thread.
INLINE_WORK_BYTES = 256 * 1024
# A PUT this large carries a tarball: when the workspace has no storage left it is refused before its
# body is read (a smaller one may be a deprecation or an unpublish, which must go through).
QUOTA_PRECHECK_BYTES = 1024 * 1024


def _json(document: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(document).encode(), content_type="application/json",
                        headers=headers)


class _PutBody:
    """A PUT body read in blocks and parsed as it arrives (registry/npm/body.py): big blocks are parsed
    in a worker thread; the tarball's decoded bytes come out of ``attachment()``.

    The JSON document around the tarball is held as Python objects (several times its size), so a
    request whose document grows past LARGE_DOCUMENT_BYTES waits for ``large_documents`` (one at a
    time) before reading on, and keeps it until the request is done (``release``).
    """

    def __init__(self, request: web.Request, large_documents: asyncio.Lock) -> None:
        self.request = request
        self.reader = PutBodyReader(publish.MAX_DOCUMENT_BYTES, publish.MAX_TARBALL_TEXT)
        self._blocks = request.content.iter_chunked(BODY_BLOCK)
        self._large_documents = large_documents
        self._holding = False

    async def _in_turn(self, work: Callable[..., T], *args: object) -> T:
        """Parsing work, inline while the document is tiny, else in a worker thread (json.loads of the
        document happens at the early stop and at the end)."""
        reader = self.reader
        size = reader.document_size + reader.waiting_bytes + sum(len(a) for a in args if isinstance(a, bytes))
        if size > INLINE_PARSE_BYTES:
            return await asyncio.to_thread(work, *args)
        return work(*args)

    async def _feed(self, block: bytes) -> bytes:
        decoded = await self._in_turn(self.reader.feed, block)
        if not self._holding and self.reader.document_size > LARGE_DOCUMENT_BYTES:
            await self._large_documents.acquire()
            self._holding = True
        return decoded

    async def _close(self) -> None:
        await self._in_turn(self.reader.close)

    def release(self) -> None:
        if self._holding:
            self._large_documents.release()
            self._holding = False

    async def read_until_attachment(self) -> None:
        """Read until the tarball's data begins, or the whole body if it has none."""
        try:
            async for block in self._blocks:
                await self._feed(block)
                if self.reader.attachment_started:
                    return
            await self._close()
        except BodyTooLarge as exc:
            raise errors.too_large(str(exc)) from None
        except BadBody as exc:
            raise errors.bad_request(str(exc)) from None

    async def attachment(self) -> AsyncIterator[bytes]:
        """The tarball's bytes as they are decoded, then the rest of the body (parsed, not kept)."""
        decoded = await self._feed(b"")
        if decoded:
            yield decoded
        async for block in self._blocks:
            decoded = await self._feed(block)
            if decoded:
                yield decoded
        await self._close()


class NpmApi:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.store = NpmStore(svc.db)
        self.logins = login.WebLogins(svc.db)
        self._large_documents = asyncio.Lock()
        # Rendered packuments by (package id, form, registry URL): (revision, body, etag). A request
        # asks the database for the current revision only, and renders again when it moved.
        self._rendered: dict[tuple[int, str, str], tuple[int, bytes, str]] = {}
        self._routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
            (re.compile(r"^-/whoami\Z"), {"GET": self.whoami}),
            (re.compile(r"^-/ping\Z"), {"GET": self.ping}),
            (re.compile(r"^-/v1/search\Z"), {"GET": self.search}),
            (re.compile(r"^-/v1/login\Z"), {"POST": self.web_login_start}),
            (re.compile(r"^-/v1/login/session/(?P<session>[A-Za-z0-9_-]{20,100})\Z"),
             {"GET": self.web_login_page, "POST": self.web_login_submit}),
            (re.compile(r"^-/v1/login/done/(?P<session>[A-Za-z0-9_-]{20,100})\Z"), {"GET": self.web_login_done}),
            (re.compile(r"^-/user/org\.couchdb\.user:(?P<user>[^/]+)(?:/-rev/[^/]+)?\Z"), {"PUT": self.couch_login}),
            (re.compile(r"^-/user/token/[^/]+\Z"), {"DELETE": self.logout}),
            (re.compile(rf"^-/package/{_NAME}/dist-tags\Z"), {"GET": self.list_tags}),
            (re.compile(rf"^-/package/{_NAME}/dist-tags/(?P<tag>[^/]+)\Z"),
             {"PUT": self.set_tag, "POST": self.set_tag, "DELETE": self.remove_tag}),
            (re.compile(r"^-/npm/v1/security/(?:advisories/bulk|audits/quick)\Z"), {"POST": self.audit}),
            (re.compile(rf"^{_NAME}/-/(?P<filename>[^/]+)/-rev/(?P<rev>[^/]+)\Z"), {"DELETE": self.delete_tarball}),
            (re.compile(rf"^{_NAME}/-/(?P<filename>[^/]+)\Z"), {"GET": self.get_tarball, "HEAD": self.get_tarball}),
            (re.compile(rf"^{_NAME}/-rev/(?P<rev>[^/]+)\Z"), {"PUT": self.put_package, "DELETE": self.unpublish}),
            (re.compile(rf"^{_NAME}\Z"), {"GET": self.get_packument, "HEAD": self.get_packument,
                                         "PUT": self.put_package}),
            (re.compile(rf"^{_NAME}/(?P<ref>[^/]+)\Z"), {"GET": self.get_version}),
        ]

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/npm/{workspace}/{tail:.*}", self.dispatch)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            workspace = request.match_info["workspace"]
            if not is_valid_workspace(workspace):
                raise errors.not_found("no such workspace")
            tail = request.match_info["tail"]
            if tail == "":
                return await self.root(request, workspace)
            for pattern, methods in self._routes:
                match = pattern.match(tail)
                if match is None:
                    continue
                handler = methods.get(request.method)
                if handler is None:
                    raise NpmError(405, f"{request.method} is not supported here")
                params = match.groupdict()
                if "name" in params and not names.is_valid_name(params["name"]):
                    raise errors.bad_request(f"invalid package name {params['name'][:220]!r}")
                if request.method not in SAFE_METHODS and handler != self.web_login_submit:
                    self._refuse_browser_forgery(request)
                return await handler(request, workspace, **params)
            raise errors.not_found("no such npm registry endpoint")
        except NpmError as exc:
            return exc.response(request.method == "HEAD")
        except QuotaExceeded as exc:
            await audit.record_request(request, "push", outcome=f"refused: {exc}", workspace=exc.workspace,
                                       target=request.path[:300])
            return errors.forbidden(str(exc)).response(request.method == "HEAD")

    def _refuse_browser_forgery(self, request: web.Request) -> None:
        """A change must come from a client, not from a page of another site through a visitor's browser
        (which would send the Basic credentials it cached for this server). A browser asks before it
        sends a PUT or DELETE, or a POST with a JSON body, from another origin, and this server never
        says yes: so every POST must be JSON (as npm sends), and any request a browser marks as sent
        from another site is refused."""
        if sent_by_another_site(request, self.svc.settings.public_url):
            raise errors.forbidden("this request was sent by a page of another site; it was refused")
        if request.method == "POST" and not is_json_body(request):
            raise NpmError(415, "the request body must be JSON (Content-Type: application/json)")

    def registry_url(self, request: web.Request, workspace: str) -> str:
        return f"{external_base(request, self.svc.settings.public_url)}/npm/{workspace}"

    async def root(self, request: web.Request, workspace: str) -> web.StreamResponse:
        await authenticated(request, self.svc)
        return _json({"db_name": f"npm/{workspace}"})

    async def ping(self, request: web.Request, workspace: str) -> web.StreamResponse:
        return _json({})

    async def audit(self, request: web.Request, workspace: str) -> web.StreamResponse:
        # No advisory database here: an empty report, so `npm install` and `npm audit` do not fail.
        await authenticated(request, self.svc)
        return _json({})

    async def whoami(self, request: web.Request, workspace: str) -> web.StreamResponse:
        caller = await authenticated(request, self.svc)
        return _json({"username": caller.principal.name})

    # --- reading ---

    async def get_packument(self, request: web.Request, workspace: str, name: str) -> web.StreamResponse:
        package, _ = await authorize(request, self.svc, workspace, name, Right.READ)
        assert package is not None
        wants_abbreviated = (packument.ABBREVIATED in request.headers.get("Accept", "")
                             and "write" not in request.query)
        form = "abbreviated" if wants_abbreviated else "full"
        body, etag = await self._render(request, workspace, package, form)
        headers = {"ETag": etag, "Cache-Control": "private, max-age=0, must-revalidate",
                   "Vary": "Accept, Authorization"}
        if etag in request.headers.get("If-None-Match", "").replace(" ", "").split(","):
            return web.Response(status=304, headers=headers)
        content_type = packument.ABBREVIATED if wants_abbreviated else "application/json"
        if request.method == "HEAD":
            return web.Response(headers={**headers, "Content-Type": content_type, "Content-Length": str(len(body))})
        return web.Response(body=body, headers={**headers, "Content-Type": content_type})

    async def _render(self, request: web.Request, workspace: str, package: Package, form: str) -> tuple[bytes, str]:
        revision = await self.store.revision(package.id)
        if revision is None:
            raise errors.package_not_found(workspace, package.name)
        registry_url = self.registry_url(request, workspace)
        key = (package.id, form, registry_url)
        cached = self._rendered.get(key)
        if cached is not None and cached[0] == revision.rev:
            return cached[1], cached[2]
        versions = await self.store.versions(package.id)
        if not versions:
            raise errors.package_not_found(workspace, package.name)
        tags = await self.store.dist_tags(package.id)
        if form == "abbreviated":
            document = packument.abbreviated(registry_url, package.name, revision, versions, tags)
        else:
            newest = packument.latest(versions, tags)
            readme = await self.store.readme(package.id, newest.version) if newest else None
            document = packument.full(registry_url, package.id, package.name, revision, versions, tags, readme)
        body = packument.encode(document)
        etag = f'"{hashlib.sha256(body).hexdigest()[:40]}"'
        if len(self._rendered) >= PACKUMENT_CACHE_SIZE:
            del self._rendered[next(iter(self._rendered))]
        self._rendered[key] = (revision.rev, body, etag)
        return body, etag

    async def get_version(self, request: web.Request, workspace: str, name: str, ref: str) -> web.StreamResponse:
        package, _ = await authorize(request, self.svc, workspace, name, Right.READ)
        assert package is not None
        version = ref
        if not names.is_valid_version(ref):
            version = (await self.store.dist_tags(package.id)).get(ref, "")
        stored = await self.store.version(package.id, version) if version else None
        if stored is None:
            raise errors.not_found(f"version or tag {ref[:100]!r} of {name} not found")
        return _json(packument.version_document(self.registry_url(request, workspace), name, stored))

    async def get_tarball(self, request: web.Request, workspace: str, name: str,
                          filename: str) -> web.StreamResponse:
        package, caller = await authorize(request, self.svc, workspace, name, Right.READ)
        assert package is not None
        version = names.version_of_tarball(name, filename)
        digest = await self.store.tarball(package.id, version) if version else None
        if digest is None:
            raise errors.not_found(f"tarball {filename[:200]} of {name} not found")
        if request.method == "GET":
            await audit.record_pull(request, caller.principal, package, version)
        try:
            return await serve_blob(request, self.svc.blobs, digest, {"ETag": f'"{digest}"',
                                                                      "Cache-Control": "private, max-age=0"})
        except BlobNotFound:
            raise errors.not_found(f"tarball {filename[:200]} of {name} not found") from None

    async def list_tags(self, request: web.Request, workspace: str, name: str) -> web.StreamResponse:
        package, _ = await authorize(request, self.svc, workspace, name, Right.READ)
        assert package is not None
        return _json(await self.store.dist_tags(package.id))

    # --- publishing and changing ---

    async def _read_json(self, request: web.Request, limit: int) -> object:
        body = await read_limited(request, limit)
        if body is None:
            raise errors.too_large(f"the request is larger than {limit // (1024 * 1024)} MiB")
        try:
            return await asyncio.to_thread(json.loads, body) if len(body) > INLINE_WORK_BYTES else json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise errors.bad_request("the request body is not valid JSON") from None

    async def put_package(self, request: web.Request, workspace: str, name: str,
                          rev: str | None = None) -> web.StreamResponse:
        """``npm publish`` (a document with a tarball), or a change to the packument (``npm deprecate``,
        ``npm unpublish`` of one version): the body is parsed as it arrives, in bounded memory."""
        package, caller = await authorize(request, self.svc, workspace, name, Right.WRITE, create=rev is None)
        if request.content_length is not None and request.content_length > publish.MAX_PUBLISH_BYTES:
            raise errors.too_large(f"the request is larger than {publish.MAX_PUBLISH_BYTES // (1024 * 1024)} MiB")
        if package is not None and rev is None and (request.content_length or 0) > QUOTA_PRECHECK_BYTES:
            await self.svc.content.quota.budget(package.id)  # a full workspace refuses a publish before reading it
        body = _PutBody(request, self._large_documents)
        try:
            await body.read_until_attachment()
            reader = body.reader
            if reader.attachment_started:
                if rev is not None:
                    raise errors.bad_request("a change to an existing packument carries no tarball: use npm publish")
                return await self._publish(request, workspace, name, package, caller, body)
            document = reader.document()
            if isinstance(document, dict) and document.get("_attachments") and rev is None:
                head = publish.check_head(document, name)
                assert head is not None
                publish.check_attachment(document, name, head.version, reader.marker, 0)  # refuses: no tarball
            if package is None:
                raise errors.package_not_found(workspace, name)
            return await self._update(request, package, caller, document, rev)
        finally:
            body.release()

    async def _publish(self, request: web.Request, workspace: str, name: str, package: Package | None, caller,
                       body: _PutBody) -> web.StreamResponse:
        reader = body.reader
        # Cheap refusals first, from what came before the tarball (npm sends the version first): an
        # existing version or a wrong name costs no tarball read, no hashing and no inflating.
        early = publish.check_head(reader.document_so_far(), name, complete=False)
        if early is not None:
            publish.check_attachment_name(reader.attachment_name, name, early.version)
            if package is not None and await self.store.tarball(package.id, early.version) is not None:
                raise self._version_exists(name, early.version)
        try:
            staged = await self.svc.content.stage(body.attachment(), ("sha512", "sha1"))
        except BodyTooLarge as exc:
            raise errors.too_large(str(exc)) from None
        except BadBody as exc:
            raise errors.bad_request(str(exc)) from None
        try:
            return await self._publish_staged(request, workspace, name, package, caller, reader, staged)
        except BaseException:
            await self.svc.content.discard(staged)
            raise

    async def _publish_staged(self, request: web.Request, workspace: str, name: str, package: Package | None,
                              caller, reader: PutBodyReader, staged: StagedBlob) -> web.StreamResponse:
        document = reader.document()
        head = publish.check_head(document, name)
        assert head is not None and isinstance(document, dict)
        publish.check_attachment(document, name, head.version, reader.marker, staged.size)
        integrity = publish.integrity_of(staged.hexdigests["sha512"])
        shasum = staged.hexdigests["sha1"]
        publish.check_dist(head.manifest.get("dist"), integrity, shasum)
        if package is not None and await self.store.tarball(package.id, head.version) is not None:
            raise self._version_exists(name, head.version)
        facts = await self._inspect(staged)
        publish.check_tarball_names(facts, name, head.version)
        manifest = publish.version_document(name, head.version, head.manifest, facts, integrity, shasum)
        manifest["_npmUser"] = {"name": caller.principal.name}
        readme = publish.readme_of(document, head.manifest)
        if package is None:  # --auto-create: link it to the publishing pipeline token's repository
            assert caller.principal.repository_id is not None
            try:
                package = await self.svc.access.ensure_package(workspace, name, NPM, caller.principal.repository_id)
            except NameReserved as exc:
                raise errors.forbidden(str(exc)) from None
            await audit.record_request(request, "create", principal=caller.principal, package=package,
                                       detail="created by a publish (--auto-create)")
            if not await self.svc.controller.may(caller.principal, Right.WRITE, package):
                raise errors.package_not_found(workspace, name)
        package_id = package.id

        async def record(tx, digest: str) -> None:
            await self.store.add_version(tx, package_id, head.version, manifest, readme, digest, integrity, shasum,
                                         staged.size, head.tags)

        try:
            await self.svc.content.commit_staged(staged, package_id, record)
        except VersionExists:
            raise self._version_exists(name, head.version) from None
        await audit.record_request(request, "push", principal=caller.principal, package=package, target=head.version)
        return _json({"ok": True, "id": name}, status=201)

    async def _inspect(self, staged: StagedBlob) -> tarball.TarballFacts:
        """Inflate and check the stored tarball in a worker thread (with the caps of tarball.inspect)."""
        stream = self.svc.content.open_staged(staged)
        try:
            return await asyncio.to_thread(tarball.inspect, stream)
        except tarball.BadTarball as exc:
            raise errors.bad_request(f"tarball refused: {exc}") from None
        finally:
            await stream.aclose()

    @staticmethod
    def _version_exists(name: str, version: str) -> NpmError:
        return errors.forbidden(f"You cannot publish over the previously published versions: {version}. "
                                f"({name}@{version} already exists; publish a new version)")

    async def _release(self, package_id: int, digests: list[str]) -> None:
        """Unlink tarballs no version of the package uses any more (garbage collection frees them)."""
        for digest in digests:
            if not await self.store.digest_in_use(package_id, digest):
                await self.svc.content.unlink(package_id, digest)

    async def _update(self, request: web.Request, package: Package, caller, document: object, rev: str | None
                      ) -> web.StreamResponse:
        """A metadata PUT: npm deprecate, and npm unpublish of one version (the packument minus it)."""
        if not isinstance(document, dict) or not isinstance(document.get("versions"), dict):
            raise errors.bad_request("expected a packument with versions")
        if document.get("name", package.name) != package.name:
            raise errors.bad_request(f"the document names another package than {package.name}")
        incoming: dict = document["versions"]
        existing = {v.version: v for v in await self.store.versions(package.id)}
        added = [v for v in incoming if v not in existing]
        if added:
            raise errors.bad_request(f"version {str(added[0])[:100]} has no tarball here: publish it with npm publish")
        removed = [v for v in existing if v not in incoming]
        if removed:
            self._require_delete_enabled()
            if not await self.svc.controller.may(caller.principal, Right.ADMIN, package):
                raise errors.forbidden(f"unpublishing needs the admin role on repository {package.repository}")
        deprecations: dict[str, str | None] = {}
        for version, doc in incoming.items():
            if not isinstance(doc, dict):
                raise errors.bad_request(f"version {str(version)[:100]} is not a JSON object")
            message = doc.get("deprecated")
            if message is not None and not isinstance(message, str):
                raise errors.bad_request("deprecated must be a string")
            message = message[:MAX_DEPRECATION_CHARS] if message else None
            if message != existing[version].deprecated:
                deprecations[version] = message
        tags = document.get("dist-tags")
        if tags is not None and (not isinstance(tags, dict) or not all(
                names.is_valid_tag(t) and isinstance(v, str) for t, v in tags.items())):
            raise errors.bad_request("dist-tags must map valid tag names to versions")
        expected = rev or document.get("_rev")
        if expected is not None and not isinstance(expected, str):
            raise errors.bad_request("_rev must be a string")
        try:
            digests = await self.store.update(package.id, expected, deprecations, removed, tags)
        except StaleRevision:
            raise errors.conflict("Document update conflict: the package changed since it was read; "
                                  "try again") from None
        await self._release(package.id, digests)
        if removed:
            await audit.record_request(request, "delete", principal=caller.principal, package=package,
                                       target=", ".join(removed)[:300])
        return _json({"ok": True, "id": package.name})

    def _require_delete_enabled(self) -> None:
        if not self.svc.settings.delete_enabled:
            raise errors.forbidden("unpublishing is disabled on this registry")

    async def unpublish(self, request: web.Request, workspace: str, name: str, rev: str) -> web.StreamResponse:
        """``npm unpublish NAME --force``: the whole package is deleted, with retention (an admin can
        restore it with every version; its name stays reserved until then: registry/lifecycle.py)."""
        package, caller = await authorize(request, self.svc, workspace, name, Right.ADMIN)
        assert package is not None
        self._require_delete_enabled()
        revision = await self.store.revision(package.id)
        if revision is not None and rev != rev_string(package.id, revision):
            raise errors.conflict("Document update conflict: the package changed since it was read")
        await self.svc.lifecycle.delete_package(workspace, NPM, name, caller.principal)
        return _json({"ok": True, "id": name})

    async def delete_tarball(self, request: web.Request, workspace: str, name: str, filename: str,
                             rev: str) -> web.StreamResponse:
        """The second step of unpublishing one version: its tarball went with the version already."""
        package, _ = await authorize(request, self.svc, workspace, name, Right.ADMIN)
        assert package is not None
        self._require_delete_enabled()
        version = names.version_of_tarball(name, filename)
        if version is None:
            raise errors.not_found(f"tarball {filename[:200]} of {name} not found")
        if await self.store.tarball(package.id, version) is not None:
            raise errors.conflict(f"{name}@{version} is still published: unpublish the version first")
        return _json({"ok": True})

    async def set_tag(self, request: web.Request, workspace: str, name: str, tag: str) -> web.StreamResponse:
        if request.method == "POST" and not request.headers.get("Authorization", "").lower().startswith("bearer "):
            # npm itself PUTs; a POST is what a browser could be made to send with the Basic credentials
            # it cached, so POST takes only a token sent on purpose.
            raise NpmError(401, "POST to dist-tags takes a Bearer token (_authToken); npm uses PUT",
                           {"WWW-Authenticate": 'Bearer realm="packages-registry"'})
        package, _ = await authorize(request, self.svc, workspace, name, Right.WRITE)
        assert package is not None
        if not names.is_valid_tag(tag):
            raise errors.bad_request(f"invalid tag {tag[:100]!r}: a tag is a word that is not a version")
        version = await self._read_json(request, 4096)
        if not names.is_valid_version(version):
            raise errors.bad_request("the body must be a JSON string naming a version")
        assert isinstance(version, str)
        if not await self.store.set_tag(package.id, tag, version):
            raise errors.not_found(f"version {version} of {name} not found")
        return _json({"ok": True, "id": name}, status=201)

    async def remove_tag(self, request: web.Request, workspace: str, name: str, tag: str) -> web.StreamResponse:
        package, _ = await authorize(request, self.svc, workspace, name, Right.WRITE)
        assert package is not None
        if tag == "latest":
            raise errors.bad_request("the latest tag cannot be removed; point it at another version instead")
        if not await self.store.remove_tag(package.id, tag):
            raise errors.not_found(f"tag {tag[:100]} of {name} not found")
        return _json({"ok": True, "id": name})

    # --- search ---

    async def search(self, request: web.Request, workspace: str) -> web.StreamResponse:
        caller = await authenticated(request, self.svc)
        terms = request.query.get("text", "").lower().split()
        try:
            size = min(max(int(request.query.get("size", "20")), 0), SEARCH_MAX_SIZE)
            start = max(int(request.query.get("from", "0")), 0)
        except ValueError:
            raise errors.bad_request("size and from must be integers") from None
        visible, after = [], ""
        while len(visible) < SEARCH_SCAN_LIMIT:
            page = await self.svc.access.visible_packages(caller.principal, workspace=workspace, package_type=NPM,
                                                          after=after, limit=1000)
            visible += page
            if len(page) < 1000:
                break
            after = page[-1].full_name
        latest = await self.store.latest_versions([p.id for p in visible])
        registry_url = self.registry_url(request, workspace)
        matches = []
        for package in visible:
            stored = latest.get(package.id)
            if stored is None:
                continue
            manifest = stored.manifest
            keywords = manifest.get("keywords") if isinstance(manifest.get("keywords"), list) else []
            haystack = " ".join([package.name, str(manifest.get("description", "")), *map(str, keywords)]).lower()
            if all(term in haystack for term in terms):
                matches.append(self._search_object(registry_url, package, stored, keywords))
        return _json({"objects": matches[start:start + size], "total": len(matches),
                      "time": packument.iso(time.time())})

    @staticmethod
    def _search_object(registry_url: str, package: Package, stored, keywords: list) -> dict:
        manifest = stored.manifest
        scope = package.name[1:].split("/", 1)[0] if package.name.startswith("@") else "unscoped"
        publisher = manifest.get("_npmUser", {}).get("name", "") if isinstance(manifest.get("_npmUser"), dict) else ""
        return {
            "package": {
                "name": package.name, "scope": scope, "version": stored.version,
                "description": manifest.get("description", ""), "keywords": keywords,
                "date": packument.iso(stored.created_at),
                "links": {"npm": f"{registry_url}/{quote(package.name, safe='@/')}"},
                "publisher": {"username": publisher}, "maintainers": [{"username": publisher}],
            },
            "score": {"final": 1.0, "detail": {"quality": 1.0, "popularity": 1.0, "maintenance": 1.0}},
            "searchScore": 1.0,
            "flags": {},
        }

    # --- login ---

    async def couch_login(self, request: web.Request, workspace: str, user: str) -> web.StreamResponse:
        document = await self._read_json(request, 64 * 1024)
        if not isinstance(document, dict):
            raise errors.bad_request("expected a user document")
        try:
            username = await login.check_credentials(self.svc, document.get("name"), document.get("password"))
        except AuthenticationFailed as exc:
            raise errors.unauthorized(str(exc)) from None
        return _json({"ok": True, "id": f"org.couchdb.user:{username}", "token": document["password"]}, status=201)

    async def logout(self, request: web.Request, workspace: str) -> web.StreamResponse:
        # npm logout forgets the token locally; API tokens are revoked by their owner, not by a logout.
        await authenticated(request, self.svc)
        return _json({"ok": True})

    async def web_login_start(self, request: web.Request, workspace: str) -> web.StreamResponse:
        if not await self.svc.access.workspace_exists(workspace):
            raise errors.not_found(f"no workspace {workspace}")
        try:
            opened = await self.logins.open(workspace, request.remote or "")
        except login.TooManyLogins:
            raise errors.too_many("too many web logins from your address are waiting: finish or wait for one "
                                  "(they expire in 10 minutes), or log in with `npm login --auth-type=legacy`"
                                  ) from None
        base = self.registry_url(request, workspace)
        return _json({"loginUrl": f"{base}/-/v1/login/session/{opened.login_secret}",
                      "doneUrl": f"{base}/-/v1/login/done/{opened.done_secret}"})

    async def web_login_page(self, request: web.Request, workspace: str, session: str) -> web.StreamResponse:
        if not await self.logins.exists(workspace, session):
            return self._page(request, workspace, session, "This login link expired: run npm login again.", 404)
        return self._page(request, workspace, session)

    async def web_login_submit(self, request: web.Request, workspace: str, session: str) -> web.StreamResponse:
        if sent_by_another_site(request, self.svc.settings.public_url):
            return self._page(request, workspace, session, "This form was sent from another site; it was refused.",
                              403)
        try:
            form = await request.post()
        except (UnicodeDecodeError, ValueError):
            return self._page(request, workspace, session, "The form could not be read (it must be UTF-8).", 400)
        try:
            await login.check_credentials(self.svc, form.get("username"), form.get("token"))
        except AuthenticationFailed as exc:
            return self._page(request, workspace, session, str(exc), 401)
        if not await self.logins.complete(workspace, session, str(form["token"])):
            return self._page(request, workspace, session, "This login link expired: run npm login again.", 404)
        return self._page(request, workspace, session, done=True)

    def _page(self, request: web.Request, workspace: str, session: str, message: str = "", status: int = 200,
              done: bool = False) -> web.Response:
        text = login.login_page(f"/npm/{workspace}/-/v1/login/session/{session}",
                                self.registry_url(request, workspace), message, done)
        return web.Response(status=status, text=text, content_type="text/html",
                            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                     "X-Frame-Options": "DENY"})

    async def web_login_done(self, request: web.Request, workspace: str, session: str) -> web.StreamResponse:
        token = await self.logins.collect(workspace, session)
        if token is False:
            raise errors.not_found("no such login session (it expired or was used): run npm login again")
        if token is None:
            return _json({}, status=202, headers={"Retry-After": str(login.POLL_SECONDS)})
        return _json({"token": token}, headers={"Cache-Control": "no-store"})


def setup(app: web.Application, svc: Services) -> None:
    NpmApi(svc).add_routes(app)
