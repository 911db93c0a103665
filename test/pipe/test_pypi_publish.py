"""Python packages end to end: the pipe builds (PYPI_BUILD) and uploads a project to the bundled
registry, ACTION: configure writes pip.conf, and pip in a fresh venv installs what arrived."""

from __future__ import annotations

import json
import os
from pathlib import Path

from test.pipe.conftest import PipeWorld, lists
from test.support.python_clients import fresh_venv, run
from test.support.python_dists import make_sdist, make_wheel

PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "Pipe_Built"
version = "0.4.2"
description = "built by the pipe"
requires-python = ">=3.9"
"""


def _env(world: PipeWorld, clone: Path) -> dict[str, str]:
    return {**world.env, "PACKAGE_TYPE": "pypi", "BITBUCKET_CLONE_DIR": str(clone)}


def test_pipe_builds_uploads_and_pip_installs_with_the_configure_output(pipe_world: PipeWorld, run_pipe,
                                                                         tmp_path: Path) -> None:
    world = pipe_world
    world.registry.package(f"{world.workspace}/pipe-built", world.repository, "pypi")
    clone = tmp_path / "clone"
    (clone / "pipe_built").mkdir(parents=True)
    (clone / "pipe_built" / "__init__.py").write_text("ANSWER = 42\n")
    (clone / "pyproject.toml").write_text(PYPROJECT)

    missing = run_pipe(_env(world, clone), cwd=clone)
    missing.assert_failed("No wheel or sdist matches PYPI_DIST dist/*", "python -m build", "PYPI_BUILD")

    built = run_pipe({**_env(world, clone), "PYPI_BUILD": "true"}, cwd=clone, timeout=300)
    built.assert_ok()
    wheel = clone / "dist" / "pipe_built-0.4.2-py3-none-any.whl"
    assert wheel.is_file() and (clone / "dist" / "pipe_built-0.4.2.tar.gz").is_file()
    assert "Uploaded pipe_built-0.4.2-py3-none-any.whl" in built.output and "sha256" in built.output
    assert f"pip install --index-url {world.registry.url}/pypi/{world.workspace}/simple/ pipe-built==0.4.2" in \
        built.output
    result = json.loads(next(world.shared.rglob("*.json")).read_text())
    assert result["packageType"] == "pypi" and {f["filename"] for f in result["files"]} == {
        wheel.name, "pipe_built-0.4.2.tar.gz"}

    configured = run_pipe({**_env(world, clone), "ACTION": "configure", **lists("CONFIGURE", ["pypi"])}, cwd=clone)
    configured.assert_ok()
    for name in (".pypirc", "pip.conf"):
        assert (clone / name).stat().st_mode & 0o077 == 0, name
    assert "PIP_CONFIG_FILE=$BITBUCKET_CLONE_DIR/pip.conf" in configured.output
    python = fresh_venv(tmp_path / "venv")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = str(clone / "pip.conf")
    run([str(python), "-m", "pip", "install", "-q", "--no-cache-dir", "pipe-built==0.4.2"], env=env)
    assert run([str(python), "-c", "import pipe_built; print(pipe_built.ANSWER)"]).stdout.strip() == "42"


def test_existing_files_fail_or_are_skipped(pipe_world: PipeWorld, run_pipe, tmp_path: Path) -> None:
    world = pipe_world
    world.registry.package(f"{world.workspace}/twice", world.repository, "pypi")
    clone = tmp_path / "clone"
    (clone / "dist").mkdir(parents=True)
    make_wheel(clone / "dist", "twice", "1.0")
    make_sdist(clone / "dist", "twice", "1.0")
    run_pipe(_env(world, clone), cwd=clone).assert_ok()
    run_pipe(_env(world, clone), cwd=clone).assert_failed("already in", "SKIP_EXISTING")
    # The failure lands in the file the success wrote: an old success is never taken for this call's result.
    result = json.loads((world.shared / "packages-pipe" / "pypi-twice.json").read_text())
    assert result["status"] == "failed" and "already in" in result["error"]
    skipped = run_pipe({**_env(world, clone), "SKIP_EXISTING": "true"}, cwd=clone)
    skipped.assert_ok()
    assert "already in the index: skipped" in skipped.output


def test_a_project_that_was_not_created_says_how(pipe_world: PipeWorld, run_pipe, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    (clone / "out").mkdir(parents=True)
    make_wheel(clone / "out", "never-made", "1.0")
    failed = run_pipe({**_env(pipe_world, clone), **lists("PYPI_DIST", ["out/*.whl"])}, cwd=clone)
    failed.assert_failed("--type pypi", f"packages-registry package create {pipe_world.workspace}/never-made")
