"""Admins read the audit log, filter it and export it; nobody can change it from the app."""

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest

from portal.extensions import db
from portal.models import AuditEvent
from portal.models.types import utcnow
from portal.services import audit, audit_log, catalog, pipeline, settings, triage, users

from .conftest import DEFAULT_PASSWORD, sign_in_client
from .helpers import pass_two_factor


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
    response = client.post(
        "/sign-in", data={"email": "boss@example.com", "password": DEFAULT_PASSWORD}
    )
    pass_two_factor(client, response, "boss@example.com")  # an admin's first: set up
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

    merged, suspended = "Pat merged", "suspended"
    only_merges = table_of(client.get("/admin/audit?action=idea.merged").text)
    assert merged in only_merges and suspended not in only_merges
    by_pat = table_of(client.get("/admin/audit?actor=pat").text)
    assert merged in by_pat and suspended not in by_pat
    since = (utcnow() - timedelta(days=3)).date().isoformat()
    recent = table_of(client.get(f"/admin/audit?since={since}").text)
    assert merged in recent and suspended not in recent
    until = (utcnow() - timedelta(days=5)).date().isoformat()
    older = table_of(client.get(f"/admin/audit?until={until}").text)
    assert suspended in older and merged not in older


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
    assert rows[0]["email"] == "boss@example.com"
    # The reason sits inside the sentence, so it can never start a cell as a formula.
    assert rows[0]["what happened"] == f"{admin.display_name} suspended —: “=HYPERLINK(1)”."


def test_only_admins_read_the_log(client, make_user):
    for role in ("customer", "product_manager"):
        sign_in_client(client, make_user(role))
        assert client.get("/admin/audit").status_code == 403
        assert client.get("/admin/audit.csv").status_code == 403


def test_no_route_can_change_the_log(app):
    for rule in app.url_map.iter_rules():
        if "audit" in rule.rule:
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule.rule


# --- Every entry reads as a sentence about named things --------------------------------------

RECORDED = re.compile(r'audit\.record\(\s*(f?"[^"]+"(?:\s+if\s+\w+\s+else\s+"[^"]+")?)')


def recorded_actions() -> set[str]:
    """Every action the code records, read from its audit.record calls."""
    found: set[str] = set()
    for path in Path("portal").rglob("*.py"):
        for match in RECORDED.finditer(path.read_text()):
            for action in re.findall(r'"([^"]+)"', match.group(1)):
                kinds = ("idea", "comment") if action.startswith("{kind}") else ("",)
                found |= {action.replace("{kind}", kind) for kind in kinds}
    return found


def test_every_action_the_code_records_has_a_sentence():
    actions = recorded_actions()
    assert {"stage.changed", "idea.hidden", "comment.hidden", "sign_out"} <= actions
    assert sorted(actions - set(audit_log.SENTENCES)) == []


def test_merging_and_unmerging_read_as_sentences_with_both_ideas_named(make_user, make_idea):
    pm = make_user("product_manager", display_name="Ana")
    kept, duplicate = make_idea("Export to Excel"), make_idea("Spreadsheet download")
    merged = audit.record(
        "idea.merged", actor=pm, ip=None, target=duplicate, into=kept.id, votes_moved=3
    )
    unmerged = audit.record(
        "idea.unmerged", actor=pm, ip=None, target=duplicate, out_of=kept.id, votes_returned=3
    )
    assert audit_log.describe(merged) == (
        "Ana merged the idea “Spreadsheet download” into “Export to Excel” (3 votes moved)."
    )
    assert audit_log.describe(unmerged) == (
        "Ana unmerged the idea “Spreadsheet download” from “Export to Excel” (3 votes back)."
    )


def test_an_action_without_a_sentence_still_reads_as_one(make_user):
    pm = make_user("product_manager", display_name="Ana")
    event = audit.record("idea.teleported", actor=pm, ip=None, target=pm, votes_back=3)
    assert audit_log.describe(event) == "Ana: idea teleported, Ana (votes back 3)."


@pytest.fixture
def team(make_user):
    return {
        "priya": make_user("admin", display_name="Priya"),
        "kofi": make_user("product_manager", display_name="Kofi"),
        "ana": make_user("product_manager", display_name="Ana"),
    }


def latest(action):
    from sqlalchemy import select

    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc())
    )
    return audit_log.describe(event)


def test_owner_changes_read_with_both_names_as_they_were(team, make_idea):
    idea = make_idea("Export to Excel")
    triage.assign_owner(idea, team["kofi"], actor=team["priya"], ip=None)
    triage.assign_owner(idea, team["ana"], actor=team["priya"], ip=None)
    db.session.commit()
    team["kofi"].display_name = "Kofi Mensah"  # renamed later: the log says what was true then
    idea.title = "Export to spreadsheets"
    db.session.commit()
    assert latest("idea.owner_changed") == (
        "Priya changed the owner of the idea “Export to Excel”: Kofi → Ana."
    )


def test_older_events_with_bare_ids_are_named_too(team, make_idea):
    idea = make_idea("Export to Excel")
    other = make_idea("Excel export")
    for action, detail in (("idea.owner_changed", {"owner": team["kofi"].id}),
                           ("idea.merged", {"into": idea.id, "votes_moved": 4})):  # fmt: skip
        db.session.add(
            AuditEvent(
                action=action,
                actor_id=team["priya"].id,
                target_type="ideas",
                target_id=other.id,
                target_name=other.title,
                detail=detail,
            )
        )
    db.session.commit()
    assert latest("idea.owner_changed") == "Priya made Kofi the owner of the idea “Excel export”."
    assert latest("idea.merged") == (
        "Priya merged the idea “Excel export” into “Export to Excel” (4 votes moved)."
    )


def test_stage_changes_read_with_before_and_after(client, team, stages):
    sign_in_client(client, team["priya"])
    planned = stages["planned"]
    moves = catalog.transitions()
    form = {
        "name": "Planned",
        "description": planned.description,
        "position": str(planned.position),
        "response_days": "30",
        "voting_allowed": "y",
        "colour": planned.colour,
        "targets": [str(t) for t in moves[planned.id] if t != stages["declined"].id],
    }
    assert client.post(f"/admin/stages/{planned.id}", data=form).status_code == 303
    sentence = (
        "Priya changed stage “Planned”: response time 60 days → 30 days; "
        "moves to: no longer Declined."
    )
    assert latest("stage.changed") == sentence
    page = client.get("/admin/audit").text
    assert sentence in page
    rows = list(csv.DictReader(io.StringIO(client.get("/admin/audit.csv").text)))
    assert rows[0]["what happened"] == sentence


@pytest.mark.parametrize(
    ("act", "action", "sentence"),
    [
        (
            lambda t, s: users.change_role(t["kofi"], "admin", actor=t["priya"], ip=None),
            "user.role_changed",
            "Priya changed Kofi's role from product manager to admin.",
        ),
        (
            lambda t, s: users.suspend(t["kofi"], "Sent spam", actor=t["priya"], ip=None),
            "user.suspended",
            "Priya suspended Kofi: “Sent spam”.",
        ),
        (
            lambda t, s: settings.update_general(
                actor=t["priya"], ip=None, name="Acme ideas", pre_moderation=True
            ),
            "settings.changed",
            "Priya changed the site name: “Idea Portal” → “Acme ideas” and turned "
            "pre-moderation on.",
        ),
        (
            lambda t, s: catalog.retire_stage(s["declined"], actor=t["priya"], ip=None),
            "stage.retired",
            "Priya retired stage “Declined”.",
        ),
    ],
    ids=["role", "suspension", "settings", "retire"],
)
def test_team_and_admin_actions_read_as_sentences(team, stages, act, action, sentence):
    act(team, stages)
    db.session.commit()
    assert latest(action) == sentence


def test_a_moved_idea_reads_with_its_stages(team, make_idea, stages):
    idea = make_idea("Export to Excel")
    pipeline.move_stage(
        idea, stages["planned"], actor=team["kofi"], note="We are planning this for spring.",
        ip=None,
    )  # fmt: skip
    db.session.commit()
    assert (
        latest("idea.stage_changed") == "Kofi moved the idea “Export to Excel” from New to Planned."
    )


def test_the_log_page_shows_no_raw_details_and_runs_a_fixed_number_of_queries(
    client, team, make_idea, count_queries
):
    ideas = [make_idea(f"Idea number {n}") for n in range(3)]
    for idea in ideas:
        triage.assign_owner(idea, team["kofi"], actor=team["priya"], ip=None)
        db.session.add(
            AuditEvent(
                action="idea.merged",
                actor_id=team["priya"].id,
                target_type="ideas",
                target_id=idea.id,
                target_name=idea.title,
                detail={"into": ideas[0].id, "votes_moved": 1},
            )
        )
    db.session.commit()
    sign_in_client(client, team["priya"])
    with count_queries() as few:
        page = client.get("/admin/audit").text
    for idea in ideas:
        triage.assign_owner(idea, team["ana"], actor=team["priya"], ip=None)
    db.session.commit()
    with count_queries() as more:
        client.get("/admin/audit")
    assert more.count == few.count
    rows = table_of(page)
    assert "{" not in rows and "owner:" not in rows and "into:" not in rows
    assert "Priya changed the owner of the idea “Idea number 1”: nobody → Kofi." in rows


# --- Events written before names were kept ---------------------------------------------------


@pytest.fixture
def migrated_to_before_names(tmp_path, monkeypatch):
    """An app on a new database migrated to the revision before audit events kept names."""
    import logging

    import flask_migrate

    from portal import create_app

    from . import dbutil

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # migrations/env.py reconfigures logging
    with dbutil.fresh_database(tmp_path, "audit_names") as url:
        monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
        application = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "audit-names-test",
                "SQLALCHEMY_DATABASE_URI": url,
                "RATELIMIT_STORAGE_URI": "memory://",
            }
        )
        with application.app_context():
            flask_migrate.upgrade(revision="c01a0e5e7a91")
            yield application
            db.session.remove()
            db.engine.dispose()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_migration_names_the_people_and_things_of_older_events(migrated_to_before_names):
    import flask_migrate
    from sqlalchemy import select, text

    with db.engine.begin() as conn:
        stage = dict(conn.execute(text("SELECT slug, id FROM stages")).all())
        conn.execute(
            text(
                "INSERT INTO users (id, email, display_name, password_hash, role, created_at) "
                "VALUES (1, 'c@example.com', 'Chloé', 'x', 'customer', :t), "
                "(2, 'pm@example.com', 'Priya', 'x', 'product_manager', :t)"
            ),
            {"t": utcnow()},
        )
        conn.execute(
            text(
                "INSERT INTO ideas (id, title, problem, solution, stage_id, author_id, "
                "is_team_concept, created_at, last_activity_at, vote_count, comment_count, "
                "trending_score) VALUES (1, 'Export to Excel', 'P', '', :stage, 1, false, :t, "
                ":t, 0, 0, 0.0)"
            ),
            {"stage": stage["planned"], "t": utcnow()},
        )
        conn.execute(
            text(
                "INSERT INTO comments (id, idea_id, author_id, body, created_at, is_official) "
                "VALUES (1, 1, 1, 'A comment.', :t, false)"
            ),
            {"t": utcnow()},
        )
        for n, (kind, target) in enumerate(
            [
                ("ideas", 1),
                ("users", 1),
                ("stages", stage["planned"]),
                ("comments", 1),
                ("ideas", 99),
                (None, None),
            ],
            start=1,
        ):
            conn.execute(
                text(
                    "INSERT INTO audit_events (id, created_at, actor_id, action, target_type, "
                    "target_id, detail) VALUES (:id, :t, 2, 'something', :kind, :target, '{}')"
                ),
                {"id": n, "t": utcnow(), "kind": kind, "target": target},
            )
    flask_migrate.upgrade(revision="a16e0a1b2c30")
    rows = db.session.execute(
        select(AuditEvent.actor_name, AuditEvent.target_name).order_by(AuditEvent.id)
    ).all()
    assert [tuple(r) for r in rows] == [
        ("Priya", "Export to Excel"),
        ("Priya", "Chloé"),
        ("Priya", "Planned"),
        ("Priya", "a comment on “Export to Excel”"),
        ("Priya", None),  # its idea is gone: "a deleted idea" in the log
        ("Priya", None),
    ]
    db.session.remove()  # SQLite: no reading transaction left open while the schema changes
    flask_migrate.downgrade(revision="c01a0e5e7a91")
    flask_migrate.upgrade(revision="a16e0a1b2c30")
