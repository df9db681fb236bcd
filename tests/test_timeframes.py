"""Timeframes on the roadmap: admins choose the scheme, PMs set one per idea, customers see it."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Idea
from portal.permissions import PermissionDenied
from portal.services import roadmap
from portal.services.errors import InvalidInput

from .conftest import sign_in_client
from .helpers import page_text


def fresh(idea_id: int) -> Idea:
    db.session.expire_all()
    return db.session.get(Idea, idea_id)


@pytest.fixture
def pm(make_user):
    return make_user("product_manager", display_name="Priya PM")


@pytest.fixture
def admin(make_user):
    return make_user("admin", display_name="Ada Admin")


def use_quarters(admin) -> None:
    roadmap.set_timeframe_scheme(roadmap.QUARTERS, actor=admin, ip=None)
    db.session.commit()


def test_now_next_later_is_the_default_scheme(app):
    assert roadmap.timeframe_scheme() == roadmap.NOW_NEXT_LATER
    assert list(roadmap.timeframe_choices()) == ["", "now", "next", "later"]


def test_quarters_offer_this_quarter_and_the_five_after_it_then_later(admin):
    use_quarters(admin)
    choices = roadmap.timeframe_choices(today=date(2026, 12, 7))
    assert list(choices.values()) == [
        "Not scheduled yet",
        "2026 Q4",
        "2027 Q1",
        "2027 Q2",
        "2027 Q3",
        "2027 Q4",
        "2028 Q1",
        "Later",
    ]
    assert "2026-Q4" in choices


def test_a_pm_sets_a_timeframe_on_the_team_panel_and_it_is_audited(client, pm, make_idea):
    idea = make_idea("Bulk edit invoices", stage="planned")
    sign_in_client(client, pm)
    page = client.get(f"/ideas/{idea.id}").get_data(as_text=True)
    assert "Timeframe customers see" in page
    response = client.post(f"/team/ideas/{idea.id}/timeframe", data={"timeframe": "next"})
    assert response.status_code == 303
    assert fresh(idea.id).timeframe == "next"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "idea.timeframe_set"))
    assert event.detail == {
        "idea": "Bulk edit invoices",
        "old": "Not scheduled yet",
        "new": "Next",
    }
    assert event.actor_id == pm.id and event.target_id == idea.id


def test_an_unknown_timeframe_is_refused_with_the_page_kept(client, pm, make_idea):
    idea = make_idea("Bulk edit invoices", stage="planned")
    sign_in_client(client, pm)
    response = client.post(f"/team/ideas/{idea.id}/timeframe", data={"timeframe": "2099-Q9"})
    assert response.status_code == 400
    assert "Choose one of the listed timeframes." in page_text(response)
    assert fresh(idea.id).timeframe is None


def test_customers_cannot_set_timeframes(make_user, make_idea):
    idea = make_idea(stage="planned")
    with pytest.raises(PermissionDenied):
        roadmap.set_timeframe(idea, "now", actor=make_user(), ip=None)


def test_a_closed_idea_takes_no_timeframe(pm, make_idea):
    idea = make_idea("Old idea", stage="declined")
    with pytest.raises(InvalidInput, match="a timeframe is for ideas still to come"):
        roadmap.set_timeframe(idea, "now", actor=pm, ip=None)


def test_customers_see_the_timeframe_on_the_roadmap_and_the_idea_page(client, pm, make_idea):
    idea = make_idea("Bulk edit invoices", stage="planned")
    roadmap.set_timeframe(idea, "now", actor=pm, ip=None)
    db.session.commit()
    text = page_text(client.get("/roadmap"))
    assert "Bulk edit invoices" in text and "Now" in text
    page = client.get(f"/ideas/{idea.id}").get_data(as_text=True)
    assert re.search(r"Expected: <strong[^>]*>Now</strong>", page)


def test_the_roadmap_groups_by_timeframe_soonest_first(client, pm, admin, make_idea):
    use_quarters(admin)
    this_quarter = list(roadmap.timeframe_choices())[1]
    next_quarter = list(roadmap.timeframe_choices())[2]
    later = make_idea("Later idea", stage="under_review")
    soon = make_idea("Soon idea", stage="in_progress")
    after = make_idea("Next quarter idea", stage="planned")
    make_idea("Unplanned idea", stage="planned")
    for idea, value in ((later, "later"), (soon, this_quarter), (after, next_quarter)):
        roadmap.set_timeframe(idea, value, actor=pm, ip=None)
    db.session.commit()
    text = page_text(client.get("/roadmap?by=timeframe"))
    order = [text.index(t) for t in ("Soon idea", "Next quarter idea", "Later idea")]
    assert order == sorted(order)
    assert text.index("Not scheduled yet") < text.index("Unplanned idea")
    assert text.index("Later idea") < text.index("Unplanned idea")


def test_switching_schemes_keeps_what_was_set_and_offers_it_still(client, pm, admin, make_idea):
    idea = make_idea("Bulk edit invoices", stage="planned")
    roadmap.set_timeframe(idea, "later", actor=pm, ip=None)
    roadmap.set_timeframe(make_idea("Other", stage="planned"), "now", actor=pm, ip=None)
    db.session.commit()
    sign_in_client(client, admin)
    response = client.post("/admin/settings/roadmap", data={"scheme": "quarters"})
    assert response.status_code == 303
    assert roadmap.timeframe_scheme() == roadmap.QUARTERS
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "settings.changed"))
    assert event.detail["roadmap_timeframes"] == {
        "old": "Now, next, later",
        "new": "Calendar quarters, such as 2027 Q1",
    }
    assert fresh(idea.id).timeframe == "later"
    assert "now" in roadmap.timeframe_choices(current="now")  # the old value stays choosable
    assert "Now" in page_text(client.get("/roadmap"))


def test_only_admins_choose_the_scheme(pm):
    with pytest.raises(PermissionDenied):
        roadmap.set_timeframe_scheme(roadmap.QUARTERS, actor=pm, ip=None)


def test_an_unknown_scheme_is_refused(client, admin):
    sign_in_client(client, admin)
    response = client.post("/admin/settings/roadmap", data={"scheme": "fortnights"})
    assert response.status_code == 400
    assert roadmap.timeframe_scheme() == roadmap.NOW_NEXT_LATER
