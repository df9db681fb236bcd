"""Creating and emptying test databases on SQLite or PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, make_url, text

from portal.extensions import db


def backend() -> str:
    return "postgresql" if os.environ.get("PORTAL_TEST_BACKEND") == "postgresql" else "sqlite"


def _server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        raise RuntimeError("PORTAL_TEST_BACKEND=postgresql needs TEST_DATABASE_URL")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    return url


@contextlib.contextmanager
def fresh_database(tmp_dir: Path, label: str) -> Iterator[str]:
    """A new, empty database for this test process; dropped again afterwards."""
    if backend() == "sqlite":
        yield f"sqlite:///{tmp_dir / f'portal-{label}.sqlite3'}"
        return
    import psycopg

    server = make_url(_server_url())
    name = f"portal_test_{label}_{secrets.token_hex(4)}".lower()
    admin = server.set(drivername="postgresql", database=server.database or "postgres")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_all_tables(engine: Engine) -> None:
    """Delete every row, children before parents, and start the ids at 1 again.

    On PostgreSQL this deletes rather than TRUNCATEs: TRUNCATE gives each of the three dozen
    tables new files, which took a second per test on a busy server against a tenth of that
    for deleting the few rows a test leaves. Resetting every sequence in the schema does what
    TRUNCATE's RESTART IDENTITY did; SQLite starts ids after the largest one left, so at 1.
    """
    with engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "SELECT setval(c.oid, 1, false) FROM pg_class c"
                    " WHERE c.relkind = 'S' AND c.relnamespace = current_schema()::regnamespace"
                )
            )
