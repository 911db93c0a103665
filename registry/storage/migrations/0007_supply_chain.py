"""Supply chain (0.x): the public keys a workspace trusts for cosign signatures, and per container
package whether a pull requires a signature by one of them (registry/trust.py)."""

from yoyo import step

from registry.storage.schema import run_statements

STATEMENTS = [
    # PEM public keys (ECDSA P-256, as `cosign generate-key-pair` writes cosign.pub): public by nature,
    # so they may live in the database (unlike the registry's own signing keys).
    """CREATE TABLE trusted_keys (
        id {pk},
        workspace {ctext} NOT NULL,
        name TEXT NOT NULL,
        public_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at {float} NOT NULL)""",
    "CREATE UNIQUE INDEX trusted_keys_by_fingerprint ON trusted_keys (workspace, fingerprint)",
    # A row per package that has a policy; none means no policy (pulls need no signature).
    """CREATE TABLE signature_policies (
        package_id BIGINT PRIMARY KEY,
        require_signature INTEGER NOT NULL,
        updated_at {float} NOT NULL)""",
]

__depends__ = {"0001_initial"}

step(lambda conn: run_statements(conn, STATEMENTS))
