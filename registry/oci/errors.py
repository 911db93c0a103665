"""OCI distribution errors, answered in the spec's JSON form."""

from __future__ import annotations

import json

from aiohttp import web


class OciError(Exception):
    def __init__(self, code: str, message: str, status: int, detail: object = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.detail = detail
        self.headers = headers or {}

    def response(self, head: bool = False) -> web.Response:
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            error["detail"] = self.detail
        body = json.dumps({"errors": [error]}).encode()
        headers = {"Docker-Distribution-API-Version": "registry/2.0", **self.headers}
        if head:
            # HEAD answers carry no body, but say how long the GET's would be (as strict clients expect).
            return web.Response(status=self.status, headers={**headers, "Content-Length": str(len(body)),
                                                             "Content-Type": "application/json"})
        return web.Response(status=self.status, body=body, content_type="application/json", headers=headers)


def blob_unknown(digest: str) -> OciError:
    return OciError("BLOB_UNKNOWN", "blob unknown to registry", 404, {"digest": digest})


def blob_upload_unknown() -> OciError:
    return OciError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", 404)


def digest_invalid(message: str = "provided digest did not match uploaded content") -> OciError:
    return OciError("DIGEST_INVALID", message, 400)


def manifest_unknown(reference: str) -> OciError:
    return OciError("MANIFEST_UNKNOWN", "manifest unknown", 404, {"reference": reference})


def manifest_invalid(message: str) -> OciError:
    return OciError("MANIFEST_INVALID", message, 400)


def name_invalid(message: str = "invalid repository name") -> OciError:
    return OciError("NAME_INVALID", message, 400)


def name_unknown(name: str) -> OciError:
    workspace = name.split("/", 1)[0]
    return OciError(
        "NAME_UNKNOWN",
        f"repository name not known to registry: {name}. If it is yours, create the package and link it to a "
        f"repository first: `packages-registry package create {name} --type container "
        f"--repository {workspace}/<repository>` or the Create package page",
        404,
        {"name": name},
    )


def tag_invalid(tag: str) -> OciError:
    return OciError("TAG_INVALID", "invalid tag", 400, {"tag": tag[:200]})


def unsupported(message: str = "the operation is unsupported") -> OciError:
    return OciError("UNSUPPORTED", message, 405)


def denied(message: str = "requested access to the resource is denied") -> OciError:
    return OciError("DENIED", message, 403)


def too_many_requests(message: str = "too many requests", retry_after: int | None = None) -> OciError:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return OciError("TOOMANYREQUESTS", message, 429, headers=headers)
