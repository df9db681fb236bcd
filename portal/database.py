"""Engine set-up that differs by database: SQLite pragmas and write transactions."""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from typing import Any, cast

from flask import Flask, g, request
from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.sql.expression import Executable

from portal.extensions import Base, db

# Whether the current unit of work may write. GET and HEAD requests read only, so their
# transactions begin DEFERRED and run alongside each other; everything else (POSTs, CLI
# commands, tests) begins IMMEDIATE and takes SQLite's write lock up front, so two writers
# queue on the busy timeout instead of failing with "database is locked" on upgrade.
_writes = contextvars.ContextVar("portal_writes", default=True)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_HOLDS_WRITER_LOCK = "portal_holds_writer_lock"


@contextlib.contextmanager
def read_only() -> Iterator[None]:
    """Run slow reads (a password check) in a transaction of their own that writes nothing.

    On SQLite a POST's transaction begins IMMEDIATE and holds the database's single write lock
    until it ends; checking a password inside it would make every writer on the site wait for
    argon2. Inside this block the transaction begins DEFERRED and it ends on leaving, so the
    writes that follow start a fresh, short IMMEDIATE one. Objects loaded inside are expired
    on the way out and reload on first use.
    """
    session = db.session
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("read_only() would commit pending writes; flush them first")
    session.commit()  # end any transaction already open (it wrote nothing)
    token = _writes.set(False)
    try:
        yield
    finally:
        _writes.reset(token)
        session.commit()


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """Write from a page that is only read (a GET), in a short transaction of its own.

    For the few writes a reader's own visit makes (their notifications marked read). The read
    transaction ends first; the writes then begin IMMEDIATE, as a POST's do, so on SQLite they
    queue for the write lock instead of failing on upgrade, and they are committed on leaving.
    """
    session = db.session
    session.commit()  # end the read transaction (it wrote nothing)
    token = _writes.set(True)
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        _writes.reset(token)


def configure_database(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])

    @app.before_request
    def _mark_read_only_requests() -> None:
        g._writes_token = _writes.set(request.method not in SAFE_METHODS)

    @app.teardown_request
    def _reset_write_mark(_exc: BaseException | None) -> None:
        token = g.pop("_writes_token", None)
        if token is not None:
            _writes.reset(token)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        # dbapi_connection is the driver's own (sqlite3) connection, untyped by SQLAlchemy.
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    writer = WriterLock(engine.url.database, busy_timeout_ms / 1000)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if not _writes.get():
            connection.exec_driver_sql("BEGIN")
            return
        connection.info[_HOLDS_WRITER_LOCK] = writer.acquire()
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _end(connection)
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _end(connection: Connection) -> None:
        if connection.info.pop(_HOLDS_WRITER_LOCK, False):
            writer.release()


class WriterLock:
    """The turn to write to one SQLite file, taken before BEGIN IMMEDIATE.

    SQLite lets one writer in at a time and makes the others poll, sleeping 1, 2, 5, 10... up to
    100 ms between tries: under load the lock sits free while writers sleep, and a writer can
    lose every race for seconds. Here the threads of a process queue on a thread lock, and the
    processes (gunicorn workers) on a lock file beside the database, tried every millisecond.
    After the busy timeout a writer goes ahead anyway, and SQLite decides as before.
    """

    def __init__(self, database: str | None, timeout: float) -> None:
        self._threads = threading.Lock()
        self._path = f"{database}-writer.lock" if database not in (None, "", ":memory:") else None
        self._timeout = timeout
        self._fd: int | None = None  # the lock file, open while this process holds the turn

    def acquire(self) -> bool:
        """True when the turn was taken (call release()), False after the timeout."""
        deadline = time.monotonic() + self._timeout
        if not self._threads.acquire(timeout=self._timeout):
            return False
        if self._path is not None:
            # Opened for each turn: closing it lets go, and a forked worker shares nothing.
            try:
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:  # no lock file where the database is: SQLite decides alone
                return True
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        break  # SQLite's busy timeout has the last word
                    time.sleep(0.001)
            self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._threads.release()


def insert_ignoring_duplicates(model: type[Base], **values: Any) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when a row was added.

    The unique constraint, not a check in Python, decides: two requests at once add one row.
    """
    # RETURNING, not rowcount: through the ORM, psycopg's rowcount for this is not reliable.
    stmt = (
        upsert(model)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(*_table(model).primary_key.columns)
    )
    return db.session.execute(stmt).first() is not None


def upsert(model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """INSERT for model with this database's ON CONFLICT clauses."""
    if db.session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(_table(model))
    return sqlite.insert(_table(model))


def _table(model: type[Base]) -> Table:
    table = model.__table__  # typed as any FROM clause; a mapped class here always has a Table
    assert isinstance(table, Table)
    return table


def rows_affected(stmt: Executable) -> int:
    """Run an UPDATE or DELETE and say how many rows it changed.

    Session.execute is typed to return a plain Result; for DML it is a CursorResult, the one
    that carries rowcount. (For INSERT ... ON CONFLICT use RETURNING, as above: psycopg's
    rowcount for those is not reliable through the ORM.)
    """
    result = cast(CursorResult[Any], db.session.execute(stmt))
    return result.rowcount or 0
