"""Priorities weighted by customer value: organisations' plan, value and renewal (set on their
page or imported by CSV), the value behind each idea counted once per organisation, and the
scoring formula the team configures."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Organisation, OrganisationDomain

from .conftest import sign_in_client
from .helpers import page_text


@pytest.fixture
def admin(client, make_user):
    user = make_user("admin", display_name="Ada Admin")
    sign_in_client(client, user)
    return user


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
    import io

    make_organisation("Acme")
    body = "\ufeffName;ARR;Renewal\nAcme;48 000;2027-06-30\n".encode("utf-8")
    response = client.post(
        "/admin/settings/organisations/import",
        data={"csv_file": (io.BytesIO(body), "orgs.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert "yearly value: — → 48,000 a year" in page_text(response)
