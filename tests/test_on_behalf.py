"""Votes the team adds for customers: counted like any vote, told, followed, withdrawn, audited."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    AuditEvent,
    Follow,
    Idea,
    IdeaOrganisation,
    Notification,
    NotificationKind,
    OutboxMessage,
    Vote,
)
from portal.services import moderation, on_behalf, pipeline, votes
from portal.services.errors import InvalidInput

from .conftest import sign_in_client
from .helpers import organisation_backing, page_text

QUOTE = "We lose a day every month re-typing these numbers."


@pytest.fixture
def acme(make_organisation):
    return make_organisation("Acme Logistics")


@pytest.fixture
def priya(make_user, acme):
    return make_user(email="priya@acme.example", display_name="Priya Shah", organisation=acme)


@pytest.fixture
def pm(make_user):
    return make_user("product_manager", display_name="Pat Manager")


def counts(idea_id: int) -> tuple[int, float, dict[int, int]]:
    """(vote_count, trending_score, {organisation: voters}) as stored."""
    db.session.expire_all()
    idea = db.session.get(Idea, idea_id)
    orgs = dict(
        db.session.execute(
            select(IdeaOrganisation.organisation_id, IdeaOrganisation.voters).where(
                IdeaOrganisation.idea_id == idea_id
            )
        ).all()
    )
    return idea.vote_count, idea.trending_score, orgs


def follow_of(idea_id: int, user_id: int) -> Follow | None:
    return db.session.scalar(
        select(Follow).where(Follow.idea_id == idea_id, Follow.user_id == user_id)
    )


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def words(response) -> str:
    """The page's text without its tags, spaces collapsed: what a reader sees."""
    return " ".join(re.sub(r"<[^>]+>", " ", page_text(response)).split())


def add_for(client, idea, **data):
    return client.post(f"/team/ideas/{idea.id}/votes", data=data)


# ---------------------------------------------------------------------------------------------
# A named customer


def test_pm_finds_a_customer_by_name_or_email_and_adds_their_vote(
    client, make_idea, make_user, pm, priya, acme
):
    idea = make_idea("Export reports to Excel")
    make_user("product_manager", display_name="Priya Teammate")  # the team: never listed
    make_user(display_name="Priya Suspended", suspended_reason="Posting spam")
    before_votes, before_trend, _ = counts(idea.id)
    sign_in_client(client, pm)

    for query in ("priya", "ACME.EXAMPLE"):
        found = page_text(client.get(f"/team/ideas/{idea.id}/votes/new", query_string={"q": query}))
        assert "Priya Shah" in found and "priya@acme.example" in found
        assert "Priya Teammate" not in found and "Priya Suspended" not in found

    response = add_for(
        client, idea, q="priya", user_id=str(priya.id), source="sales_call", quote=QUOTE
    )

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/ideas/{idea.id}#team-votes-title")
    vote_count, trend, orgs = counts(idea.id)
    assert vote_count == before_votes + 1
    assert trend > before_trend
    assert orgs == {acme.id: 1}
    vote = db.session.scalar(select(Vote).where(Vote.user_id == priya.id))
    assert (vote.source, vote.added_by_id, vote.quote) == ("sales_call", pm.id, QUOTE)
    follow = follow_of(idea.id, priya.id)
    assert follow is not None and follow.via_vote  # withdrawing the vote ends it
    assert audit_actions()[-1] == "vote.added_for_customer"
    event = db.session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()))
    assert event.detail["customer"] == "Priya Shah"
    assert event.detail["source"] == "a sales call"
    assert event.detail["idea"] == "Export reports to Excel"

    page = words(client.get(response.headers["Location"]))
    assert "Vote added for Priya Shah" in page
    assert "From a sales call, added by Pat Manager" in page
    assert QUOTE in page  # the team sees the customer's words
    assert "Priya Shah (added by the team)" in page


def test_the_customer_is_told_who_added_it_and_why_in_the_app_and_by_email(
    client, make_idea, pm, priya
):
    idea = make_idea("Export reports to Excel")
    on_behalf.add_vote_for_person(idea, priya, source="support_ticket", quote="", actor=pm, ip=None)
    db.session.commit()

    told = db.session.scalar(select(Notification).where(Notification.user_id == priya.id))
    assert told.kind == NotificationKind.VOTE_ADDED
    assert told.actor_id == pm.id
    assert told.message.startswith(
        "Pat Manager added your vote for “Export reports to Excel”, from a support ticket."
    )
    mail = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.to_address == "priya@acme.example")
    )
    assert mail is not None and mail.notification_id == told.id

    sign_in_client(client, priya)
    inbox = page_text(client.get("/notifications"))
    assert "Pat Manager added your vote" in inbox
    page = words(client.get(f"/ideas/{idea.id}"))
    assert "Pat Manager from the team added your vote" in page
    assert "from a support ticket" in page
    assert "Votes added by the team" not in page  # the team's panel stays the team's


def test_the_customer_withdraws_the_vote_and_every_count_goes_back(
    client, make_idea, pm, priya, acme
):
    idea = make_idea("Export reports to Excel")
    before = counts(idea.id)
    on_behalf.add_vote_for_person(idea, priya, source="meeting", quote=QUOTE, actor=pm, ip=None)
    db.session.commit()
    sign_in_client(client, priya)

    response = client.post(f"/ideas/{idea.id}/vote", data={"action": "unvote"})

    assert response.status_code == 303
    after = counts(idea.id)
    assert after[0] == before[0] and after[2] == before[2]
    assert after[1] == pytest.approx(before[1])
    assert follow_of(idea.id, priya.id) is None
    assert db.session.scalar(select(Vote).where(Vote.user_id == priya.id)) is None
    kept, recounted = organisation_backing()
    assert kept == recounted


def test_a_customer_who_already_votes_is_not_added_twice_and_nothing_typed_is_lost(
    client, make_idea, pm, priya
):
    idea = make_idea("Export reports to Excel")
    votes.cast_vote(idea, priya)
    db.session.commit()
    before = counts(idea.id)
    sign_in_client(client, pm)

    response = add_for(client, idea, q="priya", user_id=str(priya.id), source="email", quote=QUOTE)

    assert response.status_code == 400
    page = page_text(response)
    assert "Priya Shah already votes for this idea" in page
    assert QUOTE in page and 'value="email" checked' in page
    assert 'value="priya"' in page  # the search is kept, so the person is still listed
    assert counts(idea.id) == before
    assert db.session.scalar(select(func.count(Notification.id))) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"source": "sales_call"}, "Find the customer and choose them"),
        ({"user_id": "{priya}"}, "Choose where the customer told you."),
        ({"user_id": "{priya}", "organisation_id": "{acme}", "source": "email"}, "not both"),
        ({"user_id": "{priya}", "source": "carrier_pigeon"}, "Not a valid choice"),
        ({"user_id": "{priya}", "source": "email", "quote": "x" * 2001}, "2,001 characters"),
    ],
)
def test_an_incomplete_form_says_what_is_missing_and_adds_nothing(
    client, make_idea, pm, priya, acme, data, message
):
    idea = make_idea("Export reports to Excel")
    sign_in_client(client, pm)
    values = {k: v.format(priya=priya.id, acme=acme.id) for k, v in data.items()}

    response = add_for(client, idea, q="priya", **values)

    assert response.status_code == 400
    assert message in page_text(response)
    assert db.session.scalar(select(func.count(Vote.id)).where(Vote.source.is_not(None))) == 0


def test_no_vote_is_added_for_the_team_or_a_suspended_person_or_on_a_closed_idea(
    make_idea, make_user, pm, priya
):
    idea = make_idea("Export reports to Excel")
    colleague = make_user("product_manager")
    suspended = make_user(suspended_reason="Posting spam")
    with pytest.raises(InvalidInput, match="only for customers"):
        on_behalf.add_vote_for_person(idea, colleague, source="email", quote="", actor=pm, ip=None)
    with pytest.raises(InvalidInput, match="suspended"):
        on_behalf.add_vote_for_person(idea, suspended, source="email", quote="", actor=pm, ip=None)
    shipped = make_idea("Already shipped", stage="shipped")
    with pytest.raises(votes.VotingClosed):
        on_behalf.add_vote_for_person(shipped, priya, source="email", quote="", actor=pm, ip=None)


def test_customers_cannot_add_votes_for_others(client, make_idea, login_as, priya):
    idea = make_idea("Export reports to Excel")
    login_as("customer")
    response = add_for(client, idea, user_id=str(priya.id), source="email")
    assert response.status_code == 403
    assert db.session.scalar(select(func.count(Vote.id)).where(Vote.user_id == priya.id)) == 0


# ---------------------------------------------------------------------------------------------
# An organisation, no person named


def test_an_organisation_counts_once_and_shows_as_the_organisation(
    client, make_idea, make_user, pm, acme
):
    idea = make_idea("Export reports to Excel")
    before_votes, _, _ = counts(idea.id)
    sign_in_client(client, pm)

    first = add_for(client, idea, organisation_id=str(acme.id), source="meeting", quote=QUOTE)
    again = add_for(client, idea, organisation_id=str(acme.id), source="email")

    assert first.status_code == 303
    assert again.status_code == 400
    assert "already added a vote for Acme Logistics" in page_text(again)
    vote_count, _, orgs = counts(idea.id)
    assert vote_count == before_votes + 1
    assert orgs == {acme.id: 1}
    assert audit_actions()[-1] == "vote.added_for_organisation"
    assert db.session.scalar(select(func.count(Notification.id))) == 0  # nobody to tell

    team_page = words(client.get(f"/ideas/{idea.id}"))
    assert "Acme Logistics (added by the team)" in team_page
    assert "organisation, no person named" in team_page

    sign_in_client(client, make_user())
    customer_page = words(client.get(f"/ideas/{idea.id}"))
    assert "A customer company (added by the team)" in customer_page
    assert "Acme Logistics" not in customer_page and QUOTE not in customer_page


def test_a_person_of_the_organisation_voting_too_counts_as_well(make_idea, pm, priya, acme):
    idea = make_idea("Export reports to Excel")
    before_votes, _, _ = counts(idea.id)
    on_behalf.add_vote_for_organisation(
        idea, acme, source="sales_call", quote="", actor=pm, ip=None
    )
    votes.cast_vote(idea, priya)
    db.session.commit()
    vote_count, _, orgs = counts(idea.id)
    assert vote_count == before_votes + 2
    assert orgs == {acme.id: 2}
    kept, recounted = organisation_backing()
    assert kept == recounted


def test_the_team_removes_a_vote_it_added_and_every_count_goes_back(
    client, make_idea, pm, priya, acme
):
    idea = make_idea("Export reports to Excel")
    before = counts(idea.id)
    on_behalf.add_vote_for_person(idea, priya, source="email", quote="", actor=pm, ip=None)
    on_behalf.add_vote_for_organisation(idea, acme, source="meeting", quote="", actor=pm, ip=None)
    db.session.commit()
    sign_in_client(client, pm)
    for team_vote in on_behalf.team_votes(idea, viewer=pm):
        response = client.post(
            f"/team/ideas/{idea.id}/votes/remove", data={"vote_id": str(team_vote.id)}
        )
        assert response.status_code == 303
    after = counts(idea.id)
    assert after[0] == before[0] and after[2] == before[2]
    assert after[1] == pytest.approx(before[1])
    assert follow_of(idea.id, priya.id) is None
    assert audit_actions()[-2:] == ["vote.removed_by_team", "vote.removed_by_team"]


def test_the_team_cannot_remove_a_customers_own_vote(client, make_idea, pm, priya):
    idea = make_idea("Export reports to Excel")
    votes.cast_vote(idea, priya)
    db.session.commit()
    own = db.session.scalar(select(Vote).where(Vote.user_id == priya.id))
    sign_in_client(client, pm)
    response = client.post(f"/team/ideas/{idea.id}/votes/remove", data={"vote_id": str(own.id)})
    assert response.status_code == 303
    assert "already withdrawn or removed" in page_text(client.get(f"/ideas/{idea.id}"))
    assert db.session.get(Vote, own.id) is not None


# ---------------------------------------------------------------------------------------------
# In every count: hiding, merging


def test_hiding_and_restoring_the_customers_posts_hides_and_restores_the_added_vote(
    make_idea, make_user, pm, priya
):
    idea = make_idea("Export reports to Excel")
    admin = make_user("admin")
    on_behalf.add_vote_for_person(idea, priya, source="email", quote="", actor=pm, ip=None)
    db.session.commit()
    with_vote = counts(idea.id)
    moderation.hide_everything_by(priya, reason="Posting spam", actor=admin, ip=None)
    db.session.commit()
    assert counts(idea.id)[0] == with_vote[0] - 1
    assert on_behalf.team_votes(idea, viewer=pm) == []
    moderation.restore_everything_by(priya, actor=admin, ip=None)
    db.session.commit()
    assert counts(idea.id)[0] == with_vote[0]
    assert counts(idea.id)[2] == with_vote[2]


def test_a_merge_moves_added_votes_with_their_source_and_counts_people_once(
    make_idea, make_user, pm, priya, acme, make_organisation
):
    source = make_idea("Excel export of reports")
    target = make_idea("Export reports to Excel")
    other_org = make_organisation("Globex")
    # The target already has an organisation's vote: people's votes must still move.
    on_behalf.add_vote_for_organisation(
        target, other_org, source="email", quote="", actor=pm, ip=None
    )
    on_behalf.add_vote_for_person(
        source, priya, source="sales_call", quote=QUOTE, actor=pm, ip=None
    )
    on_behalf.add_vote_for_organisation(source, acme, source="meeting", quote="", actor=pm, ip=None)
    on_behalf.add_vote_for_organisation(
        source, other_org, source="email", quote="", actor=pm, ip=None
    )
    db.session.commit()

    pipeline.merge_ideas(source, target, actor=pm, note="The same need as this one.", ip=None)
    db.session.commit()

    moved = db.session.scalar(
        select(Vote).where(Vote.idea_id == target.id, Vote.user_id == priya.id)
    )
    assert (moved.source, moved.quote, moved.added_by_id) == ("sales_call", QUOTE, pm.id)
    # Both authors, Priya, Acme and Globex once (Globex was on both).
    vote_count, _, orgs = counts(target.id)
    assert vote_count == 5
    assert orgs == {acme.id: 2, other_org.id: 1}
    assert db.session.scalar(select(func.count(Vote.id)).where(Vote.idea_id == source.id)) == 0
    kept, recounted = organisation_backing()
    assert kept == recounted
