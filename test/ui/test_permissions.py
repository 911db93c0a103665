"""Permission filtering on the pages: a user without a role on a repository never sees its packages,
in lists, in search, or by URL; sign-in is required; scopes ∩ roles decide what a session may do."""

from __future__ import annotations

import re

import requests

from test.registry.conftest import admin
from test.ui.conftest import BULK, UiWorld


def names_in(html: str, package_type: str = "container") -> set[str]:
    """Names of the packages of one type in a list page's table (each row's name link), less the ones
    other tests create with the form (named *-made)."""
    names = set(re.findall(rf'<td><a href="/[^"]+/packages/{package_type}/[^"]+">([^<]+)</a></td>', html))
    return {name for name in names if not name.endswith("-made")}


def all_pages(session: requests.Session, world: UiWorld, path: str) -> set[str]:
    names: set[str] = set()
    url = world.url(path)
    while url:
        response = session.get(url, timeout=30)
        assert response.status_code == 200, response.text
        names |= names_in(response.text)
        following = re.search(r'<a href="([^"]+)" rel="next">', response.text)
        url = world.url(path.split("?")[0]) + following.group(1).replace("&amp;", "&") if following else ""
    return names


def test_lists_show_only_what_the_viewer_may_read(ui_world: UiWorld) -> None:
    ws = ui_world.workspace
    reader = ui_world.basic("reader")
    seen = all_pages(reader, ui_world, f"/{ws}/workspace/packages")
    assert seen == {"app"} | {f"bulk-{i:02d}" for i in range(BULK)}
    admin_seen = all_pages(ui_world.basic("admin"), ui_world, f"/{ws}/workspace/packages")
    assert admin_seen == seen | {"tools/cli"}
    assert all_pages(ui_world.basic("outsider"), ui_world, f"/{ws}/workspace/packages") == {"hidden-secret"}
    # The home page lists the same, across workspaces.
    assert "hidden-secret" not in all_pages(reader, ui_world, "/")


def test_search_and_filter_never_reveal_hidden_packages(ui_world: UiWorld) -> None:
    ws = ui_world.workspace
    reader = ui_world.basic("reader")
    for path in (f"/{ws}/workspace/packages?q=secret", "/?q=hidden", f"/{ws}/workspace/packages?q=cli",
                 f"/{ws}/workspace/packages?type=container&q=hidden-secret"):
        response = reader.get(ui_world.url(path), timeout=30)
        assert response.status_code == 200
        assert names_in(response.text) == set()
        assert "No packages match this filter" in response.text
    assert names_in(reader.get(ui_world.url(f"/{ws}/workspace/packages?q=APP"), timeout=30).text) == {"app"}
    npm_only = reader.get(ui_world.url(f"/{ws}/workspace/packages?type=npm"), timeout=30).text
    assert names_in(npm_only) == set() and names_in(npm_only, "maven") == set()


def test_hidden_package_by_url_is_the_same_404_as_a_missing_one(ui_world: UiWorld) -> None:
    ws = ui_world.workspace
    reader = ui_world.basic("reader")
    hidden = reader.get(ui_world.url(f"/{ws}/secret/packages/container/hidden-secret"), timeout=30)
    missing = reader.get(ui_world.url(f"/{ws}/secret/packages/container/no-such-package"), timeout=30)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.text == missing.text
    for path in (f"/{ws}/secret/packages/container/hidden-secret/-/tags/latest",
                 f"/{ws}/secret/packages", f"/{ws}/workspace/projects/SEC/packages",
                 f"/{ws}/api/packages/container/tools/cli",
                 f"/{ws}/api/packages/container/tools/cli/-/tags/2.0",
                 "/no-such-workspace/workspace/packages"):
        response = reader.get(ui_world.url(path), timeout=30)
        assert response.status_code == 404, path
        assert "hidden-secret" not in response.text and "tools/cli" not in response.text
    # The outsider reads it, and nothing of repository web.
    outsider = ui_world.basic("outsider")
    assert ui_world.get("outsider", f"/{ws}/secret/packages/container/hidden-secret").status_code == 200
    assert outsider.get(ui_world.url(f"/{ws}/web/packages/container/app"), timeout=30).status_code == 404
    assert outsider.get(ui_world.url(f"/{ws}/web/packages"), timeout=30).status_code == 404


def test_project_list_shows_only_repositories_with_a_role(ui_world: UiWorld) -> None:
    ws = ui_world.workspace
    reader_project = ui_world.get("reader", f"/{ws}/workspace/projects/WEB/packages")
    assert reader_project.status_code == 200
    assert "tools/cli" not in names_in(reader_project.text) and "app" in names_in(reader_project.text)
    admin_project = ui_world.basic("admin").get(ui_world.url(f"/{ws}/workspace/projects/WEB/packages?q=cli"),
                                                timeout=30)
    assert names_in(admin_project.text) == {"tools/cli"}


def test_without_credentials_pages_redirect_to_sign_in(ui_world: UiWorld) -> None:
    path = f"/{ui_world.workspace}/web/packages/container/app"
    response = requests.get(ui_world.url(path), allow_redirects=False, timeout=30)
    assert response.status_code == 303
    assert response.headers["Location"] == "/signin?next=" + requests.utils.quote(path, safe="")
    # Signing in from there comes back to the page.
    session = requests.Session()
    form = session.get(ui_world.url(response.headers["Location"]), timeout=30)
    assert 'name="next" value="' + path + '"' in form.text
    bad = requests.get(ui_world.url("/"), auth=(ui_world.email("reader"), "bbpkg_wrong"), timeout=30)
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"].startswith("Basic ")
    assert "bbpkg_wrong" not in bad.text


def test_creating_a_package_takes_admin_role_and_write_scope(ui_world: UiWorld) -> None:
    path = f"/{ui_world.workspace}/workspace/packages/new"
    assert ui_world.basic("reader").get(ui_world.url(path), timeout=30).status_code == 403
    assert ui_world.basic("admin-readonly").get(ui_world.url(path), timeout=30).status_code == 403
    form = ui_world.basic("admin").get(ui_world.url(path), timeout=30)
    assert form.status_code == 200
    # Only repositories the viewer is an admin of are offered (api is read-only for them).
    assert re.findall(r'<option value="([^"]+)"[^>]*>' + ui_world.workspace + "/", form.text) == ["web"]


def test_session_scopes_cap_the_roles(ui_world: UiWorld) -> None:
    readonly = ui_world.signed_in("admin-readonly")
    page = readonly.get(ui_world.url(f"/{ui_world.workspace}/web/packages/container/app"), timeout=30)
    assert page.status_code == 200 and "your access: read" in page.text
    new_package = readonly.get(ui_world.url(f"/{ui_world.workspace}/workspace/packages/new"), timeout=30)
    assert new_package.status_code == 403


def test_pipeline_token_sees_its_repository_only(ui_world: UiWorld) -> None:
    lines = admin(ui_world.server, "pipeline-token", ui_world.repo("api")).splitlines()
    pipeline = dict(line.split("=", 1) for line in lines)
    session = requests.Session()
    session.auth = (pipeline["BITBUCKET_PACKAGES_USERNAME"], pipeline["BITBUCKET_PACKAGES_TOKEN"])
    ws = ui_world.workspace
    listing = session.get(ui_world.url(f"/{ws}/workspace/packages"), timeout=30)
    assert listing.status_code == 200 and names_in(listing.text) == {"tools/cli"}
    assert session.get(ui_world.url(f"/{ws}/web/packages/container/app"), timeout=30).status_code == 404
    assert session.get(ui_world.url("/tokens"), timeout=30).status_code == 403
    assert session.get(ui_world.url(f"/{ws}/workspace/packages/new"), timeout=30).status_code == 403
