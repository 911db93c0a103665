"""Server settings, from the command line (and PACKAGES_REGISTRY_* environment variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_data_dir() -> Path:
    if env := os.environ.get("PACKAGES_REGISTRY_DATA"):
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "packages-registry"


@dataclass
class Settings:
    data_dir: Path
    # The URL clients reach the server at (for token realms and npm tarball URLs); derived from
    # each request's Host header when unset.
    public_url: str | None = None
    service: str = "packages-registry"
    auto_create: bool = False  # link unknown packages to the pushing pipeline token's repository
    delete_enabled: bool = True
    allow_redeploy: bool = False  # Maven: allow overwriting release files
    gc_grace_seconds: float = 3600.0
    # Storage backends: "local" (blobs on disk) / "s3"; "sqlite" / "postgres".
    blob_backend: str = "local"
    metadata_backend: str = "sqlite"
    s3_endpoint: str | None = None
    s3_bucket: str | None = None
    s3_region: str = "us-east-1"
    postgres_dsn: str | None = None
