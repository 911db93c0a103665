"""Which tags a container push gets, from the Pipelines build, as docker/metadata-action users expect.

| build | tags |
|---|---|
| git tag `v1.2.3` (or `1.2.3`) | `1.2.3`, `1.2`, `1`, `latest` |
| git tag `v1.3.0-rc.1` (a pre-release) | `1.3.0-rc.1` |
| git tag that is not semver (`release/2024`) | the tag, sanitised (`release-2024`) |
| pull request (`BITBUCKET_PR_ID` 7) | `pr-7` |
| branch `feature/login` | `feature-login`, the short commit |
| branch equal to `LATEST_BRANCH` (default `main` or `master`) | the branch, the short commit, `latest` |
| none of these (outside Pipelines) | the short commit if known, else `latest` |

`TAG_PREFIX` and `TAG_SUFFIX` go around every generated tag except `latest`; `TAGS` replaces all of
this. The version (for the `org.opencontainers.image.version` label and annotation) is the first,
most specific, generated tag: `1.2.3`, `1.3.0-rc.1`, `release-2024`, `pr-7`, `feature-login`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

LATEST = "latest"
DEFAULT_LATEST_BRANCHES = ("main", "master")
SHORT_COMMIT = 7
MAX_TAG = 128

# semver.org's own regular expression (2.0.0), with an optional leading "v"; used with fullmatch.
SEMVER_RE = re.compile(
    r"v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<prerelease>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?")
_NOT_IN_TAG = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class TagPlan:
    tags: list[str]
    version: str | None  # the most specific tag, without prefix or suffix


def sanitize_tag(value: str) -> str:
    """A git tag or branch as an image tag: characters a tag cannot hold become '-' (an empty result: none)."""
    return _NOT_IN_TAG.sub("-", value).lstrip(".-")[:MAX_TAG]


def semver_tags(tag: str) -> list[str] | None:
    """``v1.2.3`` -> 1.2.3, 1.2, 1; a pre-release -> itself only (without the v); not semver -> None."""
    match = SEMVER_RE.fullmatch(tag)
    if match is None:
        return None
    version = sanitize_tag(tag.removeprefix("v"))  # build metadata's "+" is not allowed in a tag
    if match.group("prerelease"):
        return [version]
    major, minor = match.group("major"), match.group("minor")
    return list(dict.fromkeys([version, f"{major}.{minor}.{match.group('patch')}", f"{major}.{minor}", major]))


def latest_branches(variable: str | None) -> tuple[str, ...]:
    return (variable,) if variable else DEFAULT_LATEST_BRANCHES


def plan_tags(env: Mapping[str, str], prefix: str = "", suffix: str = "",
              latest_branch: str | None = None) -> TagPlan:
    """The default tags of a push (when TAGS is not given), from the BITBUCKET_* variables in ``env``."""
    git_tag = env.get("BITBUCKET_TAG") or ""
    pr_id = env.get("BITBUCKET_PR_ID") or ""
    branch = env.get("BITBUCKET_BRANCH") or ""
    commit = (env.get("BITBUCKET_COMMIT") or "")[:SHORT_COMMIT]
    latest = False
    if git_tag:
        expanded = semver_tags(git_tag)
        latest = expanded is not None and len(expanded) > 1
        specific = expanded if expanded is not None else [sanitize_tag(git_tag)]
    elif pr_id:
        specific = [f"pr-{sanitize_tag(pr_id)}"]
    elif branch:
        specific = [sanitize_tag(branch), commit]
        latest = branch in latest_branches(latest_branch)
    else:
        specific = [commit]
    specific = [tag for tag in specific if tag]
    tags = [_affix(tag, prefix, suffix) for tag in specific]
    if latest or not tags:
        tags.append(LATEST)
    return TagPlan(list(dict.fromkeys(tags)), specific[0] if specific else None)


def _affix(tag: str, prefix: str, suffix: str) -> str:
    return sanitize_tag(f"{prefix}{tag}{suffix}")
