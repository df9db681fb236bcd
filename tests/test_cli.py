"""The flask commands an operator runs: creating users, changing roles, loading demo data."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Organisation, Role, User
from portal.services.accounts import SIGN_IN_FAILED

from .helpers import pass_two_factor

STRONG_PASSWORD = "a long and unusual passphrase"


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def find(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email))


def signs_in(client, email: str, password: str) -> bool:
    response = client.post("/sign-in", data={"email": email, "password": password})
    response = pass_two_factor(client, response, email)  # admins set it up the first time
    if response.status_code in (200, 302):
        return client.get("/account").status_code == 200
    assert SIGN_IN_FAILED.encode() in response.data or response.status_code == 429
    return False


# user create


def test_create_admin_with_password_from_stdin_can_sign_in(runner, client):
    result = runner.invoke(
        args=["user", "create", "Boss@Example.com", "--role", "admin", "--password-stdin"],
        input=STRONG_PASSWORD + "\n",
    )

    assert result.exit_code == 0, result.output
    assert "boss@example.com" in result.output
    user = find("boss@example.com")
    assert user is not None
    assert user.role == Role.ADMIN.value
    assert user.email_verified_at is not None
    assert user.password_hash.startswith("$argon2id$")
    assert STRONG_PASSWORD not in result.output
    assert signs_in(client, "boss@example.com", STRONG_PASSWORD)


def test_create_user_defaults_to_customer_named_after_the_email(runner):
    result = runner.invoke(
        args=["user", "create", "carol.jones@example.com", "--password-stdin"],
        input=STRONG_PASSWORD + "\n",
    )

    assert result.exit_code == 0, result.output
    user = find("carol.jones@example.com")
    assert user.role == Role.CUSTOMER.value
    assert user.display_name == "carol.jones"


def test_create_user_prompts_for_the_password_twice(runner, client):
    result = runner.invoke(
        args=["user", "create", "pm@example.com", "--role", "product_manager"],
        input=f"{STRONG_PASSWORD}\n{STRONG_PASSWORD}\n",
    )

    assert result.exit_code == 0, result.output
    assert result.output.count("Password") >= 1
    assert "Repeat for confirmation" in result.output
    assert STRONG_PASSWORD not in result.output  # hidden input is not echoed
    assert find("pm@example.com").role == Role.PRODUCT_MANAGER.value
    assert signs_in(client, "pm@example.com", STRONG_PASSWORD)


def test_create_user_with_mismatched_confirmation_creates_nothing(runner):
    result = runner.invoke(
        args=["user", "create", "pm@example.com"],
        input=f"{STRONG_PASSWORD}\nsomething else entirely\n",
    )

    assert result.exit_code != 0
    assert "do not match" in result.output
    assert find("pm@example.com") is None


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "Use at least 8 characters."),
        ("password123", "one of the most common"),
        ("qwertyuiop", "one of the most common"),
    ],
)
def test_create_user_refuses_weak_password(runner, password, message):
    result = runner.invoke(
        args=["user", "create", "weak@example.com", "--role", "admin", "--password-stdin"],
        input=password + "\n",
    )

    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert find("weak@example.com") is None
    assert user_count() == 0


def test_create_user_refuses_taken_email(runner, make_user):
    existing = make_user(email="taken@example.com")

    result = runner.invoke(
        args=["user", "create", "TAKEN@example.com", "--role", "admin", "--password-stdin"],
        input=STRONG_PASSWORD + "\n",
    )

    assert result.exit_code == 1
    assert "already exists" in result.output
    assert user_count() == 1
    db.session.expire_all()
    assert db.session.get(User, existing.id).role == Role.CUSTOMER.value


def test_create_user_refuses_invalid_email(runner):
    result = runner.invoke(
        args=["user", "create", "not-an-email", "--password-stdin"],
        input=STRONG_PASSWORD + "\n",
    )

    assert result.exit_code == 1
    assert "valid email address" in result.output
    assert user_count() == 0


def test_create_user_refuses_unknown_role(runner):
    result = runner.invoke(
        args=["user", "create", "x@example.com", "--role", "superuser", "--password-stdin"],
        input=STRONG_PASSWORD + "\n",
    )

    assert result.exit_code == 2
    assert user_count() == 0


# user set-role


def test_set_role_promotes_and_records_an_audit_row(runner, make_user):
    user = make_user("customer", email="promote@example.com")

    result = runner.invoke(args=["user", "set-role", "Promote@Example.com", "product_manager"])

    assert result.exit_code == 0, result.output
    assert "product manager" in result.output
    db.session.expire_all()
    assert db.session.get(User, user.id).role == Role.PRODUCT_MANAGER.value
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "user.role_changed")
    ).all()
    assert len(events) == 1
    event = events[0]
    assert (event.target_type, event.target_id) == ("users", user.id)
    assert event.actor_id is None
    assert event.detail["old"] == "customer"
    assert event.detail["new"] == "product_manager"
    assert event.detail.get("via") == "cli"


def test_set_role_to_the_same_role_writes_no_audit_row(runner, make_user):
    make_user("admin", email="same@example.com")

    result = runner.invoke(args=["user", "set-role", "same@example.com", "admin"])

    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_set_role_for_unknown_email_fails(runner):
    result = runner.invoke(args=["user", "set-role", "nobody@example.com", "admin"])

    assert result.exit_code == 1
    assert "No account uses nobody@example.com" in result.output
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_set_role_refuses_unknown_role(runner, make_user):
    user = make_user("customer", email="someone@example.com")

    result = runner.invoke(args=["user", "set-role", "someone@example.com", "root"])

    assert result.exit_code == 2
    db.session.expire_all()
    assert db.session.get(User, user.id).role == Role.CUSTOMER.value


# demo load


def people_by_role() -> dict[str, int]:
    rows = db.session.execute(select(User.role, func.count()).group_by(User.role)).all()
    return {role: n for role, n in rows}


def printed_password(output: str) -> str:
    match = re.search(r"password for all: (.+?)\):", output)
    assert match, output
    return match.group(1)


def test_demo_load_creates_organisations_and_people(runner, client):
    result = runner.invoke(args=["demo", "load"])

    assert result.exit_code == 0, result.output
    assert "Demo data loaded." in result.output
    assert db.session.scalar(select(func.count()).select_from(Organisation)) >= 2
    assert people_by_role() == {"customer": 12, "product_manager": 2, "admin": 1}
    for user in db.session.scalars(select(User)):
        assert user.email in result.output
        assert user.email_verified_at is not None
    password = printed_password(result.output)
    assert len(password) >= 12
    assert signs_in(client, "admin@portal.example", password)


def test_demo_customers_belong_to_their_organisations(runner):
    runner.invoke(args=["demo", "load"])

    ana = find("ana@northwind.example")
    assert ana.organisation is not None
    assert ana.organisation.name == "Northwind Traders"


def test_demo_load_twice_creates_nothing_more(runner):
    first = runner.invoke(args=["demo", "load"])
    users = {u.email: u.id for u in db.session.scalars(select(User))}
    orgs = db.session.scalar(select(func.count()).select_from(Organisation))

    second = runner.invoke(args=["demo", "load"])

    assert second.exit_code == 0, second.output
    assert "already loaded" in second.output
    db.session.expire_all()
    assert {u.email: u.id for u in db.session.scalars(select(User))} == users
    assert db.session.scalar(select(func.count()).select_from(Organisation)) == orgs
    for email in users:
        assert email in second.output
    assert printed_password(second.output) == printed_password(first.output)


def test_demo_load_skips_an_organisation_that_already_exists(runner, make_organisation):
    make_organisation("Northwind Traders", domains=("northwind.example",))

    result = runner.invoke(args=["demo", "load"])

    assert result.exit_code == 0, result.output
    names = db.session.scalars(select(Organisation.name)).all()
    assert names.count("Northwind Traders") == 1
    assert find("ana@northwind.example").organisation.name == "Northwind Traders"


def test_demo_password_is_generated_once_into_the_instance_folder(app, runner, client):
    path = Path(app.instance_path) / "demo-password"
    assert not path.exists()

    first = runner.invoke(args=["demo", "load"])

    assert path.exists()
    stored = path.read_text().strip()
    assert printed_password(first.output) == stored
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert signs_in(client, "priya.pm@portal.example", stored)

    second = runner.invoke(args=["demo", "load", "--quiet"])
    assert printed_password(second.output) == stored
    assert path.read_text().strip() == stored


def test_demo_password_already_in_the_instance_folder_is_reused(app, runner, client):
    chosen = "the operator picked this one"
    (Path(app.instance_path) / "demo-password").write_text(chosen + "\n")

    result = runner.invoke(args=["demo", "load"])

    assert printed_password(result.output) == chosen
    assert signs_in(client, "admin@portal.example", chosen)


def test_demo_passwords_differ_between_installations(tmp_path, database_url, monkeypatch):
    from portal import create_app
    from portal.demo import demo_password

    passwords = set()
    for name in ("one", "two"):
        monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / name))
        other = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "x"})
        with other.app_context():
            passwords.add(demo_password())
            db.engine.dispose()
    assert len(passwords) == 2


class TestDemoPasswordFromConfig:
    PASSWORD = "demo passphrase from the environment"

    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "DEMO_PASSWORD": self.PASSWORD}

    def test_configured_demo_password_is_used_and_printed(self, app, runner, client):
        result = runner.invoke(args=["demo", "load"])

        assert result.exit_code == 0, result.output
        assert printed_password(result.output) == self.PASSWORD
        assert not (Path(app.instance_path) / "demo-password").exists()
        assert signs_in(client, "admin@portal.example", self.PASSWORD)
        assert signs_in(app.test_client(), "lena@freelance.example", self.PASSWORD)


def test_demo_password_from_portal_environment_variable(tmp_path, database_url, monkeypatch):
    from portal import create_app
    from portal.demo import demo_password

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "env-instance"))
    monkeypatch.setenv("PORTAL_DEMO_PASSWORD", "set by the operator")
    other = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "x"})
    with other.app_context():
        assert demo_password() == "set by the operator"
        db.engine.dispose()
    assert not (tmp_path / "env-instance" / "demo-password").exists()


def test_sessions_purge_removes_only_expired_sessions(runner, make_user):
    from datetime import timedelta

    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import UserSession
    from portal.models.types import utcnow
    from portal.services import sessions

    user = make_user()
    sessions.start_session(user, remember=False, ip=None, user_agent=None)
    sessions.start_session(user, remember=False, ip=None, user_agent=None)
    db.session.commit()
    old = db.session.scalars(select(UserSession)).first()
    old.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()

    result = runner.invoke(args=["sessions", "purge"])

    assert result.exit_code == 0, result.output
    assert "Removed 1 expired session." in result.output
    assert db.session.scalar(select(func.count(UserSession.id))) == 1
