"""Where the npm registry and the Maven repository of a workspace are.

``REGISTRY`` names the Packages service. For Bitbucket's own (``crg.apkg.io``) the npm registry is
``https://npm.apkg.io/<workspace>/``, as Bitbucket documents it; its Maven repository URL is not
documented, so ``MAVEN_REPOSITORY`` is required there. For any other ``REGISTRY``, the bundled
registry's layout applies: ``<REGISTRY>/npm/<workspace>/`` and ``<REGISTRY>/maven/<workspace>/``.
``NPM_REGISTRY`` and ``MAVEN_REPOSITORY`` override.
"""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

from pipe.errors import PipeError
from pipe.oci.reference import Registry, is_loopback

BITBUCKET_REGISTRY = "crg.apkg.io"
BITBUCKET_NPM = "https://npm.apkg.io/{workspace}/"


def is_bitbucket(registry: Registry) -> bool:
    return registry.host == BITBUCKET_REGISTRY


def checked_url(value: str, variable: str, insecure: bool) -> str:
    """An endpoint URL given by the user, ending in ``/``: http(s), no credentials in it."""
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PipeError(f"{variable} {value!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise PipeError(f"{variable} must not hold credentials: the pipe sends them itself")
    if parts.query or parts.fragment:
        raise PipeError(f"{variable} {value!r} must not have a query or fragment")
    if parts.scheme == "http" and not insecure and not is_loopback(parts.hostname):
        raise PipeError(f"{variable} {value!r} uses plain http on a host that is not loopback: use https, "
                        "or set INSECURE: 'true' if you really mean it")
    return url if url.endswith("/") else url + "/"


def npm_registry(registry: Registry, workspace: str, override: str | None, insecure: bool) -> str:
    if override:
        return checked_url(override, "NPM_REGISTRY", insecure)
    if is_bitbucket(registry):
        return BITBUCKET_NPM.format(workspace=workspace)
    return f"{registry.base_url}/npm/{workspace}/"


def maven_repository(registry: Registry, workspace: str, override: str | None, insecure: bool) -> str:
    if override:
        return checked_url(override, "MAVEN_REPOSITORY", insecure)
    if is_bitbucket(registry):
        raise PipeError(f"Set MAVEN_REPOSITORY to the URL of the workspace's Maven repository (shown on its "
                        f"Packages page): the pipe does not know Bitbucket's Maven URL for {BITBUCKET_REGISTRY}. "
                        "With a bundled registry, set REGISTRY to it instead.")
    return f"{registry.base_url}/maven/{workspace}/"


BITBUCKET_PYPI = "https://pypi.apkg.io/{workspace}/"


def pypi_repository(registry: Registry, workspace: str, override: str | None, insecure: bool) -> str:
    """The upload URL of the workspace's PyPI index (its simple index is ``<it>simple/``)."""
    if override:
        return checked_url(override, "PYPI_REPOSITORY", insecure)
    if is_bitbucket(registry):
        return BITBUCKET_PYPI.format(workspace=workspace)
    return f"{registry.base_url}/pypi/{workspace}/"


def loopback_scheme(value: str, timeout: float = 2.0) -> str | None:
    """``http`` for a ``REGISTRY`` given as ``host:port`` without a scheme, on loopback, that does not speak
    TLS (a registry started for tests or a local mirror); None when nothing needs changing.

    As docker does for registries on 127.0.0.0/8: try https first, then plain http.
    """
    text = value.strip()
    if "://" in text:
        return None
    parts = urlsplit(f"//{text}")
    try:
        host, port = parts.hostname, parts.port or 443
    except ValueError:
        return None
    if not host or not is_loopback(host):
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=host):
            return None  # it speaks TLS: https as usual
    except ssl.SSLError:
        return "http"
    except OSError:
        return None  # not reachable at all: the push says so, naming REGISTRY
