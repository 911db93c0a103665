"""The pipe's own image: built from the Dockerfile on a locally made Python base, run with
``docker run -e ...``, pushing to the bundled registry."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from test.pipe.archives import write_docker_archive
from test.pipe.conftest import ROOT, PipeWorld
from test.pipe.python_base import import_base
from test.support.dockerd import Dockerd


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


@pytest.fixture(scope="session")
def pipe_image(dockerd: Dockerd, session_dir: Path) -> str:
    base = import_base(dockerd)
    context = session_dir / "pipe-image-context"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pipe", "vocab"):
        shutil.copytree(ROOT / name, context / name, ignore=ignore)
    for name in ("Dockerfile", ".dockerignore", "LICENSE.txt", "pipe.yml", "requirements.txt"):
        shutil.copy(ROOT / name, context / name)
    shutil.copytree(wheelhouse(), context / "wheels", ignore=shutil.ignore_patterns(".complete"))
    tag = "bitbucket-packages-pipe:test"
    dockerd.docker("build", "--build-arg", f"BASE_IMAGE={base}", "-t", tag, str(context))
    return tag


def docker_run(dockerd: Dockerd, image: str, env: dict[str, str], *options: str) -> subprocess.CompletedProcess:
    args = ["run", "--rm", "--network", "host", *options]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    return dockerd.docker(*args, image, check=False)


def test_image_runs_as_non_root(dockerd: Dockerd, pipe_image: str) -> None:
    assert dockerd.docker("inspect", "--format", "{{.Config.User}}", pipe_image).stdout.strip() == "10001:10001"


def test_docker_run_pushes_an_archive(dockerd: Dockerd, pipe_image: str, pipe_world: PipeWorld,
                                      tmp_path: Path) -> None:
    work = tmp_path / "clone"
    work.mkdir()
    write_docker_archive(work / "image.tar", "from-the-pipe-image", random_bytes=64 * 1024)
    work.chmod(0o755)
    (work / "image.tar").chmod(0o644)
    env = {key: value for key, value in pipe_world.env.items() if "STORAGE" not in key}
    result = docker_run(dockerd, pipe_image, {**env, "IMAGE_ARCHIVE": "image.tar", "TAGS_COUNT": "1",
                                              "TAGS_0": "from-image"},
                        "-v", f"{work}:/build:ro", "-w", "/build")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert pipe_world.token not in output
    assert f"Pushed {pipe_world.registry.host}/{pipe_world.package}:from-image sha256:" in output
    assert "✔" in result.stdout.strip().splitlines()[-1]


def test_docker_run_builds_through_the_engine_socket(dockerd: Dockerd, pipe_image: str, pipe_world: PipeWorld,
                                                     build_context: Path) -> None:
    socket = dockerd.root / "docker.sock"
    env = {key: value for key, value in pipe_world.env.items() if "STORAGE" not in key}
    result = docker_run(dockerd, pipe_image, {**env, "DOCKER_HOST": "unix:///var/run/docker.sock",
                                              "BUILD_ARGS_COUNT": "1", "BUILD_ARGS_0": "GREETING=containerised",
                                              "TAGS_COUNT": "1", "TAGS_0": "built-in-pipe"},
                        "-v", f"{socket}:/var/run/docker.sock", "--user", "root",
                        "-v", f"{build_context}:/build:ro", "-w", "/build")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    reference = f"{pipe_world.registry.host}/{pipe_world.package}:built-in-pipe"
    assert f"Pushed {reference} sha256:" in output
    dockerd.docker("rmi", "-f", reference, check=False)
    dockerd.docker("login", "-u", pipe_world.username, "--password-stdin", pipe_world.registry.host,
                   input=pipe_world.token)
    dockerd.docker("pull", reference)
    assert dockerd.docker("run", "--rm", reference).stdout.strip() == "containerised from the pipe"


def test_docker_run_publishes_npm_without_npm_and_configures(dockerd: Dockerd, pipe_image: str,
                                                              pipe_world: PipeWorld, tmp_path: Path) -> None:
    workspace = pipe_world.workspace
    name = f"@{workspace}/from-image"
    pipe_world.registry.package(f"{workspace}/{name}", pipe_world.repository, "npm")
    clone = tmp_path / "clone"
    (clone / "lib").mkdir(parents=True)
    (clone / "package.json").write_text(json.dumps({"name": name, "version": "1.0.0", "files": ["lib"]}))
    (clone / "lib" / "index.js").write_text("module.exports = 1;\n")
    (clone / "secret.txt").write_text("not shipped\n")
    for path in (clone, clone / "lib"):
        path.chmod(0o777)  # the image runs as 10001: configure writes into the clone directory
    env = {key: value for key, value in pipe_world.env.items() if "STORAGE" not in key}
    env.update({"PACKAGE_TYPE": "npm", "BITBUCKET_CLONE_DIR": "/build"})
    published = docker_run(dockerd, pipe_image, env, "-v", f"{clone}:/build", "-w", "/build")
    output = published.stdout + published.stderr
    assert published.returncode == 0, output[-4000:]
    assert "pipe's own packer" in output and f"Published {name}@1.0.0" in output and "2 files" in output
    configured = docker_run(dockerd, pipe_image, {**env, "ACTION": "configure"}, "-v", f"{clone}:/build",
                            "-w", "/build")
    output = configured.stdout + configured.stderr
    assert configured.returncode == 0, output[-4000:]
    assert pipe_world.token not in output
    assert f"{pipe_world.registry.url}/npm/{workspace}/" in (clone / ".npmrc").read_text()
    assert (clone / ".m2" / "settings.xml").is_file() and (clone / ".docker" / "config.json").is_file()
