"""API keys: who may make which, the token shown once and only its hash kept, what a key may do
at each call (revoked, expired, suspended, demoted), the account page, and the command line."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import ApiKey, AuditEvent, Role, User
from portal.models.types import utcnow
from portal.permissions import PermissionDenied
from portal.services import api_keys, audit_log, users
from portal.services.errors import DomainError, InvalidFields, InvalidInput

from .conftest import sign_in_client
from .helpers import database_snapshot, page_text
from .test_security import CSRF_ON, csrf_token_from


def make_key(user: User, scopes=("read",), **kwargs) -> tuple[ApiKey, str]:
    key, token = api_keys.create_key(
        user, name=kwargs.pop("name", "Weekly report"), scopes=scopes, **kwargs
    )
    db.session.commit()
    return key, token


def fresh(key: ApiKey) -> ApiKey:
    db.session.expire_all()
    return db.session.get(ApiKey, key.id)


# --- Who may give a key what --------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "scopes"),
    [
        ("customer", ("read", "write")),
        ("product_manager", ("read", "write", "team")),
        ("admin", ("read", "write", "team", "admin")),
    ],
)
def test_each_role_may_give_its_own_scopes_and_those_below(make_user, role, scopes):
    assert api_keys.allowed_scopes(make_user(role)) == scopes


def test_unconfirmed_or_suspended_people_may_give_no_scope_and_are_told_why(make_user):
    unconfirmed = make_user("admin", verified=False)
    suspended = make_user("admin", suspended_reason="Posting spam")

    assert api_keys.allowed_scopes(unconfirmed) == ()
    assert api_keys.allowed_scopes(suspended) == ()
    with pytest.raises(DomainError, match="Confirm your email address") as refused:
        api_keys.create_key(unconfirmed, name="Script", scopes=["read"])
    assert not isinstance(refused.value, InvalidInput)
    with pytest.raises(DomainError, match="suspended"):
        api_keys.create_key(suspended, name="Script", scopes=["read"])
    assert db.session.scalars(select(ApiKey)).all() == []


@pytest.mark.parametrize(
    ("role", "name", "scopes", "expires_at", "field", "message"),
    [
        ("customer", "", ["read"], None, "name", "Give the key a name"),
        ("customer", " \u200b\t ", ["read"], None, "name", "Give the key a name"),
        ("customer", "x" * 81, ["read"], None, "name", "81 characters; the limit is 80"),
        ("customer", "Script", ["read", "delete"], None, "scopes", "“delete” is not a scope"),
        ("customer", "Script", [], None, "scopes", "Choose at least one scope"),
        ("customer", "Script", ["", "  "], None, "scopes", "Choose at least one scope"),
        ("customer", "Script", ["team"], None, "scopes", "As a customer you cannot give"),
        ("customer", "Script", ["admin"], None, "scopes", "the admin scope"),
        ("product_manager", "Script", ["admin"], None, "scopes", "As a product manager"),
        ("admin", "Script", ["read"], "yesterday", "expires_at", "That day has passed"),
        ("admin", "Script", ["read"], "now", "expires_at", "That day has passed"),
    ],
)
def test_a_key_is_refused_with_the_field_and_the_reason(
    make_user, role, name, scopes, expires_at, field, message
):
    person = make_user(role)
    when = {
        None: None,
        "yesterday": utcnow() - timedelta(days=1),
        "now": utcnow() - timedelta(seconds=1),
    }[expires_at]

    with pytest.raises(InvalidInput) as refused:
        api_keys.create_key(person, name=name, scopes=scopes, expires_at=when)

    assert refused.value.field == field
    assert message in refused.value.message
    db.session.rollback()
    assert db.session.scalars(select(ApiKey)).all() == []


def test_every_problem_is_named_at_once(make_user):
    with pytest.raises(InvalidFields) as refused:
        api_keys.create_key(
            make_user(),
            name="",
            scopes=["team"],
            expires_at=datetime(2000, 1, 1, tzinfo=UTC),
        )
    assert set(refused.value.problems) == {"name", "scopes", "expires_at"}


def test_nobody_makes_a_key_for_someone_else(make_user):
    admin, customer = make_user("admin"), make_user()
    with pytest.raises(PermissionDenied):
        api_keys.create_key(customer, name="Script", scopes=["read"], actor=admin)


def test_a_key_that_writes_also_reads_and_scopes_are_kept_in_one_order(make_user):
    key, _token = make_key(make_user("admin"), scopes=["admin", "write"])
    assert key.scopes == "read write admin"
    key, _token = make_key(make_user(), scopes=["WRITE"])
    assert key.scopes == "read write"


def test_the_database_refuses_scopes_out_of_order_or_unknown(make_user):
    from sqlalchemy.exc import IntegrityError

    person = make_user("admin")
    for scopes in ("write read", "write", "read delete", ""):
        db.session.add(
            ApiKey(user_id=person.id, name="x", prefix="p", token_hash=scopes + "h", scopes=scopes)
        )
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


# --- The token: shown once, never kept ----------------------------------------------------


def test_the_token_is_returned_once_and_only_its_hash_is_kept(make_user):
    person = make_user()
    key, token = make_key(person, scopes=["write"], name="CI")

    assert re.fullmatch(r"portal_[A-Za-z0-9_-]{43}", token)
    assert key.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert key.prefix == token[:16]
    # The token, or any part of it past the prefix lists show, is nowhere in the database:
    # not in the key's row, not in the audit log.
    secret = token[16:]
    everything = repr(database_snapshot())
    assert token not in everything and secret not in everything
    assert secret[:12] not in everything


def test_two_keys_never_share_a_token(make_user):
    person = make_user()
    tokens = {make_key(person, name=f"Key {n}")[1] for n in range(20)}
    assert len(tokens) == 20


def test_a_person_keeps_at_most_fifty_keys_not_revoked(make_user, monkeypatch):
    monkeypatch.setattr(api_keys, "PER_PERSON", 2)
    person = make_user()
    first, _ = make_key(person)
    make_key(person)
    with pytest.raises(InvalidInput, match="revoke one you no longer use"):
        make_key(person)
    db.session.rollback()
    api_keys.revoke_key(first, actor=person)
    make_key(person)  # a revoked key no longer counts


# --- authenticate and effective_scopes -----------------------------------------------------


@pytest.mark.parametrize(
    "token", ["", "portal_", "not-a-portal-token", "portal_" + "A" * 43, "portal_" + "A" * 500]
)
def test_an_unknown_token_authenticates_nobody(make_user, token):
    make_key(make_user())
    assert api_keys.authenticate(token) is None


def test_a_good_token_gives_its_key_and_scopes(make_user):
    pm = make_user("product_manager")
    key, token = make_key(pm, scopes=["team"])

    found = api_keys.authenticate(token)

    assert found is not None and found.id == key.id and found.user_id == pm.id
    assert api_keys.effective_scopes(found) == frozenset({"read", "team"})


def test_a_revoked_key_stops_at_once(make_user):
    person = make_user()
    key, token = make_key(person)
    api_keys.revoke_key(key, actor=person)
    db.session.commit()

    assert api_keys.authenticate(token) is None


def test_a_key_works_until_it_expires(make_user):
    key, token = make_key(make_user(), expires_at=api_keys.end_of(date.today() + timedelta(2)))
    assert key.expires_at is not None

    assert api_keys.authenticate(token, now=key.expires_at - timedelta(seconds=1)) is not None
    assert api_keys.authenticate(token, now=key.expires_at) is None
    assert api_keys.authenticate(token, now=key.expires_at + timedelta(days=1)) is None


def test_a_key_set_to_expire_today_works_to_the_end_of_today(make_user):
    today = utcnow().date()
    key, token = make_key(make_user(), expires_at=api_keys.end_of(today))
    assert key.expires_at.date() == today and key.expires_at > utcnow()
    assert api_keys.authenticate(token) is not None


def test_suspending_the_person_stops_their_keys_at_once(make_user):
    admin, person = make_user("admin"), make_user()
    _key, token = make_key(person, scopes=["write"])
    assert api_keys.authenticate(token) is not None

    users.suspend(person, "Posting spam", actor=admin, ip=None)
    db.session.commit()

    assert api_keys.authenticate(token) is None


def test_the_person_is_read_afresh_on_every_call(make_user):
    """Even where this session still holds the person as they were (a long-lived worker's
    session), a suspension written meanwhile counts on the next call."""
    person = make_user()
    _key, token = make_key(person)
    key = api_keys.authenticate(token)
    assert key is not None and key.user.suspended_at is None
    db.session.execute(
        update(User)
        .where(User.id == person.id)
        .values(suspended_at=utcnow())
        .execution_options(synchronize_session=False)
    )

    assert api_keys.authenticate(token) is None


def test_a_demoted_product_manager_loses_the_team_scope_at_once(make_user):
    admin, pm = make_user("admin"), make_user("product_manager")
    _key, token = make_key(pm, scopes=["write", "team"])
    key = api_keys.authenticate(token)
    assert key is not None and api_keys.effective_scopes(key) == {"read", "write", "team"}

    users.change_role(pm, Role.CUSTOMER.value, actor=admin, ip=None)
    db.session.commit()

    key = api_keys.authenticate(token)
    assert key is not None
    assert key.scopes == "read write team"  # kept as made: promoted again, it works again
    assert api_keys.effective_scopes(key) == {"read", "write"}


def test_an_admin_key_of_an_admin_made_product_manager_keeps_only_the_team_scopes(make_user):
    boss, admin = make_user("admin"), make_user("admin")
    _key, token = make_key(admin, scopes=["admin"])
    users.change_role(admin, Role.PRODUCT_MANAGER.value, actor=boss, ip=None)
    db.session.commit()

    key = api_keys.authenticate(token)
    assert key is not None and api_keys.effective_scopes(key) == {"read"}


def test_last_use_is_written_at_most_once_a_minute(make_user):
    key, token = make_key(make_user())
    assert key.last_used_at is None
    start = utcnow()

    api_keys.authenticate(token, now=start)
    db.session.commit()
    assert fresh(key).last_used_at == start

    api_keys.authenticate(token, now=start + timedelta(seconds=30))
    db.session.commit()
    assert fresh(key).last_used_at == start

    later = start + timedelta(seconds=61)
    found = api_keys.authenticate(token, now=later)
    assert found is not None and found.last_used_at == later
    db.session.commit()
    assert fresh(key).last_used_at == later


def test_last_use_is_written_in_the_callers_transaction(make_user, count_queries):
    key, token = make_key(make_user())

    with count_queries() as q:
        assert api_keys.authenticate(token) is not None
    # The lookup (with the person), and one conditional UPDATE: no read before the write.
    assert q.count == 2
    assert q.statements[1].lstrip().upper().startswith("UPDATE API_KEYS")
    db.session.rollback()  # the caller's request failed: nothing of it is kept

    assert fresh(key).last_used_at is None


# --- Revoking and listing ------------------------------------------------------------------


def test_the_owner_or_an_admin_revokes_and_nobody_else(make_user):
    owner, other, pm, admin = (
        make_user(),
        make_user(),
        make_user("product_manager"),
        make_user("admin"),
    )
    key, _ = make_key(owner)

    for stranger in (other, pm):
        with pytest.raises(PermissionDenied):
            api_keys.revoke_key(key, actor=stranger)
    assert fresh(key).revoked_at is None

    api_keys.revoke_key(key, actor=admin, ip="10.0.0.9")
    db.session.commit()
    assert fresh(key).revoked_at is not None
    with pytest.raises(api_keys.ApiKeyAlreadyRevoked, match="revoked already"):
        api_keys.revoke_key(key, actor=owner)


def test_keys_of_lists_newest_first_with_revoked_ones_kept(make_user):
    person, someone_else = make_user(), make_user()
    old, _ = make_key(person, name="Old")
    old.created_at = utcnow() - timedelta(days=3)
    db.session.commit()
    make_key(person, name="New")
    make_key(someone_else, name="Not theirs")
    api_keys.revoke_key(old, actor=person)
    db.session.commit()

    listed = api_keys.keys_of(person)

    assert [k.name for k in listed] == ["New", "Old"]
    assert listed[1].revoked_at is not None


def test_making_and_revoking_keys_read_as_sentences(make_user):
    person, admin = make_user(display_name="Kofi"), make_user("admin", display_name="Ada")
    key, _ = make_key(
        person,
        name="CI",
        scopes=["write"],
        actor=person,
        ip="10.0.0.1",
        expires_at=datetime(2031, 3, 1, 23, 59, 59, tzinfo=UTC),
    )
    api_keys.revoke_key(key, actor=admin, ip="10.0.0.2")
    db.session.commit()

    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    sentences = [audit_log.describe(e) for e in events]

    assert sentences == [
        f"Kofi created their API key “CI” ({key.prefix}…) for read and write, "
        "expiring 2031-03-01 23:59 UTC.",
        f"Ada revoked Kofi's API key “CI” ({key.prefix}…).",
    ]
    assert [e.target_id for e in events] == [person.id, person.id]
    assert events[0].ip == "10.0.0.1"


# --- The account page ---------------------------------------------------------------------


def test_the_account_page_links_to_api_keys(client, login_as):
    login_as()
    assert 'href="/account/api-keys"' in client.get("/account").text


def test_a_customer_is_offered_read_and_write_with_descriptions(client, login_as):
    login_as("customer")

    page = client.get("/account/api-keys")

    assert page.status_code == 200
    text = page_text(page)
    assert 'value="read"' in page.text and 'value="write"' in page.text
    assert 'value="team"' not in page.text and 'value="admin"' not in page.text
    assert api_keys.SCOPE_DESCRIPTIONS["write"] in text
    assert "You have no API keys yet." in text
    assert re.search(r'<input[^>]*value="read"[^>]*checked', page.text)  # the usual choice


@pytest.mark.parametrize(("role", "offered"), [("product_manager", "team"), ("admin", "admin")])
def test_the_team_is_offered_its_own_scopes(client, login_as, role, offered):
    login_as(role)
    assert f'value="{offered}"' in client.get("/account/api-keys").text


def test_an_unconfirmed_person_is_told_to_confirm_first(client, login_as):
    login_as(verified=False)

    page = client.get("/account/api-keys")

    assert page.status_code == 200
    assert "Confirm your email address first" in page_text(page)
    assert 'name="scopes"' not in page.text


def test_making_a_key_shows_its_token_once_and_the_list_shows_its_prefix(client, login_as):
    person = login_as()

    made = client.post(
        "/account/api-keys",
        data={"name": "Weekly report", "scopes": ["read", "write"], "expires_at": ""},
    )

    assert made.status_code == 200
    assert "Location" not in made.headers
    assert made.headers["Cache-Control"] == "no-store"
    key = db.session.scalar(select(ApiKey).where(ApiKey.user_id == person.id))
    token = re.search(r"portal_[A-Za-z0-9_-]{43}", made.text).group(0)
    assert made.text.count(token) == 1
    assert key.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert "only time it is shown" in page_text(made)
    with client.session_transaction() as session:  # not in the cookie, as a flash would be
        assert token[16:] not in repr(dict(session))
    # The form is empty again, ready for another key.
    assert 'value="Weekly report"' not in made.text

    listed = client.get("/account/api-keys")
    text = page_text(listed)
    assert token not in listed.text and token[16:] not in listed.text
    assert key.prefix in text
    assert "Weekly report" in text
    assert re.search(r"Last used\s*</dt>\s*<dd>never</dd>", listed.text)
    assert re.search(r"Expires\s*</dt>\s*<dd>never</dd>", listed.text)
    assert "read, write" in text


def test_a_key_with_an_expiry_day_works_through_that_day(client, login_as):
    person = login_as()
    day = (utcnow() + timedelta(days=30)).date()

    made = client.post(
        "/account/api-keys",
        data={"name": "Trial", "scopes": ["read"], "expires_at": day.isoformat()},
    )

    assert made.status_code == 200
    key = db.session.scalar(select(ApiKey).where(ApiKey.user_id == person.id))
    assert key.expires_at == api_keys.end_of(day)


def test_a_refused_key_keeps_what_was_typed_and_says_what_is_wrong(client, login_as):
    login_as("customer")
    before = database_snapshot()

    refused = client.post(
        "/account/api-keys",
        data={"name": "My <script>", "scopes": ["write", "team"], "expires_at": "2001-01-01"},
    )

    assert refused.status_code == 400
    text = page_text(refused)
    assert "As a customer you cannot give a key the team scope" in text
    assert "That day has passed" in text
    assert 'value="My &lt;script&gt;"' in refused.text
    assert re.search(r'<input[^>]*value="write"[^>]*checked', refused.text)
    assert 'value="2001-01-01"' in refused.text
    assert database_snapshot() == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "scopes": ["read"]}, "Give the key a name"),
        ({"name": "Script"}, "Choose at least one scope"),
        ({"name": "Script", "scopes": ["read"], "expires_at": "31/12/2030"}, "YYYY-MM-DD"),
        ({"name": "Script", "scopes": ["everything"]}, "“everything” is not a scope"),
    ],
)
def test_each_problem_is_shown_on_the_page(client, login_as, data, message):
    login_as()
    refused = client.post("/account/api-keys", data=data)
    assert refused.status_code == 400
    assert message in page_text(refused)
    assert db.session.scalars(select(ApiKey)).all() == []


def test_revoking_from_the_page(client, login_as):
    person = login_as()
    key, token = make_key(person, name="Old script")

    page = client.get("/account/api-keys")
    assert "Revoke “Old script”?" in page_text(page)
    done = client.post(f"/account/api-keys/{key.id}/revoke")

    assert done.status_code == 303 and done.headers["Location"].endswith("/account/api-keys")
    assert fresh(key).revoked_at is not None
    assert api_keys.authenticate(token) is None
    after = client.get("/account/api-keys")
    assert "The key “Old script” is revoked" in page_text(after)
    assert "Revoked" in page_text(after)
    assert f"/account/api-keys/{key.id}/revoke" not in after.text
    again = client.post(f"/account/api-keys/{key.id}/revoke", follow_redirects=True)
    assert "was revoked already" in page_text(again)


def test_nobody_revokes_anothers_key_from_their_page(client, login_as, make_user):
    login_as("admin")
    key, _token = make_key(make_user())

    assert client.post(f"/account/api-keys/{key.id}/revoke").status_code == 404
    assert fresh(key).revoked_at is None


def test_the_page_needs_no_script(client, login_as):
    person = login_as()
    make_key(person, name="A" * 80)

    page = client.get("/account/api-keys")

    # The revoke confirmation is a <details>, the create form a plain post: no script needed.
    # (tests/browser/test_api_keys_page.py uses it at 375 px.)
    main = page.text.split("<main", 1)[1].split("</main>", 1)[0]
    assert "<details" in main and "<script" not in main


@CSRF_ON
def test_making_and_revoking_need_the_forms_csrf_token(client, make_user):
    person = make_user()
    sign_in_client(client, person)
    key, _ = make_key(person, name="Kept")
    page = client.get("/account/api-keys")
    before = database_snapshot()

    forged = client.post("/account/api-keys", data={"name": "Forged", "scopes": ["write"]})
    forged_revoke = client.post(f"/account/api-keys/{key.id}/revoke")

    assert forged.status_code == 400 and forged_revoke.status_code == 400
    assert database_snapshot() == before
    token = csrf_token_from(page)
    made = client.post(
        "/account/api-keys", data={"name": "Real", "scopes": ["read"], "csrf_token": token}
    )
    assert made.status_code == 200 and "only time it is shown" in page_text(made)
    revoked = client.post(f"/account/api-keys/{key.id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303 and fresh(key).revoked_at is not None


# --- The command line ---------------------------------------------------------------------


def test_cli_create_prints_only_the_token(runner, make_user):
    person = make_user("product_manager", email="pm@example.com")

    result = runner.invoke(
        args=[
            "api-key", "create", "PM@example.com", "--scope", "team", "--scope", "write",
            "--name", "Nightly sync", "--expires-in-days", "7",
        ]
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"portal_[A-Za-z0-9_-]{43}\n", result.stdout)
    token = result.stdout.strip()
    assert "only time" in result.stderr and token not in result.stderr
    key = api_keys.authenticate(token)
    assert key is not None and key.user_id == person.id and key.name == "Nightly sync"
    assert api_keys.effective_scopes(key) == {"read", "write", "team"}
    assert timedelta(days=6, hours=23) < key.expires_at - utcnow() <= timedelta(days=7)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "api_key.created"))
    assert audit_log.describe(event).startswith(
        f"An operator, from the command line, created {person.display_name}'s API key "
        f"“Nightly sync” ({key.prefix}…) for read, write and team, expiring "
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody@example.com", "--scope", "read"], "No account uses nobody@example.com"),
        (["c@example.com", "--scope", "admin"], "As a customer you cannot give a key the admin"),
        (["c@example.com", "--scope", "root"], "“root” is not a scope"),
        (["c@example.com", "--scope", "read", "--name", ""], "Give the key a name"),
    ],
)
def test_cli_create_refuses_with_a_clear_message(runner, make_user, args, message):
    make_user(email="c@example.com")

    result = runner.invoke(args=["api-key", "create", *args])

    assert result.exit_code != 0
    assert result.stdout == ""
    assert message in result.stderr
    assert db.session.scalars(select(ApiKey)).all() == []


def test_cli_create_needs_a_scope(runner, make_user):
    make_user(email="c@example.com")
    result = runner.invoke(args=["api-key", "create", "c@example.com"])
    assert result.exit_code != 0 and result.stdout == ""
    assert "--scope" in result.stderr


def test_cli_lists_and_revokes_by_prefix(runner, make_user):
    person = make_user(email="c@example.com")
    key, token = make_key(person, name="Old script", scopes=["write"])
    make_key(person, name="Other")

    listed = runner.invoke(args=["api-key", "list", "c@example.com"])
    assert listed.exit_code == 0
    assert f"{key.prefix}\tread,write\tnever used\tOld script" in listed.stdout
    assert token not in listed.output

    assert runner.invoke(args=["api-key", "revoke", "portal_"]).exit_code != 0  # too short
    revoked = runner.invoke(args=["api-key", "revoke", key.prefix])
    assert revoked.exit_code == 0, revoked.output
    assert "Revoked “Old script”" in revoked.stdout
    assert api_keys.authenticate(token) is None
    again = runner.invoke(args=["api-key", "revoke", key.prefix])
    assert again.exit_code != 0 and "revoked already" in again.stderr
    missing = runner.invoke(args=["api-key", "revoke", "portal_zzzzzzzzz"])
    assert missing.exit_code != 0 and "No API key starts with" in missing.stderr
