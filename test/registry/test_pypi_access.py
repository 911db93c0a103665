"""Who may upload to and read from a PyPI project: roles x token scopes x pipeline tokens (its own
repository's and another's) x anonymous. Readers of nothing learn nothing: the project answers as
one that does not exist, and the index does not list it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from test.registry.conftest import World, admin
from test.support.pypi_http import upload
from test.support.python_dists import make_wheel
from test.support.registry_server import READ

OK, DENIED, HIDDEN, CHALLENGED = 200, 403, 404, 401


@pytest.fixture
def pypi_world(world: World) -> World:
    admin(world.server, "package", "create", f"{world.workspace}/guarded", "--type", "pypi",
          "--repository", world.repository)
    return world


def _credentials(world: World) -> dict[str, tuple[tuple[str, str] | None, int, int]]:
    """name -> (credentials, expected read status, expected upload status)."""
    other = world.new_repository("other")
    outsider = world.user(f"outsider@{world.workspace}.example.com", {other: "admin"})
    reader_ro = world.user(f"ro-writer@{world.workspace}.example.com", {world.repository: "write"}, scopes=(READ,))
    return {
        "anonymous": (None, CHALLENGED, CHALLENGED),
        "no role": ((f"outsider@{world.workspace}.example.com", outsider), HIDDEN, HIDDEN),
        "read": ((world.email("read"), world.tokens["read"]), OK, DENIED),
        "write, read-only token": ((f"ro-writer@{world.workspace}.example.com", reader_ro), OK, DENIED),
        "write": ((world.email("write"), world.tokens["write"]), OK, OK),
        "admin": ((world.email("admin"), world.tokens["admin"]), OK, OK),
        "admin as __token__": (("__token__", world.tokens["admin"]), OK, OK),
        "own pipeline": (world.pipeline_token(world.repository), OK, OK),
        "other pipeline": (world.pipeline_token(other), HIDDEN, HIDDEN),
    }


def test_permission_matrix(pypi_world: World, tmp_path: Path) -> None:
    world = pypi_world
    base = f"{world.server.url}/pypi/{world.workspace}"
    first = make_wheel(tmp_path, "guarded", "0.0.1")
    assert upload(f"{base}/", first, (world.email("admin"), world.tokens["admin"])).status_code == 200
    credentials = _credentials(world)
    for number, (who, (auth, read, write)) in enumerate(credentials.items(), start=1):
        page = requests.get(f"{base}/simple/guarded/", auth=auth, timeout=30)
        assert page.status_code == read, (who, page.status_code, page.text)
        file = requests.get(f"{base}/files/guarded/guarded-0.0.1-py3-none-any.whl", auth=auth, timeout=30)
        assert file.status_code == read, (who, file.status_code)
        listing = requests.get(f"{base}/simple/", auth=auth, timeout=30)
        if read == OK:
            assert "guarded" in listing.text, who
        elif read == HIDDEN:
            assert listing.status_code == 200 and "guarded" not in listing.text, who
        wheel = make_wheel(tmp_path, "guarded", f"1.{number}")
        answer = upload(f"{base}/", wheel, auth)
        assert answer.status_code == write, (who, answer.status_code, answer.text)
        if write == HIDDEN:
            assert "not found" in answer.text and "linked" not in answer.text, who  # no existence leak
        if write == DENIED:
            assert "allow read" in answer.text, who
        if read == HIDDEN:
            missing = requests.get(f"{base}/simple/no-such-project/", auth=auth, timeout=30)
            assert page.text.replace("guarded", "X") == missing.text.replace("no-such-project", "X"), who
    # Each upload is in the audit log (committed with the file's rows), by whom and with which credential;
    # no refused one is.
    pushes = json.loads(admin(world.server, "audit", "--json", "--package", f"{world.workspace}/guarded",
                              "--action", "push"))
    uploaded = {entry["target"]: entry for entry in pushes}
    expected = {"guarded-0.0.1-py3-none-any.whl"} | {
        f"guarded-1.{number}-py3-none-any.whl" for number, (_, (_, _, write)) in
        enumerate(credentials.items(), start=1) if write == OK}
    assert set(uploaded) == expected, pushes
    assert uploaded["guarded-0.0.1-py3-none-any.whl"]["actor"] == world.email("admin")
    assert uploaded["guarded-0.0.1-py3-none-any.whl"]["credential"].startswith("api token ")
    assert all(entry["outcome"] == "ok" and entry["detail"] == "pypi package" for entry in pushes)


def test_auto_create_links_a_new_project_to_the_pipeline_repository(tmp_path: Path) -> None:
    from test.support.registry_server import start_registry

    server = start_registry(tmp_path / "auto", "--auto-create")
    try:
        server.ensure_repository("auto/code")
        pipeline = server.pipeline_token("auto/code")
        wheel = make_wheel(tmp_path, "made-here", "1.0")
        assert upload(f"{server.url}/pypi/auto/", wheel, pipeline).status_code == 200
        assert requests.get(f"{server.url}/pypi/auto/simple/made-here/", auth=pipeline, timeout=30).status_code == 200
        made = json.loads(admin(server, "audit", "--json", "--package", "auto/made-here", "--action", "create"))
        assert [entry["detail"] for entry in made] == ["pypi package; created by an upload (--auto-create)"]
    finally:
        server.stop()
