"""Retention policies: rules that delete what a package no longer needs, per package or per repository.

Kinds (each for one package type):
- ``tags`` (container): keep the newest N tags matching a pattern (``pr-*`` keep 5); a manifest left
  with no tag and nothing referencing it goes with its last tag.
- ``untagged`` (container): delete manifests older than D days that no tag reaches (directly, as a
  child of a tagged index, or as a referrer of such a manifest, such as a signature).
- ``snapshots`` (maven): keep the newest N timestamped builds of each SNAPSHOT version.
- ``prereleases`` (npm): keep the newest N pre-release versions.

Ranking counts everything the rule matches; what is protected is then kept even when it falls beyond
N: a tag marked immutable, an npm version a dist-tag points at, a manifest a tag still reaches. A
dry run lists what would go; a real run deletes through each package type's own store (so caches
and revisions move as for a client's delete) and records every deletion in the audit log. Blobs
that nothing references any more are freed by the next garbage collection.
"""

from __future__ import annotations

import fnmatch
import time
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass

from registry import audit, immutable
from registry.access.models import Package
from registry.access.store import AccessStore
from registry.maven.paths import InvalidPath, parse
from registry.maven.store import MavenStore
from registry.npm.store import NpmStore
from registry.oci.errors import OciError
from registry.oci.store import OciStore
from registry.storage.database import Database

KINDS = {"tags": "container", "untagged": "container", "snapshots": "maven", "prereleases": "npm"}
MAX_PATTERN_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Policy:
    id: int
    workspace: str
    target: str  # "package TYPE W/NAME" or "repository W/R"
    kind: str
    pattern: str | None
    keep: int | None
    older_than_days: float | None
    package_id: int | None
    repository_id: int | None

    def describe(self) -> str:
        if self.kind == "tags":
            rule = f"keep the newest {self.keep} tags matching {self.pattern}"
        elif self.kind == "untagged":
            rule = f"delete untagged manifests older than {self.older_than_days:g} days"
        elif self.kind == "snapshots":
            rule = f"keep the newest {self.keep} timestamped builds of each SNAPSHOT"
        else:
            rule = f"keep the newest {self.keep} pre-release versions"
        return f"{self.target}: {rule}"


@dataclass(frozen=True, slots=True)
class Removal:
    policy: int
    package: Package
    what: str  # "tag pr-3", "manifest sha256:...", "build 1.0-SNAPSHOT #4", "version 1.0.0-rc.2"

    def __str__(self) -> str:
        return f"policy {self.policy}: {self.package.type} {self.package.full_name}: {self.what}"


def validate(kind: str, pattern: str | None, keep: int | None, days: float | None) -> None:
    if kind not in KINDS:
        raise ValueError(f"a policy kind is one of {', '.join(KINDS)}")
    if kind in ("tags", "snapshots", "prereleases") and (keep is None or keep < 0):
        raise ValueError(f"a {kind} policy needs --keep N (0 or more)")
    if kind == "tags" and (not pattern or len(pattern) > MAX_PATTERN_LENGTH):
        raise ValueError("a tags policy needs --pattern (a tag glob such as pr-*)")
    if kind == "untagged" and (days is None or days < 0):
        raise ValueError("an untagged policy needs --older-than-days D")


async def add_policy(db: Database, workspace: str, kind: str, *, package: Package | None = None,
                     repository: dict | None = None, pattern: str | None = None, keep: int | None = None,
                     days: float | None = None) -> int:
    validate(kind, pattern, keep, days)
    if package is not None and package.type != KINDS[kind]:
        raise ValueError(f"a {kind} policy applies to {KINDS[kind]} packages, and {package.full_name} is {package.type}")
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO retention_policies (workspace, package_id, repository_id, kind, pattern, keep_count, "
            "older_than_days, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (workspace, package.id if package else None, repository["id"] if repository else None, kind,
             pattern if kind == "tags" else None, keep if kind != "untagged" else None,
             days if kind == "untagged" else None, time.time()))
        row = await tx.fetchone("SELECT MAX(id) AS id FROM retention_policies WHERE workspace = ?", (workspace,))
    assert row is not None
    return int(row["id"])


async def policies(db: Database, workspace: str | None = None, package_id: int | None = None,
                   repository_id: int | None = None) -> list[Policy]:
    where, params = [], []
    for clause, value in (("rp.workspace = ?", workspace), ("rp.package_id = ?", package_id),
                          ("rp.repository_id = ?", repository_id)):
        if value is not None:
            where.append(clause)
            params.append(value)
    rows = await db.fetchall(
        "SELECT rp.*, p.type AS package_type, p.workspace || '/' || p.name AS package_name, "
        "r.workspace || '/' || r.slug AS repository_name FROM retention_policies rp "
        "LEFT JOIN packages p ON p.id = rp.package_id LEFT JOIN repositories r ON r.id = rp.repository_id"
        + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY rp.id", tuple(params))
    return [Policy(int(row["id"]), row["workspace"],
                   f"package {row['package_type']} {row['package_name']}" if row["package_id"] is not None
                   else f"repository {row['repository_name']}",
                   row["kind"], row["pattern"],
                   None if row["keep_count"] is None else int(row["keep_count"]), row["older_than_days"],
                   row["package_id"], row["repository_id"]) for row in rows]


async def get_policy(db: Database, policy_id: int) -> Policy | None:
    return next((p for p in await policies(db) if p.id == policy_id), None)


async def remove_policy(db: Database, policy_id: int) -> bool:
    async with db.transaction() as tx:
        return await tx.execute("DELETE FROM retention_policies WHERE id = ?", (policy_id,)) > 0


class Retention:
    """Applies policies through each package type's store."""

    def __init__(self, db: Database, access: AccessStore) -> None:
        self.db = db
        self.access = access
        self.oci = OciStore(db)
        self.npm = NpmStore(db)
        self.maven = MavenStore(db)

    async def run(self, dry_run: bool = False, workspace: str | None = None) -> list[Removal]:
        removals: list[Removal] = []
        for policy in await policies(self.db, workspace):
            for package in await self._packages(policy):
                removals += await self.apply(policy, package, dry_run)
        return removals

    async def _packages(self, policy: Policy) -> list[Package]:
        """The packages the policy runs on: live ones only (the access store's lookups skip a package kept
        for its retention period after a deletion, its own, its repository's or its workspace's, which is
        left alone to be restored as it was)."""
        if policy.package_id is not None:
            package = await self.access.get_package_by_id(policy.package_id)
            return [package] if package is not None else []
        assert policy.repository_id is not None
        return await self.access.packages_of_repository(policy.repository_id, KINDS[policy.kind])

    async def apply(self, policy: Policy, package: Package, dry_run: bool) -> list[Removal]:
        plan = {"tags": self._tags, "untagged": self._untagged, "snapshots": self._snapshots,
                "prereleases": self._prereleases}[policy.kind]
        return await plan(policy, package, dry_run)

    async def _record(self, removal: Removal) -> None:
        await audit.record(self.db, "delete", audit.Actor(f"retention policy {removal.policy}", "retention policy"),
                           package=removal.package, target=removal.what, detail="retention")

    # --- container ---

    async def _live(self, package_id: int, tagged: set[str]) -> tuple[set[str], list[dict]]:
        """The manifests a tag reaches (as itself, an index's child, or a referrer of one), and every manifest."""
        manifests = await self.db.fetchall("SELECT digest, subject, created_at FROM manifests WHERE package_id = ?",
                                           (package_id,))
        refs = await self.db.fetchall("SELECT manifest_digest, ref_digest FROM manifest_refs WHERE package_id = ? "
                                      "AND kind = 'manifest'", (package_id,))
        reaches: dict[str, list[str]] = defaultdict(list)
        for ref in refs:
            reaches[ref["manifest_digest"]].append(ref["ref_digest"])
        for manifest in manifests:
            if manifest["subject"]:
                reaches[manifest["subject"]].append(manifest["digest"])
        live, frontier = set(tagged), list(tagged)
        while frontier:
            for reached in reaches.get(frontier.pop(), []):
                if reached not in live:
                    live.add(reached)
                    frontier.append(reached)
        return live, manifests

    async def _tags(self, policy: Policy, package: Package, dry_run: bool) -> list[Removal]:
        assert policy.pattern is not None and policy.keep is not None
        tags = await self.db.fetchall("SELECT name, digest, updated_at FROM tags WHERE package_id = ?", (package.id,))
        frozen = await immutable.patterns(self.db, package.id)
        matching = sorted((t for t in tags if fnmatch.fnmatchcase(t["name"], policy.pattern)),
                          key=lambda t: (-t["updated_at"], t["name"]))
        doomed = [t for t in matching[policy.keep:] if immutable.matching(t["name"], frozen) is None]
        doomed_names = {t["name"] for t in doomed}
        remaining = {t["digest"] for t in tags if t["name"] not in doomed_names}
        live, _ = await self._live(package.id, remaining)
        orphans = sorted({t["digest"] for t in doomed} - live)
        removals = [Removal(policy.id, package, f"tag {t['name']}") for t in doomed]
        removals += [Removal(policy.id, package, f"manifest {digest}") for digest in orphans]
        if not dry_run:
            for removal, tag in zip(removals, doomed, strict=False):
                await self._delete(removal, self.oci.delete_tag(package.id, tag["name"]))
            for removal, digest in zip(removals[len(doomed):], orphans, strict=True):
                await self._delete(removal, self.oci.delete_manifest(package.id, digest))
        return removals

    async def _untagged(self, policy: Policy, package: Package, dry_run: bool) -> list[Removal]:
        assert policy.older_than_days is not None
        tagged = {row["digest"] for row in await self.db.fetchall("SELECT digest FROM tags WHERE package_id = ?",
                                                                  (package.id,))}
        live, manifests = await self._live(package.id, tagged)
        cutoff = time.time() - policy.older_than_days * 86400
        doomed = sorted(m["digest"] for m in manifests if m["digest"] not in live and m["created_at"] < cutoff)
        removals = [Removal(policy.id, package, f"manifest {digest}") for digest in doomed]
        if not dry_run:
            for removal, digest in zip(removals, doomed, strict=True):
                await self._delete(removal, self.oci.delete_manifest(package.id, digest))
        return removals

    async def _delete(self, removal: Removal, deletion: Awaitable[None]) -> None:
        """Delete one thing and record it; one a client removed meanwhile (or marked immutable since the
        plan was made) is left out, not a failure of the run."""
        try:
            await deletion
        except (OciError, immutable.ImmutableTag):
            return
        await self._record(removal)

    # --- Maven ---

    async def _snapshots(self, policy: Policy, package: Package, dry_run: bool) -> list[Removal]:
        assert policy.keep is not None
        group, _, artifact = package.name.partition(":")
        builds: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
        for file in await self.maven.files(package.id):
            if not file.version.endswith("-SNAPSHOT"):
                continue
            try:
                path = parse(f"{group.replace('.', '/')}/{artifact}/{file.version}/{file.filename}")
            except InvalidPath:
                continue
            if path.build_number is not None:
                builds[file.version][path.build_number].append(file.filename)
        removals: list[Removal] = []
        for version, by_number in sorted(builds.items()):
            for number in sorted(by_number, reverse=True)[policy.keep:]:
                removal = Removal(policy.id, package, f"build {version} #{number}")
                removals.append(removal)
                if not dry_run:
                    await self.maven.remove_files(package.id, version, by_number[number])
                    await self._record(removal)
        return removals

    # --- npm ---

    async def _prereleases(self, policy: Policy, package: Package, dry_run: bool) -> list[Removal]:
        assert policy.keep is not None
        tagged = set((await self.npm.dist_tags(package.id)).values())
        prereleases = sorted((v for v in await self.npm.versions(package.id) if "-" in v.version.split("+")[0]),
                             key=lambda v: (-v.created_at, v.version))
        doomed = [v.version for v in prereleases[policy.keep:] if v.version not in tagged]
        removals = [Removal(policy.id, package, f"version {version}") for version in doomed]
        if doomed and not dry_run:
            await self.npm.update(package.id, None, {}, doomed, None)
            for removal in removals:
                await self._record(removal)
        return removals
