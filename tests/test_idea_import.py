"""`flask import`: ideas, votes, comments and people from the portal's own CSV files, Canny and
UserVoice exports; all or nothing, and nothing twice."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    AuditEvent,
    Comment,
    Follow,
    Idea,
    IdeaOrganisation,
    ImportRecord,
    User,
    Vote,
)
from portal.services import audit_log
from portal.services.idea_import import parse_when, read_export
from portal.services.passwords import verify_password

from .conftest import DEFAULT_PASSWORD
from .helpers import database_snapshot, link_in, page_text

DATA = Path(__file__).parent / "data" / "import"


def when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def run(runner, *args: str | Path):
    result = runner.invoke(args=["import", *map(str, args)])
    db.session.expire_all()
    return result


def idea_titled(title: str) -> Idea:
    return db.session.scalars(select(Idea).where(Idea.title == title)).one()


def user(email: str) -> User:
    return db.session.scalars(select(User).where(User.email == email)).one()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def counted_votes(idea: Idea) -> int:
    return db.session.scalar(
        select(func.count()).where(Vote.idea_id == idea.id, Vote.hidden_at.is_(None))
    )


@pytest.fixture
def own_files(tmp_path) -> Path:
    folder = tmp_path / "own"
    shutil.copytree(DATA / "own", folder)
    return folder


# --- The portal's own format -------------------------------------------------------------------


def test_own_format_round_trip_keeps_text_dates_stages_and_threads(
    runner, stages, make_organisation, own_files
):
    acme = make_organisation("Acme", domains=("acme.example",))

    result = run(runner, own_files)

    assert result.exit_code == 0, result.output
    assert "Imported." in result.output
    invoices = idea_titled("Export invoices to PDF")
    assert (
        invoices.problem == "Our accountants print every invoice by hand.\nEach month takes a day."
    )
    assert invoices.solution == "A PDF button on each invoice"
    assert invoices.created_at == when("2023-03-01 10:15:00")
    assert invoices.stage.slug == "planned"
    assert invoices.author.email == "ana.lopez@acme.example"
    assert invoices.author.display_name == "Ana López"
    assert invoices.author.created_at == when("2023-01-05 09:00:00")
    assert invoices.author.organisation_id == acme.id  # by email domain, as sign-up does
    dark = idea_titled("Dark mode for the dashboard")
    assert dark.created_at == when("2023-04-02 08:30:00") and dark.stage.slug == "new"

    # Votes, with their dates, counted as the site counts them.
    assert invoices.vote_count == counted_votes(invoices) == 3
    assert dark.vote_count == counted_votes(dark) == 1
    bo_vote = db.session.scalars(
        select(Vote).where(
            Vote.idea_id == invoices.id, Vote.user_id == user("bo@globex.example").id
        )
    ).one()
    assert bo_vote.created_at == when("2023-03-05 16:00:00")
    backing = db.session.scalars(
        select(IdeaOrganisation).where(IdeaOrganisation.idea_id == invoices.id)
    ).all()
    assert [(b.organisation_id, b.voters) for b in backing] == [(acme.id, 2)]  # ana and cy

    # Comments, the reply under its parent, the count and the latest activity.
    comments = db.session.scalars(
        select(Comment).where(Comment.idea_id == invoices.id).order_by(Comment.created_at)
    ).all()
    assert [c.body for c in comments] == [
        "We need this for our auditors too.",
        "Same here, every quarter.",
    ]
    assert comments[0].created_at == when("2023-03-05 16:05:00")
    assert comments[1].parent_id == comments[0].id
    assert invoices.comment_count == 2
    assert invoices.last_activity_at == when("2023-03-07 09:00:00")
    # Authors, voters and commenters follow, as on the site.
    followers = set(db.session.scalars(select(Follow.user_id).where(Follow.idea_id == invoices.id)))
    assert followers == {
        user("ana.lopez@acme.example").id,
        user("bo@globex.example").id,
        user("cy@acme.example").id,
    }
    audit = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "ideas.imported")
    ).one()
    assert audit_log.describe(audit) == (
        "An operator imported 2 ideas, 4 votes, 2 comments and 3 new accounts from the "
        "portal's own CSV files (flask import)."
    )


def test_new_people_have_no_password_until_they_reset_one(runner, stages, own_files):
    run(runner, own_files)

    person = user("cy@acme.example")
    assert person.display_name == "cy"  # named nowhere: the address's local part
    assert person.password_hash.startswith("$argon2id$")  # as slow to refuse as any account
    assert not verify_password(person.password_hash, "")
    assert not verify_password(person.password_hash, DEFAULT_PASSWORD)
    assert person.email_verified_at is None  # the reset link proves the mailbox


def test_a_new_person_sets_a_password_through_the_reset_link_and_signs_in(
    runner, stages, app, outbox, own_files
):
    run(runner, own_files)
    new_password = "a fresh passphrase of mine"

    app.test_client().post("/password/forgot", data={"email": "Cy@Acme.example"})
    [reset] = [m for m in outbox.to("cy@acme.example") if "Reset" in m["Subject"]]
    path = urlsplit(link_in(reset, "/password/reset/")).path
    assert app.test_client().post(path, data={"password": new_password}).status_code == 302

    signed_in = app.test_client()
    response = signed_in.post(
        "/sign-in", data={"email": "cy@acme.example", "password": new_password}
    )
    assert response.status_code == 302
    assert signed_in.get("/account").status_code == 200
    db.session.expire_all()
    assert user("cy@acme.example").email_verified_at is not None


def test_people_are_merged_by_email_whatever_its_case(runner, stages, make_user, own_files):
    ana = make_user(email="ana.lopez@acme.example", display_name="Ana L")
    hash_before = ana.password_hash

    result = run(runner, own_files)

    assert result.exit_code == 0, result.output
    assert count(User) == 3  # ana (reused), bo (twice in the files, in two cases), cy
    reused = user("ana.lopez@acme.example")
    assert reused.id == ana.id
    assert reused.password_hash == hash_before and reused.display_name == "Ana L"
    assert idea_titled("Export invoices to PDF").author_id == ana.id
    assert " 2 " in result.output.splitlines()[1]  # people: two new
    assert result.output.splitlines()[1].split()[-2] == "1"  # one already here


def test_dry_run_reports_and_writes_nothing(runner, stages, own_files):
    before = database_snapshot()

    result = run(runner, "--dry-run", own_files)

    assert result.exit_code == 0, result.output
    assert database_snapshot() == before
    lines = result.output.splitlines()
    assert lines[1].split()[:2] == ["people", "3"]
    assert lines[2].split()[:2] == ["ideas", "2"]
    assert lines[3].split()[:2] == ["votes", "4"]
    assert lines[4].split()[:2] == ["comments", "2"]
    assert "Dry run: nothing was written." in result.output


def test_second_run_creates_nothing_and_reports_everything_there(runner, stages, own_files):
    run(runner, own_files)
    after_first = database_snapshot()

    again = run(runner, own_files)

    assert again.exit_code == 0, again.output
    assert "Nothing new to import" in again.output
    assert again.output.splitlines()[2].split() == ["ideas", "0", "2", "0", "0"]
    assert again.output.splitlines()[3].split() == ["votes", "0", "4", "0", "0"]
    assert database_snapshot() == after_first
    dry = run(runner, "--dry-run", own_files)
    assert dry.output.splitlines()[1].split() == ["people", "0", "3", "0", "0"]


def test_a_vote_cast_here_before_the_import_counts_once(runner, stages, own_files):
    run(runner, own_files / "people.csv", own_files / "ideas.csv")
    invoices = idea_titled("Export invoices to PDF")

    result = run(runner, own_files)

    assert result.exit_code == 0, result.output
    assert idea_titled("Export invoices to PDF").vote_count == counted_votes(invoices) == 3


# --- Bad rows -------------------------------------------------------------------------------


def test_bad_rows_are_reported_with_file_and_line_and_nothing_is_written(runner, stages, own_files):
    (own_files / "ideas.csv").write_text(
        "id,title,problem,created_at,author_email\n"
        "1,Good idea to import,It helps.,2023-01-01,\n"
        "2,Bad,Title too short.,2023-01-02,left@out.example\n"
        '3,"Another good one","Spans\ntwo lines",next tuesday,\n'
        "4,Fine idea number four,,,\n",
        encoding="utf-8",
    )
    (own_files / "votes.csv").write_text("idea_id,email\n99,zed@example.com\n1,not-an-address\n")
    (own_files / "comments.csv").unlink()
    before = database_snapshot()

    result = run(runner, own_files)

    assert result.exit_code == 1
    assert database_snapshot() == before
    assert "ideas.csv:3: title: Give the idea a title of 5 to 120 characters." in result.output
    assert "ideas.csv:4: “next tuesday” is not a date we can read" in result.output
    assert "votes.csv:2: No idea with the id '99'" in result.output
    assert "votes.csv:3: The voter's address 'not-an-address'" in result.output
    assert "Nothing was written" in result.output

    skipping = run(runner, "--skip-invalid", own_files)

    assert skipping.exit_code == 0, skipping.output
    titles = set(db.session.scalars(select(Idea.title)))
    assert titles == {"Good idea to import", "Fine idea number four"}
    assert count(User) == 2  # ana and bo of people.csv; not the author of the idea left out
    # With no description, the title stands in for the problem the portal asks for.
    assert idea_titled("Fine idea number four").problem == "Fine idea number four"


def test_unknown_file_or_missing_column_is_refused(runner, stages, tmp_path):
    (tmp_path / "posts.csv").write_text("id,title\n1,Something useful\n")
    (tmp_path / "votes.csv").write_text("idea,email\n1,a@example.com\n")

    result = run(runner, tmp_path)

    assert result.exit_code == 1
    assert "posts.csv:1: The portal's own format reads people.csv" in result.output
    assert "votes.csv:1: No column for idea_id." in result.output
    assert count(Idea) == 0


# --- Canny and UserVoice --------------------------------------------------------------------


def test_canny_posts_and_comments(runner, stages, make_user):
    eve = make_user(email="eve@initech.example", display_name="Eve S")

    result = run(runner, "--format", "canny", DATA / "canny")

    assert result.exit_code == 0, result.output
    slack = idea_titled("Slack notifications for new tickets")
    assert slack.problem == "Our support team lives in Slack and misses new tickets."
    assert slack.created_at == datetime(2022, 11, 14, 15, 2, 11, tzinfo=UTC)
    assert slack.stage.slug == "in_progress"
    assert slack.author.display_name == "Dana Fox"
    assert slack.vote_count == counted_votes(slack) == 3
    assert slack.comment_count == 1
    tags = idea_titled("Bulk edit tags")
    assert tags.stage.slug == "shipped" and tags.author_id == eve.id  # Eve@Initech.example
    # Canny counts 5 votes but names one voter: only people can vote here.
    assert tags.vote_count == 1
    assert "posts.csv:3: The export counts 5 votes and names 1 voter" in result.output
    two_factor = idea_titled("Two-factor sign-in")
    assert two_factor.stage.slug == "new"
    assert "posts.csv:4: No stage matches “Awaiting Feedback”: it starts in New." in result.output
    comment = db.session.scalars(select(Comment).where(Comment.idea_id == tags.id)).one()
    assert comment.body == "Shipped and it works great."
    assert comment.created_at == datetime(2023, 2, 1, 9, 30, tzinfo=UTC)
    assert comment.author.email == "dana@initech.example"

    again = run(runner, "--format", "canny", DATA / "canny")
    assert "Nothing new to import" in again.output
    assert count(Idea) == 3 and count(Comment) == 2


def test_uservoice_full_export_with_a_row_per_supporter(runner, stages):
    result = run(runner, "--format", "uservoice", DATA / "uservoice")

    assert result.exit_code == 0, result.output
    offline = idea_titled("Offline mode for the mobile app")
    assert offline.stage.slug == "planned"
    assert offline.created_at == datetime(2021, 6, 1, 9, tzinfo=UTC)
    assert offline.author.email == "gus@hooli.example"
    assert offline.vote_count == counted_votes(offline) == 2
    assert offline.comment_count == 1
    keyboard = idea_titled("Keyboard shortcuts in the editor")
    assert keyboard.stage.slug == "new" and keyboard.vote_count == 1
    records = db.session.scalars(
        select(ImportRecord.external_id).where(
            ImportRecord.source == "uservoice", ImportRecord.kind == "idea"
        )
    )
    assert set(records) == {"5501", "5502"}


def test_same_external_ids_from_two_tools_are_two_ideas(runner, stages, tmp_path):
    (tmp_path / "ideas.csv").write_text("id,title,problem\n5501,Our own idea here,Because.\n")

    run(runner, "--format", "uservoice", DATA / "uservoice")
    result = run(runner, tmp_path)

    assert result.exit_code == 0, result.output
    assert count(Idea) == 3


# --- The rest of the site sees them ---------------------------------------------------------


def test_search_finds_imported_ideas(runner, stages, client, own_files):
    run(runner, own_files)

    found = client.get("/search", query_string={"q": "accountants invoice"})

    assert found.status_code == 200
    assert "Export invoices to PDF" in page_text(found)


def test_board_and_category_options_apply_where_the_file_names_none(
    runner, stages, make_category, own_files
):
    from portal.models import Audience, Board

    db.session.add(Board(name="Roadmap ideas", slug="roadmap", audience=Audience.PUBLIC.value))
    db.session.commit()
    reporting = make_category("Reporting")

    result = run(runner, "--board", "roadmap", "--category", "Reporting", own_files)

    assert result.exit_code == 0, result.output
    invoices = idea_titled("Export invoices to PDF")
    assert invoices.board.slug == "roadmap" and invoices.category_id == reporting.id
    assert run(runner, "--board", "nowhere", own_files).exit_code == 1


# --- Reading ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023-03-01T10:15:00Z", datetime(2023, 3, 1, 10, 15, tzinfo=UTC)),
        ("2023-03-01T12:15:00+02:00", datetime(2023, 3, 1, 10, 15, tzinfo=UTC)),
        ("2023-03-01 10:15:00", datetime(2023, 3, 1, 10, 15, tzinfo=UTC)),
        ("2023-03-01", datetime(2023, 3, 1, tzinfo=UTC)),
        ("03/01/2023 10:15", datetime(2023, 3, 1, 10, 15, tzinfo=UTC)),
        ("", None),
    ],
)
def test_dates_are_read_as_the_tools_write_them(raw, expected):
    assert parse_when(raw) == expected


def test_column_names_are_matched_whatever_their_case_and_separators(app):
    bundle = read_export(
        "canny",
        [
            (
                "export.csv",
                "TITLE;author_email;CREATED-AT;details\nA title here;X@Y.example;2020-01-01;d\n",
            )
        ],
    )
    assert bundle.problems == []
    (idea,) = bundle.ideas
    assert idea.title == "A title here" and idea.author_email == "x@y.example"
    assert idea.created_at == datetime(2020, 1, 1, tzinfo=UTC)


def test_canny_votes_export_names_posts_by_title(runner, stages, tmp_path):
    shutil.copy(DATA / "canny" / "posts.csv", tmp_path / "posts.csv")
    (tmp_path / "votes.csv").write_text(
        "Post Title,Voter Name,Voter Email,Voted At\n"
        "Two-factor sign-in,Gina Park,gina@initech.example,2023-01-21T08:00:00.000Z\n"
        "Two-factor sign-in,Frank Li,FRANK@umbrella.example,2023-01-20T11:45:00.000Z\n"
    )

    result = run(runner, "--format", "canny", tmp_path)

    assert result.exit_code == 0, result.output
    two_factor = idea_titled("Two-factor sign-in")
    assert two_factor.vote_count == counted_votes(two_factor) == 2  # Frank once, and Gina
    gina = db.session.scalars(select(Vote).where(Vote.user_id == user("gina@initech.example").id))
    assert gina.one().created_at == datetime(2023, 1, 21, 8, tzinfo=UTC)


def test_an_odd_voter_address_leaves_out_that_vote_not_the_post(runner, stages, tmp_path):
    (tmp_path / "posts.csv").write_text(
        "Title,Details,Author Email,Voters\n"
        'Webhooks for every event,We poll the API.,kim@soylent.example,"kim@soylent.example, '
        'lee@soylent.example, lee@@broken"\n'
    )

    result = run(runner, "--format", "canny", tmp_path)

    assert result.exit_code == 0, result.output
    assert "posts.csv:2: The voter 'lee@@broken' is left out" in result.output
    assert idea_titled("Webhooks for every event").vote_count == 2


def test_uservoice_supporters_export(runner, stages, tmp_path):
    (tmp_path / "suggestions.csv").write_text(
        "Suggestion ID,Title,Description,Status,Creator Email,Created At,Votes\n"
        "7,Calendar sync both ways,Meetings drift apart.,completed,ivy@hooli.example,"
        "2020-05-05 10:00:00,2\n"
    )
    (tmp_path / "supporters.csv").write_text(
        "Suggestion ID,Email,Name,Created At\n"
        "7,ivy@hooli.example,Ivy,2020-05-05 10:00:00\n"
        "7,jon@hooli.example,Jon,2020-05-06 10:00:00\n"
    )

    result = run(runner, "--format", "uservoice", tmp_path)

    assert result.exit_code == 0, result.output
    calendar = idea_titled("Calendar sync both ways")
    assert calendar.stage.slug == "shipped"
    assert calendar.vote_count == counted_votes(calendar) == 2
    assert "counts 2 votes" not in result.output  # the count and the supporters agree


def test_duplicate_ids_and_replies_in_a_circle_are_problems(runner, stages, tmp_path):
    (tmp_path / "ideas.csv").write_text(
        "id,title\n1,First idea of two\n1,Second with the same id\n"
    )
    (tmp_path / "comments.csv").write_text(
        "id,idea_id,parent_id,body\na,1,b,One\nb,1,a,Two\nc,1,a,Three\n"
    )

    result = run(runner, tmp_path)

    assert result.exit_code == 1
    assert "ideas.csv:3: The id '1' is used at ideas.csv:2 too." in result.output
    assert "comments.csv:2: It replies to the comment" in result.output
    assert count(Idea) == 0 and count(Comment) == 0
