"""`make demo`: the bundled registry on its embedded default, and the pipe publishing to it.

Starts the registry (SQLite + local disk under .demo/), creates a workspace, a
repository, a user with an API token, a pipeline token and the packages, then
runs the pipe the way Pipelines would, for a container image, an npm package
and a Maven artifact, and prints where to look.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from test.support.dockerd import start_dockerd, stop_dockerd
from test.support.registry_server import RegistryServer

DEMO = ROOT / ".demo"
PORT = int(os.environ.get("DEMO_PORT", "5080"))
WORKSPACE, REPOSITORY, USER = "demo", "demo/website", "demo@example.com"


def banner(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def run_pipe(env: dict[str, str], cwd: Path) -> None:
    """The pipe as `python3 pipe/pipe.py` from a checkout, with the variables Pipelines would give it."""
    result = subprocess.run([sys.executable, str(ROOT / "pipe" / "pipe.py")], check=False, env={**os.environ, **env}, cwd=cwd)
    if result.returncode != 0:
        raise SystemExit(f"the pipe failed (exit {result.returncode})")


def make_sources(base: Path, busybox_image: str) -> dict[str, Path]:
    app = base / "website"
    app.mkdir(parents=True, exist_ok=True)
    (app / "Dockerfile").write_text(textwrap.dedent(f"""\
        FROM {busybox_image}
        ARG GREETING=hello
        RUN mkdir -p /www && echo "$GREETING from the demo" > /www/index.html
        CMD ["cat", "/www/index.html"]
        """))
    npm = base / "hello-npm"
    npm.mkdir(exist_ok=True)
    (npm / "package.json").write_text('{"name": "@demo/hello", "version": "1.0.0", "main": "index.js"}\n')
    (npm / "index.js").write_text("module.exports = () => 'hello from @demo/hello';\n")
    (npm / "README.md").write_text("# @demo/hello\n\nSays hello.\n")
    maven = base / "hello-maven"
    maven.mkdir(exist_ok=True)
    (maven / "pom.xml").write_text(textwrap.dedent("""\
        <project xmlns="http://maven.apache.org/POM/4.0.0">
          <modelVersion>4.0.0</modelVersion>
          <groupId>com.example</groupId>
          <artifactId>hello</artifactId>
          <version>1.0.0</version>
          <packaging>jar</packaging>
        </project>
        """))
    # The demo publishes files; it does not compile Java, so the jar holds only a manifest.
    with zipfile.ZipFile(maven / "hello-1.0.0.jar", "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: packages demo\n")
    return {"app": app, "npm": npm, "maven": maven}


def main() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    banner(f"Starting the bundled registry (embedded: SQLite + local disk in {DEMO / 'registry'})")
    registry = RegistryServer(data=DEMO / "registry", port=PORT).start()
    engine = None
    try:
        print(f"registry at {registry.url}, log in {registry.log_path}")
        banner("Creating workspace, repository, user, API token and packages (packages-registry CLI)")
        registry.cli("workspace", "create", WORKSPACE)
        registry.cli("repository", "create", REPOSITORY, "--project", "WEB")
        token = registry.user(USER, {REPOSITORY: "admin"})
        (DEMO / "api-token").write_text(token + "\n")
        (DEMO / "api-token").chmod(0o600)
        for name, kind in (("demo/website", "container"), ("demo/@demo/hello", "npm"),
                           ("demo/com.example:hello", "maven")):
            print(registry.cli("package", "create", name, "--type", kind, "--repository", REPOSITORY))
        username, secret = registry.pipeline_token(REPOSITORY)
        print(f"pipeline token for {REPOSITORY}: BITBUCKET_PACKAGES_USERNAME={username} (token kept secret)")

        banner("Starting a private docker engine (the Pipelines docker service)")
        engine = start_dockerd(DEMO / "docker")
        busybox = engine.import_busybox()
        sources = make_sources(DEMO / "src", busybox)

        pipelines = {
            "BITBUCKET_PACKAGES_USERNAME": username,
            "BITBUCKET_PACKAGES_TOKEN": secret,
            "BITBUCKET_WORKSPACE": WORKSPACE,
            "BITBUCKET_REPO_SLUG": "website",
            "BITBUCKET_COMMIT": "0123456789abcdef0123456789abcdef01234567",
            "BITBUCKET_BUILD_NUMBER": "1",
            "BITBUCKET_CLONE_DIR": str(sources["app"]),
            "DOCKER_HOST": engine.host,
            "REGISTRY": registry.url,
        }
        banner("Pipe: build and push the container image demo/website")
        run_pipe({**pipelines, "BUILD_ARGS_COUNT": "1", "BUILD_ARGS_0": "GREETING=hello"}, sources["app"])
        banner("Pipe: publish the npm package @demo/hello")
        run_pipe({**pipelines, "PACKAGE_TYPE": "npm", "NPM_PACKAGE": str(sources["npm"])}, sources["npm"])
        banner("Pipe: deploy the Maven artifact com.example:hello:1.0.0")
        run_pipe({**pipelines, "PACKAGE_TYPE": "maven", "MAVEN_POM": str(sources["maven"] / "pom.xml"),
                  "MAVEN_FILES_COUNT": "1", "MAVEN_FILES_0": str(sources["maven"] / "hello-1.0.0.jar")},
                 sources["maven"])

        banner("Where to look")
        print(textwrap.dedent(f"""\
            Packages page:   {registry.url}/{WORKSPACE}/workspace/packages
                             sign in as {USER} with the API token in {DEMO / 'api-token'}
            Pull the image:  docker pull {registry.host}/demo/website:latest
            Install npm:     npm install @demo/hello --registry {registry.url}/npm/{WORKSPACE}/
            Maven repo:      {registry.url}/maven/{WORKSPACE}/com/example/hello/1.0.0/
            """))
        if sys.stdin.isatty():
            print("The registry keeps running; press Ctrl-C to stop it.")
            try:
                registry.process.wait()
            except KeyboardInterrupt:
                pass
    finally:
        if engine is not None:
            stop_dockerd(engine)
        registry.stop()


if __name__ == "__main__":
    main()
