"""The team dashboard: stage counts, overdue, response time, satisfaction and the weekly chart."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import OutcomeAnswer
from portal.models.types import utcnow
from portal.services import dashboard as dashboard_service
from portal.services import pipeline

from .helpers import page_text

NOTE = "Thanks, we have looked at this carefully with the team."


@pytest.fixture
def pm(make_user):
    return make_user("product_manager", display_name="Pat Manager")


def test_customers_cannot_open_the_dashboard(client, login_as):
    login_as("customer")
    assert client.get("/team/dashboard").status_code == 403


def test_figures_match_what_happened(client, login_as, make_idea, make_user, stages, pm):
    now = utcnow()
    fresh = make_idea("A fresh idea about exports")
    old = make_idea("An older idea about imports")
    old.created_at = now - timedelta(days=20)
    old.response_due_at = now - timedelta(days=13)  # New promised 7 days: long overdue
    db.session.commit()
    answered = make_idea("An idea the team answered")
    answered.created_at = now - timedelta(days=3)
    db.session.commit()
    pipeline.move_stage(answered, stages["shipped"], actor=pm, note=NOTE, ip=None)
    answered.first_response_at = answered.created_at + timedelta(days=2)
    voter = make_user()
    db.session.add(OutcomeAnswer(idea_id=answered.id, user_id=voter.id, answer="yes"))
    db.session.add(OutcomeAnswer(idea_id=answered.id, user_id=answered.author_id, answer="no"))
    db.session.commit()

    d = dashboard_service.dashboard(viewer=pm)
    per_stage = {stage.slug: n for stage, n in d.per_stage}
    assert per_stage["new"] == 2 and per_stage["shipped"] == 1
    assert d.new_this_week == 2  # the 20-day-old idea is not new
    assert d.overdue_now == 1
    assert d.median_first_response == timedelta(days=2)
    assert (d.satisfaction.counts["yes"], d.satisfaction.counts["no"]) == (1, 1)
    assert {i.id for i in d.most_wanted} == {fresh.id, old.id}  # the shipped one is not waiting
    this_week = d.weeks[-1]
    assert this_week.closed == 1
    assert sum(w.submitted for w in d.weeks) == 3

    login_as("product_manager")
    page = client.get("/team/dashboard").text
    assert "overdue now" in page
    assert "2 days" in page
    assert '<svg class="chart"' in page and "<table" in page  # chart plus the same figures
    assert "50%" in page


def test_dashboard_runs_a_fixed_number_of_queries(make_idea, pm, count_queries):
    make_idea("One idea for the count")
    with count_queries() as few:
        dashboard_service.dashboard(viewer=pm)
    for n in range(8):
        make_idea(f"Another idea number {n}")
    with count_queries() as many:
        dashboard_service.dashboard(viewer=pm)
    assert many.count == few.count


def test_ticked_ideas_move_together_with_one_note(client, login_as, make_idea, stages):
    from portal.models import Idea, StageChange

    login_as("product_manager")
    first, second = make_idea("First idea to move"), make_idea("Second idea to move")
    response = client.post(
        "/team/triage/move",
        data={
            "idea_ids": [str(first.id), str(second.id)],
            "stage_id": str(stages["under_review"].id),
            "note": "Both are now under review with the team.",
        },
    )
    assert response.status_code == 303
    assert {db.session.get(Idea, i).stage.slug for i in (first.id, second.id)} == {"under_review"}
    assert db.session.scalar(select(func.count(StageChange.id))) == 2


def test_ideas_that_cannot_move_are_named_before_anything_moves(
    client, login_as, make_idea, stages
):
    from portal.models import Idea, StageChange

    login_as("product_manager")
    movable = make_idea("An idea that could move")
    already = make_idea("An idea already there", stage="under_review")
    note = "Both are now under review with the team."
    form = {
        "idea_ids": [str(movable.id), str(already.id)],
        "stage_id": str(stages["under_review"].id),
        "note": note,
    }
    response = client.post("/team/triage/move", data=form)
    assert response.status_code == 200
    page = " ".join(response.text.split())
    assert "Nothing has moved yet" in page
    assert "1 of the 2 ideas you ticked cannot move to Under review" in page
    assert "An idea already there</a> (Under review): it is in Under review already." in page
    assert note in page
    assert db.session.scalar(select(func.count(StageChange.id))) == 0

    # Agreeing to leave it moves the other one only.
    response = client.post("/team/triage/move", data=form | {"leave": [str(already.id)]})
    assert response.status_code == 303
    assert db.session.get(Idea, movable.id).stage.slug == "under_review"
    assert db.session.scalar(select(func.count(StageChange.id))) == 1


def test_a_short_note_moves_nothing_and_keeps_the_ticks(client, login_as, make_idea, stages):
    from portal.models import Idea, StageChange

    login_as("product_manager")
    movable = make_idea("An idea that could move")
    response = client.post(
        "/team/triage/move",
        data={"idea_ids": [str(movable.id)], "stage_id": str(stages["planned"].id), "note": "Soon"},
    )
    assert response.status_code == 400
    assert "at least 20 characters" in response.text
    assert re.search(rf'id="pick-{movable.id}" data-moves="[\d ]*" checked', response.text)
    assert db.session.get(Idea, movable.id).stage.slug == "new"
    assert db.session.scalar(select(func.count(StageChange.id))) == 0


def test_no_outcome_answers_yet_is_said_not_shown_as_zero_percent(client, login_as, stages):
    login_as("product_manager")
    page = page_text(client.get("/team/dashboard"))
    assert "0% of 0 answers" not in " ".join(page.split())
    assert "no answers yet on whether closed ideas met the need" in page
