"""The demo data (`flask demo load`): a portal that looks lived in on first run.

Ideas spread over six months, stage changes and team answers over time, some answers overdue,
outcome answers on closed ideas and votes over time, told through the services so that every
counter is what the live portal would have computed.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    Comment,
    Idea,
    IdeaMerge,
    IdeaOrganisation,
    MergedVote,
    Notification,
    NotificationKind,
    OutcomeAnswer,
    Stage,
    StageChange,
    User,
    Vote,
)
from portal.models.types import utcnow
from portal.services import trending

from .conftest import sign_in_client


def page_text(response) -> str:
    """The words of a page, without its tags."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


@pytest.fixture
def demo(runner):
    result = runner.invoke(args=["demo", "load", "--quiet"])
    assert result.exit_code == 0, result.output
    password = re.search(r"password for all: (.+?)\):", result.output).group(1)
    return password


def person(email: str) -> User:
    return db.session.scalars(select(User).where(User.email == email)).one()


def ideas_by_stage() -> Counter[str]:
    rows = db.session.execute(select(Stage.slug).join(Idea, Idea.stage_id == Stage.id)).all()
    return Counter(slug for (slug,) in rows)


def test_ideas_are_spread_over_the_last_six_months(demo):
    now = utcnow()
    created = db.session.scalars(select(Idea.created_at)).all()
    assert len(created) >= 15
    assert min(created) >= now - timedelta(days=181)
    assert min(created) <= now - timedelta(days=150)
    assert max(created) >= now - timedelta(days=3)
    months = {(now - when).days // 30 for when in created}
    assert months >= {0, 1, 2, 3, 4, 5}


def test_every_stage_has_ideas_and_changes_happened_over_time(demo):
    stages = ("new", "under_review", "planned", "in_progress", "shipped", "declined")
    assert all(ideas_by_stage()[slug] >= 2 for slug in stages)
    changes = db.session.scalars(select(StageChange.created_at)).all()
    now = utcnow()
    assert len(changes) >= 20
    assert {(now - when).days // 30 for when in changes} >= {0, 1, 2, 3, 4, 5}


def test_the_counters_are_the_ones_the_services_keep(demo):
    for idea in db.session.scalars(select(Idea)):
        voters = db.session.scalars(select(Vote).where(Vote.idea_id == idea.id)).all()
        assert idea.vote_count == len(voters), idea.title
        comments = db.session.scalar(
            select(func.count())
            .select_from(Comment)
            .where(Comment.idea_id == idea.id, Comment.hidden_at.is_(None))
        )
        assert idea.comment_count == comments, idea.title  # hidden ones leave the count
        # Trending: the idea, its votes and its comments, each weighted at its own time.
        comment_times = db.session.scalars(
            select(Comment.created_at).where(Comment.idea_id == idea.id)
        ).all()
        # A merged idea keeps the weight of the votes it had; the merge recorded them.
        vote_times = (
            db.session.scalars(
                select(MergedVote.created_at)
                .join(IdeaMerge, IdeaMerge.id == MergedVote.merge_id)
                .where(IdeaMerge.source_id == idea.id, MergedVote.hidden_at.is_(None))
            ).all()
            if idea.merged_into_id
            else [v.created_at for v in voters]
        )
        expected = (
            trending.weight_at(trending.IDEA_WEIGHT, idea.created_at)
            + sum(trending.weight_at(trending.VOTE_WEIGHT, when) for when in vote_times)
            + sum(trending.weight_at(trending.COMMENT_WEIGHT, when) for when in comment_times)
        )
        assert idea.trending_score == pytest.approx(expected, rel=1e-6), idea.title
        # An organisation's vote (added by the team) names no person, and counts once for it.
        organisations = Counter(
            v.organisation_id or db.session.get(User, v.user_id).organisation_id for v in voters
        )
        counted = dict(
            db.session.execute(
                select(IdeaOrganisation.organisation_id, IdeaOrganisation.voters).where(
                    IdeaOrganisation.idea_id == idea.id
                )
            ).all()
        )
        assert counted == {k: n for k, n in organisations.items() if k is not None}


def test_the_team_added_votes_for_a_customer_and_an_organisation(demo, client):
    from portal.services import on_behalf

    added = db.session.scalars(select(Vote).where(Vote.source.is_not(None))).all()
    assert {v.user_id is None for v in added} == {True, False}
    assert db.session.scalar(select(func.count(Notification.id)).where(
        Notification.kind == NotificationKind.VOTE_ADDED)) >= 1  # fmt: skip
    pm = db.session.scalar(select(User).where(User.email == "priya.pm@portal.example"))
    idea = db.session.get(Idea, added[0].idea_id)
    assert on_behalf.team_votes(idea, viewer=pm)


def test_votes_are_spread_over_time_and_no_vote_comes_after_closing(demo):
    now = utcnow()
    cast = db.session.scalars(select(Vote.created_at)).all()
    assert sum(when >= now - timedelta(days=7) for when in cast) >= 10
    assert sum(when <= now - timedelta(days=60) for when in cast) >= 10
    for idea in db.session.scalars(select(Idea)):
        if idea.stage.is_closed:
            closed = max(
                db.session.scalars(
                    select(StageChange.created_at).where(StageChange.idea_id == idea.id)
                )
            )
            cast_on_it = db.session.scalars(select(Vote.created_at).where(Vote.idea_id == idea.id))
            assert all(when <= closed for when in cast_on_it), idea.title


def test_closed_ideas_have_outcome_answers_from_their_followers(demo):
    answers = db.session.scalars(select(OutcomeAnswer)).all()
    assert {a.answer for a in answers} == {"yes", "partly", "no"}
    for answer in answers:
        assert db.session.get(Idea, answer.idea_id).stage.is_closed


def test_the_dashboard_shows_overdue_ideas_and_a_busy_chart(demo, client):
    sign_in_client(client, person("priya.pm@portal.example"))
    response = client.get("/team/dashboard")
    assert response.status_code == 200
    text = page_text(response)
    overdue = re.search(r"(\d+)\s*overdue now", text)
    assert overdue and int(overdue.group(1)) >= 2, text[:2000]

    triage = page_text(client.get("/team/triage"))
    assert "Nothing is overdue." not in triage
    assert "Two-factor authentication with hardware keys" in triage


def test_the_roadmap_has_ideas_in_each_column_and_what_shipped(demo, client):
    text = page_text(client.get("/roadmap"))
    assert "Export reports to Excel with formatting" in text  # in progress
    assert "Calendar sync with Outlook" in text  # planned
    shipped = page_text(client.get("/shipped"))
    assert "Single sign-on with Azure AD" in shipped


def test_trending_is_not_the_same_as_newest(demo):
    by_trending = db.session.scalars(
        select(Idea.title).order_by(Idea.trending_score.desc()).limit(5)
    ).all()
    by_newest = db.session.scalars(select(Idea.title).order_by(Idea.created_at.desc()).limit(5))
    assert by_trending != list(by_newest)
    # An idea of weeks ago, voted for in the last days, trends above newer ones.
    assert "Dark mode for the dashboard" in by_trending[:3]


def test_the_demo_shows_saved_filters_and_a_hide_awaiting_review(demo, client):
    from portal.models import HideReview, SavedFilter

    from .conftest import sign_in_client

    priya = db.session.scalar(select(User).where(User.email == "priya.pm@portal.example"))
    sign_in_client(client, priya)
    triage = page_text(client.get("/team/triage"))
    assert "Mine, overdue" in triage and "New and nobody" in triage
    assert len(db.session.scalars(select(SavedFilter)).all()) == 2
    [review] = db.session.scalars(select(HideReview)).all()
    assert review.hidden_by.display_name == "Marco Bianchi" and review.comment is not None


def test_the_demo_shows_a_merged_duplicate_and_one_left_to_merge(demo, client):
    (merge,) = db.session.scalars(select(IdeaMerge)).all()
    kept = db.session.get(Idea, merge.target_id)
    assert kept.title == "Scheduled email of the weekly summary"
    page = client.get(f"/ideas/{kept.id}").get_data(as_text=True)
    assert "Merged in: <a" in page and "Send the Monday summary by email" in page
    waiting = db.session.scalars(
        select(Idea).where(Idea.title == "Email the weekly summary to managers automatically")
    ).one()
    assert waiting.merged_into_id is None


def test_the_demo_has_a_mobile_board_and_a_private_beta_for_one_customer(demo):
    from portal import visibility
    from portal.models import Board

    by_slug = {b.slug: b for b in db.session.scalars(select(Board))}
    mobile, beta = by_slug["mobile-app"], by_slug["beta-programme"]
    assert mobile.audience == "public" and beta.audience == "private"
    assert [o.name for o in beta.organisations] == ["Northwind Traders"]
    counts = {
        board_id: n
        for board_id, n in db.session.execute(
            select(Idea.board_id, func.count(Idea.id)).group_by(Idea.board_id)
        )
    }
    assert 3 <= counts[mobile.id] <= 4 and counts[beta.id] == 3
    assert visibility.user_can_see_board(person("ana@northwind.example"), beta.id)
    assert not visibility.user_can_see_board(person("dmitri@globex.example"), beta.id)
    # Everyone who voted for a beta idea may see the board.
    voters = db.session.scalars(
        select(User)
        .join(Vote, Vote.user_id == User.id)
        .join(Idea, Idea.id == Vote.idea_id)
        .where(Idea.board_id == beta.id)
    ).all()
    assert voters and all(visibility.user_can_see_board(v, beta.id) for v in voters)
