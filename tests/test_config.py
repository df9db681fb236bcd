"""Configuration: defaults, instance/config.py, PORTAL_* variables, DATABASE_URL and secrets."""

from __future__ import annotations

import os
import re
import stat
import threading
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from flask import Flask
from itsdangerous import BadSignature

from portal import create_app
from portal.config import _database_uri, base_url_warning, instance_secret
from portal.extensions import db

from .conftest import DEFAULT_PASSWORD


@pytest.fixture
def build_app(database_url, tmp_path, monkeypatch):
    """build_app(folder="instance", **config) creates an app on its own instance folder."""
    built: list[Flask] = []

    def build(folder: str = "instance", *, database: bool = True, **config) -> Flask:
        monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / folder))
        test_config = {"SQLALCHEMY_DATABASE_URI": database_url} if database else {}
        test_config.update(config)
        app = create_app(test_config or None)
        built.append(app)
        return app

    yield build
    for app in built:
        with app.app_context():
            db.engine.dispose()


# Database URLs


@pytest.mark.parametrize(
    ("given", "used"),
    [
        (
            "postgres://u:p@db.example:5432/portal",
            "postgresql+psycopg://u:p@db.example:5432/portal",
        ),
        ("postgresql://u:p@db.example/portal", "postgresql+psycopg://u:p@db.example/portal"),
        ("postgresql+psycopg://u@h/portal", "postgresql+psycopg://u@h/portal"),
        ("sqlite:////srv/portal.sqlite3", "sqlite:////srv/portal.sqlite3"),
    ],
)
def test_database_urls_from_hosting_platforms_use_psycopg3(given, used):
    assert _database_uri(given) == used


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_database_url_environment_variable_is_used(build_app, monkeypatch, scheme):
    monkeypatch.setenv("DATABASE_URL", f"{scheme}://portal:secret@db.example:5432/ideas")

    app = build_app(database=False)

    assert app.config["SQLALCHEMY_DATABASE_URI"] == (
        "postgresql+psycopg://portal:secret@db.example:5432/ideas"
    )
    with app.app_context():
        assert db.engine.dialect.name == "postgresql"
        assert db.engine.dialect.driver == "psycopg"


def test_without_database_url_sqlite_lives_in_the_instance_folder(build_app, tmp_path):
    app = build_app("local", database=False)

    expected = tmp_path / "local" / "portal.sqlite3"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{expected}"


def test_postgresql_connections_are_checked_before_use(build_app):
    app = build_app(SQLALCHEMY_DATABASE_URI="postgresql://portal@db.example/portal")

    with app.app_context():
        assert db.engine.pool._pre_ping is True


def test_sqlite_connections_are_used_without_a_ping(build_app, tmp_path):
    # An open file cannot drop like a server's connection; a ping would only cost time.
    app = build_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'portal.sqlite3'}")

    with app.app_context():
        assert db.engine.pool._pre_ping is False


def test_engine_options_given_in_the_configuration_win(build_app, tmp_path):
    app = build_app(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
    )

    with app.app_context():
        assert db.engine.pool._pre_ping is True


# PORTAL_* variables and instance/config.py


def test_portal_environment_variables_override_defaults(build_app, monkeypatch):
    monkeypatch.setenv("PORTAL_SITE_NAME", "Acme Ideas")
    monkeypatch.setenv("PORTAL_PASSWORD_MIN_LENGTH", "12")
    monkeypatch.setenv("PORTAL_TRUSTED_PROXIES", "1")
    monkeypatch.setenv("PORTAL_RATELIMIT_ENABLED", "false")

    app = build_app()

    assert app.config["SITE_NAME"] == "Acme Ideas"
    assert app.config["PASSWORD_MIN_LENGTH"] == 12
    assert app.config["TRUSTED_PROXIES"] == 1
    assert app.config["RATELIMIT_ENABLED"] is False
    response = app.test_client().get("/")
    assert response.status_code == 200
    assert b"Acme Ideas" in response.data


def test_without_overrides_the_defaults_apply(build_app):
    app = build_app()

    assert app.config["SITE_NAME"] == "Idea Portal"
    assert app.config["PASSWORD_MIN_LENGTH"] == 8
    assert app.config["TRUSTED_PROXIES"] == 0
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert app.config["REMEMBER_COOKIE_DURATION"] == timedelta(days=30)


def test_trusted_proxies_from_environment_trusts_forwarded_address(build_app, monkeypatch):
    monkeypatch.setenv("PORTAL_TRUSTED_PROXIES", "1")
    app = build_app()

    @app.get("/_test/remote-addr")
    def remote_addr():
        from flask import request

        return request.remote_addr or ""

    response = app.test_client().get(
        "/_test/remote-addr", headers={"X-Forwarded-For": "203.0.113.7"}
    )
    assert response.text == "203.0.113.7"


def test_instance_config_file_is_read(build_app, tmp_path):
    folder = tmp_path / "with-file"
    folder.mkdir()
    (folder / "config.py").write_text(
        'SITE_NAME = "From The File"\nBASE_URL = "https://ideas.example.com"\n'
    )

    app = build_app("with-file")

    assert app.config["SITE_NAME"] == "From The File"
    assert app.config["BASE_URL"] == "https://ideas.example.com"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_environment_beats_instance_file(build_app, tmp_path, monkeypatch):
    folder = tmp_path / "both"
    folder.mkdir()
    (folder / "config.py").write_text('SITE_NAME = "From The File"\nSITE_TAGLINE = "kept"\n')
    monkeypatch.setenv("PORTAL_SITE_NAME", "From The Environment")

    app = build_app("both")

    assert app.config["SITE_NAME"] == "From The Environment"
    assert app.config["SITE_TAGLINE"] == "kept"


def test_database_url_beats_instance_file(build_app, tmp_path, monkeypatch):
    folder = tmp_path / "db-file"
    folder.mkdir()
    (folder / "config.py").write_text('SQLALCHEMY_DATABASE_URI = "sqlite:////tmp/other.db"\n')
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.example/ideas")

    app = build_app("db-file", database=False)

    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/ideas"


# The secret key


def secret_file(app: Flask) -> Path:
    return Path(app.instance_path) / "secret_key"


def test_secret_key_is_generated_into_the_instance_folder(build_app):
    app = build_app("first")

    path = secret_file(app)
    assert path.exists()
    assert path.read_text().strip() == app.config["SECRET_KEY"]
    assert len(app.config["SECRET_KEY"]) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(".secret_key")]
    assert leftovers == []


def test_secret_key_is_stable_across_restarts(build_app):
    first = build_app("same")
    second = build_app("same")

    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    # A session cookie signed before the restart is still accepted after it.
    cookie = first.session_interface.get_signing_serializer(first).dumps({"_user_id": "k"})
    assert second.session_interface.get_signing_serializer(second).loads(cookie) == {
        "_user_id": "k"
    }


def test_secret_keys_differ_between_instance_folders(build_app):
    one = build_app("one")
    two = build_app("two")

    assert one.config["SECRET_KEY"] != two.config["SECRET_KEY"]
    cookie = one.session_interface.get_signing_serializer(one).dumps({"_user_id": "k"})
    with pytest.raises(BadSignature):
        two.session_interface.get_signing_serializer(two).loads(cookie)


def test_secret_key_from_environment_is_used_and_nothing_is_written(build_app, monkeypatch):
    monkeypatch.setenv("PORTAL_SECRET_KEY", "a-secret-from-the-operator-xyz")

    app = build_app("env-secret")

    assert app.config["SECRET_KEY"] == "a-secret-from-the-operator-xyz"
    assert not secret_file(app).exists()


def test_workers_starting_together_agree_on_one_secret(tmp_path):
    folder = tmp_path / "race"
    folder.mkdir()
    workers = 8
    start = threading.Barrier(workers)
    results: list[str] = []
    errors: list[BaseException] = []

    # The apps are made up front: constructing Flask objects in several threads at once can
    # trip a CPython 3.11 race in its compiler ("AST constructor recursion depth mismatch"),
    # which has nothing to do with the secret file this test is about.
    apps = [Flask("race", instance_path=str(folder)) for _ in range(workers)]

    def worker(app: Flask) -> None:
        try:
            start.wait(timeout=10)
            results.append(instance_secret(app, "secret_key"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(app,)) for app in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert errors == []
    assert len(results) == workers
    assert len(set(results)) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["secret_key"]


# Cookies


def signed_in_cookies(app: Flask, *, remember: bool) -> dict[str, str]:
    """Sign a new account in through the form; the Set-Cookie headers by cookie name."""
    from portal.models import Role
    from portal.services import accounts

    with app.app_context():
        accounts.create_user(
            email="cookie@example.com",
            display_name="Cookie Person",
            password=DEFAULT_PASSWORD,
            role=Role.CUSTOMER,
            verified=True,
            accepted_guidelines=True,
        )
        db.session.commit()
    data = {"email": "cookie@example.com", "password": DEFAULT_PASSWORD}
    if remember:
        data["remember"] = "y"
    response = app.test_client().post("/sign-in", data=data)
    assert response.status_code == 302
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


@pytest.fixture
def cookie_app(build_app):
    """An app whose users are removed again afterwards."""
    from tests import dbutil

    apps: list[Flask] = []

    def build(**config) -> Flask:
        app = build_app(
            "cookies",
            TESTING=True,
            WTF_CSRF_ENABLED=False,
            RATELIMIT_STORAGE_URI="memory://",
            **config,
        )
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            dbutil.empty_all_tables(db.engine)


def test_cookies_are_secure_when_base_url_is_https(cookie_app):
    app = cookie_app(BASE_URL="https://ideas.example.com")

    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["PREFERRED_URL_SCHEME"] == "https"
    cookies = signed_in_cookies(app, remember=True)
    for name in ("portal_session", "portal_remember"):
        header = cookies[name]
        assert "Secure" in header
        assert "HttpOnly" in header
        assert "SameSite=Lax" in header
    expires = re.search(r"Expires=([^;]+)", cookies["portal_remember"]).group(1)
    lasts = parsedate_to_datetime(expires) - datetime.now(UTC)
    assert timedelta(days=29) < lasts <= timedelta(days=30, minutes=1)


def test_cookies_are_not_secure_on_plain_http(cookie_app):
    app = cookie_app(BASE_URL="http://127.0.0.1:5000")

    cookies = signed_in_cookies(app, remember=True)
    for name in ("portal_session", "portal_remember"):
        assert "Secure" not in cookies[name]
        assert "HttpOnly" in cookies[name]


def test_https_base_url_from_environment_makes_cookies_secure(build_app, monkeypatch):
    monkeypatch.setenv("PORTAL_BASE_URL", "https://ideas.example.com")

    app = build_app()

    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True


def test_explicit_cookie_setting_wins_over_base_url(build_app):
    app = build_app(BASE_URL="https://ideas.example.com", SESSION_COOKIE_SECURE=False)

    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["REMEMBER_COOKIE_SECURE"] is True


# Where links point


def test_links_follow_the_served_address_when_base_url_is_unset(build_app, monkeypatch):
    monkeypatch.setenv("PORTAL_SERVED_AT", "http://127.0.0.1:8000")  # from gunicorn.conf.py

    app = build_app(database=False)

    assert app.config["BASE_URL"] == "http://127.0.0.1:8000"
    assert not app.config["BASE_URL_CONFIGURED"]


def test_an_explicit_base_url_wins_over_the_served_address(build_app, monkeypatch):
    monkeypatch.setenv("PORTAL_SERVED_AT", "http://127.0.0.1:8000")
    monkeypatch.setenv("PORTAL_BASE_URL", "https://ideas.example.com")

    app = build_app(database=False)
    app.testing = False

    assert app.config["BASE_URL"] == "https://ideas.example.com"
    assert base_url_warning(app) is None


def test_a_production_server_without_base_url_says_so_loudly(build_app, monkeypatch):
    app = build_app(database=False)
    app.testing = False

    assert app.config["BASE_URL"] == "http://127.0.0.1:5000"
    warning = base_url_warning(app)
    assert warning is not None
    assert "PORTAL_BASE_URL is not set" in warning
    assert "http://127.0.0.1:5000, the default address, which may not be this server's" in warning

    monkeypatch.setenv("PORTAL_SERVED_AT", "http://127.0.0.1:8000")
    served = build_app("served", database=False)
    served.testing = False
    assert "point at http://127.0.0.1:8000, this server's address" in base_url_warning(served)

    served.debug = True  # the developer's own machine: links on it are right
    assert base_url_warning(served) is None
