"""Admins configure the pipeline: stages, what they promise, and where ideas may move."""

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Stage, StageTransition
from portal.services import pipeline
from portal.services.errors import DomainError

from .conftest import sign_in_client

NOTE = "We have looked at this with several of you."


@pytest.fixture
def admin(client, make_user):
    user = make_user("admin")
    sign_in_client(client, user)
    return user


def test_admin_adds_a_stage_with_its_promise_and_moves(client, admin, stages):
    response = client.post(
        "/admin/stages/new",
        data={
            "name": "In beta",
            "description": "You can try it now in the beta programme.",
            "voting_allowed": "y",
            "response_days": "14",
            "position": "35",
            "targets": [str(stages["shipped"].id), str(stages["in_progress"].id)],
        },
    )
    assert response.status_code == 303
    beta = db.session.scalar(select(Stage).where(Stage.name == "In beta"))
    assert (beta.slug, beta.response_days, beta.voting_allowed) == ("in_beta", 14, True)
    targets = set(
        db.session.scalars(
            select(StageTransition.to_stage_id).where(StageTransition.from_stage_id == beta.id)
        )
    )
    assert targets == {stages["shipped"].id, stages["in_progress"].id}
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "stage.created"))
    assert "In beta" in client.get("/admin/stages").text


def test_bad_stage_input_is_explained_and_kept(client, admin, stages):
    response = client.post(
        "/admin/stages/new",
        data={"name": "Beta", "description": "Too short", "position": "1", "response_days": "x"},
    )
    assert response.status_code == 400
    assert "Write the commitment as a number of days." in response.text
    assert 'value="Beta"' in response.text
    response = client.post(
        "/admin/stages/new",
        data={"name": "Planned", "description": "A second planned stage.", "position": "1"},
    )
    assert response.status_code == 400
    assert "Another stage already has that name." in response.text


def test_a_closed_stage_takes_no_votes_and_refuses_a_commitment(client, admin, stages):
    form = {
        "name": "Declined",
        "description": "We will not build this, and we say why.",
        "is_closed": "y",
        "voting_allowed": "y",
        "response_days": "10",
        "position": "6",
    }
    url = f"/admin/stages/{stages['declined'].id}"
    response = client.post(url, data=form)
    # A promise that would be dropped without a word is refused, next to its field, and
    # everything the admin typed is still there.
    assert response.status_code == 400
    assert "A closed stage promises no further answer" in response.text
    assert 'value="10"' in response.text and "we say why" in response.text
    assert db.session.get(Stage, stages["declined"].id).description != form["description"]

    assert client.post(url, data=form | {"response_days": ""}).status_code == 303
    declined = db.session.get(Stage, stages["declined"].id)
    assert (declined.voting_allowed, declined.response_days) == (False, None)


def test_moves_follow_the_configured_transitions(admin, stages, make_idea):
    idea = make_idea("Export to Excel")
    db.session.execute(
        StageTransition.__table__.delete().where(
            StageTransition.from_stage_id == stages["new"].id,
            StageTransition.to_stage_id == stages["shipped"].id,
        )
    )
    db.session.commit()
    assert stages["shipped"].id not in {s.id for s in pipeline.allowed_targets(idea)}
    with pytest.raises(DomainError, match="cannot move from New to Shipped"):
        pipeline.move_stage(idea, stages["shipped"], actor=admin, note=NOTE, ip=None)
    db.session.rollback()
    pipeline.move_stage(idea, stages["under_review"], actor=admin, note=NOTE, ip=None)


def test_a_stage_in_use_cannot_be_retired_until_its_ideas_move(client, admin, stages, make_idea):
    idea = make_idea("Export to Excel", stage="under_review")
    client.post(f"/admin/stages/{stages['under_review'].id}/retire")
    assert db.session.get(Stage, stages["under_review"].id).retired is False
    assert (
        "Move the ideas in Under review to other stages first" in client.get("/admin/stages").text
    )

    pipeline.move_stage(idea, stages["planned"], actor=admin, note=NOTE, ip=None)
    db.session.commit()
    assert client.post(f"/admin/stages/{stages['under_review'].id}/retire").status_code == 303
    assert db.session.get(Stage, stages["under_review"].id).retired is True
    # A retired stage is no longer offered, but the idea's history still names it.
    assert stages["under_review"].id not in {s.id for s in pipeline.allowed_targets(idea)}
    assert "Under review" in client.get(f"/ideas/{idea.id}").text

    assert client.post(f"/admin/stages/{stages['under_review'].id}/reinstate").status_code == 303
    assert db.session.get(Stage, stages["under_review"].id).retired is False


def test_new_and_merged_cannot_be_retired(client, admin, stages):
    client.post(f"/admin/stages/{stages['merged'].id}/retire")
    assert db.session.get(Stage, stages["merged"].id).retired is False
    assert "Merged is needed" in client.get("/admin/stages").text


def test_product_managers_cannot_change_the_pipeline(client, make_user, stages):
    sign_in_client(client, make_user("product_manager"))
    assert client.get("/admin/stages").status_code == 403
    response = client.post(
        f"/admin/stages/{stages['new'].id}",
        data={"name": "Renamed", "description": "Something else.", "position": "0"},
    )
    assert response.status_code == 403
    assert db.session.get(Stage, stages["new"].id).name == "New"
