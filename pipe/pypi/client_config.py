"""ACTION: configure for Python clients: ``.pypirc`` (twine), ``pip.conf`` (pip, and uv through
``UV_INDEX_URL``-style variables the log tells how to set), both holding the token and so written
owner-only by the caller; the environment for uv and Poetry is printed as commands that read the
token from ``$BITBUCKET_PACKAGES_TOKEN``, never the token itself."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from pipe.oci.auth import Credentials

PYPIRC, PIPCONF = ".pypirc", "pip.conf"
SECTION = "bitbucket-packages"


def _index_with_credentials(index_url: str, credentials: Credentials) -> str:
    parts = urlsplit(index_url)
    userinfo = f"{quote(credentials.username, safe='')}:{quote(credentials.password, safe='')}"
    return f"{parts.scheme}://{userinfo}@{parts.netloc}{parts.path}"


def pypirc(upload_url: str, credentials: Credentials) -> bytes:
    return (f"[distutils]\nindex-servers =\n    {SECTION}\n\n[{SECTION}]\nrepository = {upload_url}\n"
            f"username = {credentials.username}\npassword = {credentials.password}\n").encode()


def pip_conf(index_url: str, credentials: Credentials) -> bytes:
    return f"[global]\nindex-url = {_index_with_credentials(index_url, credentials)}\n".encode()


def usage_lines(upload_url: str, index_url: str, credentials: Credentials, clone: str) -> list[str]:
    """What to run in later commands of the step (the token stays in $BITBUCKET_PACKAGES_TOKEN)."""
    name = SECTION.upper().replace("-", "_")
    user = credentials.username
    return [
        f"pip: export PIP_CONFIG_FILE={clone}/{PIPCONF} (then pip install as usual)",
        f"twine: twine upload --config-file {PYPIRC} -r {SECTION} dist/*",
        (f"uv: export UV_DEFAULT_INDEX={SECTION}={index_url} UV_INDEX_{name}_USERNAME={user} "
         f"UV_INDEX_{name}_PASSWORD=$BITBUCKET_PACKAGES_TOKEN (uv publish --publish-url {upload_url} "
         f"-u {user} -p $BITBUCKET_PACKAGES_TOKEN)"),
        (f"Poetry: export POETRY_REPOSITORIES_{name}_URL={upload_url} POETRY_HTTP_BASIC_{name}_USERNAME={user} "
         f"POETRY_HTTP_BASIC_{name}_PASSWORD=$BITBUCKET_PACKAGES_TOKEN (poetry publish -r {SECTION})"),
    ]
