"""Erasing an account: nothing that names the person is left anywhere, threads stay readable,
votes stay counted; and admins and the person see and end signed-in sessions."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import JSON, String, Text, cast, func, select

from portal.extensions import db
from portal.models import (
    AuditEvent,
    Comment,
    ExternalIdentity,
    Idea,
    Notification,
    OutboxMessage,
    RecoveryCode,
    RememberedDevice,
    SavedFilter,
    User,
    UserSession,
    WebhookDelivery,
    WebhookEndpoint,
)
from portal.services import accounts, api_keys, comments, erase, users, votes
from portal.services.errors import DomainError

from .conftest import DEFAULT_PASSWORD, sign_in_client
from .helpers import page_text

EMAIL = "zebulon.quartermain@distinct-erase.example"
NAME = "Zebulon Quartermain"


def test_every_table_that_references_users_is_in_the_erase_plan(app):
    """A new table with a foreign key to users must say in ERASE_PLAN what erasing does."""
    found = set()
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "users" and fk.column.name == "id":
                found.add((table.name, fk.parent.name))
    found.add(("users", "id"))
    missing = sorted(found - set(erase.ERASE_PLAN))
    assert not missing, f"classify these in portal/services/erase.py ERASE_PLAN: {missing}"
    assert sorted(set(erase.ERASE_PLAN) - found) == [], "ERASE_PLAN names columns that are gone"


def _every_text_value() -> list[tuple[str, str, str]]:
    """(table, column, value) for every text, varchar and JSON column of every table."""
    db.session.expire_all()
    found = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, JSON):
                expr = cast(column, Text)
            elif isinstance(column.type, (String, Text)):
                expr = column
            else:
                continue
            for value in db.session.scalars(select(expr).where(column.is_not(None))):
                found.append((table.name, column.name, str(value)))
    db.session.commit()
    return found


def _traces() -> list[tuple[str, str, str]]:
    needles = (EMAIL, NAME, NAME.lower(), EMAIL.split("@")[0])
    return [
        (t, c, v) for t, c, v in _every_text_value() if any(n.lower() in v.lower() for n in needles)
    ]


@pytest.fixture
def person(app, make_user, make_idea, make_organisation, stages, client):
    """Someone with a bit of everything: ideas, comments and replies, votes, follows,
    notifications, mail, audit entries, keys, webhook deliveries, filters, sessions."""
    from portal.models.types import utcnow

    organisation = make_organisation("Distinct Org")
    admin = make_user("admin", display_name="Ada Admin")
    other = make_user(display_name="Olga Other")
    person = make_user("product_manager", email=EMAIL, display_name=NAME, organisation=organisation)
    own_idea = make_idea("Colour-coded calendars", author=person)
    others_idea = make_idea("Faster exports", author=other)
    votes.cast_vote(others_idea, person)
    votes.cast_vote(own_idea, other)
    votes.follow(others_idea, person)
    top = comments.add_comment(others_idea, author=person, body="I would use this daily.")
    comments.add_comment(others_idea, author=other, body="Me too!", parent_id=top.id)
    comments.add_comment(own_idea, author=other, body="Nice one.")
    comments.add_comment(others_idea, author=person, body="Replying here.", parent_id=top.id)
    db.session.commit()
    with pytest.raises(DomainError):
        accounts.authenticate(EMAIL, "not the password", ip="192.0.2.1")
    users.change_role(person, "customer", actor=admin, ip="192.0.2.2")
    api_keys.create_key(person, name="Report script", scopes=["read"])
    db.session.add(SavedFilter(owner_id=person.id, name="Mine", query="owner=me"))
    # Single sign-on and two-factor sign-in: a linked identity (it keeps the address it was
    # linked with), a TOTP secret, recovery codes and a remembered browser.
    db.session.add(
        ExternalIdentity(provider="corp", subject="zq-1", user_id=person.id, email=EMAIL)
    )
    person.totp_secret = pyotp.random_base32()
    person.totp_enabled_at = utcnow()
    db.session.add(RecoveryCode(user_id=person.id, code_hash="0" * 64))
    db.session.add(
        RememberedDevice(
            user_id=person.id,
            token_hash="1" * 64,
            expires_at=utcnow() + timedelta(days=30),
            user_agent=f"{NAME}'s laptop",
        )
    )
    db.session.add(
        OutboxMessage(
            kind="notification",
            to_address=EMAIL,
            user_id=person.id,
            subject=f"Hello {NAME}",
            body=f"To: {EMAIL}\n\nDear {NAME}",
        )
    )
    db.session.add(
        OutboxMessage(
            kind="notification",
            to_address="olga@example.com",
            user_id=other.id,
            subject=f"{NAME} replied",
            body=f"{NAME} ({EMAIL}) replied to you.",
        )
    )
    endpoint = WebhookEndpoint(
        url="http://127.0.0.1:9/hook", events=["comment.created"], secret="x"
    )
    db.session.add(endpoint)
    db.session.flush()
    db.session.add(
        WebhookDelivery(
            endpoint_id=endpoint.id,
            message_id="msg_erase",
            event_type="comment.created",
            payload={"comment": {"author": NAME, "body": "I would use this daily."}},
            comment_id=top.id,
            idea_id=others_idea.id,
        )
    )
    db.session.add(
        Notification(user_id=other.id, actor_id=person.id, kind="reply", message=f"{NAME} replied")
    )
    db.session.add(
        AuditEvent(action="sign_in.failed", actor_name=None, detail={"email": EMAIL}, ip="::1")
    )
    person.last_sign_in_at = utcnow()
    db.session.commit()
    sign_in_client(client, person)
    assert db.session.scalar(
        select(func.count(Notification.id)).where(Notification.user_id == person.id)
    )
    assert _traces(), "the fixture should leave the person's name and email about"
    return {"person": person, "own_idea": own_idea.id, "others_idea": others_idea.id, "top": top.id}


def _vote_total() -> int:
    return db.session.scalar(select(func.sum(Idea.vote_count))) or 0


def test_erasing_leaves_no_trace_of_the_name_or_email(app, client, person):
    before = _vote_total()
    response = client.post("/account/delete", data={"confirmation": DEFAULT_PASSWORD})
    assert response.status_code == 303
    assert _traces() == []
    assert _vote_total() == before
    user = db.session.get_one(User, person["person"].id)
    assert user.display_name == erase.FORMER_MEMBER and user.is_suspended
    assert db.session.scalar(select(func.count(UserSession.id))) == 0
    assert user.totp_secret is None and not user.two_factor_on
    for model in (ExternalIdentity, RecoveryCode, RememberedDevice):
        assert db.session.scalar(select(func.count()).select_from(model)) == 0
    page = page_text(client.get(f"/ideas/{person['own_idea']}"))
    assert "A former member" in page and "Colour-coded calendars" in page
    page = page_text(client.get(f"/ideas/{person['others_idea']}"))
    assert "I would use this daily." in page and "A former member" in page
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.erased")).one()
    assert event.target_id == user.id and event.actor_id is None
    # Nobody can sign in as them, with the old address or any other.
    with pytest.raises(DomainError):
        accounts.authenticate(EMAIL, DEFAULT_PASSWORD, ip=None)


def test_erasing_with_removal_takes_their_ideas_and_comments_away(app, client, person):
    before = _vote_total()
    response = client.post(
        "/account/delete", data={"confirmation": DEFAULT_PASSWORD, "remove_posts": "y"}
    )
    assert response.status_code == 303
    assert _traces() == []
    assert _vote_total() == before
    texts = " ".join(v for _t, _c, v in _every_text_value())
    assert "Colour-coded calendars" not in texts
    assert "I would use this daily." not in texts and "Replying here." not in texts
    assert client.get(f"/ideas/{person['own_idea']}").status_code == 404
    page = page_text(client.get(f"/ideas/{person['others_idea']}"))
    assert "Me too!" in page  # the reply to their removed comment still reads
    top = db.session.get_one(Comment, person["top"])
    assert top.deleted_at is not None and top.body == ""
    idea = db.session.get_one(Idea, person["others_idea"])
    visible = db.session.scalar(
        select(func.count(Comment.id)).where(
            Comment.idea_id == idea.id, Comment.deleted_at.is_(None), Comment.hidden_at.is_(None)
        )
    )
    assert idea.comment_count == visible == 1


def test_a_wrong_password_erases_nothing(app, client, person):
    response = client.post("/account/delete", data={"confirmation": "wrong"})
    assert response.status_code == 400
    assert "That password is not right." in page_text(response)
    assert db.session.get_one(User, person["person"].id).email == EMAIL


def test_without_a_password_the_email_confirms(app, client, make_user):
    user = make_user(email="nopassword@example.com")
    user.password_hash = "!sso-only"
    db.session.commit()
    sign_in_client(client, user)
    assert "Your email address" in page_text(client.get("/account/delete"))
    assert client.post("/account/delete", data={"confirmation": "x"}).status_code == 400
    response = client.post("/account/delete", data={"confirmation": "NoPassword@example.com"})
    assert response.status_code == 303
    assert erase.is_erased(db.session.get_one(User, user.id))


def test_the_last_admin_cannot_erase_themselves(app, client, login_as, make_user):
    admin = login_as("admin")
    response = client.post("/account/delete", data={"confirmation": DEFAULT_PASSWORD})
    assert response.status_code == 400
    assert "only admin" in page_text(response)
    make_user("admin")
    response = client.post("/account/delete", data={"confirmation": DEFAULT_PASSWORD})
    assert response.status_code == 303
    assert erase.is_erased(db.session.get_one(User, admin.id))


def test_an_admin_erases_on_request_and_it_is_audited_without_the_name(
    app, client, login_as, make_user
):
    target = make_user(email=EMAIL, display_name=NAME)
    admin = login_as("admin")
    assert client.post(f"/admin/users/{target.id}/erase", data={}).status_code == 400
    response = client.post(f"/admin/users/{target.id}/erase", data={"confirm": "y"})
    assert response.status_code == 303
    assert _traces() == []
    page = page_text(client.get("/admin/audit"))
    assert f"Account #{target.id} was erased by {admin.display_name}" in page


def test_an_admin_sees_and_ends_a_persons_sessions(app, client, make_user, login_as):
    from flask.testing import FlaskClient

    person = make_user()
    theirs: list[FlaskClient] = [app.test_client(), app.test_client()]
    for browser in theirs:
        sign_in_client(browser, person)
    assert theirs[0].get("/account").status_code == 200
    login_as("admin")
    page = page_text(client.get(f"/admin/users/{person.id}"))
    assert page.count("End this session") == 2 and "End all sessions" in page
    first = db.session.scalars(
        select(UserSession).where(UserSession.user_id == person.id).order_by(UserSession.id)
    ).first()
    assert first is not None
    client.post(f"/admin/users/{person.id}/sessions/{first.id}/end")
    assert theirs[0].get("/account").status_code == 302
    assert theirs[1].get("/account").status_code == 200
    client.post(f"/admin/users/{person.id}/sessions/end-all")
    assert theirs[1].get("/account").status_code == 302
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("session.%"))
    ).all()
    assert sorted(actions) == ["session.ended", "session.ended_all"]


def test_a_person_ends_their_other_sessions(app, client, make_user):
    person = make_user()
    other_browser = app.test_client()
    sign_in_client(other_browser, person)
    sign_in_client(client, person)
    page = page_text(client.get("/account"))
    assert "This browser" in page and page.count("End this session") == 1
    mine = db.session.scalars(
        select(UserSession).where(UserSession.user_id == person.id).order_by(UserSession.id)
    ).all()
    # Their own current session is not ended through this button; someone else's is not found.
    assert client.post(f"/account/sessions/{mine[1].id}/end").status_code == 404
    assert client.post(f"/account/sessions/{mine[0].id}/end").status_code == 303
    assert other_browser.get("/account").status_code == 302
    sign_in_client(other_browser, person)
    assert client.post("/account/sessions/end-others").status_code == 303
    assert other_browser.get("/account").status_code == 302
    assert client.get("/account").status_code == 200
