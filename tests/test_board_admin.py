"""Admins manage boards: create, change, order and delete them, and decide who sees each.

A change that lets anyone new see a board is shown (who, and how many ideas) before it is saved;
a change that shuts people out is saved at once and says how many accounts no longer see it.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal import visibility
from portal.extensions import db
from portal.models import AuditEvent, Board, BoardDomain, BoardOrganisation, BoardStage
from portal.permissions import PermissionDenied
from portal.services import audit_log, board_admin, boards
from portal.services.board_admin import BoardDraft
from portal.services.errors import InvalidFields

from .conftest import sign_in_client
from .helpers import page_text


@pytest.fixture
def admin(make_user):
    return make_user("admin", display_name="Alex Admin")


@pytest.fixture
def signed_in_admin(client, admin):
    sign_in_client(client, admin)
    return admin


def form_for(**changes) -> dict:
    data = {
        "name": "Beta programme",
        "slug": "",
        "description": "Early features for **beta** customers.",
        "audience": "private",
        "domains": "",
        "posting_open": "y",
        "voting_open": "y",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def board_named(name: str) -> Board:
    return db.session.scalars(select(Board).where(Board.name == name)).one()


def make_board(admin, **fields) -> Board:
    defaults = {
        "name": "Beta programme",
        "slug": "",
        "description": "Early features for **beta** customers.",
        "audience": "private",
    }
    draft = BoardDraft(**{**defaults, **fields})
    saved = board_admin.save_board(None, draft, actor=admin, ip=None)
    db.session.commit()
    return saved.board


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# --- Creating and changing ----------------------------------------------------------------------


def test_an_admin_creates_a_private_board_for_one_organisation(
    client, signed_in_admin, make_organisation
):
    acme = make_organisation("Acme Ltd")
    make_organisation("Globex")
    assert "Add a board" in client.get("/admin/boards").text
    assert "Globex" in client.get("/admin/boards/new").text
    response = client.post(
        "/admin/boards/new",
        data={**form_for(domains="@Acme.Example, partners.example"), "organisation_ids": acme.id},
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/boards")
    board = board_named("Beta programme")
    assert board.slug == "beta-programme"  # suggested from the name
    assert board.audience == "private" and board.position == 1
    assert [o.name for o in board.organisations] == ["Acme Ltd"]
    assert [d.domain for d in board.domains] == ["acme.example", "partners.example"]
    listing = client.get("/admin/boards").text
    assert "Beta programme is ready" in listing and "Private" in listing
    [created] = events("board.created")
    assert audit_log.describe(created) == (
        "Alex Admin added the board “Beta programme”: seen by private, posting open, voting open."
    )


def test_the_edit_form_shows_the_board_as_it_is(client, signed_in_admin, admin):
    board = make_board(admin, slug="beta", domains="acme.example", posting_open=False)
    page = client.get(f"/admin/boards/{board.id}/edit").text
    assert 'value="beta"' in page and "acme.example" in page
    assert 'id="posting_open"' in page and re.search(r'id="posting_open"[^>]*checked', page) is None


def test_bad_input_names_each_field_and_keeps_everything_typed(
    client, signed_in_admin, make_organisation
):
    acme = make_organisation("Acme Ltd")
    response = client.post(
        "/admin/boards/new",
        data={
            **form_for(
                name="Ideas",  # the default board's name
                slug="Mobile App!",
                description="Kept as typed",
                domains="someone@acme.example",
            ),
            "organisation_ids": acme.id,
        },
    )
    assert response.status_code == 400
    text = page_text(response)
    assert "There is already a board called Ideas" in text
    assert "Use lower-case letters, digits and single hyphens only" in text
    assert "“someone@acme.example” is an email address" in text
    assert 'value="Mobile App!"' in text and "Kept as typed" in text
    assert re.search(rf'value="{acme.id}" checked', text)
    assert db.session.scalar(select(func.count(Board.id))) == 1


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("new", "The portal uses “new” for its own pages"),
        ("ideas", "Another board already uses the address “ideas”"),
        ("-beta", "single hyphens only"),
        ("b" * 61, "Keep the address to 60 characters"),
    ],
)
def test_addresses_that_cannot_be_used(admin, slug, message):
    with pytest.raises(InvalidFields) as refused:
        board_admin.check_board(None, BoardDraft(name="Beta", slug=slug))
    assert message in refused.value.problems["slug"]


def test_a_name_suggests_an_address():
    assert board_admin.suggest_slug("  Café Mobile — App 2  ") == "cafe-mobile-app-2"


def test_changes_are_audited_as_sentences(client, signed_in_admin, admin, make_category):
    board = make_board(admin, audience="public")
    reporting = make_category("Reporting")
    response = client.post(
        f"/admin/boards/{board.id}/edit",
        data={
            **form_for(name="Beta", slug="beta", audience="public", posting_open=None),
            "category_ids": reporting.id,
        },
    )
    assert response.status_code == 303
    [updated] = events("board.updated")
    assert audit_log.describe(updated) == (
        "Alex Admin changed the board “Beta”: name “Beta programme” → “Beta”; "
        "address “beta-programme” → “beta”; categories every category → Reporting; "
        "posting open → closed."
    )
    assert events("board.audience_changed") == []


# --- Who a change lets in -----------------------------------------------------------------------


def test_widening_is_shown_before_it_is_saved_and_saved_once_confirmed(
    client, signed_in_admin, admin, make_user, make_idea, make_organisation
):
    acme = make_organisation("Acme Ltd")
    globex = make_organisation("Globex")
    make_user(display_name="Gina Globex", organisation=globex)
    board = make_board(admin, organisation_ids=frozenset({acme.id}))
    idea = make_idea("Offline mode")
    idea.board_id = board.id
    db.session.commit()

    typed = {
        **form_for(description="Typed, not lost"),
        "organisation_ids": [acme.id, globex.id],
    }
    review = client.post(f"/admin/boards/{board.id}/edit", data=typed)
    assert review.status_code == 200
    text = page_text(review)
    assert "Who will newly see Beta programme and its 1 idea" in text
    assert "People of Globex." in text
    assert "1 account that cannot see it today: Gina Globex." in text
    assert "Save and let them in" in text and "Change it back" in text
    assert 'value="Typed, not lost"' in text
    db.session.expire_all()
    assert [o.name for o in board_named("Beta programme").organisations] == ["Acme Ltd"]
    assert events("board.audience_changed") == []

    seen = re.search(r'name="seen" value="([^"]+)"', text).group(1)
    confirm = {**typed, "review": "let-them-in", "seen": seen}
    done = client.post(f"/admin/boards/{board.id}/edit", data=confirm)
    assert done.status_code == 303
    db.session.expire_all()
    saved = board_named("Beta programme")
    assert [o.name for o in saved.organisations] == ["Acme Ltd", "Globex"]
    assert saved.description == "Typed, not lost"
    [changed] = events("board.audience_changed")
    assert audit_log.describe(changed) == (
        "Alex Admin changed who may see the board “Beta programme”: organisations: now also Globex."
    )


def test_a_confirmation_of_an_answer_that_changed_meanwhile_shows_the_new_answer(
    client, signed_in_admin, admin, make_user, make_organisation
):
    globex = make_organisation("Globex")
    make_user(display_name="Gina Globex", organisation=globex)
    board = make_board(admin)
    typed = {**form_for(), "organisation_ids": globex.id}
    first = page_text(client.post(f"/admin/boards/{board.id}/edit", data=typed))
    seen = re.search(r'name="seen" value="([^"]+)"', first).group(1)
    make_user(display_name="Gus Globex", organisation=globex)  # joins while the admin reads
    again = client.post(
        f"/admin/boards/{board.id}/edit", data={**typed, "review": "let-them-in", "seen": seen}
    )
    assert again.status_code == 200
    assert "2 accounts that cannot see it today" in page_text(again)
    assert board_named("Beta programme").organisations == []


def test_making_a_private_board_public_names_everyone(client, signed_in_admin, admin):
    board = make_board(admin)
    review = client.post(f"/admin/boards/{board.id}/edit", data=form_for(audience="public"))
    assert "Everyone on the internet, including visitors who are not signed in." in review.text
    assert board_named("Beta programme").audience == "private"


def test_change_it_back_keeps_the_other_changes_and_the_audience_as_it_is(
    client, signed_in_admin, admin
):
    board = make_board(admin, domains="acme.example")
    response = client.post(
        f"/admin/boards/{board.id}/edit",
        data={**form_for(name="Beta club", audience="signed_in"), "review": "change-it-back"},
    )
    assert response.status_code == 200
    text = page_text(response)
    assert 'value="Beta club"' in text and "acme.example" in text
    assert re.search(r'value="private"[^>]*checked|checked[^>]*value="private"', text)
    assert "Your other changes are still in the form" in text
    assert board_named("Beta programme").audience == "private"


def test_narrowing_saves_at_once_and_says_who_no_longer_sees_it(
    client, signed_in_admin, admin, make_user, make_organisation
):
    acme = make_organisation("Acme Ltd")
    board = make_board(admin, audience="signed_in")
    make_user(organisation=acme)
    make_user()
    make_user()
    response = client.post(
        f"/admin/boards/{board.id}/edit",
        data={**form_for(audience="private"), "organisation_ids": acme.id},
        follow_redirects=True,
    )
    # Two customers outside Acme lose it; the admin, the Acme customer keep it.
    assert "Beta programme is saved. 2 accounts no longer see it." in page_text(response)
    [changed] = events("board.audience_changed")
    assert audit_log.describe(changed) == (
        "Alex Admin changed who may see the board “Beta programme”: who may see it "
        "signed-in people → private; organisations none → Acme Ltd."
    )


def test_public_to_signed_in_says_visitors_lose_it(client, signed_in_admin, admin):
    board = make_board(admin, audience="public")
    response = client.post(
        f"/admin/boards/{board.id}/edit",
        data=form_for(audience="signed_in"),
        follow_redirects=True,
    )
    assert "Visitors who are not signed in no longer see it." in page_text(response)


def test_a_saved_private_board_is_hidden_from_people_outside_it(
    admin, make_user, make_organisation
):
    acme, globex = make_organisation("Acme Ltd"), make_organisation("Globex")
    board = make_board(admin, organisation_ids=frozenset({acme.id}), domains="partners.example")
    inside = make_user(organisation=acme)
    partner = make_user(email="pat@partners.example")
    outside = make_user(organisation=globex)
    assert visibility.user_can_see_board(inside, board.id)
    assert visibility.user_can_see_board(partner, board.id)
    assert not visibility.user_can_see_board(outside, board.id)


# --- A board's own pipeline ---------------------------------------------------------------------


def test_a_pipeline_subset_needs_new_and_a_closed_stage(admin, stages):
    for chosen, message in (
        ({"planned", "shipped"}, "needs the New stage"),
        ({"new", "planned"}, "needs at least one closed stage"),
        ({"new", "merged"}, "needs at least one closed stage"),
    ):
        with pytest.raises(InvalidFields) as refused:
            board_admin.check_board(
                None,
                BoardDraft(name="Beta", slug="", stage_ids=frozenset(stages[s].id for s in chosen)),
            )
        assert message in refused.value.problems["stage_ids"]


def test_a_chosen_pipeline_keeps_merged_and_the_shared_one_is_none(admin, stages):
    board = make_board(admin, stage_ids=frozenset({stages["new"].id, stages["shipped"].id}))
    assert {s.slug for s in board.stages} == {"new", "shipped", "merged"}
    assert make_board(admin, name="Open board").stages == []


def test_a_stage_holding_ideas_of_the_board_cannot_be_left_out(
    client, signed_in_admin, admin, stages, make_idea
):
    board = make_board(admin)
    for title in ("Offline mode", "Dark mode"):
        idea = make_idea(title, stage="planned")
        idea.board_id = board.id
    db.session.commit()
    response = client.post(
        f"/admin/boards/{board.id}/edit",
        data={**form_for(), "stage_ids": [stages["new"].id, stages["shipped"].id]},
    )
    assert response.status_code == 400
    assert "Ideas of this board are still in Planned (2 ideas)." in page_text(response)
    assert db.session.scalar(select(func.count()).select_from(BoardStage)) == 0


# --- Order and deletion -------------------------------------------------------------------------


def test_boards_move_up_and_down_and_the_first_is_the_default(client, signed_in_admin, admin):
    board = make_board(admin)
    response = client.post(
        f"/admin/boards/{board.id}/move", data={"direction": "up"}, follow_redirects=True
    )
    assert "Beta programme moved up." in page_text(response)
    assert boards.default_board().id == board.id
    [moved] = events("board.reordered")
    assert audit_log.describe(moved) == (
        "Alex Admin moved the board “Beta programme” to the top, making it the default board."
    )
    again = client.post(
        f"/admin/boards/{board.id}/move", data={"direction": "up"}, follow_redirects=True
    )
    assert "Beta programme is already first in the list." in page_text(again)
    client.post(f"/admin/boards/{board.id}/move", data={"direction": "down"})
    assert boards.default_board().slug == "ideas"


def test_an_empty_board_is_deleted_after_a_confirmation(client, signed_in_admin, admin):
    board = make_board(admin, domains="acme.example")
    board_id = board.id
    assert "This cannot be undone" in client.get(f"/admin/boards/{board_id}/delete").text
    response = client.post(f"/admin/boards/{board_id}/delete", follow_redirects=True)
    assert "Beta programme is deleted." in page_text(response)
    assert db.session.get(Board, board_id) is None
    assert db.session.scalar(select(func.count()).select_from(BoardDomain)) == 0
    [deleted] = events("board.deleted")
    assert audit_log.describe(deleted) == "Alex Admin deleted the board “Beta programme”."


def test_a_board_with_ideas_or_the_last_board_is_not_deleted(
    client, signed_in_admin, admin, make_idea
):
    idea = make_idea("Offline mode")
    default = db.session.get(Board, idea.board_id)
    response = client.post(f"/admin/boards/{default.id}/delete")
    assert response.status_code == 400
    assert "Ideas still holds 1 idea. Move it to another board first" in page_text(response)
    db.session.delete(idea)
    db.session.commit()
    response = client.post(f"/admin/boards/{default.id}/delete")
    assert response.status_code == 400
    assert "Ideas is the only board" in page_text(response)
    assert db.session.get(Board, default.id) is not None


# --- Who may do it ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["customer", "product_manager"])
def test_only_admins_manage_boards(client, admin, make_user, role):
    board = make_board(admin)
    sign_in_client(client, make_user(role))
    for method, path, data in (
        ("GET", "/admin/boards", None),
        ("POST", "/admin/boards/new", form_for(name="Sneaky")),
        ("POST", f"/admin/boards/{board.id}/edit", form_for(audience="public")),
        ("POST", f"/admin/boards/{board.id}/move", {"direction": "up"}),
        ("POST", f"/admin/boards/{board.id}/delete", None),
    ):
        assert client.open(path, method=method, data=data).status_code == 403, path
    with pytest.raises(PermissionDenied):
        board_admin.save_board(
            None, BoardDraft(name="Sneaky", slug=""), actor=make_user(role), ip=None
        )
    db.session.rollback()
    assert db.session.scalar(select(func.count(Board.id))) == 2
    assert db.session.get(Board, board.id).audience == "private"
    assert db.session.scalar(select(func.count()).select_from(BoardOrganisation)) == 0


def test_the_boards_pages_run_a_fixed_number_of_queries(
    client, signed_in_admin, admin, make_organisation, count_queries
):
    acme = make_organisation("Acme Ltd")
    board = make_board(admin, organisation_ids=frozenset({acme.id}), domains="acme.example")
    with count_queries() as few:
        client.get("/admin/boards")
        client.get(f"/admin/boards/{board.id}/edit")
    for n in range(5):
        other = make_organisation(f"Org {n}")
        make_board(
            admin,
            name=f"Board {n}",
            organisation_ids=frozenset({acme.id, other.id}),
            domains=f"d{n}.example",
        )
    with count_queries() as many:
        client.get("/admin/boards")
        client.get(f"/admin/boards/{board.id}/edit")
    assert many.count == few.count
