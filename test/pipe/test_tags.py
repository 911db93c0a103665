"""The default tags and the OCI description of an image: every row of README's tables."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pipe.annotations import created_time, image_description, with_image_created
from pipe.push.annotate import LayoutAnnotator, image_manifest
from pipe.tags import plan_tags, sanitize_tag, semver_tags
from vocab.digests import digest_bytes
from vocab.mediatypes import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)

COMMIT = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"


@pytest.mark.parametrize(("env", "tags", "version"), [
    # git tags: semver expands and moves latest; a pre-release is only itself; anything else as is
    ({"BITBUCKET_TAG": "v1.2.3", "BITBUCKET_COMMIT": COMMIT}, ["1.2.3", "1.2", "1", "latest"], "1.2.3"),
    ({"BITBUCKET_TAG": "1.2.3"}, ["1.2.3", "1.2", "1", "latest"], "1.2.3"),
    ({"BITBUCKET_TAG": "v0.4.0"}, ["0.4.0", "0.4", "0", "latest"], "0.4.0"),
    ({"BITBUCKET_TAG": "v1.3.0-rc.1", "BITBUCKET_COMMIT": COMMIT}, ["1.3.0-rc.1"], "1.3.0-rc.1"),
    ({"BITBUCKET_TAG": "v2.0.0+build.7"}, ["2.0.0-build.7", "2.0.0", "2.0", "2", "latest"], "2.0.0-build.7"),
    ({"BITBUCKET_TAG": "release/2024"}, ["release-2024"], "release-2024"),
    ({"BITBUCKET_TAG": "v1.2"}, ["v1.2"], "v1.2"),  # not semver: as is
    ({"BITBUCKET_TAG": "v01.2.3"}, ["v01.2.3"], "v01.2.3"),  # leading zero: not semver
    ({"BITBUCKET_TAG": "v1.2.3\n"}, ["v1.2.3-"], "v1.2.3-"),  # fullmatch, not $: a newline is not semver
    # pull requests: pr-<id>, never latest
    ({"BITBUCKET_PR_ID": "7", "BITBUCKET_BRANCH": "main", "BITBUCKET_COMMIT": COMMIT}, ["pr-7"], "pr-7"),
    # branches: the branch sanitised and the short commit; latest only from the main branch
    ({"BITBUCKET_BRANCH": "feature/login", "BITBUCKET_COMMIT": COMMIT}, ["feature-login", "4f3c2b1"],
     "feature-login"),
    ({"BITBUCKET_BRANCH": "main", "BITBUCKET_COMMIT": COMMIT}, ["main", "4f3c2b1", "latest"], "main"),
    ({"BITBUCKET_BRANCH": "master", "BITBUCKET_COMMIT": COMMIT}, ["master", "4f3c2b1", "latest"], "master"),
    ({"BITBUCKET_BRANCH": "develop", "BITBUCKET_COMMIT": COMMIT}, ["develop", "4f3c2b1"], "develop"),
    # outside Pipelines
    ({"BITBUCKET_COMMIT": COMMIT}, ["4f3c2b1"], "4f3c2b1"),
    ({}, ["latest"], None),
])
def test_default_tags(env: dict, tags: list[str], version: str | None) -> None:
    plan = plan_tags(env)
    assert plan.tags == tags
    assert plan.version == version


def test_latest_branch_variable() -> None:
    env = {"BITBUCKET_BRANCH": "develop", "BITBUCKET_COMMIT": COMMIT}
    assert plan_tags(env, latest_branch="develop").tags == ["develop", "4f3c2b1", "latest"]
    main = {"BITBUCKET_BRANCH": "main", "BITBUCKET_COMMIT": COMMIT}
    assert plan_tags(main, latest_branch="develop").tags == ["main", "4f3c2b1"]  # replaces main/master


def test_prefix_and_suffix_wrap_every_tag_but_latest() -> None:
    plan = plan_tags({"BITBUCKET_TAG": "v1.2.3"}, prefix="app-", suffix="-alpine")
    assert plan.tags == ["app-1.2.3-alpine", "app-1.2-alpine", "app-1-alpine", "latest"]
    assert plan.version == "1.2.3"
    branch = plan_tags({"BITBUCKET_BRANCH": "feature/x", "BITBUCKET_COMMIT": COMMIT}, suffix="-slim")
    assert branch.tags == ["feature-x-slim", "4f3c2b1-slim"]


def test_sanitize() -> None:
    assert sanitize_tag("release/1.2") == "release-1.2"
    assert sanitize_tag("v1.0.0") == "v1.0.0"
    assert sanitize_tag(".hidden") == "hidden"
    assert sanitize_tag("x" * 200) == "x" * 128
    assert sanitize_tag("ü/ß") == ""
    assert plan_tags({"BITBUCKET_BRANCH": "--", "BITBUCKET_COMMIT": COMMIT}).tags == ["4f3c2b1"]


def test_semver_expansion() -> None:
    assert semver_tags("v10.20.30") == ["10.20.30", "10.20", "10"]
    assert semver_tags("1.0.0-alpha.beta.1") == ["1.0.0-alpha.beta.1"]
    assert semver_tags("1.0.0-01") is None  # numeric pre-release identifiers have no leading zero
    assert semver_tags("va.b.c") is None


def test_created_from_source_date_epoch_then_git(tmp_path: Path) -> None:
    assert created_time({"SOURCE_DATE_EPOCH": "1700000000"}, tmp_path) == "2023-11-14T22:13:20Z"
    assert created_time({}, tmp_path) is None  # not a clone
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "f").write_text("x")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], check=True,
                   env={"GIT_COMMITTER_DATE": "2024-02-03T04:05:06+02:00", "PATH": "/usr/bin:/bin"})
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    assert created_time({"BITBUCKET_COMMIT": commit}, tmp_path) == "2024-02-03T02:05:06Z"
    assert created_time({"SOURCE_DATE_EPOCH": "0", "BITBUCKET_COMMIT": commit}, tmp_path) == "1970-01-01T00:00:00Z"


def test_image_description() -> None:
    env = {"BITBUCKET_COMMIT": COMMIT, "BITBUCKET_REPO_FULL_NAME": "ws/code"}
    description = image_description(env, title="app", version="1.2.3", licenses="MIT",
                                    created="2024-02-03T02:05:06Z")
    assert description == {
        "org.opencontainers.image.revision": COMMIT,
        "org.opencontainers.image.source": "https://bitbucket.org/ws/code",
        "org.opencontainers.image.url": "https://bitbucket.org/ws/code",
        "org.opencontainers.image.created": "2024-02-03T02:05:06Z",
        "org.opencontainers.image.version": "1.2.3",
        "org.opencontainers.image.title": "app",
        "org.opencontainers.image.licenses": "MIT",
    }
    assert image_description({}, title="app", version=None, licenses=None, created=None) == {
        "org.opencontainers.image.title": "app"}
    fallback = with_image_created({}, "2024-05-01T12:34:56.123456789Z")
    assert fallback == {"org.opencontainers.image.created": "2024-05-01T12:34:56Z"}
    assert with_image_created({"org.opencontainers.image.created": "x"}, "2024-05-01T12:34:56Z") == {
        "org.opencontainers.image.created": "x"}


def test_docker_images_become_annotated_oci_manifests() -> None:
    config = {"mediaType": DOCKER_CONFIG, "digest": "sha256:" + "c" * 64, "size": 10}
    layer = {"mediaType": DOCKER_LAYER_GZIP, "digest": "sha256:" + "1" * 64, "size": 20}
    document = json.loads(image_manifest(config, [layer], {"b": "2", "a": "1"}))
    assert document["mediaType"] == OCI_MANIFEST
    assert document["config"]["mediaType"] == OCI_CONFIG
    assert document["layers"][0]["mediaType"] == OCI_LAYER_GZIP
    assert document["annotations"] == {"a": "1", "b": "2"}
    assert "annotations" not in json.loads(image_manifest(config, [layer], {}))


def test_layout_index_points_at_the_annotated_manifests() -> None:
    image = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []}).encode()
    image_digest = digest_bytes(image)
    attestation = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": [],
                              "annotations": {"keep": "me"}}).encode()
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": image_digest, "size": len(image),
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": OCI_MANIFEST, "digest": digest_bytes(attestation), "size": len(attestation),
         "annotations": {"vnd.docker.reference.digest": image_digest,
                         "vnd.docker.reference.type": "attestation-manifest"}}]}).encode()
    annotator = LayoutAnnotator({"org.opencontainers.image.revision": COMMIT})
    new_image = annotator.rewrite(image_digest, image, OCI_MANIFEST)
    new_attestation = annotator.rewrite(digest_bytes(attestation), attestation, OCI_MANIFEST)
    new_index = annotator.rewrite(digest_bytes(index), index, OCI_INDEX)
    assert json.loads(new_attestation.body)["annotations"] == {"keep": "me",
                                                               "org.opencontainers.image.revision": COMMIT}
    document = json.loads(new_index.body)
    assert document["annotations"] == {"org.opencontainers.image.revision": COMMIT}
    first, second = document["manifests"]
    assert (first["digest"], first["size"]) == (new_image.digest, len(new_image.body))
    assert first["platform"] == {"architecture": "amd64", "os": "linux"}
    assert second["digest"] == new_attestation.digest
    assert second["annotations"]["vnd.docker.reference.digest"] == new_image.digest
    assert new_index.digest == digest_bytes(new_index.body)
    untouched = LayoutAnnotator({}).rewrite(image_digest, image, OCI_MANIFEST)
    assert untouched.body == image


def test_docker_save_read_three_ways_and_followed_while_written(tmp_path: Path) -> None:
    """A plain archive file, a gzipped one (stream mode), and the engine's chunked stream (random-access
    mode over a forward-only reader, chunks not aligned to tar blocks) give the same image; a layer is
    followed block by block while it is written."""
    import gzip
    import hashlib
    import threading

    from pipe.build.docker_save import GrowingLayer, IterReader, read_docker_save
    from test.pipe.archives import write_docker_archive

    archive = write_docker_archive(tmp_path / "image.tar", "three", random_bytes=3 * 1024 * 1024 + 5)
    zipped = tmp_path / "image.tar.gz"
    zipped.write_bytes(gzip.compress(archive.read_bytes(), compresslevel=1))
    raw = archive.read_bytes()
    followed: dict[str, str] = {}

    def follow(growing: GrowingLayer) -> None:
        def run() -> None:
            digest = hashlib.sha256()
            for block, _last in growing.blocks(256 * 1024):
                digest.update(block)
            followed[growing.path] = f"sha256:{digest.hexdigest()}"
        threading.Thread(target=run).start()

    results = []
    for name, stream in (("file", open(archive, "rb")), ("gzip", open(zipped, "rb")),  # noqa: SIM115
                         ("chunks", IterReader(raw[i:i + 777_777] for i in range(0, len(raw), 777_777)))):
        with stream:
            saved = read_docker_save(stream, tmp_path / name, on_layer_start=follow if name == "chunks" else None)
        results.append((saved.config, [layer.diff_id for layer in saved.layers]))
        if name == "chunks":
            for _ in range(100):
                if len(followed) == 2:
                    break
                threading.Event().wait(0.05)
            assert sorted(followed.values()) == sorted(layer.diff_id for layer in saved.layers)
    assert results[0] == results[1] == results[2]
    assert len(results[0][1]) == 2
