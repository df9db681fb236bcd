"""Rate limits hold as configured across the workers of one machine without Redis (a SQLite
file in the instance folder, portal/limit_storage.py), and across machines with Redis.

Under gunicorn each worker is a process of its own; with the counters in each worker's memory,
two workers let 12 failed sign-ins a minute through where 6 are set. Here, two apps on the same
database and instance folder stand for two workers (tests/test_gunicorn.py has the real
server). portal.extensions.limiter is one object per process and each create_app() points it at
that app's storage, so the apps take turns, as separate processes would: the second starts
with only what the storage itself remembers.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from limits.storage import storage_from_string

from portal import create_app, limit_storage
from portal.config import Defaults
from portal.limit_storage import SQLiteFileStorage

from .test_auth import fresh_ip, sign_in

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PRODUCTION_LIMITS = ("LIMIT_SIGN_IN_PER_IP", "LIMIT_SIGN_IN_PER_ACCOUNT", "LIMIT_EMAIL_PER_IP")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the test Redis; its keys are deleted afterwards."""
    server = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        server.ping()
    except redis.RedisError as exc:
        server.close()
        message = f"Redis is not reachable at {REDIS_URL}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    prefix = f"portal-test-shared-{secrets.token_hex(6)}"
    try:
        yield prefix
    finally:
        keys = list(server.scan_iter(match=f"*{prefix}*"))
        if keys:
            server.delete(*keys)
        server.close()


@pytest.fixture(params=["sqlite-file", "redis"])
def make_worker(request, another_app, tmp_path) -> Callable[[], Flask]:
    """make_worker(): another worker of the site, with the production sign-in and email limits
    and the storage the site would have: without Redis the default (RATELIMIT_STORAGE_URI
    unset), in the instance folder all the workers share; with Redis, REDIS_URL's."""
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        settings = {"RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_KEY_PREFIX": prefix}
    else:
        settings = {"RATELIMIT_STORAGE_URI": None}
    instance = tmp_path / "machine-instance"

    def make() -> Flask:
        return another_app(
            instance,
            **settings,
            **{
                name: getattr(Defaults, name)
                for name in (
                    "LIMIT_SIGN_IN_PER_IP",
                    "LIMIT_SIGN_IN_PER_ACCOUNT",
                    "LIMIT_EMAIL_PER_IP",
                )
            },
        )

    return make


def test_without_redis_the_default_storage_is_a_file_in_the_instance_folder(
    app_config, tmp_path, monkeypatch
):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "fresh"))
    fresh = create_app({**app_config, "RATELIMIT_STORAGE_URI": None})
    uri = fresh.config["RATELIMIT_STORAGE_URI"]
    assert uri == limit_storage.uri_for(tmp_path / "fresh" / "rate-limits.sqlite3")
    assert (tmp_path / "fresh" / "rate-limits.sqlite3").exists()
    # Not the database's file: counting never waits on the database's write lock.
    assert "rate-limits" not in fresh.config["SQLALCHEMY_DATABASE_URI"]


def test_with_redis_url_the_limits_are_counted_in_redis(
    app_config, tmp_path, monkeypatch, redis_prefix
):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "fresh"))
    fresh = create_app({**app_config, "RATELIMIT_STORAGE_URI": None, "REDIS_URL": REDIS_URL})
    assert fresh.config["RATELIMIT_STORAGE_URI"] == REDIS_URL


def test_failed_sign_ins_over_two_workers_are_refused_at_the_seventh(make_worker):
    address = fresh_ip()
    answers = []
    for attempt in range(1, 8):
        if attempt in (1, 4):  # three through one worker, then the rest through the other
            worker = make_worker()
        response = sign_in(worker.test_client(), f"guess{attempt}@example.com", "wrong", ip=address)
        answers.append(response.status_code)

    # LIMIT_SIGN_IN_PER_IP: 6 failures a minute, counted once for both workers.
    assert answers == [200] * 6 + [429]
    assert "Too many sign-in attempts" in response.get_data(as_text=True)


def test_password_resets_over_two_workers_are_refused_at_the_sixth(make_worker):
    address = fresh_ip()
    answers = []
    for attempt in range(1, 7):
        if attempt in (1, 4):
            worker = make_worker()
        response = worker.test_client().post(
            "/password/forgot",
            data={"email": f"someone{attempt}@example.com"},
            environ_base={"REMOTE_ADDR": address},
        )
        answers.append(response.status_code)

    # LIMIT_EMAIL_PER_IP: 5 an hour, counted once for both workers.
    assert answers == [303] * 5 + [429]


# --- The storage itself ----------------------------------------------------------------------


@pytest.fixture
def storage(tmp_path) -> SQLiteFileStorage:
    uri = limit_storage.uri_for(tmp_path / "limits.sqlite3")
    made = storage_from_string(uri, key_prefix="site")
    assert isinstance(made, SQLiteFileStorage)
    return made


def _count_in_child(storage: SQLiteFileStorage, times: int) -> None:
    for _ in range(times):
        storage.incr("shared", 60)


def test_counts_from_threads_and_processes_add_up_exactly(storage):
    storage.incr("shared", 60)  # the parent's connection is open before the fork
    fork = multiprocessing.get_context("fork")
    children = [fork.Process(target=_count_in_child, args=(storage, 100)) for _ in range(3)]
    threads = [threading.Thread(target=_count_in_child, args=(storage, 100)) for _ in range(3)]
    for worker in [*children, *threads]:
        worker.start()
    for worker in [*children, *threads]:
        worker.join(timeout=60)
    assert [child.exitcode for child in children] == [0, 0, 0]
    assert storage.get("shared") == 1 + 600


def test_a_counter_expires_and_starts_a_new_window(storage, monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])

    assert storage.incr("k", 60) == 1
    assert storage.incr("k", 60, amount=2) == 3
    assert storage.get_expiry("k") == 1_000_060.0
    now[0] += 59.9
    assert storage.get("k") == 3
    now[0] += 0.1
    assert storage.get("k") == 0
    assert storage.incr("k", 60) == 1
    assert storage.get_expiry("k") == 1_000_120.0


def test_expired_counters_are_pruned(storage, monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    storage.incr("short", 10)
    storage.incr("long", 1000)
    now[0] += 11
    assert storage.prune() == 1
    assert storage.get("long") == 1


def test_prefixes_keep_sites_apart_and_reset_clears_only_its_own(storage, tmp_path):
    other_site = SQLiteFileStorage(limit_storage.uri_for(storage.path), key_prefix="other-site")
    storage.incr("k", 60)
    other_site.incr("k", 60)
    other_site.incr("k", 60)
    assert (storage.get("k"), other_site.get("k")) == (1, 2)

    storage.clear("k")
    assert (storage.get("k"), other_site.get("k")) == (0, 2)
    storage.incr("a", 60)
    storage.incr("b", 60)
    assert storage.reset() == 2
    assert other_site.get("k") == 2
    assert storage.check()


def test_the_storage_refuses_a_uri_without_a_path():
    with pytest.raises(ValueError, match="needs the path of a file"):
        SQLiteFileStorage("sqlite-limits://")


def test_the_file_is_in_wal_mode(storage):
    import sqlite3

    with sqlite3.connect(Path(storage.path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
