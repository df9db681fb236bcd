"""The triage inbox beyond "awaiting a first answer": every open idea by owner, stage, category,
organisation and lateness; saved filters as tabs with counts; and triage mode, which walks a
view one idea at a time (issue 16)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Idea, SavedFilter
from portal.models.types import utcnow
from portal.services import moderation, triage

from .conftest import sign_in_client
from .helpers import database_snapshot, page_text

NOTE = "We are sizing this with three customers and will report back next month."


@pytest.fixture
def pm(make_user):
    return make_user("product_manager", display_name="Pia Product")


@pytest.fixture
def colleague(make_user):
    return make_user("product_manager", display_name="Colm Colleague")


@pytest.fixture
def pm_client(client, pm):
    sign_in_client(client, pm)
    return client


@pytest.fixture
def colleague_client(app, colleague):
    other = app.test_client()
    sign_in_client(other, colleague)
    return other


@pytest.fixture
def inbox(make_idea, make_user, make_category, make_organisation, stages, pm, colleague):
    """Four open ideas (one each: mine, my colleague's, unassigned twice, one of them overdue),
    and a closed and a hidden idea that no view shows."""
    billing, reports = make_category("Billing"), make_category("Reports", position=1)
    acme = make_organisation("Acme")
    from_acme = make_user(organisation=acme)
    now = utcnow()
    ideas = {}
    for title, category, author, owner, stage, due in [
        ("Invoices in euros", billing, from_acme, pm, "under_review", now + timedelta(days=3)),
        ("Monthly report", reports, None, colleague, "planned", now + timedelta(days=10)),
        ("Export to Excel", reports, from_acme, None, "new", now - timedelta(days=2)),
        ("Dark mode", None, None, None, "new", None),
    ]:
        # Ideas must name a category while there are some; "Dark mode" lost its own since.
        idea = make_idea(title, author=author, category=category or billing, stage=stage)
        idea.category = category
        idea.owner = owner
        idea.response_due_at = due
        ideas[title] = idea
    closed = make_idea("Old request", stage="shipped", category=billing)
    hidden = make_idea("Spam for sale", category=billing)
    db.session.commit()
    moderation.hide(hidden, reason="Advertising", actor=pm, ip=None)
    db.session.commit()
    ideas["closed"], ideas["hidden"] = closed, hidden
    return {"ideas": ideas, "billing": billing, "reports": reports, "acme": acme}


def listed(response) -> list[str]:
    """The titles in the page's tables, in order."""
    body = response.get_data(as_text=True)
    results = body.split('id="triage-results"', 1)[1]
    return [
        html_title
        for html_title in re.findall(
            r'<tr data-result>.*?<a href="/team/triage/ideas/\d+[^"]*">(.*?)</a>', results, re.S
        )
    ]


def tab_counts(response) -> dict[str, int]:
    nav = page_text(response).split('aria-label="Triage views"', 1)[1].split("</nav>", 1)[0]
    return {
        label.strip(): int(n)
        for label, n in re.findall(r'>([^<>]+?) <span class="count">(\d+)</span>', nav)
    }


# --- Every open idea, filtered ------------------------------------------------------------


def test_all_open_ideas_soonest_promise_first_without_closed_or_hidden(inbox, pm_client):
    page = pm_client.get("/team/triage?show=all")
    assert page.status_code == 200
    assert listed(page) == ["Export to Excel", "Invoices in euros", "Monthly report", "Dark mode"]
    assert "All open ideas (4)" in page_text(page)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("owner=me", ["Invoices in euros"]),
        ("owner=unassigned", ["Export to Excel", "Dark mode"]),
        ("owner={colleague}", ["Monthly report"]),
        ("overdue=1", ["Export to Excel"]),
        ("stage=new", ["Export to Excel", "Dark mode"]),
        ("category={reports}", ["Export to Excel", "Monthly report"]),
        ("organisation={acme}", ["Export to Excel", "Invoices in euros"]),
        ("owner=unassigned&organisation={acme}&overdue=1", ["Export to Excel"]),
    ],
)
def test_filters_narrow_the_open_ideas(inbox, pm_client, colleague, query, expected):
    query = query.format(colleague=colleague.id, reports=inbox["reports"].id, acme=inbox["acme"].id)
    assert listed(pm_client.get(f"/team/triage?show=all&{query}")) == expected


def test_the_answer_view_takes_the_new_filters_too(inbox, pm_client):
    page = page_text(pm_client.get("/team/triage?owner=unassigned"))
    awaiting = page.split("Awaiting a first answer")[1].split("Overdue for the next answer")[0]
    assert "Export to Excel" in awaiting and "Dark mode" in awaiting
    assert "Invoices in euros" not in awaiting


def test_built_in_views_are_tabs_with_counts(inbox, pm_client):
    page = pm_client.get("/team/triage")
    assert tab_counts(page) == {
        "Needs an answer": 4,
        "All open ideas": 4,
        "Assigned to me": 1,
        "Unassigned": 2,
        "Overdue": 1,
    }
    assert 'aria-current="page">Needs an answer' in page.get_data(as_text=True)


def test_the_filters_apply_as_they_change_and_show_without_javascript(inbox, pm_client):
    body = pm_client.get("/team/triage?show=all").get_data(as_text=True)
    form = (
        body.split('aria-label="Filter"')[0].rsplit("<form", 1)[1]
        + body.split('aria-label="Filter"')[1].split("</form>")[0]
    )
    assert 'data-apply-on-change="triage-results"' in form
    assert '<input type="hidden" name="show" value="all">' in form
    assert '<button type="submit" class="button">Show</button>' in form
    assert 'value="unassigned"' in form and 'name="overdue"' in form


def test_the_csv_of_all_open_ideas_matches_the_page(inbox, pm_client, pm):
    response = pm_client.get("/team/triage.csv?show=all&owner=unassigned")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["title"] for r in rows] == ["Export to Excel", "Dark mode"]
    assert rows[0]["owner"] == ""
    assert rows[0]["days late"] == "2"


# --- Saved filters ------------------------------------------------------------------------


def save(client, query: str, name: str, shared: bool = False):
    data = {"name": name, **({"shared": "y"} if shared else {})}
    return client.post(f"/team/triage/filters/new?{query}", data=data)


def test_saving_a_filter_makes_it_a_tab_with_its_count(inbox, pm_client, pm):
    response = save(pm_client, "show=all&owner=unassigned&overdue=on&junk=1", "Nobody's, late")

    assert response.status_code == 303
    assert response.headers["Location"] == "/team/triage?show=all&owner=unassigned&overdue=1"
    [saved] = db.session.scalars(select(SavedFilter)).all()
    assert (saved.name, saved.query, saved.shared) == (
        "Nobody's, late",
        "show=all&owner=unassigned&overdue=1",
        False,
    )
    page = pm_client.get(response.headers["Location"])
    assert tab_counts(page)["Nobody's, late"] == 1
    assert 'aria-current="page">Nobody&#39;s, late' in page.get_data(as_text=True)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "saved_filter.created"))
    assert event.actor_id == pm.id and event.detail["name"] == "Nobody's, late"


def test_a_shared_filter_shows_each_colleague_their_own(inbox, pm_client, colleague_client):
    save(pm_client, "show=all&owner=me", "My plate", shared=True)
    save(pm_client, "show=all&stage=new", "Private", shared=False)

    counts = tab_counts(colleague_client.get("/team/triage"))
    assert counts["My plate"] == 1  # the colleague's one idea, not Pia's
    assert "Private" not in counts
    assert listed(colleague_client.get("/team/triage?show=all&owner=me")) == ["Monthly report"]
    assert "from Pia Product" in page_text(colleague_client.get("/team/triage"))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("   ", "Give the filter a name, such as “Mine, overdue”."),
        ("x" * 61, "This has 61 characters; the limit is 60."),
        ("mine", "You already have a filter called “mine”: choose another name."),
    ],
)
def test_a_bad_name_is_refused_with_the_filters_kept(inbox, pm_client, name, message):
    save(pm_client, "show=all&owner=me", "Mine")
    before = database_snapshot()
    response = save(pm_client, "show=all&stage=new", name)
    assert response.status_code == 400
    assert message in page_text(response)
    assert database_snapshot() == before
    body = response.get_data(as_text=True)
    assert 'action="/team/triage/filters/new?show=all&amp;stage=new"' in body
    assert listed(response) == ["Export to Excel", "Dark mode"]  # the view, still shown


def test_the_owner_renames_shares_and_deletes_a_filter(inbox, pm_client, colleague_client):
    save(pm_client, "show=all&owner=me", "Mine")
    saved = db.session.scalar(select(SavedFilter))
    page = pm_client.get("/team/triage/filters")
    assert page.status_code == 200 and "Mine" in page_text(page)

    response = pm_client.post(
        f"/team/triage/filters/{saved.id}", data={"name": "My ideas", "shared": "y"}
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert (saved.name, saved.shared) == ("My ideas", True)
    assert "My ideas" in tab_counts(colleague_client.get("/team/triage"))

    response = pm_client.post(f"/team/triage/filters/{saved.id}/delete")
    assert response.status_code == 303
    assert db.session.scalars(select(SavedFilter)).all() == []
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-3:] == ["saved_filter.created", "saved_filter.updated", "saved_filter.deleted"]


def test_a_rename_to_a_taken_name_keeps_what_was_typed(inbox, pm_client):
    save(pm_client, "show=all&owner=me", "Mine")
    save(pm_client, "show=all&stage=new", "New ones")
    new_ones = db.session.scalar(select(SavedFilter).where(SavedFilter.name == "New ones"))
    response = pm_client.post(f"/team/triage/filters/{new_ones.id}", data={"name": "MINE"})
    assert response.status_code == 400
    assert "You already have a filter called “MINE”" in page_text(response)
    assert 'value="MINE"' in response.get_data(as_text=True)


@pytest.mark.parametrize("action", ["", "/delete"])
def test_nobody_else_changes_a_filter_even_a_shared_one(inbox, pm_client, colleague_client, action):
    save(pm_client, "show=all&owner=me", "Mine", shared=True)
    saved = db.session.scalar(select(SavedFilter))
    before = database_snapshot()
    response = colleague_client.post(
        f"/team/triage/filters/{saved.id}{action}", data={"name": "Taken over"}
    )
    assert response.status_code == 404
    assert database_snapshot() == before


def test_the_list_costs_the_same_queries_whatever_its_length(
    inbox, pm_client, make_idea, count_queries
):
    pm_client.get("/team/triage?show=all")  # warm up whatever a first request loads once
    with count_queries() as few:
        pm_client.get("/team/triage?show=all")
    for n in range(5):
        make_idea(f"Another idea {n}", category=inbox["billing"])
        save(pm_client, f"show=all&stage=new&category={n + 1}", f"Filter {n}")
    with count_queries() as many:
        page = pm_client.get("/team/triage?show=all")
    assert len(listed(page)) == 9
    assert many.count == few.count


# --- Triage mode --------------------------------------------------------------------------


def bar(response) -> str:
    body = response.get_data(as_text=True)
    return body.split("data-triage-bar", 1)[1].split("</nav>", 1)[0]


def test_open_the_first_idea_of_a_view(inbox, pm_client):
    ideas = inbox["ideas"]
    response = pm_client.get("/team/triage/next?show=all&owner=unassigned")
    first = ideas["Export to Excel"]
    assert response.status_code == 303
    assert response.headers["Location"] == (
        f"/team/triage/ideas/{first.id}?show=all&owner=unassigned&at=0"
    )
    page = pm_client.get(response.headers["Location"])
    assert page.status_code == 200
    text = bar(page)
    assert "<strong>1 of 2</strong>" in text and ">Unassigned</a>" in text
    assert 'rel="prev"' not in text
    assert (
        f'href="/team/triage/ideas/{ideas["Dark mode"].id}?show=all&amp;owner=unassigned&amp;at=1"'
        in text
    )
    assert '<h1 id="idea-title">Export to Excel</h1>' in page.get_data(as_text=True)


def test_the_list_links_each_idea_into_triage_mode(inbox, pm_client):
    body = pm_client.get("/team/triage?show=all").get_data(as_text=True)
    monthly = inbox["ideas"]["Monthly report"]
    assert f'href="/team/triage/ideas/{monthly.id}?show=all&amp;at=2"' in body
    assert 'href="/team/triage/next?show=all"' in body


def test_the_middle_of_a_view_has_both_neighbours(inbox, pm_client):
    ideas = inbox["ideas"]
    page = pm_client.get(f"/team/triage/ideas/{ideas['Invoices in euros'].id}?show=all&at=1")
    text = bar(page)
    assert "<strong>2 of 4</strong>" in text and ">All open ideas</a>" in text
    assert (
        f'href="/team/triage/ideas/{ideas["Export to Excel"].id}?show=all&amp;at=0" rel="prev"'
        in text
    )
    assert (
        f'href="/team/triage/ideas/{ideas["Monthly report"].id}?show=all&amp;at=2" rel="next"'
        in text
    )


def test_skipping_puts_an_idea_at_the_end_of_the_line(inbox, pm_client):
    ideas = inbox["ideas"]
    first = ideas["Export to Excel"]
    response = pm_client.post(f"/team/triage/ideas/{first.id}/skip?show=all&at=0")
    assert response.status_code == 303
    assert response.headers["Location"] == (
        f"/team/triage/ideas/{ideas['Invoices in euros'].id}?show=all&at=0"
    )
    again = pm_client.get("/team/triage/next?show=all")
    assert urlsplit(again.headers["Location"]).path.endswith(f"/{ideas['Invoices in euros'].id}")
    last = pm_client.get(f"/team/triage/ideas/{first.id}?show=all")
    assert "<strong>4 of 4</strong>" in bar(last)


def test_assign_to_me_keeps_the_place_of_an_idea_that_leaves_the_view(inbox, pm_client, pm):
    ideas = inbox["ideas"]
    first = ideas["Export to Excel"]
    response = pm_client.post(
        f"/team/triage/ideas/{first.id}/assign-to-me?owner=unassigned&show=all&at=0"
    )
    assert response.status_code == 303
    assert response.headers["Location"] == (
        f"/team/triage/ideas/{first.id}?show=all&owner=unassigned&at=0"
    )
    db.session.expire_all()
    assert db.session.get(Idea, first.id).owner_id == pm.id
    audited = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "idea.owner_changed"))
    assert audited.actor_id == pm.id and audited.target_id == first.id

    page = pm_client.get(response.headers["Location"])
    text = bar(page)
    assert "No longer in this view" in text and "Assigned to you" in text
    assert (
        f'href="/team/triage/ideas/{ideas["Dark mode"].id}?show=all&amp;owner=unassigned&amp;at=0"'
        in text
    )
    assert "Assigned to you: customers see you as their contact" in page_text(page)


def test_a_move_in_triage_mode_goes_on_to_the_next_idea(inbox, pm_client, stages):
    ideas = inbox["ideas"]
    first = ideas["Export to Excel"]
    page = pm_client.get(f"/team/triage/ideas/{first.id}?show=all&owner=unassigned&at=0")
    following = f"/team/triage/ideas/{ideas['Dark mode'].id}?show=all&owner=unassigned&at=0"
    assert f'<input type="hidden" name="next" value="{following.replace("&", "&amp;")}">' in (
        page.get_data(as_text=True)
    )
    response = pm_client.post(
        f"/ideas/{first.id}/move",
        data={"stage_id": str(stages["declined"].id), "note": NOTE, "next": following},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == following
    assert listed(pm_client.get("/team/triage?show=all&owner=unassigned")) == ["Dark mode"]


def test_a_note_or_an_owner_in_triage_mode_comes_back_to_the_same_idea(inbox, pm_client):
    first = inbox["ideas"]["Export to Excel"]
    here = f"/team/triage/ideas/{first.id}?show=all&at=0"
    response = pm_client.post(
        f"/team/ideas/{first.id}/notes", data={"body": "Ask Acme for numbers.", "next": here}
    )
    assert response.headers["Location"] == here


def test_an_empty_view_says_so(inbox, pm_client):
    response = pm_client.get("/team/triage/next?show=all&stage=planned&owner=me")
    assert response.status_code == 303
    assert response.headers["Location"] == "/team/triage?show=all&stage=planned&owner=me"
    page = pm_client.get(response.headers["Location"])
    assert "There is nothing to triage in this view. Well done." in page_text(page)


def test_every_shortcut_has_a_link_or_button_and_a_field_to_go_to(inbox, pm_client):
    first = inbox["ideas"]["Export to Excel"]
    page = pm_client.get(f"/team/triage/ideas/{first.id}?show=all&at=0")
    body = page.get_data(as_text=True)
    text = bar(page)
    keys = set(re.findall(r'data-shortcut="(.)"', text))
    assert keys == {"j", "s", "a", "m", "o", "n", "?"}  # the first idea has no previous
    for target in re.findall(r'data-focus="([^"]+)"', text):
        assert f'id="{target}"' in body, target
    assert "/static/js/triage.js" in body


def test_a_customer_never_reaches_triage_mode(inbox, client, make_user):
    sign_in_client(client, make_user())
    first = inbox["ideas"]["Export to Excel"]
    assert client.get(f"/team/triage/ideas/{first.id}").status_code == 403
    assert client.get("/team/triage/next").status_code == 403
    assert client.post(f"/team/triage/ideas/{first.id}/assign-to-me").status_code == 403


def test_the_sequence_service_refuses_customers(inbox, make_user):
    from portal.permissions import PermissionDenied

    with pytest.raises(PermissionDenied):
        triage.sequence(triage.InboxView(triage.TriageFilters()), viewer=make_user())


def test_position_keeps_the_gap_an_idea_left():
    assert triage.position([1, 2, 3], 2) == triage.Position(1, 3, 1, 3)
    assert triage.position([1, 3], 2, was_at=1) == triage.Position(None, 2, 1, 3)
    assert triage.position([1, 3], 2, was_at=9) == triage.Position(None, 2, 3, None)
    assert triage.position([], 2) == triage.Position(None, 0, None, None)


def test_view_queries_are_canonical():
    assert triage.view_query({"owner": "me", "show": "answer", "x": "1", "overdue": "on"}) == (
        "owner=me&overdue=1"
    )
    assert triage.view_query({"show": "all", "overdue": "0", "stage": " new "}) == (
        "show=all&stage=new"
    )


def test_triage_mode_costs_the_same_queries_whatever_the_views_length(
    inbox, pm_client, make_idea, count_queries
):
    first = inbox["ideas"]["Export to Excel"]
    url = f"/team/triage/ideas/{first.id}?show=all&at=0"
    pm_client.get(url)
    with count_queries() as few:
        pm_client.get(url)
    for n in range(5):
        make_idea(f"Another idea {n}", category=inbox["billing"])
        save(pm_client, f"show=all&stage=new&category={n + 1}", f"Filter {n}")
    with count_queries() as many:
        page = pm_client.get(url)
    assert "<strong>1 of 9</strong>" in bar(page)
    assert many.count == few.count
