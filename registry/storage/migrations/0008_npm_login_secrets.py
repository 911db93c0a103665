"""npm web login with two secrets: the login page's and npm's own, and the client that opened it.

A session is found by the hash of the secret in the done URL (``id_hash``, as before) or of the one
in the login URL (``login_hash``); ``wrapped_key`` is the key that seals the waiting token, wrapped so
that only the login URL's secret opens it. Sessions opened before this step, which have neither,
are dropped: they live ten minutes anyway, and npm opens a new one on the next ``npm login``.
"""

from yoyo import step

from registry.storage.schema import run_statements

STATEMENTS = [
    "DELETE FROM npm_login_sessions",
    "ALTER TABLE npm_login_sessions ADD COLUMN login_hash TEXT",
    "ALTER TABLE npm_login_sessions ADD COLUMN wrapped_key TEXT",
    "ALTER TABLE npm_login_sessions ADD COLUMN client TEXT",
    "CREATE INDEX IF NOT EXISTS npm_login_sessions_by_login ON npm_login_sessions (login_hash)",
    "CREATE INDEX IF NOT EXISTS npm_login_sessions_by_client ON npm_login_sessions (workspace, client)",
]


step(lambda conn: run_statements(conn, STATEMENTS))
