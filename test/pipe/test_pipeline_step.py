"""The pipe's image in a step as Pipelines runs it (test/support/pipe_step.py): built from the Dockerfile,
``docker run -v $CLONE:$CLONE -w $CLONE`` with the BITBUCKET_* variables, a clone made by root with umask
022, the docker service over TCP."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from test.pipe.archives import write_docker_archive
from test.pipe.conftest import PipeWorld, lists
from test.support.dockerd import Dockerd
from test.support.oci_client import ACCEPT, OciClient
from test.support.pipe_step import PipelineStep, make_clone
from test.support.python_dists import make_sdist, make_wheel

RUNNER = 1000  # a uid/gid other than root's, as a self-hosted runner's clone may be owned


def _results(step: PipelineStep) -> dict[str, dict]:
    directory = step.shared_storage / "packages-pipe"
    return {path.name: json.loads(path.read_text()) for path in directory.glob("*.json")}


def _write_dockerfile(clone: Path, busybox: str) -> None:
    (clone / "Dockerfile").write_text(f"FROM {busybox}\nARG GREETING=hello\nCOPY data.txt /data.txt\n"
                                      'RUN echo "$GREETING from $(cat /data.txt)" > /greeting\n'
                                      'CMD ["cat", "/greeting"]\n')
    (clone / "data.txt").write_text("the pipe\n")


def test_image_runs_as_root(dockerd: Dockerd, pipe_image: str) -> None:
    # as Pipelines runs pipes: the clone, the shared storage and `docker save -o` files are root's
    assert dockerd.docker("inspect", "--format", "{{.Config.User}}", pipe_image).stdout.strip() in ("", "root", "0")


def test_build_and_archive_push_in_a_root_owned_clone(pipeline_step: PipelineStep, pipe_world: PipeWorld,
                                                      dockerd: Dockerd, busybox_image: str) -> None:
    step, registry = pipeline_step, pipe_world.registry
    clone = step.clone
    _write_dockerfile(clone, busybox_image)
    assert clone.stat().st_uid == 0 and clone.stat().st_mode & 0o777 == 0o755

    built = step.run({"REGISTRY": registry.url, "IMAGE_NAME": "app", **lists("TAGS", ["built"]),
                      **lists("BUILD_ARGS", ["GREETING=containerised"])})
    built.assert_ok()
    reference = f"{registry.host}/{pipe_world.package}:built"
    assert f"Pushed {reference} sha256:" in built.output
    results = _results(step)
    assert set(results) == {"container-app.json", "latest.json"}
    pushed = results["container-app.json"]
    assert pushed["status"] == "success" and pushed["action"] == "publish" and pushed["packageType"] == "container"
    assert pushed["digestReference"] == f"{registry.host}/{pipe_world.package}@{pushed['digest']}"
    assert results["latest.json"] == pushed

    # IMAGE_ARCHIVE from `docker save -o` in the step: a 0600 file of root's
    registry.package(f"{pipe_world.workspace}/app-archive", pipe_world.repository)
    dockerd.docker("save", "-o", str(clone / "image.tar"), reference)
    assert (clone / "image.tar").stat().st_mode & 0o777 == 0o600
    archived = step.run({"REGISTRY": registry.url, "IMAGE_NAME": "app-archive", "IMAGE_ARCHIVE": "image.tar",
                         **lists("TAGS", ["archived"])})
    archived.assert_ok()
    results = _results(step)
    assert results["container-app.json"] == pushed  # the first call's result is still there
    archive_result = results["container-app-archive.json"]
    # (not the same digest as the first push: the manifest's annotations name its own tags)
    assert archive_result["status"] == "success" and archive_result["tags"] == ["archived"]
    assert archive_result["digestReference"] == (f"{registry.host}/{pipe_world.workspace}/app-archive@"
                                                 f"{archive_result['digest']}")
    assert results["latest.json"]["name"] == f"{pipe_world.workspace}/app-archive"

    dockerd.docker("rmi", "-f", reference, check=False)
    dockerd.docker("login", "-u", pipe_world.username, "--password-stdin", registry.host, input=pipe_world.token)
    dockerd.docker("pull", f"{registry.host}/{pipe_world.workspace}/app-archive:archived")
    assert dockerd.docker("run", "--rm", f"{registry.host}/{pipe_world.workspace}/app-archive:archived"
                          ).stdout.strip() == "containerised from the pipe"

    # a failed call leaves a failure result where its package's success was, so it is never mistaken
    refused = step.run({"REGISTRY": registry.url, "IMAGE_NAME": "app", "IMAGE_ARCHIVE": "image.tar",
                        "BITBUCKET_PACKAGES_TOKEN": "bbpipe_not-a-valid-token-0123456789"})
    refused.assert_failed("refused the credentials")
    assert "✖" in refused.lines[-1]
    results = _results(step)
    assert results["container-app.json"]["status"] == "failed"
    assert "refused the credentials" in results["container-app.json"]["error"]
    assert results["latest.json"] == results["container-app.json"]
    assert results["container-app-archive.json"]["status"] == "success"

    # a result that cannot be written after a successful push is a warning, not a red step
    unwritable = step.run({"REGISTRY": registry.url, "IMAGE_NAME": "app", "IMAGE_ARCHIVE": "image.tar",
                           "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(clone / "image.tar")})
    unwritable.assert_ok()
    assert "WARNING" in unwritable.output and "Could not write the result file" in unwritable.output


def _git_status(clone: Path) -> list[str]:
    """What `git status` lists, but the pipes' storage (inside the clone in Pipelines, as here)."""
    status = subprocess.run(["git", "-c", f"safe.directory={clone}", "status", "--porcelain",
                             "--untracked-files=all"], cwd=clone, check=True, capture_output=True, text=True).stdout
    return [line for line in status.splitlines() if not line[3:].startswith(".bitbucket/")]


def test_configure_in_clones_owned_by_root_and_by_a_runner(pipeline_step: PipelineStep, pipe_world: PipeWorld,
                                                           tmp_path: Path) -> None:
    step, registry = pipeline_step, pipe_world.registry
    files = (".npmrc", ".m2/settings.xml", ".docker/config.json")
    configure = {"ACTION": "configure", "REGISTRY": registry.url}
    step.run(configure).assert_ok()
    for name in files:
        stat = (step.clone / name).stat()
        assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o777) == (0, 0, 0o600), name
    assert _git_status(step.clone) == []
    assert _results(step)["configure.json"]["gitExcluded"] is True

    # a clone owned by the runner's user: what the pipe writes is theirs, the directories it makes too
    runner = PipelineStep(step.dockerd, step.image, make_clone(tmp_path / "runner"), step.workspace, step.repo_slug,
                          step.username, step.token)
    os.chown(runner.clone, RUNNER, RUNNER)
    runner.run(configure).assert_ok()
    for name in (*files, ".m2", ".docker"):
        stat = (runner.clone / name).stat()
        assert (stat.st_uid, stat.st_gid) == (RUNNER, RUNNER), name
    assert _git_status(runner.clone) == []

    # the clone is writable but .git is root's and the pipe is not root: the exclusion is reported
    plain = PipelineStep(step.dockerd, step.image, make_clone(tmp_path / "readonly-git"), step.workspace,
                         step.repo_slug, step.username, step.token)
    os.chown(plain.clone, RUNNER, RUNNER)
    os.chown(plain.shared_storage, RUNNER, RUNNER)
    run = plain.run(configure, "--user", f"{RUNNER}:{RUNNER}")
    run.assert_ok()
    assert "WARNING" in run.output and "Could not list .npmrc, .m2/settings.xml, .docker/config.json" in run.output
    assert "never committed" in run.output
    assert (plain.clone / ".npmrc").stat().st_mode & 0o777 == 0o600


def test_npm_publish_without_npm_in_a_root_owned_clone(pipeline_step: PipelineStep, pipe_world: PipeWorld) -> None:
    step, workspace = pipeline_step, pipe_world.workspace
    name = f"@{workspace}/from-image"
    pipe_world.registry.package(f"{workspace}/{name}", pipe_world.repository, "npm")
    (step.clone / "lib").mkdir()
    (step.clone / "package.json").write_text(json.dumps({"name": name, "version": "1.0.0", "files": ["lib"]}))
    (step.clone / "lib" / "index.js").write_text("module.exports = 1;\n")
    (step.clone / "secret.txt").write_text("not shipped\n")
    published = step.run({"PACKAGE_TYPE": "npm", "REGISTRY": pipe_world.registry.url})
    published.assert_ok()
    assert "pipe's own packer" in published.output and f"Published {name}@1.0.0" in published.output
    assert "2 files" in published.output
    result = _results(step)[f"npm-{workspace}-from-image.json"]
    assert result["status"] == "success" and result["name"] == name and result["version"] == "1.0.0"


def test_strict_inputs_through_the_image(pipeline_step: PipelineStep, pipe_world: PipeWorld) -> None:
    step, registry = pipeline_step, pipe_world.registry
    (step.clone / "image.tar").write_bytes(b"")
    plain_list = step.run({"REGISTRY": registry.url, "IMAGE_ARCHIVE": "image.tar", "TAGS": "v1,v2",
                           "DOCKER_FILE": "Dockerfile.prod", "PULL": "maybe"})
    plain_list.assert_failed("TAGS must be a YAML list: TAGS: ['v1', 'v2']", "PULL must be true or false",
                             "DOCKER_FILE is not a variable of this pipe; did you mean DOCKERFILE?")
    assert "cerberus" not in plain_list.output and "unallowed" not in plain_list.output
    assert _results(step)["latest.json"]["status"] == "failed"

    # a build that is not a tag build: TAGS: ['$BITBUCKET_TAG', 'dev'] arrives with an empty first item
    write_docker_archive(step.clone / "image.tar", "strict")
    loose = step.run({"REGISTRY": registry.host, "IMAGE_NAME": "app", "IMAGE_ARCHIVE": "image.tar",
                      **lists("TAGS", ["", "dev"]), "IMAGE_NAM": "ap"})
    loose.assert_ok()
    assert "TAGS item 1 is empty" in loose.output
    assert "IMAGE_NAM is not a variable of this pipe; did you mean IMAGE_NAME?" in loose.output
    assert f"using http://{registry.host}" in loose.output
    assert f"{registry.host}/{pipe_world.package}:dev" in loose.output
    assert _results(step)["container-app.json"]["tags"] == ["dev"]


def test_commit_time_is_read_without_git_in_the_image(pipeline_step: PipelineStep, pipe_world: PipeWorld,
                                                     dockerd: Dockerd) -> None:
    """The image has no git: the created annotation still comes from the commit, read from the clone's pack."""
    step, registry = pipeline_step, pipe_world.registry
    no_git = dockerd.docker("run", "--rm", "--entrypoint", "sh", step.image, "-c", "command -v git", check=False)
    assert no_git.returncode != 0
    clone = step.clone
    write_docker_archive(clone / "image.tar", "dated")
    (clone / "README").write_text("dated\n")
    git = ["git", "-C", str(clone), "-c", "safe.directory=*", "-c", "user.name=Pipelines",
           "-c", "user.email=ci@example.com"]
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "dated"], check=True,
                   env={**os.environ, "GIT_COMMITTER_DATE": "2024-02-03T04:05:06+02:00"})
    subprocess.run([*git, "gc", "-q"], check=True)  # Pipelines clones hold packs
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    run = step.run({"REGISTRY": registry.url, "IMAGE_NAME": "app", "IMAGE_ARCHIVE": "image.tar",
                    "BITBUCKET_COMMIT": commit, **lists("TAGS", ["dated"])})
    run.assert_ok()
    manifest = OciClient(registry.url, (pipe_world.username, pipe_world.token)).get(
        f"/v2/{pipe_world.package}/manifests/dated", headers={"Accept": ACCEPT}).json()
    assert manifest["annotations"]["org.opencontainers.image.created"] == "2024-02-03T02:05:06Z"
    assert manifest["annotations"]["org.opencontainers.image.revision"] == commit


def test_pypi_upload_and_configure_in_a_root_owned_clone(pipeline_step: PipelineStep, pipe_world: PipeWorld) -> None:
    step, workspace = pipeline_step, pipe_world.workspace
    pipe_world.registry.package(f"{workspace}/from-image-py", pipe_world.repository, "pypi")
    (step.clone / "dist").mkdir()
    make_wheel(step.clone / "dist", "from-image-py", "1.0")
    make_sdist(step.clone / "dist", "from-image-py", "1.0")
    uploaded = step.run({"PACKAGE_TYPE": "pypi", "REGISTRY": pipe_world.registry.url})
    uploaded.assert_ok()
    assert "Uploaded from_image_py-1.0-py3-none-any.whl" in uploaded.output
    result = _results(step)["pypi-from-image-py.json"]
    assert result["status"] == "success" and len(result["files"]) == 2

    configured = step.run({"ACTION": "configure", **lists("CONFIGURE", ["pypi"]), "REGISTRY": pipe_world.registry.url})
    configured.assert_ok()
    for name in (".pypirc", "pip.conf"):
        written = (step.clone / name).stat()
        assert written.st_mode & 0o077 == 0 and written.st_uid == step.clone.stat().st_uid, name


def test_signed_push_with_provenance_and_sbom_through_the_image(pipeline_step: PipelineStep,
                                                                pipe_world: PipeWorld) -> None:
    from test.support.cosign_keys import generate_key_pair

    step = pipeline_step
    private, _ = generate_key_pair("image password")
    write_docker_archive(step.clone / "image.tar", "signed in the image")
    signed = step.run({"REGISTRY": pipe_world.registry.url, "IMAGE_NAME": "app", "IMAGE_ARCHIVE": "image.tar",
                       **lists("TAGS", ["signed"]), "SIGN": "true", "SBOM": "true",
                       "COSIGN_PRIVATE_KEY": private, "COSIGN_PASSWORD": "image password"})
    signed.assert_ok()
    assert "image password" not in signed.output and "PRIVATE KEY" not in signed.output
    result = _results(step)["container-app.json"]
    assert result["signature"]["tag"].endswith(".sig") and result["provenance"]["digest"] and result["sboms"]
