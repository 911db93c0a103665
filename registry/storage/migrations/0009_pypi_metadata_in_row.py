"""PyPI: a wheel's core metadata file (PEP 658) kept in its file's row.

It is a few kilobytes taken from the wheel: written with the row, it is durable with the commit that
records the file, where as a blob of its own it took a file, a sync and a directory sync more per
upload. Files uploaded before keep their metadata blob (``metadata_file`` NULL): both are served.
"""

from yoyo import step

from registry.storage.schema import run_statements

STATEMENTS = [
    "ALTER TABLE pypi_files ADD COLUMN metadata_file {bytes}",
]

step(lambda conn: run_statements(conn, STATEMENTS))
