"""Failures as users meet them: one clear message, exit 1, no traceback, no secret in the log."""

from __future__ import annotations

from pathlib import Path

import pytest

from test.pipe.archives import write_docker_archive
from test.pipe.conftest import PipeWorld, lists
from test.support.cutting_proxy import CuttingProxy
from test.support.oci_client import ACCEPT, OciClient
from test.support.oci_layout import write_multiarch_layout
from test.support.processes import free_port
from test.support.registry_server import READ


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return write_docker_archive(tmp_path / "image.tar", "failures")


@pytest.mark.parametrize(("extra", "fragment"), [
    ({"BUILD_ARGS_COUNT": "two"}, "BUILD_ARGS_COUNT"),
    ({"PULL": "maybe"}, "PULL"),
    ({"TAGS_COUNT": "2", "TAGS_0": "ok"}, "TAGS"),
    ({"BUILD_ARGS_COUNT": "1", "BUILD_ARGS_0": "no-equals-sign"}, "BUILD_ARGS"),
    ({"IMAGE": "local/x:1"}, "IMAGE"),  # with IMAGE_ARCHIVE: one or the other
    ({"BITBUCKET_PACKAGES_TOKEN": ""}, "BITBUCKET_PACKAGES"),
    ({"TAG_PREFIX": "-web"}, "TAG_PREFIX"),  # a tag cannot start with -
    ({"TAG_SUFFIX": "/x"}, "TAG_SUFFIX"),
    ({"PUSH": "perhaps"}, "PUSH"),
    ({"ANNOTATIONS_COUNT": "1", "ANNOTATIONS_0": "no-equals-sign"}, "ANNOTATIONS"),
])
def test_bad_variables(pipe_world: PipeWorld, archive: Path, run_pipe, extra: dict, fragment: str) -> None:
    env = {**pipe_world.env, "IMAGE_ARCHIVE": str(archive), **extra}
    if extra.get("BITBUCKET_PACKAGES_TOKEN") == "":
        del env["BITBUCKET_PACKAGES_TOKEN"]
    run = run_pipe(env)
    run.assert_failed("Some variables cannot be used", fragment)


def test_no_credentials(pipe_world: PipeWorld, archive: Path, run_pipe) -> None:
    env = {k: v for k, v in pipe_world.env.items() if not k.startswith("BITBUCKET_PACKAGES_")}
    run_pipe({**env, "IMAGE_ARCHIVE": str(archive)}).assert_failed(
        "No registry credentials", "ATLASSIAN_ACCOUNT_EMAIL")


def test_invalid_tag_and_plain_http_elsewhere(pipe_world: PipeWorld, archive: Path, run_pipe) -> None:
    env = {**pipe_world.env, "IMAGE_ARCHIVE": str(archive)}
    run_pipe({**env, **lists("TAGS", ["-bad"])}).assert_failed("'-bad' is not a valid tag")
    run_pipe({**env, "REGISTRY": "http://registry.example.com"}).assert_failed("INSECURE")


def test_registry_down_retries_then_fails(pipe_world: PipeWorld, archive: Path, run_pipe) -> None:
    port = free_port()
    run = run_pipe({**pipe_world.env, "IMAGE_ARCHIVE": str(archive), "REGISTRY": f"http://127.0.0.1:{port}"})
    run.assert_failed(f"registry http://127.0.0.1:{port} is unreachable", "Check REGISTRY")
    assert run.output.count("retrying in") >= 2


@pytest.mark.parametrize("debug", ["false", "true"])
def test_wrong_token(pipe_world: PipeWorld, archive: Path, run_pipe, debug: str) -> None:
    run = run_pipe({**pipe_world.env, "IMAGE_ARCHIVE": str(archive), "DEBUG": debug,
                    "BITBUCKET_PACKAGES_TOKEN": "bbpipe_thisisnotavalidtoken0123456789"})
    run.assert_failed("refused the credentials", "pipeline token", debug=debug == "true")  # no token, even in DEBUG
    if debug == "true":
        assert "DEBUG:" in run.output


def test_another_repositorys_pipeline_token(pipe_world: PipeWorld, archive: Path, run_pipe) -> None:
    registry = pipe_world.registry
    username, token = registry.pipeline_token(f"{pipe_world.workspace}/elsewhere")
    run = run_pipe({**pipe_world.env, "IMAGE_ARCHIVE": str(archive), "BITBUCKET_PACKAGES_USERNAME": username,
                    "BITBUCKET_PACKAGES_TOKEN": token, "BITBUCKET_REPO_SLUG": "elsewhere",
                    "BITBUCKET_REPO_FULL_NAME": f"{pipe_world.workspace}/elsewhere"})
    run.assert_failed("package app was not found", "may exist but be linked to another repository",
                      f"pipeline tokens reach only the packages linked to their own repository "
                      f"({pipe_world.workspace}/elsewhere)", "ATLASSIAN_API_TOKEN of a user with write access")


def test_reader_api_token_is_denied(pipe_world: PipeWorld, archive: Path, run_pipe) -> None:
    email = f"reader@{pipe_world.workspace}.example.com"
    token = pipe_world.registry.user(email, {pipe_world.repository: "read"})
    env = {k: v for k, v in pipe_world.env.items() if not k.startswith("BITBUCKET_PACKAGES_")}
    run = run_pipe({**env, "IMAGE_ARCHIVE": str(archive), "ATLASSIAN_ACCOUNT_EMAIL": email,
                    "ATLASSIAN_API_TOKEN": token})
    run.assert_failed("denied", f"linked to repository {pipe_world.repository}", email)


def test_api_token_without_the_write_scope(pipe_world: PipeWorld, archive: Path, run_pipe) -> None:
    email = f"writer@{pipe_world.workspace}.example.com"
    token = pipe_world.registry.user(email, {pipe_world.repository: "write"}, scopes=(READ,))
    env = {k: v for k, v in pipe_world.env.items() if not k.startswith("BITBUCKET_PACKAGES_")}
    run = run_pipe({**env, "IMAGE_ARCHIVE": str(archive), "ATLASSIAN_ACCOUNT_EMAIL": email,
                    "ATLASSIAN_API_TOKEN": token})
    run.assert_failed("denied", "allow read there: the API token lacks the scope write:package:bitbucket. The "
                      "credentials are", "create an API token with the scopes read:package:bitbucket and "
                      "write:package:bitbucket")
    assert "ask an admin" not in run.output.lower()


def test_package_not_created(pipe_world: PipeWorld, archive: Path, run_pipe) -> None:
    run = run_pipe({**pipe_world.env, "IMAGE_ARCHIVE": str(archive), "IMAGE_NAME": "never-created"})
    run.assert_failed(f"packages-registry package create {pipe_world.workspace}/never-created --type container "
                      f"--repository {pipe_world.repository}", "Packages page")


def test_connection_cut_mid_upload_resumes(pipe_world: PipeWorld, run_pipe, tmp_path: Path) -> None:
    archive = write_docker_archive(tmp_path / "big.tar", "resumed", random_bytes=6 * 1024 * 1024)
    with CuttingProxy("127.0.0.1", pipe_world.registry.port, cut_after=2 * 1024 * 1024) as proxy:
        run = run_pipe({**pipe_world.env, "IMAGE_ARCHIVE": str(archive), "REGISTRY": proxy.url,
                        **lists("TAGS", ["resumed"])})
    run.assert_ok()
    assert "resuming at byte" in run.output
    result = pipe_world.result()
    assert result["blobs"]["uploaded"] == 3
    client = OciClient(pipe_world.registry.url, (pipe_world.username, pipe_world.token))
    manifest = client.get(f"/v2/{pipe_world.package}/manifests/resumed", headers={"Accept": ACCEPT}).json()
    big = max(manifest["layers"], key=lambda layer: layer["size"])
    assert big["size"] > 6 * 1024 * 1024
    blob = client.get(f"/v2/{pipe_world.package}/blobs/{big['digest']}")
    assert blob.status_code == 200 and len(blob.content) == big["size"]


def test_multi_arch_oci_layout(pipe_world: PipeWorld, run_pipe, tmp_path: Path) -> None:
    index_digest = write_multiarch_layout(tmp_path / "multi", "multi", "multiarch")
    run = run_pipe({**pipe_world.env, "IMAGE_ARCHIVE": str(tmp_path / "multi"), **lists("TAGS", ["multi"])})
    run.assert_ok()
    result = pipe_world.result()
    assert result["mediaType"] == "application/vnd.oci.image.index.v1+json"
    # The index and its manifests carry the build's annotations, so the index is a new one pointing at them.
    assert result["digest"] != index_digest
    client = OciClient(pipe_world.registry.url, (pipe_world.username, pipe_world.token))
    index = client.get(f"/v2/{pipe_world.package}/manifests/multi", headers={"Accept": ACCEPT}).json()
    revision = {"org.opencontainers.image.revision": pipe_world.env["BITBUCKET_COMMIT"],
                "org.opencontainers.image.title": "app"}
    assert revision.items() <= index["annotations"].items()
    assert [child["platform"]["architecture"] for child in index["manifests"]] == ["amd64", "arm64"]
    for child in index["manifests"]:
        manifest = client.get(f"/v2/{pipe_world.package}/manifests/{child['digest']}", headers={"Accept": ACCEPT})
        assert manifest.status_code == 200
        assert revision.items() <= manifest.json()["annotations"].items()
