"""PyPI: the files of Python packages (their bytes, and each wheel's core metadata, are content blobs)."""

from yoyo import step

from registry.storage.schema import run_statements

STATEMENTS = [
    # One row per version: the release's metadata, taken from its first file (wheel METADATA or
    # sdist PKG-INFO), as warehouse's JSON API serves it.
    """CREATE TABLE pypi_versions (
        package_id BIGINT NOT NULL,
        version {ctext} NOT NULL,
        metadata TEXT NOT NULL,
        description TEXT,
        description_content_type TEXT,
        requires_python TEXT,
        created_at {float} NOT NULL,
        PRIMARY KEY (package_id, version))""",
    # One row per file. A filename is unique within a project (as on PyPI: never reused).
    """CREATE TABLE pypi_files (
        package_id BIGINT NOT NULL,
        filename {ctext} NOT NULL,
        version {ctext} NOT NULL,
        packagetype TEXT NOT NULL,
        python_version TEXT NOT NULL,
        requires_python TEXT,
        digest TEXT NOT NULL,
        size BIGINT NOT NULL,
        md5 TEXT NOT NULL,
        blake2_256 TEXT NOT NULL,
        metadata_digest TEXT,
        yanked_reason TEXT,
        yanked_at {float},
        uploaded_by TEXT NOT NULL,
        created_at {float} NOT NULL,
        PRIMARY KEY (package_id, filename))""",
    "CREATE INDEX pypi_files_by_version ON pypi_files (package_id, version)",
    "CREATE INDEX pypi_files_by_digest ON pypi_files (package_id, digest)",
    "CREATE INDEX pypi_files_by_metadata ON pypi_files (package_id, metadata_digest)",
]

step(lambda conn: run_statements(conn, STATEMENTS))
