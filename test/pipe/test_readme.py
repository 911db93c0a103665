"""README is the pipe's page: its generated parts must not drift from the schema and pipe.yml, and every
`pipe:` reference must resolve as Pipelines resolves it, to the image pipe.yml names."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pipe.readme import (
    DEFINITION_END,
    DEFINITION_START,
    block,
    definition_block,
    docker_reference,
    extract,
    metadata,
    pipe_reference,
)
from pipe.schema import SCHEMA

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def test_generated_parts_match_the_schema() -> None:
    text = README.read_text()
    hint = "README.md differs from pipe/schema.py and pipe.yml: run `python -m pipe.readme --write README.md`"
    assert extract(text) == block(), hint
    assert extract(text, DEFINITION_START, DEFINITION_END) == definition_block(), hint


def test_every_variable_is_documented() -> None:
    table = block()
    for name, rule in SCHEMA.items():
        assert f"| {name}" in table
        assert rule.get("meta", {}).get("doc"), f"{name} has no usage text"


def test_credentials_are_required_unless_the_other_pair_is_set() -> None:
    text = README.read_text()
    for name in ("BITBUCKET_PACKAGES_USERNAME", "BITBUCKET_PACKAGES_TOKEN", "ATLASSIAN_ACCOUNT_EMAIL",
                 "ATLASSIAN_API_TOKEN"):
        assert f"| {name} (**) |" in text
        assert re.search(rf"# {name}: '<string>' # Required unless \w+ and \w+ are set", text), name
    assert "_(**) = one of these pairs is required: `BITBUCKET_PACKAGES_USERNAME` and `BITBUCKET_PACKAGES_TOKEN`" in text


def test_pipe_references_resolve_to_pipe_yml() -> None:
    meta = metadata()
    assert meta == yaml.safe_load((ROOT / "pipe.yml").read_text())
    account_repository, version = pipe_reference().split(":")
    # `pipe: account/repository:version` is the Bitbucket repository holding pipe.yml at that tag
    assert meta["repository"] == f"https://bitbucket.org/{account_repository}"
    assert meta["image"].endswith(f":{version}")
    references = re.findall(r"^\s*- pipe: (\S+)", README.read_text(), re.MULTILINE)
    assert len(references) >= 5
    assert set(references) == {pipe_reference()}
    assert docker_reference() in README.read_text()  # the docker:// form is the image pipe.yml names
    for command in re.findall(r"docker (?:run|build)[^`]*?(\S+/packages-pipe:\S+)", README.read_text()):
        assert command == meta["image"]


def test_readme_keeps_the_pipe_page_structure() -> None:
    text = README.read_text()
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    for expected in ("YAML Definition", "Variables", "Details", "Prerequisites", "Examples", "Support"):
        assert expected in headings
    assert headings.index("YAML Definition") < headings.index("Variables") < headings.index("Details")
    first_block = text[text.index("```"):text.index("```", text.index("```") + 3)]
    assert "make demo" in first_block and "make test" in first_block
