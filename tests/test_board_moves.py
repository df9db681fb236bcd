"""Moving an idea to another board, and a board's own pipeline limiting every stage move."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    AuditEvent,
    Board,
    Idea,
    Notification,
    NotificationKind,
    OutboxMessage,
    StageChange,
)
from portal.permissions import PermissionDenied
from portal.services import audit_log, board_moves, ideas, pipeline, releases, votes
from portal.services.errors import InvalidInput
from portal.services.pipeline import InvalidTransition

from .conftest import sign_in_client
from .helpers import page_text

NOTE = "The beta customers are shaping this one with us now."


@pytest.fixture
def make_board(app):
    counter = iter(range(1, 1000))

    def make(name: str, audience: str = "public", **links) -> Board:
        n = next(counter)
        board = Board(name=name, slug=f"board-{n}", audience=audience, position=n)
        for key, value in links.items():
            setattr(board, key, value)
        db.session.add(board)
        db.session.commit()
        return board

    return make


@pytest.fixture
def world(make_user, make_organisation, make_idea, make_board, stages):
    """An idea on the public board, followed by an Acme customer and a Globex customer; a
    private board for Acme, a signed-in board, and a product manager."""
    acme, globex = make_organisation("Acme"), make_organisation("Globex")
    pm = make_user("product_manager", display_name="Priya")
    acme_fan = make_user(display_name="Ann Acme", organisation=acme)
    globex_fan = make_user(display_name="Gus Globex", organisation=globex)
    author = make_user(display_name="Ada Author", organisation=acme)
    idea = make_idea("Export to Excel", author=author)
    for person in (acme_fan, globex_fan):
        votes.follow(idea, person)
    private = make_board("Acme space", "private", organisations=[acme])
    members = make_board("Members", "signed_in")
    db.session.commit()
    return dict(
        pm=pm, acme_fan=acme_fan, globex_fan=globex_fan, author=author, idea=idea,
        public=idea.board, private=private, members=members, stages=stages, acme=acme,
    )  # fmt: skip


def fresh(idea_id: int) -> Idea:
    db.session.expire_all()
    return db.session.get_one(Idea, idea_id)


def told(idea_id: int) -> set[int]:
    return set(
        db.session.scalars(
            select(Notification.user_id).where(
                Notification.idea_id == idea_id, Notification.kind == NotificationKind.BOARD_MOVED
            )
        )
    )


def mailed(user_ids: set[int]) -> set[int]:
    rows = db.session.scalars(
        select(OutboxMessage.user_id).where(OutboxMessage.kind == "notification")
    )
    return set(rows) & user_ids


# --- Moving ---------------------------------------------------------------------------------


def test_moving_to_a_private_board_tells_only_the_followers_who_still_see_it(client, world):
    w = world
    sign_in_client(client, w["pm"])
    response = client.post(
        f"/ideas/{w['idea'].id}/board", data={"board_id": str(w["private"].id), "note": NOTE}
    )
    assert response.status_code == 303, page_text(response)
    assert fresh(w["idea"].id).board_id == w["private"].id
    everyone = {w["acme_fan"].id, w["globex_fan"].id, w["author"].id}
    # The author follows their own idea, and is at Acme: told. Globex's customer is not.
    assert told(w["idea"].id) == {w["acme_fan"].id, w["author"].id}
    assert mailed(everyone) == {w["acme_fan"].id, w["author"].id}
    message = db.session.scalar(
        select(Notification.message).where(Notification.user_id == w["acme_fan"].id)
    )
    assert message == f"Moved from the Ideas board to the Acme space board: {NOTE}"
    assert "Moved to the Acme space board." in page_text(client.get(response.location))


def test_the_move_is_audited_as_a_sentence(world):
    w = world
    board_moves.move_idea(w["idea"], w["members"], actor=w["pm"], note="", ip="10.0.0.1")
    db.session.commit()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "idea.board_moved"))
    assert event is not None
    assert audit_log.describe(event) == (
        "Priya moved the idea “Export to Excel” from the Ideas board to the Members board."
    )
    assert "idea.board_moved" in audit_log.SENTENCES


def test_a_wider_audience_is_shown_before_anything_moves(client, world):
    w = world
    board_moves.move_idea(w["idea"], w["private"], actor=w["pm"], note="", ip=None)
    db.session.commit()
    sign_in_client(client, w["pm"])
    url = f"/ideas/{w['idea'].id}/board"
    data = {"board_id": str(w["public"].id), "note": NOTE}

    review = client.post(url, data=data)
    text = page_text(review)
    assert review.status_code == 200
    assert "Nothing has moved yet" in text
    assert "Everyone on the internet, including visitors who are not signed in." in text
    assert fresh(w["idea"].id).board_id == w["private"].id

    # Go back: the form again, with the board and the note as they were.
    back = client.post(url, data={**data, "back": "1", "confirmed": "1"})
    assert back.status_code == 200
    assert NOTE in back.get_data(as_text=True)
    assert f'<option selected value="{w["public"].id}">' in back.get_data(as_text=True)
    assert fresh(w["idea"].id).board_id == w["private"].id

    moved = client.post(url, data={**data, "confirmed": "1"})
    assert moved.status_code == 303
    assert fresh(w["idea"].id).board_id == w["public"].id


def test_narrowing_moves_at_once_and_counts_the_followers_who_lose_sight(client, world):
    w = world
    assert board_moves.followers_losing_sight(w["idea"], w["private"]) == 1  # Globex's
    assert not board_moves.preview(w["idea"], w["private"]).widening.anyone
    assert board_moves.preview(w["idea"], w["members"]).followers_losing_sight == 0


def test_category_is_kept_when_the_board_allows_it_and_cleared_otherwise(
    client, world, make_category, make_board
):
    w = world
    reporting, billing = make_category("Reporting"), make_category("Billing", 1)
    narrow = make_board("Billing only", "signed_in", categories=[billing])
    idea = w["idea"]
    idea.category = reporting
    db.session.commit()

    moved = board_moves.move_idea(idea, w["members"], actor=w["pm"], note="", ip=None)
    assert (moved.category_cleared, fresh(idea.id).category_id) == (None, reporting.id)
    db.session.commit()

    sign_in_client(client, w["pm"])
    response = client.post(f"/ideas/{idea.id}/board", data={"board_id": str(narrow.id)})
    assert response.status_code == 303
    assert fresh(idea.id).category_id is None
    page = page_text(client.get(response.location))
    assert "Its category, Reporting, is not one of the Billing only board's" in page


def test_a_stage_missing_from_the_new_pipeline_is_chosen_in_the_same_form(
    client, world, make_board
):
    w, s = world, world["stages"]
    small = make_board("Small", stages=[s["new"], s["planned"], s["shipped"]])
    idea = w["idea"]
    idea.stage = s["under_review"]
    db.session.commit()
    sign_in_client(client, w["pm"])
    url = f"/ideas/{idea.id}/board"

    refused = client.post(url, data={"board_id": str(small.id), "note": NOTE})
    assert refused.status_code == 400
    text = page_text(refused)
    assert (
        "“Export to Excel” is at the Under review stage, which the Small board's own pipeline "
        "does not have." in text
    )
    assert f'<option value="{s["planned"].id}">Planned</option>' in refused.get_data(as_text=True)
    assert NOTE in refused.get_data(as_text=True)
    assert fresh(idea.id).board_id == w["public"].id

    moved = client.post(
        url, data={"board_id": str(small.id), "stage_id": str(s["planned"].id), "note": NOTE}
    )
    assert moved.status_code == 303, page_text(moved)
    after = fresh(idea.id)
    assert (after.board_id, after.stage_id) == (small.id, s["planned"].id)
    change = db.session.scalar(select(StageChange).where(StageChange.idea_id == idea.id))
    assert change is not None and change.note == NOTE


def test_the_service_refuses_what_is_not_a_move(world, make_board):
    w, s = world, world["stages"]
    with pytest.raises(PermissionDenied):
        board_moves.move_idea(w["idea"], w["members"], actor=w["acme_fan"], note="", ip=None)
    with pytest.raises(InvalidInput, match="on the Ideas board already"):
        board_moves.move_idea(w["idea"], w["public"], actor=w["pm"], note="", ip=None)
    small = make_board("Small", stages=[s["new"]])
    with pytest.raises(InvalidInput, match="pipeline has no Planned stage"):
        board_moves.move_idea(
            w["idea"], small, actor=w["pm"], note="", ip=None, to_stage=s["planned"]
        )
    w["idea"].merged_into_id = w["idea"].id  # as if merged: it stays where its votes went
    with pytest.raises(InvalidTransition, match="was merged into another idea"):
        board_moves.move_idea(w["idea"], w["members"], actor=w["pm"], note="", ip=None)
    db.session.rollback()


def test_customers_see_no_link_and_cannot_reach_the_page(client, world):
    w = world
    url = f"/ideas/{w['idea'].id}/board"
    sign_in_client(client, w["acme_fan"])
    assert url not in client.get(f"/ideas/{w['idea'].id}").get_data(as_text=True)
    assert client.get(url).status_code == 403
    assert client.post(url, data={"board_id": str(w["members"].id)}).status_code == 403
    assert fresh(w["idea"].id).board_id == w["public"].id
    sign_in_client(client, w["pm"])
    assert url in client.get(f"/ideas/{w['idea'].id}").get_data(as_text=True)
    page = client.get(url)
    assert page.status_code == 200
    assert "Acme space" in page_text(page)


# --- A board's own pipeline -----------------------------------------------------------------


@pytest.fixture
def own_pipeline(world, make_board, make_idea):
    """An idea on a board whose pipeline is New, Planned and Shipped (no Under review)."""
    s = world["stages"]
    board = make_board("Lean", stages=[s["new"], s["planned"], s["shipped"]])
    idea = ideas.submit_idea(
        author=world["author"], title="Dark mode", problem="Our eyes hurt at night.",
        solution="", category_id=None, as_concept=False, board=board,
    )  # fmt: skip
    db.session.commit()
    return dict(world, board=board, lean_idea=idea)


def test_new_ideas_start_in_the_boards_first_stage(own_pipeline):
    assert own_pipeline["lean_idea"].stage.slug == "new"


def test_stage_moves_offer_and_accept_only_the_boards_stages(client, own_pipeline):
    w, s = own_pipeline, own_pipeline["stages"]
    idea = w["lean_idea"]
    offered = {st.slug for st in pipeline.allowed_targets(idea)}
    assert "under_review" not in offered and "planned" in offered
    # The shared pipeline still offers Under review to an idea on the shared board.
    assert "under_review" in {st.slug for st in pipeline.allowed_targets(w["idea"])}

    with pytest.raises(InvalidTransition, match="Lean board, whose own pipeline has no Under"):
        pipeline.move_stage(idea, s["under_review"], actor=w["pm"], note=NOTE, ip=None)
    db.session.rollback()

    sign_in_client(client, w["pm"])
    page = client.get(f"/ideas/{idea.id}").get_data(as_text=True)
    form = page[page.index(f'action="/ideas/{idea.id}/move"') :]
    form = form[: form.index("</form>")]
    assert "Planned" in form and "Under review" not in form
    refused = client.post(
        f"/ideas/{idea.id}/move", data={"stage_id": str(s["under_review"].id), "note": NOTE}
    )
    assert refused.status_code == 400
    assert fresh(idea.id).stage.slug == "new"


def test_bulk_moves_leave_ideas_whose_board_lacks_the_stage(client, own_pipeline):
    w, s = own_pipeline, own_pipeline["stages"]
    lean, shared = w["lean_idea"], w["idea"]
    plan = pipeline.plan_move([lean, shared], s["under_review"])
    assert [i.id for i in plan.moving] == [shared.id]
    [staying] = plan.staying
    assert staying.reason == "the Lean board's own pipeline has no Under review stage"
    assert s["under_review"].id not in {t.id for t in plan.targets}

    moves = pipeline.moves_by_stage()
    assert s["under_review"].id not in moves[f"{s['new'].id}-{w['board'].id}"]
    assert s["under_review"].id in moves[f"{s['new'].id}-{w['public'].id}"]

    with pytest.raises(InvalidTransition, match="no Under review stage"):
        pipeline.move_many([lean, shared], s["under_review"], actor=w["pm"], note=NOTE, ip=None)
    db.session.rollback()

    sign_in_client(client, w["pm"])
    triage = client.get("/team/triage").get_data(as_text=True)
    offered = re.search(rf'id="pick-{lean.id}" data-moves="([^"]*)"', triage)
    assert offered is not None
    assert str(s["planned"].id) in offered.group(1).split()
    assert str(s["under_review"].id) not in offered.group(1).split()


def test_a_release_cannot_ship_an_idea_whose_board_has_no_shipped_stage(own_pipeline, make_board):
    w, s = own_pipeline, own_pipeline["stages"]
    no_shipping = make_board("Discovery", stages=[s["new"], s["under_review"]])
    idea = w["idea"]
    idea.board = no_shipping
    db.session.commit()
    assert releases.shipping_problem(idea, s["shipped"]) == (
        "“Export to Excel” is on the Discovery board, whose own pipeline has no Shipped stage; "
        "take it out, or move it to another board first."
    )
    assert releases.shipping_problem(w["lean_idea"], s["shipped"]) is None
