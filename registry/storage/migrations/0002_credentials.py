"""Credentials hardening (0.2): tokens made with a token remember their parent (revoked with it), and
upload sessions remember the credential that opened them (capped per credential).

The signing key that 0.1.0 kept in server_secrets is moved out by the server on start
(registry/access/signing_keys.py: it needs the data dir, which a migration does not know).
"""

from yoyo import step

from registry.storage.schema import run_statements

STATEMENTS = [
    "ALTER TABLE api_tokens ADD COLUMN parent_id TEXT",
    "CREATE INDEX IF NOT EXISTS api_tokens_by_parent ON api_tokens (parent_id)",
    "ALTER TABLE uploads ADD COLUMN credential_id TEXT",
    "CREATE INDEX IF NOT EXISTS uploads_by_credential ON uploads (credential_id, updated_at)",
    "CREATE INDEX IF NOT EXISTS uploads_by_package ON uploads (package_id, updated_at)",
]

__depends__ = {"0001_initial"}

step(lambda conn: run_statements(conn, STATEMENTS))
