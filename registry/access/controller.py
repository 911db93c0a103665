"""The one access check: what may this principal do on this package?

Every protocol (OCI, npm, Maven) and the UI ask here; nothing else looks at
roles or scopes.
"""

from __future__ import annotations

from registry.access.models import ROLES, Package, Principal, Right, scope_ceiling
from registry.access.store import AccessStore


class AccessController:
    def __init__(self, store: AccessStore) -> None:
        self.store = store

    async def right(self, principal: Principal, package: Package | None) -> Right:
        if package is None or principal.is_anonymous:
            return Right.NONE
        if principal.kind == "pipeline":
            # Pipeline tokens read and write the packages of their own repository, nothing else.
            return Right.WRITE if package.repository_id == principal.repository_id else Right.NONE
        role = await self.store.role_of(principal.name, package.repository_id)
        if role is None:
            return Right.NONE
        return Right(min(ROLES[role], scope_ceiling(principal.scopes)))

    async def may(self, principal: Principal, right: Right, package: Package | None) -> bool:
        return await self.right(principal, package) >= right

    async def may_create_in(self, principal: Principal, repository_id: int) -> bool:
        """Creating (linking) a package to a repository takes its admin role and a write-scoped token."""
        return await self.may_administer(principal, repository_id)

    async def may_administer(self, principal: Principal, repository_id: int) -> bool:
        """Administering a repository (creating packages in it, deleting it) takes its admin role and a
        write-scoped token; never a pipeline token."""
        if principal.kind != "user":
            return False
        role = await self.store.role_of(principal.name, repository_id)
        return role is not None and min(ROLES[role], scope_ceiling(principal.scopes)) >= Right.ADMIN
