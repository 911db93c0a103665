"""The schema of release 0.1.0: every table as that release created it.

Statements are idempotent (IF NOT EXISTS): a database made by 0.1.0, which predates migrations,
goes through this step unchanged and is then recorded as migrated.
"""

from yoyo import step

from registry.storage.schema import run_statements

STATEMENTS = [
    # --- the server's own secrets (the bearer token signing key), shared by all replicas ---
    """CREATE TABLE IF NOT EXISTS server_secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
    # --- access model ---
    """CREATE TABLE IF NOT EXISTS workspaces (
        slug {ctext} PRIMARY KEY,
        created_at {float} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS projects (
        workspace {ctext} NOT NULL,
        key {ctext} NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (workspace, key))""",
    """CREATE TABLE IF NOT EXISTS repositories (
        id {pk},
        workspace {ctext} NOT NULL,
        slug {ctext} NOT NULL,
        project_key TEXT,
        created_at {float} NOT NULL,
        UNIQUE (workspace, slug))""",
    """CREATE TABLE IF NOT EXISTS users (
        email {ctext} PRIMARY KEY,
        created_at {float} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS roles (
        email {ctext} NOT NULL,
        repository_id BIGINT NOT NULL,
        role TEXT NOT NULL,
        PRIMARY KEY (email, repository_id))""",
    "CREATE INDEX IF NOT EXISTS roles_by_repository ON roles (repository_id)",
    """CREATE TABLE IF NOT EXISTS api_tokens (
        id TEXT PRIMARY KEY,
        email {ctext} NOT NULL,
        name TEXT NOT NULL,
        secret_hash TEXT NOT NULL UNIQUE,
        scopes TEXT NOT NULL,
        created_at {float} NOT NULL,
        expires_at {float},
        revoked_at {float},
        last_used_at {float})""",
    "CREATE INDEX IF NOT EXISTS api_tokens_by_email ON api_tokens (email)",
    """CREATE TABLE IF NOT EXISTS pipeline_tokens (
        id TEXT PRIMARY KEY,
        repository_id BIGINT NOT NULL,
        secret_hash TEXT NOT NULL UNIQUE,
        created_at {float} NOT NULL,
        expires_at {float} NOT NULL,
        revoked_at {float},
        last_used_at {float})""",
    """CREATE TABLE IF NOT EXISTS packages (
        id {pk},
        workspace {ctext} NOT NULL,
        type TEXT NOT NULL,
        name {ctext} NOT NULL,
        repository_id BIGINT NOT NULL,
        created_at {float} NOT NULL,
        updated_at {float} NOT NULL,
        UNIQUE (workspace, type, name))""",
    "CREATE INDEX IF NOT EXISTS packages_by_repository ON packages (repository_id)",
    # --- content (shared by every package type) ---
    """CREATE TABLE IF NOT EXISTS blobs (
        digest TEXT PRIMARY KEY,
        size BIGINT NOT NULL,
        created_at {float} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS package_blobs (
        package_id BIGINT NOT NULL,
        digest TEXT NOT NULL,
        linked_at {float} NOT NULL,
        PRIMARY KEY (package_id, digest))""",
    "CREATE INDEX IF NOT EXISTS package_blobs_by_digest ON package_blobs (digest)",
    """CREATE TABLE IF NOT EXISTS uploads (
        id TEXT PRIMARY KEY,
        package_id BIGINT NOT NULL,
        created_at {float} NOT NULL,
        updated_at {float} NOT NULL)""",
    # --- OCI ---
    """CREATE TABLE IF NOT EXISTS manifests (
        package_id BIGINT NOT NULL,
        digest TEXT NOT NULL,
        media_type TEXT NOT NULL,
        artifact_type TEXT,
        subject TEXT,
        size BIGINT NOT NULL,
        content {bytes} NOT NULL,
        created_at {float} NOT NULL,
        PRIMARY KEY (package_id, digest))""",
    "CREATE INDEX IF NOT EXISTS manifests_by_subject ON manifests (package_id, subject)",
    """CREATE TABLE IF NOT EXISTS manifest_refs (
        package_id BIGINT NOT NULL,
        manifest_digest TEXT NOT NULL,
        ref_digest TEXT NOT NULL,
        kind TEXT NOT NULL,
        PRIMARY KEY (package_id, manifest_digest, ref_digest))""",
    "CREATE INDEX IF NOT EXISTS manifest_refs_by_ref ON manifest_refs (package_id, ref_digest)",
    """CREATE TABLE IF NOT EXISTS tags (
        package_id BIGINT NOT NULL,
        name {ctext} NOT NULL,
        digest TEXT NOT NULL,
        updated_at {float} NOT NULL,
        PRIMARY KEY (package_id, name))""",
    "CREATE INDEX IF NOT EXISTS tags_by_digest ON tags (package_id, digest)",
    # --- npm ---
    """CREATE TABLE IF NOT EXISTS npm_packuments (
        package_id BIGINT PRIMARY KEY,
        rev BIGINT NOT NULL,
        created_at {float} NOT NULL,
        modified_at {float} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS npm_versions (
        package_id BIGINT NOT NULL,
        version {ctext} NOT NULL,
        manifest TEXT NOT NULL,
        readme TEXT,
        digest TEXT NOT NULL,
        integrity TEXT NOT NULL,
        shasum TEXT NOT NULL,
        size BIGINT NOT NULL,
        deprecated TEXT,
        created_at {float} NOT NULL,
        PRIMARY KEY (package_id, version))""",
    """CREATE TABLE IF NOT EXISTS npm_dist_tags (
        package_id BIGINT NOT NULL,
        tag {ctext} NOT NULL,
        version TEXT NOT NULL,
        PRIMARY KEY (package_id, tag))""",
    """CREATE TABLE IF NOT EXISTS npm_login_sessions (
        id_hash TEXT PRIMARY KEY,
        workspace TEXT NOT NULL,
        created_at {float} NOT NULL,
        sealed_token TEXT)""",
    # --- web UI sessions (the id is stored only as a hash; scopes are those of the token signed in with) ---
    """CREATE TABLE IF NOT EXISTS ui_sessions (
        id_hash TEXT PRIMARY KEY,
        email {ctext} NOT NULL,
        credential_id TEXT NOT NULL,
        scopes TEXT NOT NULL,
        created_at {float} NOT NULL,
        expires_at {float} NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS ui_sessions_by_expiry ON ui_sessions (expires_at)",
    # --- Maven: the files of each version (their bytes are content blobs); checksum files and
    # maven-metadata.xml are derived from these rows, never stored ---
    """CREATE TABLE IF NOT EXISTS maven_files (
        package_id BIGINT NOT NULL,
        version {ctext} NOT NULL,
        filename {ctext} NOT NULL,
        digest TEXT NOT NULL,
        size BIGINT NOT NULL,
        md5 TEXT NOT NULL,
        sha1 TEXT NOT NULL,
        sha512 TEXT NOT NULL,
        created_at {float} NOT NULL,
        PRIMARY KEY (package_id, version, filename))""",
    "CREATE INDEX IF NOT EXISTS maven_files_by_digest ON maven_files (package_id, digest)",
]


step(lambda conn: run_statements(conn, STATEMENTS))
