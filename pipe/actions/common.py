"""What the npm, Maven and configure actions share: their outcome, and a clean environment for tools."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

# Tools the pipe runs (npm pack, mvn) get their credentials from files the pipe writes, never from these.
SECRET_VARIABLES = ("BITBUCKET_PACKAGES_TOKEN", "ATLASSIAN_API_TOKEN")


@dataclass
class Done:
    lines: list[str]  # logged one by one
    success: str  # the green last line
    result: dict[str, Any] = field(default_factory=dict)  # the result file's fields (pipe/results.py)
    warnings: list[str] = field(default_factory=list)  # logged as warnings before the lines


def child_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SECRET_VARIABLES}
    env.update(extra)
    return env
