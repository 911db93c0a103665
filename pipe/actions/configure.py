"""ACTION=configure: client configuration in the clone directory, for later commands of the same step.

The pipe's container does not share its home with the step, so the files go into the clone directory:
``.npmrc`` (the scope's registry and its credentials, as Bitbucket documents: ``username`` and
base64 ``_password``), ``.m2/settings.xml`` (server ``bitbucket-packages`` and the repository) and
``.docker/config.json``, and for Python ``.pypirc`` and ``pip.conf``. They hold the token, so they are
written owner-only, added to ``.git/info/exclude``, and the log says what was written without ever
showing the secret.

The pipe runs as root (as Pipelines runs pipes), and the later commands of the step may not: the files
and the directories made for them get the clone directory's owner. When the exclusion cannot be
written (a read-only ``.git``), the step still succeeds but says so in a warning.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipe.actions.common import Done
from pipe.config import Common, load_common
from pipe.endpoints import is_bitbucket, maven_repository, npm_registry, pypi_repository
from pipe.errors import PipeError
from pipe.maven.settings_xml import SERVER_ID, settings_xml
from pipe.npm.packlist import PackError, read_manifest
from pipe.pypi import client_config

KINDS = ("npm", "maven", "container", "pypi")
NPMRC, SETTINGS, DOCKER = ".npmrc", ".m2/settings.xml", ".docker/config.json"
EXCLUDES = {"npm": ["/.npmrc"], "maven": ["/.m2/"], "container": ["/.docker/"],
            "pypi": [f"/{client_config.PYPIRC}", f"/{client_config.PIPCONF}"]}
FILES = {"npm": [NPMRC], "maven": [SETTINGS], "container": [DOCKER],
         "pypi": [client_config.PYPIRC, client_config.PIPCONF]}


@dataclass
class ConfigureSettings:
    common: Common
    kinds: list[str]
    npm_registry: str
    npm_scope: str | None  # None: the default registry for every package
    maven_repository: str | None
    pypi_repository: str = ""
    skipped: list[str] = field(default_factory=list)  # why a kind was left out


def load(variables: Mapping[str, Any], env: Mapping[str, str]) -> ConfigureSettings:
    common = load_common(variables, env)
    asked = list(dict.fromkeys(variables.get("CONFIGURE") or []))
    kinds = asked or list(KINDS)
    skipped = []
    maven_url = None
    if "maven" in kinds:
        if not variables.get("MAVEN_REPOSITORY") and is_bitbucket(common.registry) and not asked:
            kinds.remove("maven")
            skipped.append("Maven: not configured, set MAVEN_REPOSITORY to the workspace's Maven repository URL")
        else:
            maven_url = maven_repository(common.registry, common.workspace, variables.get("MAVEN_REPOSITORY"),
                                         common.insecure)
    npm_url = npm_registry(common.registry, common.workspace, variables.get("NPM_REGISTRY"), common.insecure)
    pypi_url = pypi_repository(common.registry, common.workspace, variables.get("PYPI_REPOSITORY"), common.insecure)
    return ConfigureSettings(common, kinds, npm_url, npm_scope(variables, common), maven_url, pypi_url, skipped)


def npm_scope(variables: Mapping[str, Any], common: Common) -> str | None:
    scope = variables.get("NPM_SCOPE")
    if scope == "none":
        return None
    if scope:
        return str(scope)
    package = Path(variables.get("NPM_PACKAGE") or ".")
    if package.is_dir() and (package / "package.json").is_file():
        try:
            name = str(read_manifest(package).get("name") or "")
        except PackError:
            name = ""
        if name.startswith("@") and "/" in name:
            return name.split("/", 1)[0]
    return f"@{common.workspace}"


def run(settings: ConfigureSettings, log: logging.Logger) -> Done:
    clone = settings.common.clone_dir
    if not clone.is_dir():
        raise PipeError(f"The clone directory {clone} does not exist (BITBUCKET_CLONE_DIR).")
    try:
        return _configure(settings, clone)
    except PermissionError as exc:
        raise PipeError(f"Could not write the client configuration into {clone}: {exc.strerror} "
                        f"({exc.filename}). The pipe must be able to write into the clone directory "
                        "(run it as root, as Pipelines does).") from None


def _configure(settings: ConfigureSettings, clone: Path) -> Done:
    lines: list[str] = []
    warnings: list[str] = []
    written: list[str] = []
    who = settings.common.credentials.username
    if "npm" in settings.kinds:
        existed = write_npmrc(clone / NPMRC, settings)
        target = f"{settings.npm_scope} packages" if settings.npm_scope else "every package"
        lines.append(f"Wrote {NPMRC}: {target} from {settings.npm_registry}, as {who}"
                     + (" (kept the file's other lines)" if existed else "")
                     + ". npm install and npm publish in the clone directory use it.")
        written.append("npm")
    if "maven" in settings.kinds:
        assert settings.maven_repository is not None
        _write_private(clone / SETTINGS, settings_xml(settings.maven_repository, settings.common.credentials), clone)
        lines.append(f"Wrote {SETTINGS}: server {SERVER_ID} ({who}) and the repository {settings.maven_repository} "
                     "for resolving and deploying. Use it with: mvn -s .m2/settings.xml deploy")
        written.append("maven")
    if "container" in settings.kinds:
        host = settings.common.registry.netloc
        write_docker_config(clone / DOCKER, host, settings.common)
        lines.append(f"Wrote {DOCKER}: credentials for {host} ({who}). Use it with: "
                     "export DOCKER_CONFIG=$BITBUCKET_CLONE_DIR/.docker")
        written.append("container")
    if "pypi" in settings.kinds:
        credentials, index = settings.common.credentials, settings.pypi_repository + "simple/"
        _write_private(clone / client_config.PYPIRC, client_config.pypirc(settings.pypi_repository, credentials),
                       clone)
        _write_private(clone / client_config.PIPCONF, client_config.pip_conf(index, credentials), clone)
        lines.append(f"Wrote {client_config.PYPIRC} and {client_config.PIPCONF}: uploads to "
                     f"{settings.pypi_repository} and installs from {index}, as {who}. Use them with:")
        lines += [f"  {line}" for line in client_config.usage_lines(settings.pypi_repository, index, credentials,
                                                                    "$BITBUCKET_CLONE_DIR")]
        written.append("pypi")
    lines += settings.skipped
    paths = [path for kind in written for path in FILES[kind]]
    try:
        exclude = git_exclude(clone, [entry for kind in written for entry in EXCLUDES[kind]])
    except OSError as exc:
        warnings.append(f"Could not list {', '.join(paths)} in the checkout's info/exclude ({exc.strerror}: "
                        f"{exc.filename}): they hold the token, make sure they are never committed (git add -A "
                        "would add them).")
    else:
        if exclude is not None:
            lines.append(f"Listed them in {exclude} so that they are not committed by accident.")
        else:
            lines.append("Not a git checkout: remember not to commit these files, they hold the token.")
    result = {"files": [str(clone / path) for path in paths],
              "registry": settings.common.registry.netloc,
              "npmRegistry": settings.npm_registry if "npm" in written else None,
              "mavenRepository": settings.maven_repository if "maven" in written else None,
              "pypiRepository": settings.pypi_repository if "pypi" in written else None,
              "gitExcluded": not warnings}
    return Done(lines, f"Configured {', '.join(paths)} in {clone}", result, warnings)


def _write_private(path: Path, data: bytes, clone: Path) -> None:
    """Owner-only from the first byte: the file holds a token. The file, and a directory made for it,
    belong to the clone directory's owner, who runs the step's later commands."""
    owner = clone.stat()
    if not path.parent.exists():
        path.parent.mkdir(parents=True)
        _give(path.parent, owner)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    path.chmod(0o600)
    _give(path, owner)


def _give(path: Path, owner: os.stat_result) -> None:
    # Only root may give files away; anyone else already writes them as themselves.
    if os.geteuid() == 0 and (path.stat().st_uid, path.stat().st_gid) != (owner.st_uid, owner.st_gid):
        os.chown(path, owner.st_uid, owner.st_gid)


def npmrc_lines(settings: ConfigureSettings) -> list[str]:
    parts = urlsplit(settings.npm_registry)
    prefix = f"//{parts.netloc}{parts.path}"
    credentials = settings.common.credentials
    password = base64.b64encode(credentials.password.encode()).decode()
    registry_line = (f"{settings.npm_scope}:registry={settings.npm_registry}" if settings.npm_scope
                     else f"registry={settings.npm_registry}")
    return [registry_line, f"{prefix}:username={credentials.username}", f"{prefix}:_password={password}"]


def write_npmrc(path: Path, settings: ConfigureSettings) -> bool:
    """Write our lines; lines of an existing .npmrc that set other keys are kept. True if it existed."""
    ours = npmrc_lines(settings)
    keys = {line.split("=", 1)[0] for line in ours}
    kept: list[str] = []
    existed = path.is_file()
    if existed:
        kept = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
                if line.split("=", 1)[0].strip() not in keys]
    _write_private(path, ("\n".join(kept + ours) + "\n").encode(), settings.common.clone_dir)
    return existed


def write_docker_config(path: Path, host: str, common: Common) -> None:
    document: dict[str, Any] = {}
    if path.is_file():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            document = loaded if isinstance(loaded, dict) else {}
        except (ValueError, UnicodeDecodeError):
            document = {}
    auths = document.get("auths") if isinstance(document.get("auths"), dict) else {}
    token = f"{common.credentials.username}:{common.credentials.password}".encode()
    auths[host] = {"auth": base64.b64encode(token).decode()}
    document["auths"] = auths
    _write_private(path, (json.dumps(document, indent=2) + "\n").encode(), common.clone_dir)


def git_exclude(clone: Path, entries: list[str]) -> Path | None:
    """Add entries to the checkout's info/exclude; None when the clone is not a git checkout."""
    git = clone / ".git"
    if git.is_file():  # a worktree or submodule: "gitdir: PATH"
        text = git.read_text(encoding="utf-8", errors="replace").strip()
        if not text.startswith("gitdir:"):
            return None
        git_dir = (clone / text.removeprefix("gitdir:").strip()).resolve()
        common = git_dir / "commondir"
        if common.is_file():
            git_dir = (git_dir / common.read_text().strip()).resolve()
    elif git.is_dir():
        git_dir = git
    else:
        return None
    exclude = git_dir / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    text = exclude.read_text(encoding="utf-8", errors="replace") if exclude.is_file() else ""
    missing = [entry for entry in entries if entry not in text.splitlines()]
    if missing:
        with exclude.open("a", encoding="utf-8") as handle:
            if text and not text.endswith("\n"):
                handle.write("\n")
            handle.write("# written by the Bitbucket Packages pipe (ACTION: configure): they hold a token\n")
            handle.write("\n".join(missing) + "\n")
    return exclude
