"""The pipe's variables, read strictly and explained plainly.

Pipelines passes a YAML list variable as ``NAME_COUNT`` and ``NAME_0..N``; a plain string
(``TAGS: 'v1,v2'``) arrives as ``NAME`` alone, which the toolkit would silently ignore: that is an
error here, with the YAML to write instead. An empty list item (``TAGS: ['$BITBUCKET_TAG']`` on a
build that is not a tag build) is dropped with a warning. Pipelines passes every variable of the step
through, so unknown variables are normal; only near misses of the pipe's names (``IMAGE_NAM``,
``DOCKER_FILE``) get a "did you mean" warning. Validation errors are sentences, not cerberus text.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from bitbucket_pipes_toolkit import Pipe
from cerberus import Validator
from cerberus.errors import BasicErrorHandler, ValidationError

from pipe.errors import PipeError
from pipe.schema import LIST_VARIABLES, SCHEMA

# What Pipelines, docker and the image itself put in a pipe's environment: never a near miss.
ENVIRONMENT = {"PATH", "HOME", "HOSTNAME", "LANG", "LC_ALL", "PWD", "SHLVL", "TERM", "TZ", "USER", "CI",
               "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_BUILDKIT",
               "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_DISABLE_PIP_VERSION_CHECK", "GPG_KEY",
               "PYTHON_VERSION", "PYTHON_PIP_VERSION", "PYTHON_SHA256", "TMPDIR", "_"}
NEAR_MISS_CUTOFF = 0.8


class InputError(PipeError):
    """Variables that cannot be used; the message lists every problem, one per line."""


@dataclass
class Inputs:
    variables: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def read(env: Mapping[str, str]) -> Inputs:
    """The pipe's variables from the environment, validated; raises InputError."""
    warnings: list[str] = []
    problems: list[str] = []
    lists = {name: _list_items(name, env, problems, warnings) for name in LIST_VARIABLES}
    document: dict[str, Any] = {}
    for name, rule in SCHEMA.items():
        if rule.get("type") == "list":
            if lists[name] is not None:
                document[name] = lists[name]
        elif name in env:
            # The toolkit's reading: strings raw, booleans and numbers as YAML ('true' -> True).
            document[name] = env[name] if rule.get("type") == "string" else _yaml_value(env[name])
    validator = Validator(SCHEMA, purge_unknown=True, error_handler=PlainErrors)
    if not validator.validate(document):
        problems += _sentences(validator.errors)
    if problems:
        # a misspelt variable often is the reason another one is missing: say both at once
        raise InputError("Some variables cannot be used:\n" + "\n".join(f"- {p}" for p in problems + near_misses(env)))
    warnings += near_misses(env)
    return Inputs(validator.document, warnings)


def _yaml_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _list_items(name: str, env: Mapping[str, str], problems: list[str], warnings: list[str]) -> list[str] | None:
    count_text = env.get(f"{name}_COUNT")
    if count_text is None:
        if name in env:
            problems.append(f"{name} must be a YAML list: {name}: {example(env[name])}")
        return None
    if not count_text.strip().isdigit():
        problems.append(f"{name}_COUNT must be a whole number (the number of {name}_N items); got {count_text!r}")
        return None
    items = []
    for index in range(int(count_text)):
        value = env.get(f"{name}_{index}")
        if value is None:
            problems.append(f"{name}_COUNT is {count_text.strip()} but {name}_{index} is not set")
        elif not value.strip():
            warnings.append(f"{name} item {index + 1} is empty (a variable such as $BITBUCKET_TAG that this build "
                            "does not set?): it is left out")
        else:
            items.append(value)
    return items


def example(value: str) -> str:
    """``'v1,v2'`` as the YAML list it was probably meant to be: ``['v1', 'v2']``."""
    items = [item.strip() for item in value.split(",") if item.strip()] or [value]
    return "[" + ", ".join(f"'{item}'" for item in items) + "]"


def near_misses(env: Mapping[str, str]) -> list[str]:
    """Warnings for unknown variables that look like one of the pipe's (a typo, a missing S, a case slip)."""
    names = list(SCHEMA)
    known = set(names) | ENVIRONMENT
    known |= {f"{name}_COUNT" for name in LIST_VARIABLES}
    warnings = []
    for variable in sorted(env):
        if variable in known:
            continue
        if any(variable.startswith(f"{name}_") and variable[len(name) + 1:].isdigit() for name in LIST_VARIABLES):
            continue
        match = difflib.get_close_matches(variable.upper(), names, n=1, cutoff=NEAR_MISS_CUTOFF)
        if match:
            warnings.append(f"{variable} is not a variable of this pipe; did you mean {match[0]}? It is ignored.")
    return warnings


class PlainErrors(BasicErrorHandler):
    """Cerberus errors as sentences that name the variable, what it got and what it needs."""

    def _format_message(self, field: Any, error: ValidationError) -> str:
        path = error.document_path
        subject = str(path[0])
        if len(path) > 1 and isinstance(path[1], int):
            subject = f"{path[0]} item {path[1] + 1} ({error.value!r})"
        rule = SCHEMA.get(str(path[0]), {})
        constraint = error.constraint
        if error.code == 0x24:  # bad type
            wanted = {"boolean": "true or false", "list": "a YAML list", "string": "text",
                      "integer": "a whole number"}.get(str(constraint), str(constraint))
            return f"{subject} must be {wanted}; got {error.value!r}"
        if error.code == 0x22:
            return f"{subject} must not be empty: set a value or leave the variable out"
        if error.code in (0x44, 0x46):
            return f"{subject} must be one of {_choices(constraint)}; got {error.value!r}"
        if error.code in (0x45, 0x47):
            return f"{subject}: {', '.join(map(repr, error.info[0]))} not allowed; use {_choices(constraint)}"
        if error.code == 0x41:
            meaning = rule.get("meta", {}).get("format") or rule.get("schema", {}).get("meta", {}).get("format")
            return f"{subject} must be {meaning}" if meaning else f"{subject} is not in the expected form"
        if error.code == 0x06:  # excludes
            others = constraint if isinstance(constraint, (list, tuple)) else [constraint]
            return f"{subject} and {' and '.join(others)} cannot be used together: set one of them"
        if error.code == 0x04:  # dependencies: the other variable is missing
            return f"{subject} needs {error.info[0]} too"
        if error.code == 0x02:
            return f"{subject} is required"
        return f"{subject}: {super()._format_message(field, error)}"


def _choices(values: Any) -> str:
    items = [f"'{value}'" for value in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" or {items[-1]}"


def _sentences(tree: Any) -> list[str]:
    """The error handler's tree (dicts of lists of messages) as a flat list of its sentences."""
    if isinstance(tree, str):
        return [tree]
    if isinstance(tree, Mapping):
        return [sentence for key in tree for sentence in _sentences(tree[key])]
    return [sentence for node in tree for sentence in _sentences(node)]


class StrictPipe(Pipe):
    """The toolkit's Pipe, reading its variables with ``read``; ``warnings`` are for the log."""

    warnings: list[str]

    def validate(self) -> dict[str, Any]:
        inputs = read(self.env)
        self.warnings = inputs.warnings
        return inputs.variables
