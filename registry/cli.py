"""``packages-registry``: run the server and administer workspaces, users, tokens and packages."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from registry.access.models import PACKAGE_TYPES, ROLES, SCOPES
from registry.access.signing_keys import SigningKeyError
from registry.access.store import DEFAULT_PIPELINE_TOKEN_TTL, AccessError
from registry.settings import Settings, default_data_dir
from registry.storage.faults import StorageFault
from registry.storage.migrate import DatabaseNewerThanCode
from registry.storage.probe import StorageProbeFailed
from vocab.names import is_valid_workspace


class UsageError(Exception):
    pass


def _settings(args: argparse.Namespace) -> Settings:
    """Settings from their defaults, overridden by each option given (an option's dest is its setting's name)."""
    settings = Settings(data_dir=Path(args.data) if args.data else default_data_dir())
    for field in dataclasses.fields(Settings):
        if field.name != "data_dir" and getattr(args, field.name, None) is not None:
            setattr(settings, field.name, getattr(args, field.name))
    return settings


def _with_services(action: Callable[..., Awaitable[None]]) -> Callable[[argparse.Namespace], None]:
    def run(args: argparse.Namespace) -> None:
        from registry.app import build_services

        async def main() -> None:
            svc = await build_services(_settings(args))
            try:
                await action(svc, args)
            finally:
                await svc.db.close()

        asyncio.run(main())

    return run


def _split_full(value: str, what: str) -> tuple[str, str]:
    workspace, sep, rest = value.partition("/")
    if not sep or not rest or not is_valid_workspace(workspace):
        raise UsageError(f"{what} must look like WORKSPACE/NAME, got {value!r}")
    return workspace, rest


@_with_services
async def cmd_workspace_create(svc, args) -> None:
    if not is_valid_workspace(args.slug):
        raise UsageError("a workspace slug is lower-case letters, digits, '-' and '_' (up to 62)")
    await svc.access.create_workspace(args.slug)
    print(f"workspace {args.slug} created")


@_with_services
async def cmd_project_create(svc, args) -> None:
    await svc.access.create_project(args.workspace, args.key, args.name)
    print(f"project {args.key} created in {args.workspace}")


@_with_services
async def cmd_repository_create(svc, args) -> None:
    workspace, slug = _split_full(args.repository, "repository")
    await svc.access.create_repository(workspace, slug, args.project)
    print(f"repository {workspace}/{slug} created")


@_with_services
async def cmd_user_create(svc, args) -> None:
    if "@" not in args.email or ":" in args.email:
        raise UsageError("a user is an email address")
    await svc.access.create_user(args.email)
    print(f"user {args.email.lower()} created")


@_with_services
async def cmd_grant(svc, args) -> None:
    await svc.access.grant(args.email, args.repository, args.role)
    print(f"{args.email.lower()} has {args.role} on {args.repository}")


@_with_services
async def cmd_token_create(svc, args) -> None:
    expires = time.time() + args.expires_days * 86400 if args.expires_days else None
    _, secret = await svc.access.create_api_token(args.email, args.scope or [], args.name or "", expires)
    print(secret)


@_with_services
async def cmd_token_list(svc, args) -> None:
    for row in await svc.access.list_api_tokens(args.email):
        state = "revoked" if row["revoked_at"] else "live"
        print(f"{row['id']}\t{row['name']}\t{row['scopes']}\t{state}")


@_with_services
async def cmd_token_revoke(svc, args) -> None:
    if not await svc.access.revoke_api_token(args.token_id):
        raise UsageError(f"no live token {args.token_id}")
    print(f"token {args.token_id} revoked")


@_with_services
async def cmd_pipeline_token(svc, args) -> None:
    username, secret = await svc.access.create_pipeline_token(args.repository, args.ttl)
    print(f"BITBUCKET_PACKAGES_USERNAME={username}")
    print(f"BITBUCKET_PACKAGES_TOKEN={secret}")


@_with_services
async def cmd_package_create(svc, args) -> None:
    workspace, name = _split_full(args.package, "package")
    from registry.packages import validate_package_name

    name = validate_package_name(args.type, name)
    package = await svc.access.create_package(workspace, name, args.type, args.repository)
    from registry import audit

    await audit.record(svc.db, "create", audit.cli_actor(), package=package)
    print(f"{args.type} package {workspace}/{name} created, linked to {args.repository}")


@_with_services
async def cmd_package_delete(svc, args) -> None:
    workspace, name = _split_full(args.package, "package")
    print(await svc.lifecycle.delete_package(workspace, args.type, name))


@_with_services
async def cmd_package_restore(svc, args) -> None:
    workspace, name = _split_full(args.package, "package")
    print(await svc.lifecycle.restore_package(workspace, args.type, name))


@_with_services
async def cmd_repository_delete(svc, args) -> None:
    _split_full(args.repository, "repository")
    print(await svc.lifecycle.delete_repository(args.repository))


@_with_services
async def cmd_repository_restore(svc, args) -> None:
    _split_full(args.repository, "repository")
    print(await svc.lifecycle.restore_repository(args.repository))


@_with_services
async def cmd_workspace_delete(svc, args) -> None:
    print(await svc.lifecycle.delete_workspace(args.slug))


@_with_services
async def cmd_workspace_restore(svc, args) -> None:
    print(await svc.lifecycle.restore_workspace(args.slug))


@_with_services
async def cmd_deleted(svc, args) -> None:
    for deleted in await svc.lifecycle.deleted():
        print(deleted.line())


@_with_services
async def cmd_purge(svc, args) -> None:
    print(await svc.lifecycle.purge(args.older_than_days))


async def _pypi_project(svc, full_name: str):
    from registry.pypi.names import is_valid_project_name, normalize

    workspace, name = _split_full(full_name, "project")
    if not is_valid_project_name(name):
        raise UsageError(f"invalid Python project name {name!r}")
    package = await svc.access.get_package(workspace, "pypi", normalize(name))
    if package is None:
        raise UsageError(f"no pypi package {workspace}/{normalize(name)}")
    return package


@_with_services
async def cmd_pypi_files(svc, args) -> None:
    """yank, unyank or delete a version's files (or one file) of a PyPI project."""
    from registry.pypi.store import PypiStore

    package = await _pypi_project(svc, args.project)
    store = PypiStore(svc.db)
    if args.pypi_action == "yank":
        changed = await store.yank(package.id, args.version, args.file, args.reason)
    elif args.pypi_action == "unyank":
        changed = await store.unyank(package.id, args.version, args.file)
    else:
        changed = await store.delete(package.id, args.version, args.file)
    if not changed:
        raise UsageError(f"no file of {package.full_name} {args.version}" + (f" named {args.file}" if args.file else ""))
    done = {"yank": "yanked", "unyank": "unyanked", "delete": "deleted (run gc to free the storage)"}
    print(f"{changed} file(s) of {package.full_name} {args.version} {done[args.pypi_action]}")


@_with_services
async def cmd_gc(svc, args) -> None:
    from registry.gc import CollectorBusy, collect_exclusively

    try:
        report = await collect_exclusively(svc.db, svc.content, svc.settings.gc_grace_seconds, args.dry_run)
    except CollectorBusy as exc:
        raise UsageError(str(exc)) from None
    print(("dry run: " if args.dry_run else "") + str(report))


def _key_ring(args: argparse.Namespace, create: bool = False):
    from registry.access.signing_keys import open_key_ring

    settings = _settings(args)
    return open_key_ring(settings.data_dir, settings.signing_key_file, create)


def cmd_keys_list(args: argparse.Namespace) -> None:
    ring = _key_ring(args)
    signing = ring.signing.kid
    for key in ring.all():
        made = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(key.created_at))
        print(f"{key.kid}\t{made}\t{'signing' if key.kid == signing else 'verifying'}")


def cmd_keys_rotate(args: argparse.Namespace) -> None:
    from registry.access.jwt_tokens import ACCESS_TOKEN_TTL, REFRESH_TOKEN_TTL

    ring = _key_ring(args, create=True)
    if ring.made_first:
        print(f"new signing key {ring.signing.kid}")
        return
    kid, removed = ring.rotate(keep_seconds=REFRESH_TOKEN_TTL + ACCESS_TOKEN_TTL)
    print(f"new signing key {kid}" + (f"; removed expired keys {', '.join(removed)}" if removed else ""))


def cmd_keys_remove(args: argparse.Namespace) -> None:
    _key_ring(args).remove(args.kid)
    print(f"signing key {args.kid} removed: the tokens it signed are refused")


def cmd_migrate(args: argparse.Namespace) -> None:
    from registry.storage.migrate import migrate

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    applied = migrate(settings.database_url or str(settings.data_dir / "metadata.db"))
    print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "the schema is up to date")


def cmd_serve(args: argparse.Namespace) -> None:
    from registry.server import serve

    serve(_settings(args), args.host, args.port, args.workers)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", default=argparse.SUPPRESS,
                        help="data directory (default: $PACKAGES_REGISTRY_DATA or a per-user data dir)")
    common.add_argument("--database", dest="database_url", default=argparse.SUPPRESS, metavar="URL",
                        help="postgresql://... to keep metadata in PostgreSQL (default: SQLite in the data dir; "
                             "$PACKAGES_REGISTRY_DATABASE)")
    common.add_argument("--blobs", dest="blob_url", default=argparse.SUPPRESS, metavar="URL",
                        help="s3://BUCKET[/PREFIX] to keep blobs in S3-compatible storage (default: the data dir; "
                             "$PACKAGES_REGISTRY_BLOBS)")
    common.add_argument("--s3-endpoint", dest="s3_endpoint", default=argparse.SUPPRESS, metavar="URL",
                        help="S3 endpoint for a non-AWS store such as Ceph or MinIO ($PACKAGES_REGISTRY_S3_ENDPOINT)")
    common.add_argument("--backend-timeout", dest="backend_timeout", type=float, default=argparse.SUPPRESS,
                        metavar="SECONDS", help="longest wait for a database statement or connection, or an S3 "
                                                "connection, before answering 503 (default 5)")
    common.add_argument("--db-pool-size", dest="db_pool_size", type=int, default=argparse.SUPPRESS, metavar="N",
                        help="PostgreSQL connections per server process (default 8)")
    common.add_argument("--reserve-bytes", dest="reserve_bytes", type=int, default=argparse.SUPPRESS,
                        metavar="BYTES", help="free space blob writes leave on the data dir's disk, for metadata "
                                              "(default 67108864, 64 MiB)")
    common.add_argument("--signing-key-file", dest="signing_key_file", default=argparse.SUPPRESS, metavar="PATH",
                        help="bearer-token signing key: a file (32+ bytes) or a directory of KID.key files, shared "
                             "by replicas (default: DATA/keys; $PACKAGES_REGISTRY_SIGNING_KEY_FILE)")
    common.add_argument("--retention-days", dest="retention_days", type=float, default=argparse.SUPPRESS,
                        help="how long deleted workspaces, repositories and packages are kept, restorable and "
                             "with their names reserved, before they are purged (default 30)")
    parser = argparse.ArgumentParser(prog="packages-registry", parents=[common],
                                     description="The bundled Bitbucket Packages-style registry.")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler, help_text: str, parent=sub) -> argparse.ArgumentParser:
        p = parent.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    serve = command("serve", cmd_serve, "run the registry server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=int(os.environ.get("PACKAGES_REGISTRY_WORKERS", "1")),
                       help="server processes sharing the port (default 1)")
    serve.add_argument("--public-url", dest="public_url", help="URL clients reach this server at")
    serve.add_argument("--auto-create", dest="auto_create", action="store_true", default=None,
                       help="a pipeline token's push to an unknown package creates it, linked to its repository")
    serve.add_argument("--no-delete", dest="delete_enabled", action="store_false", default=None,
                       help="refuse DELETE of manifests, tags, blobs and packages")
    serve.add_argument("--max-uploads-per-credential", dest="max_uploads_per_credential", type=int,
                       help="open upload sessions one token may have (default 100; past it: 429 + Retry-After)")
    serve.add_argument("--max-uploads-per-package", dest="max_uploads_per_package", type=int,
                       help="open upload sessions one package may have (default 200)")
    serve.add_argument("--upload-idle-timeout", dest="upload_idle_seconds", type=float, metavar="SECONDS",
                       help="an upload session unused this long expires (default 3600)")
    serve.add_argument("--header-timeout", dest="header_timeout", type=float, metavar="SECONDS",
                       help="time for a request's head to arrive (default 30; then 408 and the connection closes)")
    serve.add_argument("--body-timeout", dest="body_timeout", type=float, metavar="SECONDS",
                       help="a request body may stall this long, and is held to --body-min-rate after it "
                            "(default 60)")
    serve.add_argument("--body-min-rate", dest="body_min_rate", type=float, metavar="BYTES",
                       help="least average bytes per second of a request body (default 500)")
    serve.add_argument("--keepalive-timeout", dest="keepalive_timeout", type=float, metavar="SECONDS",
                       help="an idle kept-alive connection is closed after this (default 75)")
    serve.add_argument("--allow-redeploy", dest="allow_redeploy", action="store_true", default=None,
                       help="Maven: allow re-deploying release files")
    serve.add_argument("--gc-interval", dest="gc_interval", type=float, metavar="SECONDS",
                       help="run garbage collection in the background this often, one replica at a time "
                            "(default 86400, daily; 0: never)")
    serve.add_argument("--gc-grace-seconds", dest="gc_grace_seconds", type=float, metavar="SECONDS",
                       help="what the background collector keeps: anything younger than this (default 3600)")
    serve.add_argument("--pypi-max-file-size", dest="pypi_max_file_bytes", type=int, metavar="BYTES",
                       help="PyPI: the largest file an upload may bring (default 1 GiB)")
    from registry import policy_cli

    policy_cli.add_serve_options(serve)

    workspace = sub.add_parser("workspace", help="workspaces").add_subparsers(dest="action", required=True)
    command("create", cmd_workspace_create, "create a workspace", workspace).add_argument("slug")
    command("delete", cmd_workspace_delete, "delete a workspace with everything in it (restorable during the "
            "retention period)", workspace).add_argument("slug")
    command("restore", cmd_workspace_restore, "restore a deleted workspace", workspace).add_argument("slug")

    project = sub.add_parser("project", help="projects").add_subparsers(dest="action", required=True)
    p = command("create", cmd_project_create, "create a project in a workspace", project)
    p.add_argument("workspace")
    p.add_argument("key")
    p.add_argument("--name")

    repository = sub.add_parser("repository", help="repositories").add_subparsers(dest="action", required=True)
    p = command("create", cmd_repository_create, "create a repository", repository)
    p.add_argument("repository", metavar="WORKSPACE/REPO")
    p.add_argument("--project", metavar="KEY")
    command("delete", cmd_repository_delete, "delete a repository with its packages (restorable during the "
            "retention period)", repository).add_argument("repository", metavar="WORKSPACE/REPO")
    command("restore", cmd_repository_restore, "restore a deleted repository with its packages",
            repository).add_argument("repository", metavar="WORKSPACE/REPO")

    user = sub.add_parser("user", help="users").add_subparsers(dest="action", required=True)
    command("create", cmd_user_create, "create a user", user).add_argument("email")

    p = command("grant", cmd_grant, "give a user a role on a repository")
    p.add_argument("email")
    p.add_argument("repository", metavar="WORKSPACE/REPO")
    p.add_argument("role", choices=list(ROLES))

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="action", required=True)
    p = command("create", cmd_token_create, "create an API token (printed once, on stdout)", token)
    p.add_argument("email")
    p.add_argument("--scope", action="append", choices=SCOPES)
    p.add_argument("--name")
    p.add_argument("--expires-days", type=float)
    command("list", cmd_token_list, "list a user's API tokens", token).add_argument("email")
    command("revoke", cmd_token_revoke, "revoke an API token", token).add_argument("token_id")

    p = command("pipeline-token", cmd_pipeline_token, "make a pipeline token for a repository")
    p.add_argument("repository", metavar="WORKSPACE/REPO")
    p.add_argument("--ttl", type=float, default=DEFAULT_PIPELINE_TOKEN_TTL, help="lifetime in seconds")

    package = sub.add_parser("package", help="packages").add_subparsers(dest="action", required=True)
    p = command("create", cmd_package_create, "create a package linked to a repository", package)
    p.add_argument("package", metavar="WORKSPACE/NAME")
    p.add_argument("--type", required=True, choices=PACKAGE_TYPES)
    p.add_argument("--repository", required=True, metavar="WORKSPACE/REPO")
    for name, handler, help_text in (
            ("delete", cmd_package_delete, "delete a package (restorable during the retention period)"),
            ("restore", cmd_package_restore, "restore a deleted package")):
        p = command(name, handler, help_text, package)
        p.add_argument("package", metavar="WORKSPACE/NAME")
        p.add_argument("--type", required=True, choices=PACKAGE_TYPES)

    command("deleted", cmd_deleted, "list the deleted workspaces, repositories and packages that can still be "
            "restored, and until when")

    from registry import supply_cli
    supply_cli.add_commands(sub, command, package)

    p = command("purge", cmd_purge, "remove for good what was deleted longer ago than the retention period "
                "(the server does this every hour; gc then frees the storage)")
    p.add_argument("--older-than-days", dest="older_than_days", type=float,
                   help="purge what was deleted longer ago than this instead of --retention-days")

    pypi = sub.add_parser("pypi", help="PyPI projects: yank, unyank, delete").add_subparsers(
        dest="pypi_action", required=True)
    for action, text in (("yank", "yank a version (or one file): pip skips it unless pinned (PEP 592)"),
                         ("unyank", "undo a yank"), ("delete", "delete a version (or one file)")):
        p = command(action, cmd_pypi_files, text, pypi)
        p.add_argument("project", metavar="WORKSPACE/PROJECT")
        p.add_argument("version")
        p.add_argument("--file", help="only this file of the version")
        if action == "yank":
            p.add_argument("--reason", help="shown by pip and on the pages")
    keys = sub.add_parser("keys", help="bearer-token signing keys").add_subparsers(dest="action", required=True)
    command("list", cmd_keys_list, "list the signing keys (the newest signs, all verify)", keys)
    command("rotate", cmd_keys_rotate, "make a new signing key; keys whose tokens have all expired are removed",
            keys)
    command("remove", cmd_keys_remove, "remove a key now (a leaked key): its tokens are refused",
            keys).add_argument("kid")

    policy_cli.add_commands(sub, command)

    command("migrate", cmd_migrate, "apply pending schema migrations (the server also does on start)")

    p = command("gc", cmd_gc, "collect garbage: unreferenced blobs and stale uploads")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--grace-seconds", dest="gc_grace_seconds", type=float,
                   help="keep anything younger than this (default 3600)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if not hasattr(args, "data"):
        args.data = None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        args.handler(args)
    except (UsageError, AccessError, ValueError, StorageProbeFailed, DatabaseNewerThanCode, SigningKeyError) as exc:
        print(f"packages-registry: {exc}", file=sys.stderr)
        sys.exit(2)
    except StorageFault as exc:
        print(f"packages-registry: {exc} (try again once it is back)", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
