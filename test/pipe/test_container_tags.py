"""Tags, labels and annotations as a Pipelines build gets them, end to end: the pipe builds in a git
clone, pushes to the bundled registry, and the test reads back what the registry lists and serves.
Also: PUSH false, the access check before any build, and progress lines on a slow link."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from test.pipe.archives import write_docker_archive
from test.pipe.conftest import PipeWorld, lists
from test.support.cutting_proxy import CuttingProxy
from test.support.dockerd import Dockerd
from test.support.oci_client import ACCEPT, OCI_MANIFEST, OciClient

COMMIT_TIME = "2024-02-03T04:05:06+02:00"
CREATED = "2024-02-03T02:05:06Z"  # the commit time, in UTC
PROGRESS_LINE = re.compile(r"Pushing [^:]+: \d+/\d+ layers, [\d.]+ of [\d.]+ MB \(\d+%\), [\d.]+ MB/s")


@pytest.fixture
def clone(tmp_path: Path, busybox_image: str) -> tuple[Path, str]:
    """A git clone holding a Dockerfile, its one commit made at COMMIT_TIME: (directory, commit)."""
    directory = tmp_path / "clone"
    directory.mkdir()
    (directory / "Dockerfile").write_text(f'FROM {busybox_image}\nCOPY app.txt /app.txt\nCMD ["cat", "/app.txt"]\n')
    (directory / "app.txt").write_text("tagged\n")
    git = ["git", "-C", str(directory), "-c", "user.name=Pipelines", "-c", "user.email=ci@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "app"], check=True,
                   env={"PATH": "/usr/bin:/bin", "GIT_COMMITTER_DATE": COMMIT_TIME, "GIT_AUTHOR_DATE": COMMIT_TIME})
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    return directory, commit


def build_env(world: PipeWorld, clone: tuple[Path, str], **extra: str) -> dict[str, str]:
    directory, commit = clone
    return {**world.env, "BITBUCKET_CLONE_DIR": str(directory), "BITBUCKET_COMMIT": commit, "LICENSES": "MIT",
            **lists("ANNOTATIONS", ["com.example.team=platform"]), **lists("LABELS", ["com.example.tier=web"]),
            **extra}


def registry_tags(client: OciClient, world: PipeWorld) -> set[str]:
    return set(client.get(f"/v2/{world.package}/tags/list").json()["tags"])


def manifest_and_config(client: OciClient, world: PipeWorld, tag: str) -> tuple[dict, dict, str]:
    response = client.get(f"/v2/{world.package}/manifests/{tag}", headers={"Accept": ACCEPT})
    assert response.status_code == 200, response.text
    manifest = response.json()
    config = client.get(f"/v2/{world.package}/blobs/{manifest['config']['digest']}").json()
    return manifest, config, response.headers["Docker-Content-Digest"]


def described(world: PipeWorld, commit: str, version: str) -> dict[str, str]:
    return {
        "org.opencontainers.image.revision": commit,
        "org.opencontainers.image.source": f"https://bitbucket.org/{world.repository}",
        "org.opencontainers.image.url": f"https://bitbucket.org/{world.repository}",
        "org.opencontainers.image.created": CREATED,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.title": "app",
        "org.opencontainers.image.licenses": "MIT",
    }


def test_tag_branch_and_pull_request_builds(pipe_world: PipeWorld, dockerd: Dockerd, clone: tuple[Path, str],
                                            run_pipe) -> None:
    directory, commit = clone
    client = OciClient(pipe_world.registry.url, (pipe_world.username, pipe_world.token))

    tagged = build_env(pipe_world, clone, BITBUCKET_TAG="v1.2.3")
    run_pipe(tagged, cwd=directory, dockerd=dockerd).assert_ok()
    assert registry_tags(client, pipe_world) == {"1.2.3", "1.2", "1", "latest"}
    manifest, config, release = manifest_and_config(client, pipe_world, "1.2.3")
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["annotations"] == {**described(pipe_world, commit, "1.2.3"), "com.example.team": "platform"}
    labels = config["config"]["Labels"]
    assert labels == {**described(pipe_world, commit, "1.2.3"), "com.example.tier": "web"}
    assert all(manifest_and_config(client, pipe_world, tag)[2] == release for tag in ("1.2", "1", "latest"))

    # The same build again: created is the commit's time, so nothing differs and nothing is pushed.
    again = run_pipe(tagged, cwd=directory, dockerd=dockerd)
    again.assert_ok()
    assert "Already up to date" in again.output
    assert pipe_world.result()["digest"] == release and pipe_world.result()["bytesUploaded"] == 0
    assert not PROGRESS_LINE.search(again.output)  # a push of well under 5 s says nothing while it runs

    branch = build_env(pipe_world, clone, BITBUCKET_BRANCH="feature/login")
    run_pipe(branch, cwd=directory, dockerd=dockerd).assert_ok()
    manifest, config, feature = manifest_and_config(client, pipe_world, "feature-login")
    assert manifest["annotations"]["org.opencontainers.image.version"] == "feature-login"
    assert config["config"]["Labels"]["org.opencontainers.image.version"] == "feature-login"
    assert manifest_and_config(client, pipe_world, commit[:7])[2] == feature
    assert manifest_and_config(client, pipe_world, "latest")[2] == release  # only main or a release moves it

    pull_request = build_env(pipe_world, clone, BITBUCKET_BRANCH="feature/login", BITBUCKET_PR_ID="7")
    run_pipe(pull_request, cwd=directory, dockerd=dockerd).assert_ok()
    manifest, _, _ = manifest_and_config(client, pipe_world, "pr-7")
    assert manifest["annotations"]["org.opencontainers.image.version"] == "pr-7"
    assert registry_tags(client, pipe_world) == {"1.2.3", "1.2", "1", "latest", "feature-login", commit[:7], "pr-7"}

    main = build_env(pipe_world, clone, BITBUCKET_BRANCH="main", TAG_PREFIX="web-")
    run_pipe(main, cwd=directory, dockerd=dockerd).assert_ok()
    assert {"web-main", f"web-{commit[:7]}"} <= registry_tags(client, pipe_world)
    assert manifest_and_config(client, pipe_world, "latest")[2] == manifest_and_config(
        client, pipe_world, "web-main")[2]

    # A pre-release is only itself.
    rc = build_env(pipe_world, clone, BITBUCKET_TAG="v1.3.0-rc.1", SOURCE_DATE_EPOCH="1700000000")
    run_pipe(rc, cwd=directory, dockerd=dockerd).assert_ok()
    manifest, _, _ = manifest_and_config(client, pipe_world, "1.3.0-rc.1")
    assert manifest["annotations"]["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    assert not {"1.3", "1.3.0"} & registry_tags(client, pipe_world)


def test_push_false_builds_and_pushes_nothing(pipe_world: PipeWorld, dockerd: Dockerd, clone: tuple[Path, str],
                                              run_pipe) -> None:
    env = build_env(pipe_world, clone, BITBUCKET_BRANCH="feature/x", BITBUCKET_PR_ID="8", PUSH="false")
    run = run_pipe(env, cwd=clone[0], dockerd=dockerd)
    run.assert_ok()
    assert "Step 1/" in run.output  # built
    assert "PUSH is false" in run.output and "as pr-8" in run.output
    client = OciClient(pipe_world.registry.url, (pipe_world.username, pipe_world.token))
    assert client.get(f"/v2/{pipe_world.package}/manifests/pr-8", headers={"Accept": ACCEPT}).status_code == 404


def test_access_is_checked_before_building(pipe_world: PipeWorld, dockerd: Dockerd, clone: tuple[Path, str],
                                           run_pipe) -> None:
    env = build_env(pipe_world, clone, BITBUCKET_BRANCH="main")
    missing = run_pipe({**env, "IMAGE_NAME": "never-created"}, cwd=clone[0], dockerd=dockerd)
    missing.assert_failed(f"packages-registry package create {pipe_world.workspace}/never-created")
    email = f"reader@{pipe_world.workspace}.example.com"
    token = pipe_world.registry.user(email, {pipe_world.repository: "read"})
    reader = {k: v for k, v in env.items() if not k.startswith("BITBUCKET_PACKAGES_")}
    denied = run_pipe({**reader, "ATLASSIAN_ACCOUNT_EMAIL": email, "ATLASSIAN_API_TOKEN": token, "PUSH": "false"},
                      cwd=clone[0], dockerd=dockerd)
    denied.assert_failed("denied", email)
    for run in (missing, denied):
        assert "Checking that" in run.output
        assert "Building" not in run.output and "Step 1/" not in run.output  # no build step ran


def test_progress_lines_on_a_slow_link(pipe_world: PipeWorld, run_pipe, tmp_path: Path) -> None:
    archive = write_docker_archive(tmp_path / "big.tar", "slow", random_bytes=7 * 1000 * 1000)
    with CuttingProxy("127.0.0.1", pipe_world.registry.port, cut_after=None, rate=1_000_000) as proxy:
        run = run_pipe({**pipe_world.env, "IMAGE_ARCHIVE": str(archive), "REGISTRY": proxy.url,
                        **lists("TAGS", ["slow"])})
    run.assert_ok()
    lines = PROGRESS_LINE.findall(run.output)
    assert lines, run.output[-3000:]
    assert all(line.startswith(f"Pushing {pipe_world.package}: ") for line in lines)
    assert re.search(r"/2 layers, [\d.]+ of 7\.\d MB", run.output), run.output[-3000:]
