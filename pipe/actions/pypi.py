"""Python packages: upload the built wheels and sdists (PYPI_DIST) with the legacy upload API, natively
(no twine in the image), and report each file with its size and sha256 and how to install it."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipe import messages
from pipe.actions.common import Done, child_env
from pipe.config import Common, load_common
from pipe.endpoints import pypi_repository
from pipe.errors import PipeError
from pipe.httpclient import HttpClient, NotFound
from pipe.oci.errors import AccessDenied, AuthenticationFailed, RegistryError, RegistryUnavailable
from pipe.pypi import dists
from pipe.pypi.upload import PypiRepository

DEFAULT_DIST = "dist/*"


@dataclass
class PypiSettings:
    common: Common
    repository_url: str
    patterns: list[str]
    build: bool
    skip_existing: bool

    @property
    def index_url(self) -> str:
        return self.repository_url + "simple/"


def dist_patterns(variables: Mapping[str, Any]) -> list[str]:
    return [str(item) for item in (variables.get("PYPI_DIST") or [DEFAULT_DIST]) if str(item).strip()]


def load(variables: Mapping[str, Any], env: Mapping[str, str]) -> PypiSettings:
    common = load_common(variables, env)
    url = pypi_repository(common.registry, common.workspace, variables.get("PYPI_REPOSITORY"), common.insecure)
    return PypiSettings(common, url, dist_patterns(variables), bool(variables.get("PYPI_BUILD")), bool(variables.get("SKIP_EXISTING")))


def run(settings: PypiSettings, log: logging.Logger) -> Done:
    base = Path(".")
    files = dists.find(settings.patterns, base)
    if not files and settings.build:
        _build(base, log)
        files = dists.find(settings.patterns, base)
    if not files:
        hint = (" There is a pyproject.toml here: build the distributions first (python -m build), or set "
                "PYPI_BUILD: 'true' to have the pipe build them." if (base / "pyproject.toml").is_file() else "")
        raise PipeError(f"No wheel or sdist matches PYPI_DIST {', '.join(settings.patterns)} (paths are relative to "
                        f"the clone directory).{hint}")
    try:
        found = [dists.read(path) for path in files]
    except dists.DistError as exc:
        raise PipeError(f"PYPI_DIST: {exc}") from None
    projects = {(dist.project, dist.version) for dist in found}
    if len({project for project, _ in projects}) != 1:
        raise PipeError("PYPI_DIST matches files of several projects: "
                        f"{', '.join(sorted(f'{p} {v}' for p, v in projects))}. Upload one project per pipe call.")
    repository = PypiRepository(HttpClient(settings.common.credentials, not settings.common.insecure),
                                settings.repository_url)
    try:
        return _upload(settings, repository, found, log)
    except RegistryError as exc:
        raise PipeError(explain(exc, settings, found[0])) from exc


def _build(base: Path, log: logging.Logger) -> None:
    if not (base / "pyproject.toml").is_file() and not (base / "setup.py").is_file():
        raise PipeError("PYPI_BUILD is set, but there is no pyproject.toml (or setup.py) in the clone directory.")
    log.info("Building the distributions with python -m build (PYPI_BUILD)")
    result = subprocess.run([sys.executable, "-m", "build", "--outdir", "dist", "."], cwd=base, env=child_env(),
                            capture_output=True, text=True, check=False)
    for line in (result.stdout + result.stderr).splitlines()[-40:]:
        if line.strip():
            log.info(f"build: {line}")
    if result.returncode != 0:
        raise PipeError(f"python -m build failed (exit {result.returncode}); its output is above.")


def _upload(settings: PypiSettings, repository: PypiRepository, found: list[dists.Dist],
            log: logging.Logger) -> Done:
    first = found[0]
    existing: set[str] = set()
    if settings.skip_existing:
        existing = repository.files_of(first.project, settings.index_url) or set()
    lines, uploaded, skipped = [], [], []
    for dist in found:
        if dist.path.name in existing:
            skipped.append(dist)
            lines.append(f"{dist.path.name} is already in the index: skipped (SKIP_EXISTING)")
            continue
        log.info(f"Uploading {dist.path.name} ({dist.size} bytes) to {settings.repository_url}")
        try:
            repository.upload(dist)
        except RegistryError as exc:
            if settings.skip_existing and exc.status == 400 and "already exist" in (exc.detail or exc.message):
                skipped.append(dist)
                lines.append(f"{dist.path.name} is already in the index: skipped (SKIP_EXISTING)")
                continue
            raise
        uploaded.append(dist)
        lines.append(f"Uploaded {dist.path.name}: {dist.size} bytes, sha256 {dist.sha256}")
    install = f"pip install --index-url {settings.index_url} {first.project}=={first.version}"
    lines.append(f"Install it with: {install} (ACTION: configure writes pip.conf and .pypirc for the step)")
    result = _result(settings, found, uploaded, install)
    spec = f"{first.name} {first.version}"
    if not uploaded:
        return Done(lines, f"{spec}: every file was already in {settings.repository_url}; skipped", result)
    return Done(lines, f"Uploaded {spec} ({len(uploaded)} file{'s' if len(uploaded) > 1 else ''}) to "
                       f"{settings.repository_url}", result)


def _result(settings: PypiSettings, found: list[dists.Dist], uploaded: list[dists.Dist],
            install: str) -> dict[str, Any]:
    return {
        "repository": settings.repository_url, "name": found[0].name, "version": found[0].version,
        "files": [{"filename": d.path.name, "size": d.size, "sha256": d.sha256, "uploaded": d in uploaded}
                  for d in found],
        "install": install,
    }


def explain(exc: RegistryError, settings: PypiSettings, dist: dists.Dist) -> str:
    where = f"The PyPI index {settings.repository_url}"
    common = settings.common
    if isinstance(exc, AuthenticationFailed):
        return messages.refused(exc, common, where)
    if isinstance(exc, AccessDenied):
        return messages.denied(exc, common, f"Uploading {dist.name} {dist.version} to {settings.repository_url}")
    if isinstance(exc, NotFound):
        return messages.not_created(common, "pypi", dist.project, common.workspace, settings.repository_url)
    if isinstance(exc, RegistryUnavailable):
        return messages.unreachable(exc, where, "REGISTRY (or PYPI_REPOSITORY)")
    if exc.status == 400 and "already exist" in (exc.detail or ""):
        return (f"{dist.name} {dist.version} is already in {settings.repository_url}, and uploaded files cannot be "
                "replaced: bump the version, or set SKIP_EXISTING: 'true' to succeed without uploading. "
                f"Index said: {exc.detail}")
    return messages.generic(exc, f"Uploading {dist.name} {dist.version} to {settings.repository_url}")
