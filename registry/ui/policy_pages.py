"""The Packages pages of lifecycle policies: a package's and a repository's retention policies and
immutable tags (admins), a workspace's storage usage and quota banner (everyone who sees it), and the
audit log (admins, for the repositories they administer).

Mounted by the pages module (``UiPages``), through its plumbing: viewer, CSRF, rendering, errors.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from registry import audit, immutable, quota, retention, usage
from registry.access.models import Package, Right
from registry.ui.render import package_url, workspace_url
from registry.ui.viewer import PageError, Viewer, not_found

POLICIES_TAIL = "policies"
KINDS_OF_TYPE = {package_type: [kind for kind, of in retention.KINDS.items() if of == package_type]
                 for package_type in set(retention.KINDS.values())}
AUDIT_PAGE_SIZE = 500


def policies_url(full_slug: str) -> str:
    workspace, _, slug = full_slug.partition("/")
    return f"/{workspace}/{slug}/policies"


async def workspace_usage(svc: Any, workspace: str) -> dict:
    """What the workspace pages show: bytes used, the limit, and the over-80 % warning."""
    limit = await quota.storage_limit(svc.db, workspace)
    used = await usage.counted_bytes(svc.db, workspace)
    percent = None if not limit else used * 100 // limit
    return {"bytes": used, "limit": limit, "percent": percent,
            "warning": await quota.warning(svc.db, workspace)}


class PolicyPages:
    def __init__(self, pages: Any) -> None:
        self.pages = pages
        self.svc = pages.svc

    def add_routes(self, app: web.Application) -> None:
        page = self.pages._page
        app.router.add_get("/{workspace}/workspace/audit", page(self.audit_page))
        app.router.add_get("/{workspace}/{repository}/policies", page(self.repository_page))
        app.router.add_post("/{workspace}/{repository}/policies", page(self.change_repository))

    async def _admin_repositories(self, viewer: Viewer, workspace: str) -> list[dict]:
        rows = await self.pages._repositories(viewer, workspace)
        return [row for row in rows if await self.svc.controller.may_create_in(viewer.principal, row["id"])]

    # --- a package's policies ---

    async def package_page(self, request: web.Request, viewer: Viewer, package: Package, right: Right,
                           crumbs: list, error: str = "", status: int = 200) -> web.StreamResponse:
        if package.type not in KINDS_OF_TYPE:
            raise not_found()
        if right < Right.ADMIN:
            raise PageError(403, f"Retention policies and immutable tags take the admin role on {package.repository}.")
        own = await retention.policies(self.svc.db, package_id=package.id)
        repository = await self.svc.access.require_repository(package.repository)
        inherited = [p for p in await retention.policies(self.svc.db, repository_id=repository["id"])
                     if retention.KINDS[p.kind] == package.type]
        preview = None
        if request.query.get("preview"):
            runner = retention.Retention(self.svc.db, self.svc.access)
            preview = [removal for policy in own + inherited for removal in await runner.apply(policy, package, True)]
        patterns = await immutable.patterns(self.svc.db, package.id) if package.type == "container" else []
        return await self.pages.render(
            request, viewer, "policies.html", status=status, crumbs=crumbs + [("Policies", "")],
            title=f"Policies of {package.name}", package=package, own=own, inherited=inherited,
            patterns=patterns, kinds=KINDS_OF_TYPE[package.type], preview=preview, error=error,
            action_url=package_url(package, POLICIES_TAIL), repository_policies=policies_url(package.repository))

    async def change_package(self, request: web.Request, viewer: Viewer, form: Any, package: Package,
                             right: Right) -> web.StreamResponse:
        """The policies page's forms (the pages module hands over the package the address names)."""
        if right < Right.ADMIN or package.type not in KINDS_OF_TYPE:
            raise PageError(403, f"Retention policies and immutable tags take the admin role on {package.repository}.")
        actor = await self.pages._actor(request, viewer)
        action = form.get("action", "")
        try:
            if action == "add-immutable" and package.type == "container":
                pattern = form.get("pattern", "").strip()
                await immutable.add(self.svc.db, package.id, pattern)
                await audit.record(self.svc.db, "policy", actor, package=package, target="immutable tags",
                                   detail=f"add {pattern}")
            elif action == "remove-immutable" and package.type == "container":
                pattern = form.get("pattern", "")
                if await immutable.remove(self.svc.db, package.id, pattern):
                    await audit.record(self.svc.db, "policy", actor, package=package, target="immutable tags",
                                       detail=f"remove {pattern}")
            elif action == "add-policy":
                await self._add_policy(form, actor, package=package)
            elif action == "remove-policy":
                await self._remove_policy(form, actor, package_id=package.id)
            else:
                raise ValueError("Unknown change.")
        except ValueError as exc:
            crumbs = [(package.workspace, workspace_url(package.workspace)), (package.name, package_url(package))]
            return await self.package_page(request, viewer, package, Right.ADMIN, crumbs, str(exc), 400)
        raise PageError(303, "changed", {"Location": package_url(package, POLICIES_TAIL)})

    async def _add_policy(self, form: Any, actor: audit.Actor, package: Package | None = None,
                          repository: dict | None = None) -> None:
        def number(field: str, cast) -> Any:
            value = form.get(field, "").strip()
            if not value:
                return None
            try:
                return cast(value)
            except ValueError:
                raise ValueError(f"{field.replace('_', ' ')} must be a number") from None

        kind = form.get("kind", "")
        workspace = package.workspace if package else repository["workspace"]  # type: ignore[index]
        policy_id = await retention.add_policy(
            self.svc.db, workspace, kind, package=package, repository=repository,
            pattern=form.get("pattern", "").strip() or None, keep=number("keep", int),
            days=number("older_than_days", float))
        policy = await retention.get_policy(self.svc.db, policy_id)
        assert policy is not None
        await audit.record(self.svc.db, "policy", actor, package=package, workspace=workspace,
                           repository=repository and f"{repository['workspace']}/{repository['slug']}",
                           target=f"retention policy {policy_id}", detail=f"set: {policy.describe()}")

    async def _remove_policy(self, form: Any, actor: audit.Actor, package_id: int | None = None,
                             repository_id: int | None = None) -> None:
        raw = form.get("policy", "")
        policy = await retention.get_policy(self.svc.db, int(raw)) if raw.isdigit() else None
        if policy is None or (policy.package_id, policy.repository_id) != (package_id, repository_id):
            raise ValueError("No such policy here.")
        await retention.remove_policy(self.svc.db, policy.id)
        await audit.record(self.svc.db, "policy", actor, workspace=policy.workspace,
                           target=f"retention policy {policy.id}", detail=f"removed: {policy.describe()}")

    # --- a repository's policies ---

    async def _admin_repository(self, request: web.Request, viewer: Viewer) -> dict:
        workspace, slug = request.match_info["workspace"], request.match_info["repository"]
        repository = next((row for row in await self.pages._repositories(viewer, workspace)
                           if row["slug"] == slug), None)
        if repository is None:
            raise not_found()
        if not await self.svc.controller.may_create_in(viewer.principal, repository["id"]):
            raise PageError(403, f"Retention policies take the admin role on {workspace}/{slug}.")
        return repository

    async def repository_page(self, request: web.Request, viewer: Viewer, form: Any, error: str = "",
                              status: int = 200) -> web.StreamResponse:
        repository = await self._admin_repository(request, viewer)
        full_slug = f"{repository['workspace']}/{repository['slug']}"
        own = await retention.policies(self.svc.db, repository_id=repository["id"])
        return await self.pages.render(
            request, viewer, "repository_policies.html", status=status, title=f"Retention policies of {full_slug}",
            crumbs=[(repository["workspace"], workspace_url(repository["workspace"])), (repository["slug"], ""),
                    ("Policies", "")],
            repository=full_slug, own=own, kinds=list(retention.KINDS), error=error,
            action_url=policies_url(full_slug))

    async def change_repository(self, request: web.Request, viewer: Viewer, form: Any) -> web.StreamResponse:
        repository = await self._admin_repository(request, viewer)
        actor = await self.pages._actor(request, viewer)
        try:
            if form.get("action") == "add-policy":
                await self._add_policy(form, actor, repository=repository)
            elif form.get("action") == "remove-policy":
                await self._remove_policy(form, actor, repository_id=repository["id"])
            else:
                raise ValueError("Unknown change.")
        except ValueError as exc:
            return await self.repository_page(request, viewer, form, str(exc), 400)
        raise PageError(303, "changed", {"Location": policies_url(f"{repository['workspace']}/{repository['slug']}")})

    # --- the audit log ---

    async def audit_page(self, request: web.Request, viewer: Viewer, form: Any) -> web.StreamResponse:
        workspace = request.match_info["workspace"]
        administered = await self._admin_repositories(viewer, workspace)
        if not administered:
            if not await self.pages._repositories(viewer, workspace):
                raise not_found()
            raise PageError(403, "The audit log is shown to admins of the workspace's repositories.")
        names = [f"{row['workspace']}/{row['slug']}" for row in administered]
        action = request.query.get("action") or None
        entries = await audit.entries(self.svc.db, workspace=workspace, repositories=names,
                                      action=action if action in audit.ACTIONS else None, limit=AUDIT_PAGE_SIZE)
        return await self.pages.render(
            request, viewer, "audit.html", title=f"Audit log of {workspace}",
            crumbs=[(workspace, workspace_url(workspace)), ("Audit log", "")], workspace=workspace,
            entries=entries, repositories=names, actions=audit.ACTIONS, action=action or "")
