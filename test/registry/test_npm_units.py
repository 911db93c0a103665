"""Unit tests of the npm modules' pure parts: names, versions and tags; tarball checks; sealed logins."""

from __future__ import annotations

import pytest

from registry.npm import login, names, tarball
from test.support.npm_documents import package_json, package_tarball
from test.support.npm_documents import tarball as make_tarball


@pytest.mark.parametrize("version", ["1.0.0", "0.0.1-alpha.1", "10.20.30+build.5", "1.0.0-rc.1+x"])
def test_valid_versions(version: str) -> None:
    assert names.is_valid_version(version)


@pytest.mark.parametrize("version", ["1.0", "01.0.0", "1.0.0-", "v1.0.0", "1.0.0 ", "../1.0.0", 3, None, "1" * 300])
def test_invalid_versions(version: object) -> None:
    assert not names.is_valid_version(version)


def test_tags_are_words_that_are_not_versions() -> None:
    assert all(names.is_valid_tag(tag) for tag in ("latest", "beta", "next-2", "v1-lts"))
    assert not any(names.is_valid_tag(tag) for tag in ("1.2.3", "v1.2.3", "", "a/b", "-x", "x" * 200, 5))


def test_semver_order() -> None:
    ordered = ["0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0",
               "1.0.1", "1.10.0"]
    shuffled = ordered[4:] + ordered[:4]
    assert sorted(shuffled, key=names.semver_key) == ordered


def test_tarball_names() -> None:
    assert names.tarball_filename("@acme/widgets", "1.0.0") == "widgets-1.0.0.tgz"
    assert names.version_of_tarball("@acme/widgets", "widgets-1.0.0-rc.1.tgz") == "1.0.0-rc.1"
    assert names.version_of_tarball("@acme/widgets", "other-1.0.0.tgz") is None
    assert names.version_of_tarball("left-pad", "left-pad-1.0.tgz") is None


def test_inspect_reads_package_json_and_counts() -> None:
    facts = tarball.inspect(package_tarball("@a/b", "1.2.3"))
    assert facts.package_json["name"] == "@a/b" and facts.file_count == 2 and facts.unpacked_size > 0


def test_inspect_caps_the_unpacked_size() -> None:
    data = make_tarball([("package/package.json", package_json("x", "1.0.0")), ("package/big", bytes(4096))])
    with pytest.raises(tarball.BadTarball, match="unpacks to more than"):
        tarball.inspect(data, max_unpacked=1024)


def test_sealed_login_tokens_need_the_done_secret() -> None:
    """The page (login secret) seals with the key wrapped for it; only npm's done secret unseals."""
    key = login.sealing_key("done-secret")
    wrapped = login.wrap_key(key, "login-secret")
    assert login.unwrap_key(wrapped, "login-secret") == key
    assert login.unwrap_key(wrapped, "done-secret") != key
    sealed = login.seal(login.unwrap_key(wrapped, "login-secret"), "bbpkg_secret")
    assert "bbpkg_secret" not in sealed
    assert login.unseal(login.sealing_key("done-secret"), sealed) == "bbpkg_secret"
    assert login.unseal(login.sealing_key("login-secret"), sealed) != "bbpkg_secret"
