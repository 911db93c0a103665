"""The OCI Distribution API handlers, mounted at /v2/.

Repository names contain slashes, so one catch-all route dispatches on the
path's shape. Every input is validated before it reaches storage: names and
tags by the spec's grammar, digests by algorithm and length, upload ids as
UUIDs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web

from registry import audit
from registry.access.authn import Caller
from registry.access.models import Package, Right
from registry.access.store import NameReserved
from registry.content import DigestMismatch, RangeMismatch, TooManyUploads, UploadNotFound
from registry.context import Services
from registry.httputil import body_chunks, read_limited, serve_blob
from registry.immutable import ImmutableTag
from registry.oci import errors, manifests
from registry.oci.errors import OciError
from registry.oci.guard import CONTAINER, SCOPE_ACTIONS, authorize, caller_of, challenge, token_allows
from registry.oci.signatures import PullPolicy, SignatureVerifier
from registry.oci.store import OciStore
from registry.offload import off_loop
from registry.quota import QuotaExceeded
from registry.storage.blobs import BlobNotFound
from registry.trust import TrustStore
from vocab import mediatypes
from vocab.digests import Digest, InvalidDigest, digest_bytes, is_digest
from vocab.names import is_valid_name, is_valid_tag

API_HEADERS = {"Docker-Distribution-API-Version": "registry/2.0"}
MAX_PAGE = 1000
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_CONTENT_RANGE_RE = re.compile(r"(?:bytes )?([0-9]{1,19})-([0-9]{1,19})(?:/[0-9]+|/\*)?")
_PAGE_SIZE_RE = re.compile(r"[0-9]+")

Handler = Callable[..., Awaitable[web.StreamResponse]]


def _parse_digest(value: str) -> Digest:
    try:
        return Digest.parse(value)
    except InvalidDigest as exc:
        raise errors.digest_invalid(str(exc)) from None


def _page_size(request: web.Request) -> int:
    raw = request.query.get("n")
    if raw is None:
        return MAX_PAGE
    if not _PAGE_SIZE_RE.fullmatch(raw):  # ASCII digits only: "²".isdigit() is true, int("²") fails
        raise OciError("PAGINATION_NUMBER_INVALID", "n must be a non-negative integer", 400)
    return MAX_PAGE if len(raw) > 9 else min(int(raw), MAX_PAGE)  # int() refuses 4,300 digits and more


def _next_link(path: str, n: int, last: str) -> str:
    return f'<{path}?{urlencode({"n": n, "last": last})}>; rel="next"'


class OciApi:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.store = OciStore(svc.db)
        self.pull_policy = PullPolicy(self.store, SignatureVerifier(self.store, svc.blobs), TrustStore(svc.db))
        self._routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
            (re.compile(r"^(?P<name>.+)/blobs/uploads/?\Z"), {"POST": self.start_upload}),
            (re.compile(rf"^(?P<name>.+)/blobs/uploads/(?P<upload>{_UUID})\Z"),
             {"GET": self.upload_status, "PATCH": self.upload_chunk, "PUT": self.finish_upload,
              "DELETE": self.cancel_upload}),
            (re.compile(r"^(?P<name>.+)/blobs/(?P<digest>[^/]+)\Z"),
             {"GET": self.get_blob, "HEAD": self.get_blob, "DELETE": self.delete_blob}),
            (re.compile(r"^(?P<name>.+)/manifests/(?P<reference>[^/]+)\Z"),
             {"GET": self.get_manifest, "HEAD": self.get_manifest, "PUT": self.put_manifest,
              "DELETE": self.delete_manifest}),
            (re.compile(r"^(?P<name>.+)/tags/list\Z"), {"GET": self.list_tags}),
            (re.compile(r"^(?P<name>.+)/referrers/(?P<digest>[^/]+)\Z"), {"GET": self.referrers}),
        ]

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/v2", self.base)
        app.router.add_route("*", "/v2/{tail:.*}", self.dispatch)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        head = request.method == "HEAD"
        try:
            tail = request.match_info["tail"]
            if tail == "":
                return await self.base(request)
            if tail == "_catalog":
                return await self.catalog(request)
            for pattern, methods in self._routes:
                match = pattern.match(tail)
                if match is None:
                    continue
                handler = methods.get(request.method)
                if handler is None:
                    raise errors.unsupported(f"{request.method} is not supported here")
                params = match.groupdict()
                if not is_valid_name(params["name"]) or "/" not in params["name"]:
                    raise errors.name_invalid()
                return await handler(request, **params)
            raise OciError("NOT_FOUND", "no such API endpoint", 404)
        except OciError as exc:
            return exc.response(head)
        except (QuotaExceeded, ImmutableTag) as exc:
            await audit.record_request(request, "delete" if request.method == "DELETE" else "push",
                                       outcome=f"refused: {exc}", workspace=request.match_info["tail"].split("/", 1)[0],
                                       target=request.path[:300])
            return errors.denied(str(exc)).response(head)

    async def base(self, request: web.Request) -> web.StreamResponse:
        try:
            caller = await caller_of(request, self.svc, None)
            if caller.principal.is_anonymous:
                raise challenge(request, self.svc, None)
        except OciError as exc:
            return exc.response(request.method == "HEAD")
        return web.json_response({}, headers=API_HEADERS)

    # --- blobs ---

    async def get_blob(self, request: web.Request, name: str, digest: str) -> web.StreamResponse:
        package, _ = await authorize(request, self.svc, name, Right.READ)
        assert package is not None
        parsed = _parse_digest(digest)
        if await self.svc.content.linked_blob(package.id, str(parsed)) is None:
            raise errors.blob_unknown(digest)
        try:
            return await serve_blob(request, self.svc.blobs, str(parsed),
                                    {**API_HEADERS, "Docker-Content-Digest": str(parsed), "ETag": f'"{parsed}"'})
        except BlobNotFound:
            raise errors.blob_unknown(digest) from None

    async def delete_blob(self, request: web.Request, name: str, digest: str) -> web.StreamResponse:
        self._require_delete_enabled()
        package, caller = await authorize(request, self.svc, name, Right.ADMIN)
        assert package is not None
        parsed = _parse_digest(digest)
        if not await self.svc.content.unlink(package.id, str(parsed)):
            raise errors.blob_unknown(digest)
        await audit.record_request(request, "delete", principal=caller.principal, package=package,
                                   target=f"blob {parsed}")
        return web.Response(status=202, headers=API_HEADERS)

    # --- uploads ---

    async def _writable_package(self, request: web.Request, name: str) -> tuple[Package, Caller]:
        """The package a push writes to, and the caller (authenticated once for the whole request)."""
        package, caller = await authorize(request, self.svc, name, Right.WRITE)
        if package is None:
            # --auto-create: link the new package to the pushing pipeline token's repository.
            workspace, image = name.split("/", 1)
            assert caller.principal.repository_id is not None
            try:
                package = await self.svc.access.ensure_package(workspace, image, CONTAINER,
                                                               caller.principal.repository_id)
            except NameReserved as exc:
                raise errors.denied(str(exc)) from None
            await audit.record_request(request, "create", principal=caller.principal, package=package,
                                       detail="created by a push (--auto-create)")
            if not await self.svc.controller.may(caller.principal, Right.WRITE, package):
                raise errors.name_unknown(name)  # someone else created it meanwhile, elsewhere
        return package, caller

    def _upload_headers(self, name: str, upload_id: str, size: int) -> dict[str, str]:
        return {
            **API_HEADERS,
            "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
            "Range": f"0-{max(size - 1, 0)}",
            "Docker-Upload-UUID": upload_id,
        }

    async def start_upload(self, request: web.Request, name: str) -> web.StreamResponse:
        package, caller = await self._writable_package(request, name)
        package_id = package.id
        query = request.query
        if "mount" in query:
            mounted = await self._mount(request, caller, name, package_id, query["mount"], query.get("from", ""))
            if mounted is not None:
                return mounted
        if "digest" in query:
            digest = _parse_digest(query["digest"])
            try:
                await self.svc.content.store(package_id, body_chunks(request), digest)
            except DigestMismatch as exc:
                raise errors.digest_invalid(str(exc)) from None
            except UploadNotFound:
                raise errors.blob_upload_unknown() from None  # gc with no grace dropped it mid-way
            return self._blob_created(name, str(digest))
        try:
            upload_id = await self.svc.content.start_upload(package_id, caller.principal.credential_id)
        except TooManyUploads as exc:
            raise errors.too_many_requests(str(exc), exc.retry_after) from None
        return web.Response(status=202, headers=self._upload_headers(name, upload_id, 0))

    async def _mount(self, request: web.Request, caller: Caller, name: str, package_id: int, digest: str,
                     source: str) -> web.StreamResponse | None:
        """Link a blob from another repository the caller may read; None means: upload it instead."""
        if not is_digest(digest) or not is_valid_name(source) or "/" not in source:
            return None
        workspace, image = source.split("/", 1)
        origin = await self.svc.access.get_package(workspace, CONTAINER, image)
        if origin is None or not await self.svc.controller.may(caller.principal, Right.READ, origin):
            return None
        if not token_allows(caller, source, Right.READ):
            # As distribution does: ask for pull on the source too; the client fetches a token with both
            # scopes and mounts (a caller who may not read the source was answered above: upload it).
            scope = f"repository:{name}:{SCOPE_ACTIONS[Right.WRITE]} repository:{source}:pull"
            raise challenge(request, self.svc, scope, "insufficient_scope", "the token does not allow pulling "
                            f"{source}, the mount's source")
        if await self.svc.content.linked_blob(origin.id, digest) is None:
            return None
        if not await self.svc.content.link(package_id, digest):
            return None
        return self._blob_created(name, digest)

    @staticmethod
    def _blob_created(name: str, digest: str) -> web.Response:
        return web.Response(status=201, headers={**API_HEADERS, "Location": f"/v2/{name}/blobs/{digest}",
                                                 "Docker-Content-Digest": digest})

    async def _upload_package(self, request: web.Request, name: str) -> int:
        package, _ = await authorize(request, self.svc, name, Right.WRITE)
        if package is None:
            raise errors.blob_upload_unknown()
        return package.id

    async def upload_status(self, request: web.Request, name: str, upload: str) -> web.StreamResponse:
        package_id = await self._upload_package(request, name)
        try:
            size = await self.svc.content.upload_size(upload, package_id)
        except UploadNotFound:
            raise errors.blob_upload_unknown() from None
        return web.Response(status=204, headers=self._upload_headers(name, upload, size))

    async def _append(self, request: web.Request, upload: str, package_id: int) -> int:
        start = length = None
        content_range = request.headers.get("Content-Range")
        if content_range:
            match = _CONTENT_RANGE_RE.fullmatch(content_range.strip())
            if match is None or int(match.group(2)) < int(match.group(1)):
                raise OciError("BLOB_UPLOAD_INVALID", "malformed Content-Range", 416)
            start = int(match.group(1))
            length = int(match.group(2)) - start + 1
            if request.content_length is not None and request.content_length != length:
                raise OciError("BLOB_UPLOAD_INVALID", "Content-Range and Content-Length disagree", 416)
        try:
            return await self.svc.content.append(upload, package_id, body_chunks(request), start, length)
        except UploadNotFound:
            raise errors.blob_upload_unknown() from None
        except RangeMismatch as exc:
            raise OciError("BLOB_UPLOAD_INVALID", str(exc), 416,
                           headers={"Range": f"0-{max(exc.size - 1, 0)}"}) from None

    async def upload_chunk(self, request: web.Request, name: str, upload: str) -> web.StreamResponse:
        package_id = await self._upload_package(request, name)
        size = await self._append(request, upload, package_id)
        return web.Response(status=202, headers=self._upload_headers(name, upload, size))

    async def finish_upload(self, request: web.Request, name: str, upload: str) -> web.StreamResponse:
        package_id = await self._upload_package(request, name)
        digest = _parse_digest(request.query.get("digest", ""))
        if request.content_length or request.headers.get("Transfer-Encoding", "").lower() == "chunked":
            await self._append(request, upload, package_id)
        try:
            await self.svc.content.finish(upload, package_id, digest)
        except UploadNotFound:
            raise errors.blob_upload_unknown() from None
        except DigestMismatch as exc:
            raise errors.digest_invalid(str(exc)) from None
        return self._blob_created(name, str(digest))

    async def cancel_upload(self, request: web.Request, name: str, upload: str) -> web.StreamResponse:
        package_id = await self._upload_package(request, name)
        try:
            await self.svc.content.upload_size(upload, package_id)
        except UploadNotFound:
            raise errors.blob_upload_unknown() from None
        await self.svc.content.cancel(upload)
        return web.Response(status=204, headers=API_HEADERS)

    # --- manifests ---

    @staticmethod
    def _reference(reference: str, pushing: bool = False) -> tuple[str, bool]:
        """(reference, is_digest). Something that is neither a tag nor a digest is a 400 TAG_INVALID
        to a push, and to a read or delete simply unknown (404 MANIFEST_UNKNOWN): no such tag can exist."""
        if ":" in reference:
            return str(_parse_digest(reference)), True
        if not is_valid_tag(reference):
            raise errors.tag_invalid(reference) if pushing else errors.manifest_unknown(reference[:200])
        return reference, False

    async def get_manifest(self, request: web.Request, name: str, reference: str) -> web.StreamResponse:
        package, caller = await authorize(request, self.svc, name, Right.READ)
        assert package is not None
        ref, by_digest = self._reference(reference)
        manifest = await self.store.get_manifest(package.id, ref, by_digest)
        if manifest is None:
            raise errors.manifest_unknown(reference)
        await self.pull_policy.check(package, manifest, ref, by_digest)
        headers = {**API_HEADERS, "Content-Type": manifest.media_type, "Docker-Content-Digest": manifest.digest,
                   "ETag": f'"{manifest.digest}"'}
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(manifest.content))
            return web.Response(status=200, headers=headers)
        await audit.record_pull(request, caller.principal, package, reference)
        return web.Response(status=200, body=manifest.content, headers=headers)

    async def put_manifest(self, request: web.Request, name: str, reference: str) -> web.StreamResponse:
        package, caller = await self._writable_package(request, name)
        ref, by_digest = self._reference(reference, pushing=True)
        content = await read_limited(request, mediatypes.MAX_MANIFEST_BYTES)
        if content is None:
            raise OciError("SIZE_INVALID", f"manifest is larger than {mediatypes.MAX_MANIFEST_BYTES} bytes", 413)
        parsed = await off_loop(len(content), manifests.parse, content, request.headers.get("Content-Type", ""))
        digest = await off_loop(len(content), digest_bytes, content,
                                Digest.parse(ref).algorithm if by_digest else "sha256")
        if by_digest and digest != ref:
            raise errors.digest_invalid(f"manifest digest {digest} does not match the reference {ref}")
        await self.store.put_manifest(package.id, digest, content, parsed, None if by_digest else ref)
        await audit.record_request(request, "push", principal=caller.principal, package=package,
                                   target=ref if by_digest else f"{ref} -> {digest}")
        headers = {**API_HEADERS, "Location": f"/v2/{name}/manifests/{digest}", "Docker-Content-Digest": digest}
        if parsed.subject:
            headers["OCI-Subject"] = parsed.subject
        return web.Response(status=201, headers=headers)

    async def delete_manifest(self, request: web.Request, name: str, reference: str) -> web.StreamResponse:
        """DELETE by tag removes the tag (write access, as Bitbucket allows); by digest, the manifest (admin).
        Neither deletes the package, not even with its last tag (an admin does that: registry/lifecycle.py)."""
        self._require_delete_enabled()
        ref, by_digest = self._reference(reference)
        package, caller = await authorize(request, self.svc, name, Right.ADMIN if by_digest else Right.WRITE)
        assert package is not None
        if by_digest:
            await self.svc.lifecycle.delete_manifest(package, ref, caller.principal)
        else:
            await self.svc.lifecycle.delete_tag(package, ref, caller.principal)
        return web.Response(status=202, headers=API_HEADERS)

    def _require_delete_enabled(self) -> None:
        if not self.svc.settings.delete_enabled:
            raise errors.unsupported("deletes are turned off on this registry")

    # --- listings ---

    async def list_tags(self, request: web.Request, name: str) -> web.StreamResponse:
        package, _ = await authorize(request, self.svc, name, Right.READ)
        assert package is not None
        n = _page_size(request)
        last = request.query.get("last", "")
        tags = await self.store.list_tags(package.id, last, n + 1) if n else []
        headers = dict(API_HEADERS)
        if len(tags) > n:
            tags = tags[:n]
            headers["Link"] = _next_link(f"/v2/{name}/tags/list", n, tags[-1])
        return web.json_response({"name": name, "tags": tags}, headers=headers)

    async def catalog(self, request: web.Request) -> web.StreamResponse:
        caller = await caller_of(request, self.svc, "registry:catalog:*")
        if caller.principal.is_anonymous:
            raise challenge(request, self.svc, "registry:catalog:*")
        n = _page_size(request)
        last = request.query.get("last", "")
        packages = await self.svc.access.visible_packages(caller.principal, package_type=CONTAINER, after=last,
                                                          limit=n + 1) if n else []
        names = [package.full_name for package in packages]
        headers = dict(API_HEADERS)
        if len(names) > n:
            names = names[:n]
            headers["Link"] = _next_link("/v2/_catalog", n, names[-1])
        return web.json_response({"repositories": names}, headers=headers)

    async def referrers(self, request: web.Request, name: str, digest: str) -> web.StreamResponse:
        package, _ = await authorize(request, self.svc, name, Right.READ)
        assert package is not None
        subject = str(_parse_digest(digest))
        artifact_type = request.query.get("artifactType")
        rows = await self.store.referrers(package.id, subject, artifact_type)
        headers = {**API_HEADERS, "Content-Type": mediatypes.OCI_INDEX}
        if artifact_type is not None:
            headers["OCI-Filters-Applied"] = "artifactType"
        body = await off_loop(sum(len(row["content"]) for row in rows), _referrers_index, rows)
        return web.Response(status=200, body=body, headers=headers)


def _referrers_index(rows: list) -> bytes:
    """The referrers answer: an index of the referring manifests (each one's annotations read from it)."""
    descriptors = []
    for row in rows:
        descriptor = {"mediaType": row["media_type"], "digest": row["digest"], "size": row["size"]}
        if row["artifact_type"]:
            descriptor["artifactType"] = row["artifact_type"]
        annotations = json.loads(bytes(row["content"])).get("annotations")
        if annotations:
            descriptor["annotations"] = annotations
        descriptors.append(descriptor)
    return json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": descriptors}).encode()


def setup(app: web.Application, svc: Services) -> None:
    OciApi(svc).add_routes(app)
