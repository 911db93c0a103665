"""Validated variables (read as the toolkit reads them: see inputs.py) + the Pipelines environment
-> what the pipe will do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipe.annotations import created_time, image_description
from pipe.errors import PipeError
from pipe.oci.auth import Credentials
from pipe.oci.errors import InvalidReference
from pipe.oci.reference import Registry
from pipe.tags import plan_tags
from vocab.names import is_valid_name, is_valid_tag, is_valid_workspace

BUILD, ENGINE_IMAGE, ARCHIVE = "build", "image", "archive"


@dataclass
class Settings:
    credentials: Credentials
    credentials_kind: str  # "pipeline" or "api-token"
    registry: Registry
    workspace: str
    image_name: str
    tags: list[str]
    source: str  # BUILD, ENGINE_IMAGE or ARCHIVE
    image: str | None = None
    archive: Path | None = None
    context: Path = Path(".")
    dockerfile: Path | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    push: bool = True
    cache_from: list[str] = field(default_factory=list)
    pull: bool = False
    no_cache: bool = False
    debug: bool = False
    shared_storage: Path | None = None
    pipeline_repository: str | None = None  # the repository whose pipeline runs, when known

    @property
    def name(self) -> str:
        return f"{self.workspace}/{self.image_name}"

    @property
    def secrets(self) -> list[str]:
        return [self.credentials.password]


def _pairs(items: list[str], what: str) -> dict[str, str]:
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise PipeError(f"{what} items must be NAME=value; got {item.split('=')[0]!r}")
        result[key.strip()] = value
    return result


def credentials_from(variables: Mapping[str, Any]) -> tuple[Credentials, str]:
    username = variables.get("BITBUCKET_PACKAGES_USERNAME") or ""
    token = variables.get("BITBUCKET_PACKAGES_TOKEN") or ""
    if username and token:
        return Credentials(username, token), "pipeline"
    email = variables.get("ATLASSIAN_ACCOUNT_EMAIL") or ""
    api_token = variables.get("ATLASSIAN_API_TOKEN") or ""
    if email and api_token:
        return Credentials(email, api_token), "api-token"
    raise PipeError(
        "No registry credentials: Pipelines sets BITBUCKET_PACKAGES_USERNAME and BITBUCKET_PACKAGES_TOKEN in "
        "every step; outside Pipelines set those two, or ATLASSIAN_ACCOUNT_EMAIL and ATLASSIAN_API_TOKEN "
        "(an API token with the scopes read:package:bitbucket and write:package:bitbucket).")


@dataclass
class Common:
    """What every package type and action needs: who, where, and the pipeline around the pipe."""

    credentials: Credentials
    credentials_kind: str  # "pipeline" or "api-token"
    registry: Registry
    workspace: str
    insecure: bool = False
    debug: bool = False
    clone_dir: Path = Path(".")
    shared_storage: Path | None = None
    pipeline_repository: str | None = None  # the repository whose pipeline runs, when known

    @property
    def secrets(self) -> list[str]:
        return [self.credentials.password]


def load_common(variables: Mapping[str, Any], env: Mapping[str, str]) -> Common:
    credentials, kind = credentials_from(variables)
    insecure = bool(variables.get("INSECURE"))
    try:
        registry = Registry.parse(variables.get("REGISTRY") or "crg.apkg.io", insecure)
    except InvalidReference as exc:
        raise PipeError(str(exc)) from None

    workspace = variables.get("WORKSPACE") or env.get("BITBUCKET_WORKSPACE") or ""
    if not workspace:
        raise PipeError("WORKSPACE is not set, and neither is BITBUCKET_WORKSPACE: set WORKSPACE to the "
                        "workspace that owns the package.")
    if not is_valid_workspace(workspace):
        raise PipeError(f"WORKSPACE {workspace!r} is not a valid workspace slug (lower-case letters, digits, "
                        "- and _).")
    repo_full = env.get("BITBUCKET_REPO_FULL_NAME") or (
        f"{env['BITBUCKET_WORKSPACE']}/{env['BITBUCKET_REPO_SLUG']}"
        if env.get("BITBUCKET_WORKSPACE") and env.get("BITBUCKET_REPO_SLUG") else None)
    shared = env.get("BITBUCKET_PIPE_SHARED_STORAGE_DIR")
    return Common(credentials=credentials, credentials_kind=kind, registry=registry, workspace=workspace,
                  insecure=insecure, debug=bool(variables.get("DEBUG")),
                  clone_dir=Path(env.get("BITBUCKET_CLONE_DIR") or "."),
                  shared_storage=Path(shared) if shared else None, pipeline_repository=repo_full)


def dockerfile_missing(wanted: Path, dockerfile: Path | None, context: Path) -> str:
    """Names the path looked at; DOCKERFILE is relative to the clone directory, as docker build -f takes it."""
    message = f"There is no Dockerfile at {wanted.absolute()}"
    if dockerfile is None:
        return (message + " (BUILD_CONTEXT/Dockerfile): set DOCKERFILE, or set IMAGE or IMAGE_ARCHIVE to push an "
                "image built earlier.")
    beside = context / dockerfile
    if not dockerfile.is_absolute() and context != Path(".") and beside.is_file():
        return (message + f": DOCKERFILE is relative to the clone directory, not to BUILD_CONTEXT; the file is at "
                f"{beside}, so set DOCKERFILE: '{beside}'.")
    return message + " (DOCKERFILE is relative to the clone directory, not to BUILD_CONTEXT)."


def load_settings(variables: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    common = load_common(variables, env)
    workspace = common.workspace
    image_name = variables.get("IMAGE_NAME") or env.get("BITBUCKET_REPO_SLUG") or ""
    if not image_name:
        raise PipeError("IMAGE_NAME is not set, and neither is BITBUCKET_REPO_SLUG: set IMAGE_NAME to the "
                        "container package's name.")
    if not is_valid_name(f"{workspace}/{image_name}"):
        raise PipeError(f"IMAGE_NAME {image_name!r} is not a valid image name: lower-case letters, digits, and "
                        ". _ - between them, with / between components.")

    # The version describes the build, whatever TAGS says: the same image pushed under other tags keeps
    # the same manifest.
    plan = plan_tags(env, variables.get("TAG_PREFIX") or "", variables.get("TAG_SUFFIX") or "",
                     variables.get("LATEST_BRANCH"))
    tags, version = list(variables.get("TAGS") or plan.tags), plan.version
    tags = list(dict.fromkeys(tags))
    bad = [tag for tag in tags if not is_valid_tag(tag)]
    if bad:
        raise PipeError(f"TAGS: {bad[0]!r} is not a valid tag (up to 128 letters, digits, _ . and -, not "
                        "starting with . or -).")

    image = variables.get("IMAGE") or None
    archive = variables.get("IMAGE_ARCHIVE") or None
    source = ENGINE_IMAGE if image else ARCHIVE if archive else BUILD
    archive_path = Path(archive) if archive else None
    if archive_path is not None and not archive_path.exists():
        raise PipeError(f"IMAGE_ARCHIVE {archive} does not exist (paths are relative to the clone directory).")

    context = Path(variables.get("BUILD_CONTEXT") or ".")
    dockerfile = Path(variables["DOCKERFILE"]) if variables.get("DOCKERFILE") else None
    if source == BUILD:
        if not context.is_dir():
            raise PipeError(f"BUILD_CONTEXT {context} is not a directory.")
        wanted = dockerfile if dockerfile is not None else context / "Dockerfile"
        if not wanted.is_file():
            raise PipeError(dockerfile_missing(wanted, dockerfile, context))
        dockerfile = wanted.resolve()

    description = image_description(env, title=env.get("BITBUCKET_REPO_SLUG") or image_name, version=version, licenses=variables.get("LICENSES"),
                                    created=created_time(env, common.clone_dir))
    labels = {**description, **_pairs(list(variables.get("LABELS") or []), "LABELS")}
    annotations = {**description, **_pairs(list(variables.get("ANNOTATIONS") or []), "ANNOTATIONS")}
    return Settings(
        credentials=common.credentials, credentials_kind=common.credentials_kind, registry=common.registry,
        workspace=workspace,
        image_name=image_name, tags=tags, source=source, image=image, archive=archive_path,
        context=context, dockerfile=dockerfile,
        build_args=_pairs(list(variables.get("BUILD_ARGS") or []), "BUILD_ARGS"),
        target=variables.get("TARGET") or None, labels=labels, annotations=annotations,
        push=variables.get("PUSH") is not False,
        cache_from=list(variables.get("CACHE_FROM") or []), pull=bool(variables.get("PULL")),
        no_cache=bool(variables.get("NO_CACHE")), debug=bool(variables.get("DEBUG")),
        shared_storage=common.shared_storage, pipeline_repository=common.pipeline_repository,
    )
