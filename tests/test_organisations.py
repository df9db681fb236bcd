"""Organisations: the team's overview and detail pages, admins placing people, sign-up matching."""

from __future__ import annotations

import html
import re

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, User
from portal.models.types import utcnow
from portal.services import votes

from .conftest import DEFAULT_PASSWORD
from .helpers import page_text


def overview_rows(response) -> dict[str, tuple[int, int, int]]:
    """Organisation name -> (people, ideas, votes), read from the overview table."""
    body = response.get_data(as_text=True)
    rows = {}
    for row in re.findall(r"<tr>\s*(<td>.*?)</tr>", body, flags=re.S):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td>(.*?)</td>", row, flags=re.S)
        ]
        rows[cells[0]] = tuple(int(c) for c in cells[2:5])
    return rows


def section(response, title_id: str) -> str:
    """The text of one card on the detail page, by the id of its heading."""
    body = response.get_data(as_text=True)
    match = re.search(rf'<section[^>]*aria-labelledby="{title_id}".*?</section>', body, re.S)
    assert match, title_id
    return html.unescape(match.group(0))


def audit_rows(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


@pytest.fixture
def acme(make_user, make_organisation, make_idea):
    """Acme: two people, one idea of theirs (plus a hidden one), votes on ideas of others."""
    org = make_organisation("Acme", domains=("acme.example",))
    other = make_organisation("Globex", domains=("globex.example",))
    alice = make_user(display_name="Alice Acme", organisation=org)
    bob = make_user(display_name="Bob Acme", organisation=org)
    gina = make_user(display_name="Gina Globex", organisation=other)
    loner = make_user(display_name="Lonely Nobody")

    own = make_idea("Acme wants dark mode", author=alice)  # Alice's own vote: 1
    hidden = make_idea("Acme hidden rant", author=bob)  # Bob's own vote: 1
    hidden.hidden_at = utcnow()
    popular = make_idea("Globex export idea", author=gina)
    votes.cast_vote(popular, alice)
    votes.cast_vote(popular, bob)
    votes.cast_vote(popular, loner)
    votes.cast_vote(own, gina)
    db.session.commit()
    return {
        "org": org,
        "other": other,
        "alice": alice,
        "bob": bob,
        "gina": gina,
        "loner": loner,
        "own": own,
        "hidden": hidden,
        "popular": popular,
    }


# ---------------------------------------------------------------------------------------------
# Who may see the pages


def test_anonymous_visitor_is_sent_to_sign_in(client, acme):
    for url in ("/organisations", f"/organisations/{acme['org'].id}"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/sign-in" in response.headers["Location"]


def test_customer_cannot_see_organisations(client, login_as, acme):
    login_as("customer", organisation=acme["org"])
    for url in ("/organisations", f"/organisations/{acme['org'].id}"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Alice Acme" not in page_text(response)
    assert 'href="/organisations"' not in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("role", ["product_manager", "admin"])
def test_team_sees_organisations_in_the_menu_and_pages(client, login_as, acme, role):
    login_as(role)
    assert 'href="/organisations"' in client.get("/").get_data(as_text=True)
    assert client.get("/organisations").status_code == 200
    assert client.get(f"/organisations/{acme['org'].id}").status_code == 200


@pytest.mark.parametrize("role", ["product_manager", "admin"])
def test_unknown_organisation_is_404(client, login_as, stages, role):
    login_as(role)
    assert client.get("/organisations/999999").status_code == 404
    assert client.get("/organisations/0").status_code == 404


# ---------------------------------------------------------------------------------------------
# The overview


def test_overview_counts_people_ideas_and_votes(client, login_as, acme):
    login_as("product_manager")
    response = client.get("/organisations")

    rows = overview_rows(response)
    # Acme: Alice and Bob; their two ideas (one hidden); Alice's and Bob's own votes, and both
    # for Globex's idea. Globex: Gina; her idea; her own vote and hers for Acme's idea.
    assert rows == {"Acme": (2, 2, 4), "Globex": (1, 1, 2)}
    assert "acme.example" in page_text(response)


def test_overview_lists_organisations_by_name(client, login_as, make_organisation):
    for name in ("Zeta", "Alpha", "Midway"):
        make_organisation(name)
    login_as("admin")
    assert list(overview_rows(client.get("/organisations"))) == ["Alpha", "Midway", "Zeta"]


def test_overview_without_organisations_explains_how_to_add_them(client, login_as):
    login_as("admin")
    assert "No organisations yet." in page_text(client.get("/organisations"))


def test_overview_costs_the_same_queries_whatever_the_number_of_organisations(
    client, login_as, make_user, make_organisation, make_idea, count_queries
):
    login_as("product_manager")

    def add_organisations(start: int, n: int) -> None:
        for i in range(start, start + n):
            org = make_organisation(f"Org {i:02d}", domains=(f"org{i}.example", f"org{i}.test"))
            person = make_user(organisation=org)
            make_idea(f"Idea from org {i:02d}", author=person)

    add_organisations(0, 1)
    client.get("/organisations")  # anything done once per session is done now
    with count_queries() as few:
        response = client.get("/organisations")
    assert len(overview_rows(response)) == 1

    add_organisations(1, 6)
    with count_queries() as many:
        response = client.get("/organisations")
    assert len(overview_rows(response)) == 7
    assert "org6.test" in response.get_data(as_text=True)

    assert many.count == few.count, many.statements


# ---------------------------------------------------------------------------------------------
# One organisation


def test_detail_lists_its_people_only(client, login_as, acme):
    login_as("product_manager")
    people = section(client.get(f"/organisations/{acme['org'].id}"), "people-title")
    assert "People (2)" in people
    assert "Alice Acme" in people and "Bob Acme" in people
    assert "Gina Globex" not in people and "Lonely Nobody" not in people


def test_detail_lists_ideas_its_people_submitted_and_marks_hidden_ones(client, login_as, acme):
    login_as("product_manager")
    submitted = section(client.get(f"/organisations/{acme['org'].id}"), "submitted-title")
    assert "Ideas they submitted (2)" in submitted
    assert "Acme wants dark mode" in submitted
    assert "Globex export idea" not in submitted
    items = re.findall(r"<li>.*?</li>", submitted, flags=re.S)
    hidden_item = next(i for i in items if "Acme hidden rant" in i)
    visible_item = next(i for i in items if "Acme wants dark mode" in i)
    assert "Hidden" in hidden_item
    assert "Hidden" not in visible_item


def test_detail_lists_ideas_its_people_vote_for_with_how_many_of_them(client, login_as, acme):
    login_as("admin")
    backed = section(client.get(f"/organisations/{acme['org'].id}"), "backed-title")
    items = re.findall(r"<li>.*?</li>", backed, flags=re.S)
    texts = [re.sub(r"<[^>]+>", "", i) for i in items]
    # Most-backed first: both Acme people back Globex's idea (4 votes in all).
    assert "Globex export idea" in texts[0]
    assert "2 votes from them · 4 votes in all" in texts[0]
    assert any("Acme wants dark mode" in t and "1 vote from them ·" in t for t in texts)
    assert len(items) == 3  # Globex's idea, and each Acme person's own idea


def test_hidden_ideas_they_vote_for_are_marked_hidden_too(client, login_as, acme):
    login_as("product_manager")
    backed = section(client.get(f"/organisations/{acme['org'].id}"), "backed-title")
    items = re.findall(r"<li>.*?</li>", backed, flags=re.S)
    hidden_item = next(i for i in items if "Acme hidden rant" in i)
    assert "Hidden" in hidden_item


def test_organisation_without_people_shows_empty_lists(client, login_as, make_organisation):
    org = make_organisation("Empty Co")
    login_as("admin")
    page = page_text(client.get(f"/organisations/{org.id}"))
    assert "Nobody yet." in page
    assert "None yet." in page
    assert "No votes yet." in page


XSS_NAME = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def test_organisation_and_people_names_render_inert(client, login_as, make_organisation, make_user):
    org = make_organisation(XSS_NAME)
    person = make_user(display_name="Evil <svg onload=alert(3)>", organisation=org)
    login_as("admin")
    for url in ("/organisations", f"/organisations/{org.id}", f"/admin/users/{person.id}"):
        body = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in body, url
        assert "<img src=x" not in body, url
        assert "<svg onload" not in body, url
    assert str(escape(XSS_NAME)) in client.get("/organisations").get_data(as_text=True)


# ---------------------------------------------------------------------------------------------
# Admins place people in organisations


def set_organisation(client, user_id: int, value: str):
    return client.post(f"/admin/users/{user_id}/organisation", data={"organisation_id": value})


def organisation_id_of(user_id: int) -> int | None:
    db.session.expire_all()
    return db.session.get(User, user_id).organisation_id


def test_admin_sets_and_clears_a_persons_organisation_with_audit_rows(
    client, login_as, make_user, make_organisation
):
    acme = make_organisation("Acme")
    globex = make_organisation("Globex")
    person = make_user(display_name="Pat Person")
    admin = login_as("admin")

    response = set_organisation(client, person.id, str(acme.id))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/users/{person.id}"
    assert organisation_id_of(person.id) == acme.id
    assert "Pat Person's organisation is saved." in page_text(
        client.get(f"/admin/users/{person.id}")
    )

    assert set_organisation(client, person.id, str(globex.id)).status_code == 303
    assert organisation_id_of(person.id) == globex.id

    assert set_organisation(client, person.id, "").status_code == 303
    assert organisation_id_of(person.id) is None

    rows = audit_rows("user.organisation_changed")
    assert [(r.detail["old"], r.detail["new"]) for r in rows] == [
        (None, "Acme"),
        ("Acme", "Globex"),
        ("Globex", None),
    ]
    for row in rows:
        assert (row.actor_id, row.target_type, row.target_id) == (admin.id, "users", person.id)
        assert row.ip == "127.0.0.1"
    history = page_text(client.get(f"/admin/users/{person.id}"))
    assert f"took {person.display_name} out of Globex." in history
    assert f"moved {person.display_name} from Acme to Globex." in history


def test_saving_the_same_organisation_again_records_nothing(
    client, login_as, make_user, make_organisation
):
    acme = make_organisation("Acme")
    person = make_user(organisation=acme)
    login_as("admin")
    assert set_organisation(client, person.id, str(acme.id)).status_code == 303
    assert organisation_id_of(person.id) == acme.id
    assert audit_rows("user.organisation_changed") == []


@pytest.mark.parametrize("value", ["999999", "99999999999", "-1", "abc", "1 OR 1=1", "²"])
def test_unknown_organisation_is_a_form_error_and_changes_nothing(
    client, login_as, make_user, make_organisation, value
):
    acme = make_organisation("Acme")
    person = make_user(organisation=acme)
    login_as("admin")

    response = set_organisation(client, person.id, value)

    assert response.status_code == 400
    assert "Choose one of the listed organisations." in page_text(response)
    assert organisation_id_of(person.id) == acme.id
    assert audit_rows("user.organisation_changed") == []


@pytest.mark.parametrize("role", ["customer", "product_manager"])
def test_only_admins_can_change_a_persons_organisation(
    client, login_as, make_user, make_organisation, role
):
    acme = make_organisation("Acme")
    person = make_user()
    login_as(role)
    assert set_organisation(client, person.id, str(acme.id)).status_code == 403
    assert organisation_id_of(person.id) is None
    assert audit_rows("user.organisation_changed") == []


def test_organisation_of_an_unknown_person_is_404(client, login_as, make_organisation):
    acme = make_organisation("Acme")
    login_as("admin")
    assert set_organisation(client, 999999, str(acme.id)).status_code == 404


def test_admin_page_offers_every_organisation(client, login_as, make_user, make_organisation):
    make_organisation("Acme")
    make_organisation("Globex")
    person = make_user()
    login_as("admin")
    page = page_text(client.get(f"/admin/users/{person.id}"))
    assert "No organisation" in page and "Acme" in page and "Globex" in page


def test_organisation_change_by_get_is_impossible(client, login_as, make_user, make_organisation):
    acme = make_organisation("Acme")
    person = make_user()
    login_as("admin")
    response = client.get(
        f"/admin/users/{person.id}/organisation", query_string={"organisation_id": acme.id}
    )
    assert response.status_code == 405
    assert organisation_id_of(person.id) is None


# ---------------------------------------------------------------------------------------------
# Sign-up matches people to organisations by email domain


def sign_up(client, email: str, ip: str):
    return client.post(
        "/sign-up",
        data={
            "email": email,
            "display_name": "New Person",
            "password": DEFAULT_PASSWORD,
            "accept_guidelines": "y",
        },
        environ_base={"REMOTE_ADDR": ip},
    )


def organisation_of_email(email: str):
    db.session.expire_all()
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))
    assert user is not None, email
    return user.organisation.name if user.organisation else None


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("jo@acme.example", "Acme"),
        ("Jo.Smith@ACME.Example", "Acme"),
        ("jo@globex.example", "Globex"),
        ("jo@sub.acme.example", None),
        ("jo@acme.example.org", None),
        ("jo@notacme.example", None),
    ],
)
def test_sign_up_joins_the_organisation_of_the_email_domain(
    client, make_organisation, email, expected
):
    make_organisation("Acme", domains=("acme.example",))
    make_organisation("Globex", domains=("globex.example", "globex.test"))

    response = sign_up(client, email, ip="10.9.8.7")

    assert response.status_code == 303
    assert organisation_of_email(email) == expected
