"""How the app uses its database: SQLite settings, write locking, reconnecting, UTC timestamps."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func, make_url, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from portal.extensions import db
from portal.models import AuditEvent, User
from portal.services import audit
from portal.services.settings import get_setting, set_setting

from . import dbutil
from .conftest import DEFAULT_PASSWORD, sign_in_client

sqlite_only = pytest.mark.skipif(dbutil.backend() != "sqlite", reason="SQLite settings")
postgresql_only = pytest.mark.skipif(
    dbutil.backend() != "postgresql", reason="needs a PostgreSQL server"
)


def sqlite_path(app) -> str:
    return make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database


# SQLite connection settings (checklist item 26)


@sqlite_only
def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(app):
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_foreign_keys_are_enforced(app, make_user):
    user = make_user()
    db.session.add(
        AuditEvent(action="test", actor_id=user.id + 10_000, detail={})  # no such user
    )
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        db.session.commit()
    db.session.rollback()


# Read and write transactions


@pytest.fixture
def begin_statements(app):
    """The BEGIN statements the app sends, in order."""
    seen: list[str] = []

    def before(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("BEGIN"):
            seen.append(" ".join(statement.split()).upper())

    event.listen(db.engine, "before_cursor_execute", before)
    yield seen
    event.remove(db.engine, "before_cursor_execute", before)


@sqlite_only
def test_get_request_begins_deferred_and_post_begins_immediate(client, begin_statements):
    response = client.get("/guidelines")
    assert response.status_code == 200
    assert begin_statements == ["BEGIN"]

    begin_statements.clear()
    response = client.post("/password/forgot", data={"email": "nobody@example.com"})
    assert response.status_code == 303
    assert begin_statements
    assert set(begin_statements) == {"BEGIN IMMEDIATE"}


@sqlite_only
def test_signed_in_page_view_begins_deferred(client, login_as, begin_statements):
    login_as("customer")
    begin_statements.clear()

    assert client.get("/account").status_code == 200
    assert begin_statements
    assert set(begin_statements) == {"BEGIN"}


@sqlite_only
class TestWhileAnotherWriterHoldsTheLock:
    """A second process (another gunicorn worker) is in the middle of a write transaction."""

    @pytest.fixture
    def app_config(self, app_config):
        # Short, so a wrongly locking read fails fast instead of waiting 15 seconds.
        return {**app_config, "SQLITE_BUSY_TIMEOUT_MS": 300}

    @pytest.fixture
    def other_writer(self, app):
        """Another connection to the same file, as another worker process would have."""
        conn = sqlite3.connect(
            sqlite_path(app), isolation_level=None, timeout=5, check_same_thread=False
        )
        yield conn
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()

    def test_pages_still_render(self, client, make_user, other_writer):
        user = make_user(display_name="Reader Person")
        sign_in_client(client, user)
        other_writer.execute("BEGIN IMMEDIATE")

        assert client.get("/guidelines").status_code == 200
        response = client.get("/account")
        assert response.status_code == 200
        assert b"Reader Person" in response.data

    def test_a_post_takes_the_write_lock_before_it_reads(self, client, other_writer):
        other_writer.execute("BEGIN IMMEDIATE")

        # (Sign-in is the exception: it checks the password first, reading only; see
        # test_sign_in_checks_the_password_without_holding_the_write_lock.)
        with pytest.raises(OperationalError, match="database is locked") as caught:
            client.post(
                "/sign-up",
                data={
                    "email": "a@example.com",
                    "display_name": "A Person",
                    "password": "a long enough passphrase",
                    "accept_guidelines": "y",
                },
            )
        assert caught.value.statement == "BEGIN IMMEDIATE"

    def test_a_post_waits_for_the_other_writer_to_finish(self, client, other_writer):
        other_writer.execute("BEGIN IMMEDIATE")
        other_writer.execute(
            "INSERT INTO audit_events (created_at, action, detail) VALUES (?, ?, ?)",
            ("2024-01-01 00:00:00.000000", "other.worker", "{}"),
        )
        release = threading.Timer(0.1, other_writer.execute, args=("COMMIT",))
        release.start()
        try:
            response = client.post(
                "/sign-in", data={"email": "a@example.com", "password": "wrong one"}
            )
        finally:
            release.join()

        assert response.status_code == 200
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions[0] == "other.worker"
        assert len(actions) == 2  # the failed sign-in's own row, written after the wait


# Concurrent writers (checklist items 25 and 26)


def test_concurrent_read_then_write_transactions_never_report_locked(app):
    """Eight workers each read, then write, ten times at once: every write lands."""
    workers, rounds = 8, 10
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with app.app_context():
                start.wait(timeout=10)
                for i in range(rounds):
                    # The read first is what breaks deferred transactions on SQLite: the
                    # upgrade to a write lock fails at once with "database is locked".
                    db.session.scalar(select(func.count()).select_from(AuditEvent))
                    audit.record("test.concurrent", actor=None, ip=None, worker=n, round=i)
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert not any(t.is_alive() for t in threads)
    assert errors == []
    count = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "test.concurrent")
    )
    assert count == workers * rounds


def test_concurrent_updates_of_one_row_all_land(app):
    """Read-modify-write of a setting under concurrency: no lost updates, no lock errors."""
    workers = 6
    set_setting("demo_loaded_at", "0", actor=None)
    db.session.commit()
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with app.app_context():
                start.wait(timeout=10)
                for _ in range(5):
                    value = int(get_setting("demo_loaded_at"))
                    set_setting("demo_loaded_at", str(value + 1), actor=None)
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    if dbutil.backend() == "postgresql":
        return  # READ COMMITTED makes no promise about read-modify-write; only SQLite's lock does
    db.session.expire_all()
    assert get_setting("demo_loaded_at") == str(workers * 5)


@sqlite_only
class TestWritersOfOneProcess:
    """Threads of one worker queue for the write lock in Python, not by polling SQLite."""

    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "SQLITE_BUSY_TIMEOUT_MS": 3000}

    @staticmethod
    def _write(app, label: str, log: list, *, hold: float = 0.0, fail: bool = False) -> None:
        with app.app_context():
            audit.record("test.writer", actor=None, ip=None, label=label)
            db.session.flush()  # BEGIN IMMEDIATE, then the INSERT
            log.append((label, "wrote"))
            time.sleep(hold)
            if fail:
                db.session.rollback()
            else:
                db.session.commit()
            log.append((label, "ended"))
            db.session.remove()

    def test_a_second_writer_begins_only_after_the_first_commits(self, app):
        log: list[tuple[str, str]] = []

        def note_begin(_conn, _cursor, statement, *_args) -> None:
            if statement == "BEGIN IMMEDIATE":
                log.append((threading.current_thread().name, "begins"))

        def note_commit(_conn) -> None:
            log.append((threading.current_thread().name, "commits"))

        event.listen(db.engine, "before_cursor_execute", note_begin)
        event.listen(db.engine, "commit", note_commit)
        try:
            first = threading.Thread(
                target=self._write, args=(app, "first", log), kwargs={"hold": 0.3}, name="first"
            )
            first.start()
            while ("first", "wrote") not in log:
                time.sleep(0.01)
            second = threading.Thread(target=self._write, args=(app, "second", log), name="second")
            second.start()
            first.join(timeout=10)
            second.join(timeout=10)
        finally:
            event.remove(db.engine, "before_cursor_execute", note_begin)
            event.remove(db.engine, "commit", note_commit)

        # Without the lock the second thread would send BEGIN IMMEDIATE at once and poll
        # SQLite for the whole of the first one's transaction.
        assert log.index(("second", "begins")) > log.index(("first", "commits"))
        assert ("second", "ended") in log

    def test_a_writer_waits_while_another_process_has_the_turn(self, app):
        other_process = os.open(sqlite_path(app) + "-writer.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(other_process, fcntl.LOCK_EX)
        log: list[tuple[str, str]] = []
        writer = threading.Thread(target=self._write, args=(app, "waiting", log))
        writer.start()
        time.sleep(0.3)
        assert log == []  # still waiting for its turn, not yet polling SQLite

        os.close(other_process)
        writer.join(timeout=10)
        assert log == [("waiting", "wrote"), ("waiting", "ended")]

    def test_without_a_lock_file_writers_still_take_turns(self, tmp_path):
        from portal.database import WriterLock

        lock = WriterLock(str(tmp_path / "missing-folder" / "portal.sqlite3"), timeout=3)
        for _ in range(2):  # the turn is given back, though no lock file could be made
            assert lock.acquire()
            lock.release()

    def test_a_rolled_back_writer_lets_the_next_one_in_at_once(self, app):
        log: list[tuple[str, str]] = []
        self._write(app, "failed", log, fail=True)
        started = time.monotonic()
        worker = threading.Thread(target=self._write, args=(app, "next", log))
        worker.start()
        worker.join(timeout=10)

        assert ("next", "ended") in log
        assert time.monotonic() - started < 1  # a lock left held would make it wait 3 s


# Reconnecting after a lost connection (checklist item 28)


@postgresql_only
def test_app_recovers_after_database_connections_are_killed(app, client, make_user):
    import psycopg

    user = make_user(display_name="Still Here")
    sign_in_client(client, user)
    assert client.get("/account").status_code == 200

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    db.session.commit()
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    assert killed >= 1

    response = client.get("/account")
    assert response.status_code == 200
    assert b"Still Here" in response.data
    response = client.post("/sign-in", data={"email": "x@example.com", "password": "wrong one"})
    assert response.status_code == 302


# Timestamps


def test_timestamps_come_back_as_utc_aware_datetimes(app, make_user):
    user = make_user(new_account=True)  # created now, not backdated
    user_id = user.id
    db.session.expire_all()

    loaded = db.session.get(User, user_id)
    assert loaded.created_at.tzinfo is not None
    assert loaded.created_at.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - loaded.created_at) < timedelta(minutes=5)


def test_timestamps_in_other_zones_are_stored_as_the_same_instant(app, make_user):
    user = make_user()
    moment = datetime(2024, 3, 10, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-5)))
    user.last_sign_in_at = moment
    db.session.commit()
    db.session.expire_all()

    loaded = db.session.get(User, user.id).last_sign_in_at
    assert loaded == moment
    assert loaded.utcoffset() == timedelta(0)
    assert (loaded.hour, loaded.minute, loaded.microsecond) == (14, 30, 123456)


def test_timestamps_compare_correctly_in_sql(app, make_user):
    old = make_user()
    old.last_sign_in_at = datetime(2024, 1, 1, 23, 0, tzinfo=timezone(timedelta(hours=-2)))
    new = make_user()
    new.last_sign_in_at = datetime(2024, 1, 2, 0, 30, tzinfo=UTC)
    db.session.commit()

    # 2024-01-02 01:00 UTC is later than 00:30 UTC, although its local clock says the 1st.
    first = db.session.scalar(
        select(User.id).where(User.last_sign_in_at.is_not(None)).order_by(User.last_sign_in_at)
    )
    assert first == new.id
    cutoff = datetime(2024, 1, 2, 0, 45, tzinfo=UTC)
    later = db.session.scalars(select(User.id).where(User.last_sign_in_at > cutoff)).all()
    assert later == [old.id]


def test_naive_datetime_is_refused(app, make_user):
    user = make_user()
    user.last_sign_in_at = datetime(2024, 1, 1, 12, 0)  # naive: the point of the test

    with pytest.raises(StatementError, match="naive datetime"):
        db.session.commit()
    db.session.rollback()

    db.session.expire_all()
    assert db.session.get(User, user.id).last_sign_in_at is None


def test_naive_datetime_is_refused_in_a_query(app):
    with pytest.raises(StatementError, match="naive datetime"):
        db.session.scalars(select(User).where(User.created_at > datetime(2024, 1, 1))).all()
    db.session.rollback()


def test_database_clock_and_app_agree_on_utc(app, make_user):
    make_user(new_account=True)  # created now, not backdated
    # The stored value, read without the UTC type, is UTC wall-clock time.
    raw = db.session.execute(text("SELECT created_at FROM users")).scalar()
    if isinstance(raw, str):  # SQLite hands back text
        raw = datetime.fromisoformat(raw)
    if raw.tzinfo is None:
        raw = raw.replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - raw) < timedelta(minutes=5)


def test_unreachable_database_gives_a_plain_error_page(tmp_path, monkeypatch):
    from portal import create_app

    if dbutil.backend() == "postgresql":
        url = "postgresql+psycopg://portal@127.0.0.1:1/portal?connect_timeout=2"
    else:
        url = f"sqlite:///{tmp_path / 'missing-folder' / 'portal.sqlite3'}"
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    broken = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x"})

    response = broken.test_client().get("/guidelines")

    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.data
    assert b"Traceback" not in response.data
    assert b"OperationalError" not in response.data
    with broken.app_context():
        db.engine.dispose()


def test_sign_in_checks_the_password_without_holding_the_write_lock(client, make_user):
    """argon2 runs in a DEFERRED transaction; only the audit and session rows take the lock."""
    if dbutil.backend() != "sqlite":
        pytest.skip("the write lock is SQLite's")
    email = make_user(email="locks@example.com").email  # loaded now, not while recording
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split())[:60])

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = client.post("/sign-in", data={"email": email, "password": DEFAULT_PASSWORD})
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert response.status_code == 302

    lookup = next(i for i, s in enumerate(statements) if s.startswith("SELECT users"))
    began = [s for s in statements[:lookup] if s.startswith("BEGIN")]
    assert began[-1] == "BEGIN", statements  # deferred: readers and writers carry on
    audit_row = next(i for i, s in enumerate(statements) if s.startswith("INSERT INTO audit"))
    began = [s for s in statements[lookup:audit_row] if s.startswith("BEGIN")]
    assert began == ["BEGIN IMMEDIATE"], statements
