"""``packages-registry trust add|list|remove`` (a workspace's trusted signing keys) and
``packages-registry package policy`` (pull requires a trusted signature): see registry/trust.py."""

from __future__ import annotations

from pathlib import Path

from registry import audit
from registry.cli import UsageError, _with_services
from registry.policy_cli import _package
from registry.trust import MAX_KEY_PEM_BYTES, TrustError, TrustStore


async def _workspace(svc, slug: str) -> str:
    if not await svc.access.workspace_exists(slug):
        raise UsageError(f"no workspace {slug}")
    return slug


@_with_services
async def cmd_trust_add(svc, args) -> None:
    workspace = await _workspace(svc, args.workspace)
    path = Path(args.key)
    try:
        if path.stat().st_size > MAX_KEY_PEM_BYTES:
            raise UsageError(f"{path} is larger than a public key ({MAX_KEY_PEM_BYTES} bytes at most)")
        pem = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    try:
        key = await TrustStore(svc.db).add(workspace, pem, args.name or "", audit.cli_actor().name)
    except TrustError as exc:
        raise UsageError(str(exc)) from None
    await audit.record(svc.db, "policy", audit.cli_actor(), workspace=workspace, target=f"trusted key {key.id}",
                       detail=f"added {key.name} (sha256:{key.fingerprint})")
    print(f"workspace {workspace} trusts key {key.id} ({key.name}, sha256:{key.fingerprint})")


@_with_services
async def cmd_trust_list(svc, args) -> None:
    workspace = await _workspace(svc, args.workspace)
    for key in await TrustStore(svc.db).keys(workspace):
        print(f"{key.id}\t{key.name}\tsha256:{key.fingerprint}\t{key.created_by}")


@_with_services
async def cmd_trust_remove(svc, args) -> None:
    workspace = await _workspace(svc, args.workspace)
    if not await TrustStore(svc.db).remove(workspace, args.key_id):
        raise UsageError(f"workspace {workspace} has no trusted key {args.key_id}")
    await audit.record(svc.db, "policy", audit.cli_actor(), workspace=workspace, target=f"trusted key {args.key_id}",
                       detail="removed")
    print(f"workspace {workspace} no longer trusts key {args.key_id}")


@_with_services
async def cmd_package_policy(svc, args) -> None:
    package = await _package(svc, args.package, "container")  # --type takes only container
    workspace = package.workspace
    trust = TrustStore(svc.db)
    if args.require_signature is not None:
        await trust.set_requires_signature(package.id, args.require_signature == "on")
        await audit.record(svc.db, "policy", audit.cli_actor(), package=package, target="signature policy",
                           detail=f"pulls require a trusted signature: {args.require_signature}")
    required = await trust.requires_signature(package.id)
    print(f"{package.full_name}: pulls {'require' if required else 'do not require'} a signature by a key "
          f"workspace {workspace} trusts")


def add_commands(sub, command, package) -> None:
    """The commands, on the top-level parser ``sub`` and the ``package`` subcommands."""
    trust = sub.add_parser("trust", help="public keys a workspace trusts for image signatures (cosign.pub)"
                           ).add_subparsers(dest="action", required=True)
    p = command("add", cmd_trust_add, "trust a public key (PEM, ECDSA P-256, as cosign.pub) in a workspace", trust)
    p.add_argument("workspace")
    p.add_argument("--key", required=True, metavar="FILE", help="the public key file, e.g. cosign.pub")
    p.add_argument("--name", help="a name the pages show for it (default key-<fingerprint>)")
    command("list", cmd_trust_list, "list a workspace's trusted keys", trust).add_argument("workspace")
    p = command("remove", cmd_trust_remove, "stop trusting a key", trust)
    p.add_argument("workspace")
    p.add_argument("key_id", type=int, metavar="ID")

    p = command("policy", cmd_package_policy, "show or set a container package's pull policy", package)
    p.add_argument("package", metavar="WORKSPACE/NAME")
    p.add_argument("--type", required=True, choices=["container"])
    p.add_argument("--require-signature", dest="require_signature", choices=["on", "off"],
                   help="on: a pull of an image without a signature by a trusted key is DENIED")



