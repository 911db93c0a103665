"""Deletion with retention, restore and purge, for every package type and every way in.

Bitbucket's rules: deleting a workspace, a repository or a package hides it at once (every protocol
and page answers as for something that never existed: the access store's package lookups skip
whatever is gone) but keeps it, and its name, for the retention period; an admin may restore it
within that period, byte for byte. ``purge`` then removes the rows for good and garbage collection
frees the blobs.

- Deleting a repository sets only its own ``deleted_at``: its packages are hidden through it, and
  restoring it brings back all of them except those deleted on their own before.
- Deleting a workspace does the same for every repository and package in it.
- A tag is deleted at once (no retention): its manifest becomes collectable (registry/gc.py).

The CLI, the pages and the protocols all come here, so that whatever must happen with each of these
actions (such as an audit record) happens in one place. ``actor`` is who asked: a principal of a
request, or None for the operator at the command line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from registry import audit
from registry.access.models import Package, Principal
from registry.access.store import AccessError, AccessStore, format_time
from registry.oci.store import OciStore
from registry.storage.database import Database
from registry.storage.faults import StorageFault

log = logging.getLogger("packages_registry")

DAY = 86400.0
PURGE_INTERVAL = 3600.0  # how often a server applies retention


@dataclass
class PurgeReport:
    packages: int = 0
    repositories: int = 0
    workspaces: int = 0

    def __str__(self) -> str:
        return (f"purged {self.packages} package(s), {self.repositories} repository(ies), "
                f"{self.workspaces} workspace(s); run gc to free their storage")


@dataclass(frozen=True)
class Deleted:
    """What a delete did: the object, and until when it can be restored."""

    what: str
    restorable_until: float

    def __str__(self) -> str:
        return f"{self.what} deleted; it can be restored until {format_time(self.restorable_until)}"

    def line(self) -> str:
        return f"{self.what}\trestorable until {format_time(self.restorable_until)}"


class Lifecycle:
    def __init__(self, db: Database, access: AccessStore) -> None:
        self.db = db
        self.access = access
        # One setting for how long deleted things are kept: the access store reserves names for as long.
        self.retention_seconds = access.retention_seconds

    # --- repositories ---

    async def delete_repository(self, full_slug: str, actor: Principal | None = None) -> Deleted:
        workspace, _, slug = full_slug.partition("/")
        now = time.time()
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE repositories SET deleted_at = ? WHERE workspace = ? AND slug = ? AND deleted_at IS NULL",
                (now, workspace, slug))
        if not changed:
            raise AccessError(f"repository {full_slug} does not exist (or is deleted already)")
        deleted = Deleted(f"repository {full_slug} (with its packages)", now + self.retention_seconds)
        await self._audit("delete", actor, workspace=workspace, repository=full_slug, target=f"repository {full_slug}",
                          detail=f"restorable until {format_time(deleted.restorable_until)}")
        return deleted

    async def restore_repository(self, full_slug: str, actor: Principal | None = None) -> str:
        workspace, _, slug = full_slug.partition("/")
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE repositories SET deleted_at = NULL WHERE workspace = ? AND slug = ? "
                "AND deleted_at IS NOT NULL", (workspace, slug))
        if not changed:
            raise AccessError(f"repository {full_slug} is not deleted (or was purged)")
        await self._audit("restore", actor, workspace=workspace, repository=full_slug, target=f"repository {full_slug}")
        return f"repository {full_slug} restored with its packages" + await self._hidden_by_workspace(workspace)

    # --- workspaces ---

    async def delete_workspace(self, slug: str, actor: Principal | None = None) -> Deleted:
        now = time.time()
        async with self.db.transaction() as tx:
            changed = await tx.execute("UPDATE workspaces SET deleted_at = ? WHERE slug = ? AND deleted_at IS NULL",
                                       (now, slug))
        if not changed:
            raise AccessError(f"workspace {slug} does not exist (or is deleted already)")
        deleted = Deleted(f"workspace {slug} (with its repositories and packages)", now + self.retention_seconds)
        await self._audit("delete", actor, workspace=slug, target=f"workspace {slug}",
                          detail=f"restorable until {format_time(deleted.restorable_until)}")
        return deleted

    async def restore_workspace(self, slug: str, actor: Principal | None = None) -> str:
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE workspaces SET deleted_at = NULL WHERE slug = ? AND deleted_at IS NOT NULL", (slug,))
        if not changed:
            raise AccessError(f"workspace {slug} is not deleted (or was purged)")
        await self._audit("restore", actor, workspace=slug, target=f"workspace {slug}")
        return f"workspace {slug} restored with its repositories and packages"

    async def _hidden_by_workspace(self, workspace: str) -> str:
        row = await self.db.fetchone("SELECT deleted_at FROM workspaces WHERE slug = ?", (workspace,))
        if row is not None and row["deleted_at"] is not None:
            return f"; workspace {workspace} is deleted itself: restore it too"
        return ""

    # --- packages ---

    async def delete_package(self, workspace: str, package_type: str, name: str,
                             actor: Principal | None = None) -> Deleted:
        package = await self.access.get_package(workspace, package_type, name)  # for the audit log
        now = time.time()
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE packages SET deleted_at = ? WHERE workspace = ? AND type = ? AND name = ? "
                "AND deleted_at IS NULL", (now, workspace, package_type, name))
        if not changed:
            raise AccessError(f"no {package_type} package {workspace}/{name} (or it is deleted already)")
        deleted = Deleted(f"{package_type} package {workspace}/{name}", now + self.retention_seconds)
        await self._audit("delete", actor, workspace=workspace, package_name=f"{workspace}/{name}",
                          repository=package.repository if package else None, target=f"{package_type} package",
                          detail=f"restorable until {format_time(deleted.restorable_until)}")
        return deleted

    async def restore_package(self, workspace: str, package_type: str, name: str,
                              actor: Principal | None = None) -> str:
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE packages SET deleted_at = NULL WHERE workspace = ? AND type = ? AND name = ? "
                "AND deleted_at IS NOT NULL", (workspace, package_type, name))
        if not changed:
            raise AccessError(f"{package_type} package {workspace}/{name} is not deleted (or was purged)")
        message = f"{package_type} package {workspace}/{name} restored"
        package = await self.access.get_package(workspace, package_type, name)
        if package is None:
            message += "; its repository or workspace is deleted: restore that too"
        await self._audit("restore", actor, workspace=workspace, package_name=f"{workspace}/{name}",
                          repository=package.repository if package else None, target=f"{package_type} package")
        return message

    # --- tags and manifests ---

    async def delete_tag(self, package: Package, tag: str, actor: Principal | None = None) -> None:
        """Delete a container tag (write access is enough); its manifest becomes collectable."""
        await OciStore(self.db).delete_tag(package.id, tag)
        await self._audit("delete", actor, package=package, target=f"tag {tag}")

    async def delete_manifest(self, package: Package, digest: str, actor: Principal | None = None) -> None:
        """Delete a container manifest and every tag pointing at it (admins); what only it kept becomes
        collectable."""
        await OciStore(self.db).delete_manifest(package.id, digest)
        await self._audit("delete", actor, package=package, target=f"manifest {digest}")

    # --- what can be restored ---

    async def deleted(self) -> list[Deleted]:
        """Everything deleted and not yet purged, oldest deletion first (what an operator can restore)."""
        found = []
        for row in await self.db.fetchall("SELECT slug, deleted_at FROM workspaces WHERE deleted_at IS NOT NULL"):
            found.append((row["deleted_at"], f"workspace {row['slug']}"))
        for row in await self.db.fetchall(
                "SELECT workspace || '/' || slug AS name, deleted_at FROM repositories WHERE deleted_at IS NOT NULL"):
            found.append((row["deleted_at"], f"repository {row['name']}"))
        for row in await self.db.fetchall(
                "SELECT type, workspace || '/' || name AS name, deleted_at FROM packages WHERE deleted_at IS NOT NULL"):
            found.append((row["deleted_at"], f"{row['type']} package {row['name']}"))
        return [Deleted(what, at + self.retention_seconds) for at, what in sorted(found)]

    # --- retention ---

    async def _audit(self, action: str, actor: Principal | audit.Actor | None, **where: object) -> None:
        """The audit record of an action (``actor``: a request's principal, None for the command line, or an
        Actor such as the server itself)."""
        who = actor if isinstance(actor, audit.Actor) else await audit.actor_for(self.db, actor)
        await audit.record(self.db, action, who, **where)  # type: ignore[arg-type]

    async def purge(self, older_than_days: float | None = None, actor: audit.Actor | None = None) -> PurgeReport:
        """Remove for good what was deleted longer ago than the retention period (or ``older_than_days``)."""
        days = self.retention_seconds / DAY if older_than_days is None else older_than_days
        cutoff = time.time() - days * DAY
        report = PurgeReport()
        packages = await self.db.fetchall(
            "SELECT p.id, p.type, p.workspace, p.name, r.workspace || '/' || r.slug AS repository "
            "FROM packages p JOIN repositories r ON r.id = p.repository_id "
            "JOIN workspaces w ON w.slug = p.workspace "
            "WHERE p.deleted_at < ? OR r.deleted_at < ? OR w.deleted_at < ?", (cutoff, cutoff, cutoff))
        for row in packages:
            await self.access.purge_package(int(row["id"]))
            report.packages += 1
            await self._audit("purge", actor, workspace=row["workspace"], repository=row["repository"],
                              package_name=f"{row['workspace']}/{row['name']}", target=f"{row['type']} package")
        repositories = await self.db.fetchall(
            "SELECT r.id, r.workspace, r.slug FROM repositories r JOIN workspaces w ON w.slug = r.workspace "
            "WHERE r.deleted_at < ? OR w.deleted_at < ?", (cutoff, cutoff))
        for row in repositories:
            async with self.db.transaction() as tx:
                for table in ("roles", "pipeline_tokens", "retention_policies"):  # (its packages went above)
                    await tx.execute(f"DELETE FROM {table} WHERE repository_id = ?", (row["id"],))
                await tx.execute("DELETE FROM repositories WHERE id = ?", (row["id"],))
            report.repositories += 1
            full_slug = f"{row['workspace']}/{row['slug']}"
            await self._audit("purge", actor, workspace=row["workspace"], repository=full_slug,
                              target=f"repository {full_slug}")
        for row in await self.db.fetchall("SELECT slug FROM workspaces WHERE deleted_at < ?", (cutoff,)):
            async with self.db.transaction() as tx:
                # Its plan, policies, usage count and trusted keys go with it (a workspace made again under
                # the name starts afresh); its metered GB-hours (a bill's record) and its audit entries
                # (pruned by age) stay.
                for table in ("projects", "workspace_plans", "retention_policies", "workspace_usage", "usage_samples",
                              "trusted_keys"):
                    await tx.execute(f"DELETE FROM {table} WHERE workspace = ?", (row["slug"],))
                await tx.execute("DELETE FROM workspaces WHERE slug = ?", (row["slug"],))
            report.workspaces += 1
            await self._audit("purge", actor, workspace=row["slug"], target=f"workspace {row['slug']}")
        return report

    async def purge_forever(self, interval: float = PURGE_INTERVAL) -> None:
        """A server's background task: apply retention every ``interval`` seconds."""
        while True:
            try:
                report = await self.purge(actor=audit.Actor("server", "the retention period"))
                if report.packages or report.repositories or report.workspaces:
                    log.info("retention: %s", report)
            except StorageFault as exc:  # an outage: one line, and again next time
                log.warning("retention purge: %s; it runs again at its next turn", exc)
            except Exception:
                log.exception("retention purge failed")
            await asyncio.sleep(interval)
