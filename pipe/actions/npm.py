"""npm packages: pack the folder (or take the .tgz), publish it with npm's own protocol, report."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipe import messages
from pipe.actions.common import Done, child_env
from pipe.config import Common, load_common
from pipe.endpoints import npm_registry
from pipe.errors import PipeError
from pipe.httpclient import Conflict, HttpClient, NotFound
from pipe.npm.packlist import PackError
from pipe.npm.publish import NpmRegistry, name_problem, tag_problem, version_problem
from pipe.npm.tarball import Tarball, pack_folder, read_tarball
from pipe.oci.errors import AccessDenied, AuthenticationFailed, RegistryError, RegistryUnavailable


@dataclass
class NpmSettings:
    common: Common
    registry_url: str
    package: Path
    tag: str
    access: str | None
    skip_existing: bool


def load(variables: Mapping[str, Any], env: Mapping[str, str]) -> NpmSettings:
    common = load_common(variables, env)
    url = npm_registry(common.registry, common.workspace, variables.get("NPM_REGISTRY"), common.insecure)
    tag = variables.get("DIST_TAG") or "latest"
    problem = tag_problem(tag)
    if problem:
        raise PipeError(f"DIST_TAG {tag!r} {problem}.")
    package = Path(variables.get("NPM_PACKAGE") or ".")
    if not package.exists():
        raise PipeError(f"NPM_PACKAGE {package} does not exist (paths are relative to the clone directory).")
    return NpmSettings(common, url, package, tag, variables.get("ACCESS") or None,
                       bool(variables.get("SKIP_EXISTING")))


def run(settings: NpmSettings, log: logging.Logger) -> Done:
    tarball = obtain_tarball(settings.package, log)
    name, version = tarball.name, tarball.version
    for what, value, problem in (("name", name, name_problem(name)), ("version", version, version_problem(version))):
        if problem:
            raise PipeError(f"package.json's {what} {value!r} {problem}.")
    registry = NpmRegistry(HttpClient(settings.common.credentials, not settings.common.insecure), settings.registry_url)
    try:
        return _publish(settings, registry, tarball, log)
    except RegistryError as exc:
        raise PipeError(explain(exc, settings, registry, tarball)) from exc


def _publish(settings: NpmSettings, registry: NpmRegistry, tarball: Tarball, log: logging.Logger) -> Done:
    spec = f"{tarball.name}@{tarball.version}"
    if settings.skip_existing:
        versions = registry.published_versions(tarball.name) or set()
        if tarball.version in versions:
            lines = [f"{spec} is already published in {settings.registry_url}: nothing to do (SKIP_EXISTING)."]
            return Done(lines, f"{spec} was already published; skipped", _result(settings, tarball, published=False))
    log.info(f"Publishing {spec} ({tarball.size} bytes, {len(tarball.files)} files) to {settings.registry_url} "
             f"with dist-tag {settings.tag}")
    registry.publish(tarball, settings.tag, settings.access)
    lines = [
        f"Published {spec} to {settings.registry_url} (dist-tag {settings.tag})",
        f"integrity: {tarball.integrity}",
        f"shasum: {tarball.shasum}",
        f"size: {tarball.size} bytes packed, {tarball.unpacked_size} bytes unpacked, {len(tarball.files)} files",
        (f"Install it with: npm install {spec} (with an .npmrc for {settings.registry_url}: "
        "ACTION: configure writes one)"),
    ]
    return Done(lines, f"Published {spec} to {settings.registry_url}", _result(settings, tarball, published=True))


def _result(settings: NpmSettings, tarball: Tarball, published: bool) -> dict[str, Any]:
    return {
        "registry": settings.registry_url, "name": tarball.name,
        "version": tarball.version, "distTag": settings.tag, "published": published,
        "integrity": tarball.integrity, "shasum": tarball.shasum, "size": tarball.size,
        "unpackedSize": tarball.unpacked_size, "fileCount": len(tarball.files),
        "install": f"npm install {tarball.name}@{tarball.version}",
    }


def obtain_tarball(package: Path, log: logging.Logger) -> Tarball:
    try:
        if package.is_file():
            log.info(f"Reading the package tarball {package}")
            return read_tarball(package)
        npm = shutil.which("npm")
        if npm:
            return _npm_pack(npm, package, log)
        log.info(f"Packing {package} with the pipe's own packer (npm is not on PATH)")
        return pack_folder(package)
    except PackError as exc:
        raise PipeError(f"NPM_PACKAGE: {exc}") from None


def _npm_pack(npm: str, folder: Path, log: logging.Logger) -> Tarball:
    """`npm pack` in the folder, so that lifecycle scripts (prepack, prepare) run as for npm publish."""
    log.info(f"Packing {folder} with npm pack")
    env = child_env(npm_config_update_notifier="false", npm_config_fund="false", npm_config_audit="false")
    with tempfile.TemporaryDirectory(prefix="pipe-npm-pack-") as destination:
        result = subprocess.run([npm, "pack", "--pack-destination", destination], cwd=folder, env=env,
                                capture_output=True, text=True, check=False)
        for line in (result.stdout + result.stderr).splitlines():
            if line.strip():
                log.info(f"npm pack: {line}")
        if result.returncode != 0:
            raise PipeError(f"npm pack failed in {folder} (exit {result.returncode}); its output is above.")
        made = sorted(Path(destination).glob("*.tgz"))
        if len(made) != 1:
            raise PipeError(f"npm pack made {len(made)} tarballs in {folder}, expected one.")
        return read_tarball(made[0])


def explain(exc: RegistryError, settings: NpmSettings, registry: NpmRegistry, tarball: Tarball) -> str:
    spec = f"{tarball.name}@{tarball.version}"
    where = f"The npm registry {settings.registry_url}"
    common = settings.common
    if isinstance(exc, AuthenticationFailed):
        return messages.refused(exc, common, where)
    if isinstance(exc, (AccessDenied, Conflict)) and _already_there(registry, tarball):
        return (f"{spec} is already published in {settings.registry_url}, and published versions cannot be "
                "replaced: bump the version in package.json, or set SKIP_EXISTING: 'true' to succeed without "
                "publishing." + (f" Registry said: {exc.detail}" if exc.detail else ""))
    if isinstance(exc, AccessDenied):
        return messages.denied(exc, common, f"Publishing {spec} to {settings.registry_url}")
    if isinstance(exc, NotFound):
        return messages.not_created(common, "npm", tarball.name, common.workspace, settings.registry_url)
    if isinstance(exc, RegistryUnavailable):
        return messages.unreachable(exc, where, "REGISTRY (or NPM_REGISTRY)")
    return messages.generic(exc, f"Publishing {spec} to {settings.registry_url}")


def _already_there(registry: NpmRegistry, tarball: Tarball) -> bool:
    try:
        return tarball.version in (registry.published_versions(tarball.name) or set())
    except RegistryError:
        return False
