"""Packages lists: the query (filter by type, search by name, keyset pagination) and each row's figures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web

from registry.access.models import PACKAGE_TYPES, Package, Principal
from registry.access.store import AccessStore
from registry.content import ContentService

PAGE_SIZE = 25
MAX_QUERY = 100
MAX_AFTER = 600

# Per package type: how many tags (container) or versions (npm, Maven) each package has.
Counter = Callable[[list[int]], Awaitable[dict[int, int]]]


@dataclass(frozen=True, slots=True)
class ListQuery:
    package_type: str | None
    search: str
    after: str

    @classmethod
    def from_request(cls, request: web.Request) -> ListQuery:
        # Anything unexpected is ignored rather than refused: these come from links and a GET form.
        package_type = request.query.get("type", "")
        return cls(
            package_type=package_type if package_type in PACKAGE_TYPES else None,
            search=request.query.get("q", "").strip()[:MAX_QUERY],
            after=request.query.get("after", "")[:MAX_AFTER],
        )

    def link(self, **changes: str) -> str:
        params = {"type": self.package_type or "", "q": self.search, "after": self.after, **changes}
        return "?" + urlencode({k: v for k, v in params.items() if v})


@dataclass(frozen=True, slots=True)
class PackageRow:
    package: Package
    size: int
    count: int | None


@dataclass(frozen=True, slots=True)
class PackagePage:
    rows: list[PackageRow]
    query: ListQuery
    next_link: str | None
    first_link: str | None


async def list_packages(access: AccessStore, content: ContentService, counters: dict[str, Counter],
                        principal: Principal, query: ListQuery, **scope: object) -> PackagePage:
    """One page of the packages the principal may read within ``scope`` (workspace, repository_id,
    project_key), filtered by the query. The access store does the filtering: nobody sees a package
    they may not read, in a list or a search."""
    packages = await access.visible_packages(
        principal, package_type=query.package_type, name_contains=query.search or None, after=query.after,
        limit=PAGE_SIZE + 1, **scope,  # type: ignore[arg-type]
    )
    more = len(packages) > PAGE_SIZE
    packages = packages[:PAGE_SIZE]
    ids = [package.id for package in packages]
    sizes = await content.stored_sizes(ids)
    counts: dict[int, int] = {}
    for package_type, counter in counters.items():
        typed = [package.id for package in packages if package.type == package_type]
        if typed:
            counts.update(await counter(typed))
    rows = [PackageRow(p, sizes.get(p.id, 0), counts.get(p.id, 0 if p.type in counters else None))
            for p in packages]
    next_link = query.link(after=packages[-1].full_name) if more else None
    first_link = query.link(after="") if query.after else None
    return PackagePage(rows, query, next_link, first_link)
