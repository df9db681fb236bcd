"""The pipeline is checked whenever it is saved: no stage traps an idea, none is out of reach."""

import pytest
from sqlalchemy import delete, func, select

from portal.extensions import db
from portal.models import AuditEvent, Idea, Stage, StageChange, StageTransition
from portal.services import catalog, pipeline, pipeline_checks
from portal.services.errors import InvalidInput
from portal.services.pipeline import InvalidTransition

from .conftest import sign_in_client


@pytest.fixture
def admin(client, make_user):
    user = make_user("admin", display_name="Priya")
    sign_in_client(client, user)
    return user


def moves_from(stage):
    return set(
        db.session.scalars(
            select(StageTransition.to_stage_id).where(StageTransition.from_stage_id == stage.id)
        )
    )


def moves_into(stage):
    return set(
        db.session.scalars(
            select(StageTransition.from_stage_id).where(StageTransition.to_stage_id == stage.id)
        )
    )


def edit_form(stage, **changes):
    """The stage's edit form as the page fills it in, with some fields changed."""
    moves = catalog.transitions()
    return {
        "name": stage.name,
        "description": stage.description,
        "position": str(stage.position),
        "response_days": str(stage.response_days or ""),
        "colour": stage.colour or "",
        **({"is_closed": "y"} if stage.is_closed else {}),
        **({"voting_allowed": "y"} if stage.voting_allowed else {}),
        "targets": [str(t) for t in moves.get(stage.id, set())],
        "sources_shown": "1",
        "sources": [str(f) for f, to in moves.items() if stage.id in to],
        **changes,
    }


def new_form(**changes):
    return {
        "name": "In beta",
        "description": "You can try it now in the beta programme.",
        "voting_allowed": "y",
        "response_days": "14",
        "position": "35",
        **changes,
    }


def test_the_default_pipeline_has_no_problems(stages):
    assert catalog.pipeline_problems() == []


def test_a_new_stage_with_no_way_out_is_refused_and_nothing_typed_is_lost(client, admin, stages):
    response = client.post(
        "/admin/stages/new",
        data=new_form(targets=[str(stages["planned"].id)]) | {"targets": []},
    )
    assert response.status_code == 400, response.text
    assert (
        "Ideas in “In beta” could never close: allow a move from it to “Shipped” or “Declined”, "
        "or to a stage that leads there." in response.text
    )
    assert 'value="In beta"' in response.text and "beta programme" in response.text
    assert db.session.scalar(select(Stage).where(Stage.name == "In beta")) is None


def test_a_stage_whose_only_way_on_is_a_trap_is_refused_too(client, admin, stages):
    """Planned may only go to In progress, and In progress only back to Planned: both trapped."""
    ids = {slug: s.id for slug, s in stages.items()}
    db.session.execute(
        delete(StageTransition).where(
            StageTransition.from_stage_id == ids["in_progress"],
            StageTransition.to_stage_id != ids["planned"],
        )
    )
    db.session.commit()
    # In progress can still close through Planned; cutting Planned's exits traps both.
    response = client.post(
        f"/admin/stages/{ids['planned']}",
        data=edit_form(stages["planned"], targets=[str(ids["in_progress"])]),
    )
    assert response.status_code == 400
    assert "Ideas in “Planned” could never close: allow a move from it to" in response.text
    assert moves_from(stages["planned"]) - {ids["in_progress"]}  # unchanged


def test_adding_a_stage_with_also_allow_moves_from(client, admin, stages):
    ids = {slug: s.id for slug, s in stages.items()}
    response = client.post(
        "/admin/stages/new",
        data=new_form(
            targets=[str(ids["shipped"]), str(ids["in_progress"])],
            sources_shown="1",
            sources=[str(ids["planned"]), str(ids["in_progress"]), str(ids["merged"])],
        ),
    )
    assert response.status_code == 303
    beta = db.session.scalar(select(Stage).where(Stage.name == "In beta"))
    assert moves_into(beta) == {ids["planned"], ids["in_progress"]}  # never from Merged
    assert moves_from(beta) == {ids["shipped"], ids["in_progress"]}
    # Planned keeps its other moves: this only adds one.
    assert ids["under_review"] in moves_from(stages["planned"])
    page = client.get("/admin/stages").text
    assert "needs mending" not in page


def test_a_stage_nothing_leads_to_is_saved_with_a_warning_and_listed(client, admin, stages):
    response = client.post(
        "/admin/stages/new",
        data=new_form(targets=[str(stages["shipped"].id)]),
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "Stage saved." in response.text
    message = "No idea can ever reach “In beta”: nothing leads to it from “New”."
    assert message in response.text
    beta = db.session.scalar(select(Stage).where(Stage.name == "In beta"))
    assert message in client.get(f"/admin/stages/{beta.id}").text
    # Mended from its own page: moves into it from Planned.
    response = client.post(
        f"/admin/stages/{beta.id}",
        data=edit_form(beta, sources=[str(stages["planned"].id)]),
        follow_redirects=True,
    )
    assert "needs mending" not in response.text
    assert moves_into(beta) == {stages["planned"].id}


def test_an_edit_form_without_the_incoming_moves_leaves_them_alone(client, admin, stages):
    before = moves_into(stages["planned"])
    form = edit_form(stages["planned"])
    del form["sources_shown"], form["sources"]
    assert client.post(f"/admin/stages/{stages['planned'].id}", data=form).status_code == 303
    assert moves_into(stages["planned"]) == before


def test_retiring_the_only_way_out_is_refused_with_the_stage_named(client, admin, stages):
    ids = {slug: s.id for slug, s in stages.items()}
    # In progress may only ship.
    db.session.execute(
        delete(StageTransition).where(
            StageTransition.from_stage_id == ids["in_progress"],
            StageTransition.to_stage_id != ids["shipped"],
        )
    )
    db.session.commit()
    response = client.post(f"/admin/stages/{ids['shipped']}/retire", follow_redirects=True)
    assert "That would leave ideas with no way to close, so nothing is changed." in response.text
    assert "Ideas in “In progress” could never close" in response.text
    assert db.session.get(Stage, ids["shipped"]).retired is False


def test_reinstating_a_stage_whose_moves_all_lead_to_retired_stages_is_refused(admin, stages):
    beta = catalog.save_stage(
        None, actor=admin, ip=None, name="In beta", description="Try it in the beta.",
        is_closed=False, voting_allowed=True, response_days=None, position=35,
        target_ids={stages["shipped"].id, stages["in_progress"].id},
        source_ids={stages["planned"].id},
    )  # fmt: skip
    catalog.retire_stage(beta, actor=admin, ip=None)
    db.session.commit()
    # Shipped is Beta's only closed exit; In progress loses its own.
    db.session.execute(delete(StageTransition).where(StageTransition.from_stage_id == beta.id))
    db.session.add(StageTransition(from_stage_id=beta.id, to_stage_id=stages["new"].id))
    db.session.commit()
    catalog.reinstate_stage(beta, actor=admin, ip=None)  # it can close through New
    db.session.commit()
    catalog.retire_stage(beta, actor=admin, ip=None)
    db.session.commit()
    db.session.execute(delete(StageTransition).where(StageTransition.from_stage_id == beta.id))
    db.session.commit()
    with pytest.raises(InvalidInput, match="Ideas in “In beta” could never close"):
        catalog.reinstate_stage(beta, actor=admin, ip=None)


def test_broken_pipelines_already_saved_are_shown_at_the_top_of_the_stages_page(
    client, admin, stages
):
    ids = {slug: s.id for slug, s in stages.items()}
    db.session.execute(
        delete(StageTransition).where(
            (StageTransition.from_stage_id == ids["planned"])
            | (StageTransition.to_stage_id == ids["declined"])
        )
    )
    db.session.commit()
    page = client.get("/admin/stages").text
    assert "The pipeline needs mending (2)" in page
    assert "Ideas in “Planned” could never close" in page
    assert "No idea can ever reach “Declined”" in page
    # A step that leaves an old problem as it was is not refused for it.
    response = client.post(
        f"/admin/stages/{ids['under_review']}",
        data=edit_form(stages["under_review"], response_days="21"),
    )
    assert response.status_code == 303


def test_problems_ignore_retired_stages_and_merged(stages):
    problems = pipeline_checks.problems(catalog.stages(), {})
    by_stage = {(p.kind, p.stage_name) for p in problems}
    assert ("unreachable", "Merged") not in by_stage
    assert ("trap", "Merged") not in by_stage
    assert {name for kind, name in by_stage if kind == "trap"} == {
        "New", "Under review", "Planned", "In progress"
    }  # fmt: skip
    assert {name for kind, name in by_stage if kind == "unreachable"} == {
        "Under review", "Planned", "In progress", "Shipped", "Declined"
    }  # fmt: skip


def test_stage_edits_are_audited_with_before_and_after(client, admin, stages):
    form = edit_form(stages["planned"], response_days="30", name="Planned soon")
    form["targets"] = [t for t in form["targets"] if t != str(stages["declined"].id)]
    assert client.post(f"/admin/stages/{stages['planned'].id}", data=form).status_code == 303
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "stage.changed"))
    assert event.detail["changes"]["response_days"] == [60, 30]
    assert event.detail["changes"]["name"] == ["Planned", "Planned soon"]
    assert "Declined" in event.detail["changes"]["moves_to"][0]
    assert "Declined" not in event.detail["changes"]["moves_to"][1]
    assert "description" not in event.detail["changes"]


def test_saving_a_stage_unchanged_records_nothing(client, admin, stages):
    form = edit_form(stages["planned"])
    assert client.post(f"/admin/stages/{stages['planned'].id}", data=form).status_code == 303
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "stage.changed"))
    assert event is None, event.detail


# --- Bulk moves offer only what every ticked idea allows -------------------------------------

NOTE = "We have looked at these together with the team."


@pytest.fixture
def pm(make_user):
    return make_user("product_manager", display_name="Kofi")


def test_a_bulk_move_offers_only_the_stages_every_idea_may_move_to(make_idea, stages):
    fresh = make_idea("A fresh idea")
    shipped = make_idea("A shipped idea", stage="shipped")
    db.session.execute(
        delete(StageTransition).where(
            StageTransition.from_stage_id == stages["shipped"].id,
            StageTransition.to_stage_id.not_in([stages["planned"].id, stages["in_progress"].id]),
        )
    )
    db.session.commit()
    plan = pipeline.plan_move([fresh, shipped], stages["declined"])
    assert [s.slug for s in plan.targets] == ["planned", "in_progress"]
    assert plan.moving == [fresh]
    assert [(s.idea.title, s.reason) for s in plan.staying] == [
        ("A shipped idea", "the pipeline has no move from Shipped to Declined")
    ]


def test_a_bulk_move_moves_the_others_only_when_told_to_leave_those_shown(pm, make_idea, stages):
    fresh, there = make_idea("A fresh idea"), make_idea("Already planned", stage="planned")
    with pytest.raises(InvalidTransition, match="“Already planned”: it is in Planned already"):
        pipeline.move_many([fresh, there], stages["planned"], actor=pm, note=NOTE, ip=None)
    db.session.rollback()
    moved = pipeline.move_many(
        [fresh, there], stages["planned"], actor=pm, note=NOTE, ip=None, leave={there.id}
    )
    db.session.commit()
    assert moved == [fresh]
    assert db.session.get(Idea, fresh.id).stage.slug == "planned"


def test_a_pipeline_changed_since_the_review_moves_nothing(client, pm, make_idea, stages):
    """The review showed one idea staying; by the time it is confirmed, another cannot move."""
    sign_in_client(client, pm)
    a, b = make_idea("First idea"), make_idea("Second idea")
    c = make_idea("Already planned", stage="planned")
    b.stage = stages["under_review"]
    db.session.commit()
    db.session.execute(
        delete(StageTransition).where(
            StageTransition.from_stage_id == stages["under_review"].id,
            StageTransition.to_stage_id == stages["planned"].id,
        )
    )
    db.session.commit()
    response = client.post(
        "/team/triage/move",
        data={
            "idea_ids": [str(a.id), str(b.id), str(c.id)],
            "stage_id": str(stages["planned"].id),
            "note": NOTE,
            "leave": [str(c.id)],  # what the review showed before Under review lost its move
        },
    )
    assert response.status_code == 200  # shown again, with both named
    page = " ".join(response.text.split())
    assert "2 of the 3 ideas you ticked cannot move to Planned" in page
    assert "the pipeline has no move from Under review to Planned" in page
    assert db.session.get(Idea, a.id).stage.slug == "new"
    assert db.session.scalar(select(func.count(StageChange.id))) == 0


def test_the_review_offers_only_common_stages_and_says_when_none_is(client, pm, make_idea, stages):
    sign_in_client(client, pm)
    a, merged = make_idea("First idea"), make_idea("A merged idea")
    pipeline.merge_ideas(merged, a, actor=pm, note=NOTE, ip=None)
    db.session.commit()
    response = client.post(
        "/team/triage/move",
        data={
            "idea_ids": [str(a.id), str(merged.id)],
            "stage_id": str(stages["planned"].id),
            "note": NOTE,
        },
    )
    page = " ".join(response.text.split())
    assert "it was merged into another idea and stays merged" in page
    assert "No stage is open to all 2 of them" in page
    assert f'name="leave" value="{merged.id}"' in page
