"""The docker engine at DOCKER_HOST: inspect and save over its HTTP API (pipe/build/docker_api.py), builds
and pulls through the docker SDK's low-level client, imported only for them.

Builds use the classic builder (no BuildKit, buildx, ``--platform`` or ``RUN --mount``: Pipelines
disables them) and stream their output line by line to ``log``.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipe.build.docker_api import EngineAPI, EngineRefused, EngineUnreachable
from pipe.build.errors import BuildFailed, ImageError
from pipe.oci.auth import Credentials

if TYPE_CHECKING:
    import docker

    from pipe.build.docker_save import IterReader

SAVE_CHUNK = 1024 * 1024


@dataclass
class ImageInfo:
    id: str  # the config's digest
    diff_ids: list[str]
    repo_digests: list[str] = field(default_factory=list)
    size: int = 0
    created: str | None = None  # the config's created time


@dataclass
class BuildRequest:
    context: Path
    dockerfile: Path | None = None
    tag: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    cache_from: list[str] = field(default_factory=list)
    pull: bool = False
    no_cache: bool = False


class Engine:
    def __init__(self, timeout: float = 600.0) -> None:
        self.timeout = timeout
        try:
            self.engine = EngineAPI(timeout=timeout)
        except EngineUnreachable as exc:
            raise ImageError(self._unreachable(exc)) from None
        self.host = self.engine.host
        self._sdk: docker.APIClient | None = None
        self._auths: dict[str, dict[str, str]] = {}

    def _unreachable(self, exc: Exception) -> str:
        return (f"cannot reach the docker engine at {self.host} ({type(exc).__name__}). In Pipelines, add "
                "`services: [docker]` to the step; with `docker run`, mount the socket "
                "(-v /var/run/docker.sock:/var/run/docker.sock) or set DOCKER_HOST")

    @property
    def api(self) -> docker.APIClient:
        """The docker SDK's client, for builds and pulls."""
        if self._sdk is None:
            import docker

            try:
                self._sdk = docker.APIClient(version="auto", timeout=self.timeout, **docker.utils.kwargs_from_env())
            except docker.errors.DockerException as exc:
                raise ImageError(self._unreachable(exc)) from None
            if self._auths:
                self._sdk._auth_configs = docker.auth.AuthConfig({"auths": dict(self._auths)})
        return self._sdk

    def add_registry_auth(self, netloc: str, credentials: Credentials | None) -> None:
        """Let builds and pulls reach the target registry (for FROM and CACHE_FROM images there)."""
        if credentials is None:
            return
        self._auths[netloc] = {"username": credentials.username, "password": credentials.password}
        if self._sdk is not None:
            import docker

            if self._sdk._auth_configs is None or self._sdk._auth_configs.is_empty:
                self._sdk._auth_configs = docker.auth.AuthConfig({"auths": {}})
            self._sdk._auth_configs.add_auth(netloc, self._auths[netloc])

    def build(self, request: BuildRequest, log: Callable[[str], None]) -> str:
        """Build; return the image ID."""
        import docker
        import requests

        image_id = None
        try:
            stream = self.api.build(
                path=str(request.context), dockerfile=str(request.dockerfile) if request.dockerfile else None,
                tag=request.tag, buildargs=request.build_args or None, target=request.target or None,
                labels=request.labels or None, cache_from=request.cache_from or None, pull=request.pull,
                nocache=request.no_cache, rm=True, forcerm=True, decode=True)
            for item in stream:
                if "error" in item:
                    detail = (item.get("errorDetail") or {}).get("message") or item["error"]
                    raise BuildFailed(f"docker build failed: {str(detail).strip()}")
                if "stream" in item:
                    for line in str(item["stream"]).splitlines():
                        if line.strip():
                            log(line.rstrip())
                elif "status" in item:
                    log(" ".join(str(item[k]) for k in ("id", "status", "progress") if item.get(k)))
                aux = item.get("aux")
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = str(aux["ID"])
        except docker.errors.APIError as exc:
            raise BuildFailed(f"docker build failed: {exc.explanation or exc}") from None
        except (requests.ConnectionError, docker.errors.DockerException) as exc:
            raise ImageError(self._unreachable(exc)) from None
        if image_id is None:
            if request.tag:
                return self.inspect(request.tag).id
            raise BuildFailed("docker build finished without naming the image it built")
        return image_id

    def inspect(self, image: str) -> ImageInfo:
        try:
            data: dict[str, Any] = self.engine.inspect_image(image)
        except EngineRefused as exc:
            if exc.status == 404:
                raise ImageError(f"the docker engine has no image {image!r}: build or pull it first, "
                                 "or leave IMAGE unset to build from the Dockerfile") from None
            raise ImageError(f"docker could not inspect {image!r}: {exc.message}") from None
        except EngineUnreachable as exc:
            raise ImageError(self._unreachable(exc)) from None
        rootfs = data.get("RootFS") or {}
        return ImageInfo(str(data["Id"]), list(rootfs.get("Layers") or []), list(data.get("RepoDigests") or []),
                         int(data.get("Size") or 0), data.get("Created") or None)

    def save(self, image: str) -> IterReader:
        """``docker save`` as a readable stream."""
        from pipe.build.docker_save import IterReader

        try:
            response = self.engine.save(image)
        except EngineRefused as exc:
            raise ImageError(f"docker could not save {image!r}: {exc.message}") from None
        except EngineUnreachable as exc:
            raise ImageError(self._unreachable(exc)) from None
        return IterReader(_chunks(response))

    def pull(self, reference: str) -> bool:
        """Pull quietly; False when it fails (a missing cache image is not an error)."""
        import docker

        try:
            for _ in self.api.pull(reference, stream=True, decode=True):
                pass
            self.api.inspect_image(reference)
        except docker.errors.DockerException:
            return False
        return True

    def close(self) -> None:
        if self._sdk is not None:
            self._sdk.close()


def _chunks(response: Any) -> Iterator[bytes]:
    """The save stream's bytes; a connection that drops midway is the engine's failure, not a short tar."""
    try:
        while chunk := response.read(SAVE_CHUNK):
            yield chunk
    except (OSError, http.client.HTTPException) as exc:
        raise ImageError(f"the docker engine's save stream broke off ({type(exc).__name__}: {exc})") from None
    finally:
        response.close()
