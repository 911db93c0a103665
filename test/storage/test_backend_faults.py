"""Registry replicas under backend faults: PostgreSQL restarted, stopped and frozen, radosgw stopped.

Every fault heals by itself: while a backend is away each protocol answers a quick 503 in its own
error format with Retry-After (one log line per failure, no traceback), and once it is back the next
request succeeds, on both replicas, without restarting them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from test.support import oci_client as oci
from test.support.maven_http import MavenHttp, artifact_path
from test.support.npm_documents import NpmHttp, package_tarball, publish_document
from test.support.oci_client import OciClient
from test.support.processes import free_port
from test.support.registry_server import RegistryServer
from test.support.services import ServiceFaults

TIMEOUT = 1  # --backend-timeout in these tests: a frozen database is given up on after about this
# A generous bound on "a quick answer" (the timeout, the pool's own margin, a loaded machine); a hang
# is what it catches: before this fix a frozen database held every request as long as it stayed frozen.
QUICK = TIMEOUT + 6


@pytest.fixture
def pair(tmp_path: Path, scale_out_env: dict[str, str]):
    servers = [RegistryServer(data=tmp_path / f"replica{i}", port=free_port(), env=scale_out_env,
                              flags=["--backend-timeout", str(TIMEOUT)]) for i in range(2)]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


class Clients:
    """One user's clients of every protocol against one replica."""

    def __init__(self, server: RegistryServer, email: str, token: str) -> None:
        self.server = server
        self.auth = (email, token)
        self.oci = OciClient(server.url, (email, token))
        self.npm = NpmHttp(server.url, "acme", NpmHttp.bearer(token))
        self.maven = MavenHttp(server.url, "acme", (email, token))

    def answers(self, only: tuple[str, ...] = ()) -> dict[str, requests.Response]:
        """A read of every protocol and a page (or those named), each timed."""
        calls = {
            "oci": lambda: self.oci.get("/v2/acme/app/manifests/v1"),
            "oci push": lambda: self.oci.post("/v2/acme/app/blobs/uploads/"),
            "npm": lambda: self.npm.packument("lib"),
            "maven": lambda: self.maven.get(artifact_path("com.example", "app", "1.0")),
            "page": lambda: requests.get(f"{self.server.url}/", auth=self.auth, timeout=30),
        }
        answers = {}
        for what, call in calls.items():
            if only and what not in only:
                continue
            started = time.monotonic()
            response = call()
            response.elapsed_total = time.monotonic() - started
            answers[what] = response
        return answers


def assert_unavailable(answers: dict[str, requests.Response]) -> None:
    for what, response in answers.items():
        assert response.status_code == 503, (what, response.status_code, response.text[:300])
        assert response.headers.get("Retry-After"), what
        assert response.elapsed_total < QUICK, (what, response.elapsed_total)
    if "oci" in answers:
        assert oci.error_codes(answers["oci"]) == ["UNAVAILABLE"]
    if "oci push" in answers:
        assert oci.error_codes(answers["oci push"]) == ["UNAVAILABLE"]
    if "npm" in answers:
        assert "unavailable" in answers["npm"].json()["error"]
    if "maven" in answers:
        assert "unavailable" in answers["maven"].reason  # mvn shows the reason phrase
    if "page" in answers:
        assert answers["page"].headers["Content-Type"].startswith("text/html")
        assert "unavailable" in answers["page"].text


def assert_served(clients: Clients, maven_jar: bytes) -> None:
    assert clients.oci.get("/v2/acme/app/manifests/v1").status_code == 200
    assert clients.npm.packument("lib").json()["dist-tags"]["latest"] == "1.0.0"
    assert clients.maven.get(artifact_path("com.example", "app", "1.0")).content == maven_jar
    assert requests.get(f"{clients.server.url}/", auth=clients.auth, timeout=30).status_code == 200


def test_replicas_ride_out_postgres_restart_outage_and_freeze(pair: list[RegistryServer], scale_out_admin,
                                                               service_faults: ServiceFaults) -> None:
    token = scale_out_admin.world(("acme/app", "container"), ("acme/lib", "npm"), ("acme/com.example:app", "maven"))
    clients = [Clients(server, "dev@acme.example.com", token) for server in pair]
    assert clients[0].oci.push_image("acme/app", "v1", oci.image("faults")).status_code == 201
    assert clients[1].npm.publish("lib", publish_document("lib", "1.0.0", package_tarball("lib", "1.0.0"))
                                  ).status_code in (200, 201)
    jar = b"PK\x03\x04 not really a jar"
    clients[0].maven.deploy(artifact_path("com.example", "app", "1.0"), jar)

    # A restart: every connection of both replicas breaks; the very next request reconnects.
    service_faults.pg_restart()
    for client in clients:
        assert_served(client, jar)

    # Stopped: quick 503s in each protocol's format; started again: served, by the same processes.
    service_faults.pg_stop()
    for client in clients:
        assert_unavailable(client.answers())
    service_faults.pg_start()
    for client in clients:
        assert_served(client, jar)
    assert clients[1].oci.push_image("acme/app", "v2", oci.image("after the outage")).status_code == 201

    # Frozen (SIGSTOP): no answer at all from the database, yet no request hangs past the timeout.
    service_faults.pg_freeze()
    try:
        for client in clients:
            assert_unavailable(client.answers(("oci", "npm")))
    finally:
        service_faults.pg_thaw()
    for client in clients:
        assert_served(client, jar)

    for server in pair:
        log = server.log_path.read_text()
        assert "Traceback" not in log, log[-3000:]
        # One line per failed request, naming what failed.
        assert log.count(": 503, database") >= 7, log[-3000:]


def test_replicas_answer_503_while_the_blob_store_is_away(pair: list[RegistryServer], scale_out_admin,
                                                          service_faults: ServiceFaults,
                                                          services: dict[str, str]) -> None:
    token = scale_out_admin.world(("acme/app", "container"))
    client, other = (OciClient(server.url, ("dev@acme.example.com", token)) for server in pair)
    img = oci.image("blob store faults")
    assert client.push_image("acme/app", "v1", img).status_code == 201
    layer = next(iter(img.blobs))

    service_faults.rgw_stop()
    try:
        for replica in (client, other):
            started = time.monotonic()
            pull = replica.get(f"/v2/acme/app/blobs/{layer}")
            push = replica.push_blob("acme/app", b"a layer pushed while S3 is away")
            assert time.monotonic() - started < 2 * QUICK
            for response in (pull, push):
                assert response.status_code == 503, response.text[:300]
                assert oci.error_codes(response) == ["UNAVAILABLE"]
                assert response.headers["Retry-After"]
    finally:
        service_faults.rgw_start(services["S3_ENDPOINT"])
    for replica in (client, other):
        assert replica.get(f"/v2/acme/app/blobs/{layer}").content == img.blobs[layer]
        assert replica.push_blob("acme/app", b"a layer pushed once S3 is back").status_code == 201
    for server in pair:
        log = server.log_path.read_text()
        assert "Traceback" not in log, log[-3000:]
        assert ": 503, blob store" in log
