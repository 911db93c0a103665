"""Bearer-token signing keys live in files, never in the metadata database: a copy of metadata.db forges
nothing; 0.1.0's key is moved out on upgrade; rotation keeps old tokens working until their key is removed;
tokens must name this service (aud)."""

from __future__ import annotations

import base64
import json
import sqlite3
import stat
import subprocess
import time
from pathlib import Path

import jwt
import pytest
import requests

from test.registry.conftest import admin
from test.support.processes import free_port
from test.support.registry_server import CLI, READ, WRITE, RegistryServer, start_registry


def _header(token: str) -> dict:
    return jwt.get_unverified_header(token)


def _bearer(server: RegistryServer, auth: tuple[str, str], service: str = "packages-registry") -> str:
    got = requests.get(f"{server.url}/auth/token", params={"service": service, "scope": "registry:catalog:*"},
                       auth=auth, timeout=30)
    assert got.status_code == 200, got.text
    return got.json()["token"]


def _v2(server: RegistryServer, token: str) -> int:
    return requests.get(f"{server.url}/v2/", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code


def _database_bytes(data: Path) -> bytes:
    return b"".join(path.read_bytes() for path in data.glob("metadata.db*"))


def _key_files(data: Path) -> list[Path]:
    return sorted((data / "keys").glob("*.key"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    server = start_registry(tmp_path_factory.mktemp("keys"))
    yield server
    server.stop()


def _user(server: RegistryServer, *flags: str) -> tuple[str, str]:
    email = f"keys{time.monotonic_ns()}@example.com"
    admin(server, *flags, "user", "create", email)
    return email, admin(server, *flags, "token", "create", email, "--scope", READ, "--scope", WRITE)


def test_keys_are_files_and_a_database_copy_holds_none(server: RegistryServer) -> None:
    auth = _user(server)
    token = _bearer(server, auth)
    assert _v2(server, token) == 200
    key_file = server.data / "keys" / (_header(token)["kid"] + ".key")
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in _key_files(server.data))
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    secret = key_file.read_bytes().strip()
    assert secret not in _database_bytes(server.data)
    # What a database copy holds is no help: the rows of the old secrets table are gone.
    with sqlite3.connect(server.data / "metadata.db") as db:
        assert db.execute("SELECT COUNT(*) FROM server_secrets").fetchone()[0] == 0


def test_the_key_of_a_0_1_0_database_is_moved_out_and_its_tokens_still_verify(tmp_path: Path) -> None:
    server = start_registry(tmp_path)
    auth = _user(server)
    credential = admin(server, "token", "list", auth[0]).splitlines()[0].split("\t")[0]
    server.stop()
    # As 0.1.0 left it: the key in server_secrets (hex), no key files; its tokens had no kid.
    legacy = bytes(range(32))
    with sqlite3.connect(server.data / "metadata.db") as db:
        db.execute("INSERT INTO server_secrets (name, value) VALUES ('jwt-signing-key', ?)", (legacy.hex(),))
        db.execute("INSERT INTO server_secrets (name, value) VALUES ('ui-csrf-key', ?)", ("ab" * 32,))
    for path in _key_files(server.data):
        path.unlink()
    now = int(time.time())
    old_token = jwt.encode({"iss": "packages-registry", "sub": auth[0], "aud": "packages-registry", "iat": now,
                            "nbf": now - 5, "exp": now + 300, "typ": "access", "knd": "user",
                            "crd": "a:" + credential, "scp": [READ, WRITE], "access": []}, legacy, algorithm="HS256")
    assert "kid" not in _header(old_token)
    server.start()

    assert _v2(server, old_token) == 200
    assert legacy.hex().encode() not in _database_bytes(server.data)
    assert legacy not in _database_bytes(server.data)
    keys = _key_files(server.data)
    assert len(keys) == 2 and all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in keys)
    new_token = _bearer(server, auth)
    assert _header(new_token)["kid"] != "00000000T000000Z-legacy"  # the moved key verifies, never signs
    assert _v2(server, new_token) == 200
    server.stop()


def test_rotation_keeps_old_tokens_until_their_key_is_removed(server: RegistryServer) -> None:
    auth = _user(server)
    before = _bearer(server, auth)
    old_kid = _header(before)["kid"]
    rotated = admin(server, "keys", "rotate")
    new_kid = rotated.split()[3]
    assert new_kid != old_kid
    listing = admin(server, "keys", "list")
    assert f"{new_kid}\t" in listing and "signing" in listing.splitlines()[-1]
    deadline = time.monotonic() + 10
    while _header(after := _bearer(server, auth))["kid"] != new_kid:  # the running server notices (≤ 1 s)
        assert time.monotonic() < deadline, "the server kept signing with the old key"
        time.sleep(0.2)
    assert _v2(server, before) == 200
    assert _v2(server, after) == 200
    admin(server, "keys", "remove", old_kid)
    deadline = time.monotonic() + 10
    while _v2(server, before) != 401:
        assert time.monotonic() < deadline, "a token of a removed key is still accepted"
        time.sleep(0.2)
    assert _v2(server, after) == 200
    # A key by the file setting: one shared file (replicas); rotating it is refused with a hint.
    shared = server.data.parent / "shared.key"
    shared.write_text("s" * 40)
    shared.chmod(0o600)
    refused = subprocess.run([*CLI, "--data", str(server.data), "--signing-key-file", str(shared), "keys", "rotate"],
                             capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert "directory of keys to rotate" in refused.stderr


def test_a_token_for_another_service_is_refused(server: RegistryServer) -> None:
    auth = _user(server)
    assert _v2(server, _bearer(server, auth)) == 200
    foreign = _bearer(server, auth, service="some-other-service")
    payload = foreign.split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["aud"] == "some-other-service"
    assert _v2(server, foreign) == 401


def test_a_shared_key_file_signs_for_every_server_using_it(tmp_path: Path) -> None:
    shared = tmp_path / "shared.key"
    shared.write_bytes(b"0123456789abcdef" * 4)
    shared.chmod(0o600)
    (tmp_path / "one").mkdir()
    first = RegistryServer(data=tmp_path / "one" / "data", port=free_port(),
                           env={"PACKAGES_REGISTRY_SIGNING_KEY_FILE": str(shared)}).start()
    try:
        auth = _user(first, "--signing-key-file", str(shared))
        token = _bearer(first, auth)
        assert not (first.data / "keys").exists()
        # A new process given the same file by its flag (as a replica would be) verifies it.
        first.stop()
        first.flags, first.env = ["--signing-key-file", str(shared)], {}
        first.start()
        assert _v2(first, token) == 200
        assert not (first.data / "keys").exists()
    finally:
        first.stop()
