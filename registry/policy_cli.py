"""``packages-registry`` commands for lifecycle policies: plans, usage, retention, immutable tags, audit."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime

from registry import audit, immutable, quota, retention, usage
from registry.access.models import PACKAGE_TYPES
from registry.cli import UsageError, _split_full, _with_services

SETTINGS_FIELDS = ("retention_interval", "usage_sample_interval", "audit_pulls", "audit_days")


def parse_time(text: str) -> float:
    """An ISO 8601 time (UTC unless it says otherwise), or a span back from now: 30m, 12h, 7d."""
    text = text.strip()
    spans = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1:] in spans and text[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(text[:-1]) * spans[text[-1]]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"a time is ISO 8601 (2026-11-30T12:00:00Z) or a span such as 7d, got {text!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


async def _workspace(svc, slug: str) -> str:
    """A workspace's slug, also of one deleted and kept for its retention period (its usage is 0)."""
    if await svc.db.fetchone("SELECT 1 AS x FROM workspaces WHERE slug = ?", (slug,)) is None:
        raise UsageError(f"workspace {slug!r} does not exist")
    return slug


async def _package(svc, full_name: str, package_type: str):
    workspace, name = _split_full(full_name, "package")
    package = await svc.access.get_package(workspace, package_type, name)
    if package is None:
        raise UsageError(f"no {package_type} package {full_name}")
    return package


# --- plans ---

@_with_services
async def cmd_plan_set(svc, args) -> None:
    workspace = await _workspace(svc, args.workspace)
    limit = None if args.storage.lower() in ("none", "unlimited") else quota.parse_size(args.storage)
    await quota.set_storage_limit(svc.db, workspace, limit)
    shown = "no storage limit" if limit is None else f"a storage limit of {quota.format_size(limit)} ({limit} bytes)"
    await audit.record(svc.db, "plan", audit.cli_actor(), workspace=workspace, detail=shown)
    print(f"workspace {workspace} has {shown}")


@_with_services
async def cmd_plan_show(svc, args) -> None:
    workspace = await _workspace(svc, args.workspace)
    limit = await quota.storage_limit(svc.db, workspace)
    used = await usage.workspace_bytes(svc.db, workspace)
    if args.json:
        print(json.dumps({"workspace": workspace, "storage_limit": limit, "usage": used}))
        return
    print(f"workspace {workspace}: storage limit "
          f"{'none' if limit is None else f'{quota.format_size(limit)} ({limit} bytes)'}; "
          f"using {quota.format_size(used)} ({used} bytes)"
          + ("" if not limit else f", {used * 100 // limit}%"))


# --- usage ---

@_with_services
async def cmd_usage(svc, args) -> None:
    if args.workspace == "sample" and args.workspace_flag is None:
        at = parse_time(args.at) if args.at else None
        print(f"sampled the usage of {await usage.sample(svc.db, at)} workspace(s)")
        return
    if not (args.workspace_flag or args.workspace):
        raise UsageError("usage needs a WORKSPACE (or `usage sample`)")
    workspace = await _workspace(svc, args.workspace_flag or args.workspace)
    total = await usage.workspace_bytes(svc.db, workspace)
    limit = await quota.storage_limit(svc.db, workspace)
    document: dict = {"workspace": workspace, "bytes": total, "storage_limit": limit}
    if args.by == "repository":
        document["repositories"] = {line.name: line.bytes for line in await usage.by_repository(svc.db, workspace)}
    elif args.by == "package":
        document["packages"] = {line.name: line.bytes for line in await usage.by_package(svc.db, workspace)}
    if args.month:
        if len(args.month) != 7 or args.month[4] != "-":
            raise UsageError("--month is YYYY-MM")
        document["month"] = args.month
        document["gb_hours"] = await usage.gb_hours(svc.db, workspace, args.month)
    if args.json:
        print(json.dumps(document))
        return
    print(f"{workspace}\t{total}\t{quota.format_size(total)}"
          + (f"\tlimit {quota.format_size(limit)}" if limit is not None else ""))
    for name, size in (document.get("repositories") or document.get("packages") or {}).items():
        print(f"  {name}\t{size}\t{quota.format_size(size)}")
    if args.month:
        print(f"{args.month}\t{document['gb_hours']:.6f} GB-hours")


# --- retention policies ---

@_with_services
async def cmd_retention_set(svc, args) -> None:
    package = repository = None
    if bool(args.package) == bool(args.repository):
        raise UsageError("give either --package W/NAME --type T or --repository W/R")
    if args.package:
        if not args.type:
            raise UsageError("--package needs --type")
        package = await _package(svc, args.package, args.type)
        workspace = package.workspace
    else:
        repository = await svc.access.require_repository(args.repository)
        workspace = repository["workspace"]
    policy_id = await retention.add_policy(svc.db, workspace, args.kind, package=package, repository=repository,
                                           pattern=args.pattern, keep=args.keep, days=args.older_than_days)
    policy = await retention.get_policy(svc.db, policy_id)
    assert policy is not None
    await audit.record(svc.db, "policy", audit.cli_actor(), package=package, workspace=workspace,
                       target=f"retention policy {policy_id}", detail=f"set: {policy.describe()}")
    print(f"retention policy {policy_id}: {policy.describe()}")


@_with_services
async def cmd_retention_list(svc, args) -> None:
    found = await retention.policies(svc.db, args.workspace)
    if args.json:
        print(json.dumps([{"id": p.id, "workspace": p.workspace, "target": p.target, "kind": p.kind,
                           "pattern": p.pattern, "keep": p.keep, "older_than_days": p.older_than_days}
                          for p in found]))
        return
    for policy in found:
        print(f"{policy.id}\t{policy.describe()}")


@_with_services
async def cmd_retention_remove(svc, args) -> None:
    policy = await retention.get_policy(svc.db, args.policy_id)
    if policy is None or not await retention.remove_policy(svc.db, args.policy_id):
        raise UsageError(f"no retention policy {args.policy_id}")
    await audit.record(svc.db, "policy", audit.cli_actor(), workspace=policy.workspace,
                       target=f"retention policy {policy.id}", detail=f"removed: {policy.describe()}")
    print(f"retention policy {policy.id} removed")


@_with_services
async def cmd_retention_run(svc, args) -> None:
    removals = await retention.Retention(svc.db, svc.access).run(args.dry_run, args.workspace)
    for removal in removals:
        print(("would delete " if args.dry_run else "deleted ") + str(removal))
    print(f"{'dry run: ' if args.dry_run else ''}{len(removals)} deletion(s)"
          + ("" if args.dry_run else " (run gc to free the storage nothing references any more)"))


# --- immutable tags ---

@_with_services
async def cmd_immutable(svc, args) -> None:
    package = await _package(svc, args.package, "container")
    if args.action == "list":
        for pattern in await immutable.patterns(svc.db, package.id):
            print(pattern)
        return
    if not args.pattern:
        raise UsageError(f"immutable {args.action} needs a PATTERN")
    if args.action == "add":
        await immutable.add(svc.db, package.id, args.pattern)
    elif not await immutable.remove(svc.db, package.id, args.pattern):
        raise UsageError(f"{args.package} has no immutable tag pattern {args.pattern!r}")
    await audit.record(svc.db, "policy", audit.cli_actor(), package=package, target="immutable tags",
                       detail=f"{args.action} {args.pattern}")
    print(f"{args.package}: immutable tag pattern {args.pattern} {'added' if args.action == 'add' else 'removed'}")


# --- audit ---

@_with_services
async def cmd_audit(svc, args) -> None:
    if args.action and args.action not in audit.ACTIONS:
        raise UsageError(f"--action is one of {', '.join(audit.ACTIONS)}")
    rows = await audit.entries(svc.db, workspace=args.workspace, package=args.package,
                               since=parse_time(args.since) if args.since else None, action=args.action,
                               limit=args.limit)
    if args.json:
        print(audit.render_json(rows))
        return
    for entry in rows:
        print(audit.render_text(entry))


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--retention-interval", dest="retention_interval", type=float, default=None, metavar="SECONDS",
                       help="apply retention policies and prune the audit log this often (default 3600; 0: never)")
    serve.add_argument("--usage-sample-interval", dest="usage_sample_interval", type=float, default=None,
                       metavar="SECONDS", help="sample storage usage for metering this often (default 300; 0: never)")
    serve.add_argument("--audit-pulls", dest="audit_pulls", type=float, default=None, metavar="FRACTION",
                       help="record this fraction of pulls in the audit log (default 0: none; 1: every pull)")
    serve.add_argument("--audit-days", dest="audit_days", type=float, default=None, metavar="DAYS",
                       help="keep audit log entries this many days (default 90)")


def add_commands(sub, command) -> None:
    plan = sub.add_parser("plan", help="workspace plans (storage limits)").add_subparsers(dest="action", required=True)
    p = command("set", cmd_plan_set, "set a workspace's storage limit", plan)
    p.add_argument("workspace")
    p.add_argument("--storage", required=True, metavar="SIZE", help="e.g. 10GiB, 500MB; none for no limit")
    p = command("show", cmd_plan_show, "show a workspace's storage limit and usage", plan)
    p.add_argument("workspace")
    p.add_argument("--json", action="store_true")

    p = command("usage", cmd_usage, "storage used by a workspace (or `usage sample`: meter every workspace now)")
    p.add_argument("workspace", nargs="?", help="a workspace, or `sample` to take a metering sample")
    p.add_argument("--workspace", dest="workspace_flag", metavar="W",
                   help="the workspace (for one named `sample`)")
    p.add_argument("--by", choices=("repository", "package"))
    p.add_argument("--month", metavar="YYYY-MM", help="also the GB-hours metered in that month (UTC)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--at", help="usage sample: the sample's time (default now)")

    rules = sub.add_parser("retention", help="retention policies").add_subparsers(dest="action", required=True)
    p = command("set", cmd_retention_set, "add a retention policy to a package or a repository", rules)
    p.add_argument("--package", metavar="WORKSPACE/NAME")
    p.add_argument("--type", choices=PACKAGE_TYPES)
    p.add_argument("--repository", metavar="WORKSPACE/REPO")
    p.add_argument("--kind", required=True, choices=list(retention.KINDS),
                   help="tags (container, --pattern, --keep), untagged (container, --older-than-days), "
                        "snapshots (maven, --keep), prereleases (npm, --keep)")
    p.add_argument("--pattern", help="tags: the tag glob the policy applies to, e.g. pr-*")
    p.add_argument("--keep", type=int, help="how many of the newest to keep")
    p.add_argument("--older-than-days", dest="older_than_days", type=float)
    p = command("list", cmd_retention_list, "list retention policies", rules)
    p.add_argument("--workspace")
    p.add_argument("--json", action="store_true")
    command("remove", cmd_retention_remove, "remove a retention policy", rules).add_argument("policy_id", type=int)
    p = command("run", cmd_retention_run, "apply retention policies now", rules)
    p.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    p.add_argument("--workspace")

    frozen = sub.add_parser("immutable", help="immutable tag patterns of container packages"
                            ).add_subparsers(dest="action", required=True)
    for action, text in (("add", "make tags matching PATTERN immutable"), ("remove", "remove an immutable pattern"),
                         ("list", "list the immutable tag patterns")):
        p = command(action, cmd_immutable, text, frozen)
        p.add_argument("package", metavar="WORKSPACE/IMAGE")
        if action != "list":
            p.add_argument("pattern")
        else:
            p.set_defaults(pattern=None)

    p = command("audit", cmd_audit, "show the audit log, newest first")
    p.add_argument("--workspace")
    p.add_argument("--package", metavar="WORKSPACE/NAME")
    p.add_argument("--since", metavar="TIME", help="ISO 8601 time or a span back from now (7d, 12h)")
    p.add_argument("--action", help=f"one of {', '.join(audit.ACTIONS)}")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--json", action="store_true")
