"""Priorities weighted by customer value: organisations' plan, value and renewal (set on their
page or imported by CSV), the value behind each idea counted once per organisation, and the
scoring formula the team configures."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Idea, Organisation, OrganisationDomain, OutcomeAnswer, Vote
from portal.models.types import utcnow
from portal.services import on_behalf, votes

from .conftest import sign_in_client
from .helpers import page_text


@pytest.fixture
def admin(client, make_user):
    user = make_user("admin", display_name="Ada Admin")
    sign_in_client(client, user)
    return user


def plain_text(text: str) -> str:
    """Text with the formula's times and minus signs as x and -, and spaces collapsed."""
    return " ".join(text.replace("\u00d7", "x").replace("\u2212", "-").split())


def plain(response) -> str:
    """A page's words without its tags."""
    return plain_text(re.sub(r"<[^>]+>", "", page_text(response)))


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


# --- An organisation's plan, value and renewal ----------------------------------------------


@pytest.mark.parametrize(
    ("amount", "basis", "annual", "shown_again"),
    [
        ("1,250.50", "mrr", 15_006, "1250.50"),
        ("$12 000", "arr", 12_000, "12000"),
        ("99", "mrr", 1_188, "99"),
    ],
)
def test_admin_sets_value_per_month_or_year_and_it_is_kept_per_year(
    client, admin, make_organisation, amount, basis, annual, shown_again
):
    acme = make_organisation("Acme")
    response = client.post(
        f"/admin/settings/organisations/{acme.id}/details",
        data={"plan": " Business ", "segment": "Enterprise", "value": amount,
              "value_basis": basis, "renewal_on": "2027-03-31"},
    )  # fmt: skip
    assert response.status_code == 303
    org = db.session.get(Organisation, acme.id)
    assert (org.plan, org.segment, org.annual_value, org.value_basis, org.renewal_on) == (
        "Business", "Enterprise", annual, basis, date(2027, 3, 31),
    )  # fmt: skip
    page = client.get(f"/admin/settings/organisations/{acme.id}").text
    assert f'value="{shown_again}"' in page
    assert f"{annual:,} a year" in page
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "organisation.details_changed")
    )
    assert event.detail["organisation"] == "Acme"
    assert event.detail["annual_value"] == {"old": None, "new": annual}
    # Saving the page as shown changes nothing, and audits nothing.
    client.post(
        f"/admin/settings/organisations/{acme.id}/details",
        data={"plan": "Business", "segment": "Enterprise", "value": shown_again,
              "value_basis": basis, "renewal_on": "2027-03-31"},
    )  # fmt: skip
    assert audit_actions().count("organisation.details_changed") == 1


def test_bad_details_are_refused_field_by_field_and_kept(client, admin, make_organisation):
    acme = make_organisation("Acme")
    response = client.post(
        f"/admin/settings/organisations/{acme.id}/details",
        data={"plan": "Gold", "value": "twelve", "value_basis": "arr", "renewal_on": "31/03/27"},
    )
    assert response.status_code == 400
    text = page_text(response)
    assert "Write the amount as a number" in text
    assert "Write the renewal date as year-month-day" in text
    assert 'value="twelve"' in response.text and 'value="Gold"' in response.text
    assert db.session.get(Organisation, acme.id).plan == ""

    response = client.post(
        f"/admin/settings/organisations/{acme.id}/details", data={"value": "100"}
    )
    assert response.status_code == 400
    assert "per month or per year" in page_text(response)


def test_customers_and_product_managers_cannot_set_an_organisations_value(
    client, make_user, make_organisation
):
    acme = make_organisation("Acme")
    for role in ("customer", "product_manager"):
        sign_in_client(client, make_user(role))
        response = client.post(
            f"/admin/settings/organisations/{acme.id}/details",
            data={"value": "100", "value_basis": "arr"},
        )
        assert response.status_code == 403
    assert db.session.get(Organisation, acme.id).annual_value is None


# --- The CSV import -------------------------------------------------------------------------

IMPORT = """name,domain,plan,mrr,arr,renewal,segment,owner
Acme,,Business,1000,,2027-01-31,Enterprise,Sam
,globex.com,Team,,24000,,,Kim
Initech,initech.com,Starter,50,,,SMB,
Broken,,,,lots,,,
Both,,,10,120,,,
,nobody.example,,,,,,
Acme,,Team,,,,,
Late,,,,,2027-02-30,,
"""


def test_import_preview_shows_each_rows_change_or_problem_and_saves_nothing(
    client, admin, make_organisation
):
    make_organisation("Acme")
    make_organisation("Globex", domains=("globex.com",))
    response = client.post("/admin/settings/organisations/import", data={"csv_text": IMPORT})
    assert response.status_code == 200
    text = page_text(response)
    assert "2 to update, 1 not found, 0 unchanged, 5 with a problem" in text
    assert "yearly value: — → 12,000 a year" in text
    assert "plan: — → Team" in text and "yearly value: — → 24,000 a year" in text
    assert "Not found: created with the domain initech.com" in text
    assert "Write the amount as a number such as 1200" in text
    assert "Give MRR or ARR, not both." in text
    assert "No organisation has the domain nobody.example" in text
    assert "Line 2 already sets this organisation." in text
    assert "Write the renewal date as year-month-day" in text
    assert "Columns left out, as we do not know them: owner." in text
    assert db.session.scalar(select(func.sum(Organisation.annual_value))) is None
    assert db.session.scalar(select(func.count(Organisation.id))) == 2


def test_import_applies_valid_rows_in_one_go_and_creates_only_when_asked(
    client, admin, make_organisation
):
    make_organisation("Acme")
    make_organisation("Globex", domains=("globex.com",))
    response = client.post("/admin/settings/organisations/import/apply", data={"csv_text": IMPORT})
    assert response.status_code == 303
    values = dict(db.session.execute(select(Organisation.name, Organisation.annual_value)).all())
    assert values == {"Acme": 12_000, "Globex": 24_000}

    response = client.post(
        "/admin/settings/organisations/import/apply",
        data={"csv_text": IMPORT, "create_missing": "y"},
        follow_redirects=True,
    )
    assert "Imported: 0 updated, 1 created, 5 left out." in page_text(response)
    initech = db.session.scalar(select(Organisation).where(Organisation.name == "Initech"))
    assert (initech.plan, initech.annual_value, initech.value_basis) == ("Starter", 600, "mrr")
    assert (
        db.session.scalar(
            select(OrganisationDomain.domain).where(
                OrganisationDomain.organisation_id == initech.id
            )
        )
        == "initech.com"
    )
    assert audit_actions().count("organisation.import") == 2
    assert "organisation.created" in audit_actions()


def test_an_import_with_nothing_to_do_says_so(client, admin, make_organisation):
    make_organisation("Acme")
    response = client.post(
        "/admin/settings/organisations/import/apply",
        data={"csv_text": "name,plan\nAcme,\n"},
    )
    assert response.status_code == 400
    assert "Nothing to import" in page_text(response)


@pytest.mark.parametrize(
    ("csv_text", "problem"),
    [
        ("plan,mrr\nBusiness,10\n", "at least one called name or domain"),
        ("name,plan\n", "no rows"),
        ("", "Choose a CSV file, or paste its text below."),
    ],
)
def test_an_unreadable_import_is_refused_with_the_reason(client, admin, csv_text, problem):
    response = client.post("/admin/settings/organisations/import", data={"csv_text": csv_text})
    assert response.status_code == 400
    assert problem in page_text(response)


def test_import_reads_an_uploaded_spreadsheet_file(client, admin, make_organisation):
    make_organisation("Acme")
    body = "\ufeffName;ARR;Renewal\nAcme;48 000;2027-06-30\n".encode("utf-8")
    response = client.post(
        "/admin/settings/organisations/import",
        data={"csv_file": (io.BytesIO(body), "orgs.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert "yearly value: — → 48,000 a year" in page_text(response)


# --- The value behind each idea, and the score ---------------------------------------------


def priority_rows(client, query: str = "") -> dict[str, dict[str, str]]:
    """The priority view as its CSV gives it: title -> row."""
    body = client.get(f"/team/priority.csv{query}").text
    return {row["title"]: row for row in csv.DictReader(io.StringIO(body))}


def valued(make_organisation, name: str, annual: int, renewal: date | None = None):
    org = make_organisation(name)
    org.annual_value, org.value_basis, org.renewal_on = annual, "arr", renewal
    db.session.commit()
    return org


@pytest.fixture
def pm(client, make_user):
    user = make_user("product_manager", display_name="Pat Manager")
    sign_in_client(client, user)
    return user


def test_value_is_counted_once_per_organisation_and_renewal_is_the_soonest_ahead(
    client, pm, make_idea, make_user, make_organisation
):
    today = date.today()
    acme = valued(make_organisation, "Acme", 12_000, today + timedelta(days=90))
    globex = valued(make_organisation, "Globex", 24_000, today + timedelta(days=30))
    lapsed = valued(make_organisation, "Lapsed", 1_000, today - timedelta(days=1))
    shared = make_idea("Wanted by three companies")
    for org in (acme, acme, acme, globex, lapsed):
        votes.cast_vote(shared, make_user(organisation=org))
    single = make_idea("Wanted by one")
    votes.cast_vote(single, make_user(organisation=acme))
    db.session.commit()

    rows = priority_rows(client)
    assert rows["Wanted by three companies"]["yearly value"] == "37000"
    assert rows["Wanted by three companies"]["organisations"] == "3"
    assert rows["Wanted by three companies"]["votes"] == "6"  # the author's vote too
    # The soonest renewal still ahead: Lapsed's has passed.
    assert (
        rows["Wanted by three companies"]["next renewal"]
        == (today + timedelta(days=30)).isoformat()
    )
    assert rows["Wanted by one"]["yearly value"] == "12000"
    page = page_text(client.get("/team/priority"))
    assert "37,000" in page


def test_a_vote_the_team_added_for_an_organisation_counts_it_once(
    client, pm, make_idea, make_user, make_organisation
):
    """Heard in a meeting, no person named: the organisation is behind the idea, once."""
    initech = valued(make_organisation, "Initech", 30_000)
    idea = make_idea("Wanted in a meeting", author=make_user("product_manager"))
    on_behalf.add_vote_for_organisation(
        idea, initech, source="meeting", quote="", actor=pm, ip=None
    )
    db.session.commit()
    row = priority_rows(client)["Wanted in a meeting"]
    assert (row["votes"], row["organisations"], row["yearly value"]) == ("1", "1", "30000")

    votes.cast_vote(idea, make_user(organisation=initech))  # one of its people votes too
    db.session.commit()
    row = priority_rows(client)["Wanted in a meeting"]
    assert (row["votes"], row["organisations"], row["yearly value"]) == ("2", "1", "30000")


def test_team_and_suspended_votes_count_for_neither_score_nor_value(
    client, pm, make_idea, make_user, make_organisation
):
    acme = valued(make_organisation, "Acme", 50_000)
    idea = make_idea("Only customers count", author=make_user("product_manager"))
    for role in ("product_manager", "admin"):
        votes.cast_vote(idea, make_user(role, organisation=acme))
    quitter = make_user(organisation=acme)
    votes.cast_vote(idea, quitter)
    quitter.suspended_at = utcnow()
    db.session.commit()

    hidden = make_user(organisation=acme)
    votes.cast_vote(idea, hidden)
    db.session.scalar(select(Vote).where(Vote.user_id == hidden.id)).hidden_at = utcnow()
    db.session.commit()

    row = priority_rows(client)["Only customers count"]
    assert (row["votes"], row["organisations"], row["yearly value"]) == ("0", "0", "0")

    votes.cast_vote(idea, make_user(organisation=acme))
    db.session.commit()
    row = priority_rows(client)["Only customers count"]
    assert (row["votes"], row["organisations"], row["yearly value"]) == ("1", "1", "50000")


def test_the_priority_page_runs_the_same_queries_however_many_ideas_it_shows(
    client, pm, make_idea, make_user, make_organisation, count_queries
):
    acme = valued(make_organisation, "Acme", 10_000)

    def add_ideas(n: int) -> None:
        for i in range(n):
            idea = make_idea(f"Idea number {i} {n}")
            idea.owner = pm
            votes.cast_vote(idea, make_user(organisation=acme))
        db.session.commit()

    def queries() -> int:
        db.session.expire_all()
        with count_queries() as q:
            assert client.get("/team/priority").status_code == 200
        return q.count

    add_ideas(2)
    few = queries()
    add_ideas(8)
    assert queries() == few


def test_the_score_follows_the_teams_weights_and_the_page_shows_the_formula(
    client, pm, make_idea, make_user, make_organisation, make_category, stages
):
    acme = valued(make_organisation, "Acme", 40_000)
    reports = make_category("Reports")
    cheap = make_idea("Cheap and valuable", category=reports)
    votes.cast_vote(cheap, make_user(organisation=acme))
    cheap.impact, cheap.effort = 4, 1
    popular = make_idea("Popular", category=reports)
    for _ in range(5):
        votes.cast_vote(popular, make_user())
    # A closed idea in Reports left people short: 1 No, 1 Partly, 2 Yes -> unmet need 3.75.
    closed = make_idea("Old report", category=reports, stage="shipped")
    for answer in ("no", "partly", "yes", "yes"):
        db.session.add(OutcomeAnswer(idea_id=closed.id, user_id=make_user().id, answer=answer))
    db.session.commit()

    response = client.post(
        "/team/priority/formula",
        data={"votes": "1", "value": "0.5", "impact": "2", "effort": "1", "age": "0",
              "satisfaction": "2"},
    )  # fmt: skip
    assert response.status_code == 303
    rows = priority_rows(client)
    # cheap: 2 votes + 0.5 x 4 + 2 x 4 - 1 x 1 + 2 x 3.75 = 18.5
    assert rows["Cheap and valuable"]["score"] == "18.50"
    assert rows["Cheap and valuable"]["unmet need"] == "3.8"
    # popular: 6 votes + 0 + 2 x 3 - 1 x 3 (unjudged count as 3) + 2 x 3.75 = 16.5
    assert rows["Popular"]["score"] == "16.50"
    assert list(rows)[:2] == ["Cheap and valuable", "Popular"]
    assert (
        "score = 1 x votes + 0.5 x yearly value in 10,000s + 2 x impact - 1 x effort "
        "+ 2 x unmet need"
    ) in plain(client.get("/team/priority"))
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "priority.formula_changed")
    )
    assert plain_text(event.detail["old"]).startswith("score = 1 x votes + 1 x yearly value")
    assert "0.5 x yearly value" in plain_text(event.detail["new"])
    assert event.detail["changed"] == ["Customer value", "Effort", "Unmet need"]


@pytest.mark.parametrize(
    ("weights", "problem"),
    [
        ({"votes": "-1"}, "Give votes a weight from 0 to 100"),
        ({"value": "lots"}, "Give customer value a weight from 0 to 100"),
        ({"impact": "0.125"}, "Give impact a weight from 0 to 100"),
        ({"age": "1000"}, "Give age a weight from 0 to 100"),
    ],
)
def test_bad_weights_are_refused_and_kept(client, pm, weights, problem):
    data = {"votes": "1", "value": "1", "impact": "2", "effort": "2", "age": "0",
            "satisfaction": "1"} | weights  # fmt: skip
    response = client.post("/team/priority/formula", data=data)
    assert response.status_code == 400
    assert problem in page_text(response)
    (value,) = weights.values()
    assert f'value="{value}"' in response.text
    assert audit_actions() == []


def test_priority_can_be_ordered_by_value_or_renewal(
    client, pm, make_idea, make_user, make_organisation
):
    today = date.today()
    rich = valued(make_organisation, "Rich", 90_000, today + timedelta(days=300))
    soon = valued(make_organisation, "Soon", 1_000, today + timedelta(days=10))
    for title, org, extra in (
        ("Rich idea", rich, 0),
        ("Soon idea", soon, 0),
        ("Busy idea", None, 8),
    ):
        idea = make_idea(title)
        if org:
            votes.cast_vote(idea, make_user(organisation=org))
        for _ in range(extra):
            votes.cast_vote(idea, make_user())
    db.session.commit()
    assert list(priority_rows(client, "?sort=votes"))[:1] == ["Busy idea"]
    assert list(priority_rows(client, "?sort=value"))[:1] == ["Rich idea"]
    assert list(priority_rows(client, "?sort=renewal"))[:2] == ["Soon idea", "Rich idea"]
    assert client.get("/team/priority?sort=<script>").status_code == 200


# --- Impact and effort in place ------------------------------------------------------------


def test_estimates_from_a_row_without_javascript_return_to_the_same_filtered_page(
    client, pm, make_idea
):
    idea = make_idea("Export to Excel")
    response = client.post(
        f"/team/priority/ideas/{idea.id}/estimates",
        data={"impact": "5", "effort": "2", "back": "stage=new&sort=value&next=//evil.example"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/team/priority?stage=new&sort=value#idea-{idea.id}"
    assert (db.session.get(Idea, idea.id).impact, db.session.get(Idea, idea.id).effort) == (5, 2)
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "idea.estimates_changed")
    )
    assert event.detail == {"idea": "Export to Excel", "impact": {"old": None, "new": 5},
                            "effort": {"old": None, "new": 2}}  # fmt: skip
    page = page_text(client.get(response.headers["Location"]))
    assert "Estimates saved for Export to Excel." in page


def test_estimates_from_the_script_answer_with_the_new_score(client, pm, make_idea):
    idea = make_idea("Export to Excel")
    response = client.post(
        f"/team/priority/ideas/{idea.id}/estimates",
        data={"impact": "5", "effort": ""},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    # 1 vote + 2 x 5 - 2 x 3 (effort unjudged) = 5
    assert response.json == {
        "idea_id": idea.id, "impact": 5, "effort": None, "score": "5.0",
        "message": "Saved. Export to Excel now scores 5.0.",
    }  # fmt: skip

    response = client.post(
        f"/team/priority/ideas/{idea.id}/estimates",
        data={"impact": "9", "effort": "1"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert response.json == {"error": "Estimates go from 1 (low) to 5 (high)."}
    assert db.session.get(Idea, idea.id).effort is None


def test_customers_cannot_change_estimates_or_the_formula(client, make_user, make_idea):
    idea = make_idea("Export to Excel")
    sign_in_client(client, make_user("customer"))
    assert (
        client.post(f"/team/priority/ideas/{idea.id}/estimates", data={"impact": "5"}).status_code
        == 403
    )
    assert client.post("/team/priority/formula", data={"votes": "9"}).status_code == 403
    assert db.session.get(Idea, idea.id).impact is None
    assert audit_actions() == []
