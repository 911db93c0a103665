"""README's Variables table is generated from the schema and must not drift from it."""

from __future__ import annotations

from pathlib import Path

from pipe.readme import block, extract
from pipe.schema import SCHEMA

ROOT = Path(__file__).resolve().parents[2]


README = ROOT / "README.md"


def test_variables_table_matches_the_schema() -> None:
    assert extract(README.read_text()) == block(), (
        "README.md's Variables table differs from pipe/schema.py: run `python -m pipe.readme --write README.md`")


def test_every_variable_is_documented() -> None:
    table = block()
    for name, rule in SCHEMA.items():
        assert f"| {name}" in table
        assert rule.get("meta", {}).get("doc"), f"{name} has no usage text"
