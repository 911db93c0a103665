"""Upgrading a registry made by release 0.1.0 (before schema migrations existed) keeps every package.

The fixture in test/fixtures/rel010/ was made by that release's own code with the real clients
(test/fixtures/make_rel010.py): a metadata.db for SQLite, a pg_dump for PostgreSQL, and the blobs.
The current code migrates each on start and must serve every package byte for byte, to the old
credentials; and it refuses a database that a newer release has migrated further.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import jwt
import requests

from test.support.npm_cli import NpmClient, make_project, node_require
from test.support.processes import free_port
from test.support.registry_server import RegistryServer
from test.support.services import shared_stores_env

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "rel010"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
FUTURE_MIGRATION = ("0" * 64, "9999_from_a_newer_release")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_files() -> dict[str, Path]:
    return {f"sha256:{path.name}": path for path in (FIXTURE / "blobs" / "sha256").rglob("*") if path.is_file()}


def check_every_package_served(server: RegistryServer, token: str, work: Path) -> None:
    user = EXPECTED["user"]
    auth = (user, token)
    workspace = EXPECTED["workspace"]

    # Container: skopeo copies the multi-arch index; every manifest and blob comes back with its digest.
    container = EXPECTED["container"]
    layout = work / "pulled"
    result = subprocess.run(
        ["skopeo", "--insecure-policy", "copy", "--all", "--preserve-digests", "--src-tls-verify=false",
         "--src-creds", f"{user}:{token}", f"docker://{server.host}/{container['name']}:{container['tag']}",
         f"oci:{layout}:v1"], capture_output=True, text=True, check=False, timeout=300,
        env={**os.environ, "XDG_RUNTIME_DIR": str(work)})
    assert result.returncode == 0, result.stderr[-3000:]
    index = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    assert index == container["index"]
    pulled = {f"sha256:{path.name}": path.read_bytes() for path in (layout / "blobs" / "sha256").iterdir()}
    for digest, path in blob_files().items():
        if digest in pulled:
            assert pulled[digest] == path.read_bytes()
    for child in container["children"]:
        assert sha256(pulled[child]) == child

    # npm: the registry's packument, and a real install that runs the package.
    npm_expected = EXPECTED["npm"]
    npm = NpmClient.with_token(work / "npm", f"{server.url}/npm/{workspace}/", token)
    view = npm.run("view", npm_expected["name"], "--json").json()
    assert view["dist"]["integrity"] == npm_expected["versions"]["1.0.0"]["integrity"]
    project = make_project(work / "consumer")
    npm.run("install", npm_expected["name"], cwd=project)
    assert node_require(project, npm_expected["name"])["body"] == "made by release 0.1.0"
    tarball = requests.get(view["dist"]["tarball"], headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert sha256(tarball.content) == npm_expected["versions"]["1.0.0"]["digest"]

    # Maven: each file and its checksum, as Maven GETs them.
    group, artifact = EXPECTED["maven"]["name"].split(":")
    base = f"{server.url}/maven/{workspace}/{group.replace('.', '/')}/{artifact}"
    for path, stored in EXPECTED["maven"]["files"].items():
        got = requests.get(f"{base}/{path}", auth=auth, timeout=30)
        assert got.status_code == 200 and sha256(got.content) == stored["digest"], path
        assert requests.get(f"{base}/{path}.sha1", auth=auth, timeout=30).text.strip() == stored["sha1"]
    metadata = requests.get(f"{base}/maven-metadata.xml", auth=auth, timeout=30)
    assert metadata.status_code == 200 and "<version>1.0.0</version>" in metadata.text


def legacy_key_moved_out(server: RegistryServer, legacy_hex: str) -> None:
    """0.1.0 kept its signing key in server_secrets: now it is a 0600 file under DATA/keys that still
    verifies the tokens it signed (0.1.0's had no kid), and the table is empty."""
    key_file = server.data / "keys" / "00000000T000000Z-legacy.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    now = int(time.time())
    old_token = jwt.encode({"iss": "packages-registry", "sub": EXPECTED["user"], "aud": "packages-registry",
                            "iat": now, "nbf": now - 5, "exp": now + 300, "typ": "access", "knd": "user",
                            "crd": "a:" + legacy_credential(server), "scp": ["read:package:bitbucket"],
                            "access": []}, bytes.fromhex(legacy_hex), algorithm="HS256")
    assert requests.get(f"{server.url}/v2/", headers={"Authorization": f"Bearer {old_token}"},
                        timeout=30).status_code == 200


def legacy_credential(server: RegistryServer) -> str:
    return server.cli("token", "list", EXPECTED["user"]).splitlines()[0].split("\t")[0]


def refuses_a_newer_database(server: RegistryServer, add_future_migration) -> None:
    """With a migration this code does not know recorded, neither the server nor migrate runs."""
    server.stop()
    add_future_migration()
    migrate = subprocess.run([*server_cli(server), "migrate"], capture_output=True, text=True, check=False,
                             env={**os.environ, **server.env}, timeout=60)
    assert migrate.returncode == 2 and "newer release" in migrate.stderr, migrate.stderr
    serve = subprocess.run([*server_cli(server), "serve", "--port", str(free_port())], capture_output=True,
                           text=True, check=False, env={**os.environ, **server.env}, timeout=60)
    assert serve.returncode != 0 and "newer release" in serve.stderr, serve.stderr[-2000:]


def server_cli(server: RegistryServer) -> list[str]:
    from test.support.registry_server import CLI
    return [*CLI, "--data", str(server.data)]


def test_sqlite_registry_of_release_0_1_0_upgrades_and_serves_everything(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(FIXTURE / "sqlite" / "metadata.db", data / "metadata.db")
    shutil.copytree(FIXTURE / "blobs", data / "blobs")
    with sqlite3.connect(data / "metadata.db") as conn:
        legacy_hex = conn.execute("SELECT value FROM server_secrets WHERE name = 'jwt-signing-key'").fetchone()[0]
    server = RegistryServer(data=data, port=free_port()).start()
    try:
        with sqlite3.connect(data / "metadata.db") as conn:
            applied = {row[0] for row in conn.execute("SELECT migration_id FROM _yoyo_migration")}
            assert conn.execute("SELECT COUNT(*) FROM server_secrets").fetchone()[0] == 0
        assert "0001_initial" in applied and "0004_lifecycle" in applied
        # A copy of the database file holds no key material any more (deleted rows are overwritten).
        copied = b"".join(path.read_bytes() for path in data.glob("metadata.db*"))
        assert legacy_hex.encode() not in copied and bytes.fromhex(legacy_hex) not in copied
        legacy_key_moved_out(server, legacy_hex)
        check_every_package_served(server, EXPECTED["token"], tmp_path)
        assert server.cli("migrate") == "the schema is up to date"
        # The new schema's features work on the old data: a repository deleted and restored.
        manifest = f"{server.url}/v2/{EXPECTED['container']['name']}/manifests/v1"
        auth = (EXPECTED["user"], EXPECTED["token"])
        server.cli("repository", "delete", EXPECTED["repository"])
        assert requests.get(manifest, auth=auth, timeout=30).status_code == 404
        server.cli("repository", "restore", EXPECTED["repository"])
        assert requests.get(manifest, auth=auth, timeout=30).status_code == 200

        def add_future_migration() -> None:
            with sqlite3.connect(data / "metadata.db") as conn:
                conn.execute("INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc) "
                             "VALUES (?, ?, CURRENT_TIMESTAMP)", FUTURE_MIGRATION)

        refuses_a_newer_database(server, add_future_migration)
    finally:
        server.stop()


def test_postgresql_registry_of_release_0_1_0_upgrades_and_serves_everything(
        tmp_path: Path, pg_dsn: str, s3_env: dict[str, str]) -> None:
    import boto3
    import psycopg

    database = f"rel010_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    dsn = pg_dsn.rsplit("/", 1)[0] + f"/{database}"
    try:
        loaded = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(FIXTURE / "postgres.sql"), dsn],
                                capture_output=True, text=True, check=False, timeout=120)
        assert loaded.returncode == 0, loaded.stderr
        # The same blobs, loaded into an S3 bucket as the S3 store lays them out.
        bucket, prefix = "upgrade-tests", tmp_path.name
        s3 = boto3.client("s3", endpoint_url=s3_env["S3_ENDPOINT"], region_name=s3_env["AWS_DEFAULT_REGION"])
        try:
            s3.create_bucket(Bucket=bucket)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        for digest, path in blob_files().items():
            s3.put_object(Bucket=bucket, Key=f"{prefix}/blobs/{digest.replace(':', '/')}", Body=path.read_bytes())
        env = shared_stores_env(s3_env, dsn, f"s3://{bucket}/{prefix}")
        server = RegistryServer(data=tmp_path / "data", port=free_port(), env=env).start()
        try:
            with psycopg.connect(dsn) as conn:
                applied = {row[0] for row in conn.execute("SELECT migration_id FROM _yoyo_migration")}
                assert conn.execute("SELECT COUNT(*) FROM server_secrets").fetchone()[0] == 0
            assert "0001_initial" in applied and "0004_lifecycle" in applied
            dump = (FIXTURE / "postgres.sql").read_text()
            dumped_key = re.search(r"^jwt-signing-key\t([0-9a-f]{64})$", dump, re.MULTILINE)
            legacy_key_moved_out(server, dumped_key.group(1))
            check_every_package_served(server, EXPECTED["postgres_token"], tmp_path)

            def add_future_migration() -> None:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute("INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc) "
                                 "VALUES (%s, %s, now())", FUTURE_MIGRATION)

            refuses_a_newer_database(server, add_future_migration)
        finally:
            server.stop()
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
