"""Small pieces of the pipe that have rules of their own."""

from __future__ import annotations

import logging
import tarfile

import pytest
from tenacity import RetryCallState

from pipe.build.errors import UnsafeArchive
from pipe.build.safe_tar import link_target, member_path
from pipe.oci.auth import Credentials, parse_challenge
from pipe.oci.client import with_query
from pipe.oci.errors import InvalidReference
from pipe.oci.reference import Registry, parse_image_reference
from pipe.oci.transport import RetryPolicy, Transient, retry_after_seconds
from pipe.report import SecretMask


@pytest.mark.parametrize(("value", "insecure", "base"), [
    ("crg.apkg.io", False, "https://crg.apkg.io"),
    ("https://Registry.Example.com:8443/", False, "https://registry.example.com:8443"),
    ("http://127.0.0.1:5000", False, "http://127.0.0.1:5000"),
    ("http://localhost:5000", False, "http://localhost:5000"),
    ("http://[::1]:5000", False, "http://[::1]:5000"),
    ("registry.internal:5000", True, "http://registry.internal:5000"),
])
def test_registry_urls(value: str, insecure: bool, base: str) -> None:
    registry = Registry.parse(value, insecure)
    assert registry.base_url == base
    assert registry.verify_tls is not insecure


@pytest.mark.parametrize("value", ["http://registry.example.com", "ftp://x", "https://host/path", "",
                                   "https://user:pw@host"])
def test_registry_urls_refused(value: str) -> None:
    with pytest.raises(InvalidReference):
        Registry.parse(value)


def test_location_query_strings_are_merged() -> None:
    assert with_query("http://r/v2/a/blobs/uploads/u?_state=abc&x=1", digest="sha256:00") == \
        "http://r/v2/a/blobs/uploads/u?_state=abc&x=1&digest=sha256%3A00"
    assert with_query("/v2/a/blobs/uploads/u", digest="sha256:00") == "/v2/a/blobs/uploads/u?digest=sha256%3A00"
    assert with_query("/u?digest=old", digest="new") == "/u?digest=new"


def test_challenges() -> None:
    bearer = parse_challenge('Bearer realm="https://r/auth/token",service="registry",'
                             'scope="repository:a/b:pull,push repository:a/c:pull",error="insufficient_scope"')
    assert bearer is not None and bearer.scheme == "bearer"
    assert bearer.realm == "https://r/auth/token" and bearer.service == "registry"
    assert bearer.scopes == ("repository:a/b:pull,push", "repository:a/c:pull")
    assert bearer.error == "insufficient_scope"
    basic = parse_challenge('Basic realm="x"')
    assert basic is not None and basic.scheme == "basic"
    assert parse_challenge("Negotiate abc") is None


def test_credentials_never_show_the_password() -> None:
    credentials = Credentials("someone", "s3cret-token")
    assert "s3cret-token" not in repr(credentials)


def test_retry_after() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after_seconds("soon") is None
    policy = RetryPolicy(attempts=3, initial=0.5, maximum=8)

    def state_with(exc: Exception) -> RetryCallState:
        state = RetryCallState(None, lambda: None, (), {})
        state.attempt_number = 1
        state.set_exception((type(exc), exc, None))
        return state

    assert policy.wait(state_with(Transient("429", retry_after=7.0))) == 7.0
    assert policy.wait(state_with(Transient("429", retry_after=3600.0))) == 60.0  # capped
    assert 0 <= policy.wait(state_with(Transient("503"))) <= 8


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "a/../../x", "a/b/../../../x", "\\x", "..", "a\x00b"])
def test_escaping_members_refused(name: str) -> None:
    with pytest.raises(UnsafeArchive):
        member_path(name)


def test_member_paths_and_links() -> None:
    assert member_path("./blobs/sha256/ab") == "blobs/sha256/ab"
    link = tarfile.TarInfo("abc/layer.tar")
    link.type, link.linkname = tarfile.SYMTYPE, "../def/layer.tar"
    assert link_target(link) == "def/layer.tar"
    link.linkname = "../../etc/shadow"
    with pytest.raises(UnsafeArchive):
        link_target(link)


def test_image_references() -> None:
    assert parse_image_reference("busybox") == (None, "busybox", None, None)
    assert parse_image_reference("127.0.0.1:5000/ws/app:1.0") == ("127.0.0.1:5000", "ws/app", "1.0", None)
    assert parse_image_reference("localhost/app@sha256:ab") == ("localhost", "app", None, "sha256:ab")


def test_secret_mask() -> None:
    mask = SecretMask(["hunter2-token"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "echo %s", ("hunter2-token",), None)
    mask.filter(record)
    assert record.getMessage() == "echo ***"


@pytest.mark.parametrize("content", [b"", b"hello\n" * 100_000, None, "random"])
def test_gzip_layers_are_ordinary_gzip(tmp_path, content: bytes | str | None) -> None:
    import gzip
    import hashlib
    import os
    import zlib

    from pipe.build.compress import gzip_file

    data = content if isinstance(content, bytes) else os.urandom(3 * 1024 * 1024 + 17) + b"text " * 300_000
    if content == "random":  # ends in a stored block: the final-block flag is the pipe's own
        data = os.urandom(2 * 1024 * 1024 + 70_000)
    source = tmp_path / "layer.tar"
    source.write_bytes(data)
    digest, size = gzip_file(source, tmp_path / "layer.tar.gz")
    packed = (tmp_path / "layer.tar.gz").read_bytes()
    assert gzip.decompress(packed) == data
    assert zlib.decompress(packed, wbits=31) == data  # strict: one member, a final block, nothing after it
    assert (digest, size) == (f"sha256:{hashlib.sha256(packed).hexdigest()}", len(packed))
    assert gzip_file(source, tmp_path / "again.gz") == (digest, size)  # deterministic
    if isinstance(content, bytes) and content:
        assert size < len(data) / 10
