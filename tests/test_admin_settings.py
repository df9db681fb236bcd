"""Admins run the site from one settings area: its name, guidelines, pre-moderation,
categories, and organisations with their email domains."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import event, func, select

from portal.extensions import db
from portal.models import AuditEvent, Category, Idea, Organisation, OrganisationDomain, User
from portal.services import accounts
from portal.services.settings import get_setting, site_name

from .conftest import sign_in_client
from .helpers import XSS, assert_inert, database_snapshot, page_text

PRE_MODERATION_SENTENCE = (
    "ideas by people who have no approved idea yet wait in the moderation queue, "
    "visible only to their author and the team, until approved"
)


@pytest.fixture
def admin(client, make_user):
    user = make_user("admin", display_name="Site Admin")
    sign_in_client(client, user)
    return user


def audit_rows(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def title_of(response) -> str:
    text = response.get_data(as_text=True)
    return html.unescape(text.split("<title>", 1)[1].split("</title>", 1)[0])


def pre_moderation_ticked(response) -> bool:
    box = re.search(r'<input[^>]*name="pre_moderation"[^>]*>', response.get_data(as_text=True))
    return " checked" in box.group(0)


def categories_offered(client) -> list[str]:
    """The category names the submit form offers."""
    body = client.get("/ideas/new").get_data(as_text=True)
    select_html = body.split('name="category_id"', 1)[1].split("</select>", 1)[0]
    return [
        name
        for value, name in re.findall(
            r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', select_html
        )
        if value
    ]


# --- The settings page ------------------------------------------------------------------------


def test_settings_page_shows_every_section_with_current_values(client, admin):
    response = client.get("/admin/settings")
    assert response.status_code == 200
    text = page_text(response)
    assert 'value="Idea Portal"' in text  # the configured name until an admin sets one
    assert PRE_MODERATION_SENTENCE in text
    assert "Describe the problem, not just the solution." in text  # the current guidelines
    body = response.get_data(as_text=True)
    for path in (
        "/guidelines",
        "/admin/settings/categories",
        "/admin/settings/organisations",
        "/admin/stages",
    ):
        assert f'href="{path}"' in body, path


def test_admin_renames_the_site_and_every_page_and_email_uses_the_name(
    client, admin, make_user, outbox
):
    reader = make_user(email="reader@example.com")
    response = client.post("/admin/settings", data={"site_name": "  Acme   Ideas  "})
    assert response.status_code == 303
    assert get_setting("site_name") == "Acme Ideas"

    assert title_of(client.get("/guidelines")) == "Community guidelines · Acme Ideas"
    assert "Acme Ideas" in page_text(client.get("/"))
    assert "Idea Portal" not in page_text(client.get("/guidelines"))

    client.post("/sign-out")
    client.post("/password/forgot", data={"email": reader.email})
    (message,) = outbox.to(reader.email)
    assert message["Subject"].endswith(" · Acme Ideas")
    assert "Acme Ideas" in message.get_body(preferencelist=("plain",)).get_content()
    assert "Acme Ideas" in message.get_body(preferencelist=("html",)).get_content()
    assert "Idea Portal" not in message.get_body(preferencelist=("plain",)).get_content()


def test_site_name_falls_back_to_the_configuration(app, client):
    # The sign-in page, which the cache never keeps: configuration changes with a restart.
    assert title_of(client.get("/sign-in")) == "Sign in · Idea Portal"
    app.config["SITE_NAME"] = "Configured Name"
    assert title_of(client.get("/sign-in")) == "Sign in · Configured Name"


def test_pages_still_render_when_the_site_name_cannot_be_read(client, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from portal.services import settings

    def broken(key):
        raise OperationalError("SELECT", {}, Exception("connection lost"))

    monkeypatch.setattr(settings, "get_setting", broken)
    assert title_of(client.get("/roadmap")) == "Roadmap · Idea Portal"


def test_site_name_is_read_once_per_request(app, client, admin, make_idea):
    make_idea("Export reports to Excel")
    reads = []

    def before(_conn, _cursor, statement, parameters, *_args):
        if "site_settings" in statement and "site_name" in repr(parameters):
            reads.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        # The settings page needs it twice (the title and the form), the home page once.
        for path in ("/admin/settings", "/"):
            reads.clear()
            assert client.get(path).status_code == 200
            assert len(reads) == 1, path
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def test_site_name_change_is_audited_with_old_and_new(client, admin):
    client.post("/admin/settings", data={"site_name": "Acme Ideas"})
    (row,) = audit_rows("settings.changed")
    assert row.actor_id == admin.id
    assert row.ip == "127.0.0.1"
    assert row.detail == {
        "changed": ["site_name"],
        "site_name": {"old": "Idea Portal", "new": "Acme Ideas"},
    }


def test_saving_unchanged_settings_records_nothing(client, admin):
    before = audit_count()
    assert client.post("/admin/settings", data={"site_name": "Idea Portal"}).status_code == 303
    assert audit_count() == before
    assert get_setting("site_name") == ""


def test_pre_moderation_is_turned_on_and_off(client, admin):
    client.post("/admin/settings", data={"site_name": "Idea Portal", "pre_moderation": "y"})
    assert get_setting("pre_moderation") == "on"
    assert pre_moderation_ticked(client.get("/admin/settings"))
    row = audit_rows("settings.changed")[-1]
    assert row.detail == {"changed": ["pre_moderation"], "pre_moderation": {"old": "", "new": "on"}}

    client.post("/admin/settings", data={"site_name": "Idea Portal"})  # box unticked
    assert get_setting("pre_moderation") == ""
    assert not pre_moderation_ticked(client.get("/admin/settings"))
    assert audit_rows("settings.changed")[-1].detail["pre_moderation"] == {"old": "on", "new": ""}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Give the site a name."),
        ("   ", "Give the site a name of 1 to 60 characters."),
        ("N" * 61, "Use at most 60 characters."),
    ],
)
def test_bad_site_name_is_explained_and_kept(client, admin, name, message):
    before = database_snapshot()
    response = client.post("/admin/settings", data={"site_name": name, "pre_moderation": "y"})
    assert response.status_code == 400
    text = page_text(response)
    assert message in text
    assert f'value="{name}"' in text
    assert pre_moderation_ticked(response)  # the box stays ticked
    assert database_snapshot() == before


def test_one_character_and_sixty_character_site_names_are_accepted(client, admin):
    assert client.post("/admin/settings", data={"site_name": "X"}).status_code == 303
    assert site_name() == "X"
    assert client.post("/admin/settings", data={"site_name": "N" * 60}).status_code == 303
    assert get_setting("site_name") == "N" * 60


# --- Community guidelines ---------------------------------------------------------------------


def test_admin_rewrites_the_guidelines_and_the_public_page_shows_them(client, admin):
    text = "## Be kind\n\n- **No** spam, ever.\n"
    response = client.post("/admin/settings/guidelines", data={"guidelines": text})
    assert response.status_code == 303
    assert get_setting("guidelines") == text.strip()
    body = client.get("/guidelines").get_data(as_text=True)
    assert "<h2>Be kind</h2>" in body
    assert "<strong>No</strong> spam, ever." in body
    assert "Describe the problem" not in body

    (row,) = audit_rows("settings.changed")
    assert row.detail["changed"] == ["guidelines"]
    assert row.detail["guidelines"]["new_length"] == len(text.strip())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Write the community guidelines; they cannot be empty."),
        ("  \n  ", "Write the community guidelines; they cannot be empty."),
        ("word " * 4001, "Keep the guidelines under 20,000 characters."),
    ],
)
def test_bad_guidelines_are_explained_and_kept(client, admin, text, message):
    before = database_snapshot()
    response = client.post(
        "/admin/settings/guidelines", data={"guidelines": text, "site_name": "Ignored"}
    )
    assert response.status_code == 400
    page = page_text(response)
    assert message in page
    if text.strip():
        assert text.strip() in page
    assert 'value="Idea Portal"' in page  # the other form shows what is saved
    assert database_snapshot() == before


def test_guidelines_render_inert(client, admin):
    client.post("/admin/settings/guidelines", data={"guidelines": "\n\n".join(XSS)})
    assert_inert(client.get("/guidelines").get_data(as_text=True))
    assert_inert(client.get("/admin/settings").get_data(as_text=True))


# --- Categories -------------------------------------------------------------------------------


def test_admin_adds_a_category_that_the_submit_form_offers(client, admin):
    assert client.get("/admin/settings/categories/new").status_code == 200
    response = client.post(
        "/admin/settings/categories/new",
        data={"name": " Reporting ", "description": "Reports and exports.", "position": "2"},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/settings/categories")
    category = db.session.scalar(select(Category))
    assert (category.name, category.description, category.position, category.retired) == (
        "Reporting",
        "Reports and exports.",
        2,
        False,
    )
    (row,) = audit_rows("category.created")
    assert (row.target_type, row.target_id, row.actor_id) == ("categories", category.id, admin.id)
    assert "Reporting" in page_text(client.get("/admin/settings/categories"))
    assert categories_offered(client) == ["Reporting"]


def test_categories_are_listed_in_order_with_how_many_ideas_each_holds(
    client, admin, make_category, make_idea
):
    billing = make_category("Billing", position=2)
    make_category("Reporting", position=1)
    make_idea("Split invoices by team", category=billing)
    make_idea("Pay by bank transfer", category=billing)
    body = client.get("/admin/settings/categories").get_data(as_text=True)
    rows = body.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr>")[1:]
    assert "Reporting" in rows[0] and "<td>0</td>" in rows[0]
    assert "Billing" in rows[1] and "<td>2</td>" in rows[1]


@pytest.mark.parametrize("name", ["Reporting", "REPORTING", " reporting "])
def test_category_names_are_unique_whatever_their_case(client, admin, make_category, name):
    make_category("Reporting")
    response = client.post(
        "/admin/settings/categories/new",
        data={"name": name, "description": "Kept description", "position": "7"},
    )
    assert response.status_code == 400
    text = page_text(response)
    assert "There is already a category called Reporting." in text
    assert f'value="{name}"' in text
    assert "Kept description" in text
    assert db.session.scalar(select(func.count()).select_from(Category)) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "position": "1"}, "Give the category a name."),
        ({"name": "X", "position": "1"}, "Give the category a name of 2 to 60 characters."),
        ({"name": "Valid name", "position": "abc"}, "Write the position as a whole number."),
        ({"name": "Valid name", "position": ""}, "Give a position."),
        (
            {"name": "Valid name", "position": "1", "description": "d" * 501},
            "Field cannot be longer than 500 characters.",
        ),
    ],
)
def test_bad_category_input_is_explained_and_kept(client, admin, data, message):
    before = database_snapshot()
    response = client.post("/admin/settings/categories/new", data=data)
    assert response.status_code == 400
    text = page_text(response)
    assert message in text
    if data["name"]:
        assert f'value="{data["name"]}"' in text
    assert database_snapshot() == before


def test_admin_edits_a_category(client, admin, make_category):
    category = make_category("Reporting")
    page = client.get(f"/admin/settings/categories/{category.id}")
    assert 'value="Reporting"' in page.get_data(as_text=True)
    response = client.post(
        f"/admin/settings/categories/{category.id}",
        data={"name": "reporting", "description": "Reports, exports, dashboards.", "position": "3"},
    )
    assert response.status_code == 303  # its own name, in another case, is no clash
    category = db.session.get(Category, category.id)
    assert (category.name, category.description, category.position) == (
        "reporting",
        "Reports, exports, dashboards.",
        3,
    )
    (row,) = audit_rows("category.changed")
    assert row.detail == {"old": "Reporting", "name": "reporting"}


def test_retired_category_leaves_the_submit_form_but_ideas_keep_it(
    client, admin, make_category, make_idea
):
    reporting = make_category("Reporting")
    make_category("Billing")
    idea = make_idea("Export reports to Excel", category=reporting)

    response = client.post(f"/admin/settings/categories/{reporting.id}/retire")
    assert response.status_code == 303
    assert db.session.get(Category, reporting.id).retired is True
    assert categories_offered(client) == ["Billing"]
    assert db.session.get(Idea, idea.id).category_id == reporting.id
    assert "Reporting" in page_text(client.get(f"/ideas/{idea.id}"))
    assert "Retired" in page_text(client.get("/admin/settings/categories"))
    assert len(audit_rows("category.retired")) == 1

    response = client.post(f"/admin/settings/categories/{reporting.id}/reinstate")
    assert response.status_code == 303
    assert db.session.get(Category, reporting.id).retired is False
    assert sorted(categories_offered(client)) == ["Billing", "Reporting"]
    assert len(audit_rows("category.reinstated")) == 1


def test_retiring_twice_records_once(client, admin, make_category):
    category = make_category("Reporting")
    client.post(f"/admin/settings/categories/{category.id}/retire")
    client.post(f"/admin/settings/categories/{category.id}/retire")
    client.post(f"/admin/settings/categories/{category.id}/reinstate")
    client.post(f"/admin/settings/categories/{category.id}/reinstate")
    assert len(audit_rows("category.retired")) == 1
    assert len(audit_rows("category.reinstated")) == 1


def test_a_retired_name_cannot_be_reused_and_the_message_says_reinstate(
    client, admin, make_category
):
    category = make_category("Reporting")
    client.post(f"/admin/settings/categories/{category.id}/retire")
    response = client.post(
        "/admin/settings/categories/new", data={"name": "reporting", "position": "1"}
    )
    assert response.status_code == 400
    assert "reinstate it instead" in page_text(response)


def test_unknown_category_is_404(client, admin):
    assert client.get("/admin/settings/categories/999999").status_code == 404
    assert client.post("/admin/settings/categories/999999/retire").status_code == 404


# --- Organisations and their email domains ----------------------------------------------------


def test_admin_adds_an_organisation_with_domains_and_sign_up_joins_it(client, admin):
    assert client.get("/admin/settings/organisations/new").status_code == 200
    response = client.post(
        "/admin/settings/organisations/new",
        data={
            "name": "Acme Corporation",
            "domains": "@Acme.EXAMPLE, acme-eu.example\nacme.example",
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/settings/organisations")
    acme = db.session.scalar(select(Organisation))
    assert acme.name == "Acme Corporation"
    assert sorted(d.domain for d in acme.domains) == ["acme-eu.example", "acme.example"]

    assert [r.detail for r in audit_rows("organisation.created")] == [{"name": "Acme Corporation"}]
    added = audit_rows("organisation.domain_added")
    assert sorted(r.detail["domain"] for r in added) == ["acme-eu.example", "acme.example"]
    assert {(r.target_type, r.target_id) for r in added} == {("organisations", acme.id)}

    listing = page_text(client.get("/admin/settings/organisations"))
    assert "Acme Corporation" in listing and "acme-eu.example, acme.example" in listing

    person = accounts.create_user(
        email="Jo.Smith@ACME.example", display_name="Jo Smith", password="a long passphrase"
    )
    db.session.commit()
    assert person.organisation_id == acme.id


def test_an_international_domain_matches_addresses_written_either_way(client, admin):
    client.post(
        "/admin/settings/organisations/new", data={"name": "Bücher", "domains": "BÜCHER.example"}
    )
    org = db.session.scalar(select(Organisation))
    assert [d.domain for d in org.domains] == ["bücher.example"]
    for email in ("jo@bücher.example", "ann@xn--bcher-kva.example"):
        assert accounts.organisation_for_email(accounts.normalise_email(email)) == org


@pytest.mark.parametrize("name", ["Acme", "ACME", " acme "])
def test_organisation_names_are_unique_whatever_their_case(client, admin, make_organisation, name):
    make_organisation("Acme")
    response = client.post(
        "/admin/settings/organisations/new", data={"name": name, "domains": "kept.example"}
    )
    assert response.status_code == 400
    text = page_text(response)
    assert "There is already an organisation called Acme." in text
    assert "kept.example" in text
    assert db.session.scalar(select(func.count()).select_from(Organisation)) == 1


def test_one_bad_domain_saves_nothing_of_the_new_organisation(client, admin, make_organisation):
    make_organisation("Globex", domains=("globex.example",))
    before = database_snapshot()
    for domains, message in [
        ("good.example not-a-domain", "Enter a domain name such as example.com"),
        ("good.example GLOBEX.example", "globex.example already belongs to Globex."),
    ]:
        response = client.post(
            "/admin/settings/organisations/new", data={"name": "Initech", "domains": domains}
        )
        assert response.status_code == 400
        assert message in page_text(response)
        assert 'value="Initech"' in page_text(response)
        assert database_snapshot() == before


def test_admin_renames_an_organisation(client, admin, make_organisation):
    acme = make_organisation("Acme")
    make_organisation("Globex")
    page = client.get(f"/admin/settings/organisations/{acme.id}")
    assert 'value="Acme"' in page.get_data(as_text=True)

    response = client.post(f"/admin/settings/organisations/{acme.id}", data={"name": "globex"})
    assert response.status_code == 400
    assert "There is already an organisation called Globex." in page_text(response)
    assert 'value="globex"' in page_text(response)

    response = client.post(
        f"/admin/settings/organisations/{acme.id}", data={"name": "Acme Corporation"}
    )
    assert response.status_code == 303
    assert db.session.get(Organisation, acme.id).name == "Acme Corporation"
    (row,) = audit_rows("organisation.renamed")
    assert row.detail == {"old": "Acme", "new": "Acme Corporation"}


def test_admin_adds_and_removes_a_domain(client, admin, make_organisation):
    acme = make_organisation("Acme", domains=("acme.example",))
    response = client.post(
        f"/admin/settings/organisations/{acme.id}/domains", data={"domain": " ACME.co.example "}
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/admin/settings/organisations/{acme.id}")
    assert accounts.organisation_for_email("jo@acme.co.example").id == acme.id
    assert [r.detail for r in audit_rows("organisation.domain_added")] == [
        {"domain": "acme.co.example"}
    ]
    assert "acme.co.example" in page_text(client.get(f"/admin/settings/organisations/{acme.id}"))

    response = client.post(
        f"/admin/settings/organisations/{acme.id}/domains/remove", data={"domain": "acme.example"}
    )
    assert response.status_code == 303
    domains = db.session.scalars(select(OrganisationDomain.domain)).all()
    assert domains == ["acme.co.example"]
    assert accounts.organisation_for_email("jo@acme.example") is None
    assert [r.detail for r in audit_rows("organisation.domain_removed")] == [
        {"domain": "acme.example"}
    ]


def test_removing_a_domain_keeps_the_people_already_in_the_organisation(
    client, admin, make_organisation, make_user
):
    acme = make_organisation("Acme", domains=("acme.example",))
    member = make_user(email="jo@acme.example", organisation=acme)
    client.post(
        f"/admin/settings/organisations/{acme.id}/domains/remove", data={"domain": "acme.example"}
    )
    assert db.session.get(User, member.id).organisation_id == acme.id


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("", "Enter a domain name."),
        ("acme", "Enter a domain name such as example.com"),
        ("jo@acme.example", "Enter a domain name such as example.com"),
        ("acme..example", "Enter a domain name such as example.com"),
        ("exa mple.com", "Enter a domain name such as example.com"),
        ("localhost", "Enter a domain name such as example.com"),
        ("[10.0.0.1]", "Enter a domain name such as example.com"),
        ("globex.example", "globex.example already belongs to Globex."),
        ("ACME.example", "acme.example already belongs to this organisation."),
    ],
)
def test_bad_domain_is_explained_and_kept(client, admin, make_organisation, domain, message):
    acme = make_organisation("Acme", domains=("acme.example",))
    make_organisation("Globex", domains=("globex.example",))
    before = database_snapshot()
    response = client.post(
        f"/admin/settings/organisations/{acme.id}/domains", data={"domain": domain}
    )
    assert response.status_code == 400
    text = page_text(response)
    assert message in text
    if domain:
        assert f'value="{domain}"' in text
    assert database_snapshot() == before


def test_removing_a_domain_the_organisation_does_not_have_changes_nothing(
    client, admin, make_organisation
):
    acme = make_organisation("Acme", domains=("acme.example",))
    make_organisation("Globex", domains=("globex.example",))
    before = database_snapshot()
    response = client.post(
        f"/admin/settings/organisations/{acme.id}/domains/remove",
        data={"domain": "globex.example"},
    )
    assert response.status_code == 303
    assert database_snapshot() == before
    assert "Acme has no domain globex.example." in page_text(
        client.get(f"/admin/settings/organisations/{acme.id}")
    )


def test_unknown_organisation_is_404(client, admin):
    assert client.get("/admin/settings/organisations/999999").status_code == 404
    response = client.post(
        "/admin/settings/organisations/999999/domains", data={"domain": "a.example"}
    )
    assert response.status_code == 404


# --- Who may ------------------------------------------------------------------------------------


def _every_settings_request(category_id: int, organisation_id: int) -> list[tuple[str, str, dict]]:
    org = f"/admin/settings/organisations/{organisation_id}"
    cat = f"/admin/settings/categories/{category_id}"
    return [
        ("GET", "/admin/settings", {}),
        ("POST", "/admin/settings", {"site_name": "Taken Over", "pre_moderation": "y"}),
        ("POST", "/admin/settings/guidelines", {"guidelines": "Anything goes."}),
        ("GET", "/admin/settings/categories", {}),
        ("GET", "/admin/settings/categories/new", {}),
        ("POST", "/admin/settings/categories/new", {"name": "Sneaky", "position": "1"}),
        ("GET", cat, {}),
        ("POST", cat, {"name": "Renamed", "position": "1"}),
        ("POST", f"{cat}/retire", {}),
        ("POST", f"{cat}/reinstate", {}),
        ("GET", "/admin/settings/organisations", {}),
        ("GET", "/admin/settings/organisations/new", {}),
        ("POST", "/admin/settings/organisations/new", {"name": "Sneaky", "domains": "x.example"}),
        ("GET", org, {}),
        ("POST", org, {"name": "Renamed"}),
        ("POST", f"{org}/domains", {"domain": "sneaky.example"}),
        ("POST", f"{org}/domains/remove", {"domain": "acme.example"}),
    ]


@pytest.mark.parametrize("role", ["customer", "product_manager", "anonymous"])
def test_only_admins_reach_the_settings(client, make_user, make_category, make_organisation, role):
    category = make_category("Reporting")
    acme = make_organisation("Acme", domains=("acme.example",))
    if role != "anonymous":
        sign_in_client(client, make_user(role))
    before = database_snapshot()
    for method, path, data in _every_settings_request(category.id, acme.id):
        response = client.open(path, method=method, data=data or None)
        where = f"{method} {path} as {role}"
        if role == "anonymous":
            assert response.status_code == 302, where
            assert "/sign-in" in response.headers["Location"], where
        else:
            assert response.status_code == 403, where
            assert "You can't do that here" in page_text(response), where
    assert database_snapshot() == before


def test_changing_settings_by_get_is_impossible(client, admin, make_category, make_organisation):
    category = make_category("Reporting")
    acme = make_organisation("Acme", domains=("acme.example",))
    before = database_snapshot()
    for path in (
        "/admin/settings/guidelines",
        f"/admin/settings/categories/{category.id}/retire",
        f"/admin/settings/organisations/{acme.id}/domains",
        f"/admin/settings/organisations/{acme.id}/domains/remove?domain=acme.example",
    ):
        assert client.get(path).status_code == 405, path
    assert database_snapshot() == before


# --- Names from admins are text, never markup ---------------------------------------------------


def test_names_render_inert_in_pages_and_emails(client, admin, make_user, outbox):
    reader = make_user(email="reader@example.com")
    short = [x for x in XSS if len(x) <= 60]
    assert len(short) >= 6
    for n, payload in enumerate(short):
        client.post(
            "/admin/settings/categories/new", data={"name": f"{payload} {n}", "position": "1"}
        )
        client.post(
            "/admin/settings/organisations/new",
            data={"name": f"{payload} {n}", "domains": f"org{n}.example"},
        )
    assert db.session.scalar(select(func.count()).select_from(Category)) == len(short)
    assert db.session.scalar(select(func.count()).select_from(Organisation)) == len(short)
    client.post("/admin/settings", data={"site_name": "<script>alert(1)</script>"})
    assert site_name() == "<script>alert(1)</script>"

    org_id = db.session.scalar(select(Organisation.id).limit(1))
    for path in (
        "/",
        "/admin/settings",
        "/admin/settings/categories",
        "/admin/settings/organisations",
        f"/admin/settings/organisations/{org_id}",
        "/ideas/new",
        "/organisations",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_inert(response.get_data(as_text=True))
    assert "<script>alert(1)</script>" in title_of(client.get("/"))

    client.post("/sign-out")
    client.post("/password/forgot", data={"email": reader.email})
    (message,) = outbox.to(reader.email)
    assert_inert(message.get_body(preferencelist=("html",)).get_content())
    assert message["Subject"].endswith("· <script>alert(1)</script>")


def test_settings_queries_do_not_grow_with_the_number_of_categories(
    client, admin, make_category, make_organisation, count_queries
):
    make_category("Reporting")
    make_organisation("Acme", domains=("acme.example",))
    with count_queries() as few:
        client.get("/admin/settings/categories")
        client.get("/admin/settings/organisations")
    for n in range(8):
        make_category(f"Category {n}")
        make_organisation(f"Organisation {n}", domains=(f"o{n}.example", f"p{n}.example"))
    with count_queries() as many:
        client.get("/admin/settings/categories")
        client.get("/admin/settings/organisations")
    assert many.count == few.count, many.statements


def test_the_sign_up_page_sums_up_the_guidelines_admins_wrote(client, admin):
    text = "## Our rules\n\n- **Stay on the product.** Nothing else.\n- Be *nice* to people.\n"
    client.post("/admin/settings/guidelines", data={"guidelines": text})
    client.post("/sign-out")
    page = page_text(client.get("/sign-up"))
    assert "Stay on the product." in page
    assert "Be nice to people." in page
    assert "search before posting" not in page  # the summary of the default guidelines


def test_guidelines_without_a_list_are_summed_up_by_their_first_paragraph(client, admin):
    text = "Respect each other and the product team.\n\nMore rules later."
    client.post("/admin/settings/guidelines", data={"guidelines": text})
    client.post("/sign-out")
    page = page_text(client.get("/sign-up"))
    assert "Respect each other and the product team." in page
    assert "More rules later." not in page
