"""Admins read the audit log, filter it and export it; nobody can change it from the app."""

import csv
import io
from datetime import timedelta

from portal.extensions import db
from portal.models import AuditEvent
from portal.models.types import utcnow

from .conftest import DEFAULT_PASSWORD, sign_in_client


def table_of(page: str) -> str:
    """The log's rows only (the action menu lists every action too)."""
    return page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""


def _event(action, *, actor=None, days_ago=0, **detail):
    event = AuditEvent(
        action=action,
        actor_id=actor.id if actor else None,
        ip="203.0.113.7",
        created_at=utcnow() - timedelta(days=days_ago),
        detail=detail,
    )
    db.session.add(event)
    db.session.commit()
    return event


def test_a_real_sign_in_shows_up_in_the_log(client, make_user):
    admin = make_user("admin", email="boss@example.com")
    client.post("/sign-in", data={"email": "boss@example.com", "password": DEFAULT_PASSWORD})
    page = client.get("/admin/audit").text
    assert "sign_in.succeeded" in page and "boss@example.com" in page
    assert DEFAULT_PASSWORD not in page
    del admin


def test_filters_by_action_person_and_dates(client, make_user):
    admin = make_user("admin", email="boss@example.com")
    pm = make_user("product_manager", email="pat@example.com", display_name="Pat")
    _event("idea.merged", actor=pm, days_ago=1, into=3)
    _event("user.suspended", actor=admin, days_ago=10, reason="spam")
    sign_in_client(client, admin)

    only_merges = table_of(client.get("/admin/audit?action=idea.merged").text)
    assert "idea.merged" in only_merges and "user.suspended" not in only_merges
    by_pat = table_of(client.get("/admin/audit?actor=pat").text)
    assert "idea.merged" in by_pat and "user.suspended" not in by_pat
    since = (utcnow() - timedelta(days=3)).date().isoformat()
    recent = table_of(client.get(f"/admin/audit?since={since}").text)
    assert "idea.merged" in recent and "user.suspended" not in recent
    until = (utcnow() - timedelta(days=5)).date().isoformat()
    older = table_of(client.get(f"/admin/audit?until={until}").text)
    assert "user.suspended" in older and "idea.merged" not in older


def test_junk_filters_are_a_clean_answer(client, make_user):
    sign_in_client(client, make_user("admin"))
    assert client.get("/admin/audit?since=yesterday").status_code == 400
    assert client.get("/admin/audit?page=abc").status_code == 400
    assert client.get("/admin/audit?action=<script>&actor=%25_").status_code == 200


def test_csv_export_matches_the_filter_and_defuses_formulas(client, make_user):
    admin = make_user("admin", email="boss@example.com")
    _event("user.suspended", actor=admin, reason="=HYPERLINK(1)")
    _event("idea.merged", actor=admin)
    sign_in_client(client, admin)
    response = client.get("/admin/audit.csv?action=user.suspended")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["action"] for r in rows] == ["user.suspended"]
    assert rows[0]["actor"] == "boss@example.com"
    assert rows[0]["detail"] == '{"reason": "=HYPERLINK(1)"}'  # inside JSON, not a formula


def test_only_admins_read_the_log(client, make_user):
    for role in ("customer", "product_manager"):
        sign_in_client(client, make_user(role))
        assert client.get("/admin/audit").status_code == 403
        assert client.get("/admin/audit.csv").status_code == 403


def test_no_route_can_change_the_log(app):
    for rule in app.url_map.iter_rules():
        if "audit" in rule.rule:
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule.rule
