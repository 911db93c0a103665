"""Retention policies, immutable tags, workspace plans, usage metering and the audit log."""

from yoyo import step

from registry.storage.schema import run_statements

STATEMENTS = [
    # A storage limit per workspace (no row, or a NULL limit: unlimited).
    """CREATE TABLE IF NOT EXISTS workspace_plans (
        workspace {ctext} PRIMARY KEY,
        storage_limit BIGINT,
        updated_at {float} NOT NULL)""",
    # Retention policies of one package (package_id) or of every package of a repository (repository_id).
    """CREATE TABLE IF NOT EXISTS retention_policies (
        id {pk},
        workspace {ctext} NOT NULL,
        package_id BIGINT,
        repository_id BIGINT,
        kind TEXT NOT NULL,
        pattern TEXT,
        keep_count BIGINT,
        older_than_days {float},
        created_at {float} NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS retention_policies_by_workspace ON retention_policies (workspace)",
    # Tag patterns of a container package whose tags cannot be moved or deleted once pushed.
    """CREATE TABLE IF NOT EXISTS immutable_tags (
        package_id BIGINT NOT NULL,
        pattern {ctext} NOT NULL,
        created_at {float} NOT NULL,
        PRIMARY KEY (package_id, pattern))""",
    # The running count of each workspace's stored bytes: made exact by a recount (SUM over its blobs),
    # raised by each blob a commit adds, made exact again periodically and before a push is refused.
    """CREATE TABLE IF NOT EXISTS workspace_usage (
        workspace {ctext} PRIMARY KEY,
        stored_bytes BIGINT NOT NULL,
        counted_at {float} NOT NULL)""",
    # Metering: byte-seconds of stored content per workspace and calendar month (UTC), and the last
    # sample each was counted from.
    """CREATE TABLE IF NOT EXISTS usage_meter (
        workspace {ctext} NOT NULL,
        month TEXT NOT NULL,
        byte_seconds {float} NOT NULL,
        PRIMARY KEY (workspace, month))""",
    """CREATE TABLE IF NOT EXISTS usage_samples (
        workspace {ctext} PRIMARY KEY,
        sampled_at {float} NOT NULL,
        stored_bytes BIGINT NOT NULL)""",
    # When each periodic job last ran, shared by every worker and replica so only one runs it.
    """CREATE TABLE IF NOT EXISTS periodic_runs (
        name TEXT PRIMARY KEY,
        ran_at {float} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS audit_log (
        id {pk},
        at {float} NOT NULL,
        action TEXT NOT NULL,
        outcome TEXT NOT NULL,
        workspace {ctext},
        repository TEXT,
        package TEXT,
        target TEXT,
        actor TEXT NOT NULL,
        credential TEXT,
        address TEXT,
        detail TEXT)""",
    "CREATE INDEX IF NOT EXISTS audit_log_by_time ON audit_log (at)",
    "CREATE INDEX IF NOT EXISTS audit_log_by_workspace ON audit_log (workspace, at)",
]


step(lambda conn: run_statements(conn, STATEMENTS))
