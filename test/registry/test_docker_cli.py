"""The docker CLI against the bundled registry: login, build, push, pull, run, push again."""

from __future__ import annotations

from pathlib import Path

from test.support.dockerd import Dockerd
from test.support.registry_server import RegistryServer


def test_login_build_push_pull_run(registry: RegistryServer, dockerd: Dockerd, busybox_image: str,
                                   tmp_path: Path, unique: str) -> None:
    repo = f"acme/{unique}"
    registry.package(f"acme/{unique}-img", repo)
    token = registry.user(f"{unique}@example.com", {repo: "write"})
    login = dockerd.docker("login", "-u", f"{unique}@example.com", "--password-stdin", registry.host, input=token)
    assert "Login Succeeded" in login.stdout
    assert token not in login.stdout + login.stderr

    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {busybox_image}\nARG GREETING=hello\nRUN echo \"$GREETING from $(uname -s)\" > /greeting\n"
        'CMD ["cat", "/greeting"]\n'
    )
    image = f"{registry.host}/acme/{unique}-img:v1"
    dockerd.docker("build", "-t", image, "--build-arg", f"GREETING=hi-{unique}", str(context))
    first = dockerd.docker("push", image)
    assert "digest: sha256:" in first.stdout

    dockerd.docker("rmi", image)
    dockerd.docker("pull", image)
    assert dockerd.docker("run", "--rm", image).stdout.strip() == f"hi-{unique} from Linux"

    again = dockerd.docker("push", image)
    assert "Layer already exists" in again.stdout
    assert again.stdout.split("digest: ")[1].split()[0] == first.stdout.split("digest: ")[1].split()[0]
    dockerd.docker("logout", registry.host)
