"""Container images: build (or take) an image, push it under every tag, report."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from pipe import messages
from pipe.build.engine import BuildRequest, Engine
from pipe.build.errors import ImageError
from pipe.config import ARCHIVE, BUILD, Settings
from pipe.errors import PipeError
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
from pipe.progress import PushProgress
from pipe.push.cache import BlobCache, default_cache_path
from pipe.push.images import ImagePusher, PushResult, archive_kind
from pipe.report import references, summary
from pipe.supply.attach import Attached, BuildFacts, SupplySettings, attach


@dataclass
class Outcome:
    result: PushResult | None  # None when PUSH is false
    seconds: float
    lines: list[str]  # one per tag, then the summary
    success: str
    attached: list[Attached] = field(default_factory=list)  # signature, provenance, SBOMs


def run(settings: Settings, log: logging.Logger, supply: SupplySettings | None = None) -> Outcome:
    try:
        return _run(settings, log, supply)
    except (ImageError, InvalidReference) as exc:
        raise PipeError(str(exc)) from exc
    except RegistryError as exc:
        raise PipeError(explain(exc, settings)) from exc


def _run(settings: Settings, log: logging.Logger, supply: SupplySettings | None) -> Outcome:
    client = RegistryClient(Transport(settings.registry, settings.credentials))
    target = f"{settings.registry.netloc}/{settings.name}"
    log.info(f"Checking that {target} exists and the credentials may push to it")
    client.check_push(settings.name)  # before a build that may take minutes

    engine = None
    image = settings.image
    if settings.source != ARCHIVE:
        engine = Engine()
        engine.add_registry_auth(settings.registry.netloc, settings.credentials)
    if settings.source == BUILD:
        assert engine is not None
        image = build(engine, settings, log)
    if not settings.push:
        return _not_pushed(settings, engine, image, log)

    cache = BlobCache(default_cache_path(), settings.registry.netloc)
    started = time.monotonic()
    with PushProgress(log, settings.name) as progress:
        pusher = ImagePusher(client, settings.name, cache, progress, annotations=settings.annotations)
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
    attached = []
    if supply is not None:
        facts = BuildFacts(str(settings.dockerfile) if settings.dockerfile else None, settings.build_args,
                           settings.target, settings.tags)
        attached = attach(client, supply, settings.name, settings.registry.netloc, result.digest, log, facts)
        lines += [f"Attached the {done.kind} {done.digest}" + (f" (tag {done.tag})" if done.tag else "")
                  for done in attached]
    lines.append(("Already up to date: " if result.already_pushed else "Pushed ") + summary(result, seconds))
    return Outcome(result, seconds, lines, f"Pushed {settings.name}@{result.digest} to {settings.registry.netloc} "
                                           f"as {', '.join(settings.tags)}", attached)


def _not_pushed(settings: Settings, engine: Engine | None, image: str | None, log: logging.Logger) -> Outcome:
    """PUSH false: the access check passed and the image is built (or found); nothing is sent."""
    if settings.source == ARCHIVE:
        assert settings.archive is not None
        if settings.archive.is_file():
            archive_kind(settings.archive)
        what = str(settings.archive)
    else:
        assert engine is not None and image is not None
        what = engine.inspect(image).id
        engine.close()
    target = f"{settings.registry.netloc}/{settings.name}"
    log.info(f"PUSH is false: {what} is not pushed; it would go to {target} as {', '.join(settings.tags)}")
    return Outcome(None, 0.0, [], f"Checked access to {target} and prepared {what} without pushing (PUSH: false)")


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
    if isinstance(exc, AuthenticationFailed):
        return messages.refused(exc, settings, f"The registry {settings.registry.netloc}")
    if isinstance(exc, AccessDenied):
        return messages.denied(exc, settings, f"Pushing to {target}")
    if isinstance(exc, NameUnknown):
        return messages.not_created(settings, "container", settings.image_name, settings.workspace,
                                    settings.registry.netloc)
    if isinstance(exc, RegistryUnavailable):
        return messages.unreachable(exc, f"The registry {settings.registry.base_url}", "REGISTRY")
    return messages.generic(exc, f"The push to {target}")
