"""Several registry replicas sharing PostgreSQL and an S3 store: what one stores, every other serves."""

from __future__ import annotations

import os
import time
from pathlib import Path

import jwt
import pytest
import requests

from test.support.dockerd import Dockerd
from test.support.oci_layout import layout_blob, write_multiarch_layout
from test.support.processes import free_port
from test.support.registry_server import RegistryServer
from test.support.skopeo import skopeo


@pytest.fixture
def replicas(tmp_path: Path, scale_out_env: dict[str, str]):
    env = scale_out_env
    # Each replica has a data dir of its own: nothing may depend on local files.
    servers = [RegistryServer(data=tmp_path / f"replica{i}", port=free_port(), flags=["--workers", "2"], env=env)
               for i in range(2)]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


def test_push_to_one_replica_pull_from_the_other(replicas: list[RegistryServer], tmp_path: Path,
                                                 dockerd: Dockerd, busybox_image: str) -> None:
    first, second = replicas
    first.package("acme/web", "acme/web")
    token = first.user("dev@example.com", {"acme/web": "write"})

    # docker: login and push through one replica (bearer tokens signed there), pull through the other.
    image = f"{first.host}/acme/web:v1"
    dockerd.docker("login", "-u", "dev@example.com", "--password-stdin", first.host, input=token)
    dockerd.docker("login", "-u", "dev@example.com", "--password-stdin", second.host, input=token)
    dockerd.docker("tag", busybox_image, image)
    dockerd.docker("push", image)
    mirrored = f"{second.host}/acme/web:v1"
    dockerd.docker("pull", mirrored)
    assert dockerd.docker("run", "--rm", mirrored, "echo", "served by the other replica").stdout.strip() \
        == "served by the other replica"

    # A bearer token issued by one replica is honoured by the other (one signing key, from the shared key
    # directory; the database holds none).
    issued = requests.get(f"{first.url}/auth/token", params={"service": "packages-registry",
                                                             "scope": "repository:acme/web:pull"},
                          auth=("dev@example.com", token), timeout=10).json()["token"]
    tags = requests.get(f"{second.url}/v2/acme/web/tags/list", headers={"Authorization": f"Bearer {issued}"},
                        timeout=10)
    assert tags.status_code == 200 and tags.json()["tags"] == ["v1"]

    # A rotation on the shared directory: both replicas sign with the new key (a moment later), and
    # tokens of the old key keep working on both.
    old_kid = jwt.get_unverified_header(issued)["kid"]
    first.cli("keys", "rotate")
    deadline = time.monotonic() + 10
    while True:
        fresh = requests.get(f"{second.url}/auth/token", params={"service": "packages-registry",
                                                                 "scope": "repository:acme/web:pull"},
                             auth=("dev@example.com", token), timeout=10).json()["token"]
        if jwt.get_unverified_header(fresh)["kid"] != old_kid:
            break
        assert time.monotonic() < deadline, "the other replica never signed with the new key"
        time.sleep(0.2)
    for server, bearer in ((first, fresh), (first, issued), (second, issued)):
        assert requests.get(f"{server.url}/v2/acme/web/tags/list", headers={"Authorization": f"Bearer {bearer}"},
                            timeout=10).status_code == 200
    assert not any((server.data / "keys").exists() for server in replicas)

    # A multi-arch index with skopeo --all, and a chunked upload of blobs big enough to span S3 pieces.
    layout = tmp_path / "layout"
    index_digest = write_multiarch_layout(layout, "multi", "replicas")
    skopeo(tmp_path, "copy", "--all", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", f"dev@example.com:{token}",
           f"oci:{layout}:multi", f"docker://{second.host}/acme/web:multi")
    raw = requests.get(f"{first.url}/v2/acme/web/manifests/multi", auth=("dev@example.com", token), timeout=10,
                       headers={"Accept": "application/vnd.oci.image.index.v1+json"})
    assert raw.content == layout_blob(layout, index_digest)

    # Garbage collection over the shared stores keeps everything that is referenced.
    first.cli("gc", "--grace-seconds", "0")
    dockerd.docker("rmi", mirrored)
    dockerd.docker("pull", mirrored)


def test_npm_publish_streams_into_s3_and_the_other_replica_serves_it(replicas: list[RegistryServer]) -> None:
    """The publish body is decoded straight into the S3 store's upload area and the tarball checked
    from there (registry/npm/body.py, ContentService.stage); the other replica serves what was stored."""
    from test.support.npm_documents import NpmHttp, package_json, publish_document, tarball

    first, second = replicas
    first.package("acme/streamed", "acme/web", "npm")
    token = first.user("npm@example.com", {"acme/web": "write"})
    data = tarball([("package/package.json", package_json("streamed", "1.0.0", scripts={"install": "x"})),
                    ("package/blob.bin", os.urandom(3 * 1024 * 1024))])
    publisher = NpmHttp(first.url, "acme", NpmHttp.bearer(token))
    assert publisher.publish("streamed", publish_document("streamed", "1.0.0", data)).status_code == 201
    reader = NpmHttp(second.url, "acme", NpmHttp.bearer(token))
    assert reader.tarball("streamed", "1.0.0").content == data
    assert reader.packument("streamed").json()["versions"]["1.0.0"]["hasInstallScript"] is True
