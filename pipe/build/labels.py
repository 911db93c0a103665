"""OCI image labels filled in from the Pipelines build, under the user's own LABELS."""

from __future__ import annotations

import datetime
from collections.abc import Mapping


def pipeline_labels(env: Mapping[str, str], now: datetime.datetime | None = None) -> dict[str, str]:
    labels: dict[str, str] = {}
    if env.get("BITBUCKET_COMMIT"):
        labels["org.opencontainers.image.revision"] = env["BITBUCKET_COMMIT"]
    source = env.get("BITBUCKET_GIT_HTTP_ORIGIN")
    if not source and env.get("BITBUCKET_REPO_FULL_NAME"):
        source = f"https://bitbucket.org/{env['BITBUCKET_REPO_FULL_NAME']}"
    if not source and env.get("BITBUCKET_WORKSPACE") and env.get("BITBUCKET_REPO_SLUG"):
        source = f"https://bitbucket.org/{env['BITBUCKET_WORKSPACE']}/{env['BITBUCKET_REPO_SLUG']}"
    if source:
        labels["org.opencontainers.image.source"] = source.replace("http://bitbucket.org", "https://bitbucket.org")
    moment = now or datetime.datetime.now(datetime.UTC)
    labels["org.opencontainers.image.created"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return labels
