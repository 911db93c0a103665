"""README's Variables table is generated from the schema and must not drift from it."""

from __future__ import annotations

from pathlib import Path

from pipe.readme import block, extract
from pipe.schema import SCHEMA

ROOT = Path(__file__).resolve().parents[2]


def readme_with_table() -> Path:
    readme = ROOT / "README.md"
    if readme.exists() and extract(readme.read_text()) is not None:
        return readme
    return ROOT / "docs" / "pipe-readme.md"


def test_variables_table_matches_the_schema() -> None:
    path = readme_with_table()
    assert extract(path.read_text()) == block(), (
        f"{path.relative_to(ROOT)}'s Variables table differs from pipe/schema.py: "
        f"run `python -m pipe.readme --write {path.relative_to(ROOT)}`")


def test_every_variable_is_documented() -> None:
    table = block()
    for name, rule in SCHEMA.items():
        assert f"| {name}" in table
        assert rule.get("meta", {}).get("doc"), f"{name} has no usage text"
