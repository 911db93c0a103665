"""The pipe as users run it: ``python3 pipe/pipe.py`` with variables in the environment, against the
bundled registry (session fixture ``registry``) and a private docker engine (``dockerd``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from test.support.dockerd import Dockerd
from test.support.pipe_step import PipelineStep, PipeOutput, build_pipe_image, make_clone, secrets_of
from test.support.registry_server import RegistryServer

ROOT = Path(__file__).resolve().parents[2]
PIPE = ROOT / "pipe" / "pipe.py"
# What a pipe container gets from the machine: nothing of the developer's own environment leaks in.
KEEP = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


@dataclass
class PipeRun(PipeOutput):
    returncode: int
    stdout: str
    stderr: str
    secrets: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def last_line(self) -> str:
        # stdout alone: the lines and the green or red one are all written there (pipe/console.py)
        return [line for line in self.stdout.splitlines() if line.strip()][-1]


@dataclass
class PipeWorld:
    """A workspace with a repository ``code`` and the container package ``app`` linked to it."""

    registry: RegistryServer
    workspace: str
    repository: str
    package: str
    username: str
    token: str
    storage: Path
    shared: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            "REGISTRY": self.registry.url,
            "BITBUCKET_PACKAGES_USERNAME": self.username,
            "BITBUCKET_PACKAGES_TOKEN": self.token,
            "BITBUCKET_WORKSPACE": self.workspace,
            "BITBUCKET_REPO_SLUG": "code",
            "BITBUCKET_REPO_FULL_NAME": self.repository,
            "BITBUCKET_COMMIT": "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b",
            "BITBUCKET_PIPE_STORAGE_DIR": str(self.storage),
            "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(self.shared),
            "IMAGE_NAME": "app",
        }

    def result(self) -> dict:
        return json.loads((self.shared / "packages-pipe" / "latest.json").read_text())


@pytest.fixture
def pipe_world(registry: RegistryServer, unique: str, tmp_path: Path) -> PipeWorld:
    workspace = f"p{unique}"
    registry.ensure_repository(f"{workspace}/code")
    registry.package(f"{workspace}/app", f"{workspace}/code")
    username, token = registry.pipeline_token(f"{workspace}/code")
    (tmp_path / "storage").mkdir()
    (tmp_path / "shared").mkdir()
    return PipeWorld(registry, workspace, f"{workspace}/code", f"{workspace}/app", username, token,
                     tmp_path / "storage", tmp_path / "shared")


def lists(name: str, items: list[str]) -> dict[str, str]:
    """A list variable in the toolkit's form."""
    return {f"{name}_COUNT": str(len(items)), **{f"{name}_{i}": item for i, item in enumerate(items)}}


@pytest.fixture
def run_pipe(tmp_path: Path) -> Callable[..., PipeRun]:
    def run(env: dict[str, str], cwd: Path | None = None, dockerd: Dockerd | None = None,
            timeout: float = 240) -> PipeRun:
        full = {key: os.environ[key] for key in KEEP if key in os.environ}
        if dockerd is not None:
            full["DOCKER_HOST"] = dockerd.host
        full.update(env)
        result = subprocess.run([sys.executable, str(PIPE)], cwd=cwd or tmp_path, env=full, capture_output=True,
                                text=True, timeout=timeout, check=False)
        return PipeRun(result.returncode, result.stdout, result.stderr, secrets_of(env))

    return run


@pytest.fixture
def build_context(tmp_path: Path, busybox_image: str) -> Path:
    """A Dockerfile with ARG and RUN on the busybox base, and two layers of its own."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {busybox_image}\n"
        "ARG GREETING=hello\n"
        "COPY data.txt /data.txt\n"
        'RUN echo "$GREETING from $(cat /data.txt)" > /greeting\n'
        'CMD ["cat", "/greeting"]\n')
    (context / "data.txt").write_text("the pipe\n")
    return context


# --- the pipe image in a Pipelines-like step (test/support/pipe_step.py) ---

@pytest.fixture(scope="session")
def pipe_image(dockerd: Dockerd, session_dir: Path) -> str:
    """The pipe's image, built from the Dockerfile once per session."""
    return build_pipe_image(dockerd, session_dir)


@pytest.fixture
def pipeline_step(dockerd: Dockerd, pipe_image: str, pipe_world: PipeWorld, tmp_path: Path) -> PipelineStep:
    """A step of repository ``code`` (pipe_world's): a root-owned clone made with umask 022, the pipeline's
    token, and the engine over TCP. ``step.run({"VARIABLE": "value"})`` runs the pipe image once."""
    return PipelineStep(dockerd, pipe_image, make_clone(tmp_path), pipe_world.workspace, "code",
                        pipe_world.username, pipe_world.token)
