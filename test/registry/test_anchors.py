"""Patterns anchored with ``$`` accept a trailing newline ("1.0.0\\n" was published as a version whose
tarball could never be fetched): every check of a whole string ends with ``\\Z``."""

from __future__ import annotations

import pytest

from registry.maven.paths import InvalidPath
from registry.maven.paths import parse as maven_path
from registry.npm import names as npm_names
from registry.packages import validate_package_name
from test.registry.conftest import World
from vocab import digests, names

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize("check", [
    lambda: names.is_valid_name("acme/app\n"),
    lambda: names.is_valid_tag("v1\n"),
    lambda: names.is_valid_workspace("acme\n"),
    lambda: digests.is_digest(DIGEST + "\n"),
    lambda: npm_names.is_valid_version("1.0.0\n"),
    lambda: npm_names.is_valid_tag("beta\n"),
])
def test_a_trailing_newline_is_refused(check) -> None:
    assert check() is False


def test_package_names_and_maven_paths_with_a_trailing_newline() -> None:
    for package_type, name in (("npm", "left-pad\n"), ("maven", "com.acme:app\n"), ("npm", "@acme/x\n")):
        with pytest.raises(ValueError):
            validate_package_name(package_type, name)
    for path in ("com/acme/app/1.0/app-1.0.jar\n", "com/acme/app\n/1.0/app-1.0.jar", "com/acme/app/1.0\n/app-1.0.pom"):
        with pytest.raises(InvalidPath):
            maven_path(path)


def test_oci_routes_with_a_trailing_newline(world: World) -> None:
    client = world.client("read")
    assert client.get(f"/v2/{world.package}/tags/list").status_code == 200
    response = client.get(f"/v2/{world.package}/tags/list%0A")
    assert response.status_code == 404, response.text
