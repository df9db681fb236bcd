"""Test fixtures: an app per test on a shared, emptied database; factories; signing in.

Every test runs on SQLite. With PORTAL_TEST_BACKEND=postgresql (set by `make test` when
TEST_DATABASE_URL names a server) the same tests run on a PostgreSQL database created for
this run and dropped afterwards.
"""

from __future__ import annotations

import contextvars
import gc
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask, has_app_context
from flask.testing import FlaskClient
from hypothesis import settings
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import create_engine, event
from werkzeug.routing import Rule

from portal import create_app
from portal.extensions import db
from portal.models import Organisation, OrganisationDomain, Role, User
from portal.models.types import utcnow
from portal.services import boards, sessions

from . import dbutil

# In CI the property-based tests replay the same examples every run, so a submission passes or
# fails on its own code; locally each run explores new ones (and replays any failure it found).
settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile("ci" if os.environ.get("CI") else "default")

DEFAULT_PASSWORD = "correct horse battery staple"
# make_user backdates accounts by this much, so tests meet the limits of established people.
ESTABLISHED_ACCOUNT_AGE = timedelta(days=30)


def pytest_report_header(config) -> str:
    return f"portal test database: {dbutil.backend()}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory, worker_id) -> Iterator[str]:
    with dbutil.fresh_database(tmp_path_factory.mktemp("db"), f"w{worker_id}") as url:
        engine = create_engine(url)
        db.metadata.create_all(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session", autouse=True)
def _imports_out_of_the_collector() -> None:
    """Leave the objects every test shares (modules, classes, compiled caches) out of the
    garbage collector's full passes.

    Each test builds an app of tens of thousands of objects in reference cycles, which only a
    full pass frees, and every full pass also walked the few hundred thousand objects the
    imports made, which live as long as the process anyway. Measured on tests/test_votes.py
    and tests/test_comments.py: full passes took 2.3 s of the 15 s, 1.5 s once frozen.
    """
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def password_hash_cache() -> dict[str, str]:
    return {}


class IsolatedClient(FlaskClient):
    """A test client whose requests run like separate visits to the server.

    Each request gets its own application context and database session, as in production.
    The test's own session commits first (so a request never waits on the test's write lock)
    and forgets what it loaded afterwards (so the test sees what the request changed).
    """

    def open(self, *args, **kwargs):
        if not has_app_context():  # a redirect being followed, already isolated
            return super().open(*args, **kwargs)
        db.session.commit()
        try:
            return contextvars.Context().run(super().open, *args, **kwargs)
        finally:
            db.session.expire_all()


@pytest.fixture
def config_overrides() -> dict:
    """Settings a test changes with pytest.mark.parametrize("config_overrides", [{...}])."""
    return {}


@pytest.fixture
def app_config(database_url, tmp_path, config_overrides) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-" + secrets.token_hex(8),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 5}
        if database_url.startswith("postgres")
        else {},
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "REDIS_URL": None,
        "MAIL_SERVER": None,
        "MAIL_DELIVERY": "inline",
        "BASE_URL": "http://portal.test",
        # The minimum time to fill in a form would slow every test down; the spam tests set it.
        "FORM_MIN_SECONDS": 0,
        # Tests post faster than any person; tests/test_abuse.py uses the real limits.
        "LIMIT_IDEAS": "1000/minute",
        "LIMIT_COMMENTS": "1000/minute",
        "SERVER_NAME": None,
        # ETags change every CACHE_TTL_SECONDS; a change in the middle of a test would fail it.
        "CACHE_TTL_SECONDS": 86_400,
        **config_overrides,
    }


# One dialect and one compiled-statement cache per database URL (and engine options) for this
# test process.
# Every test builds its own app and so its own engine, and SQLAlchemy caches the SQL it compiles
# per engine and dialect: without sharing, each test compiled every statement again, about a
# third of the suite's time. A dialect holds no connection or test state, only how to speak to
# the database, which is the same for every engine on one URL.
_SHARED_COMPILATION: dict[str, tuple] = {}


def share_compiled_statements(app: Flask) -> None:
    engine = db.engine
    # Engines made with other options (a test of the options themselves) keep their own.
    key = f"{engine.url!r} {app.config['SQLALCHEMY_ENGINE_OPTIONS']!r}"
    dialect, cache = _SHARED_COMPILATION.setdefault(key, (engine.dialect, engine._compiled_cache))
    if engine.dialect is not dialect:
        engine.dialect, engine._compiled_cache = dialect, cache


class SharedTemplateCode(BytecodeCache):
    """Jinja's compiled templates, kept for every app in this test process.

    Every test builds its own app and so its own Jinja environment, which compiled each
    template it rendered again: parsing and compiling templates was about a fifth of a
    typical page test. Jinja's bytecode cache is made for sharing compiled templates between
    environments set up alike, as every app from create_app is; a bucket's checksum is of
    the template's source, so an edited template is compiled afresh.
    """

    def __init__(self) -> None:
        self.code: dict[tuple[str, str], object] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self.code.get((bucket.key, bucket.checksum))
        if code is not None:
            bucket.code = code

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[(bucket.key, bucket.checksum)] = bucket.code


class SharedBuilderRule(Rule):
    """A URL rule that reuses the URL builder another app compiled for the same rule.

    Werkzeug compiles two small Python functions per rule to build its URLs (url_for), by
    generating and compiling their syntax tree: with some 140 rules that was most of the
    60 ms create_app took, in every test. Such a function is the same for every map: it
    depends only on the rule's text, its parts (the _trace that compile() just parsed), the
    names of its defaults and whether it appends unknown arguments; the rule it serves, and
    so that rule's own converters, come in as its first argument. A default for a variable
    in the rule is folded into the function as that converter's text of it, so such rules
    (there are none in the portal today) are compiled as before.
    """

    _builders: dict[tuple, object] = {}

    def _compile_builder(self, append_unknown: bool = True):
        defaults = self.defaults or {}
        if any(dynamic and part in defaults for dynamic, part in self._trace):
            return super()._compile_builder(append_unknown)
        key = (self.rule, tuple(self._trace), tuple(defaults), append_unknown)
        builder = self._builders.get(key)
        if builder is None:
            builder = self._builders[key] = super()._compile_builder(append_unknown)
        return builder


# For every app made in this test process: create_app, another_app, and tests' own.
Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": SharedTemplateCode()}
Flask.url_rule_class = SharedBuilderRule


@pytest.fixture
def app(app_config, tmp_path, monkeypatch) -> Iterator[Flask]:
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    application = create_app(app_config)
    application.test_client_class = IsolatedClient
    with application.app_context():
        share_compiled_statements(application)
        # A migrated database always has the board its ideas go to (migration b17a0a1b2c01).
        boards.install_default_board()
        db.session.commit()
        yield application
        db.session.remove()
        dbutil.empty_all_tables(db.engine)
        db.engine.dispose()


@pytest.fixture
def another_app(app, app_config, monkeypatch) -> Iterator[Callable[..., Flask]]:
    """another_app(instance=None, **settings): another app on the test's database, as another
    worker process or server would run it, in its own instance folder if one is given; its
    engine is closed afterwards."""
    made: list[Flask] = []

    def make(instance: Path | None = None, **settings) -> Flask:
        if instance is not None:
            monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(instance))
        other = create_app({**app_config, **settings})
        other.test_client_class = IsolatedClient
        made.append(other)
        return other

    yield make
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word: a hung database or Redis server.

    It hangs up after 10 s, so an app that would wait for ever fails the test, not hangs it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        hang_up = threading.Timer(10, sock.close)
        hang_up.start()
        yield sock.getsockname()[1]
        hang_up.cancel()


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app, password_hash_cache):
    counter = iter(range(1, 1_000_000))

    def make(
        role: Role | str = Role.CUSTOMER,
        *,
        email: str | None = None,
        display_name: str | None = None,
        password: str = DEFAULT_PASSWORD,
        verified: bool = True,
        organisation: Organisation | None = None,
        suspended_reason: str | None = None,
        new_account: bool = False,
    ) -> User:
        """A person; by default an established account, past a new account's tighter limits."""
        n = next(counter)
        if password not in password_hash_cache:
            from portal.services.passwords import hash_password

            password_hash_cache[password] = hash_password(password)
        user = User(
            email=(email or f"person{n}-{secrets.token_hex(3)}@example.com").lower(),
            display_name=display_name or f"Person {n}",
            password_hash=password_hash_cache[password],
            role=Role(role).value,
            organisation=organisation,
            email_verified_at=utcnow() if verified else None,
            guidelines_accepted_at=utcnow(),
            suspended_at=utcnow() if suspended_reason else None,
            suspension_reason=suspended_reason,
            created_at=utcnow() - (timedelta(0) if new_account else ESTABLISHED_ACCOUNT_AGE),
        )
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_organisation(app):
    def make(name: str = "Acme", domains: tuple[str, ...] = ()) -> Organisation:
        org = Organisation(name=name, domains=[OrganisationDomain(domain=d) for d in domains])
        db.session.add(org)
        db.session.commit()
        return org

    return make


def sign_in_client(client: FlaskClient, user: User, *, remember: bool = False) -> str:
    """Sign a test client in as user without going through the form; returns the session key."""
    key = sessions.start_session(user, remember=remember, ip="127.0.0.1", user_agent="pytest")
    db.session.commit()
    with client.session_transaction() as sess:
        sess["_user_id"] = key
        sess["_fresh"] = True
    return key


@pytest.fixture
def login_as(client, make_user):
    """login_as("admin") creates a person with that role and signs the client in as them."""

    def login(role: Role | str = Role.CUSTOMER, **kwargs) -> User:
        user = make_user(role, **kwargs)
        sign_in_client(client, user)
        return user

    return login


@pytest.fixture
def outbox(app) -> Outbox:
    return Outbox(Path(app.instance_path) / "mail" / "outbox")


class Outbox:
    """The .eml files the app wrote, read back as email messages."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def messages(self):
        import email
        from email import policy

        if not self.folder.exists():
            return []
        return [
            email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(self.folder.glob("*.eml"))
        ]

    def to(self, address: str):
        return [m for m in self.messages() if m["To"] == address]


@pytest.fixture
def count_queries(app):
    """with count_queries() as q: ...; q.count is the number of SQL statements run.

    Cold (the default): as a worker that has kept nothing yet, so two counts compare alike
    whatever the requests before them left in the process (portal.cache keeps who is signed
    in, their votes and the boards they see between requests). count_queries(cold=False)
    counts with what is kept.
    """
    import contextlib

    from portal import cache

    @contextlib.contextmanager
    def counting(*, cold: bool = True):
        if cold:
            kept = app.extensions[cache.EXTENSION]
            for memo in (kept.memo, kept.people, kept.personal):
                memo.clear()

        class Counter:
            count = 0
            statements: list[str] = []

        counter = Counter()
        counter.statements = []

        def before(conn, cursor, statement, *args):
            if (
                not statement.lstrip()
                .upper()
                .startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"))
            ):
                counter.count += 1
                counter.statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", before)
        try:
            yield counter
        finally:
            event.remove(db.engine, "before_cursor_execute", before)

    return counting


@pytest.fixture(autouse=True)
def _no_stray_environment(monkeypatch):
    for name in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("PORTAL_") and name not in ("PORTAL_TEST_BACKEND",):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def stages(app):
    """The default pipeline (New, Under review, ... Merged), as the migration installs it."""
    from portal.services import catalog

    catalog.install_default_stages()
    db.session.commit()
    return {stage.slug: stage for stage in catalog.stages()}


@pytest.fixture
def make_category(app):
    from portal.models import Category

    def make(name: str = "Reporting", position: int = 0) -> Category:
        category = Category(name=name, position=position)
        db.session.add(category)
        db.session.commit()
        return category

    return make


@pytest.fixture
def make_idea(app, stages, make_user):
    """make_idea(title=..., author=..., stage="planned") posts an idea through the service."""
    from portal.services import ideas

    def make(
        title: str = "Export reports to Excel",
        *,
        author: User | None = None,
        problem: str = "Our finance team copies numbers by hand every month.",
        solution: str = "",
        category=None,
        stage: str | None = None,
        as_concept: bool = False,
    ):
        author = author or make_user()
        idea = ideas.submit_idea(
            author=author,
            title=title,
            problem=problem,
            solution=solution,
            category_id=category.id if category is not None else None,
            as_concept=as_concept,
        )
        if stage is not None:
            idea.stage = stages[stage]
            ideas.promise_next_answer(idea, stages[stage], since=idea.created_at)
        db.session.commit()
        return idea

    return make
