"""Container images: build (or take) an image, push it under every tag, report."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pipe.build.engine import BuildRequest, Engine
from pipe.build.errors import ImageError
from pipe.config import ARCHIVE, BUILD, Settings
from pipe.errors import PipeError
from pipe.messages import who as _who
from pipe.oci.client import RegistryClient
from pipe.oci.errors import (
    AccessDenied,
    AuthenticationFailed,
    InvalidReference,
    NameUnknown,
    RegistryError,
    RegistryUnavailable,
)
from pipe.oci.reference import parse_image_reference
from pipe.oci.transport import Transport
from pipe.push.cache import BlobCache, default_cache_path
from pipe.push.images import ImagePusher, PushResult
from pipe.report import Progress, references, summary

PACKAGES_DOCS = "https://support.atlassian.com/bitbucket-cloud/docs/bitbucket-packages/"


@dataclass
class Outcome:
    result: PushResult
    seconds: float
    lines: list[str]  # one per tag, then the summary


def run(settings: Settings, log: logging.Logger) -> Outcome:
    try:
        return _run(settings, log)
    except (ImageError, InvalidReference) as exc:
        raise PipeError(str(exc)) from exc
    except RegistryError as exc:
        raise PipeError(explain(exc, settings)) from exc


def _run(settings: Settings, log: logging.Logger) -> Outcome:
    client = RegistryClient(Transport(settings.registry, settings.credentials))
    log.info(f"Checking access to {settings.registry.netloc}/{settings.name}")
    client.authenticate(settings.name)

    engine = None
    image = settings.image
    if settings.source != ARCHIVE:
        engine = Engine()
        engine.add_registry_auth(settings.registry.netloc, settings.credentials)
    if settings.source == BUILD:
        assert engine is not None
        image = build(engine, settings, log)

    cache = BlobCache(default_cache_path(), settings.registry.netloc)
    started = time.monotonic()
    with Progress(log) as progress:
        pusher = ImagePusher(client, settings.name, cache, progress)
        what = settings.archive if settings.source == ARCHIVE else image
        log.info(f"Pushing {what} to {settings.registry.netloc}/{settings.name} "
                 f"as {', '.join(settings.tags)}")
        if settings.source == ARCHIVE:
            assert settings.archive is not None
            result = pusher.push_archive(settings.archive, settings.tags)
        else:
            assert engine is not None and image is not None
            result = pusher.push_engine_image(engine, image, settings.tags)
    seconds = time.monotonic() - started
    cache.save()
    if engine is not None:
        engine.close()

    lines = [f"Pushed {reference} {result.digest}" for reference in references(settings.registry.netloc, result)]
    lines.append(("Already up to date: " if result.already_pushed else "Pushed ") + summary(result, seconds))
    return Outcome(result, seconds, lines)


def build(engine: Engine, settings: Settings, log: logging.Logger) -> str:
    local_tag = f"{settings.registry.netloc}/{settings.name}:{settings.tags[0]}"
    for reference in settings.cache_from:
        host, _, _, _ = parse_image_reference(reference)
        if host == settings.registry.netloc or not _present(engine, reference):
            log.info(f"Pulling {reference} for the build cache")
            if not engine.pull(reference):
                log.warning(f"CACHE_FROM image {reference} could not be pulled; building without it")
    log.info(f"Building {local_tag} from {settings.dockerfile} (context {settings.context})")
    request = BuildRequest(
        context=settings.context.resolve(), dockerfile=settings.dockerfile, tag=local_tag,
        build_args=settings.build_args, target=settings.target, labels=settings.labels,
        cache_from=settings.cache_from, pull=settings.pull, no_cache=settings.no_cache)
    image_id = engine.build(request, log.info)
    log.info(f"Built {local_tag} ({image_id})")
    return image_id


def _present(engine: Engine, reference: str) -> bool:
    try:
        engine.inspect(reference)
    except ImageError:
        return False
    return True


def explain(exc: RegistryError, settings: Settings) -> str:
    """A registry failure as a message that says what to do."""
    target = f"{settings.registry.netloc}/{settings.name}"
    who = _who(settings)
    if isinstance(exc, AuthenticationFailed):
        return (f"The registry {settings.registry.netloc} refused the credentials ({who}). "
                + ("A pipeline token is valid only while its pipeline runs. " if settings.credentials_kind ==
                   "pipeline" else "Check that the API token is not expired or revoked and has the scopes "
                   "read:package:bitbucket and write:package:bitbucket. ")
                + (f"Registry said: {exc.detail}" if exc.detail else "").strip())
    if isinstance(exc, AccessDenied):
        return (f"Pushing to {target} was denied. {exc.detail or ''} "
                f"The credentials are {who}. "
                + ("A pipeline token can push only to packages linked to its own repository: link the package "
                   "to that repository, or use ATLASSIAN_ACCOUNT_EMAIL and ATLASSIAN_API_TOKEN of a user with "
                   "write access to the repository the package is linked to."
                   if settings.credentials_kind == "pipeline" else
                   "Ask an admin of the repository the package is linked to for write access.")
                ).replace("  ", " ").strip()
    if isinstance(exc, NameUnknown):
        repository = settings.pipeline_repository or f"{settings.workspace}/<repository>"
        return (f"The container package {settings.name} does not exist in {settings.registry.netloc}, or "
                f"the credentials ({who}) cannot see it. Create the package and link it to a repository "
                f"first: on the workspace's Packages page (Create package), or on a bundled registry with "
                f"`packages-registry package create {settings.name} --type container --repository "
                f"{repository}`."
                + (f" A pipeline token sees only packages linked to {settings.pipeline_repository}."
                   if settings.credentials_kind == "pipeline" and settings.pipeline_repository else ""))
    if isinstance(exc, RegistryUnavailable):
        return (f"The registry {settings.registry.base_url} is unreachable: it could not be reached or kept failing "
                f"after retries ({exc.message}). Check REGISTRY, and try again later.")
    return f"The push to {target} failed: {exc.message}"
