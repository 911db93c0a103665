"""What the pipe says, and where it looks: messages, result file names, REGISTRY's scheme, file patterns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from pipe import messages
from pipe.actions.maven import expand_files
from pipe.config import dockerfile_missing
from pipe.endpoints import loopback_scheme
from pipe.errors import PipeError
from pipe.oci.auth import Credentials
from pipe.oci.errors import AccessDenied
from pipe.results import file_name, package_of
from test.support.processes import free_port
from test.support.registry_server import RegistryServer


@dataclass
class Who:
    credentials: Credentials
    credentials_kind: str
    pipeline_repository: str | None


PIPELINE = Who(Credentials("pipeline-user", "x"), "pipeline", "acme/website")
USER = Who(Credentials("dev@acme.example.com", "x"), "api-token", None)


def test_denial_detail_becomes_a_sentence() -> None:
    text = messages.denied(AccessDenied("denied", 403, detail="it is linked to repository acme/other, and your credentials allow read there"),
                           USER, "Pushing to r/acme/app")
    assert "allow read there. The credentials are the API token of dev@acme.example.com" in text
    assert "if the user has write access there, the token lacks that scope" in text


def test_missing_write_scope_is_named() -> None:
    text = messages.denied(AccessDenied("denied", 403, detail="it is linked to repository acme/app, and your "
                                        "credentials allow read there: "
                                        "the API token lacks the scope write:package:bitbucket."), USER, "Pushing")
    assert "The API token lacks the scope write:package:bitbucket, so it can only read" in text
    assert "admin" not in text


def test_pipeline_token_and_a_package_of_another_repository() -> None:
    text = messages.not_created(PIPELINE, "container", "shared-base", "acme", "crg.apkg.io")
    assert "may exist but be linked to another repository" in text
    assert "pipeline tokens reach only the packages linked to their own repository (acme/website)" in text
    assert "ATLASSIAN_ACCOUNT_EMAIL and ATLASSIAN_API_TOKEN of a user with write access there" in text
    assert "packages-registry package create acme/shared-base --type container --repository acme/website" in text


@pytest.mark.parametrize(("action", "kind", "package", "name"), [
    ("publish", "container", "website", "container-website.json"),
    ("publish", "container", "team/website", "container-team-website.json"),
    ("publish", "npm", "@acme/ui", "npm-acme-ui.json"),
    ("publish", "maven", "com.acme-core", "maven-com.acme-core.json"),
    ("configure", "", None, "configure.json"),
    ("publish", "npm", None, "npm.json"),
])
def test_result_file_names(action: str, kind: str, package: str | None, name: str) -> None:
    assert file_name(action, kind, package) == name


def test_result_documents_name_their_package() -> None:
    assert package_of({"packageType": "container", "name": "acme/team/website"}) == "team/website"
    assert package_of({"packageType": "maven", "groupId": "com.acme", "artifactId": "core"}) == "com.acme-core"
    assert package_of({"packageType": "npm", "name": "@acme/ui"}) == "@acme/ui"


def test_dockerfile_path_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile.prod").write_text("FROM scratch\n")
    text = dockerfile_missing(Path("Dockerfile.prod"), Path("Dockerfile.prod"), Path("docker"))
    assert f"There is no Dockerfile at {tmp_path / 'Dockerfile.prod'}" in text
    assert "relative to the clone directory, not to BUILD_CONTEXT" in text
    assert "set DOCKERFILE: 'docker/Dockerfile.prod'" in text
    assert f"{tmp_path / 'Dockerfile'} (BUILD_CONTEXT/Dockerfile)" in dockerfile_missing(Path("Dockerfile"), None,
                                                                                           Path("."))


def test_maven_files_take_globs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "target").mkdir()
    for name in ("core-1.0.jar", "core-1.0-sources.jar", "core-1.0.pom.bak"):
        (tmp_path / "target" / name).write_text("x")
    assert expand_files(["target/*.jar", "target/core-1.0.jar"]) == [
        Path("target/core-1.0-sources.jar"), Path("target/core-1.0.jar")]
    with pytest.raises(PipeError, match=r"MAVEN_FILES 'build/\*\.jar' matches no file"):
        expand_files(["build/*.jar"])


def test_registry_without_scheme_on_loopback(registry: RegistryServer) -> None:
    assert loopback_scheme(registry.host) == "http"  # the bundled registry speaks plain http
    assert loopback_scheme(f"localhost:{registry.port}") == "http"
    assert loopback_scheme(registry.url) is None  # a scheme was given
    assert loopback_scheme(f"127.0.0.1:{free_port()}") is None  # nothing there: the push says so
    assert loopback_scheme("crg.apkg.io") is None  # not loopback: https, never probed
