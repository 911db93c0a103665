"""The PyPI index on the scale-out backends (PostgreSQL + Ceph's S3): twine uploads, uv installs,
and a deleted version's files are collected from the S3 store by gc."""

from __future__ import annotations

import hashlib
from pathlib import Path

import requests

from test.support.processes import free_port
from test.support.python_clients import index_url, run, twine_upload, uv
from test.support.python_dists import make_sdist, make_wheel
from test.support.registry_server import RegistryServer
from test.support.services import shared_stores_env


def test_upload_install_delete_and_collect(tmp_path: Path, fresh_schema: str, s3_env: dict[str, str]) -> None:
    env = shared_stores_env(s3_env, fresh_schema, f"s3://replica-tests/pypi-{tmp_path.name}")
    server = RegistryServer(data=tmp_path / "data", port=free_port(), env=env).start()
    try:
        server.package("acme/Scaled_Out", "acme/lib", "pypi")
        token = server.user("dev@example.com", {"acme/lib": "admin"})
        wheel, sdist = make_wheel(tmp_path, "scaled-out", "1.0"), make_sdist(tmp_path, "scaled-out", "1.0")
        twine_upload(server.url, "acme", "dev@example.com", token, [wheel, sdist])

        venv = tmp_path / "venv"
        uv("venv", "-q", str(venv))
        uv("pip", "install", "--index-url", index_url(server.url, "acme", "dev@example.com", token), "scaled-out",
           env={"VIRTUAL_ENV": str(venv)})
        assert run([str(venv / "bin" / "python"), "-c", "import scaled_out; print(scaled_out.VERSION)"]
                   ).stdout.strip() == "1.0"
        url = f"{server.url}/pypi/acme/files/scaled-out/{wheel.name}"
        served = requests.get(url, auth=("dev@example.com", token), timeout=30)
        assert hashlib.sha256(served.content).digest() == hashlib.sha256(wheel.read_bytes()).digest()

        server.cli("pypi", "delete", "acme/scaled-out", "1.0")
        report = server.cli("gc", "--grace-seconds", "0")
        assert "2 blobs" in report, report  # the wheel and the sdist (the wheel's METADATA is in its row)
        assert requests.get(url, auth=("dev@example.com", token), timeout=30).status_code == 404
    finally:
        server.stop()
