"""Maven artifacts: deploy built files natively (pom + MAVEN_FILES), or run mvn with generated settings."""

from __future__ import annotations

import glob
import logging
import shlex
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
from pipe.endpoints import maven_repository
from pipe.errors import PipeError
from pipe.httpclient import Conflict, HttpClient, NotFound
from pipe.maven.artifacts import ArtifactError, plan
from pipe.maven.deploy import Deployed, MavenRepository
from pipe.maven.pom import Coordinates, PomError, read_pom
from pipe.maven.settings_xml import settings_xml
from pipe.oci.errors import AccessDenied, AuthenticationFailed, RegistryError, RegistryUnavailable


@dataclass
class MavenSettings:
    common: Common
    repository_url: str
    pom: Path | None  # None: not set (MAVEN_COMMAND runs mvn on the default pom)
    files: list[Path]
    command: list[str] | None
    skip_existing: bool


def load(variables: Mapping[str, Any], env: Mapping[str, str]) -> MavenSettings:
    common = load_common(variables, env)
    url = maven_repository(common.registry, common.workspace, variables.get("MAVEN_REPOSITORY"), common.insecure)
    command = None
    if variables.get("MAVEN_COMMAND"):
        try:
            command = shlex.split(variables["MAVEN_COMMAND"])
        except ValueError as exc:
            raise PipeError(f"MAVEN_COMMAND cannot be split into arguments: {exc}") from None
        if command and command[0] in ("mvn", "./mvnw"):
            command = command[1:]
        if not command:
            raise PipeError("MAVEN_COMMAND is empty: give mvn's arguments, e.g. 'deploy -DskipTests'")
        if variables.get("MAVEN_FILES"):
            raise PipeError("MAVEN_FILES and MAVEN_COMMAND exclude each other: deploy built files natively, "
                            "or let mvn deploy")
    pom = Path(variables["MAVEN_POM"]) if variables.get("MAVEN_POM") else None
    if command is None and pom is None:
        pom = Path("pom.xml")
    if pom is not None and not pom.is_file():
        raise PipeError(f"MAVEN_POM {pom} does not exist (paths are relative to the clone directory).")
    files = expand_files(list(variables.get("MAVEN_FILES") or []))
    return MavenSettings(common, url, pom, files, command, bool(variables.get("SKIP_EXISTING")))


def expand_files(items: list[str]) -> list[Path]:
    """MAVEN_FILES items: paths, or glob patterns (``target/*.jar``, ``**`` across directories), relative to
    the clone directory. A pattern that matches nothing is an error: deploying less than was meant is worse."""
    files: list[Path] = []
    for item in items:
        if glob.has_magic(item):
            matches = sorted(Path(match) for match in glob.glob(item, recursive=True) if Path(match).is_file())
            if not matches:
                raise PipeError(f"MAVEN_FILES {item!r} matches no file in {Path.cwd()} (paths and patterns are "
                                "relative to the clone directory; was the build run before the pipe?)")
            files += matches
        else:
            files.append(Path(item))
    return list(dict.fromkeys(files))


def run(settings: MavenSettings, log: logging.Logger) -> Done:
    if settings.command is not None:
        return run_mvn(settings, log)
    assert settings.pom is not None
    try:
        coordinates = read_pom(settings.pom)
        artifacts = plan(settings.files, settings.pom, coordinates)
    except (PomError, ArtifactError) as exc:
        raise PipeError(f"Maven: {exc}") from None
    repository = MavenRepository(HttpClient(settings.common.credentials, not settings.common.insecure),
                                 settings.repository_url, log)
    try:
        if not coordinates.is_snapshot and repository.release_exists(coordinates):
            if settings.skip_existing:
                return Done([(f"{coordinates.gav} is already in {settings.repository_url}: nothing to do "
                             "(SKIP_EXISTING).")], f"{coordinates.gav} was already deployed; skipped",
                            {"repository": settings.repository_url, "groupId": coordinates.group_id,
                             "artifactId": coordinates.artifact_id, "version": coordinates.version,
                             "deployed": False})
            raise PipeError(f"{coordinates.gav} is already in {settings.repository_url}, and releases cannot be "
                            "replaced: bump the version, or set SKIP_EXISTING: 'true' to succeed without deploying.")
        log.info(f"Deploying {coordinates.gav} ({len(artifacts)} files) to {settings.repository_url}")
        deployed = repository.deploy(coordinates, artifacts)
    except PomError as exc:
        raise PipeError(f"Maven: {exc}") from None
    except RegistryError as exc:
        raise PipeError(explain(exc, settings, coordinates)) from exc
    return _report(settings, deployed)


def _report(settings: MavenSettings, deployed: Deployed) -> Done:
    coordinates = deployed.coordinates
    lines = [f"Deployed {coordinates.gav}" + (f" as {deployed.version}" if deployed.version != coordinates.version
                                               else "") + f" to {settings.repository_url}"]
    lines += [f"  {url}" for url in deployed.files]
    lines.append("Use it with:")
    lines += ["  " + line for line in dependency_snippet(coordinates).splitlines()]
    result = {"repository": settings.repository_url, "groupId": coordinates.group_id,
              "artifactId": coordinates.artifact_id, "version": coordinates.version, "deployed": True,
              "deployedVersion": deployed.version, "packaging": coordinates.packaging, "files": deployed.files,
              "dependency": dependency_snippet(coordinates)}
    return Done(lines, f"Deployed {coordinates.gav} to {settings.repository_url}", result)


def dependency_snippet(coordinates: Coordinates) -> str:
    type_line = ("" if coordinates.packaging in ("jar", "bundle", "maven-plugin", "ejb")
                 else f"\n  <type>{coordinates.packaging}</type>")
    return (f"<dependency>\n  <groupId>{coordinates.group_id}</groupId>\n"
            f"  <artifactId>{coordinates.artifact_id}</artifactId>\n  <version>{coordinates.version}</version>"
            f"{type_line}\n</dependency>")


def run_mvn(settings: MavenSettings, log: logging.Logger) -> Done:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PipeError("MAVEN_COMMAND needs mvn on PATH, and it is not there (the pipe's image has no Maven). "
                        "Run mvn in the step itself after ACTION: configure, or deploy the built files natively "
                        "with MAVEN_POM and MAVEN_FILES.")
    assert settings.command is not None
    env = child_env()
    with tempfile.TemporaryDirectory(prefix="pipe-maven-") as directory:
        settings_path = Path(directory) / "settings.xml"
        settings_path.write_bytes(settings_xml(settings.repository_url, settings.common.credentials))
        settings_path.chmod(0o600)
        arguments = [mvn, "-B", "-s", str(settings_path)]
        if settings.pom is not None:
            arguments += ["-f", str(settings.pom)]
        arguments += settings.command
        log.info(f"Running mvn {' '.join(shlex.quote(a) for a in settings.command)} against "
                 f"{settings.repository_url}")
        process = subprocess.Popen(arguments, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert process.stdout is not None
        tail: list[str] = []
        for line in process.stdout:
            line = line.rstrip("\n")
            log.info(line)
            tail = (tail + [line])[-20:]
        code = process.wait()
    if code != 0:
        hint = ""
        if any("401" in line or "Unauthorized" in line for line in tail):
            hint = f" The repository refused the credentials ({messages.who(settings.common)})."
        elif any("403" in line or "Forbidden" in line for line in tail):
            hint = f" The repository denied the deploy to {messages.who(settings.common)}."
        elif any("404" in line or "Not Found" in line for line in tail):
            hint = (" The repository answered 404: the package may not exist yet; create it and link it to a "
                    "repository first (Packages page, or `packages-registry package create WORKSPACE/GROUP:ARTIFACT "
                    "--type maven --repository WORKSPACE/REPO`).")
        raise PipeError(f"mvn {' '.join(settings.command)} failed (exit {code}); its output is above.{hint}")
    return Done([f"mvn {' '.join(settings.command)} finished against {settings.repository_url}"],
                f"mvn {' '.join(settings.command)} succeeded with {settings.repository_url}",
                {"repository": settings.repository_url, "command": ["mvn", *settings.command]})


def explain(exc: RegistryError, settings: MavenSettings, coordinates: Coordinates) -> str:
    where = f"The Maven repository {settings.repository_url}"
    common = settings.common
    if isinstance(exc, AuthenticationFailed):
        return messages.refused(exc, common, where)
    if isinstance(exc, Conflict):
        return (f"{where} refused to replace a file of {coordinates.gav}: releases are immutable. Bump the "
                f"version, or set SKIP_EXISTING: 'true'. ({exc.message})")
    if isinstance(exc, AccessDenied):
        return messages.denied(exc, common, f"Deploying {coordinates.gav} to {settings.repository_url}")
    if isinstance(exc, NotFound):
        return messages.not_created(common, "maven", coordinates.package_name, common.workspace,
                                    settings.repository_url)
    if isinstance(exc, RegistryUnavailable):
        return messages.unreachable(exc, where, "REGISTRY (or MAVEN_REPOSITORY)")
    return messages.generic(exc, f"Deploying {coordinates.gav} to {settings.repository_url}")
