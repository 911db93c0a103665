"""Where the registry is, and what an image reference names."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from pipe.oci.errors import InvalidReference
from vocab.digests import is_digest
from vocab.names import is_valid_name, is_valid_tag


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Registry:
    """A registry's base URL: ``scheme://host[:port]``."""

    scheme: str
    netloc: str  # host[:port], as references spell it
    verify_tls: bool = True

    @classmethod
    def parse(cls, value: str, insecure: bool = False) -> Registry:
        """``crg.apkg.io``, ``https://host:port`` or ``http://127.0.0.1:5000``.

        Plain http is accepted for a registry on loopback, or anywhere when ``insecure`` is set;
        with ``insecure`` an https registry's certificate is not verified either.
        """
        text = (value or "").strip().rstrip("/")
        if not text:
            raise InvalidReference("REGISTRY is empty")
        if "://" not in text:
            text = ("http://" if insecure else "https://") + text
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidReference(f"REGISTRY {value!r} is not a registry host or an http(s) URL")
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
            raise InvalidReference(f"REGISTRY {value!r} must be a host or scheme://host[:port], with no path")
        if parts.scheme == "http" and not insecure and not is_loopback(parts.hostname):
            raise InvalidReference(
                f"REGISTRY {value!r} uses plain http on a host that is not loopback: use https, "
                "or set INSECURE: 'true' if you really mean it")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise InvalidReference(f"REGISTRY {value!r}: {exc}") from None
        return cls(parts.scheme, parts.netloc.lower(), verify_tls=not insecure)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    @property
    def host(self) -> str:
        return self.netloc.rsplit(":", 1)[0] if not self.netloc.endswith("]") else self.netloc

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


@dataclass(frozen=True)
class Reference:
    """``registry/name:tag`` or ``registry/name@digest``."""

    registry: Registry
    name: str
    tag: str | None = None
    digest: str | None = None

    def __post_init__(self) -> None:
        if not is_valid_name(self.name):
            raise InvalidReference(
                f"{self.name!r} is not a valid image name: lower-case letters, digits and . _ - separators, "
                "components separated by /")
        if self.tag is not None and not is_valid_tag(self.tag):
            raise InvalidReference(
                f"{self.tag!r} is not a valid tag: up to 128 letters, digits, _ . and -, not starting with . or -")
        if self.digest is not None and not is_digest(self.digest):
            raise InvalidReference(f"{self.digest!r} is not a valid digest")

    @property
    def reference(self) -> str:
        """What goes after /manifests/ in a URL."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = f"{self.registry.netloc}/{self.name}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.name, None, digest)


def parse_image_reference(value: str) -> tuple[str | None, str, str | None, str | None]:
    """Split ``[host[:port]/]name[:tag][@digest]`` into (host, name, tag, digest), as docker reads it."""
    rest, _, digest = value.partition("@")
    host = None
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        host, rest = first, remainder
    name, tag = rest, None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        name, tag = rest[:colon], rest[colon + 1:]
    return host, name, tag, digest or None
