"""Upload leases (0.2): an upload session that is receiving bytes holds a lease, renewed while the
bytes arrive, that garbage collection respects whatever its grace period (registry/content.py).
"""

from yoyo import step

from registry.storage.schema import run_statements

STATEMENTS = [
    "ALTER TABLE uploads ADD COLUMN lease_until {float} NOT NULL DEFAULT 0",
]

__depends__ = {"0001_initial"}

step(lambda conn: run_statements(conn, STATEMENTS))
