"""The services one running registry is made of, wired once at start-up and shared by all handlers."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from registry.access.controller import AccessController
from registry.access.jwt_tokens import TokenService
from registry.access.store import AccessStore
from registry.content import ContentService
from registry.lifecycle import Lifecycle
from registry.settings import Settings
from registry.storage.blobs import BlobStore
from registry.storage.database import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    blobs: BlobStore
    content: ContentService
    access: AccessStore
    controller: AccessController
    tokens: TokenService
    lifecycle: Lifecycle


SERVICES = web.AppKey("services", Services)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]
