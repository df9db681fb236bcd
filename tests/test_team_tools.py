"""Owners, estimates, internal notes and the priority view: the team's tools on an idea."""

import csv
import io

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Idea, InternalNote

from .conftest import sign_in_client


@pytest.fixture
def pm(client, make_user):
    user = make_user("product_manager", display_name="Pat Manager")
    sign_in_client(client, user)
    return user


def test_owner_is_shown_to_customers_as_their_contact(client, pm, make_idea, make_user):
    idea = make_idea("Export to Excel")
    assert (
        client.post(f"/team/ideas/{idea.id}/owner", data={"owner_id": str(pm.id)}).status_code
        == 303
    )
    assert db.session.get(Idea, idea.id).owner_id == pm.id
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "idea.owner_changed"))

    visitor = client.application.test_client()
    assert (
        "Your contact in the team: <strong>Pat Manager</strong>"
        in visitor.get(f"/ideas/{idea.id}").text
    )


def test_only_team_members_can_own_an_idea(client, pm, make_idea, make_user):
    idea = make_idea("Export to Excel")
    customer = make_user("customer")
    response = client.post(f"/team/ideas/{idea.id}/owner", data={"owner_id": str(customer.id)})
    assert response.status_code == 400
    assert db.session.get(Idea, idea.id).owner_id is None


def test_estimates_are_one_to_five(client, pm, make_idea):
    idea = make_idea("Export to Excel")
    assert (
        client.post(
            f"/team/ideas/{idea.id}/estimates", data={"impact": "5", "effort": "2"}
        ).status_code
        == 303
    )
    stored = db.session.get(Idea, idea.id)
    assert (stored.impact, stored.effort) == (5, 2)
    for junk in ("0", "6", "abc", "²"):
        response = client.post(
            f"/team/ideas/{idea.id}/estimates", data={"impact": junk, "effort": "2"}
        )
        assert response.status_code == 400, junk
    assert db.session.get(Idea, idea.id).impact == 5


def test_internal_notes_are_never_shown_to_customers(client, pm, make_idea, make_user):
    idea = make_idea("Export to Excel")
    secret = "Globex will churn without this: renewal in March."
    assert client.post(f"/team/ideas/{idea.id}/notes", data={"body": secret}).status_code == 303
    assert db.session.scalar(select(func.count(InternalNote.id))) == 1
    assert secret in client.get(f"/ideas/{idea.id}").text

    customer_client = client.application.test_client()
    sign_in_client(customer_client, make_user("customer"))
    for path in (f"/ideas/{idea.id}", "/", "/search?q=churn", "/feeds/ideas.atom",
                 f"/ideas/{idea.id}/feed.atom", "/notifications", "/my-ideas"):  # fmt: skip
        assert "will churn without this" not in customer_client.get(path).text, path


def test_empty_internal_note_is_refused(client, pm, make_idea):
    idea = make_idea("Export to Excel")
    response = client.post(f"/team/ideas/{idea.id}/notes", data={"body": "   "})
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(InternalNote.id))) == 0


def test_priority_orders_by_the_default_formula(client, pm, make_idea, make_user):
    from portal.services import votes

    narrow = make_idea("Many votes from nobody in particular")
    for _ in range(4):
        votes.cast_vote(narrow, make_user())
    cheap = make_idea("High impact, low effort")
    cheap.impact, cheap.effort = 5, 1
    make_idea("Nothing special")
    db.session.commit()
    # score = 1 x votes + 1 x yearly value in 10,000s + 2 x impact - 2 x effort + 1 x unmet need
    rows = list(csv.DictReader(io.StringIO(client.get("/team/priority.csv").text)))
    assert [(r["title"], r["score"]) for r in rows] == [
        ("High impact, low effort", "9.00"),  # 1 + 2 x 5 - 2 x 1
        ("Many votes from nobody in particular", "5.00"),  # 5 + 2 x 3 - 2 x 3
        ("Nothing special", "1.00"),
    ]
    page = client.get("/team/priority").text
    assert page.index("High impact, low effort") < page.index("Nothing special")


def test_triage_can_show_only_my_ideas(client, pm, make_idea):
    mine, other = make_idea("Owned by me"), make_idea("Owned by nobody")
    mine.owner_id = pm.id
    db.session.commit()
    page = client.get("/team/triage?owner=me").text
    assert "Owned by me" in page and "Owned by nobody" not in page
    del other


def test_customers_cannot_use_team_tools(client, make_user, make_idea):
    idea = make_idea("Export to Excel")
    sign_in_client(client, make_user("customer"))
    for path, data in (
        (f"/team/ideas/{idea.id}/owner", {"owner_id": ""}),
        (f"/team/ideas/{idea.id}/estimates", {"impact": "3", "effort": "3"}),
        (f"/team/ideas/{idea.id}/notes", {"body": "sneaky"}),
    ):
        assert client.post(path, data=data).status_code == 403
    assert client.get("/team/priority").status_code == 403
    assert db.session.scalar(select(func.count(InternalNote.id))) == 0
