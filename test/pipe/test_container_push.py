"""The pipe end to end: a real docker engine builds, the pipe pushes to the bundled registry, docker pulls
and runs what was pushed."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
from pathlib import Path

from test.pipe.conftest import PipeWorld, lists
from test.support.cutting_proxy import CuttingProxy
from test.support.dockerd import Dockerd
from test.support.oci_client import ACCEPT, OciClient


def login(dockerd: Dockerd, world: PipeWorld) -> None:
    dockerd.docker("login", "-u", world.username, "--password-stdin", world.registry.host, input=world.token)


def pull_and_run(dockerd: Dockerd, world: PipeWorld, tag: str) -> str:
    reference = f"{world.registry.host}/{world.package}:{tag}"
    dockerd.docker("rmi", "-f", reference, check=False)
    login(dockerd, world)
    dockerd.docker("pull", reference)
    return dockerd.docker("run", "--rm", reference).stdout.strip()


def test_build_with_args_push_and_run(pipe_world: PipeWorld, dockerd: Dockerd, build_context: Path,
                                      run_pipe) -> None:
    run = run_pipe({**pipe_world.env, **lists("BUILD_ARGS", ["GREETING=bonjour"]), "BITBUCKET_BRANCH": "main",
                    **lists("LABELS", ["team=platform"]), "BUILD_CONTEXT": str(build_context)}, dockerd=dockerd)
    run.assert_ok()
    short = pipe_world.env["BITBUCKET_COMMIT"][:7]
    result = pipe_world.result()
    for tag in ("main", short, "latest"):  # the default tags of a main branch build
        assert f"Pushed {pipe_world.registry.host}/{pipe_world.package}:{tag} {result['digest']}" in run.output
    assert "Step 3/" in run.output  # the build's own output streams into the log
    assert result["references"] == [f"{pipe_world.registry.host}/{pipe_world.package}:{t}"
                                    for t in ("main", short, "latest")]
    assert result["blobs"]["uploaded"] >= 3

    assert pull_and_run(dockerd, pipe_world, short) == "bonjour from the pipe"
    labels = json.loads(dockerd.docker("inspect", "--format", "{{json .Config.Labels}}",
                                       f"{pipe_world.registry.host}/{pipe_world.package}:{short}").stdout)
    assert labels["team"] == "platform"
    assert labels["org.opencontainers.image.revision"] == pipe_world.env["BITBUCKET_COMMIT"]
    assert labels["org.opencontainers.image.source"] == f"https://bitbucket.org/{pipe_world.repository}"
    assert labels["org.opencontainers.image.version"] == "main"
    assert "org.opencontainers.image.created" not in labels  # not a git clone, no SOURCE_DATE_EPOCH: never now


def test_prebuilt_image_then_second_push_uploads_nothing(pipe_world: PipeWorld, dockerd: Dockerd,
                                                        build_context: Path, run_pipe, unique: str) -> None:
    dockerd.docker("build", "-t", f"local/{unique}:1", str(build_context))
    env = {**pipe_world.env, "IMAGE": f"local/{unique}:1", **lists("TAGS", ["v1", "stable"])}
    first = run_pipe(env, dockerd=dockerd)
    first.assert_ok()
    assert pipe_world.result()["blobs"]["uploaded"] >= 2

    second = run_pipe(env, dockerd=dockerd)
    second.assert_ok()
    again = pipe_world.result()
    assert again["blobs"]["uploaded"] == 0 and again["bytesUploaded"] == 0
    assert "Already up to date" in second.output
    assert re.search(r"blobs: 0 uploaded, [1-9][0-9]* already there, 0 mounted; 0\.0 MB uploaded", second.output), \
        second.output[-2000:]

    # A new tag for the same image: only the manifest is written.
    third = run_pipe({**env, **lists("TAGS", ["v1", "v1.0.0"])}, dockerd=dockerd)
    third.assert_ok()
    assert pipe_world.result()["blobs"]["uploaded"] == 0
    assert pull_and_run(dockerd, pipe_world, "v1.0.0") == "hello from the pipe"


def test_push_to_a_sibling_repository_mounts_the_layers(pipe_world: PipeWorld, dockerd: Dockerd,
                                                         build_context: Path, run_pipe, unique: str) -> None:
    pipe_world.registry.package(f"{pipe_world.workspace}/app-copy", pipe_world.repository)
    dockerd.docker("build", "-t", f"local/{unique}:m", str(build_context))
    env = {**pipe_world.env, "IMAGE": f"local/{unique}:m", **lists("TAGS", ["one"])}
    run_pipe(env, dockerd=dockerd).assert_ok()
    copy = run_pipe({**env, "IMAGE_NAME": "app-copy"}, dockerd=dockerd)
    copy.assert_ok()
    result = pipe_world.result()
    assert result["name"] == f"{pipe_world.workspace}/app-copy"
    assert result["blobs"]["uploaded"] == 0
    assert result["blobs"]["mounted"] >= 2


def _save(dockerd: Dockerd, image: str, target: Path) -> Path:
    dockerd.docker("save", "-o", str(target), image)
    return target


def _oci_layout(docker_archive: Path, target: Path) -> Path:
    subprocess.run(["skopeo", "copy", "--quiet", f"docker-archive:{docker_archive}", f"oci:{target}:latest"],
                   check=True, capture_output=True)
    return target


def _tar_dir(directory: Path, target: Path) -> Path:
    with tarfile.open(target, "w") as tar:
        for path in sorted(directory.rglob("*")):
            tar.add(path, str(path.relative_to(directory)), recursive=False)
    return target


def test_image_archive_forms(pipe_world: PipeWorld, dockerd: Dockerd, build_context: Path, run_pipe,
                             tmp_path: Path, unique: str) -> None:
    dockerd.docker("build", "-t", f"local/{unique}:a", "--build-arg", "GREETING=archived", str(build_context))
    docker_archive = _save(dockerd, f"local/{unique}:a", tmp_path / "image.tar")
    layout = _oci_layout(docker_archive, tmp_path / "layout")
    layout_tar = _tar_dir(layout, tmp_path / "layout.tar")
    for form, path in (("docker-save", docker_archive), ("oci-dir", layout), ("oci-tar", layout_tar)):
        run = run_pipe({**pipe_world.env, "IMAGE_ARCHIVE": str(path), **lists("TAGS", [form])})
        run.assert_ok()
        assert pull_and_run(dockerd, pipe_world, form) == "archived from the pipe", form


def test_unsafe_archive_is_refused(pipe_world: PipeWorld, run_pipe, tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        for name in ("oci-layout", "index.json", "../escape.txt"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"{}"))
    run = run_pipe({**pipe_world.env, "IMAGE_ARCHIVE": str(archive)})
    run.assert_failed("points outside the archive")
    assert not (tmp_path / "escape.txt").exists()


def test_pushed_manifest_is_what_the_registry_serves(pipe_world: PipeWorld, dockerd: Dockerd,
                                                     build_context: Path, run_pipe, unique: str) -> None:
    dockerd.docker("build", "-t", f"local/{unique}:d", str(build_context))
    run_pipe({**pipe_world.env, "IMAGE": f"local/{unique}:d", **lists("TAGS", ["d"])}, dockerd=dockerd).assert_ok()
    result = pipe_world.result()
    client = OciClient(pipe_world.registry.url, (pipe_world.username, pipe_world.token))
    response = client.get(f"/v2/{pipe_world.package}/manifests/d", headers={"Accept": ACCEPT})
    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == result["digest"]
    manifest = response.json()
    assert result["size"] == len(response.content) + manifest["config"]["size"] + sum(
        layer["size"] for layer in manifest["layers"])


def test_streamed_layer_cut_mid_upload_is_pushed_from_its_file(pipe_world: PipeWorld, dockerd: Dockerd,
                                                                busybox_image: str, run_pipe, tmp_path: Path,
                                                                unique: str) -> None:
    """A cold push uploads each layer while docker save writes it; a dropped connection falls back to the
    resumable upload from the layer's file."""
    context = tmp_path / "big"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {busybox_image}\nRUN head -c 6000000 /dev/urandom > /random.bin\n"
                                        'CMD ["wc", "-c", "/random.bin"]\n')
    dockerd.docker("build", "-t", f"local/{unique}:big", str(context))
    with CuttingProxy("127.0.0.1", pipe_world.registry.port, cut_after=2 * 1024 * 1024) as proxy:
        run = run_pipe({**pipe_world.env, "IMAGE": f"local/{unique}:big", "REGISTRY": proxy.url,
                        **lists("TAGS", ["big"])}, dockerd=dockerd)
    run.assert_ok()
    assert "uploading it from a file instead" in run.output
    assert "resuming at byte" in run.output
    assert pull_and_run(dockerd, pipe_world, "big").startswith("6000000")
