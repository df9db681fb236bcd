"""Closing the loop: followers of a shipped or declined idea say whether it met their need."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Idea, Notification, OutcomeAnswer, Role
from portal.models.types import utcnow
from portal.permissions import PermissionDenied
from portal.services import comments, outcomes, pipeline, votes

from .conftest import sign_in_client
from .helpers import page_text

NOTE = "Released in version 4.2 for every customer; tell us whether it helps you."
QUESTION = "Did this meet your need?"
UNKNOWN_ANSWER = "Choose Yes, Partly or No."
THANKS = "Thank you. Your answer goes straight to the product team."
CLOSED_STAGES = ["shipped", "declined"]


def visible_text(response) -> str:
    """The page as a reader sees it: tags dropped, entities decoded, whitespace collapsed."""
    text = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    text = " ".join(html.unescape(text).split())
    return re.sub(r" ([.,;:)])", r"\1", text)


def fresh(idea_id: int) -> Idea:
    db.session.expire_all()
    return db.session.get(Idea, idea_id)


def answers(idea_id: int) -> list[tuple[int, str, str]]:
    """(user id, answer, comment) of every stored answer about this idea."""
    return [
        tuple(row)
        for row in db.session.execute(
            select(OutcomeAnswer.user_id, OutcomeAnswer.answer, OutcomeAnswer.comment)
            .where(OutcomeAnswer.idea_id == idea_id)
            .order_by(OutcomeAnswer.id)
        )
    ]


def asked(idea_id: int, kind: str = "outcome_question") -> list[int]:
    """The ids of the people sent a notification of this kind about this idea (with repeats)."""
    return sorted(
        db.session.scalars(
            select(Notification.user_id).where(
                Notification.idea_id == idea_id, Notification.kind == kind
            )
        )
    )


def answer(client, idea_id: int, value: str = "yes", comment: str = ""):
    return client.post(f"/ideas/{idea_id}/outcome", data={"answer": value, "comment": comment})


@pytest.fixture
def team_member(make_user):
    return make_user(Role.PRODUCT_MANAGER, display_name="Pam Product")


@pytest.fixture
def close(stages, team_member):
    """close(idea, "shipped") moves the idea there through the pipeline, as the team would."""

    def move(idea: Idea, slug: str = "shipped") -> Idea:
        idea = fresh(idea.id)
        pipeline.move_stage(idea, stages[slug], actor=team_member, note=NOTE, ip=None)
        db.session.commit()
        return idea

    return move


@pytest.fixture
def follower(make_user):
    return make_user(display_name="Fiona Follower")


@pytest.fixture
def shipped(make_idea, follower, close):
    """A shipped idea that `follower` voted for before it closed."""
    idea = make_idea("Export reports to Excel")
    votes.cast_vote(idea, follower)
    db.session.commit()
    return close(idea, "shipped")


# ---------------------------------------------------------------------------------------------
# Who is asked when an idea closes


@pytest.mark.parametrize("slug", CLOSED_STAGES)
def test_closing_an_idea_asks_every_follower_except_the_team_member_who_moved_it(
    client, make_user, make_idea, stages, slug
):
    author, voter, commenter, watcher, bystander = (make_user() for _ in range(5))
    mover = make_user(Role.PRODUCT_MANAGER)
    idea = make_idea(author=author)
    votes.cast_vote(idea, voter)
    comments.add_comment(idea, author=commenter, body="We need this for the month-end close.")
    votes.follow(idea, watcher)
    comments.add_comment(idea, author=mover, body="Thanks, we are looking at the exporter now.")
    db.session.commit()
    sign_in_client(client, mover)

    response = client.post(
        f"/ideas/{idea.id}/move", data={"stage_id": str(stages[slug].id), "note": NOTE}
    )

    assert response.status_code == 303
    assert fresh(idea.id).stage.slug == slug
    expected = sorted([author.id, voter.id, commenter.id, watcher.id])
    assert asked(idea.id) == expected  # each once; not the mover, not the bystander
    assert asked(idea.id, "stage_change") == []  # the question carries the stage note
    assert bystander.id not in asked(idea.id)


@pytest.mark.parametrize("slug", ["planned", "under_review", "in_progress"])
def test_moving_to_an_open_stage_asks_nobody(client, make_user, make_idea, stages, slug):
    author, voter = make_user(), make_user()
    idea = make_idea(author=author)
    votes.cast_vote(idea, voter)
    db.session.commit()
    sign_in_client(client, make_user(Role.PRODUCT_MANAGER))

    response = client.post(
        f"/ideas/{idea.id}/move", data={"stage_id": str(stages[slug].id), "note": NOTE}
    )

    assert response.status_code == 303
    assert asked(idea.id, "stage_change") == sorted([author.id, voter.id])
    assert asked(idea.id) == []


def test_the_question_notification_links_to_the_question_on_the_idea_page(
    client, shipped, follower
):
    sign_in_client(client, follower)

    page = client.get("/notifications")

    assert page.status_code == 200
    text = page_text(page)
    assert "Export reports to Excel" in text
    assert "It is closed. Did the outcome meet your need?" in text
    [question] = db.session.scalars(
        select(Notification).where(
            Notification.user_id == follower.id, Notification.kind == "outcome_question"
        )
    )
    assert f'href="/notifications/{question.id}">Tell us</a>' in page.get_data(as_text=True)
    opened = client.get(f"/notifications/{question.id}")
    assert opened.status_code == 303
    assert opened.headers["Location"] == f"/ideas/{shipped.id}#outcome"
    idea_page = client.get(f"/ideas/{shipped.id}")
    assert 'id="outcome"' in idea_page.get_data(as_text=True)


def test_answering_marks_the_question_read(client, shipped, follower, make_idea, close):
    """Answered from an email's link, without opening the idea: the question is still read."""
    question = select(Notification.read_at).where(
        Notification.user_id == follower.id, Notification.kind == "outcome_question"
    )
    assert db.session.scalar(question) is None
    outcomes.answer_outcome(fresh(shipped.id), follower, answer="partly")
    db.session.commit()
    db.session.expire_all()
    assert db.session.scalar(question) is not None


# ---------------------------------------------------------------------------------------------
# Who sees the question


@pytest.mark.parametrize("slug", CLOSED_STAGES)
def test_followers_of_a_closed_idea_see_the_question_with_three_buttons(
    client, make_idea, follower, close, slug, stages
):
    idea = make_idea()
    votes.cast_vote(idea, follower)
    db.session.commit()
    close(idea, slug)
    sign_in_client(client, follower)

    response = client.get(f"/ideas/{idea.id}")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="outcome"' in page
    assert QUESTION in page
    assert f"The idea is {stages[slug].name.lower()}." in page
    assert f'action="/ideas/{idea.id}/outcome"' in page
    for value in ("yes", "partly", "no"):
        assert f'name="answer" value="{value}"' in page
    assert "For the team:" not in page


def test_the_author_is_asked_on_the_page_too(client, make_user, make_idea, close):
    author = make_user()
    idea = close(make_idea(author=author), "declined")
    sign_in_client(client, author)

    assert QUESTION in client.get(f"/ideas/{idea.id}").get_data(as_text=True)


def test_customers_who_do_not_follow_a_closed_idea_are_not_asked(client, shipped, login_as):
    login_as(Role.CUSTOMER)

    response = client.get(f"/ideas/{shipped.id}")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert QUESTION not in page
    assert 'id="outcome"' not in page
    assert f'action="/ideas/{shipped.id}/outcome"' not in page


def test_anonymous_visitors_are_not_asked(client, shipped):
    response = client.get(f"/ideas/{shipped.id}")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Export reports to Excel" in page
    assert QUESTION not in page
    assert f'action="/ideas/{shipped.id}/outcome"' not in page


@pytest.mark.parametrize("slug", [None, "planned", "in_progress"])
def test_followers_of_an_open_idea_are_not_asked(client, make_idea, follower, close, slug):
    idea = make_idea()
    votes.cast_vote(idea, follower)
    db.session.commit()
    if slug:
        close(idea, slug)  # a move, though not to a closed stage
    sign_in_client(client, follower)

    page = client.get(f"/ideas/{idea.id}").get_data(as_text=True)

    assert QUESTION not in page
    assert f'action="/ideas/{idea.id}/outcome"' not in page
    assert answer(client, idea.id).status_code == 403
    assert answers(idea.id) == []


def test_a_hidden_closed_idea_asks_nobody_even_a_following_team_member(
    client, make_idea, team_member, close
):
    idea = make_idea()
    votes.follow(idea, team_member)
    db.session.commit()
    idea = close(idea, "shipped")
    idea.hidden_at = utcnow()
    db.session.commit()
    sign_in_client(client, team_member)

    page = client.get(f"/ideas/{idea.id}")

    assert page.status_code == 200  # the team still sees hidden ideas
    assert QUESTION not in page.get_data(as_text=True)
    assert answer(client, idea.id).status_code == 403
    assert answers(idea.id) == []


# ---------------------------------------------------------------------------------------------
# Answering


def test_one_click_answers_and_returns_to_the_question(client, shipped, follower):
    sign_in_client(client, follower)

    response = answer(client, shipped.id, "yes")

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/ideas/{shipped.id}#outcome")
    assert answers(shipped.id) == [(follower.id, "yes", "")]
    page = visible_text(client.get(response.headers["Location"]))
    assert THANKS in page
    assert "You answered Yes; you can change it." in page


def test_answering_again_changes_the_answer_and_keeps_one_row(client, shipped, follower):
    sign_in_client(client, follower)
    assert answer(client, shipped.id, "no").status_code == 303
    first = db.session.scalar(select(OutcomeAnswer).where(OutcomeAnswer.idea_id == shipped.id))
    first_id, first_updated = first.id, first.updated_at

    response = answer(client, shipped.id, "partly", "It exports, but not the charts.")

    assert response.status_code == 303
    assert answers(shipped.id) == [(follower.id, "partly", "It exports, but not the charts.")]
    again = db.session.scalar(select(OutcomeAnswer).where(OutcomeAnswer.idea_id == shipped.id))
    assert again.id == first_id
    assert again.updated_at >= first_updated
    assert "You answered Partly; you can change it." in visible_text(
        client.get(f"/ideas/{shipped.id}")
    )


def test_the_form_shows_your_earlier_comment_so_changing_the_answer_keeps_it(
    client, shipped, follower
):
    sign_in_client(client, follower)
    answer(client, shipped.id, "no", "Charts are missing from the export.")

    raw = client.get(f"/ideas/{shipped.id}").get_data(as_text=True)

    match = re.search(r'<textarea[^>]*name="comment"[^>]*>(.*?)</textarea>', raw, re.S)
    assert match, "no comment box in the outcome form"
    # Otherwise pressing another button posts an empty box and silently erases the comment.
    assert html.unescape(match.group(1)).strip() == "Charts are missing from the export."


@pytest.mark.parametrize("value", ["maybe", "", "YES", "yes "])
def test_an_unknown_answer_is_refused_and_stores_nothing(client, shipped, follower, value):
    sign_in_client(client, follower)

    response = answer(client, shipped.id, value, "A comment that must not be stored.")

    assert response.status_code == 400
    assert UNKNOWN_ANSWER in page_text(response)
    assert answers(shipped.id) == []


def test_a_post_without_any_answer_is_refused(client, shipped, follower):
    sign_in_client(client, follower)

    response = client.post(f"/ideas/{shipped.id}/outcome", data={"comment": "Hello"})

    assert response.status_code == 400
    assert UNKNOWN_ANSWER in page_text(response)
    assert answers(shipped.id) == []


def test_an_unknown_answer_leaves_an_earlier_answer_alone(client, shipped, follower):
    sign_in_client(client, follower)
    answer(client, shipped.id, "yes", "Works for us.")

    response = answer(client, shipped.id, "perhaps", "Changed my mind.")

    assert response.status_code == 400
    assert answers(shipped.id) == [(follower.id, "yes", "Works for us.")]


def test_an_over_long_comment_gives_a_form_error_and_keeps_the_text(client, shipped, follower):
    sign_in_client(client, follower)
    long_comment = "Partly useful. " + "x" * (outcomes.COMMENT_MAX - 14)
    assert len(long_comment) == outcomes.COMMENT_MAX + 1

    response = answer(client, shipped.id, "partly", long_comment)

    assert response.status_code == 400
    page = page_text(response)
    assert 'id="comment-error"' in page
    assert "This has 2,001 characters; the limit is 2,000." in page
    assert long_comment in page  # what they typed is not lost
    assert answers(shipped.id) == []


def test_a_comment_of_the_maximum_length_is_accepted(client, shipped, follower):
    sign_in_client(client, follower)
    comment = "y" * outcomes.COMMENT_MAX

    response = answer(client, shipped.id, "yes", comment)

    assert response.status_code == 303
    assert answers(shipped.id) == [(follower.id, "yes", comment)]


def test_customers_who_do_not_follow_cannot_answer(client, shipped, login_as):
    login_as(Role.CUSTOMER)

    response = answer(client, shipped.id, "no", "Sneaking a verdict in.")

    assert response.status_code == 403
    assert answers(shipped.id) == []


def test_team_members_who_do_not_follow_cannot_answer(client, shipped, login_as):
    login_as(Role.ADMIN)

    response = answer(client, shipped.id, "yes")

    assert response.status_code == 403
    assert answers(shipped.id) == []


def test_someone_who_unfollowed_can_no_longer_answer(client, shipped, follower):
    votes.unfollow(fresh(shipped.id), follower)
    db.session.commit()
    sign_in_client(client, follower)

    assert QUESTION not in client.get(f"/ideas/{shipped.id}").get_data(as_text=True)
    assert answer(client, shipped.id, "yes").status_code == 403
    assert answers(shipped.id) == []


def test_anonymous_visitors_cannot_answer(client, shipped):
    response = answer(client, shipped.id, "yes")

    assert response.status_code == 302
    assert "/sign-in" in response.headers["Location"]
    assert answers(shipped.id) == []


def test_answering_an_idea_that_does_not_exist_is_not_found(client, follower):
    sign_in_client(client, follower)

    assert answer(client, 999_999).status_code == 404


def test_the_service_refuses_people_who_cannot_answer(shipped, make_user):
    with pytest.raises(PermissionDenied):
        outcomes.answer_outcome(fresh(shipped.id), make_user(), answer="yes")
    db.session.rollback()
    assert answers(shipped.id) == []


class TestWithCsrf:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "WTF_CSRF_ENABLED": True}

    def test_an_answer_without_a_csrf_token_is_refused(self, client, shipped, follower):
        sign_in_client(client, follower)

        response = answer(client, shipped.id, "yes")

        assert response.status_code == 400
        assert answers(shipped.id) == []

    def test_the_form_on_the_page_answers_with_its_token(self, client, shipped, follower):
        sign_in_client(client, follower)
        raw = client.get(f"/ideas/{shipped.id}").get_data(as_text=True)
        form = raw[raw.index(f'action="/ideas/{shipped.id}/outcome"') :]
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
        assert token, "no CSRF token in the outcome form"

        response = client.post(
            f"/ideas/{shipped.id}/outcome",
            data={"csrf_token": token.group(1), "answer": "partly", "comment": ""},
        )

        assert response.status_code == 303
        assert answers(shipped.id) == [(follower.id, "partly", "")]


# ---------------------------------------------------------------------------------------------
# What the team and the customers see of the answers


@pytest.fixture
def answered(make_idea, make_user, close):
    """A shipped idea answered Yes, Yes and No by three followers, two of them with comments."""
    idea = make_idea("Bulk edit tags")
    people = [
        make_user(display_name="Ann Alpha"),
        make_user(display_name="Bob Beta"),
        make_user(display_name="Cat Gamma"),
    ]
    for person in people:
        votes.cast_vote(idea, person)
    db.session.commit()
    idea = close(idea, "shipped")
    for person, (value, comment) in zip(
        people,
        [("yes", "Saves me an hour a week."), ("yes", ""), ("no", "Tags on archived items fail.")],
        strict=True,
    ):
        outcomes.answer_outcome(idea, person, answer=value, comment=comment)
    db.session.commit()
    return idea, people


@pytest.mark.parametrize("role", [Role.PRODUCT_MANAGER, Role.ADMIN])
def test_the_team_sees_counts_shares_and_named_comments(client, login_as, answered, role):
    idea, _ = answered
    login_as(role)

    response = client.get(f"/ideas/{idea.id}")

    assert response.status_code == 200
    page = visible_text(response)
    assert "For the team: 3 answers. Yes 2 (67%), Partly 0 (0%), No 1 (33%)." in page
    assert "Yes, Ann Alpha: Saves me an hour a week." in page
    assert "No, Cat Gamma: Tags on archived items fail." in page
    assert "Bob Beta:" not in page  # an answer without a comment adds no empty line
    raw = response.get_data(as_text=True)
    assert f'action="/ideas/{idea.id}/outcome"' not in raw  # the team does not answer here


def test_the_team_sees_a_single_partly_as_one_hundred_percent(
    client, login_as, make_idea, follower, close
):
    idea = make_idea()
    votes.cast_vote(idea, follower)
    db.session.commit()
    idea = close(idea, "declined")
    outcomes.answer_outcome(idea, follower, answer="partly")
    db.session.commit()
    login_as(Role.PRODUCT_MANAGER)

    page = visible_text(client.get(f"/ideas/{idea.id}"))

    assert "For the team: 1 answer. Yes 0 (0%), Partly 1 (100%), No 0 (0%)." in page


def test_a_changed_answer_is_counted_once_in_its_new_place(
    client, login_as, shipped, follower, team_member
):
    sign_in_client(client, follower)
    answer(client, shipped.id, "no")
    answer(client, shipped.id, "partly")
    sign_in_client(client, team_member)

    page = visible_text(client.get(f"/ideas/{shipped.id}"))

    assert "For the team: 1 answer. Yes 0 (0%), Partly 1 (100%), No 0 (0%)." in page


def test_a_following_team_member_answers_and_sees_the_tally(client, make_idea, make_user, close):
    manager = make_user(Role.PRODUCT_MANAGER)
    idea = make_idea()
    comments.add_comment(idea, author=manager, body="We will try this in the next release.")
    db.session.commit()
    idea = close(idea, "shipped")
    sign_in_client(client, manager)

    assert answer(client, idea.id, "yes").status_code == 303
    page = visible_text(client.get(f"/ideas/{idea.id}"))

    assert "You answered Yes" in page
    assert "For the team: 1 answer. Yes 1 (100%)" in page


def test_customers_never_see_other_peoples_answers(client, answered):
    idea, (_ann, bob, _cat) = answered
    sign_in_client(client, bob)  # a follower who answered, without a comment

    page = visible_text(client.get(f"/ideas/{idea.id}"))

    assert "You answered Yes" in page
    assert "For the team:" not in page
    assert "Saves me an hour a week." not in page
    assert "Tags on archived items fail." not in page
    assert "3 answers" not in page
    assert "(67%)" not in page


@pytest.mark.parametrize("viewer", ["anonymous", "stranger"])
def test_visitors_never_see_the_answers(client, answered, login_as, viewer):
    idea, _ = answered
    if viewer == "stranger":
        login_as(Role.CUSTOMER)

    page = page_text(client.get(f"/ideas/{idea.id}"))

    assert "Saves me an hour a week." not in page
    assert "Tags on archived items fail." not in page
    assert "For the team:" not in page
    assert "(67%)" not in page


def test_verdicts_are_for_the_team_only(answered):
    idea, (ann, _bob, _cat) = answered

    with pytest.raises(PermissionDenied):
        outcomes.verdicts(fresh(idea.id), viewer=ann)


def test_script_in_an_outcome_comment_and_name_is_shown_as_text(
    client, make_idea, make_user, close, team_member
):
    attacker = make_user(display_name='<img src=x onerror="alert(2)">Mallory')
    idea = make_idea()
    votes.cast_vote(idea, attacker)
    db.session.commit()
    idea = close(idea, "shipped")
    sign_in_client(client, attacker)
    payload = "<script>alert(1)</script><svg onload=alert(3)>"
    assert answer(client, idea.id, "no", payload).status_code == 303
    assert answers(idea.id) == [(attacker.id, "no", payload)]  # stored as typed
    sign_in_client(client, team_member)

    raw = client.get(f"/ideas/{idea.id}").get_data(as_text=True)

    assert "<script>alert(1)" not in raw
    assert "<svg onload" not in raw
    assert "<img src=x onerror" not in raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;svg onload=alert(3)&gt;" in raw
    assert "&lt;img src=x onerror=" in raw


def test_the_team_page_makes_the_same_number_of_queries_whatever_the_answers(
    client, make_idea, make_user, close, team_member, count_queries
):
    people = [make_user() for _ in range(8)]
    idea = make_idea()
    for person in people:
        votes.cast_vote(idea, person)
    db.session.commit()
    idea = close(idea, "shipped")
    outcomes.answer_outcome(idea, people[0], answer="yes", comment="First")
    db.session.commit()
    sign_in_client(client, team_member)
    client.get(f"/ideas/{idea.id}")  # anything done once per session is done now

    with count_queries() as few:
        client.get(f"/ideas/{idea.id}")
    for n, person in enumerate(people[1:]):
        value = ("yes", "partly", "no")[n % 3]
        outcomes.answer_outcome(fresh(idea.id), person, answer=value, comment=f"Note {n}")
    db.session.commit()
    with count_queries() as many:
        page = visible_text(client.get(f"/ideas/{idea.id}"))

    assert "For the team: 8 answers." in page
    assert many.count == few.count, many.statements


# ---------------------------------------------------------------------------------------------
# The database keeps one answer per person, from a known set


def test_the_database_keeps_one_answer_per_person_per_idea(shipped, follower):
    db.session.add(OutcomeAnswer(idea_id=shipped.id, user_id=follower.id, answer="yes"))
    db.session.commit()
    db.session.add(OutcomeAnswer(idea_id=shipped.id, user_id=follower.id, answer="no"))

    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert answers(shipped.id) == [(follower.id, "yes", "")]


def test_the_database_refuses_an_unknown_answer(shipped, follower):
    db.session.add(OutcomeAnswer(idea_id=shipped.id, user_id=follower.id, answer="maybe"))

    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert answers(shipped.id) == []


# ---------------------------------------------------------------------------------------------
# Satisfaction over every closed idea


def test_satisfaction_counts_only_ideas_that_are_shipped_or_declined_now(
    make_idea, make_user, close
):
    people = [make_user() for _ in range(6)]

    def closed_with(slug: str, *verdicts: str) -> Idea:
        idea = make_idea(f"Idea closed as {slug} {len(verdicts)}")
        voters = people[: len(verdicts)]
        for person in voters:
            votes.cast_vote(idea, person)
        db.session.commit()
        idea = close(idea, slug)
        for person, value in zip(voters, verdicts, strict=True):
            outcomes.answer_outcome(idea, person, answer=value)
        db.session.commit()
        return idea

    closed_with("shipped", "yes", "yes", "partly")
    closed_with("declined", "no")
    reopened = closed_with("shipped", "no", "no", "no", "partly", "yes")
    close(reopened, "in_progress")  # its answers stay stored but no longer count
    make_idea("Still open")

    result = outcomes.satisfaction()

    assert result.counts == {"yes": 2, "partly": 1, "no": 1}
    assert result.total == 4
    assert (result.share("yes"), result.share("partly"), result.share("no")) == (50, 25, 25)
    assert db.session.scalar(select(func.count(OutcomeAnswer.id))) == 9


def test_satisfaction_with_no_answers_is_all_zero(make_idea, close):
    close(make_idea(), "shipped")

    result = outcomes.satisfaction()

    assert result.counts == {"yes": 0, "partly": 0, "no": 0}
    assert result.total == 0
    assert result.share("yes") == 0
