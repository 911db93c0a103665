"""Supply chain: the pipe signs what it pushes in cosign's format, and a checker written from
cosign's specification (test/support/cosign_verify.py, sharing nothing with the signing code)
verifies it; a tampered payload and a wrong key fail that check."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import requests

from test.pipe.archives import write_docker_archive, write_docker_archive_of
from test.pipe.conftest import PipeWorld, lists
from test.support.busybox import elf_architecture, native_architecture, other_architecture, write_rootfs
from test.support.cosign_keys import generate_key_pair
from test.support.cosign_verify import NotVerified, verify_image, verify_payload
from test.support.dockerd import Dockerd
from test.support.pipe_step import PipelineStep
from test.support.skopeo import skopeo

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_key_pair(PASSWORD)


def _registry_reader(world: PipeWorld):
    auth = (world.username, world.token)
    base = f"{world.registry.url}/v2/{world.package}"
    accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, " \
             "application/vnd.docker.distribution.manifest.v2+json"

    def manifest(reference: str) -> bytes | None:
        response = requests.get(f"{base}/manifests/{reference}", auth=auth, headers={"Accept": accept}, timeout=30)
        return response.content if response.status_code == 200 else None

    def blob(digest: str) -> bytes:
        response = requests.get(f"{base}/blobs/{digest}", auth=auth, timeout=30)
        response.raise_for_status()
        return response.content

    return manifest, blob


def _referrers(world: PipeWorld, digest: str, artifact_type: str | None = None) -> dict:
    """The registry's referrers list of ``digest`` (those of ``artifact_type`` only, when given)."""
    params = {"artifactType": artifact_type} if artifact_type else None
    return requests.get(f"{world.registry.url}/v2/{world.package}/referrers/{digest}", params=params,
                        auth=(world.username, world.token), timeout=30).json()


def test_sign_then_verify_with_the_separate_checker(pipe_world: PipeWorld, run_pipe, tmp_path: Path,
                                                    keys: tuple[str, str]) -> None:
    private, public = keys
    archive = write_docker_archive(tmp_path / "image.tar", "signed image")
    run = run_pipe({**pipe_world.env, "IMAGE_ARCHIVE": str(archive), **lists("TAGS", ["1.0"]), "SIGN": "true",
                    "COSIGN_PRIVATE_KEY": private, "COSIGN_PASSWORD": PASSWORD})
    run.assert_ok()
    assert PASSWORD not in run.output and "PRIVATE KEY" not in run.output
    manifest, blob = _registry_reader(pipe_world)
    image_digest = "sha256:" + hashlib.sha256(manifest("1.0")).hexdigest()
    reference = f"{pipe_world.registry.host}/{pipe_world.package}"
    verified = verify_image(manifest, blob, image_digest, public, reference)
    assert verified.payload["critical"]["image"]["docker-manifest-digest"] == image_digest

    # The same signature is an OCI 1.1 referrer of the image.
    referrers = _referrers(pipe_world, image_digest)
    kinds = {item["artifactType"] for item in referrers["manifests"]}
    assert "application/vnd.dev.cosign.artifact.sig.v1+json" in kinds

    # A wrong key, and a payload changed after signing, both fail the check.
    _, other_public = generate_key_pair("another password")
    with pytest.raises(NotVerified):
        verify_image(manifest, blob, image_digest, other_public, reference)
    layer = json.loads(manifest(f"sha256-{image_digest.split(':')[1]}.sig"))["layers"][0]
    payload = blob(layer["digest"])
    signature = layer["annotations"]["dev.cosignproject.cosign/signature"]
    verify_payload(payload, signature, public, image_digest, reference)  # as stored: holds
    tampered = payload.replace(b"cosign container image signature", b"cosign container image signaturE")
    with pytest.raises(NotVerified):
        verify_payload(tampered, signature, public, image_digest, reference)


def test_sign_refuses_a_wrong_password_and_a_missing_key(pipe_world: PipeWorld, run_pipe, tmp_path: Path,
                                                         keys: tuple[str, str]) -> None:
    private, _ = keys
    archive = write_docker_archive(tmp_path / "image.tar", "unsigned")
    env = {**pipe_world.env, "IMAGE_ARCHIVE": str(archive), "SIGN": "true"}
    run_pipe(env).assert_failed("COSIGN_PRIVATE_KEY is not")
    wrong = run_pipe({**env, "COSIGN_PRIVATE_KEY": private, "COSIGN_PASSWORD": "nope"})
    wrong.assert_failed("COSIGN_PASSWORD does not open COSIGN_PRIVATE_KEY")
    assert "nope" not in wrong.output.replace("does not open", "")


def test_signed_provenance_is_a_referrer_that_oras_fetches(pipe_world: PipeWorld, run_pipe, tmp_path: Path,
                                                            keys: tuple[str, str]) -> None:
    import base64

    import oras.client
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    private, public = keys
    archive = write_docker_archive(tmp_path / "image.tar", "with provenance")
    pipeline = {"BITBUCKET_BUILD_NUMBER": "77", "BITBUCKET_BRANCH": "main",
                "BITBUCKET_GIT_HTTP_ORIGIN": "https://bitbucket.org/acme/code"}
    run_pipe({**pipe_world.env, **pipeline, "IMAGE_ARCHIVE": str(archive), **lists("TAGS", ["prov"]),
              "SIGN": "true", "COSIGN_PRIVATE_KEY": private, "COSIGN_PASSWORD": PASSWORD,
              **lists("BUILD_ARGS", ["VERSION=1.2", "NPM_TOKEN=s3cr3t"])}).assert_ok()
    manifest, _ = _registry_reader(pipe_world)
    image_digest = "sha256:" + hashlib.sha256(manifest("prov")).hexdigest()

    referrers = _referrers(pipe_world, image_digest, "application/vnd.in-toto+json")
    (descriptor,) = referrers["manifests"]
    # oras-py (it has no referrers call) fetches the provenance manifest and its envelope.
    client = oras.client.OrasClient(hostname=pipe_world.registry.host, insecure=True, auth_backend="basic")
    client.auth.set_basic_auth(pipe_world.username, pipe_world.token)
    provenance_manifest = client.get_manifest(f"{pipe_world.registry.host}/{pipe_world.package}@"
                                              f"{descriptor['digest']}")
    layer = provenance_manifest["layers"][0]
    assert layer["mediaType"] == "application/vnd.dsse.envelope.v1+json"
    response = client.get_blob(f"{pipe_world.registry.host}/{pipe_world.package}", layer["digest"])
    envelope = response.json()
    payload = base64.b64decode(envelope["payload"])
    signed = b"DSSEv1 %d %s %d %s" % (len(envelope["payloadType"]), envelope["payloadType"].encode(), len(payload),
                                       payload)
    load_pem_public_key(public.encode()).verify(base64.b64decode(envelope["signatures"][0]["sig"]), signed,
                                                ec.ECDSA(hashes.SHA256()))
    statement = json.loads(payload)
    assert statement["subject"][0]["digest"]["sha256"] == image_digest.split(":")[1]
    definition = statement["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["buildArgs"] == {"VERSION": "1.2", "NPM_TOKEN": "[redacted]"}
    assert definition["resolvedDependencies"][0]["digest"]["gitCommit"] == pipe_world.env["BITBUCKET_COMMIT"]
    assert statement["predicate"]["runDetails"]["metadata"]["invocationId"].endswith("/pipelines/results/77")


def _debian_rootfs(target: Path) -> Path:
    """A Debian-based image's filesystem: this machine's dpkg database and dpkg-query (with the libraries
    it loads), its os-release, and one Python, one npm and one Maven component, as a rootfs tar."""
    import io
    import re
    import subprocess
    import tarfile
    import zipfile

    libraries = re.findall(r"(/\S+\.so[^\s]*)\s+\(0x", subprocess.run(
        ["ldd", "/usr/bin/dpkg-query"], capture_output=True, text=True, check=True).stdout)
    jar = io.BytesIO()
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr("META-INF/maven/org.example/greeter/pom.properties",
                         "groupId=org.example\nartifactId=greeter\nversion=2.1.0\n")
    extra = {
        "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA":
            b"Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n\n",
        "srv/app/node_modules/@acme/left-pad/package.json": b'{"name": "@acme/left-pad", "version": "1.3.0"}',
        "srv/app/lib/greeter.jar": jar.getvalue(),
    }
    with tarfile.open(target, "w", dereference=True) as tar:
        for path in ["/usr/bin/dpkg-query", "/var/lib/dpkg/status", "/etc/os-release", *libraries]:
            tar.add(path, arcname=path.lstrip("/"))
        for directory in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "tmp"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, data in extra.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return target


def test_sbom_of_a_debian_image_matches_dpkg_query(pipe_world: PipeWorld, dockerd, run_pipe, tmp_path: Path) -> None:
    image = "sbom-debian:test"
    dockerd.docker("import", str(_debian_rootfs(tmp_path / "rootfs.tar")), image)
    inside = dockerd.docker("run", "--rm", image, "/usr/bin/dpkg-query", "-W",
                            "-f=${db:Status-Abbrev}|${Package}|${Version}\n").stdout
    installed = {tuple(line.split("|")[1:]) for line in inside.splitlines() if line.startswith("ii")}
    assert len(installed) > 50

    run = run_pipe({**pipe_world.env, "IMAGE": image, **lists("TAGS", ["sbom"]), "SBOM": "true"}, dockerd=dockerd)
    run.assert_ok()
    manifest, blob = _registry_reader(pipe_world)
    image_digest = "sha256:" + hashlib.sha256(manifest("sbom")).hexdigest()
    referrers = _referrers(pipe_world, image_digest, "application/vnd.cyclonedx+json")
    (descriptor,) = referrers["manifests"]
    layer = json.loads(manifest(descriptor["digest"]))["layers"][0]
    document = json.loads(blob(layer["digest"]))
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"] == "1.5"
    components = document["components"]
    debs = {(c["name"], c["version"]) for c in components if c["purl"].startswith("pkg:deb/debian/")}
    assert debs == installed
    purls = {c["purl"] for c in components}
    assert "pkg:pypi/requests@2.31.0" in purls
    assert "pkg:npm/%40acme/left-pad@1.3.0" in purls
    assert "pkg:maven/org.example/greeter@2.1.0" in purls


def test_merge_busybox_images_of_two_architectures_through_the_pipe_image(
        pipe_world: PipeWorld, dockerd: Dockerd, pipeline_step: PipelineStep, tmp_path: Path) -> None:
    """Debian's busybox-static of amd64 and of arm64 (the other architecture's never runs here), each pushed
    by a step of its own as an x86 and an ARM runner would, then merged into one index by a third, all through
    the pipe's image."""
    host, package, url = pipe_world.registry.host, pipe_world.package, pipe_world.registry.url
    native, other = native_architecture(), other_architecture()
    architectures = tuple(sorted((native, other)))  # amd64 and arm64, whichever this machine is
    # This machine's runner pushes the image its docker engine has; the other one an archive that `docker
    # save` wrote there (this engine cannot hold an image of another architecture: dockerd 20.10's import
    # ignores --platform's architecture).
    image = dockerd.import_busybox(f"busybox-{native}:merge")
    rootfs = write_rootfs(tmp_path / f"rootfs-{other}.tar", other).read_bytes()
    write_docker_archive_of(pipeline_step.clone / f"busybox-{other}.tar", [rootfs], "busybox", other)
    for arch, source in ((native, {"IMAGE": image}), (other, {"IMAGE_ARCHIVE": f"busybox-{other}.tar"})):
        pushed = pipeline_step.run({"REGISTRY": url, "IMAGE_NAME": "app", **source, **lists("TAGS", [arch])})
        pushed.assert_ok()
    env = {"REGISTRY": url, "IMAGE_NAME": "app", "ACTION": "merge", **lists("TAGS", ["multi"]),
           **lists("ANNOTATIONS", ["org.opencontainers.image.description=two platforms"])}
    same = pipeline_step.run({**env, **lists("IMAGES", [f"{package}:amd64", f"{package}:amd64"])})
    same.assert_failed("both linux/amd64")
    merged = pipeline_step.run({**env, **lists("IMAGES", [f"{package}:{arch}" for arch in architectures])})
    merged.assert_ok()
    result = json.loads((pipeline_step.shared_storage / "packages-pipe" / "latest.json").read_text())
    assert result["action"] == "merge" and [p["architecture"] for p in result["platforms"]] == list(architectures)

    raw = json.loads(skopeo(tmp_path, "inspect", "--raw", "--tls-verify=false",
                            f"--creds={pipe_world.username}:{pipe_world.token}", f"docker://{host}/{package}:multi")
                     .stdout)
    assert raw["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert sorted((m["platform"]["os"], m["platform"]["architecture"]) for m in raw["manifests"]) == [
        ("linux", "amd64"), ("linux", "arm64")]
    assert raw["annotations"] == {"org.opencontainers.image.description": "two platforms"}

    # docker pull --platform gets each, and the busybox that comes back is the one built for that CPU.
    dockerd.docker("login", "-u", pipe_world.username, "--password-stdin", host, input=pipe_world.token)
    reference = f"{host}/{package}:multi"
    for arch in architectures:
        dockerd.docker("pull", "--platform", f"linux/{arch}", reference)
        inspected = json.loads(dockerd.docker("image", "inspect", reference).stdout)
        assert (inspected[0]["Os"], inspected[0]["Architecture"]) == ("linux", arch)
        container = dockerd.docker("create", "--platform", f"linux/{arch}", reference, "sh").stdout.strip()
        try:
            dockerd.docker("cp", "-L", f"{container}:/bin/busybox", str(tmp_path / f"busybox-{arch}"))
        finally:
            dockerd.docker("rm", container)
        assert elf_architecture((tmp_path / f"busybox-{arch}").read_bytes()[:64]) == arch
    dockerd.docker("logout", host)


def test_copy_an_index_with_its_signature_from_another_registry(pipe_world: PipeWorld, pipeline_step: PipelineStep,
                                                                 tmp_path: Path) -> None:
    """ACTION copy through the pipe's image, from a distribution registry with basic auth."""
    from test.support.distribution import start_distribution
    from test.support.oci_client import image
    from test.support.oci_layout import write_image_layout, write_multiarch_layout

    source = start_distribution(tmp_path / "distribution")
    try:
        layout = tmp_path / "layout"
        index_digest = write_multiarch_layout(layout, "2.0", "moved")
        skopeo(tmp_path, "copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
               f"--dest-creds={source.username}:{source.password}", f"oci:{layout}:2.0",
               f"docker://{source.host}/team/app:2.0")
        # A signature beside it, where cosign puts one (distribution takes uploads in two steps: skopeo).
        signature = image("signature of the index", artifact_type="application/vnd.dev.cosign.artifact.sig.v1+json")
        sig_layout = tmp_path / "sig-layout"
        write_image_layout(sig_layout, signature.manifest, signature.blobs.values(), "sig")
        sig_tag = f"sha256-{index_digest.split(':')[1]}.sig"
        skopeo(tmp_path, "copy", "--preserve-digests", "--dest-tls-verify=false",
               f"--dest-creds={source.username}:{source.password}", f"oci:{sig_layout}:sig",
               f"docker://{source.host}/team/app:{sig_tag}")

        env = {"REGISTRY": pipe_world.registry.url, "IMAGE_NAME": "app", "ACTION": "copy",
               "SOURCE_IMAGE": f"{source.host}/team/app:2.0", "SOURCE_USERNAME": source.username,
               "SOURCE_PASSWORD": source.password}
        copied = pipeline_step.run({**env, **lists("TAGS", ["2.0"])})
        copied.assert_ok()
        assert source.password not in copied.output
        manifest, _ = _registry_reader(pipe_world)
        assert "sha256:" + hashlib.sha256(manifest("2.0")).hexdigest() == index_digest
        for child in json.loads(manifest("2.0"))["manifests"]:
            assert manifest(child["digest"]) is not None
        assert manifest(f"sha256-{index_digest.split(':')[1]}.sig") is not None
        again = pipeline_step.run(env)
        again.assert_ok()
        assert "Copied 0 blobs" in again.output
    finally:
        source.stop()
