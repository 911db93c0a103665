"""Deletion with retention, and collectable untagged manifests.

``deleted_at`` on workspaces, repositories and packages: set when one is deleted, cleared when it is
restored, NULL while it lives. A package is gone while its own, its repository's or its workspace's
``deleted_at`` is set; ``purge`` removes the rows once the retention period has passed.

``manifests.untagged_at``: when a manifest lost its last tag (a tag moved away or deleted). Garbage
collection removes such a manifest once it is older than the grace period and nothing refers to it;
a manifest pushed by digest only (NULL) stays until whatever it belonged to goes.
"""

from yoyo import step

from registry.storage.schema import run_statements

STATEMENTS = [
    "ALTER TABLE workspaces ADD COLUMN deleted_at {float}",
    "ALTER TABLE repositories ADD COLUMN deleted_at {float}",
    "ALTER TABLE packages ADD COLUMN deleted_at {float}",
    "ALTER TABLE manifests ADD COLUMN untagged_at {float}",
]

step(lambda conn: run_statements(conn, STATEMENTS))
