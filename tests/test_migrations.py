"""The Alembic history builds exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import warnings

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from portal import create_app
from portal.extensions import db
from portal.models import Role
from portal.services import accounts
from portal.services.search import autogenerate_include_object

from . import dbutil


@pytest.fixture(autouse=True)
def _restore_logging():
    """migrations/env.py runs logging.config.fileConfig(); keep it from leaking into other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def empty_db_app(tmp_path, monkeypatch):
    """An app on a brand-new, empty database of the backend under test."""
    with dbutil.fresh_database(tmp_path, "migrations") as url:
        monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "migrations-test",
                "SQLALCHEMY_DATABASE_URI": url,
                "RATELIMIT_STORAGE_URI": "memory://",
            }
        )
        with app.app_context():
            yield app
            db.session.remove()
            db.engine.dispose()


def schema_differences(app) -> list:
    render_as_batch = app.extensions["migrate"].configure_args.get("render_as_batch", True)
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "render_as_batch": render_as_batch,
                "include_object": autogenerate_include_object,
            },
        )
        return compare_metadata(context, db.metadata)


def table_names() -> set[str]:
    # Without the search structures (an FTS5 table and its shadow tables on SQLite).
    return {
        name
        for name in inspect(db.engine).get_table_names()
        if autogenerate_include_object(None, name, "table", True, None)
    }


def test_upgrade_on_empty_database_matches_the_models(empty_db_app):
    assert table_names() == set()

    flask_migrate.upgrade()

    assert table_names() == {t.name for t in db.metadata.sorted_tables} | {"alembic_version"}
    assert schema_differences(empty_db_app) == []


def test_migrated_database_is_at_the_single_head(empty_db_app):
    flask_migrate.upgrade()

    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    config = empty_db_app.extensions["migrate"].migrate.get_config()
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"the migration history has branched: {heads}"
    assert current == tuple(heads)


def test_downgrade_to_base_then_upgrade_again_rebuilds_the_schema(empty_db_app):
    flask_migrate.upgrade()

    flask_migrate.downgrade(revision="base")
    assert table_names() <= {"alembic_version"}

    flask_migrate.upgrade()
    assert schema_differences(empty_db_app) == []


def test_migrated_database_accepts_an_account(empty_db_app):
    flask_migrate.upgrade()

    user = accounts.create_user(
        email="first@example.com",
        display_name="First Person",
        password="a long and unusual passphrase",
        role=Role.ADMIN,
        verified=True,
    )
    db.session.commit()

    db.session.expire_all()
    found = accounts.find_user_by_email("FIRST@example.com")
    assert found is not None and found.id == user.id
    assert found.created_at.utcoffset().total_seconds() == 0


def test_upgrade_uses_no_deprecated_api(empty_db_app):
    # `flask db upgrade` must keep working when Flask-SQLAlchemy 3.2 removes get_engine().
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flask_migrate.upgrade()

    deprecations = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert deprecations == []


def test_upgrading_a_database_with_ideas_keeps_every_vote_comment_and_follow(empty_db_app):
    """Later migrations rebuild `ideas` on SQLite; nothing that points at ideas may be lost."""
    from sqlalchemy import text

    flask_migrate.upgrade(revision="9e2c854c8e7f")  # ideas exist, later columns do not yet
    now = "2026-01-05 10:00:00"
    statements = [
        "INSERT INTO users (id, email, display_name, password_hash, role, created_at) "
        f"VALUES (1, 'a@example.com', 'A', 'x', 'customer', '{now}')",
        "INSERT INTO ideas (id, title, problem, solution, stage_id, author_id, is_team_concept, "
        "created_at, last_activity_at, vote_count, comment_count, trending_score) "
        f"VALUES (1, 'Keep me', 'Problem', '', 1, 1, false, '{now}', '{now}', 1, 1, 1.0)",
        f"INSERT INTO votes (idea_id, user_id, created_at) VALUES (1, 1, '{now}')",
        f"INSERT INTO follows (idea_id, user_id, created_at) VALUES (1, 1, '{now}')",
        "INSERT INTO comments (idea_id, author_id, body, created_at, is_official) "
        f"VALUES (1, 1, 'Hello', '{now}', false)",
    ]
    with db.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))

    flask_migrate.upgrade()

    with db.engine.connect() as conn:
        counts = {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in ("ideas", "votes", "follows", "comments")
        }
    assert counts == {"ideas": 1, "votes": 1, "follows": 1, "comments": 1}
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
