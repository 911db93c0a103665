"""The Packages pages, mounted at / after every protocol (so /v2/, /auth/, /npm/, /maven/ stay theirs).

Every page asks the one access controller (through the access store's ``visible_packages`` for lists)
what the viewer may see; a package the viewer may not read answers exactly like a missing one.
Every POST carries a CSRF token and is refused without it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from registry import audit
from registry.access.models import PACKAGE_TYPES, SCOPE_READ, SCOPE_WRITE, SCOPES, Package, Right
from registry.access.store import AccessError, PackageNameTaken
from registry.context import Services
from registry.httputil import external_base
from registry.immutable import ImmutableTag
from registry.maven.store import MavenStore
from registry.npm.store import NpmStore
from registry.oci.errors import OciError
from registry.oci.store import OciStore
from registry.packages import validate_package_name
from registry.pypi.store import PypiStore
from registry.trust import TrustError, TrustStore
from registry.ui.container import ContainerPages
from registry.ui.listing import Counter, ListQuery, list_packages
from registry.ui.maven_pages import MavenPages, settings_xml
from registry.ui.npm_pages import NpmPages, npmrc
from registry.ui.policy_pages import POLICIES_TAIL, PolicyPages, workspace_usage
from registry.ui.pypi_pages import PypiPages, snippets
from registry.ui.render import (
    STATIC,
    STATIC_PREFIX,
    make_environment,
    package_url,
    project_url,
    repository_url,
    workspace_url,
)
from registry.ui.sessions import SESSION_TTL, SessionStore
from registry.ui.supply_chain import CYCLONEDX, IN_TOTO, SupplyChainPages, referrer_digests
from registry.ui.viewer import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    PageError,
    Viewer,
    check_csrf,
    not_found,
    safe_next,
    set_cookie,
    signin_binding,
    signin_redirect,
    viewer_of,
)
from vocab.digests import is_digest
from vocab.names import is_valid_tag

Form = MultiDictProxy[str]
Request = web.Request
Response = web.StreamResponse
Page = Callable[[Request, Any, Form], Awaitable[Response]]

# No script runs on these pages, and nothing is loaded from elsewhere: a last line of defence should
# escaping ever miss something.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
MAX_TOKEN_NAME = 100
MAX_EXPIRY_DAYS = 3650


class UiPages:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.sessions = SessionStore(svc.db, svc.tokens)
        self.env = make_environment()
        self.oci = OciStore(svc.db)
        self.container = ContainerPages(self.oci, svc.blobs)
        self.trust = TrustStore(svc.db)
        self.supply = SupplyChainPages(self.oci, svc.blobs, self.trust)
        npm_store, maven_store = NpmStore(svc.db), MavenStore(svc.db)
        self.npm, self.maven = NpmPages(npm_store), MavenPages(maven_store)
        self.pypi_store = PypiStore(svc.db)
        self.pypi = PypiPages(self.pypi_store)
        self.counters: dict[str, Counter] = {
            "container": self.oci.tag_counts,
            "npm": npm_store.version_counts,
            "maven": maven_store.version_counts,
            "pypi": self.pypi_store.version_counts,
        }
        self.type_pages: dict[str, Callable[..., Awaitable[Response]]] = {
            "container": self.container_page, "npm": self.npm_page, "maven": self.maven_page,
            "pypi": self.pypi_page}
        self.policies = PolicyPages(self)

    def add_routes(self, app: web.Application) -> None:
        route = app.router
        route.add_get("/", self._page(self.home))
        route.add_get("/signin", self._page(self.signin_form, anonymous=True))
        route.add_post("/signin", self._page(self.signin, anonymous=True))
        route.add_post("/signout", self._page(self.signout))
        route.add_get("/tokens", self._page(self.tokens))
        route.add_post("/tokens", self._page(self.create_token))
        route.add_post("/tokens/{token_id}/revoke", self._page(self.revoke_token))
        route.add_static(STATIC_PREFIX, STATIC, append_version=False)
        route.add_get("/{workspace}/workspace/packages", self._page(self.workspace_packages))
        route.add_get("/{workspace}/workspace/packages/new", self._page(self.new_package_form))
        route.add_post("/{workspace}/workspace/packages/new", self._page(self.create_package))
        route.add_get("/{workspace}/workspace/trust", self._page(self.trust_page))
        route.add_post("/{workspace}/workspace/trust", self._page(self.trust_add))
        route.add_post("/{workspace}/workspace/trust/{key_id}/remove", self._page(self.trust_remove))
        route.add_get("/{workspace}/workspace/projects/{project}/packages", self._page(self.project_packages))
        route.add_get("/{workspace}/{repository}/packages", self._page(self.repository_packages))
        route.add_post("/{workspace}/{repository}/packages/pypi/{name}/-/manage", self._page(self.manage_pypi))
        route.add_get("/{workspace}/{repository}/packages/{type}/{rest:.+}", self._page(self.package_page))
        route.add_post("/{workspace}/{repository}/packages/{type}/{rest:.+}", self._page(self.package_action))
        route.add_get("/{workspace}/{repository}/delete", self._page(self.repository_delete_form))
        route.add_post("/{workspace}/{repository}/delete", self._page(self.repository_delete))
        self.policies.add_routes(app)

    # --- plumbing: viewer, CSRF, rendering, errors ---

    def _page(self, handler: Page, anonymous: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def page(request: Request) -> Response:
            viewer: Viewer | None = None
            try:
                viewer = await viewer_of(request, self.svc, self.sessions)
                if viewer is None and not anonymous:
                    raise signin_redirect(request)
                form: Form = MultiDictProxy(MultiDict())
                if request.method == "POST":
                    form = await self._form(request)
                    binding = viewer.csrf_binding if viewer else signin_binding(request)[0]
                    await check_csrf(request, self.svc, self.sessions, binding, form)
                response = await handler(request, viewer, form)
            except PageError as exc:
                response = await self._error(request, viewer, exc)
            response.headers.update(SECURITY_HEADERS)
            return response

        return page

    @staticmethod
    async def _form(request: Request) -> Form:
        """The posted fields that are text (a file part or an undecodable body is no form of ours)."""
        try:
            posted = await request.post()
        except ValueError:
            raise PageError(400, "The form could not be read.") from None
        return MultiDictProxy(MultiDict((key, value) for key, value in posted.items()
                                        if isinstance(value, str)))

    async def render(self, request: Request, viewer: Viewer | None, template: str, status: int = 200,
                     crumbs: list[tuple[str, str]] | None = None, **context: Any) -> web.Response:
        csrf = await self.sessions.csrf_token(viewer.csrf_binding) if viewer else ""
        context.setdefault("title", "Packages")
        # Off the event loop: a page of 500 tags, thousands of layers or a 1 MiB config takes a while.
        html = await asyncio.to_thread(
            self.env.get_template(template).render,
            viewer=viewer, csrf=csrf, csrf_field=CSRF_FIELD, crumbs=crumbs or [], path=request.path, **context
        )
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    async def _error(self, request: Request, viewer: Viewer | None, error: PageError) -> web.Response:
        if 300 <= error.status < 400:
            return web.Response(status=error.status, headers=error.headers)
        title = {401: "Sign in", 403: "Not allowed", 404: "Not found", 503: "Unavailable",
                 507: "Storage full"}.get(error.status, "Cannot do that")
        response = await self.render(request, viewer, "error.html", status=error.status,
                                     message=error.message, title=title)
        response.headers.update(error.headers)
        return response

    async def fault_page(self, request: Request, status: int, message: str) -> web.Response:
        """The error page for a backend fault: rendered without a viewer (finding one needs the
        database, which may be what is away)."""
        response = await self._error(request, None, PageError(status, message))
        response.headers.update(SECURITY_HEADERS)
        return response

    async def _actor(self, request: Request, viewer: Viewer) -> audit.Actor:
        return await audit.actor_of(self.svc.db, viewer.principal, request.remote)

    async def _audit(self, request: Request, viewer: Viewer, action: str, **what: Any) -> None:
        """Add an audit entry for a change the viewer made on a page."""
        await audit.record(self.svc.db, action, await self._actor(request, viewer), **what)

    def _registry_host(self, request: Request) -> str:
        return external_base(request, self.svc.settings.public_url).split("://", 1)[1]

    async def _repositories(self, viewer: Viewer, workspace: str | None = None) -> list[dict]:
        """The repositories the viewer has a role on (a pipeline token: its own one)."""
        principal = viewer.principal
        if principal.kind == "pipeline":
            rows = await self.svc.access.list_repositories(principal.workspace or "")
            rows = [dict(row, role="write") for row in rows if row["id"] == principal.repository_id]
        else:
            rows = await self.svc.access.repositories_of(principal.name)
        return [row for row in rows if workspace is None or row["workspace"] == workspace]

    async def _readable(self, viewer: Viewer, workspace: str, package_type: str,
                        name: str) -> tuple[Package, Right]:
        package = await self.svc.access.get_package(workspace, package_type, name)
        right = await self.svc.controller.right(viewer.principal, package)
        if package is None or right < Right.READ:
            raise not_found()
        return package, right

    # --- sign-in, sign-out ---

    async def signin_form(self, request: Request, viewer: Viewer | None, form: Form,
                          error: str = "", status: int = 200) -> Response:
        target = safe_next(form.get("next") or request.query.get("next"))
        if viewer is not None:
            raise PageError(303, "signed in", {"Location": target})
        binding, fresh = signin_binding(request)
        response = await self.render(request, None, "signin.html", status=status, next=target, error=error,
                                     title="Sign in",
                                     email=form.get("email", ""),
                                     signin_csrf=await self.sessions.csrf_token(binding))
        if fresh:
            set_cookie(response, request, self.svc, SIGNIN_COOKIE, fresh, max_age=3600)
        return response

    async def signin(self, request: Request, viewer: Viewer | None, form: Form) -> Response:
        email, token = form.get("email", "").strip()[:320], form.get("token", "").strip()[:400]
        principal = await self.svc.access.authenticate(email, token) if email and token else None
        if principal is None or principal.kind != "user":
            message = ("That email and API token do not match a live token. Create one with "
                       "`packages-registry token create` or ask an admin.")
            return await self.signin_form(request, None, form, message, status=401)
        session_id = await self.sessions.create(principal)
        response = web.Response(status=303, headers={"Location": safe_next(form.get("next"))})
        set_cookie(response, request, self.svc, SESSION_COOKIE, session_id, max_age=SESSION_TTL)
        response.del_cookie(SIGNIN_COOKIE, path="/")
        return response

    async def signout(self, request: Request, viewer: Viewer, form: Form) -> Response:
        if viewer.session is not None:
            await self.sessions.delete(viewer.session.id_hash)
        response = web.Response(status=303, headers={"Location": "/signin"})
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    # --- home and lists ---

    async def home(self, request: Request, viewer: Viewer, form: Form) -> Response:
        repositories = await self._repositories(viewer)
        workspaces: dict[str, list[dict]] = {}
        for row in repositories:
            workspaces.setdefault(row["workspace"], []).append(row)
        page = await list_packages(self.svc.access, self.svc.content, self.counters, viewer.principal,
                                   ListQuery.from_request(request))
        return await self.render(request, viewer, "home.html", workspaces=workspaces, page=page,
                                 title="Your packages", types=PACKAGE_TYPES)

    async def workspace_packages(self, request: Request, viewer: Viewer, form: Form) -> Response:
        workspace = request.match_info["workspace"]
        repositories = await self._repositories(viewer, workspace)
        if not repositories:
            raise not_found()
        page = await list_packages(self.svc.access, self.svc.content, self.counters, viewer.principal,
                                   ListQuery.from_request(request), workspace=workspace)
        projects = sorted({row["project_key"] for row in repositories if row["project_key"]})
        may_create = await self._creatable(viewer, repositories)
        return await self.render(request, viewer, "packages.html", crumbs=[(workspace, "")], page=page,
                                 title=f"Packages of workspace {workspace}", workspace=workspace,
                                 repositories=repositories, projects=projects, may_create=bool(may_create),
                                 types=PACKAGE_TYPES, scope="workspace",
                                 usage=await workspace_usage(self.svc, workspace), audit_link=bool(may_create))

    async def project_packages(self, request: Request, viewer: Viewer, form: Form) -> Response:
        workspace, key = request.match_info["workspace"], request.match_info["project"]
        repositories = [row for row in await self._repositories(viewer, workspace)
                        if row["project_key"] == key]
        if not repositories:
            raise not_found()
        page = await list_packages(self.svc.access, self.svc.content, self.counters, viewer.principal,
                                   ListQuery.from_request(request), workspace=workspace, project_key=key)
        crumbs = [(workspace, workspace_url(workspace)), (key, "")]
        return await self.render(request, viewer, "packages.html", crumbs=crumbs, page=page,
                                 title=f"Packages of project {key}", workspace=workspace,
                                 repositories=repositories, projects=[], may_create=False,
                                 types=PACKAGE_TYPES, scope="project")

    async def repository_packages(self, request: Request, viewer: Viewer, form: Form) -> Response:
        workspace, slug = request.match_info["workspace"], request.match_info["repository"]
        repositories = await self._repositories(viewer, workspace)
        repository = next((row for row in repositories if row["slug"] == slug), None)
        if repository is None:
            raise not_found()
        page = await list_packages(self.svc.access, self.svc.content, self.counters, viewer.principal,
                                   ListQuery.from_request(request), repository_id=repository["id"])
        key = repository["project_key"]
        crumbs = [(workspace, workspace_url(workspace))]
        if key:
            crumbs.append((key, project_url(workspace, key)))
        may_delete = await self.svc.controller.may_administer(viewer.principal, repository["id"])
        return await self.render(request, viewer, "packages.html", crumbs=crumbs + [(slug, "")], page=page,
                                 title=f"Packages of repository {workspace}/{slug}", workspace=workspace,
                                 repositories=[], projects=[], may_create=False, types=PACKAGE_TYPES,
                                 scope="repository", repository=repository, may_delete=may_delete)

    # --- deleting (registry/lifecycle.py: kept for the retention period, restorable by an operator) ---

    def _require_delete_enabled(self) -> None:
        if not self.svc.settings.delete_enabled:
            raise PageError(403, "Deleting is turned off on this registry (--no-delete).")

    async def _administered_repository(self, request: Request, viewer: Viewer) -> dict:
        self._require_delete_enabled()
        workspace, slug = request.match_info["workspace"], request.match_info["repository"]
        repository = next((row for row in await self._repositories(viewer, workspace) if row["slug"] == slug), None)
        if repository is None:
            raise not_found()
        if not await self.svc.controller.may_administer(viewer.principal, repository["id"]):
            raise PageError(403, "Deleting a repository takes its admin role (and a token with the write scope).")
        return repository

    def _retention(self) -> str:
        days = self.svc.settings.retention_days
        return f"{days:g} day{'s' if days != 1 else ''}"

    async def repository_delete_form(self, request: Request, viewer: Viewer, form: Form) -> Response:
        repository = await self._administered_repository(request, viewer)
        full_slug = f"{repository['workspace']}/{repository['slug']}"
        return await self.render(
            request, viewer, "confirm_delete.html", title=f"Delete repository {full_slug}",
            crumbs=[(repository["workspace"], workspace_url(repository["workspace"])),
                    (repository["slug"], repository_url(full_slug)), ("Delete", "")],
            what=f"repository {full_slug}", retention=self._retention(), cancel=repository_url(full_slug),
            consequence="Every package linked to it disappears at once, for every client and page.")

    async def repository_delete(self, request: Request, viewer: Viewer, form: Form) -> Response:
        repository = await self._administered_repository(request, viewer)
        await self.svc.lifecycle.delete_repository(f"{repository['workspace']}/{repository['slug']}",
                                                   viewer.principal)
        raise PageError(303, "deleted", {"Location": workspace_url(repository["workspace"])})

    async def package_action(self, request: Request, viewer: Viewer, form: Form) -> Response:
        """The forms of a package page: delete the package (admin), delete a container tag (write)."""
        package, right, tail = await self._package_of(request, viewer)
        if tail == POLICIES_TAIL:
            return await self.policies.change_package(request, viewer, form, package, right)
        if tail == "policy" and package.type == "container":
            self._require(right, Right.ADMIN, "Changing a package's pull policy takes the admin role on its repository.")
            required = form.get("require_signature") == "on"
            await self.trust.set_requires_signature(package.id, required)
            await self._audit(request, viewer, "policy", package=package, target="signature policy",
                              detail=f"pulls require a trusted signature: {'on' if required else 'off'}")
            raise PageError(303, "changed", {"Location": package_url(package)})
        self._require_delete_enabled()
        if tail == "delete":
            self._require(right, Right.ADMIN, "Deleting a package takes the admin role on its repository.")
            await self.svc.lifecycle.delete_package(package.workspace, package.type, package.name,
                                                    viewer.principal)
            raise PageError(303, "deleted", {"Location": repository_url(package.repository)})
        tag = self._tag_to_delete(package, tail)
        self._require(right, Right.WRITE, "Deleting a tag takes write access to the package.")
        try:
            await self.svc.lifecycle.delete_tag(package, tag, viewer.principal)
        except OciError:
            raise not_found() from None  # deleted meanwhile
        except ImmutableTag as exc:
            raise PageError(403, str(exc)) from None
        raise PageError(303, "deleted", {"Location": package_url(package)})

    async def _delete_form(self, request: Request, viewer: Viewer, package: Package, right: Right, tail: str,
                           crumbs: list) -> Response:
        self._require_delete_enabled()
        if tail == "delete":
            self._require(right, Right.ADMIN, "Deleting a package takes the admin role on its repository.")
            return await self.render(
                request, viewer, "confirm_delete.html", title=f"Delete {package.name}",
                crumbs=crumbs + [("Delete", "")], what=f"{package.type} package {package.full_name}",
                retention=self._retention(), cancel=package_url(package),
                consequence="It disappears at once, for every client and page; its name stays reserved.")
        tag = self._tag_to_delete(package, tail)
        self._require(right, Right.WRITE, "Deleting a tag takes write access to the package.")
        if await self.oci.get_manifest(package.id, tag, by_digest=False) is None:
            raise not_found()
        return await self.render(
            request, viewer, "confirm_delete.html", title=f"Delete tag {tag}", crumbs=crumbs + [(tag, "")],
            what=f"tag {tag} of {package.full_name}", retention=None, cancel=package_url(package),
            consequence="The tag goes at once. Its image stays reachable by digest until nothing refers to it, "
                        "then garbage collection frees it.")

    @staticmethod
    def _tag_to_delete(package: Package, tail: str) -> str:
        kind, _, rest = tail.partition("/")
        tag, _, action = rest.partition("/")
        if package.type != "container" or kind != "tags" or action != "delete" or not is_valid_tag(tag):
            raise not_found()
        return tag

    @staticmethod
    def _require(right: Right, need: Right, message: str) -> None:
        if right < need:
            raise PageError(403, message)

    # --- creating packages ---

    async def _creatable(self, viewer: Viewer, repositories: list[dict]) -> list[dict]:
        may_create = self.svc.controller.may_create_in
        return [row for row in repositories if await may_create(viewer.principal, row["id"])]

    async def new_package_form(self, request: Request, viewer: Viewer, form: Form, error: str = "",
                               status: int = 200) -> Response:
        workspace = request.match_info["workspace"]
        repositories = await self._repositories(viewer, workspace)
        if not repositories:
            raise not_found()
        creatable = await self._creatable(viewer, repositories)
        if not creatable:
            raise PageError(403, "Creating a package takes the admin role on a repository of this workspace "
                                 "(and a token with the write scope).")
        return await self.render(request, viewer, "package_new.html", status=status, title="Create a package",
                                 crumbs=[(workspace, workspace_url(workspace)), ("Create package", "")],
                                 workspace=workspace, repositories=creatable, types=PACKAGE_TYPES,
                                 error=error, form=form)

    async def create_package(self, request: Request, viewer: Viewer, form: Form) -> Response:
        workspace = request.match_info["workspace"]
        name, package_type = form.get("name", "").strip(), form.get("type", "")
        slug = form.get("repository", "")
        creatable = await self._creatable(viewer, await self._repositories(viewer, workspace))
        repository = next((row for row in creatable if row["slug"] == slug), None)
        try:
            if repository is None:
                raise ValueError("Choose a repository you are an admin of.")
            if package_type not in PACKAGE_TYPES:
                raise ValueError("Choose a package type.")
            name = validate_package_name(package_type, name)
            package = await self.svc.access.create_package(workspace, name, package_type,
                                                           f"{workspace}/{slug}")
        except PackageNameTaken:
            # Whether it exists is not the viewer's to know: it may be linked where they have no role.
            message = f"The name {name} is not available for a {package_type} package in {workspace}: choose another."
            return await self.new_package_form(request, viewer, form, message, status=400)
        except (ValueError, AccessError) as exc:
            return await self.new_package_form(request, viewer, form, str(exc), status=400)
        await self._audit(request, viewer, "create", package=package)
        raise PageError(303, "created", {"Location": package_url(package)})

    # --- API tokens ---

    def _token_owner(self, viewer: Viewer) -> str:
        if viewer.principal.kind != "user":
            raise PageError(403, "Pipeline tokens have no API tokens to manage.")
        return viewer.principal.name

    async def tokens(self, request: Request, viewer: Viewer, form: Form, created: dict | None = None,
                     error: str = "", status: int = 200) -> Response:
        email = self._token_owner(viewer)
        rows = await self.svc.access.list_api_tokens(email)
        return await self.render(request, viewer, "tokens.html", status=status, title="API tokens",
                                 crumbs=[("API tokens", "")], tokens=rows, created=created, error=error,
                                 scopes=SCOPES, own_scopes=viewer.principal.scopes, now=time.time(),
                                 current=viewer.principal.credential_id,
                                 parent_expires=await self._parent_expiry(viewer))

    async def _parent_expiry(self, viewer: Viewer) -> float | None:
        """When the token the viewer signed in with (or sent as Basic credentials) expires: a token
        made here is that token's child and cannot outlive it (AccessStore.create_api_token)."""
        return await self.svc.access.api_token_expiry(viewer.principal.credential_id or "")

    async def create_token(self, request: Request, viewer: Viewer, form: Form) -> Response:
        email = self._token_owner(viewer)
        name = form.get("name", "").strip()
        scopes = sorted(set(form.getall("scope", [])))
        days = form.get("expires_days", "").strip()
        try:
            if not name or len(name) > MAX_TOKEN_NAME:
                raise ValueError(f"Give the token a name (up to {MAX_TOKEN_NAME} characters).")
            if not scopes or not set(scopes) <= set(SCOPES):
                raise ValueError(f"Choose its scopes: {SCOPE_READ} and/or {SCOPE_WRITE}.")
            if not set(scopes) <= viewer.principal.scopes:
                raise ValueError("A token cannot have scopes that the token you signed in with lacks.")
            if days == "parent":  # as long as the token it is made with
                expires_at = await self._parent_expiry(viewer)
            else:
                # ASCII digits only: "²".isdigit() is true and int() refuses it; int() takes "٣" as 3.
                if days and not (days.isascii() and days.isdigit() and len(days) <= 4
                                 and 1 <= int(days) <= MAX_EXPIRY_DAYS):
                    raise ValueError(f"Expiry is a number of days from 1 to {MAX_EXPIRY_DAYS}, or never.")
                expires_at = time.time() + int(days) * 86400 if days else None
            token_id, secret = await self.svc.access.create_api_token(email, scopes, name, expires_at,
                                                                      parent=viewer.principal.credential_id)
        except (ValueError, AccessError) as exc:
            return await self.tokens(request, viewer, form, error=str(exc), status=400)
        created = {"id": token_id, "name": name, "secret": secret}
        return await self.tokens(request, viewer, form, created=created)

    async def revoke_token(self, request: Request, viewer: Viewer, form: Form) -> Response:
        email = self._token_owner(viewer)
        if not await self.svc.access.revoke_api_token(request.match_info["token_id"][:64], email):
            raise not_found()
        raise PageError(303, "revoked", {"Location": "/tokens"})

    # --- package pages ---

    async def _package_of(self, request: Request, viewer: Viewer) -> tuple[Package, Right, str]:
        """The package a package page's address names (if the viewer may read it), and the rest of the address."""
        workspace, slug = request.match_info["workspace"], request.match_info["repository"]
        package_type, rest = request.match_info["type"], request.match_info["rest"]
        if package_type not in PACKAGE_TYPES:
            raise not_found()
        name, _, tail = rest.partition("/-/")
        package, right = await self._readable(viewer, workspace, package_type, name.rstrip("/"))
        if package.repository != f"{workspace}/{slug}":  # linked elsewhere (or re-linked): its own address
            if request.method != "GET":
                raise not_found()
            raise PageError(301, "moved", {"Location": package_url(package, *([tail] if tail else []))})
        return package, right, tail

    async def package_page(self, request: Request, viewer: Viewer, form: Form) -> Response:
        package, right, tail = await self._package_of(request, viewer)
        workspace, slug = package.workspace, package.repository.partition("/")[2]
        crumbs = [(workspace, workspace_url(workspace)), (slug, repository_url(package.repository)),
                  (package.name, "" if not tail else package_url(package))]
        if tail == POLICIES_TAIL:
            return await self.policies.package_page(request, viewer, package, right, crumbs)
        if tail == "delete" or (tail.startswith("tags/") and tail.count("/") == 2 and tail.endswith("/delete")):
            return await self._delete_form(request, viewer, package, right, tail, crumbs)
        return await self.type_pages[package.type](request, viewer, package, right, tail, crumbs)

    async def container_page(self, request: Request, viewer: Viewer, package: Package, right: Right,
                             tail: str, crumbs: list) -> Response:
        host = self._registry_host(request)
        if not tail:
            tags = await self.container.tags(package)
            return await self.render(request, viewer, "container.html", crumbs=crumbs, package=package,
                                     tags=tags, host=host, title=package.name, right=right.name.lower(),
                                     require_signature=await self.trust.requires_signature(package.id),
                                     may_admin=right >= Right.ADMIN, policy_url=package_url(package, "policy"),
                                     trust_url=f"/{package.workspace}/workspace/trust")
        kind, _, reference = tail.partition("/")
        if kind == "tags" and is_valid_tag(reference):
            view = await self.container.reference(package, reference, None)
            pull = f"docker pull {host}/{package.full_name}:{reference}"
        elif kind == "manifests" and is_digest(reference):
            view = await self.container.reference(package, None, reference)
            pull = f"docker pull {host}/{package.full_name}@{reference}"
        else:
            raise not_found()
        if view is None:
            raise not_found()
        referrers = await self.container.referrers(package, view.digest)
        tags = await self.oci.tags_of(package.id, view.digest)
        keys = await self.supply.trusted_keys(package)
        signature, signed_index = await self.supply.signature(package, view.digest, keys)
        provenance = await self.supply.provenance(package, view.digest, referrer_digests(referrers, IN_TOTO), keys)
        sbom = await self.supply.sbom(package, referrer_digests(referrers, CYCLONEDX), request.query.get("q", ""))
        return await self.render(request, viewer, "container_ref.html", crumbs=crumbs + [(reference, "")],
                                 package=package, view=view, referrers=referrers, tags=tags, pull=pull,
                                 signature=signature, signed_index=signed_index, provenance=provenance, sbom=sbom,
                                 host=host, reference=reference, sep=":" if kind == "tags" else "@",
                                 title=f"{package.name} {reference}")


    # --- trusted keys of a workspace (registry/trust.py) ---

    async def _trust_admin(self, request: Request, viewer: Viewer) -> tuple[str, list[dict]]:
        """The workspace, if the viewer administers one of its repositories (who may trust keys for it)."""
        workspace = request.match_info["workspace"]
        repositories = await self._repositories(viewer, workspace)
        if not repositories:
            raise not_found()
        for row in repositories:  # the first one administered is enough
            if await self.svc.controller.may_administer(viewer.principal, row["id"]):
                return workspace, repositories
        raise PageError(403, "Managing a workspace's trusted keys takes the admin role on one of its repositories "
                             "(and a token with the write scope).")

    async def trust_page(self, request: Request, viewer: Viewer, form: Form, error: str = "",
                         status: int = 200) -> Response:
        workspace, _ = await self._trust_admin(request, viewer)
        return await self.render(request, viewer, "trust.html", status=status, title=f"Trusted keys of {workspace}",
                                 crumbs=[(workspace, workspace_url(workspace)), ("Trusted keys", "")],
                                 workspace=workspace, keys=await self.trust.keys(workspace), error=error,
                                 form=form)

    async def trust_add(self, request: Request, viewer: Viewer, form: Form) -> Response:
        workspace, _ = await self._trust_admin(request, viewer)
        try:
            key = await self.trust.add(workspace, form.get("public_key", ""), form.get("name", ""), viewer.principal.name)
        except TrustError as exc:
            return await self.trust_page(request, viewer, form, error=str(exc), status=400)
        await self._audit(request, viewer, "policy", workspace=workspace, target=f"trusted key {key.id}",
                          detail=f"added {key.name} (sha256:{key.fingerprint})")
        raise PageError(303, "added", {"Location": f"/{workspace}/workspace/trust"})

    async def trust_remove(self, request: Request, viewer: Viewer, form: Form) -> Response:
        workspace, _ = await self._trust_admin(request, viewer)
        key_id = request.match_info["key_id"]
        if not (key_id.isascii() and key_id.isdigit() and len(key_id) <= 18) or \
                not await self.trust.remove(workspace, int(key_id)):
            raise not_found()
        await self._audit(request, viewer, "policy", workspace=workspace, target=f"trusted key {key_id}",
                          detail="removed")
        raise PageError(303, "removed", {"Location": f"/{workspace}/workspace/trust"})

    @staticmethod
    def _version_of(tail: str) -> str | None:
        """The version a package page's tail names (``versions/<version>``), None for none; 404 otherwise."""
        if not tail:
            return None
        kind, _, version = tail.partition("/")
        if kind != "versions" or not version or len(version) > 256:
            raise not_found()
        return version

    async def npm_page(self, request: Request, viewer: Viewer, package: Package, right: Right, tail: str,
                       crumbs: list) -> Response:
        version = self._version_of(tail)
        view = await self.npm.view(package, version)
        if view is None:
            raise not_found()
        registry_url = f"{external_base(request, self.svc.settings.public_url)}/npm/{package.workspace}/"
        crumbs = crumbs + ([(version, "")] if version else [])
        return await self.render(request, viewer, "npm.html", crumbs=crumbs, package=package, view=view,
                                 registry_url=registry_url, npmrc=npmrc(package.name, registry_url),
                                 right=right.name.lower(), title=package.name)

    async def maven_page(self, request: Request, viewer: Viewer, package: Package, right: Right, tail: str,
                         crumbs: list) -> Response:
        version = self._version_of(tail)
        view = await self.maven.view(package, version)
        if view is None:
            raise not_found()
        repository_url = f"{external_base(request, self.svc.settings.public_url)}/maven/{package.workspace}/"
        crumbs = crumbs + ([(version, "")] if version else [])
        return await self.render(request, viewer, "maven.html", crumbs=crumbs, package=package, view=view,
                                 maven_url=repository_url, right=right.name.lower(), title=package.name,
                                 settings_xml=settings_xml(repository_url, viewer.email))

    async def pypi_page(self, request: Request, viewer: Viewer, package: Package, right: Right, tail: str,
                        crumbs: list, error: str = "", status: int = 200) -> Response:
        version = self._version_of(tail)
        view = await self.pypi.view(package, version)
        if view is None:
            raise not_found()
        base = f"{external_base(request, self.svc.settings.public_url)}/pypi/{package.workspace}/"
        crumbs = crumbs + ([(version, "")] if version else [])
        return await self.render(request, viewer, "pypi.html", status=status, crumbs=crumbs, package=package,
                                 view=view, right=right.name.lower(), title=package.name, error=error,
                                 may_admin=right >= Right.ADMIN, manage_url=package_url(package, "manage"),
                                 upload_url=base, snippets=snippets(package.name, base + "simple/", base, viewer.email))

    async def manage_pypi(self, request: Request, viewer: Viewer, form: Form) -> Response:
        """Yank, unyank or delete a version (or one file) of a PyPI project: admins only."""
        workspace, slug = request.match_info["workspace"], request.match_info["repository"]
        package, right = await self._readable(viewer, workspace, "pypi", request.match_info["name"])
        if right < Right.ADMIN or package.repository != f"{workspace}/{slug}":
            raise PageError(403, "Only admins of the repository a package is linked to can change its versions.")
        action, version = form.get("action", ""), form.get("version", "")[:256]
        filename = form.get("file") or None
        if action == "yank":
            changed = await self.pypi_store.yank(package.id, version, filename, form.get("reason", "")[:200])
        elif action == "unyank":
            changed = await self.pypi_store.unyank(package.id, version, filename)
        elif action == "delete":
            changed = await self.pypi_store.delete(package.id, version, filename)
        else:
            raise PageError(400, "Choose yank, unyank or delete.")
        if not changed:
            raise not_found()
        remaining = action != "delete" or await self.pypi_store.files(package.id, version)
        raise PageError(303, action, {"Location": package_url(package, *(["versions", version] if remaining else []))})


def setup(app: web.Application, svc: Services) -> UiPages:
    pages = UiPages(svc)
    pages.add_routes(app)
    return pages
