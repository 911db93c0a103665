"""Workspaces, repositories, users, roles, tokens and packages in the metadata database."""

from __future__ import annotations

import time

from registry.access import secrets
from registry.access.models import (
    PACKAGE_TYPES,
    ROLES,
    SCOPES,
    Package,
    Principal,
    api_token_label,
    pipeline_token_label,
)
from registry.storage.database import Database, IntegrityError, Row
from registry.storage.schema import PACKAGE_TABLES

# How often a credential's last-used time is written: often enough for humans, rarely
# enough that a busy pipeline does not turn every pull into a database write.
LAST_USED_RESOLUTION = 60.0

DEFAULT_PIPELINE_TOKEN_TTL = 4 * 3600
PIPELINE_USER_PREFIX = "pipeline-"

# The lookups every request makes (credential, package, role) are answered from memory while the
# database reports no change since they were read (SQLite's data_version moves with every commit of
# any process, so a revocation or a role change is seen by the very next request), and for at most
# RECENT_TTL seconds regardless. Backends without such a change marker are always asked.
RECENT_TTL = 1.0
RECENT_SIZE = 4096
NOT_REMEMBERED = object()


class AccessError(ValueError):
    """A request to the access store that cannot be carried out (unknown or duplicate object)."""


class PackageNameTaken(AccessError):
    """A package of that type and name exists in the workspace (perhaps where the caller cannot see)."""


class NameReserved(AccessError):
    """The name belongs to a deleted package kept for the retention period.

    The message says no more than when the name is free again: whoever reads it may not be allowed
    to see the deleted package (no existence oracle beyond "not available")."""

    def __init__(self, subject: str, until: float) -> None:
        super().__init__(f"{subject} is not available until {format_time(until)}")
        self.until = until


def format_time(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


_PACKAGE_SELECT = (
    "SELECT p.id, p.workspace, p.type, p.name, p.repository_id, p.created_at, p.updated_at, "
    "r.workspace || '/' || r.slug AS repository "
    "FROM packages p JOIN repositories r ON r.id = p.repository_id JOIN workspaces w ON w.slug = p.workspace"
)
# A package is gone (deleted, kept for the retention period) while it, its repository or its workspace
# has a deletion time. Every lookup of a package goes through this condition, so every protocol and
# page answers for a gone package exactly as for one that never existed (registry/lifecycle.py).
LIVE_PACKAGE = "p.deleted_at IS NULL AND r.deleted_at IS NULL AND w.deleted_at IS NULL"
LIVE_REPOSITORY = ("r.deleted_at IS NULL AND NOT EXISTS "
                   "(SELECT 1 FROM workspaces w WHERE w.slug = r.workspace AND w.deleted_at IS NOT NULL)")


def _package(row: Row) -> Package:
    return Package(**row)


class AccessStore:
    def __init__(self, db: Database, retention_seconds: float = 30 * 86400) -> None:
        self.db = db
        self.retention_seconds = retention_seconds  # how long a deleted package's name stays reserved
        self._last_touched: dict[str, float] = {}
        self._data_version = getattr(db, "data_version", None)
        self._recent: dict[tuple, object] = {}
        self._recent_version: int | None = None
        self._recent_since = 0.0
        self._recent_generation = 0  # moves whenever the remembered answers are dropped

    def moment(self) -> int:
        """Where the remembered answers stand: drops them if the database changed since they were read
        (or they are older than RECENT_TTL), and returns their generation, for :meth:`remember`."""
        if self._data_version is None:
            return -1
        version, now = self._data_version(), time.monotonic()
        if version != self._recent_version or now - self._recent_since > RECENT_TTL:
            self._recent.clear()
            self._recent_generation += 1
            self._recent_version, self._recent_since = version, now
        return self._recent_generation

    def recall(self, key: tuple) -> object:
        """An answer remembered since the last :meth:`moment`, or NOT_REMEMBERED. Shared: never change it."""
        return self._recent.get(key, NOT_REMEMBERED)

    def remember(self, key: tuple, value: object, generation: int) -> None:
        """Keep an answer worked out from what the database held at ``generation`` (a :meth:`moment`
        taken before reading it). Kept only if the database has not changed since: an answer read
        before a revocation must not outlive it."""
        if generation == self._recent_generation >= 0 and len(self._recent) < RECENT_SIZE:
            self._recent[key] = value

    async def _fetchone_recent(self, sql: str, params: tuple) -> Row | None:
        """``db.fetchone``, from the answers of the last moment while the database has not changed.
        The row returned may be shared: read it, never change it."""
        generation = self.moment()
        key = (sql, params)
        row = self.recall(key)
        if row is NOT_REMEMBERED:
            row = await self.db.fetchone(sql, params)
            self.remember(key, row, generation)
        return row  # type: ignore[return-value]

    # --- workspaces, projects, repositories, users, roles ---

    async def create_workspace(self, slug: str) -> None:
        async with self.db.transaction() as tx:
            try:
                await tx.execute("INSERT INTO workspaces (slug, created_at) VALUES (?, ?)", (slug, time.time()))
            except IntegrityError:
                deleted = await self.db.fetchone("SELECT deleted_at FROM workspaces WHERE slug = ?", (slug,))
                if deleted is not None and deleted["deleted_at"] is not None:
                    raise NameReserved(f"workspace {slug}", deleted["deleted_at"] + self.retention_seconds) from None
                raise AccessError(f"workspace {slug!r} already exists") from None

    async def workspace_exists(self, slug: str) -> bool:
        return await self.db.fetchone("SELECT 1 AS x FROM workspaces WHERE slug = ? AND deleted_at IS NULL",
                                      (slug,)) is not None

    async def create_project(self, workspace: str, key: str, name: str | None = None) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO projects (workspace, key, name) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (workspace, key, name or key),
            )

    async def list_projects(self, workspace: str) -> list[Row]:
        return await self.db.fetchall("SELECT key, name FROM projects WHERE workspace = ? ORDER BY key", (workspace,))

    async def create_repository(self, workspace: str, slug: str, project_key: str | None = None) -> int:
        if not await self.workspace_exists(workspace):
            raise AccessError(f"workspace {workspace!r} does not exist")
        if project_key:
            await self.create_project(workspace, project_key)
        async with self.db.transaction() as tx:
            try:
                await tx.execute(
                    "INSERT INTO repositories (workspace, slug, project_key, created_at) VALUES (?, ?, ?, ?)",
                    (workspace, slug, project_key, time.time()),
                )
            except IntegrityError:
                deleted = await self.db.fetchone(
                    "SELECT deleted_at FROM repositories WHERE workspace = ? AND slug = ?", (workspace, slug))
                if deleted is not None and deleted["deleted_at"] is not None:
                    raise NameReserved(f"repository {workspace}/{slug}",
                                       deleted["deleted_at"] + self.retention_seconds) from None
                raise AccessError(f"repository {workspace}/{slug} already exists") from None
            row = await tx.fetchone("SELECT id FROM repositories WHERE workspace = ? AND slug = ?", (workspace, slug))
        assert row is not None
        return int(row["id"])

    async def get_repository(self, full_slug: str) -> Row | None:
        workspace, _, slug = full_slug.partition("/")
        return await self.db.fetchone(
            f"SELECT id, workspace, slug, project_key FROM repositories r WHERE workspace = ? AND slug = ? "
            f"AND {LIVE_REPOSITORY}",
            (workspace, slug),
        )

    async def require_repository(self, full_slug: str) -> Row:
        repository = await self.get_repository(full_slug)
        if repository is None:
            raise AccessError(f"repository {full_slug} does not exist")
        return repository

    async def list_repositories(self, workspace: str) -> list[Row]:
        return await self.db.fetchall(
            f"SELECT id, workspace, slug, project_key FROM repositories r WHERE workspace = ? AND {LIVE_REPOSITORY} "
            f"ORDER BY slug",
            (workspace,),
        )

    async def create_user(self, email: str) -> None:
        async with self.db.transaction() as tx:
            try:
                await tx.execute("INSERT INTO users (email, created_at) VALUES (?, ?)", (email.lower(), time.time()))
            except IntegrityError:
                raise AccessError(f"user {email} already exists") from None

    async def user_exists(self, email: str) -> bool:
        return await self.db.fetchone("SELECT 1 AS x FROM users WHERE email = ?", (email.lower(),)) is not None

    async def grant(self, email: str, repository_full_slug: str, role: str) -> None:
        if role not in ROLES:
            raise AccessError(f"role must be one of {', '.join(ROLES)}")
        if not await self.user_exists(email):
            raise AccessError(f"user {email} does not exist")
        repository = await self.require_repository(repository_full_slug)
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO roles (email, repository_id, role) VALUES (?, ?, ?) "
                "ON CONFLICT (email, repository_id) DO UPDATE SET role = excluded.role",
                (email.lower(), repository["id"], role),
            )

    async def revoke_role(self, email: str, repository_full_slug: str) -> None:
        repository = await self.require_repository(repository_full_slug)
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM roles WHERE email = ? AND repository_id = ?", (email.lower(), repository["id"]))

    async def role_of(self, email: str, repository_id: int) -> str | None:
        row = await self._fetchone_recent(
            "SELECT role FROM roles WHERE email = ? AND repository_id = ?", (email, repository_id)
        )
        return row["role"] if row else None

    async def repositories_of(self, email: str) -> list[Row]:
        """Every repository the user has a role on, with the role."""
        return await self.db.fetchall(
            f"SELECT r.id, r.workspace, r.slug, r.project_key, ro.role FROM roles ro "
            f"JOIN repositories r ON r.id = ro.repository_id WHERE ro.email = ? AND {LIVE_REPOSITORY} "
            f"ORDER BY r.workspace, r.slug",
            (email,),
        )

    # --- API tokens ---

    async def create_api_token(
        self, email: str, scopes: list[str], name: str = "", expires_at: float | None = None,
        parent: str | None = None,
    ) -> tuple[str, str]:
        """Return (token id, secret). The secret is shown once and stored only as a hash.

        ``parent`` is the credential id of the API token the request was made with (the pages): the
        new token gets no scope the parent lacks, does not outlive it, and is revoked with it.
        """
        unknown = [scope for scope in scopes if scope not in SCOPES]
        if unknown or not scopes:
            raise AccessError(f"scopes must be among {', '.join(SCOPES)}")
        if not await self.user_exists(email):
            raise AccessError(f"user {email} does not exist")
        parent_id = None
        if parent is not None:
            parent_id = await self._check_parent(email, parent, scopes, expires_at)
        token_id, secret = secrets.new_id(), secrets.new_secret(secrets.API_TOKEN_PREFIX)
        async with self.db.transaction() as tx:
            if parent_id is not None and not await tx.fetchone(
                    "SELECT 1 AS x FROM api_tokens WHERE id = ? AND revoked_at IS NULL", (parent_id,)):
                raise AccessError("the token this one would be made with has just been revoked")
            await tx.execute(
                "INSERT INTO api_tokens (id, email, name, secret_hash, scopes, created_at, expires_at, parent_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (token_id, email.lower(), name or token_id, secrets.hash_secret(secret), " ".join(sorted(set(scopes))),
                 time.time(), expires_at, parent_id),
            )
        return token_id, secret

    async def _check_parent(self, email: str, parent: str, scopes: list[str], expires_at: float | None) -> str:
        kind, _, parent_id = parent.partition(":")
        row = await self.db.fetchone("SELECT email, scopes, expires_at, revoked_at FROM api_tokens WHERE id = ?",
                                     (parent_id,))
        if kind != "a" or row is None or row["email"] != email.lower() or row["revoked_at"] is not None \
                or (row["expires_at"] is not None and row["expires_at"] <= time.time()):
            raise AccessError("only a live API token of the same user can make a token")
        if not set(scopes) <= set(row["scopes"].split()):
            raise AccessError("a token cannot have scopes that the token it is made with lacks")
        if row["expires_at"] is not None and (expires_at is None or expires_at > row["expires_at"]):
            raise AccessError("a token cannot outlive the token it is made with: choose an expiry no later than "
                              + format_time(row["expires_at"]))
        return parent_id

    async def api_token_expiry(self, credential_id: str) -> float | None:
        """When the API token behind a credential id expires (None: never, or not an API token)."""
        kind, _, token_id = credential_id.partition(":")
        row = await self.db.fetchone("SELECT expires_at FROM api_tokens WHERE id = ?", (token_id,)) \
            if kind == "a" else None
        return row["expires_at"] if row else None

    async def list_api_tokens(self, email: str) -> list[Row]:
        return await self.db.fetchall(
            "SELECT id, name, scopes, created_at, expires_at, revoked_at, last_used_at FROM api_tokens "
            "WHERE email = ? ORDER BY created_at DESC",
            (email.lower(),),
        )

    async def revoke_api_token(self, token_id: str, email: str | None = None) -> bool:
        """Revoke a token (only the owner's, when ``email`` is given) and every token made with it, and
        with those, and so on. True if it was live."""
        sql = "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
        now = time.time()
        params: tuple = (now, token_id)
        if email is not None:
            sql += " AND email = ?"
            params += (email.lower(),)
        async with self.db.transaction() as tx:
            if not await tx.execute(sql, params):
                return False
            await tx.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND id IN ("
                "WITH RECURSIVE made_with(id) AS (SELECT id FROM api_tokens WHERE parent_id = ? "
                "UNION SELECT t.id FROM api_tokens t JOIN made_with m ON t.parent_id = m.id) "
                "SELECT id FROM made_with)",
                (now, token_id),
            )
            return True

    # --- pipeline tokens ---

    async def create_pipeline_token(self, repository_full_slug: str, ttl: float = DEFAULT_PIPELINE_TOKEN_TTL
                                    ) -> tuple[str, str]:
        """Return (username, secret) as Pipelines would inject them."""
        repository = await self.require_repository(repository_full_slug)
        token_id, secret = secrets.new_id(), secrets.new_secret(secrets.PIPELINE_TOKEN_PREFIX)
        now = time.time()
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO pipeline_tokens (id, repository_id, secret_hash, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (token_id, repository["id"], secrets.hash_secret(secret), now, now + ttl),
            )
        return PIPELINE_USER_PREFIX + token_id, secret

    # --- authentication ---

    async def authenticate(self, username: str, secret: str) -> Principal | None:
        """The principal for a username + token pair, or None if they do not match a live token."""
        return await self._authenticate(secret, username)

    async def authenticate_secret(self, secret: str) -> Principal | None:
        """The principal for a bare token (npm sends ``Bearer <token>`` with no username; twine, uv and
        Poetry send the username ``__token__``)."""
        return await self._authenticate(secret, None)

    async def _authenticate(self, secret: str, username: str | None) -> Principal | None:
        """The principal of a live token, looked up once by its hash; with ``username``, only if the token
        is that user's (or that pipeline token's own name)."""
        digest = secrets.hash_secret(secret)
        now = time.time()
        if secret.startswith(secrets.PIPELINE_TOKEN_PREFIX):
            row = await self._fetchone_recent(
                f"SELECT t.id, t.repository_id, t.expires_at, t.revoked_at, r.workspace, r.slug FROM pipeline_tokens t "
                f"JOIN repositories r ON r.id = t.repository_id WHERE t.secret_hash = ? AND {LIVE_REPOSITORY}",
                (digest,),
            )
            if row is None or username not in (None, PIPELINE_USER_PREFIX + row["id"]):
                return None
            if row["revoked_at"] is not None or row["expires_at"] <= now:
                return None
            await self._touch("pipeline_tokens", row["id"], now)
            return Principal(kind="pipeline", name=PIPELINE_USER_PREFIX + row["id"], credential_id="p:" + row["id"],
                             repository_id=int(row["repository_id"]), workspace=row["workspace"],
                             expires_at=row["expires_at"],
                             credential_label=pipeline_token_label(row["id"], f"{row['workspace']}/{row['slug']}"))
        row = await self._fetchone_recent(
            "SELECT id, email, name, scopes, expires_at, revoked_at FROM api_tokens WHERE secret_hash = ?", (digest,)
        )
        if row is None or (username is not None and username.lower() != row["email"]):
            return None
        if row["revoked_at"] is not None or (row["expires_at"] is not None and row["expires_at"] <= now):
            return None
        await self._touch("api_tokens", row["id"], now)
        return Principal(kind="user", name=row["email"], credential_id="a:" + row["id"],
                         scopes=frozenset(row["scopes"].split()), expires_at=row["expires_at"],
                         credential_label=api_token_label(row["id"], row["name"]))

    async def credential_is_live(self, credential_id: str) -> bool:
        """Whether the token behind a credential id is still unexpired and unrevoked."""
        kind, _, token_id = credential_id.partition(":")
        table = {"a": "api_tokens", "p": "pipeline_tokens"}.get(kind)
        if table is None:
            return False
        row = await self._fetchone_recent(f"SELECT expires_at, revoked_at FROM {table} WHERE id = ?", (token_id,))
        if row is None or row["revoked_at"] is not None:
            return False
        return row["expires_at"] is None or row["expires_at"] > time.time()

    async def _touch(self, table: str, token_id: str, now: float) -> None:
        if now - self._last_touched.get(token_id, 0.0) < LAST_USED_RESOLUTION:
            return
        self._last_touched[token_id] = now
        async with self.db.transaction() as tx:
            await tx.execute(f"UPDATE {table} SET last_used_at = ? WHERE id = ?", (now, token_id))

    # --- packages ---

    async def create_package(self, workspace: str, name: str, package_type: str, repository_full_slug: str) -> Package:
        if package_type not in PACKAGE_TYPES:
            raise AccessError(f"package type must be one of {', '.join(PACKAGE_TYPES)}")
        repository = await self.require_repository(repository_full_slug)
        if repository["workspace"] != workspace:
            raise AccessError(f"a package of workspace {workspace} must be linked to a repository of that workspace")
        now = time.time()
        async with self.db.transaction() as tx:
            try:
                await tx.execute(
                    "INSERT INTO packages (workspace, type, name, repository_id, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (workspace, package_type, name, repository["id"], now, now),
                )
            except IntegrityError:
                until = await self.reserved_until(workspace, package_type, name)
                if until is not None:
                    raise NameReserved(f"the name {workspace}/{name}", until) from None
                raise PackageNameTaken(f"{package_type} package {workspace}/{name} already exists") from None
        package = await self.get_package(workspace, package_type, name)
        assert package is not None
        return package

    async def ensure_package(self, workspace: str, name: str, package_type: str, repository_id: int) -> Package:
        """The package, created and linked to the repository if it does not exist yet (a race with
        another creator is no error: the package they made is returned)."""
        existing = await self.get_package(workspace, package_type, name)
        if existing is not None:
            return existing
        row = await self.db.fetchone("SELECT workspace || '/' || slug AS full_slug FROM repositories WHERE id = ?",
                                     (repository_id,))
        if row is None:
            raise AccessError(f"repository {repository_id} does not exist")
        try:
            return await self.create_package(workspace, name, package_type, row["full_slug"])
        except NameReserved:
            raise
        except AccessError:
            existing = await self.get_package(workspace, package_type, name)
            if existing is None:
                raise
            return existing

    async def get_package(self, workspace: str, package_type: str, name: str) -> Package | None:
        """The package, unless it does not exist or is gone (deleted, itself or with its repository or
        workspace: registry/lifecycle.py)."""
        row = await self._fetchone_recent(
            f"{_PACKAGE_SELECT} WHERE p.workspace = ? AND p.type = ? AND p.name = ? AND {LIVE_PACKAGE}",
            (workspace, package_type, name),
        )
        return _package(row) if row else None

    async def get_package_by_id(self, package_id: int) -> Package | None:
        row = await self.db.fetchone(f"{_PACKAGE_SELECT} WHERE p.id = ? AND {LIVE_PACKAGE}", (package_id,))
        return _package(row) if row else None

    async def packages_of_repository(self, repository_id: int, package_type: str) -> list[Package]:
        """The live packages of one type linked to a repository, oldest first."""
        rows = await self.db.fetchall(
            f"{_PACKAGE_SELECT} WHERE p.repository_id = ? AND p.type = ? AND {LIVE_PACKAGE} ORDER BY p.id",
            (repository_id, package_type))
        return [_package(row) for row in rows]

    async def reserved_until(self, workspace: str, package_type: str, name: str) -> float | None:
        """Until when the name of a gone package stays reserved (None: the name is not a gone package's).

        A gone package is purged, and its name freed, when the earliest of the deletions that hide it
        is older than the retention period."""
        row = await self.db.fetchone(
            "SELECT p.deleted_at AS p_at, r.deleted_at AS r_at, w.deleted_at AS w_at "
            "FROM packages p JOIN repositories r ON r.id = p.repository_id JOIN workspaces w ON w.slug = p.workspace "
            "WHERE p.workspace = ? AND p.type = ? AND p.name = ?",
            (workspace, package_type, name),
        )
        deleted = [at for at in (row["p_at"], row["r_at"], row["w_at"]) if at is not None] if row else []
        return min(deleted) + self.retention_seconds if deleted else None

    async def touch_package(self, package_id: int) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE packages SET updated_at = ? WHERE id = ?", (time.time(), package_id))

    async def purge_package(self, package_id: int) -> None:
        """Remove a package for good: its row and every row that belongs to it (gc then frees its blobs)."""
        async with self.db.transaction() as tx:
            for table in PACKAGE_TABLES:
                await tx.execute(f"DELETE FROM {table} WHERE package_id = ?", (package_id,))
            await tx.execute("DELETE FROM packages WHERE id = ?", (package_id,))

    async def visible_packages(
        self,
        principal: Principal,
        *,
        workspace: str | None = None,
        package_type: str | None = None,
        repository_id: int | None = None,
        project_key: str | None = None,
        name_contains: str | None = None,
        after: str = "",
        limit: int = 100,
    ) -> list[Package]:
        """Packages the principal may read, ordered by full name, after ``after``."""
        where, params = ["(p.workspace || '/' || p.name) > ?", LIVE_PACKAGE], [after]
        if principal.kind == "pipeline":
            where.append("p.repository_id = ?")
            params.append(principal.repository_id)
        elif principal.kind == "user" and principal.scopes & set(SCOPES):
            where.append("p.repository_id IN (SELECT repository_id FROM roles WHERE email = ?)")
            params.append(principal.name)
        else:
            return []
        for clause, value in (
            ("p.workspace = ?", workspace),
            ("p.type = ?", package_type),
            ("p.repository_id = ?", repository_id),
            ("r.project_key = ?", project_key),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        if name_contains:
            where.append("instr(lower(p.name), ?) > 0" if self.db.dialect == "sqlite" else "strpos(lower(p.name), ?) > 0")
            params.append(name_contains.lower())
        rows = await self.db.fetchall(
            f"{_PACKAGE_SELECT} WHERE {' AND '.join(where)} ORDER BY p.workspace || '/' || p.name LIMIT ?",
            (*params, int(limit)),
        )
        return [_package(row) for row in rows]
