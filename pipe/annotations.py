"""The OCI description of an image (labels and manifest annotations) from the Pipelines build.

| key `org.opencontainers.image.` | value |
|---|---|
| `revision` | `BITBUCKET_COMMIT` |
| `source`, `url` | `BITBUCKET_GIT_HTTP_ORIGIN`, else `https://bitbucket.org/` + the repository's full name |
| `created` | `SOURCE_DATE_EPOCH` when set, else the commit's time (git in the clone), else (annotations only) the image config's `created` |
| `version` | the most specific default tag (`1.2.3`, `pr-7`, `feature-login`), else the first of `TAGS` |
| `title` | `IMAGE_NAME` |
| `licenses` | `LICENSES` |

``created`` is never "now": a re-push of the same commit must give the same labels (so a cached build
is the same image) and the same manifest (so the registry is already up to date).
"""

from __future__ import annotations

import datetime
import subprocess
from collections.abc import Mapping
from pathlib import Path

PREFIX = "org.opencontainers.image."
CREATED = PREFIX + "created"
GIT_TIMEOUT = 10.0


def _utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def created_time(env: Mapping[str, str], clone_dir: Path) -> str | None:
    """SOURCE_DATE_EPOCH, else the commit time from git in the clone, else None."""
    epoch = (env.get("SOURCE_DATE_EPOCH") or "").strip()
    if epoch.isdigit():
        return _utc(datetime.datetime.fromtimestamp(int(epoch), datetime.UTC))
    commit = env.get("BITBUCKET_COMMIT") or "HEAD"
    try:
        # safe.directory: the clone belongs to another user in Pipelines (root) than may run the pipe.
        result = subprocess.run(["git", "-c", "safe.directory=*", "log", "-1", "--format=%cI", commit, "--"],
                                cwd=clone_dir, capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = result.stdout.strip()
    if result.returncode != 0 or not text:
        return None
    try:
        return _utc(datetime.datetime.fromisoformat(text))
    except ValueError:
        return None


def source_url(env: Mapping[str, str]) -> str | None:
    source = env.get("BITBUCKET_GIT_HTTP_ORIGIN")
    if not source and env.get("BITBUCKET_REPO_FULL_NAME"):
        source = f"https://bitbucket.org/{env['BITBUCKET_REPO_FULL_NAME']}"
    if not source and env.get("BITBUCKET_WORKSPACE") and env.get("BITBUCKET_REPO_SLUG"):
        source = f"https://bitbucket.org/{env['BITBUCKET_WORKSPACE']}/{env['BITBUCKET_REPO_SLUG']}"
    return source.replace("http://bitbucket.org", "https://bitbucket.org") if source else None


def image_description(env: Mapping[str, str], *, title: str, version: str | None, licenses: str | None,
                      created: str | None) -> dict[str, str]:
    """The org.opencontainers.image.* values known for this build (labels and annotations alike)."""
    source = source_url(env)
    values = {
        "revision": env.get("BITBUCKET_COMMIT"),
        "source": source,
        "url": source,
        "created": created,
        "version": version,
        "title": title,
        "licenses": licenses,
    }
    return {PREFIX + key: value for key, value in values.items() if value}


def with_image_created(annotations: Mapping[str, str], config_created: object) -> dict[str, str]:
    """Annotations, with the image config's own ``created`` when no other creation time is known."""
    result = dict(annotations)
    if CREATED not in result and isinstance(config_created, str) and config_created:
        try:
            result[CREATED] = _utc(datetime.datetime.fromisoformat(config_created))
        except ValueError:
            pass
    return result
