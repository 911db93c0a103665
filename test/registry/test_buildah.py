"""buildah (vfs storage, chroot isolation): pull a base from the registry, add a layer, commit, push."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from test.registry.conftest import World
from test.registry.test_skopeo import creds, skopeo
from test.support import oci_client as oci
from test.support.oci_layout import write_multiarch_layout

BUILDAH = shutil.which("buildah") or "buildah"


def buildah(tmp_path: Path, *args: str) -> str:
    auth = tmp_path / "auth.json"
    if not auth.exists():
        auth.write_text('{"auths": {}}')
    env = {**os.environ, "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"), "XDG_RUNTIME_DIR": str(tmp_path),
           "BUILDAH_ISOLATION": "chroot"}
    storage = ["--root", str(tmp_path / "root"), "--runroot", str(tmp_path / "run"), "--storage-driver", "vfs"]
    result = subprocess.run([BUILDAH, *storage, *args], capture_output=True, text=True, env=env, check=False,
                            timeout=300)
    if result.returncode != 0:
        raise AssertionError(f"buildah {args[0]} failed: {result.stderr[-3000:]}")
    return result.stdout.strip()


def test_buildah_pull_commit_push(world: World, tmp_path: Path) -> None:
    base = f"{world.server.host}/{world.package}:base"
    write_multiarch_layout(tmp_path / "layout", "base", world.workspace, ("amd64",))
    skopeo(tmp_path, "copy", "--all", "--dest-tls-verify=false", "--dest-creds", creds(world, "write"),
           f"oci:{tmp_path / 'layout'}:base", f"docker://{base}")

    buildah(tmp_path, "pull", "--tls-verify=false", "--creds", creds(world, "read"), f"docker://{base}")
    container = buildah(tmp_path, "from", "--pull=never", base)
    (tmp_path / "hello.txt").write_text(f"built by buildah for {world.workspace}\n")
    buildah(tmp_path, "copy", container, str(tmp_path / "hello.txt"), "/hello.txt")
    buildah(tmp_path, "config", "--label", f"built={world.workspace}", container)
    built = f"{world.server.host}/{world.package}:built"
    buildah(tmp_path, "commit", container, built)
    for image_format in ("oci", "v2s2"):
        buildah(tmp_path, "push", "--tls-verify=false", "--creds", creds(world, "write"), "--format", image_format,
                built, f"docker://{built}-{image_format}")

    reader = world.client("read")
    for image_format, media_type in (("oci", oci.OCI_MANIFEST), ("v2s2", oci.DOCKER_MANIFEST)):
        got = reader.get(f"/v2/{world.package}/manifests/built-{image_format}", headers={"Accept": oci.ACCEPT})
        assert got.status_code == 200, got.text
        assert got.headers["Content-Type"] == media_type
        manifest = got.json()
        assert len(manifest["layers"]) == 2  # the base layer and buildah's
        config = reader.get(f"/v2/{world.package}/blobs/{manifest['config']['digest']}").json()
        assert config["config"]["Labels"]["built"] == world.workspace
        for layer in manifest["layers"]:
            blob = reader.get(f"/v2/{world.package}/blobs/{layer['digest']}")
            assert blob.status_code == 200
            assert len(blob.content) == layer["size"]
