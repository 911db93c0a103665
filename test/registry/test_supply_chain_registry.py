"""The registry's side of the supply chain: a workspace's trusted keys (CLI and pages), signature
status, provenance and SBOM on the container tag page, and the "pull requires a trusted signature"
policy, with docker pull.

The signatures, the provenance envelope and the SBOM are made by the pipe's own code (its cosign
format, SLSA statement and CycloneDX document) and pushed with the OCI client; the registry verifies
them with its own verifier (registry/oci/signatures.py), which shares nothing with that code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from markupsafe import escape
from playwright.sync_api import expect, sync_playwright

from pipe.supply import provenance as pipe_provenance
from pipe.supply import sbom as pipe_sbom
from pipe.supply import signatures as pipe_signatures
from pipe.supply.inventory import Found
from test.registry.conftest import World, admin
from test.support import cosign_verify
from test.support.dockerd import Dockerd
from test.support.oci_client import OCI_INDEX, OCI_MANIFEST, OciClient, error_codes, image, index
from test.support.stall import assert_no_stall
from test.ui.conftest import csrf_of
from vocab.mediatypes import DOCKER_MANIFEST

CHROMIUM = "/usr/bin/chromium"
XSS_NAME = '<script>alert("sbom")</script>'


def _key_pair() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A P-256 key and its public half as cosign.pub holds it (PKIX PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, public


def _trust(world: World, public_pem: str, directory: Path, *name: str) -> str:
    """``packages-registry trust add`` of a public key (written as cosign.pub in ``directory``), optionally
    with ``--name``; what the command printed."""
    key_file = directory / "cosign.pub"
    key_file.write_text(public_pem)
    return admin(world.server, "trust", "add", world.workspace, "--key", str(key_file),
                 *(("--name", *name) if name else ()))


def _push_artifact(client: OciClient, name: str, made: tuple[bytes, list[tuple[str, bytes]]],
                   reference: str | None = None) -> str:
    manifest, blobs = made
    for _, data in blobs:
        assert client.push_blob(name, data).status_code == 201
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    response = client.push_manifest(name, reference or digest, manifest, OCI_MANIFEST)
    assert response.status_code == 201, response.text
    return digest


def _sign(client: OciClient, name: str, digest: str, media_type: str, size: int, key: ec.EllipticCurvePrivateKey,
          tamper: bool = False) -> None:
    """Sign the image ``digest`` as the pipe does (cosign's format); ``tamper``: change the payload after."""
    payload = pipe_signatures.simple_signing_payload(f"registry.example/{name}", digest)
    signature = pipe_signatures.sign(key, payload)
    if tamper:
        payload = payload.replace(b"registry.example", b"evil.example")
    layer = (payload, pipe_signatures.SIMPLE_SIGNING, {pipe_signatures.SIGNATURE_ANNOTATION: signature})
    subject = {"mediaType": media_type, "digest": digest, "size": size}
    _push_artifact(client, name, pipe_signatures.artifact_manifest([layer], subject, pipe_signatures.SIGNATURE_ARTIFACT),
                   pipe_signatures.signature_tag(digest))


def _attest(client: OciClient, name: str, digest: str, size: int, key: ec.EllipticCurvePrivateKey) -> None:
    """Provenance (a signed DSSE envelope) and an SBOM, as the pipe attaches them."""
    env = {"BITBUCKET_GIT_HTTP_ORIGIN": "https://bitbucket.org/acme/web", "BITBUCKET_COMMIT": "0123abcd" * 5,
           "BITBUCKET_BRANCH": "main", "BITBUCKET_BUILD_NUMBER": "42"}
    statement = pipe_provenance.statement(f"registry.example/{name}", digest, env, "Dockerfile", {}, None, ["signed"])
    envelope, media_type = pipe_provenance.envelope(statement, key)
    subject = {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": digest, "size": size}
    _push_artifact(client, name, pipe_signatures.artifact_manifest([(envelope, media_type, {})], subject,
                                                                    pipe_provenance.IN_TOTO))
    found = [Found("deb", "busybox-static", "1:1.36.1-9", "debian", "amd64"), Found("pypi", XSS_NAME, "1.0"),
             Found("npm", "left-pad", "1.3.0")]
    document = pipe_sbom.document(f"registry.example/{name}", digest, found)
    _push_artifact(client, name, pipe_signatures.artifact_manifest([(document, pipe_sbom.CYCLONEDX, {})], subject,
                                                                    pipe_sbom.CYCLONEDX))


def _browse(world: World, base: str, artifacts_dir: Path) -> None:
    """The trusted keys and the signed image's page in Debian's chromium (screenshots in test-artifacts/ui/)."""
    shots = artifacts_dir / "ui"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        page = browser.new_context(viewport={"width": 1366, "height": 860}).new_page()
        page.goto(world.server.url + "/signin")
        page.fill("input[name=email]", world.email("admin"))
        page.fill("input[name=token]", world.tokens["admin"])
        page.click("button:has-text('Sign in')")
        page.goto(f"{world.server.url}/{world.workspace}/workspace/packages")
        page.click("a:text-is('Trusted keys')")
        expect(page.locator("table.list")).to_contain_text("release")
        page.screenshot(path=shots / "trusted-keys.png", full_page=True)
        page.goto(base + "tags/signed")
        expect(page.locator("p.signature")).to_contain_text("Verified with key release")
        expect(page.locator("table.provenance")).to_contain_text("refs/heads/main")
        page.fill("input[name=q]", "busybox")
        page.click("button:has-text('Search')")
        expect(page.locator("table.sbom tbody tr")).to_have_count(1)
        expect(page.locator("table.sbom")).to_contain_text("pkg:deb/debian/busybox-static")
        page.screenshot(path=shots / "container-tag-supply-chain.png", full_page=True)
        browser.close()


def _digest_of_push(output: str) -> str:
    return output.split("digest: ")[1].split()[0]


@dataclass(frozen=True)
class _SignedAndStranger:
    signed_ref: str
    stranger_ref: str
    signed: str  # digests
    stranger: str
    sizes: dict[str, int]  # manifest size by digest, as docker pushed it (Docker's schema 2)


def _push_busybox_and_a_stranger_image(world: World, dockerd: Dockerd, busybox_image: str, context: Path,
                                       signed_tag: str, stranger_tag: str, label: str) -> _SignedAndStranger:
    """docker, logged in as admin, pushes busybox as ``signed_tag`` and an image built on it with ``label``
    (the one a stranger signs) as ``stranger_tag``; their references, digests and manifest sizes."""
    server, name = world.server, world.package
    dockerd.docker("login", "-u", world.email("admin"), "--password-stdin", server.host, input=world.tokens["admin"])
    signed_ref, stranger_ref = f"{server.host}/{name}:{signed_tag}", f"{server.host}/{name}:{stranger_tag}"
    dockerd.docker("tag", busybox_image, signed_ref)
    signed = _digest_of_push(dockerd.docker("push", signed_ref).stdout)
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {busybox_image}\nLABEL {label}\n")
    dockerd.docker("build", "-t", stranger_ref, str(context))
    stranger = _digest_of_push(dockerd.docker("push", stranger_ref).stdout)
    client = world.client("admin")
    sizes = {ref: len(client.get(f"/v2/{name}/manifests/{ref}", headers={"Accept": DOCKER_MANIFEST}).content)
             for ref in (signed, stranger)}
    return _SignedAndStranger(signed_ref, stranger_ref, signed, stranger, sizes)


def _assert_docker_pulls_the_signed_one_only(world: World, dockerd: Dockerd, pushed: _SignedAndStranger) -> None:
    """With the policy on, docker pulls the signed image afresh; the stranger's is DENIED, saying why."""
    for ref in (pushed.signed_ref, pushed.stranger_ref):
        dockerd.docker("rmi", ref)
    dockerd.docker("pull", pushed.signed_ref)
    refused = dockerd.docker("pull", pushed.stranger_ref, check=False)
    assert refused.returncode != 0
    assert (f"denied: pulling {world.package}@{pushed.stranger} requires a signature by a key workspace "
            f"{world.workspace} trusts, and it is signed by no key the workspace trusts") in refused.stderr, \
        refused.stderr


def test_signed_images_pull_and_show_their_supply_chain_unsigned_ones_are_denied(
        world: World, dockerd: Dockerd, busybox_image: str, tmp_path: Path, artifacts_dir: Path) -> None:
    server, name = world.server, world.package
    trusted, trusted_pub = _key_pair()
    stranger, _ = _key_pair()
    assert "trusts key" in _trust(world, trusted_pub, tmp_path, "release")
    key_id = admin(server, "trust", "list", world.workspace).split("\t")[0]

    pushed = _push_busybox_and_a_stranger_image(world, dockerd, busybox_image, tmp_path / "ctx", "signed", "stranger",
                                                "built-by=stranger")
    signed, stranger_digest, sizes = pushed.signed, pushed.stranger, pushed.sizes
    client = world.client("admin")
    docker_v2 = DOCKER_MANIFEST
    _sign(client, name, signed, docker_v2, sizes[signed], trusted)
    _sign(client, name, stranger_digest, docker_v2, sizes[stranger_digest], stranger)
    _attest(client, name, signed, sizes[signed], trusted)
    tampered, unsigned = image("tampered"), image("never signed")
    for tag, img in (("tampered", tampered), ("unsigned", unsigned)):
        assert client.push_image(name, tag, img).status_code == 201
    _sign(client, name, tampered.digest, OCI_MANIFEST, len(tampered.manifest), trusted, tamper=True)
    amd64, arm64 = image("amd64 of the index", arch="amd64"), image("arm64 of the index", arch="arm64")
    for img in (amd64, arm64):
        assert client.push_image(name, img.digest, img).status_code == 201
    index_bytes = index([(amd64, "amd64"), (arm64, "arm64")])
    assert client.push_manifest(name, "multi", index_bytes, OCI_INDEX).status_code == 201
    index_digest = "sha256:" + hashlib.sha256(index_bytes).hexdigest()
    _sign(client, name, index_digest, OCI_INDEX, len(index_bytes), trusted)

    # The tag pages: signature status, provenance, SBOM (escaped, searchable), for a reader.
    reader = world.client("read").session
    page = reader.get(f"{server.url}/{world.repository}/packages/container/app/-/tags/signed", timeout=30).text
    assert "Verified with key <strong>release</strong>" in page
    assert "https://bitbucket.org/acme/web/pipelines/results/42" in page and "0123abcd" * 5 in page
    assert "refs/heads/main" in page and "verified with key release" in page
    assert "busybox-static" in page and "1:1.36.1-9" in page and "pkg:npm/left-pad@1.3.0" in page
    assert "<script>alert" not in page and str(escape(XSS_NAME)) in page
    searched = reader.get(f"{server.url}/{world.repository}/packages/container/app/-/tags/signed",
                          params={"q": "left"}, timeout=30).text
    assert "left-pad" in searched and "busybox-static" not in searched and "1 of 3 components" in searched
    base = f"{server.url}/{world.repository}/packages/container/app/-/"
    assert "Signed, but not by a trusted key" in reader.get(base + "tags/stranger", timeout=30).text
    assert "Signed, but not by a trusted key" in reader.get(base + "tags/tampered", timeout=30).text
    assert "Unsigned" in reader.get(base + "tags/unsigned", timeout=30).text
    child_page = reader.get(base + f"manifests/{amd64.digest}", timeout=30).text
    assert "Verified with key <strong>release</strong>" in child_page and "through the signed index" in child_page

    _browse(world, base, artifacts_dir)

    # The policy: a signed image pulls with docker; one signed by an untrusted key is DENIED, with why.
    assert "require a signature" in admin(server, "package", "policy", name, "--type", "container",
                                          "--require-signature", "on")
    _assert_docker_pulls_the_signed_one_only(world, dockerd, pushed)

    # Over the API: unsigned and tampered are DENIED; signatures, referrers, a signed index and its
    # children stay pullable.
    # A runnable image cannot pass as an attachment: neither with a subject nor under cosign's tag.
    sneaky = image("sneaky", subject={"mediaType": docker_v2, "digest": signed, "size": sizes[signed]})
    cosign_tagged = image("under a cosign tag")
    fake_tag = "sha256-" + "ab" * 32 + ".sig"
    for tag, img in (("sneaky", sneaky), (fake_tag, cosign_tagged)):
        assert client.push_image(name, tag, img).status_code == 201
        for ref in (tag, img.digest):
            response = client.get(f"/v2/{name}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
            assert response.status_code == 403 and error_codes(response) == ["DENIED"], (ref, response.text)
    for ref, reason in (("unsigned", "it has no signature"), ("tampered", "it is signed by no key the workspace trusts"),
                        (unsigned.digest, "it has no signature")):
        response = client.get(f"/v2/{name}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert response.status_code == 403 and error_codes(response) == ["DENIED"], (ref, response.text)
        assert reason in response.json()["errors"][0]["message"]
        assert client.head(f"/v2/{name}/manifests/{ref}").status_code == 403
    for ref in ("multi", amd64.digest, arm64.digest, pipe_signatures.signature_tag(signed)):
        response = client.get(f"/v2/{name}/manifests/{ref}", headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"})
        assert response.status_code == 200, (ref, response.text)
    referrers = json.loads(client.get(f"/v2/{name}/referrers/{signed}").content)["manifests"]
    assert {entry.get("artifactType") for entry in referrers} >= {pipe_provenance.IN_TOTO, pipe_sbom.CYCLONEDX}
    for entry in referrers:  # the attachments pull; the sneaky image among them does not (above)
        expected = 403 if entry["digest"] == sneaky.digest else 200
        assert client.get(f"/v2/{name}/manifests/{entry['digest']}").status_code == expected

    # Removing the key un-trusts its signatures at once; turning the policy off lets everything pull.
    admin(server, "trust", "remove", world.workspace, key_id)
    assert client.get(f"/v2/{name}/manifests/signed", headers={"Accept": docker_v2}).status_code == 403
    admin(server, "package", "policy", name, "--type", "container", "--require-signature", "off")
    assert client.get(f"/v2/{name}/manifests/unsigned", headers={"Accept": OCI_MANIFEST}).status_code == 200
    dockerd.docker("pull", pushed.stranger_ref)
    dockerd.docker("logout", server.host)


def _sign_as_referrer(world: World, tmp_path: Path, digest: str, media_type: str, size: int,
                      key: ec.EllipticCurvePrivateKey) -> str:
    """Sign the image ``digest`` as ``cosign sign --registry-referrers-mode=oci-1-1`` stores it: a manifest
    with the image as its subject, cosign's signature artifact type as its config's media type, and no tag;
    pushed with oras-py. Returns the signature manifest's digest."""
    import oras.client
    import oras.oci

    payload = pipe_signatures.simple_signing_payload(f"registry.example/{world.package}", digest)
    config = json.dumps({"architecture": "", "os": "", "config": {}, "rootfs": {
        "type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(payload).hexdigest()]}}).encode()
    client = oras.client.OrasClient(hostname=world.server.host, insecure=True, auth_backend="basic")
    client.auth.set_basic_auth(world.email("admin"), world.tokens["admin"])
    repository = f"{world.server.host}/{world.package}"
    layers = {}
    for kind, data, media_type_of_blob in (("payload", payload, pipe_signatures.SIMPLE_SIGNING),
                                           ("config", config, cosign_verify.SIGNATURE_ARTIFACT)):
        path = tmp_path / f"{digest.split(':')[1][:12]}-{kind}"
        path.write_bytes(data)
        layers[kind] = oras.oci.NewLayer(str(path), media_type_of_blob)
        response = client.upload_blob(str(path), repository, layers[kind])
        assert response.status_code in (200, 201), response.text
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {key: layers["config"][key] for key in ("mediaType", "size", "digest")},
        "layers": [{**{key: layers["payload"][key] for key in ("mediaType", "size", "digest")},
                    "annotations": {pipe_signatures.SIGNATURE_ANNOTATION: pipe_signatures.sign(key, payload)}}],
        "subject": {"mediaType": media_type, "digest": digest, "size": size},
    }
    # oras-py sends the manifest as requests' JSON body: its digest is that of json.dumps' bytes.
    manifest_digest = "sha256:" + hashlib.sha256(json.dumps(manifest).encode()).hexdigest()
    response = client.upload_manifest(manifest, client.get_container(f"{repository}@{manifest_digest}"))
    assert response.status_code == 201, response.text
    return manifest_digest


def test_signatures_stored_only_as_referrers_verify_and_pull(world: World, dockerd: Dockerd, busybox_image: str,
                                                             tmp_path: Path) -> None:
    """cosign's OCI 1.1 storage of signatures (no ``.sig`` tag): the tag page and the pull policy find them
    through the image's referrers; one by an untrusted key stays refused."""
    server, name = world.server, world.package
    trusted, trusted_pub = _key_pair()
    stranger, _ = _key_pair()
    _trust(world, trusted_pub, tmp_path, "referrers")
    admin(server, "package", "policy", name, "--type", "container", "--require-signature", "on")

    pushed = _push_busybox_and_a_stranger_image(world, dockerd, busybox_image, tmp_path / "ctx", "by-referrer",
                                                "stranger-referrer", "signed-by=stranger")
    signed, stranger_digest, sizes = pushed.signed, pushed.stranger, pushed.sizes
    client = world.client("admin")
    docker_v2 = DOCKER_MANIFEST
    _sign_as_referrer(world, tmp_path, signed, docker_v2, sizes[signed], trusted)
    _sign_as_referrer(world, tmp_path, stranger_digest, docker_v2, sizes[stranger_digest], stranger)

    # Stored as cosign stores them: no tag, listed by the referrers API under cosign's artifact type. The
    # separate checker verifies the signed one through the referrers, and not the stranger's.
    assert not [tag for tag in client.get(f"/v2/{name}/tags/list").json()["tags"] if tag.endswith(".sig")]

    def manifest(reference: str) -> bytes | None:
        response = client.get(f"/v2/{name}/manifests/{reference}", headers={"Accept": f"{OCI_MANIFEST}, {docker_v2}"})
        return response.content if response.status_code == 200 else None

    def blob(digest: str) -> bytes:
        return client.get(f"/v2/{name}/blobs/{digest}").content

    def referrers(digest: str, artifact_type: str) -> dict:
        return client.get(f"/v2/{name}/referrers/{digest}", params={"artifactType": artifact_type}).json()

    (listed,) = referrers(signed, cosign_verify.SIGNATURE_ARTIFACT)["manifests"]
    assert listed["artifactType"] == cosign_verify.SIGNATURE_ARTIFACT
    cosign_verify.verify_image(manifest, blob, signed, trusted_pub, f"registry.example/{name}", referrers)
    with pytest.raises(cosign_verify.NotVerified):
        cosign_verify.verify_image(manifest, blob, stranger_digest, trusted_pub, get_referrers=referrers)

    # The policy is on: docker pulls the signed image; the one signed by an untrusted key is refused.
    _assert_docker_pulls_the_signed_one_only(world, dockerd, pushed)
    dockerd.docker("logout", server.host)

    # The tag pages say the same.
    reader = world.client("read").session
    base = f"{server.url}/{world.repository}/packages/container/app/-/tags/"
    assert "Verified with key <strong>referrers</strong>" in reader.get(base + "by-referrer", timeout=30).text
    assert "Signed, but not by a trusted key" in reader.get(base + "stranger-referrer", timeout=30).text


def test_trusted_keys_and_the_policy_on_the_pages(world: World, tmp_path: Path) -> None:
    server = world.server
    admin_session, reader = world.client("admin").session, world.client("read").session
    trust_url = f"{server.url}/{world.workspace}/workspace/trust"
    assert reader.get(trust_url, timeout=30).status_code == 403  # readers manage no keys

    _, public = _key_pair()
    form = admin_session.get(trust_url, timeout=30)
    assert form.status_code == 200 and "No trusted keys" in form.text
    csrf = csrf_of(form.text)
    added = admin_session.post(trust_url, data={"csrf_token": csrf, "name": '<b>ci</b>', "public_key": public},
                               timeout=30, allow_redirects=False)
    assert added.status_code == 303
    listing = admin_session.get(trust_url, timeout=30).text
    assert "&lt;b&gt;ci&lt;/b&gt;" in listing and "<b>ci</b>" not in listing
    assert "\t<b>ci</b>\t" in admin(server, "trust", "list", world.workspace)

    # A private key pasted by mistake is refused and not shown back; so is anything but P-256.
    private = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    refused = admin_session.post(trust_url, data={"csrf_token": csrf, "public_key": private}, timeout=30)
    assert refused.status_code == 400 and "private key" in refused.text and "PRIVATE KEY-----" not in refused.text
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    refused = admin_session.post(trust_url, data={"csrf_token": csrf, "public_key": p384}, timeout=30)
    assert refused.status_code == 400 and "P-256" in refused.text
    again = admin_session.post(trust_url, data={"csrf_token": csrf, "public_key": public}, timeout=30)
    assert again.status_code == 400 and "already trusts" in again.text
    with pytest.raises(RuntimeError):  # the CLI refuses it as well
        bad = tmp_path / "bad.pub"
        bad.write_text(p384)
        admin(server, "trust", "add", world.workspace, "--key", str(bad))

    # The package page: admins switch the policy; readers only see it.
    package_url = f"{server.url}/{world.repository}/packages/container/app"
    page = admin_session.get(package_url, timeout=30).text
    assert "no signature required" in page and "Require a trusted signature to pull" in page
    assert "Require a trusted signature" not in reader.get(package_url, timeout=30).text
    switched = admin_session.post(package_url + "/-/policy", data={"csrf_token": csrf_of(page),
                                                                   "require_signature": "on"},
                                  timeout=30, allow_redirects=False)
    assert switched.status_code == 303
    assert "pulls require a signature" in reader.get(package_url, timeout=30).text
    assert "require a signature" in admin(server, "package", "policy", world.package, "--type", "container")
    assert reader.post(package_url + "/-/policy", data={"csrf_token": csrf_of(page), "require_signature": "off"},
                       timeout=30).status_code in (400, 403)

    key_id = admin(server, "trust", "list", world.workspace).split("\t")[0]
    removed = admin_session.post(f"{trust_url}/{key_id}/remove", data={"csrf_token": csrf}, timeout=30,
                                 allow_redirects=False)
    assert removed.status_code == 303 and admin(server, "trust", "list", world.workspace) == ""


def test_hostile_supply_chain_referrers_are_read_within_bounds(world: World) -> None:
    """An SBOM of 60,000 components, provenance past the read limit or not even JSON, a signature
    manifest of 200 bogus signatures and a dozen referrer signature manifests of 40 more: the page shows
    what it can, capped, and nobody else waits."""
    client, name = world.client("admin"), world.package
    target = image("hostile referrers")
    assert client.push_image(name, "hostile", target).status_code == 201
    subject = {"mediaType": OCI_MANIFEST, "digest": target.digest, "size": len(target.manifest)}
    components = [{"type": "library", "name": f"lib{i:06d}", "version": "1", "purl": f"pkg:generic/lib{i:06d}@1"}
                  for i in range(60_000)]
    huge = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": components}).encode()
    _push_artifact(client, name, pipe_signatures.artifact_manifest([(huge, pipe_sbom.CYCLONEDX, {})], subject,
                                                                    pipe_sbom.CYCLONEDX))
    too_big = b'{"payload": "' + b"A" * (1536 * 1024) + b'"}'
    _push_artifact(client, name, pipe_signatures.artifact_manifest([(too_big, "application/vnd.dsse.envelope.v1+json",
                                                                     {})], subject, pipe_provenance.IN_TOTO))
    bogus = b'{"critical": {"image": {"docker-manifest-digest": "%s"}}}' % target.digest.encode()
    layers = [(bogus, pipe_signatures.SIMPLE_SIGNING, {pipe_signatures.SIGNATURE_ANNOTATION: "bm90IGEgc2lnbmF0dXJl"})
              ] * 200
    _push_artifact(client, name, pipe_signatures.artifact_manifest(layers, subject, pipe_signatures.SIGNATURE_ARTIFACT),
                   pipe_signatures.signature_tag(target.digest))
    for n in range(12):  # and signature manifests that are only referrers, of 40 bogus signatures each
        layers = [(bogus, pipe_signatures.SIMPLE_SIGNING, {pipe_signatures.SIGNATURE_ANNOTATION: f"{n:02d}{i:02d}" * 4})
                  for i in range(40)]
        _push_artifact(client, name, pipe_signatures.artifact_manifest(layers, subject,
                                                                        pipe_signatures.SIGNATURE_ARTIFACT))

    page_url = f"{world.server.url}/{world.repository}/packages/container/app/-/tags/hostile"
    reader = world.client("read").session
    page = assert_no_stall(world.server.url, (world.email("read"), world.tokens["read"]),
                           lambda: reader.get(page_url, timeout=60), what="a page with a 60,000-component SBOM")
    assert page.status_code == 200
    text = page.text
    assert "50000 of 50000 components, the first 500 shown (the SBOM lists 60000: the first 50000" in text
    assert "lib000499" in text and "lib000500" not in text
    assert "larger than the 1 MiB the pages read" in text
    assert "Signed, but not by a trusted key" in text
    searched = reader.get(page_url, params={"q": "lib00499"}, timeout=60).text
    assert "10 of 50000 components" in searched and "lib004999" in searched and "lib005000" not in searched

def test_signatures_looked_at_are_capped_per_manifest_and_per_image() -> None:
    from registry.oci.signatures import MAX_SIGNATURE_LAYERS, MAX_SIGNATURES, _signature_layers

    def manifest(n: int, count: int) -> bytes:
        return json.dumps({"layers": [{"mediaType": pipe_signatures.SIMPLE_SIGNING, "digest": "sha256:" + "a" * 64,
                                       "size": 10, "annotations": {pipe_signatures.SIGNATURE_ANNOTATION: f"{n}-{i}"}}
                                      for i in range(count)]}).encode()

    assert len(_signature_layers([manifest(0, 200)])) == MAX_SIGNATURE_LAYERS
    assert len(_signature_layers([manifest(n, 200) for n in range(9)])) == MAX_SIGNATURES
    # The pipe's signature is tagged and a referrer: the same manifest twice counts once.
    assert len(_signature_layers([manifest(0, 3), manifest(0, 3), b"not json", b"[]"])) == 3


def test_a_purged_workspace_takes_its_trusted_keys_along(make_world, tmp_path: Path) -> None:
    world = make_world("-purged")
    _trust(world, _key_pair()[1], tmp_path)
    admin(world.server, "workspace", "delete", world.workspace)
    admin(world.server, "purge", "--older-than-days", "0")
    admin(world.server, "workspace", "create", world.workspace)
    assert admin(world.server, "trust", "list", world.workspace) == ""
