"""ACTION=configure as users run it: what it writes, what it prints (never the token), and git exclusion."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from test.pipe.conftest import lists

TOKEN = "bbpipe_configure-secret-0123456789"
ENV = {"BITBUCKET_PACKAGES_USERNAME": "pipeline-user", "BITBUCKET_PACKAGES_TOKEN": TOKEN,
       "BITBUCKET_WORKSPACE": "acme", "ACTION": "configure"}


def test_writes_all_three_for_a_bundled_registry(run_pipe, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    (clone / "package.json").write_text(json.dumps({"name": "@team/app", "version": "1.0.0"}))
    (clone / ".npmrc").write_text("fund=false\n@team:registry=https://old.example.com/\n")
    run = run_pipe({**ENV, "REGISTRY": "http://127.0.0.1:8080", "BITBUCKET_CLONE_DIR": str(clone)}, cwd=clone)
    run.assert_ok()
    encoded = base64.b64encode(TOKEN.encode()).decode()
    assert encoded not in run.output and "***" not in run.output

    npmrc = (clone / ".npmrc").read_text().splitlines()
    assert npmrc == ["fund=false", "@team:registry=http://127.0.0.1:8080/npm/acme/",
                     "//127.0.0.1:8080/npm/acme/:username=pipeline-user",
                     f"//127.0.0.1:8080/npm/acme/:_password={encoded}"]
    settings = (clone / ".m2" / "settings.xml").read_text()
    assert "<id>bitbucket-packages</id>" in settings and "http://127.0.0.1:8080/maven/acme/" in settings
    docker = json.loads((clone / ".docker" / "config.json").read_text())
    assert base64.b64decode(docker["auths"]["127.0.0.1:8080"]["auth"]).decode() == f"pipeline-user:{TOKEN}"
    for path in (".npmrc", ".m2/settings.xml", ".docker/config.json"):
        assert (clone / path).stat().st_mode & 0o077 == 0, path
    exclude = (clone / ".git" / "info" / "exclude").read_text().splitlines()
    assert {"/.npmrc", "/.m2/", "/.docker/"} <= set(exclude)
    assert "DOCKER_CONFIG=$BITBUCKET_CLONE_DIR/.docker" in run.output
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone, check=True,
                            capture_output=True, text=True).stdout
    assert status.split() == ["??", "package.json"]

    again = run_pipe({**ENV, "REGISTRY": "http://127.0.0.1:8080", "BITBUCKET_CLONE_DIR": str(clone)}, cwd=clone)
    again.assert_ok()
    assert (clone / ".git" / "info" / "exclude").read_text().count("/.npmrc") == 1


def test_bitbucket_defaults_and_no_git(run_pipe, tmp_path: Path) -> None:
    clone = tmp_path / "plain"
    clone.mkdir()
    run = run_pipe({**ENV, "BITBUCKET_CLONE_DIR": str(clone), "NPM_SCOPE": "none"}, cwd=clone)
    run.assert_ok()
    assert (clone / ".npmrc").read_text().startswith("registry=https://npm.apkg.io/acme/\n")
    assert not (clone / ".m2").exists()  # Bitbucket's Maven URL is not documented: MAVEN_REPOSITORY needed
    assert "set MAVEN_REPOSITORY" in run.output and "Not a git checkout" in run.output
    assert "crg.apkg.io" in json.loads((clone / ".docker" / "config.json").read_text())["auths"]
    run_pipe({**ENV, "BITBUCKET_CLONE_DIR": str(clone), **lists("CONFIGURE", ["maven"])}, cwd=clone).assert_failed(
        "Set MAVEN_REPOSITORY")
    maven = run_pipe({**ENV, "BITBUCKET_CLONE_DIR": str(clone), "MAVEN_REPOSITORY": "https://maven.example.com/acme",
                      **lists("CONFIGURE", ["maven"])}, cwd=clone)
    maven.assert_ok()
    assert "https://maven.example.com/acme/" in (clone / ".m2" / "settings.xml").read_text()


def test_git_worktree_exclude_goes_to_the_common_dir(run_pipe, tmp_path: Path) -> None:
    main = tmp_path / "main"
    subprocess.run(["git", "init", "-q", str(main)], check=True)
    subprocess.run(["git", "-C", str(main), "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q",
                    "--allow-empty", "-m", "init"], check=True)
    worktree = tmp_path / "wt"
    subprocess.run(["git", "-C", str(main), "worktree", "add", "-q", str(worktree)], check=True)
    run_pipe({**ENV, "REGISTRY": "http://127.0.0.1:8080", "BITBUCKET_CLONE_DIR": str(worktree),
              **lists("CONFIGURE", ["npm"])}, cwd=worktree).assert_ok()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=worktree, check=True, capture_output=True,
                            text=True).stdout
    assert status == ""


def test_bad_configure_variables(run_pipe, tmp_path: Path) -> None:
    run_pipe({**ENV, **lists("CONFIGURE", ["rubygems"])}).assert_failed("Some variables cannot be used", "CONFIGURE")
    run_pipe({**ENV, "NPM_SCOPE": "team"}).assert_failed("Some variables cannot be used", "NPM_SCOPE")
    run_pipe({**ENV, "NPM_REGISTRY": "http://npm.example.com/acme/"}).assert_failed("INSECURE")
    run_pipe({**ENV, "ACTION": "deploy"}).assert_failed("Some variables cannot be used", "ACTION")
