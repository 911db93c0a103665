"""Server settings, from the command line (and PACKAGES_REGISTRY_* environment variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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
    # serve: run the online collector every this many seconds (one replica at a time); 0 = never.
    gc_interval: float = 86400.0
    # Backends under faults (docs/running.md): how long a statement, a connection or an object store
    # call may take before the request is answered 503; PostgreSQL connections per server process;
    # free bytes blob writes leave on the data dir's disk, so metadata commits still fit when blobs
    # fill it.
    backend_timeout: float = 5.0
    db_pool_size: int = 8
    reserve_bytes: int = 64 * 1024 * 1024
    pypi_max_file_bytes: int = 1024**3  # PyPI: the largest file an upload may bring
    # Resumable upload sessions (registry/content.py UploadLimits): caps, and when an unused one expires.
    max_uploads_per_credential: int = 100
    max_uploads_per_package: int = 200
    upload_idle_seconds: float = 3600.0
    # Slow clients (registry/connection_timeouts.py): seconds for a request head, seconds a body may
    # stall (and its grace before the minimum rate, in bytes a second, applies), idle keep-alive seconds.
    header_timeout: float = 30.0
    body_timeout: float = 60.0
    body_min_rate: float = 500.0
    keepalive_timeout: float = 75.0

    # Bearer-token signing keys: a key file or a directory of <kid>.key files (replicas share it);
    # default: DATA/keys, made on first start (registry/access/signing_keys.py).
    signing_key_file: str | None = field(default_factory=lambda: os.environ.get("PACKAGES_REGISTRY_SIGNING_KEY_FILE"))
    # How long deleted workspaces, repositories and packages are kept (restorable, names reserved)
    # before they are purged (registry/lifecycle.py).
    retention_days: float = 30.0
    # Lifecycle policies (docs/policies.md): how often the server applies retention policies and samples
    # storage for metering (0: never), which fraction of pulls the audit log records, and for how long
    # audit entries are kept.
    retention_interval: float = 3600.0
    usage_sample_interval: float = 300.0
    audit_pulls: float = 0.0
    audit_days: float = 90.0
    # Storage (see registry/storage/factory.py): SQLite and local disk under data_dir by default;
    # "postgresql://..." and "s3://bucket/prefix" when a team runs several replicas.
    database_url: str | None = field(default_factory=lambda: os.environ.get("PACKAGES_REGISTRY_DATABASE"))
    blob_url: str | None = field(default_factory=lambda: os.environ.get("PACKAGES_REGISTRY_BLOBS"))
    s3_endpoint: str | None = field(default_factory=lambda: os.environ.get("PACKAGES_REGISTRY_S3_ENDPOINT"))
    s3_region: str = field(default_factory=lambda: os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
