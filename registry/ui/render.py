"""Jinja2 environment of the pages (autoescape always on), its filters, and page URLs."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import jinja2

from registry.access.models import Package

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
STATIC_PREFIX = "/-/static"


def package_url(package: Package, *tail: str) -> str:
    """/<workspace>/<repository>/packages/<type>/<name>[/-/<tail...>]; names keep their / and @."""
    slug = package.repository.partition("/")[2]
    url = f"/{quote(package.workspace, safe='')}/{quote(slug, safe='')}/packages/{package.type}/" \
          f"{quote(package.name, safe='/@:')}"
    if tail:
        url += "/-/" + "/".join(quote(part, safe=":") for part in tail)
    return url


def repository_url(full_slug: str) -> str:
    workspace, _, slug = full_slug.partition("/")
    return f"/{quote(workspace, safe='')}/{quote(slug, safe='')}/packages"


def workspace_url(workspace: str) -> str:
    return f"/{quote(workspace, safe='')}/workspace/packages"


def project_url(workspace: str, key: str) -> str:
    return f"/{quote(workspace, safe='')}/workspace/projects/{quote(key, safe='')}/packages"


def human_size(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


def timestamp(value: float | None) -> str:
    if not value:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(value))


def short_digest(value: str | None) -> str:
    if not value:
        return ""
    algorithm, _, hexpart = value.partition(":")
    return f"{algorithm}:{hexpart[:12]}"


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every page, every value: names, labels and annotations come from pushers
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        enable_async=False,
    )
    env.filters.update(size=human_size, when=timestamp, short=short_digest)
    env.globals.update(package_url=package_url, repository_url=repository_url, workspace_url=workspace_url,
                       project_url=project_url, static=STATIC_PREFIX)
    return env
