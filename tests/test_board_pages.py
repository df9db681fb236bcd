"""Each board's own pages: its list, feed and search, the boards above the home page's list,
choosing a board when posting, the board on an idea's page, and the roadmap and changelog
narrowed to a board. A private board is invisible to people outside it on every one of them."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from portal import visibility
from portal.extensions import db
from portal.models import Audience, Board, Idea
from portal.services import ideas, pipeline

from .conftest import sign_in_client
from .helpers import page_text

SECRET = "Quarterly zebra forecasting"  # the title of the private board's idea


@pytest.fixture
def team(make_user):
    return make_user("product_manager", display_name="Pat Manager")


@pytest.fixture
def acme(make_organisation):
    return make_organisation("Acme Ltd")


@pytest.fixture
def boards(app, acme, stages):
    """The default public board, a board for signed-in people and one private to Acme Ltd."""
    public = db.session.scalar(select(Board).where(Board.slug == "ideas"))
    members, private = (
        Board(name=name, slug=slug, position=n, audience=audience.value, description=text)
        for n, (name, slug, audience, text) in enumerate(
            [
                ("Members", "members", Audience.SIGNED_IN, "For **everyone** with an account."),
                ("Acme beta", "acme-beta", Audience.PRIVATE, "Early features for Acme."),
            ],
            start=1,
        )
    )
    private.organisations.append(acme)
    db.session.add_all([members, private])
    db.session.commit()
    visibility.forget()
    return {"public": public, "members": members, "private": private}


@pytest.fixture
def post(team, stages):
    """post(board, title) puts an idea on a board as the team would."""

    def make(board: Board, title: str) -> Idea:
        idea = ideas.submit_idea(
            author=team, title=title, problem="Something gets in the way.", board=board
        )
        db.session.commit()
        return idea

    return make


@pytest.fixture
def insider(make_user, acme):
    return make_user("customer", display_name="Ida Insider", organisation=acme)


@pytest.fixture
def outsider(make_user, make_organisation):
    other = make_organisation("Elsewhere Inc")
    return make_user("customer", display_name="Otto Outsider", organisation=other)


def client_for(app, user=None):
    client = app.test_client()
    if user is not None:
        sign_in_client(client, user)
    return client


# --- The board's page ------------------------------------------------------------------------


def test_a_board_page_lists_its_own_ideas_under_its_name_and_description(
    app, boards, post, outsider
):
    post(boards["members"], "Dark mode for members")
    post(boards["public"], "Export reports to Excel")

    response = client_for(app, outsider).get("/boards/members")

    text = page_text(response)
    assert response.status_code == 200
    assert '<h1 id="hero-title">Members</h1>' in text
    assert "<strong>everyone</strong>" in text  # the description is Markdown
    assert "Dark mode for members" in text
    assert "Export reports to Excel" not in text
    assert 'href="/ideas/new?board=members"' in text  # Share an idea, on this board


def test_a_private_board_looks_missing_to_visitors_and_outsiders_and_says_who_it_is_for_inside(
    app, boards, post, insider, outsider, team
):
    post(boards["private"], SECRET)

    assert client_for(app).get("/boards/acme-beta").status_code == 404
    outside = client_for(app, outsider).get("/boards/acme-beta")
    assert outside.status_code == 404
    assert "Acme beta" not in page_text(outside)
    assert client_for(app, outsider).get("/boards/no-such-board").status_code == 404

    for person in (insider, team):
        response = client_for(app, person).get("/boards/acme-beta")
        text = page_text(response)
        assert response.status_code == 200
        assert SECRET in text
        assert "Private board: seen by the team, Acme Ltd and people the team invites." in text


def test_a_signed_in_board_sends_a_visitor_to_sign_in_and_back(app, boards):
    response = client_for(app).get("/boards/members?sort=new")

    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in?next=/boards/members?sort%3Dnew"


def test_a_board_page_keeps_its_address_in_its_pager_and_filters(app, boards, post, outsider):
    for n in range(21):
        post(boards["members"], f"Members idea number {n}")

    text = page_text(client_for(app, outsider).get("/boards/members?sort=new"))

    assert 'action="/boards/members"' in text
    assert 'href="/boards/members?sort=new&after=' in text


# --- Its feed ---------------------------------------------------------------------------------


def test_only_a_public_board_has_a_feed_and_it_holds_only_that_boards_ideas(
    app, boards, post, insider
):
    post(boards["public"], "Export reports to Excel")
    post(boards["private"], SECRET)
    post(boards["members"], "Dark mode for members")

    feed = client_for(app).get("/boards/ideas/feed.atom")
    assert feed.status_code == 200
    assert feed.mimetype == "application/atom+xml"
    assert "Export reports to Excel" in page_text(feed)
    assert SECRET not in page_text(feed)
    assert "Dark mode" not in page_text(feed)
    # Feed readers are not signed in: even an insider's request finds no feed for these.
    for slug in ("acme-beta", "members"):
        assert client_for(app).get(f"/boards/{slug}/feed.atom").status_code == 404
        assert client_for(app, insider).get(f"/boards/{slug}/feed.atom").status_code == 404
    assert "/boards/ideas/feed.atom" in page_text(client_for(app).get("/boards/ideas"))
    assert "feed.atom" not in page_text(client_for(app, insider).get("/boards/acme-beta"))


# --- Search within a board --------------------------------------------------------------------


def test_search_within_a_board_and_widening_to_every_board(app, boards, post, insider):
    post(boards["public"], "Zebra exports for everyone")
    post(boards["private"], SECRET)

    within = page_text(client_for(app, insider).get("/search?q=zebra&board=acme-beta"))
    everywhere = page_text(client_for(app, insider).get("/search?q=zebra"))

    assert SECRET in within and "Zebra exports for everyone" not in within
    assert "1 idea matches “zebra” on Acme beta." in within
    assert 'href="/search?q=zebra">Search every board instead</a>' in within
    assert SECRET in everywhere and "Zebra exports for everyone" in everywhere


def test_naming_a_private_board_in_a_search_tells_an_outsider_nothing(app, boards, post, outsider):
    post(boards["public"], "Zebra exports for everyone")
    post(boards["private"], SECRET)

    named = client_for(app, outsider).get("/search?q=exports&board=acme-beta")
    unknown = client_for(app, outsider).get("/search?q=exports&board=no-such-board")

    assert named.status_code == 200
    assert "Acme beta" not in page_text(named)
    assert "Zebra exports for everyone" in page_text(named)  # ignored: every board they see
    assert 'value="acme-beta"' not in page_text(named)
    assert page_text(unknown).count("Zebra exports") == page_text(named).count("Zebra exports")


# --- The boards above the home page's list ----------------------------------------------------


def test_with_one_board_the_home_page_shows_no_boards(client, make_idea):
    make_idea("Export reports to Excel")

    text = page_text(client.get("/"))

    assert "All boards" not in text


def test_the_home_page_shows_the_boards_each_person_may_see(app, boards, post, insider, outsider):
    post(boards["public"], "Export reports to Excel")
    post(boards["private"], SECRET)
    post(boards["private"], "Another private idea")
    post(boards["members"], "Dark mode for members")

    inside = page_text(client_for(app, insider).get("/"))
    outside = page_text(client_for(app, outsider).get("/"))
    visitor = page_text(client_for(app).get("/"))

    assert 'aria-current="page">All boards</a>' in inside
    assert 'href="/boards/acme-beta">Acme beta <span class="badge badge--private">Private' in inside
    assert 'href="/boards/members">Members</a>' in outside
    assert "Acme beta" not in outside
    assert "All boards" not in visitor  # visitors see one board only


# --- Posting to a board -----------------------------------------------------------------------


def new_idea(client, **fields):
    data = {
        "title": "Export reports to Excel",
        "problem": "Our finance team copies numbers by hand every month.",
        "confirmed": "1",
    }
    return client.post("/ideas/new", data={**data, **fields})


def test_with_one_board_to_post_to_the_choice_is_hidden(client, login_as, stages):
    login_as("customer")

    text = page_text(client.get("/ideas/new"))

    assert '<input type="hidden" name="board" value="ideas">' in text
    assert new_idea(client).status_code == 303
    assert db.session.scalar(select(Board.slug).join(Idea, Idea.board_id == Board.id)) == "ideas"


def test_a_person_chooses_among_the_boards_they_may_post_to(app, boards, insider, outsider):
    inside = page_text(client_for(app, insider).get("/ideas/new?board=acme-beta"))
    outside = page_text(client_for(app, outsider).get("/ideas/new"))

    assert '<option selected value="acme-beta">Acme beta</option>' in inside
    assert 'value="acme-beta"' not in outside
    assert '<option value="members">Members</option>' in outside

    client = client_for(app, insider)
    response = new_idea(client, board="acme-beta", title="Audit trail for Acme")
    assert response.status_code == 303
    idea = db.session.scalar(select(Idea).where(Idea.title == "Audit trail for Acme"))
    assert idea.board_id == boards["private"].id


def test_posting_to_a_board_one_may_not_see_saves_nothing(app, boards, outsider, stages):
    response = new_idea(client_for(app, outsider), board="acme-beta", problem="Typed 4412")

    text = page_text(response)
    assert response.status_code == 400
    assert "Choose the board your idea belongs on." in text
    assert "Acme beta" not in text
    assert "Typed 4412" in text
    assert db.session.scalar(select(Idea.id)) is None


def test_a_board_closed_for_posting_says_so(app, boards, outsider, stages):
    boards["members"].posting_open = False
    db.session.commit()
    client = client_for(app, outsider)

    shown = page_text(client.get("/ideas/new?board=members"))
    refused = new_idea(client, board="members", problem="Typed 5521")

    closed = "The Members board is not taking new ideas right now."
    assert f"{closed} You can post yours on Ideas instead." in shown
    assert refused.status_code == 400
    assert closed in page_text(refused)
    assert "Typed 5521" in page_text(refused)
    assert db.session.scalar(select(Idea.id)) is None
    board_page = page_text(client.get("/boards/members"))
    assert "This board is not taking new ideas right now" in board_page


def test_a_category_must_be_one_the_board_uses(app, boards, outsider, make_category, stages):
    billing, reporting = make_category("Billing"), make_category("Reporting", position=1)
    boards["members"].categories.append(billing)
    db.session.commit()
    client = client_for(app, outsider)

    form = page_text(client.get("/ideas/new?board=members"))
    refused = new_idea(client, board="members", category_id=str(reporting.id), problem="Typed 6610")

    assert ">Billing</option>" in form and ">Reporting</option>" not in form
    # With JavaScript, changing the board offers its categories (board-categories.js).
    [raw] = re.findall(r"data-board-categories='([^']*)'", form)
    assert json.loads(raw) == {
        "ideas": [[billing.id, "Billing"], [reporting.id, "Reporting"]],
        "members": [[billing.id, "Billing"]],
    }
    assert refused.status_code == 400
    assert "“Reporting” is not used on the Members board. Choose one of Billing." in page_text(
        refused
    )
    assert "Typed 6610" in page_text(refused)
    assert db.session.scalar(select(Idea.id)) is None
    accepted = new_idea(client, board="members", category_id=str(billing.id))
    assert accepted.status_code == 303


def test_editing_an_idea_offers_and_accepts_only_its_boards_categories(
    app, boards, outsider, make_category, stages
):
    billing, reporting = make_category("Billing"), make_category("Reporting", position=1)
    boards["members"].categories.append(billing)
    db.session.commit()
    client = client_for(app, outsider)
    new_idea(client, board="members", category_id=str(billing.id), title="Split invoices")
    idea = db.session.scalar(select(Idea).where(Idea.title == "Split invoices"))

    form = page_text(client.get(f"/ideas/{idea.id}/edit"))
    refused = client.post(
        f"/ideas/{idea.id}/edit",
        data={"title": "Split invoices", "problem": "Edited 4471", "category_id": reporting.id},
    )

    assert ">Billing</option>" in form and ">Reporting</option>" not in form
    assert refused.status_code == 400
    assert "“Reporting” is not used on the Members board." in page_text(refused)
    assert "Edited 4471" in page_text(refused)
    db.session.expire_all()
    assert db.session.get(Idea, idea.id).category_id == billing.id


# --- The idea's page --------------------------------------------------------------------------


def test_an_idea_page_links_its_board_and_explains_closed_voting(app, boards, post, outsider):
    idea = post(boards["members"], "Dark mode for members")
    client = client_for(app, outsider)

    open_page = page_text(client.get(f"/ideas/{idea.id}"))
    boards["members"].voting_open = False
    db.session.commit()
    closed_page = page_text(client.get(f"/ideas/{idea.id}"))

    assert '<a href="/boards/members">Members</a>' in open_page
    assert "Voting is closed on this board" not in open_page
    assert "Voting is closed on this board" in closed_page
    assert f'action="/ideas/{idea.id}/vote"' not in closed_page


# --- The roadmap and the changelog by board ---------------------------------------------------


PLANNED_NOTE = "Next up, after the summer release."
SHIPPED_NOTE = "Out now for everyone on this board."


@pytest.fixture
def planned(boards, post, team, stages):
    """A planned and a shipped idea on the public and on the private board."""
    made = {}
    for key, board in (("public", boards["public"]), ("private", boards["private"])):
        plan = post(board, f"Planned on {board.name}")
        ship = post(board, f"Shipped on {board.name}")
        pipeline.move_stage(plan, stages["planned"], actor=team, note=PLANNED_NOTE, ip=None)
        pipeline.move_stage(ship, stages["shipped"], actor=team, note=SHIPPED_NOTE, ip=None)
        made[key] = (plan, ship)
    db.session.commit()
    return made


@pytest.mark.parametrize("path", ["/roadmap", "/shipped"])
def test_the_roadmap_and_changelog_narrow_to_one_board(app, planned, insider, path):
    client = client_for(app, insider)

    every = page_text(client.get(path))
    private = page_text(client.get(f"{path}?board=acme-beta"))
    public = page_text(client.get(f"{path}?board=ideas"))

    assert "Shipped on Ideas" in every and "Shipped on Acme beta" in every
    assert "Shipped on Acme beta" in private and "Shipped on Ideas" not in private
    assert "Shipped on Ideas" in public and "Shipped on Acme beta" not in public
    assert '<option value="acme-beta" selected>Acme beta</option>' in private
    if path == "/roadmap":
        assert "Planned on Acme beta" in private and "Planned on Ideas" not in private


@pytest.mark.parametrize("path", ["/roadmap", "/shipped"])
def test_naming_a_private_board_on_the_roadmap_is_ignored_for_an_outsider(
    app, planned, outsider, path
):
    client = client_for(app, outsider)

    named = client.get(f"{path}?board=acme-beta")

    assert named.status_code == 200
    assert 'value="acme-beta"' not in page_text(named)
    assert page_text(named).count("Shipped on") == page_text(client.get(path)).count("Shipped on")
