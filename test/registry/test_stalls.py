"""One request must never stall the server: each hostile input runs while another user's GET /v2/ is
timed (test/support/stall.py), against the real server. The inputs are sized to take seconds on the
event loop of the code before these fixes, and to stay cheap to send."""

from __future__ import annotations

import re

import pytest
import requests

from test.registry.conftest import World, admin
from test.support.npm_documents import NpmHttp, publish_document
from test.support.stall import assert_no_stall

README_BOMBS = {
    "unclosed emphasis": "**a " * 16000,  # 64 KB: quadratic in the old renderer (21 s)
    "nested quotes": "> " * 600 + "deep",  # a RecursionError (a 500 with a 3000-line traceback) before
}


def _probe(world: World) -> tuple[str, str]:
    """Credentials of another user of the registry (the one who waits)."""
    return world.email("read"), world.tokens["read"]


def _page(world: World, path: str) -> requests.Response:
    return requests.get(world.server.url + path, auth=(world.email("admin"), world.tokens["admin"]), timeout=120)


@pytest.mark.parametrize("bomb", list(README_BOMBS))
def test_readme_bombs_on_the_npm_page(world: World, bomb: str) -> None:
    name = "readme-bomb"
    admin(world.server, "package", "create", f"{world.workspace}/{name}", "--type", "npm",
          "--repository", world.repository)
    npm = NpmHttp(world.server.url, world.workspace, NpmHttp.bearer(world.tokens["admin"]))
    document = publish_document(name, "1.0.0", manifest_extra={"readme": README_BOMBS[bomb]})
    assert npm.publish(name, document).status_code in (200, 201)
    path = f"/{world.workspace}/code/packages/npm/{name}"
    page = assert_no_stall(world.server.url, _probe(world), lambda: _page(world, path), what=f"README {bomb}")
    assert page.status_code == 200, page.text[:500]
    readme = re.search(r'<article class="readme">(.*?)</article>', page.text, re.DOTALL)
    assert readme is not None and ("**a" in readme.group(1) or "deep" in readme.group(1))
    again = assert_no_stall(world.server.url, _probe(world), lambda: _page(world, path), what="a second view")
    assert again.status_code == 200
