"""Server switches: --auto-create (a pipeline's push creates its package) and --no-delete."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from test.registry.conftest import World, admin, build_world
from test.support import oci_client as oci
from test.support.oci_client import OciClient, error_codes
from test.support.registry_server import start_registry


@pytest.fixture(scope="module")
def switched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = start_registry(tmp_path_factory.mktemp("switches") / "server", "--auto-create", "--no-delete")
    yield build_world(server, "switches")
    server.stop()


def test_pipeline_push_creates_the_package_linked_to_its_repository(switched: World) -> None:
    world = switched
    name = f"{world.workspace}/created-by-pipeline"
    pipeline = OciClient(world.server.url, world.pipeline_token(world.repository))
    img = oci.image("auto")
    response = pipeline.push_image(name, "v1", img)
    assert response.status_code == 201, response.text
    assert pipeline.get(f"/v2/{name}/manifests/v1").content == img.manifest
    # Linked to the pipeline's repository: its users see it with their roles there.
    assert world.client("read").get(f"/v2/{name}/manifests/v1").status_code == 200
    assert world.client("read").push_blob(name, b"no").status_code == 403
    assert name in world.client("read").get("/v2/_catalog").json()["repositories"]


def test_auto_create_is_only_for_pipelines_in_their_own_workspace(switched: World) -> None:
    world = switched
    name = f"{world.workspace}/not-for-users"
    refused = world.client("admin").push_blob(name, b"data")
    assert refused.status_code == 404
    assert error_codes(refused) == ["NAME_UNKNOWN"]
    foreign_workspace = build_world(world.server, "elsewhere")
    pipeline = OciClient(world.server.url, world.pipeline_token(foreign_workspace.repository))
    refused = pipeline.push_blob(name, b"data")
    assert refused.status_code == 404
    # An existing package of another repository is not taken over either.
    other_repo = world.new_repository("other")
    outsider = OciClient(world.server.url, world.pipeline_token(other_repo))
    assert outsider.push_blob(world.package, b"data").status_code == 404


def test_auto_create_does_not_take_a_reserved_name(switched: World) -> None:
    """A deleted package's name stays reserved: a pipeline's push does not create it anew."""
    world = switched
    name = world.new_package("deleted-one")
    admin(world.server, "package", "delete", name, "--type", "container")
    refused = OciClient(world.server.url, world.pipeline_token(world.repository)).push_blob(name, b"data")
    assert refused.status_code == 403 and error_codes(refused) == ["DENIED"]
    assert "not available until" in refused.json()["errors"][0]["message"]


def test_pull_of_an_unknown_package_does_not_create_it(switched: World) -> None:
    world = switched
    name = f"{world.workspace}/pulled-only"
    pipeline = OciClient(world.server.url, world.pipeline_token(world.repository))
    assert pipeline.get(f"/v2/{name}/manifests/latest").status_code == 404
    assert name not in world.client("admin").get("/v2/_catalog").json()["repositories"]


def test_no_delete_refuses_every_delete(switched: World) -> None:
    world = switched
    boss = world.client("admin")
    img = oci.image("kept")
    assert boss.push_image(world.package, "v1", img).status_code == 201
    for path in (f"/v2/{world.package}/manifests/v1", f"/v2/{world.package}/manifests/{img.digest}",
                 f"/v2/{world.package}/blobs/{next(iter(img.blobs))}"):
        response = boss.delete(path)
        assert response.status_code == 405, response.text
        assert error_codes(response) == ["UNSUPPORTED"]
    assert boss.get(f"/v2/{world.package}/manifests/v1").status_code == 200
    assert boss.get(f"/v2/{world.package}/blobs/{next(iter(img.blobs))}").status_code == 200
    # The pages' delete forms too.
    image, slug = world.package.split("/", 1)[1], world.repository.split("/", 1)[1]
    for path in (f"/{world.workspace}/{slug}/packages/container/{image}/-/delete",
                 f"/{world.workspace}/{slug}/packages/container/{image}/-/tags/v1/delete",
                 f"/{world.workspace}/{slug}/delete"):
        page = requests.get(world.server.url + path, auth=(world.email("admin"), world.tokens["admin"]), timeout=30)
        assert page.status_code == 403 and "turned off" in page.text, path


def test_without_auto_create_a_pipeline_gets_name_unknown_with_how_to(world: World) -> None:
    name = f"{world.workspace}/never-created"
    pipeline = OciClient(world.server.url, world.pipeline_token(world.repository))
    refused = pipeline.push_blob(name, b"data")
    assert refused.status_code == 404
    assert "packages-registry package create" in refused.json()["errors"][0]["message"]

