"""The admin CLI: the DESIGN.md contract, token life cycle, clear errors. The commands whose output
other tools read (token create, pipeline-token) and an error's exit status go through a process of
their own, as scripts run them; the others run the same main() in-process (RegistryServer.command)."""

from __future__ import annotations

import re
import subprocess

from test.support.oci_client import OciClient
from test.support.registry_server import CLI, READ, WRITE, RegistryServer


def console(server: RegistryServer, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "--data", str(server.data), *args], capture_output=True, text=True, check=False)


def run(server: RegistryServer, *args: str) -> subprocess.CompletedProcess:
    return server.command(*args)


def test_contract_commands(registry: RegistryServer, unique: str) -> None:
    ws = f"{unique}cli"
    email = f"dev@{ws}.example.com"
    assert console(registry, "workspace", "create", ws).returncode == 0
    assert run(registry, "repository", "create", f"{ws}/repo", "--project", "PRJ").returncode == 0
    assert run(registry, "user", "create", email).returncode == 0
    assert run(registry, "grant", email, f"{ws}/repo", "write").returncode == 0
    created = run(registry, "package", "create", f"{ws}/img", "--type", "container", "--repository", f"{ws}/repo")
    assert created.returncode == 0, created.stderr

    token = console(registry, "token", "create", email, "--scope", READ, "--scope", WRITE, "--expires-days", "30")
    assert token.returncode == 0
    secret = token.stdout.strip()
    assert re.fullmatch(r"bbpkg_[A-Za-z0-9_-]{20,}", secret)  # the token alone on stdout
    client = OciClient(registry.url, (email, secret))
    assert client.push_blob(f"{ws}/img", b"from the cli test").status_code == 201

    pipeline = console(registry, "pipeline-token", f"{ws}/repo")
    lines = dict(line.split("=", 1) for line in pipeline.stdout.splitlines())
    assert set(lines) == {"BITBUCKET_PACKAGES_USERNAME", "BITBUCKET_PACKAGES_TOKEN"}
    pipe_client = OciClient(registry.url, (lines["BITBUCKET_PACKAGES_USERNAME"], lines["BITBUCKET_PACKAGES_TOKEN"]))
    assert pipe_client.get(f"/v2/{ws}/img/tags/list").status_code == 200

    listed = run(registry, "token", "list", email).stdout.splitlines()
    assert len(listed) == 1
    token_id, _, scopes, state = listed[0].split("\t")
    assert state == "live"
    assert scopes == f"{READ} {WRITE}"
    assert secret not in listed[0]
    assert run(registry, "token", "revoke", token_id).returncode == 0
    assert run(registry, "token", "list", email).stdout.split("\t")[-1].strip() == "revoked"
    assert client.get(f"/v2/{ws}/img/tags/list").status_code == 401
    again = console(registry, "token", "revoke", token_id)
    assert again.returncode == 2
    assert "no live token" in again.stderr

    dry = run(registry, "gc", "--dry-run")
    assert dry.returncode == 0
    assert dry.stdout.startswith("dry run: ")

    # Secrets stay out of the server's log.
    log = registry.log_path.read_text()
    assert secret not in log
    assert lines["BITBUCKET_PACKAGES_TOKEN"] not in log


def test_errors_are_messages_not_tracebacks(registry: RegistryServer, unique: str) -> None:
    ws = f"{unique}err"
    run(registry, "workspace", "create", ws)
    for args, words in (
        (("workspace", "create", ws), "already exists"),
        (("workspace", "create", "Not Valid"), "workspace slug"),
        (("repository", "create", f"{ws}-missing/repo"), "does not exist"),
        (("repository", "create", "no-slash"), "WORKSPACE/NAME"),
        (("user", "create", "not-an-email"), "email"),
        (("grant", "nobody@example.com", f"{ws}/repo", "read"), "does not exist"),
        (("token", "create", "nobody@example.com", "--scope", READ), "does not exist"),
        (("package", "create", f"{ws}/UPPER", "--type", "container", "--repository", f"{ws}/repo"), "invalid"),
        (("package", "create", f"{ws}/img", "--type", "container", "--repository", f"{ws}/nope"), "does not exist"),
        (("pipeline-token", f"{ws}/nope"), "does not exist"),
    ):
        result = run(registry, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert words in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
