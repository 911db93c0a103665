"""The pipe's variables, read strictly and explained plainly.

Pipelines passes a YAML list variable as ``NAME_COUNT`` and ``NAME_0..N``; a plain string
(``TAGS: 'v1,v2'``) arrives as ``NAME`` alone, which the toolkit would silently ignore: that is an
error here, with the YAML to write instead. An empty list item (``TAGS: ['$BITBUCKET_TAG']`` on a
build that is not a tag build) is dropped with a warning. Pipelines passes every variable of the step
through, so unknown variables are normal; only near misses of the pipe's names (``IMAGE_NAM``,
``DOCKER_FILE``) get a "did you mean" warning. Validation errors are sentences, not cerberus text.

Cerberus is the judge of the schema, but costs a warm re-push about as much as the push itself (its
import, the check of the schema's own definition, and its validation): a document whose every value
plainly passes the few rules the schema uses (``check``) is taken without it; anything else, and every
error message, is cerberus's. test/pipe/test_inputs.py holds the two to the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipe.errors import PipeError
from pipe.schema import LIST_VARIABLES, SCHEMA

# What Pipelines, docker and the image itself put in a pipe's environment: never a near miss.
ENVIRONMENT = {"PATH", "HOME", "HOSTNAME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "PWD", "SHLVL", "TERM", "TZ", "USER", "CI",
               "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_BUILDKIT",
               "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_DISABLE_PIP_VERSION_CHECK", "GPG_KEY",
               "PYTHON_VERSION", "PYTHON_PIP_VERSION", "PYTHON_SHA256", "TMPDIR", "_",
               # Pipelines' own (support.atlassian.com: variables and secrets)
               "BITBUCKET_BRANCH", "BITBUCKET_COMMIT", "BITBUCKET_BUILD_NUMBER", "BITBUCKET_CLONE_DIR",
               "BITBUCKET_PIPELINE_UUID", "BITBUCKET_STEP_UUID", "BITBUCKET_STEP_RUN_NUMBER", "BITBUCKET_TAG",
               "BITBUCKET_BOOKMARK", "BITBUCKET_PR_ID", "BITBUCKET_PR_DESTINATION_BRANCH",
               "BITBUCKET_PR_DESTINATION_COMMIT", "BITBUCKET_REPO_OWNER", "BITBUCKET_REPO_OWNER_UUID",
               "BITBUCKET_REPO_SLUG", "BITBUCKET_REPO_UUID", "BITBUCKET_REPO_FULL_NAME", "BITBUCKET_REPO_IS_PRIVATE",
               "BITBUCKET_WORKSPACE", "BITBUCKET_GIT_HTTP_ORIGIN", "BITBUCKET_GIT_SSH_ORIGIN", "BITBUCKET_PROJECT_KEY",
               "BITBUCKET_PROJECT_UUID", "BITBUCKET_STEP_TRIGGERER_UUID", "BITBUCKET_STEP_OIDC_TOKEN",
               "BITBUCKET_SSH_KEY_FILE", "BITBUCKET_DOCKER_HOST_INTERNAL", "BITBUCKET_PIPE_STORAGE_DIR",
               "BITBUCKET_PIPE_SHARED_STORAGE_DIR", "BITBUCKET_PARALLEL_STEP", "BITBUCKET_PARALLEL_STEP_COUNT",
               "BITBUCKET_EXIT_CODE", "BITBUCKET_DEPLOYMENT_ENVIRONMENT", "BITBUCKET_DEPLOYMENT_ENVIRONMENT_UUID"}
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
    variables = None if problems else check(document)
    if variables is None:
        variables, errors = _validate(document)
        problems += errors
    if problems:
        # a misspelt variable often is the reason another one is missing: say both at once
        raise InputError("Some variables cannot be used:\n" + "\n".join(f"- {p}" for p in problems + near_misses(env)))
    warnings += near_misses(env)
    return Inputs(variables, warnings)


def _validate(document: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Cerberus's normalised document and its errors as sentences."""
    from cerberus import Validator

    validator = Validator(SCHEMA, purge_unknown=True, error_handler=_plain_errors())
    if validator.validate(document):
        return validator.document, []
    return validator.document, _sentences(validator.errors)


# The rules ``check`` knows; a schema entry with any other rule always goes to cerberus.
_CHECKED_RULES = frozenset({"type", "required", "empty", "default", "allowed", "regex", "dependencies", "excludes",
                            "schema", "meta"})


def check(document: Mapping[str, Any]) -> dict[str, Any] | None:
    """The document normalised as cerberus would (defaults added, unknown names dropped) when every value
    plainly passes its rules; None when cerberus must judge (a value fails, or a rule is not known here)."""
    result = {}
    for name, rule in SCHEMA.items():
        if name not in document:
            if rule.get("required") or not rule.keys() <= _CHECKED_RULES:
                return None
            if "default" in rule:
                result[name] = rule["default"]
            continue
        value = document[name]
        if not _passes(value, rule):
            return None
        items = rule.get("schema") if rule.get("type") == "list" else None
        if items is not None and not (isinstance(items, dict) and all(_passes(item, items) for item in value)):
            return None
        for other in _names(rule.get("dependencies")):
            if other not in document:
                return None
        for other in _names(rule.get("excludes")):
            if other in document:
                return None
        result[name] = value
    return result


def _passes(value: Any, rule: Mapping[str, Any]) -> bool:
    if not rule.keys() <= _CHECKED_RULES:
        return False
    kind = rule.get("type")
    if kind == "string":
        if not isinstance(value, str) or (value == "" and rule.get("empty") is False):
            return False
        # cerberus appends "$" to a pattern that lacks it, then matches from the start
        pattern = rule.get("regex")
        if pattern is not None and not re.match(pattern if pattern.endswith("$") else pattern + "$", value):
            return False
    elif kind == "boolean":
        if not isinstance(value, bool):
            return False
    elif kind == "list":
        if not isinstance(value, list) or (not value and rule.get("empty") is False) or "allowed" in rule:
            return False
    else:
        return False
    return "allowed" not in rule or value in rule["allowed"]


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _yaml_value(text: str) -> Any:
    import yaml

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
    unknown = [variable for variable in sorted(env) if variable not in known and not any(
        variable.startswith(f"{name}_") and variable[len(name) + 1:].isdigit() for name in LIST_VARIABLES)]
    if not unknown:
        return []
    import difflib

    warnings = []
    for variable in unknown:
        match = difflib.get_close_matches(variable.upper(), names, n=1, cutoff=NEAR_MISS_CUTOFF)
        if match:
            warnings.append(f"{variable} is not a variable of this pipe; did you mean {match[0]}? It is ignored.")
    return warnings


def _plain_errors() -> Any:
    """The error handler class, made when cerberus is imported (only when a document needs it)."""
    from cerberus.errors import BasicErrorHandler, ValidationError

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

    return PlainErrors


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
