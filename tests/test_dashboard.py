"""The team dashboard: stage counts, overdue, response time, satisfaction and the weekly chart."""

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import OutcomeAnswer
from portal.models.types import utcnow
from portal.services import dashboard as dashboard_service
from portal.services import pipeline

from .conftest import sign_in_client
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


# ---------------------------------------------------------------------------------------------
# Breakdowns by owner, category and organisation; the least satisfied ideas


@pytest.fixture
def scene(make_idea, make_user, make_category, make_organisation, stages, pm):
    """Pat owns an overdue reporting idea Acme backs, and a shipped one Acme's people judged;
    nobody owns a fresh billing idea answered in a day."""
    from portal.services import votes

    now = utcnow()
    reporting, billing = make_category("Reporting"), make_category("Billing")
    acme = make_organisation("Acme Logistics")
    buyer = make_user(organisation=acme)
    late = make_idea("Late reporting idea", category=reporting)
    late.owner_id = pm.id
    late.created_at = now - timedelta(days=20)
    late.response_due_at = now - timedelta(days=13)  # New promises 7 days: never answered
    votes.cast_vote(late, buyer)
    quick = make_idea("Quick billing idea", category=billing)
    quick.created_at = now - timedelta(days=3)
    quick.first_response_at = now - timedelta(days=2)  # answered in a day: in time
    shipped = make_idea("Shipped reporting idea", category=reporting, stage="shipped")
    shipped.owner_id = pm.id
    shipped.created_at = now - timedelta(days=30)
    shipped.first_response_at = now - timedelta(days=10)  # 20 days for a 7-day promise: late
    db.session.add_all(
        [
            OutcomeAnswer(idea_id=shipped.id, user_id=buyer.id, answer="no"),
            OutcomeAnswer(idea_id=shipped.id, user_id=shipped.author_id, answer="yes"),
        ]
    )
    db.session.commit()
    return SimpleNamespace(acme=acme, reporting=reporting, billing=billing, late=late,
                           quick=quick, shipped=shipped)  # fmt: skip


def breakdown(d, title: str) -> dict[str, dashboard_service.Group]:
    [b] = [b for b in d.breakdowns if b.title == title]
    return {g.name: g for g in b.groups}


def test_breakdown_by_owner(scene, pm):
    owners = breakdown(dashboard_service.dashboard(viewer=pm), "Owner")
    pat, nobody = owners["Pat Manager"], owners["Nobody yet"]
    assert (pat.open, pat.overdue) == (1, 1)  # the shipped one is not open
    assert (pat.due, pat.in_time, pat.in_time_share) == (2, 0, 0)
    assert (pat.verdicts.counts["yes"], pat.verdicts.counts["no"]) == (1, 1)
    assert (nobody.open, nobody.overdue, nobody.due, nobody.in_time) == (1, 0, 1, 1)
    assert nobody.verdicts.total == 0


def test_breakdown_by_category(scene, pm):
    categories = breakdown(dashboard_service.dashboard(viewer=pm), "Category")
    reporting, billing = categories["Reporting"], categories["Billing"]
    assert (reporting.open, reporting.overdue, reporting.due, reporting.in_time) == (1, 1, 2, 0)
    assert reporting.verdicts.share("yes") == 50
    assert (billing.open, billing.overdue, billing.in_time_share) == (1, 0, 100)


def test_breakdown_by_organisation_counts_backed_ideas_and_its_peoples_answers(scene, pm):
    organisations = breakdown(dashboard_service.dashboard(viewer=pm), "Organisation")
    assert list(organisations) == ["Acme Logistics"]
    acme = organisations["Acme Logistics"]
    assert (acme.open, acme.overdue, acme.due, acme.in_time) == (1, 1, 1, 0)
    # Only the answer of Acme's own person, not the author's.
    assert (acme.verdicts.counts["no"], acme.verdicts.total) == (1, 1)


def test_lowest_satisfaction_lists_the_least_satisfied_closed_ideas_first(
    scene, make_idea, make_user, pm
):
    happy = make_idea("A well received idea", category=scene.billing, stage="shipped")
    partly = make_idea("A half good idea", category=scene.billing, stage="declined")
    for idea, answers in ((happy, ["yes", "yes"]), (partly, ["partly", "no", "yes"])):
        for answer in answers:
            db.session.add(OutcomeAnswer(idea_id=idea.id, user_id=make_user().id, answer=answer))
    db.session.commit()

    lowest = dashboard_service.dashboard(viewer=pm).lowest_satisfaction

    assert [(row.idea.title, row.score) for row in lowest] == [
        ("A half good idea", 50),  # as satisfied as the next, and more people answered
        ("Shipped reporting idea", 50),
        ("A well received idea", 100),
    ]


def test_the_dashboard_page_shows_the_breakdowns_and_the_lowest_satisfaction(client, scene, pm):
    sign_in_client(client, pm)
    page = " ".join(re.sub(r"<[^>]+>", " ", page_text(client.get("/team/dashboard"))).split())
    assert "By owner, category and organisation" in page
    assert "Pat Manager 1 1 0% (0 of 2) 50% of 2" in page
    assert "Billing 1 0 100% (1 of 1) \N{EN DASH}" in page
    assert "Acme Logistics 1 1 0% (0 of 1) 0% of 1" in page
    assert "Lowest satisfaction" in page
    assert "Shipped reporting idea" in page and "50% satisfied: 1 yes, 0 partly, 1 no" in page


def test_breakdowns_run_a_fixed_number_of_queries(
    scene, make_idea, make_user, make_organisation, pm, count_queries
):
    from portal.services import votes

    with count_queries() as few:
        dashboard_service.dashboard(viewer=pm)
    for n in range(6):
        org = make_organisation(f"Company {n}")
        idea = make_idea(f"Another idea number {n}", category=scene.billing, stage="shipped")
        idea.owner_id = make_user("product_manager").id
        votes_user = make_user(organisation=org)
        db.session.add(OutcomeAnswer(idea_id=idea.id, user_id=votes_user.id, answer="no"))
        open_idea = make_idea(f"An open idea number {n}", category=scene.reporting)
        votes.cast_vote(open_idea, votes_user)
        db.session.commit()
    with count_queries() as many:
        dashboard_service.dashboard(viewer=pm)
    assert many.count == few.count
