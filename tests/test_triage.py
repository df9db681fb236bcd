"""The team's triage queue: every idea gets a first answer, and every stage keeps its promise."""

from __future__ import annotations

import csv
import html
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Idea
from portal.services import comments, ideas, pipeline, triage

from .conftest import sign_in_client
from .helpers import page_text

NOTE = "We are sizing this with three customers and will report back next month."
AWAITING, OVERDUE = "awaiting", "overdue"
CSV_LISTS = {"awaiting first answer": AWAITING, "overdue": OVERDUE}


# --- Time ----------------------------------------------------------------------------------


@dataclass
class Clock:
    now: datetime

    def set(self, when: datetime) -> None:
        self.now = when

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """The time the services see: submitting, moving, answering and the queue itself."""
    frozen = Clock(datetime.now(UTC).replace(microsecond=0))
    for module in (triage, ideas, pipeline):
        monkeypatch.setattr(module, "utcnow", lambda: frozen.now)
    return frozen


# --- Reading what the team sees ------------------------------------------------------------


def fresh(idea_id: int) -> Idea:
    db.session.expire_all()
    return db.session.get(Idea, idea_id)


def move(idea: Idea, stage, pm) -> None:
    pipeline.move_stage(idea, stage, actor=pm, note=NOTE, ip=None)
    db.session.commit()


def _rows(section: str) -> list[tuple[str, int]]:
    """(title, days late) for each row of one table on the triage page."""
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", section, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        if not cells:
            continue  # the header row
        title = html.unescape(
            re.search(
                r'<a href="/(?:ideas|team/triage/ideas)/\d+[^"]*">(.*?)</a>', row, re.S
            ).group(1)
        )
        late = " ".join(html.unescape(re.sub(r"<[^>]+>", "", cells[-1])).split())
        if late == "On time":
            days = 0
        else:
            match = re.fullmatch(r"(\d+) days? late", late)
            assert match, f"unexpected lateness {late!r}"
            days = int(match.group(1))
            assert late.endswith("1 day late") == (days == 1)
        rows.append((title, days))
    return rows


def queue_page(client, **filters) -> dict[str, list[tuple[str, int]]]:
    response = client.get("/team/triage", query_string=filters)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    start_awaiting = page.index('id="awaiting-title"')
    start_overdue = page.index('id="overdue-title"')
    awaiting = page[start_awaiting:start_overdue]
    overdue = page[start_overdue : page.index("</section>", start_overdue)]
    result = {AWAITING: _rows(awaiting), OVERDUE: _rows(overdue)}
    for name, section in ((AWAITING, awaiting), (OVERDUE, overdue)):
        count = int(re.search(r"\((\d+)\)</h2>", section).group(1))
        assert count == len(result[name]), "the heading counts a different number of ideas"
    return result


def titles(rows: list[tuple[str, int]]) -> list[str]:
    return [title for title, _ in rows]


def queue_csv(client, **filters) -> list[dict[str, str]]:
    response = client.get("/team/triage.csv", query_string=filters)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def csv_lists(rows: list[dict[str, str]]) -> dict[str, list[tuple[str, int]]]:
    result: dict[str, list[tuple[str, int]]] = {AWAITING: [], OVERDUE: []}
    for row in rows:
        result[CSV_LISTS[row["list"]]].append((row["title"], int(row["days late"])))
    return result


@pytest.fixture
def pm(make_user):
    return make_user("product_manager")


@pytest.fixture
def pm_client(client, pm):
    sign_in_client(client, pm)
    return client


# --- The promise of a next answer ----------------------------------------------------------


def test_new_idea_is_due_an_answer_seven_days_after_posting(clock, make_idea):
    idea = make_idea("Export reports to Excel")
    idea = fresh(idea.id)
    assert idea.stage.slug == "new"
    assert idea.first_response_at is None
    assert idea.response_due_at == clock.now + timedelta(days=7)


def test_team_concept_is_owed_no_answer(clock, make_idea, pm, pm_client):
    idea = make_idea("A concept of our own", author=pm, as_concept=True)
    assert fresh(idea.id).response_due_at is None
    clock.advance(days=30)
    queue = queue_page(pm_client)
    assert "A concept of our own" not in titles(queue[AWAITING]) + titles(queue[OVERDUE])


def test_each_move_promises_the_next_answer_within_the_new_stage_commitment(
    clock, make_idea, stages, pm
):
    idea = make_idea()
    for slug, days in (("under_review", 30), ("planned", 60), ("in_progress", 45)):
        clock.advance(days=3, hours=5)
        move(idea, stages[slug], pm)
        idea = fresh(idea.id)
        assert idea.stage.slug == slug
        assert idea.response_due_at == clock.now + timedelta(days=days), slug
    clock.advance(days=2)
    move(idea, stages["shipped"], pm)
    assert fresh(idea.id).response_due_at is None


@pytest.mark.parametrize("slug", ["shipped", "declined"])
def test_closing_an_idea_removes_its_due_date(clock, make_idea, stages, pm, slug):
    idea = make_idea()
    clock.advance(days=1)
    move(idea, stages[slug], pm)
    idea = fresh(idea.id)
    assert idea.response_due_at is None
    assert idea.first_response_at == clock.now


def test_first_move_counts_as_the_first_answer(clock, make_idea, stages, pm):
    idea = make_idea()
    clock.advance(days=2)
    move(idea, stages["under_review"], pm)
    first = clock.now
    clock.advance(days=5)
    move(fresh(idea.id), stages["planned"], pm)
    assert fresh(idea.id).first_response_at == first


def test_team_comment_resets_the_due_date_and_customer_comment_does_not(
    clock, client, make_idea, make_user, stages, pm
):
    idea = make_idea()
    clock.advance(days=2)
    move(idea, stages["under_review"], pm)  # due in 30 days
    promised = clock.now + timedelta(days=30)

    clock.advance(days=10)
    sign_in_client(client, make_user())
    response = client.post(f"/ideas/{idea.id}/comments", data={"body": "Any news on this one?"})
    assert response.status_code == 303
    assert fresh(idea.id).comment_count == 1
    assert fresh(idea.id).response_due_at == promised

    clock.advance(days=5)
    sign_in_client(client, pm)
    response = client.post(f"/ideas/{idea.id}/comments", data={"body": "Still sizing it, sorry."})
    assert response.status_code == 303
    assert fresh(idea.id).comment_count == 2
    assert fresh(idea.id).response_due_at == clock.now + timedelta(days=30)


def test_team_comment_is_the_first_answer_to_a_new_idea(clock, make_idea, pm):
    idea = make_idea()
    clock.advance(days=3)
    comments.add_comment(idea, author=pm, body="Thanks, we are reading this now.")
    db.session.commit()
    idea = fresh(idea.id)
    assert idea.first_response_at == clock.now
    assert idea.response_due_at == clock.now + timedelta(days=7)


def test_marking_an_official_response_resets_the_due_date(clock, make_idea, stages, pm):
    idea = make_idea()
    move(idea, stages["planned"], pm)
    comment = comments.add_comment(fresh(idea.id), author=pm, body="Scheduled for the autumn.")
    db.session.commit()
    clock.advance(days=20)
    comments.mark_official(comment, actor=pm)
    db.session.commit()
    assert fresh(idea.id).response_due_at == clock.now + timedelta(days=60)


# --- The queue -----------------------------------------------------------------------------


def test_unanswered_idea_waits_on_time_then_shows_how_late_it_is(clock, make_idea, pm_client):
    make_idea("Export reports to Excel")
    clock.advance(days=6, hours=23)
    assert queue_page(pm_client) == {AWAITING: [("Export reports to Excel", 0)], OVERDUE: []}
    clock.advance(days=1, hours=2)  # 8 days and 1 hour after posting
    assert queue_page(pm_client)[AWAITING] == [("Export reports to Excel", 1)]
    clock.advance(days=9)
    assert queue_page(pm_client) == {AWAITING: [("Export reports to Excel", 10)], OVERDUE: []}


def test_moved_idea_leaves_awaiting_and_is_overdue_only_once_its_new_date_passes(
    clock, make_idea, stages, pm, pm_client
):
    idea = make_idea("Export reports to Excel")
    clock.advance(days=10)
    move(idea, stages["under_review"], pm)  # next answer due 30 days from now
    moved_at = clock.now
    assert queue_page(pm_client) == {AWAITING: [], OVERDUE: []}

    clock.set(moved_at + timedelta(days=30))  # due exactly now: not late yet
    assert queue_page(pm_client) == {AWAITING: [], OVERDUE: []}

    clock.set(moved_at + timedelta(days=31, hours=1))
    assert queue_page(pm_client) == {AWAITING: [], OVERDUE: [("Export reports to Excel", 1)]}

    clock.set(moved_at + timedelta(days=42, hours=12))
    assert queue_page(pm_client) == {AWAITING: [], OVERDUE: [("Export reports to Excel", 12)]}

    move(fresh(idea.id), stages["planned"], pm)  # answering again clears it
    assert queue_page(pm_client) == {AWAITING: [], OVERDUE: []}


def test_awaiting_lists_oldest_first_and_overdue_most_overdue_first(
    clock, make_idea, stages, pm, pm_client
):
    start = clock.now
    clock.set(start - timedelta(days=20))
    make_idea("Oldest unanswered")
    reviewed_long_ago = make_idea("Reviewed long ago")
    clock.set(start - timedelta(days=90))
    planned_long_ago = make_idea("Planned long ago")
    clock.set(start - timedelta(days=70))
    move(planned_long_ago, stages["planned"], pm)  # due 10 days ago
    clock.set(start - timedelta(days=19))
    move(reviewed_long_ago, stages["under_review"], pm)  # due in 11 days: on time
    clock.set(start - timedelta(days=9))
    make_idea("Newer unanswered")
    clock.set(start - timedelta(days=55))
    reviewed = make_idea("Review overdue")
    move(reviewed, stages["under_review"], pm)  # due 25 days ago
    clock.set(start)

    assert queue_page(pm_client) == {
        AWAITING: [("Oldest unanswered", 13), ("Newer unanswered", 2)],
        OVERDUE: [("Review overdue", 25), ("Planned long ago", 10)],
    }


def test_hidden_and_closed_ideas_are_not_in_the_queue(clock, make_idea, stages, pm, pm_client):
    hidden = make_idea("Hidden unanswered idea")
    hidden_overdue = make_idea("Hidden overdue idea")
    move(hidden_overdue, stages["under_review"], pm)
    declined = make_idea("Declined without more")
    move(declined, stages["declined"], pm)
    make_idea("Visible unanswered idea")
    for idea in (hidden, hidden_overdue):
        fresh(idea.id).hidden_at = clock.now
    db.session.commit()
    clock.advance(days=40)
    assert queue_page(pm_client) == {AWAITING: [("Visible unanswered idea", 33)], OVERDUE: []}
    assert [row["title"] for row in queue_csv(pm_client)] == ["Visible unanswered idea"]


@pytest.fixture
def mixed_queue(clock, make_idea, make_user, make_category, make_organisation, stages, pm):
    """Unanswered and overdue ideas across two categories, two organisations and stages."""
    start = clock.now
    reporting, billing = make_category("Reporting"), make_category("Billing", position=1)
    acme, globex = make_organisation("Acme"), make_organisation("Globex")
    at_acme, at_globex, alone = (
        make_user(organisation=acme),
        make_user(organisation=globex),
        make_user(),
    )

    def at(days_ago: int) -> None:
        clock.set(start - timedelta(days=days_ago))

    at(70)
    planned = make_idea("Globex reporting overdue", author=at_globex, category=reporting)
    move(planned, stages["planned"], pm)  # due 10 days ago
    at(50)
    billing_review = make_idea("Acme billing overdue", author=at_acme, category=billing)
    move(billing_review, stages["under_review"], pm)  # due 20 days ago
    at(35)
    reporting_review = make_idea("Acme reporting overdue", author=at_acme, category=reporting)
    move(reporting_review, stages["under_review"], pm)  # due 5 days ago
    at(20)
    make_idea("Acme reporting unanswered", author=at_acme, category=reporting)
    at(15)
    make_idea("Globex billing unanswered", author=at_globex, category=billing)
    at(5)
    make_idea("Unanswered in review", author=alone, category=reporting, stage="under_review")
    at(1)
    on_time = make_idea("Answered and on time", author=at_acme, category=billing)
    move(on_time, stages["under_review"], pm)
    clock.set(start)
    return {
        "reporting": str(reporting.id),
        "billing": str(billing.id),
        "acme": str(acme.id),
        "globex": str(globex.id),
    }


EVERYTHING = {
    AWAITING: [
        ("Acme reporting unanswered", 13),
        ("Globex billing unanswered", 8),
        ("Unanswered in review", 0),
    ],
    OVERDUE: [
        ("Acme billing overdue", 20),
        ("Globex reporting overdue", 10),
        ("Acme reporting overdue", 5),
    ],
}


def test_queue_shows_every_unanswered_and_overdue_idea(mixed_queue, pm_client):
    assert queue_page(pm_client) == EVERYTHING


@pytest.mark.parametrize(
    ("filters", "awaiting", "overdue"),
    [
        (
            {"category": "reporting"},
            ["Acme reporting unanswered", "Unanswered in review"],
            ["Globex reporting overdue", "Acme reporting overdue"],
        ),
        ({"category": "billing"}, ["Globex billing unanswered"], ["Acme billing overdue"]),
        (
            {"stage": "under_review"},
            ["Unanswered in review"],
            ["Acme billing overdue", "Acme reporting overdue"],
        ),
        ({"stage": "planned"}, [], ["Globex reporting overdue"]),
        (
            {"organisation": "acme"},
            ["Acme reporting unanswered"],
            ["Acme billing overdue", "Acme reporting overdue"],
        ),
        ({"organisation": "globex", "category": "reporting"}, [], ["Globex reporting overdue"]),
        ({"organisation": "globex", "stage": "new"}, ["Globex billing unanswered"], []),
    ],
)
def test_filters_narrow_both_lists(mixed_queue, pm_client, filters, awaiting, overdue):
    query = {
        name: mixed_queue.get(value, value) for name, value in filters.items()
    }  # names of categories and organisations to their ids
    page = queue_page(pm_client, **query)
    assert titles(page[AWAITING]) == awaiting
    assert titles(page[OVERDUE]) == overdue
    assert page == {
        name: [row for row in EVERYTHING[name] if row[0] in titles(page[name])]
        for name in (AWAITING, OVERDUE)
    }, "filtering changed the lateness shown"
    assert csv_lists(queue_csv(pm_client, **query)) == page


@pytest.mark.parametrize(
    "junk", [{"stage": "nonsense"}, {"stage": "new' --"}, {"category": ""}, {"owner": ""}]
)
def test_unknown_stages_and_empty_filters_are_ignored(mixed_queue, pm_client, junk):
    assert queue_page(pm_client, **junk) == EVERYTHING
    assert csv_lists(queue_csv(pm_client, **junk)) == EVERYTHING


@pytest.mark.parametrize(
    "junk",
    [
        {"category": "abc"},
        {"category": "1 OR 1=1"},
        {"organisation": "-1"},
        {"organisation": "99999999999999999999"},
        {"category": "²"},
        {"owner": "someone"},
    ],
)
def test_junk_numbers_are_a_clean_400_that_names_the_filter(mixed_queue, pm_client, junk):
    """A list that looks filtered and is not would mislead: say what was wrong instead."""
    ((name, _value),) = junk.items()
    for path in ("/team/triage", "/team/triage.csv"):
        response = pm_client.get(path, query_string=junk)
        assert response.status_code == 400
        assert f"The “{name}” in the address must be a whole number" in page_text(response)


def test_unknown_category_or_organisation_shows_nothing(mixed_queue, pm_client):
    assert queue_page(pm_client, category="999999") == {AWAITING: [], OVERDUE: []}
    assert queue_page(pm_client, organisation="999999") == {AWAITING: [], OVERDUE: []}


# --- Who may see it ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/team/triage", "/team/triage.csv"])
def test_customer_cannot_see_the_triage_queue(mixed_queue, client, make_user, path):
    sign_in_client(client, make_user("customer"))
    response = client.get(path)
    assert response.status_code == 403
    assert "Acme reporting unanswered" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/team/triage", "/team/triage.csv"])
def test_anonymous_visitor_is_sent_to_sign_in_for_the_triage_queue(mixed_queue, client, path):
    response = client.get(path, query_string={"stage": "new"})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/sign-in"
    assert "next=" in location.query
    assert "Acme reporting unanswered" not in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["product_manager", "admin"])
def test_team_members_see_the_triage_queue(mixed_queue, client, make_user, role):
    sign_in_client(client, make_user(role))
    assert queue_page(client) == EVERYTHING
    assert csv_lists(queue_csv(client)) == EVERYTHING


def test_suspended_product_manager_cannot_see_the_triage_queue(mixed_queue, client, make_user):
    suspended = make_user("product_manager", suspended_reason="Left the company.")
    sign_in_client(client, suspended)
    response = client.get("/team/triage")
    assert response.status_code == 302
    assert "Acme reporting unanswered" not in response.get_data(as_text=True)


# --- The CSV export ------------------------------------------------------------------------


def test_csv_matches_the_page_it_was_downloaded_from(mixed_queue, pm_client):
    page = pm_client.get("/team/triage", query_string={"category": mixed_queue["reporting"]})
    link = re.search(r'<a href="([^"]*triage\.csv[^"]*)"', page.get_data(as_text=True))
    assert link, "the page offers no CSV download"
    response = pm_client.get(html.unescape(link.group(1)))
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    shown = queue_page(pm_client, category=mixed_queue["reporting"])
    assert csv_lists(rows) == shown
    assert shown[AWAITING] and shown[OVERDUE]


def test_csv_has_a_header_and_one_row_per_idea_with_its_details(clock, mixed_queue, pm_client, pm):
    response = pm_client.get("/team/triage.csv")
    reader = csv.reader(io.StringIO(response.get_data(as_text=True)))
    header = next(reader)
    assert header[:3] == ["list", "id", "title"]
    assert {
        "stage",
        "category",
        "author",
        "organisation",
        "votes",
        "answer due",
        "days late",
    } <= set(header)
    rows = [dict(zip(header, row, strict=True)) for row in reader]
    assert len(rows) == 6
    by_title = {row["title"]: row for row in rows}
    overdue = by_title["Acme billing overdue"]
    idea = db.session.get(Idea, int(overdue["id"]))
    assert idea.title == "Acme billing overdue"
    assert overdue["list"] == "overdue"
    assert overdue["stage"] == "Under review"
    assert overdue["category"] == "Billing"
    assert overdue["organisation"] == "Acme"
    assert overdue["author"] == idea.author.display_name
    assert overdue["votes"] == "1"
    assert datetime.fromisoformat(overdue["answer due"]) == clock.now - timedelta(days=20)
    assert overdue["days late"] == "20"
    assert by_title["Unanswered in review"]["organisation"] == ""


@pytest.mark.parametrize("title", ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3+cmd()", "@SUM(A1:A9)"])
def test_csv_defuses_formula_looking_titles(clock, make_idea, pm_client, title):
    make_idea(title)
    make_idea("Plain title stays as it is")
    rows = queue_csv(pm_client)
    assert [row["title"] for row in rows] == ["'" + title, "Plain title stays as it is"]


def test_csv_defuses_formula_looking_names(
    clock, make_idea, make_user, make_organisation, make_category, pm_client
):
    evil = make_organisation('=HYPERLINK("http://evil.example","x")')
    author = make_user(display_name="@SUM(1+1)*cmd", organisation=evil)
    make_idea("=cmd()", author=author, category=make_category("=1+2"))
    (row,) = queue_csv(pm_client)
    assert row["title"] == "'=cmd()"
    assert row["author"] == "'@SUM(1+1)*cmd"
    assert row["organisation"] == '\'=HYPERLINK("http://evil.example","x")'
    assert row["category"] == "'=1+2"


def test_titles_are_escaped_on_the_triage_page(clock, make_idea, pm_client):
    make_idea("<script>alert(1)</script>")
    page = pm_client.get("/team/triage").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- Fixed cost ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/team/triage", "/team/triage.csv"])
def test_triage_page_runs_a_fixed_number_of_queries(
    clock,
    make_idea,
    make_user,
    make_category,
    make_organisation,
    stages,
    pm,
    pm_client,
    count_queries,
    path,
):
    """Half the ideas unanswered, half overdue, each with its own author, organisation, category."""
    ideas_made = 0
    measured = []
    for total in (3, 15):
        start = clock.now
        for i in range(ideas_made, total):
            clock.set(start - timedelta(days=100 - i))
            author = make_user(organisation=make_organisation(f"Organisation {i}"))
            idea = make_idea(f"Idea number {i}", author=author, category=make_category(f"Area {i}"))
            if i % 2:
                move(idea, stages["under_review"], pm)
        clock.set(start)
        ideas_made = total
        db.session.commit()
        pm_client.get(path)  # warm up: first-request work is not the page's cost
        with count_queries() as queries:
            response = pm_client.get(path)
        assert response.status_code == 200
        shown = set(re.findall(r"Idea number (\d+)", response.get_data(as_text=True)))
        assert shown == {str(i) for i in range(total)}
        measured.append(queries.count)
    assert measured[0] == measured[1], f"3 ideas: {measured[0]} queries, 15: {measured[1]}"


# --- Ideas that existed before due dates ---------------------------------------------------


@pytest.fixture
def migrated_to_before_due_dates(tmp_path, monkeypatch):
    """An app on a new database migrated to the revision before due dates existed."""
    import logging

    import flask_migrate

    from portal import create_app

    from . import dbutil

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # migrations/env.py reconfigures logging
    with dbutil.fresh_database(tmp_path, "backfill") as url:
        monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
        application = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "backfill-test",
                "SQLALCHEMY_DATABASE_URI": url,
                "RATELIMIT_STORAGE_URI": "memory://",
            }
        )
        with application.app_context():
            flask_migrate.upgrade(revision="caad5a898bc1")
            yield application
            db.session.remove()
            db.engine.dispose()
    root.handlers[:] = handlers
    root.setLevel(level)


BEFORE_DUE_DATES = datetime.now(UTC).replace(microsecond=0)


def _backfilled(rows: dict[str, dict]) -> dict[str, datetime | None]:
    """Insert ideas as they were before the migration, run it, and read their due dates."""
    import flask_migrate
    from sqlalchemy import text

    with db.engine.begin() as conn:
        stage = dict(conn.execute(text("SELECT slug, id FROM stages")).all())
        conn.execute(
            text(
                "INSERT INTO users (id, email, display_name, password_hash, role, created_at) "
                "VALUES (1, 'c@example.com', 'Customer', 'x', 'customer', :t), "
                "(2, 'pm@example.com', 'PM', 'x', 'product_manager', :t)"
            ),
            {"t": BEFORE_DUE_DATES - timedelta(days=400)},
        )
        for n, (title, row) in enumerate(rows.items(), start=1):
            conn.execute(
                text(
                    "INSERT INTO ideas (id, title, problem, solution, stage_id, author_id, "
                    "is_team_concept, created_at, last_activity_at, first_response_at, "
                    "vote_count, comment_count, trending_score) VALUES (:id, :title, 'P', '', "
                    ":stage, :author, :concept, :created, :created, :answered, 1, 0, 1.0)"
                ),
                {
                    "id": n,
                    "title": title,
                    "stage": stage[row["stage"]],
                    "author": 2 if row.get("concept") else 1,
                    "concept": bool(row.get("concept")),
                    "created": row["created"],
                    "answered": row.get("answered"),
                },
            )
            for slug, at in row.get("moves", ()):
                conn.execute(
                    text(
                        "INSERT INTO stage_changes (idea_id, from_stage_id, to_stage_id, note, "
                        "actor_id, created_at) VALUES (:idea, :from_, :to, 'A note.', 2, :at)"
                    ),
                    {"idea": n, "from_": stage["new"], "to": stage[slug], "at": at},
                )
            for author, at in row.get("comments", ()):
                conn.execute(
                    text(
                        "INSERT INTO comments (idea_id, author_id, body, created_at, is_official) "
                        "VALUES (:idea, :author, 'A comment.', :at, :official)"
                    ),
                    {"idea": n, "author": author, "at": at, "official": False},
                )
    flask_migrate.upgrade(revision="1dc57ba9d1a8")
    result = db.session.execute(select(Idea.title, Idea.response_due_at)).all()
    return dict(result)


def days_ago(n: float) -> datetime:
    return BEFORE_DUE_DATES - timedelta(days=n)


def test_migration_gives_existing_ideas_the_due_date_of_their_stage(migrated_to_before_due_dates):
    due = _backfilled(
        {
            "Posted 20 days ago": {"stage": "new", "created": days_ago(20)},
            "Reviewed 10 days ago": {
                "stage": "under_review",
                "created": days_ago(40),
                "answered": days_ago(10),
                "moves": [("under_review", days_ago(10))],
            },
            "Planned 5 days ago": {
                "stage": "planned",
                "created": days_ago(90),
                "answered": days_ago(5),
                "moves": [("planned", days_ago(5))],
            },
            "Shipped long ago": {
                "stage": "shipped",
                "created": days_ago(300),
                "answered": days_ago(200),
                "moves": [("shipped", days_ago(200))],
            },
        }
    )
    assert due == {
        "Posted 20 days ago": days_ago(13),
        "Reviewed 10 days ago": days_ago(10 - 30),
        "Planned 5 days ago": days_ago(5 - 60),
        "Shipped long ago": None,
    }


def test_migration_owes_no_answer_for_team_concepts(migrated_to_before_due_dates):
    due = _backfilled(
        {
            "Concept of our own": {
                "stage": "new",
                "concept": True,
                "created": days_ago(20),
                "answered": days_ago(20),
            }
        }
    )
    assert due == {"Concept of our own": None}  # as submit_idea gives a new concept


def test_migration_counts_the_latest_team_reply(migrated_to_before_due_dates):
    due = _backfilled(
        {
            "Answered by a comment": {
                "stage": "new",
                "created": days_ago(20),
                "answered": days_ago(2),
                "comments": [(1, days_ago(15)), (2, days_ago(2)), (1, days_ago(1))],
            }
        }
    )
    assert due == {"Answered by a comment": days_ago(2 - 7)}  # the team replied 2 days ago
