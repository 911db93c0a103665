"""The pipe as Pipelines runs it: its image built from the Dockerfile, run with ``docker run -v $CLONE:$CLONE
-w $CLONE`` and the ``BITBUCKET_*`` variables, in a clone made by root with umask 022, the step's docker
service reached over TCP.

``build_pipe_image`` makes the image once per session (on a locally made Python base: there is no Docker
Hub here); ``make_clone`` lays out a clone directory as Pipelines does; ``PipelineStep.run`` runs one pipe
call of a step and returns its merged output, in the order the step log would show it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from test.support.dockerd import DOCKER_CLI, Dockerd
from test.support.python_base import import_base

ROOT = Path(__file__).resolve().parents[2]
PIPE_IMAGE_TAG = "bitbucket-packages-pipe:test"
COMMIT = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"
# Where Pipelines puts the pipes' storage, inside the clone (root's, like the rest of it).
SHARED_STORAGE = ".bitbucket/pipelines/generated/pipeline/pipes"
# The variables whose values must never reach a pipe's output.
SECRET_VARIABLES = ("BITBUCKET_PACKAGES_TOKEN", "ATLASSIAN_API_TOKEN")


def secrets_of(env: dict[str, str]) -> list[str]:
    """The secret values a pipe run with ``env`` was given."""
    return [env[k] for k in SECRET_VARIABLES if env.get(k)]


def wheelhouse() -> Path:
    """The pipe's requirements as wheels (the image build has no network), made once per machine."""
    requirements = ROOT / "requirements.txt"
    key = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"pipe-test-wheels-{key}"
    if not (target / ".complete").exists():
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "-r", str(requirements), "-w", str(target)],
                       check=True, capture_output=True)
        (target / ".complete").touch()
    return target


def build_pipe_image(dockerd: Dockerd, workdir: Path) -> str:
    """``docker build`` of this checkout's Dockerfile, as the release step builds it (base image aside)."""
    base = import_base(dockerd)
    context = workdir / "pipe-image-context"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pipe", "vocab"):
        shutil.copytree(ROOT / name, context / name, ignore=ignore)
    for name in ("Dockerfile", ".dockerignore", "LICENSE.txt", "pipe.yml", "README.md", "requirements.txt"):
        shutil.copy(ROOT / name, context / name)
    shutil.copytree(wheelhouse(), context / "wheels", ignore=shutil.ignore_patterns(".complete"))
    dockerd.docker("build", "--build-arg", f"BASE_IMAGE={base}", "-t", PIPE_IMAGE_TAG, str(context))
    return PIPE_IMAGE_TAG


def make_clone(parent: Path, name: str = "build", git: bool = True) -> Path:
    """A clone directory as Pipelines makes it: root's, umask 022 (0755 directories, 0644 files), a git
    checkout, with the pipes' shared storage directory inside it."""
    old = os.umask(0o022)
    try:
        clone = parent / name
        clone.mkdir(parents=True)
        if git:
            subprocess.run(["git", "init", "-q", str(clone)], check=True)
        (clone / SHARED_STORAGE).mkdir(parents=True)
    finally:
        os.umask(old)
    return clone


class PipeOutput:
    """What a test checks of any pipe call, by script or image: its exit code and what it printed."""

    returncode: int
    output: str
    secrets: list[str]

    def last_line(self) -> str:
        """The line the step log ends with (the green or red one)."""
        return [line for line in self.output.splitlines() if line.strip()][-1]

    def assert_no_secrets(self) -> None:
        for secret in self.secrets:
            assert secret not in self.output, "a secret reached the pipe's output"

    def assert_ok(self) -> None:
        self.assert_no_secrets()
        assert self.returncode == 0, self.output[-4000:]
        assert "Traceback" not in self.output, self.output[-4000:]
        assert "✔" in self.last_line(), f"the success line is not the last line:\n{self.output[-2000:]}"

    def assert_failed(self, *fragments: str, debug: bool = False) -> None:
        self.assert_no_secrets()
        assert self.returncode == 1, self.output[-4000:]
        assert debug or "Traceback" not in self.output, self.output[-4000:]  # tracebacks only with DEBUG
        assert "✖" in self.output, self.output[-4000:]
        for fragment in fragments:
            assert fragment in self.output, f"{fragment!r} not in:\n{self.output[-4000:]}"


@dataclass
class StepRun(PipeOutput):
    """One pipe call's exit code and its log: stdout and stderr merged in arrival order, as the step shows it."""

    returncode: int
    output: str
    secrets: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.strip()]


@dataclass
class PipelineStep:
    """A step of a pipeline in a repository: its clone, its variables, and the docker service over TCP."""

    dockerd: Dockerd
    image: str
    clone: Path
    workspace: str
    repo_slug: str
    username: str
    token: str
    branch: str = "main"
    build_number: str = "7"

    @property
    def shared_storage(self) -> Path:
        return self.clone / SHARED_STORAGE

    @property
    def env(self) -> dict[str, str]:
        """What Pipelines gives a pipe container (the pipe's own variables come on top)."""
        return {
            "BITBUCKET_CLONE_DIR": str(self.clone),
            "BITBUCKET_WORKSPACE": self.workspace,
            "BITBUCKET_REPO_SLUG": self.repo_slug,
            "BITBUCKET_REPO_FULL_NAME": f"{self.workspace}/{self.repo_slug}",
            "BITBUCKET_COMMIT": COMMIT,
            "BITBUCKET_BRANCH": self.branch,
            "BITBUCKET_BUILD_NUMBER": self.build_number,
            "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(self.shared_storage),
            "BITBUCKET_PIPE_STORAGE_DIR": str(self.shared_storage / "bitbucket-packages" / "packages-pipe"),
            "BITBUCKET_PACKAGES_USERNAME": self.username,
            "BITBUCKET_PACKAGES_TOKEN": self.token,
            "DOCKER_HOST": self.dockerd.tcp_host,
            "CI": "true",
        }

    def run(self, variables: dict[str, str], *options: str, timeout: float = 240) -> StepRun:
        """``docker run`` of the pipe image as Pipelines does; ``variables`` override the step's (a value of
        None removes one)."""
        env = {**self.env, **variables}
        args = [DOCKER_CLI, "run", "--rm", "--network", "host", "-v", f"{self.clone}:{self.clone}",
                "-w", str(self.clone), *options]
        for key, value in env.items():
            if value is not None:
                args += ["-e", f"{key}={value}"]
        args.append(self.image)
        result = subprocess.run(args, env=self.dockerd.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, timeout=timeout, check=False)
        return StepRun(result.returncode, result.stdout, secrets_of(env))
