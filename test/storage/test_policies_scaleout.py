"""Quotas, usage, retention and the audit log on PostgreSQL + S3 (Ceph): the same rules as on SQLite + disk."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest

from test.support import oci_client as oci
from test.support.npm_documents import NpmHttp, package_tarball, publish_document
from test.support.processes import free_port
from test.support.registry_server import RegistryServer
from test.support.services import shared_stores_env

BUCKET = "policy-tests"


@pytest.fixture
def scaled(tmp_path: Path, fresh_schema: str, s3_env: dict[str, str]):
    env = shared_stores_env(s3_env, fresh_schema, f"s3://{BUCKET}/{tmp_path.name}")
    server = RegistryServer(data=tmp_path / "data", port=free_port(), env=env,
                            flags=["--retention-interval", "0", "--usage-sample-interval", "0"]).start()
    s3 = boto3.client("s3", endpoint_url=s3_env["S3_ENDPOINT"], region_name=s3_env["AWS_DEFAULT_REGION"],
                      aws_access_key_id=s3_env["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=s3_env["AWS_SECRET_ACCESS_KEY"])

    def objects(kind: str) -> dict[str, int]:
        prefix = f"{tmp_path.name}/{kind}/"
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return {item["Key"]: item["Size"] for page in pages for item in page.get("Contents", [])}

    yield server, objects
    server.stop()


def test_quota_usage_retention_and_audit_on_postgres_and_s3(scaled) -> None:
    server, objects = scaled
    server.package("acme/app", "acme/code")
    server.package("acme/lib", "acme/code", "npm")
    token = server.user("dev@acme.example.com", {"acme/code": "admin"})
    client = oci.OciClient(server.url, ("dev@acme.example.com", token))
    server.cli("plan", "set", "acme", "--storage", "1000")

    # Over the limit: refused as the bytes arrive (OCI) and at commit (npm), and nothing is kept in S3.
    location = client.start_upload("acme/app")
    refused = client.patch(location, data=os.urandom(4000), headers={"Content-Type": "application/octet-stream"})
    assert refused.status_code == 403 and "storage quota exceeded" in refused.json()["errors"][0]["message"]
    npm = NpmHttp(server.url, "acme", NpmHttp.bearer(token))
    published = npm.publish("lib", publish_document("lib", "1.0.0", package_tarball("lib", "1.0.0", os.urandom(3000))))
    assert published.status_code == 403 and "(1000 bytes) limit" in published.json()["error"]
    assert objects("blobs") == {} and objects("uploads") == {}
    assert json.loads(server.cli("usage", "acme", "--json"))["bytes"] == 0

    # What fits is stored; usage is what S3 holds.
    server.cli("plan", "set", "acme", "--storage", "none")
    for n in range(5):
        assert client.push_image("acme/app", f"pr-{n}", oci.image(f"scaled {n}")).status_code == 201
    assert json.loads(server.cli("usage", "acme", "--json"))["bytes"] == sum(objects("blobs").values())

    # Retention keeps the newest two pr- tags; the deletions are audited.
    server.cli("retention", "set", "--package", "acme/app", "--type", "container", "--kind", "tags",
               "--pattern", "pr-*", "--keep", "2")
    server.cli("retention", "run")
    assert set(client.get("/v2/acme/app/tags/list").json()["tags"]) == {"pr-3", "pr-4"}
    deletions = json.loads(server.cli("audit", "--workspace", "acme", "--action", "delete", "--json"))
    assert {entry["target"] for entry in deletions if entry["target"].startswith("tag ")} == \
        {"tag pr-0", "tag pr-1", "tag pr-2"}
    refusals = json.loads(server.cli("audit", "--workspace", "acme", "--action", "push", "--json"))
    assert sum(entry["outcome"].startswith("refused") for entry in refusals) == 2
    assert token not in server.cli("audit", "--json")
