"""oras-py pushes artifacts with a subject (Bearer token flow); the referrers API lists and filters them."""

from __future__ import annotations

import os
from pathlib import Path

import oras.client
import oras.oci
import pytest

from test.registry.conftest import World
from test.support import oci_client as oci
from test.support.oci_client import digest_of

SBOM = "application/vnd.example.sbom.v1"
SIGNATURE = "application/vnd.example.signature.v1"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    # oras-py only pushes files below the working directory.
    old = Path.cwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(old)


def oras_client(world: World, role: str, backend: str = "basic") -> oras.client.OrasClient:
    """Basic credentials on the API by default. oras-py's token backend cannot push to a token-auth
    registry: it keeps the pull-only token its first HEAD earned and, answered 401 insufficient_scope
    (as the Docker token spec says), retries with that same token instead of asking for pull,push."""
    client = oras.client.OrasClient(hostname=world.server.host, insecure=True, auth_backend=backend)
    client.auth.set_basic_auth(world.email(role), world.tokens[role])
    return client


def push_artifact(client: oras.client.OrasClient, world: World, workdir: Path, artifact_type: str,
                  subject: oci.Image, note: str, chunked: bool = False) -> None:
    payload = workdir / f"{note}.json"
    payload.write_text(f'{{"note": "{note}"}}')
    config = workdir / f"{note}-config.json"
    config.write_text("{}")
    response = client.push(
        target=f"{world.server.host}/{world.package}:{note}",
        files=[str(payload.relative_to(workdir))],
        manifest_config=f"{config.relative_to(workdir)}:{artifact_type}",
        manifest_annotations={"org.example.note": note},
        subject=oras.oci.Subject(mediaType=subject.media_type, digest=subject.digest, size=len(subject.manifest)),
        do_chunked=chunked,
        quiet=True,
    )
    assert response.status_code == 201, response.text
    assert response.headers["OCI-Subject"] == subject.digest


def test_oras_push_with_subject_then_referrers(world: World, workdir: Path) -> None:
    image = oci.image(world.workspace)
    assert world.client("write").push_image(world.package, "v1", image).status_code == 201
    client = oras_client(world, "write")
    push_artifact(client, world, workdir, SBOM, image, "sbom")
    push_artifact(client, world, workdir, SIGNATURE, image, "signature", chunked=True)

    reader = world.client("read")
    listing = reader.get(f"/v2/{world.package}/referrers/{image.digest}")
    assert listing.status_code == 200
    assert listing.headers["Content-Type"] == oci.OCI_INDEX
    assert "OCI-Filters-Applied" not in listing.headers
    index = listing.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == oci.OCI_INDEX
    assert sorted(entry["artifactType"] for entry in index["manifests"]) == [SBOM, SIGNATURE]
    for entry in index["manifests"]:
        manifest = reader.get(f"/v2/{world.package}/manifests/{entry['digest']}", headers={"Accept": oci.ACCEPT})
        assert digest_of(manifest.content) == entry["digest"]
        assert entry["size"] == len(manifest.content)
        assert entry["mediaType"] == oci.OCI_MANIFEST
        assert entry["annotations"]["org.example.note"] in ("sbom", "signature")

    filtered = reader.get(f"/v2/{world.package}/referrers/{image.digest}", params={"artifactType": SBOM})
    assert filtered.status_code == 200
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [entry["artifactType"] for entry in filtered.json()["manifests"]] == [SBOM]

    # oras-py pulls what it pushed, going through the token endpoint.
    pulled = oras_client(world, "read", backend="token").pull(target=f"{world.server.host}/{world.package}:sbom", outdir=str(workdir / "out"))
    assert [Path(path).read_text() for path in pulled] == ['{"note": "sbom"}']


def test_referrers_of_an_unknown_subject_is_an_empty_index(world: World) -> None:
    response = world.client("read").get(f"/v2/{world.package}/referrers/{digest_of(b'nothing')}")
    assert response.status_code == 200
    assert response.json() == {"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": []}
    filtered = world.client("read").get(f"/v2/{world.package}/referrers/{digest_of(b'nothing')}",
                                        params={"artifactType": SBOM})
    assert filtered.json()["manifests"] == []
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"


def test_oras_push_by_a_reader_is_refused(world: World, workdir: Path) -> None:
    image = oci.image(world.workspace)
    assert world.client("write").push_image(world.package, "v1", image).status_code == 201
    with pytest.raises(Exception, match="403|denied|DENIED"):
        push_artifact(oras_client(world, "read"), world, workdir, SBOM, image, "refused")
    listing = world.client("read").get(f"/v2/{world.package}/referrers/{image.digest}")
    assert listing.json()["manifests"] == []
