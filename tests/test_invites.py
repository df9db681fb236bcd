"""Invitations to private boards: the email, the single-use link, members and their removal."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from portal import visibility
from portal.extensions import db
from portal.models import AuditEvent, Board, BoardMember, Invite, Organisation, User
from portal.models.types import utcnow
from portal.services.audit_log import describe

from .conftest import sign_in_client
from .helpers import link_in, page_text


@pytest.fixture
def board(app) -> Board:
    board = Board(
        name="Acme beta",
        slug="acme-beta",
        description="Early builds for Acme's planning team.",
        audience="private",
        position=5,
    )
    db.session.add(board)
    db.session.commit()
    return board


@pytest.fixture
def admin(login_as):
    return login_as("admin", display_name="Ada Admin")


def words(response) -> str:
    """The page's text without its tags, spaces squeezed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page_text(response)).split())


def invite(client, board: Board, emails: str):
    return client.post(f"/admin/boards/{board.id}/invites", data={"emails": emails})


def invite_link(outbox, email: str) -> str:
    [message] = [m for m in outbox.to(email) if "invited you" in m["Subject"]]
    return link_in(message, "/invites/")


def sees(user, board: Board) -> bool:
    visibility.forget()
    return visibility.can_see_board(user, board)


def as_person(app, user):
    other = app.test_client()
    sign_in_client(other, user)
    return other


def test_admin_invites_several_addresses_each_once_with_an_email_each(
    app, client, admin, board, outbox
):
    response = invite(
        client,
        board,
        "Jo@Customer.example\nsam@customer.example, jo@customer.example\n\n  kim@other.example ",
    )
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == f"/admin/boards/{board.id}/people"
    rows = db.session.scalars(select(Invite).order_by(Invite.email)).all()
    assert [r.email for r in rows] == [
        "jo@customer.example",
        "kim@other.example",
        "sam@customer.example",
    ]
    assert all(r.board_id == board.id and r.created_by_id == admin.id for r in rows)
    assert all(timedelta(days=13) < r.expires_at - utcnow() <= timedelta(days=14) for r in rows)
    assert [len(outbox.to(r.email)) for r in rows] == [1, 1, 1]
    flash = page_text(client.get(f"/admin/boards/{board.id}/people"))
    assert "Invitation sent to 3 people" in flash


def test_the_email_names_the_inviter_the_board_and_links_on_the_base_url(
    app, client, admin, board, outbox
):
    invite(client, board, "jo@customer.example")
    [message] = outbox.to("jo@customer.example")
    assert message["Subject"].startswith("Ada Admin invited you to “Acme beta”")
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Ada Admin invited you" in text
    assert "Early builds for Acme's planning team." in text
    link = invite_link(outbox, "jo@customer.example")
    assert link.startswith(app.config["BASE_URL"].rstrip("/") + "/invites/")
    html_part = message.get_body(preferencelist=("html",)).get_content()
    assert link in html_part


def test_only_the_tokens_hash_is_stored(app, client, admin, board, outbox):
    invite(client, board, "jo@customer.example")
    token = invite_link(outbox, "jo@customer.example").rsplit("/", 1)[1]
    row = db.session.scalar(select(Invite))
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(
        db.session.execute(select(Invite.__table__)).all()
    )  # nowhere in the row


def test_a_bad_address_sends_nothing_and_keeps_what_was_typed(app, client, admin, board, outbox):
    typed = "jo@customer.example\nnot an address\n"
    response = invite(client, board, typed)
    assert response.status_code == 400
    text = page_text(response)
    assert "These are not email addresses: “not”, “an”, “address”" in text
    assert "jo@customer.example" in text  # still in the textarea
    assert db.session.scalar(select(func.count()).select_from(Invite)) == 0
    assert outbox.messages() == []


def test_a_board_that_is_not_private_takes_no_invitations(app, client, admin, outbox):
    public = db.session.scalar(select(Board).where(Board.slug == "ideas"))
    response = invite(client, public, "jo@customer.example")
    assert response.status_code == 400
    assert "is not private" in page_text(response)
    assert outbox.messages() == []


def test_inviting_again_replaces_the_link(app, client, admin, board, outbox):
    invite(client, board, "jo@customer.example")
    first = invite_link(outbox, "jo@customer.example")
    invite(client, board, "jo@customer.example")
    links = [link_in(m, "/invites/") for m in outbox.to("jo@customer.example")]
    assert len(links) == 2 and links[0] == first
    assert db.session.scalar(select(func.count()).select_from(Invite)) == 1
    stranger = app.test_client()
    assert stranger.get(urlsplit(first).path).status_code == 404
    assert stranger.get(urlsplit(links[1]).path).status_code == 200


def test_a_visitor_is_told_what_the_invitation_is_and_how_to_accept(
    app, client, admin, board, outbox
):
    invite(client, board, "jo@customer.example")
    path = urlsplit(invite_link(outbox, "jo@customer.example")).path
    response = app.test_client().get(path)
    assert response.status_code == 200
    text = words(response)
    assert "Ada Admin invited you to Acme beta" in text
    assert "sent to jo@customer.example" in text
    sign_in_links = re.findall(r'href="(/sign-in\?[^"]*)"', response.get_data(as_text=True))
    assert [path] in [parse_qs(urlsplit(html.unescape(u)).query)["next"] for u in sign_in_links]
    assert 'href="/sign-up"' in response.get_data(as_text=True)


def test_accepting_makes_a_member_who_sees_the_board_and_the_link_works_once(
    app, client, admin, board, outbox, make_user
):
    invite(client, board, "jo@customer.example")
    path = urlsplit(invite_link(outbox, "jo@customer.example")).path
    jo = make_user(email="jo@customer.example", display_name="Jo Customer")
    assert not sees(jo, board)
    browser = as_person(app, jo)
    page = browser.get(path)
    assert "Join “Acme beta”" in page_text(page)
    response = browser.post(path)
    assert response.status_code == 303
    member = db.session.get(BoardMember, (board.id, jo.id))
    assert member is not None and member.invite_id is not None
    assert sees(jo, board)
    again = browser.post(path)
    assert again.status_code == 410
    assert "This invitation has been used" in page_text(again)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "invite.accepted"))
    assert describe(event) == (
        "Jo Customer accepted the invitation sent to jo@customer.example and joined Acme beta."
    )


def test_whoever_holds_the_link_may_use_it_but_sees_whom_it_was_for(
    app, client, admin, board, outbox, make_user
):
    invite(client, board, "jo@customer.example")
    path = urlsplit(invite_link(outbox, "jo@customer.example")).path
    sam = make_user(email="sam@elsewhere.example")
    browser = as_person(app, sam)
    text = words(browser.get(path))
    assert "sent to jo@customer.example" in text
    assert "You are signed in as sam@elsewhere.example, not the address it was sent to" in text
    assert browser.post(path).status_code == 303
    assert sees(sam, board)


def test_an_expired_link_says_so_and_whom_to_ask(app, client, admin, board, outbox, make_user):
    invite(client, board, "jo@customer.example")
    path = urlsplit(invite_link(outbox, "jo@customer.example")).path
    row = db.session.scalar(select(Invite))
    row.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    jo = make_user(email="jo@customer.example")
    browser = as_person(app, jo)
    for response in (browser.get(path), browser.post(path)):
        assert response.status_code == 410
        text = page_text(response)
        assert "This invitation has expired" in text
        assert "ask Ada Admin for a new invitation" in text
    assert not sees(jo, board)


def test_a_withdrawn_link_says_so(app, client, admin, board, outbox, make_user):
    invite(client, board, "jo@customer.example")
    path = urlsplit(invite_link(outbox, "jo@customer.example")).path
    row = db.session.scalar(select(Invite))
    response = client.post(f"/admin/invites/{row.id}/revoke")
    assert response.status_code == 303
    people = client.get(f"/admin/boards/{board.id}/people").get_data(as_text=True)
    assert f"/admin/invites/{row.id}/revoke" not in people
    jo = make_user(email="jo@customer.example")
    browser = as_person(app, jo)
    answer = browser.post(path)
    assert answer.status_code == 410
    assert "Ada Admin withdrew this invitation" in page_text(answer)
    assert not sees(jo, board)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "invite.revoked"))
    assert describe(event) == (
        "Ada Admin withdrew the invitation of jo@customer.example to Acme beta."
    )


def test_the_people_page_lists_members_invitations_and_who_else_sees_it(
    app, client, admin, board, outbox, make_user
):
    acme = Organisation(name="Acme Corp")
    db.session.add(acme)
    db.session.flush()
    board.organisations.append(acme)
    from portal.models import BoardDomain

    board.domains.append(BoardDomain(domain="acme.example"))
    db.session.commit()
    invite(client, board, "jo@customer.example\nsam@customer.example")
    jo = make_user(email="jo@customer.example", display_name="Jo Customer", organisation=acme)
    as_person(app, jo).post(urlsplit(invite_link(outbox, "jo@customer.example")).path)
    text = page_text(client.get(f"/admin/boards/{board.id}/people"))
    assert "Jo Customer" in text and "Acme Corp" in text
    assert "sam@customer.example" in text  # still waiting
    assert "Everyone at Acme Corp" in text
    assert "Everyone with a confirmed address at @acme.example" in text


def test_removing_a_member_takes_the_board_away_at_once(
    app, client, admin, board, outbox, make_user
):
    invite(client, board, "jo@customer.example")
    jo = make_user(email="jo@customer.example", display_name="Jo Customer")
    as_person(app, jo).post(urlsplit(invite_link(outbox, "jo@customer.example")).path)
    assert sees(jo, board)
    response = client.post(f"/admin/boards/{board.id}/members/{jo.id}/remove")
    assert response.status_code == 303
    assert db.session.get(BoardMember, (board.id, jo.id)) is None
    assert not sees(jo, board)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "board.member_removed"))
    assert describe(event) == "Ada Admin took Jo Customer off the private board Acme beta."


def test_an_unknown_link_is_a_page_not_an_error(client):
    response = client.get("/invites/not-a-real-token")
    assert response.status_code == 404
    assert "This invitation link is not one we know" in page_text(response)


def test_sending_is_rate_limited(app, client, admin, board, outbox):
    app.config["LIMIT_INVITES"] = "2/minute"
    assert invite(client, board, "a@customer.example").status_code == 303
    assert invite(client, board, "b@customer.example").status_code == 303
    assert invite(client, board, "c@customer.example").status_code == 429
    assert outbox.to("c@customer.example") == []


def _sign_up(browser, email: str):
    return browser.post(
        "/sign-up",
        data={
            "email": email,
            "display_name": "Jo Newcomer",
            "password": "a long enough passphrase",
            "accept_guidelines": "y",
        },
    )


def test_a_newcomer_signing_up_with_the_invited_address_is_in_at_once(
    app, client, admin, board, outbox
):
    invite(client, board, "jo@customer.example")
    path = urlsplit(invite_link(outbox, "jo@customer.example")).path
    browser = app.test_client()
    assert browser.get(path).status_code == 200
    signed_up = _sign_up(browser, "jo@customer.example")
    # The invitation reached this address: no second email to open, straight onto the board.
    assert signed_up.status_code == 303
    assert urlsplit(signed_up.headers["Location"]).path == f"/boards/{board.slug}"
    jo = db.session.scalar(select(User).where(User.email == "jo@customer.example"))
    assert jo.email_verified_at is not None
    assert db.session.get(BoardMember, (board.id, jo.id)) is not None
    assert sees(jo, board)
    assert [m for m in outbox.to("jo@customer.example") if "Confirm" in m["Subject"]] == []
    assert "Welcome to “Acme beta”, Jo Newcomer." in page_text(browser.get(f"/boards/{board.slug}"))
    assert browser.get(path).status_code == 410  # used


def test_a_newcomer_with_another_address_confirms_it_then_joins(app, client, admin, board, outbox):
    invite(client, board, "jo@customer.example")
    path = urlsplit(invite_link(outbox, "jo@customer.example")).path
    browser = app.test_client()
    assert browser.get(path).status_code == 200
    assert _sign_up(browser, "jo.home@example.net").status_code == 303
    [confirm] = [m for m in outbox.to("jo.home@example.net") if "Confirm" in m["Subject"]]
    assert browser.post(urlsplit(link_in(confirm, "/confirm/")).path).status_code == 302
    assert "Join “Acme beta”" in page_text(browser.get(path))
    assert browser.post(path).status_code == 303
    jo = db.session.scalar(select(User).where(User.email == "jo.home@example.net"))
    assert db.session.get(BoardMember, (board.id, jo.id)) is not None
    assert sees(jo, board)
