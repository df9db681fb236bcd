"""The load benchmark's data set (bench/dataset.py) holds what the app itself would have written.

The builder runs as `make bench` runs it, in a subprocess, on a private database of the backend
under test; the checks then read the rows back and recompute every counter the app keeps.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from portal import create_app, visibility
from portal.extensions import db
from portal.models import (
    Board,
    Comment,
    Follow,
    Idea,
    Organisation,
    Stage,
    StageChange,
    User,
    Vote,
)
from portal.models.idea import SQLITE_SEARCH_DDL
from portal.models.types import UTCDateTime, utcnow
from portal.services import catalog, ideas, search, trending, votes
from portal.services.passwords import verify_password

from . import dbutil
from .conftest import IsolatedClient, sign_in_client
from .helpers import organisation_backing
from .servers import ROOT, server_environment

pytestmark = pytest.mark.slow

IDEAS = 300
STAGE_SHARES = {
    "new": 0.35,
    "under_review": 0.25,
    "planned": 0.10,
    "in_progress": 0.07,
    "shipped": 0.12,
    "declined": 0.08,
    "merged": 0.03,
}


@dataclass
class Build:
    url: str
    manifest_path: Path
    manifest: dict


def run_builder(url: str, manifest: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "dataset.py"), "--database-url", url,
         "--manifest", str(manifest), *args],
        cwd=ROOT,
        env=server_environment(**env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory, worker_id) -> Iterator[Build]:
    folder = tmp_path_factory.mktemp("bench-dataset")
    with dbutil.fresh_database(folder, f"bench{worker_id}") as url:
        manifest_path = folder / "manifest.json"
        result = run_builder(url, manifest_path, "--ideas", str(IDEAS))
        assert result.returncode == 0, result.stderr
        yield Build(url, manifest_path, json.loads(manifest_path.read_text()))


def app_on(url: str) -> Flask:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench-dataset-test",
            "SQLALCHEMY_DATABASE_URI": url,
            "RATELIMIT_STORAGE_URI": "memory://",
            "REDIS_URL": None,
            "MAIL_DELIVERY": "inline",
        }
    )
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture
def bench_app(built, tmp_path, monkeypatch) -> Iterator[Flask]:
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app = app_on(built.url)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def all_of(model) -> list:
    return list(db.session.scalars(select(model)).unique())


def stages_by_id() -> dict[int, Stage]:
    return {stage.id: stage for stage in catalog.stages()}


def table_count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- What was built -------------------------------------------------------------------------


def test_counts_follow_the_number_of_ideas(built, bench_app):
    people = IDEAS // 5
    assert table_count(Idea) == IDEAS
    assert table_count(User) == people
    assert table_count(Organisation) == max(1, IDEAS // 200)
    assert table_count(Vote) == IDEAS * 10
    assert table_count(Comment) == IDEAS * 3
    assert built.manifest["counts"]["ideas"] == IDEAS
    assert built.manifest["counts"]["votes"] == table_count(Vote)
    assert built.manifest["counts"]["follows"] == table_count(Follow)
    assert built.manifest["counts"]["stage_changes"] == table_count(StageChange)
    team = round(people * 0.02)
    roles = Counter(user.role for user in all_of(User))
    assert roles == {"admin": 1, "product_manager": team, "customer": people - 1 - team}


def test_people_are_verified_and_customers_belong_to_their_email_domains(built, bench_app):
    users = all_of(User)
    year_ago = utcnow() - timedelta(days=366)
    for user in users:
        assert user.email_verified_at is not None and user.guidelines_accepted_at is not None
        assert year_ago < user.created_at <= user.email_verified_at <= utcnow()
        assert user.suspended_at is None
    org_domains = {org.id: {d.domain for d in org.domains} for org in all_of(Organisation)}
    every_org_domain = set().union(*org_domains.values())
    customers = [user for user in users if user.role == "customer"]
    in_org = [user for user in customers if user.organisation_id is not None]
    assert 0.75 < len(in_org) / len(customers) < 0.95
    for user in customers:
        domain = user.email.partition("@")[2]
        if user.organisation_id is None:
            assert domain not in every_org_domain
        else:
            assert domain in org_domains[user.organisation_id]
    assert all(not user.organisation_id for user in users if user.role != "customer")
    assert len({user.password_hash for user in users}) == 1
    assert verify_password(users[0].password_hash, built.manifest["password"])


def test_stages_spread_as_planned_with_a_team_note_for_every_move(bench_app):
    stages = stages_by_id()
    all_ideas = all_of(Idea)
    shares = Counter(stages[idea.stage_id].slug for idea in all_ideas)
    for slug, share in STAGE_SHARES.items():
        assert shares[slug] / IDEAS == pytest.approx(share, abs=0.02), slug
    team = {user.id for user in all_of(User) if user.role != "customer"}
    moves = defaultdict(list)
    for change in db.session.scalars(
        select(StageChange).order_by(StageChange.created_at, StageChange.id)
    ).unique():
        moves[change.idea_id].append(change)
    for idea in all_ideas:
        history = moves[idea.id]
        if stages[idea.stage_id].slug == "new":
            assert history == []
            continue
        assert history[0].from_stage_id == catalog.stage_by_slug("new").id
        assert [c.to_stage_id for c in history[:-1]] == [c.from_stage_id for c in history[1:]]
        assert history[-1].to_stage_id == idea.stage_id
        assert all(len(c.note) >= 20 and c.actor_id in team for c in history)
        assert idea.created_at < history[0].created_at
        assert idea.first_response_at is not None


def test_response_dates_follow_the_last_answer_and_some_are_overdue(bench_app):
    stages = stages_by_id()
    team = {user.id for user in all_of(User) if user.role != "customer"}
    answers = defaultdict(list)
    for change in all_of(StageChange):
        answers[change.idea_id].append(change.created_at)
    for comment in all_of(Comment):
        if comment.author_id in team:
            answers[comment.idea_id].append(comment.created_at)
    overdue = 0
    for idea in all_of(Idea):
        stage = stages[idea.stage_id]
        times = answers[idea.id]
        assert idea.first_response_at == (min(times) if times else None)
        if stage.is_closed:
            assert idea.response_due_at is None
        else:
            expected = max([idea.created_at, *times]) + timedelta(days=stage.response_days)
            assert idea.response_due_at == expected
            overdue += expected < utcnow()
    assert 0 < overdue < IDEAS * 0.5


def test_merged_ideas_point_at_open_ideas_and_gave_them_their_votes(bench_app):
    stages = stages_by_id()
    by_id = {idea.id: idea for idea in all_of(Idea)}
    merged = [idea for idea in by_id.values() if stages[idea.stage_id].slug == "merged"]
    assert merged
    voted = {(v.idea_id, v.user_id) for v in all_of(Vote)}
    for idea in by_id.values():
        if idea in merged:
            target = by_id[idea.merged_into_id]
            assert not stages[target.stage_id].is_closed and target.merged_into_id is None
            assert idea.vote_count == 0
            assert (target.id, idea.author_id) in voted  # the author's vote moved there
        else:
            assert idea.merged_into_id is None


def test_counters_are_what_the_app_would_have_kept(bench_app):
    """vote_count, comment_count, trending_score and last_activity_at, recomputed from rows."""
    weight = trending.weight_at
    events = defaultdict(list)  # idea id: (time, trending weight)
    visible = Counter()
    vote_counts = Counter()
    for vote in all_of(Vote):
        vote_counts[vote.idea_id] += 1
        events[vote.idea_id].append(
            (vote.created_at, weight(trending.VOTE_WEIGHT, vote.created_at))
        )
    activity = defaultdict(list)
    for comment in all_of(Comment):
        w = weight(trending.COMMENT_WEIGHT, comment.created_at)
        events[comment.idea_id].append((comment.created_at, w))
        activity[comment.idea_id].append(comment.created_at)
        visible[comment.idea_id] += comment.deleted_at is None and comment.hidden_at is None
    merged = catalog.stage_by_slug("merged").id
    all_ideas = {idea.id: idea for idea in all_of(Idea)}
    for change in all_of(StageChange):
        activity[change.idea_id].append(change.created_at)
        if change.to_stage_id == merged:  # votes are not activity, but merges are
            activity[all_ideas[change.idea_id].merged_into_id].append(change.created_at)
    for idea in all_ideas.values():
        assert idea.vote_count == vote_counts[idea.id]
        assert idea.comment_count == visible[idea.id]
        assert idea.last_activity_at == max([idea.created_at, *activity[idea.id]])
        score = weight(trending.IDEA_WEIGHT, idea.created_at) + sum(w for _, w in events[idea.id])
        if idea.merged_into_id is None:
            assert idea.trending_score == pytest.approx(score, rel=1e-9)
        else:  # it keeps what the votes that moved away gave it
            assert idea.trending_score >= score * (1 - 1e-9)
    kept, recounted = organisation_backing()
    assert kept and kept == recounted


def test_votes_are_unique_and_every_voter_and_commenter_follows(bench_app):
    all_votes = all_of(Vote)
    assert len({(v.idea_id, v.user_id) for v in all_votes}) == len(all_votes)
    follows = {(f.idea_id, f.user_id): f.created_at for f in all_of(Follow)}
    users = {user.id: user for user in all_of(User)}
    by_id = {idea.id: idea for idea in all_of(Idea)}
    for vote in all_votes:
        idea = by_id[vote.idea_id]
        # Votes moved by a merge keep their time; their voters follow from the merge on.
        assert (vote.idea_id, vote.user_id) in follows
        assert vote.created_at >= max(idea.created_at, users[vote.user_id].created_at)
        assert vote.created_at <= utcnow()
    for comment in all_of(Comment):
        assert follows[(comment.idea_id, comment.author_id)] <= comment.created_at
    own_votes = {(v.idea_id, v.user_id): v.created_at for v in all_votes}
    for idea in by_id.values():
        if idea.merged_into_id is None:
            assert own_votes[(idea.id, idea.author_id)] == idea.created_at
    # A long tail: most ideas have fewer votes than the mean of 10, a few many times more (on
    # this small set only 58 customers can vote; at 100,000 ideas the top has thousands).
    counts = sorted(idea.vote_count for idea in by_id.values())
    assert counts[len(counts) // 2] < 10 and counts[-1] > 20


def test_votes_on_closed_ideas_came_before_they_closed(bench_app):
    stages = stages_by_id()
    closed_at = {}
    for change in all_of(StageChange):
        if stages[change.to_stage_id].is_closed:
            closed_at[change.idea_id] = change.created_at
    for vote in all_of(Vote):
        if vote.idea_id in closed_at:
            assert vote.created_at <= closed_at[vote.idea_id]


def test_replies_are_one_level_deep_on_the_same_idea(bench_app):
    comments = {c.id: c for c in all_of(Comment)}
    replies = [c for c in comments.values() if c.parent_id is not None]
    assert replies
    for reply in replies:
        parent = comments[reply.parent_id]
        assert parent.parent_id is None
        assert parent.idea_id == reply.idea_id
        assert parent.created_at <= reply.created_at and parent.id < reply.id
    team = {user.id for user in all_of(User) if user.role != "customer"}
    official = [c for c in comments.values() if c.is_official]
    assert official and all(c.author_id in team and c.deleted_at is None for c in official)
    assert max(Counter(c.idea_id for c in official).values()) == 1
    assert any(c.hidden_at and c.hidden_reason for c in comments.values())
    assert any(c.deleted_at for c in comments.values())


def test_the_benchmark_idea_is_open_with_exactly_50_visible_comments(built, bench_app):
    idea = db.session.get(Idea, built.manifest["benchmark_idea_id"])
    assert idea.voting_open and idea.merged_into_id is None
    comments = all_of(Comment)
    own = [c for c in comments if c.idea_id == idea.id]
    assert sum(c.deleted_at is None and c.hidden_at is None for c in own) == 50
    assert len(own) > 50  # hidden and deleted ones too, which must not count
    assert idea.comment_count == 50


def test_search_finds_the_manifest_word_in_many_ideas(built, bench_app):
    found = search.search_ideas(built.manifest["search_word"], viewer=None)
    assert found.total == built.manifest["search_matches"]
    assert found.total > IDEAS / 10


def test_sign_in_customers_can_vote_for_their_idea(built, bench_app):
    customers = built.manifest["customers"]
    assert len(customers) == 20 and len({c["email"] for c in customers}) == 20
    for entry in customers:
        user = db.session.scalar(select(User).where(User.email == entry["email"]))
        assert user.role == "customer"
        idea = db.session.get(Idea, entry["vote_idea_id"])
        assert idea.voting_open and idea.merged_into_id is None
        assert not votes.has_voted(idea, user)


def test_ideas_are_spread_over_the_boards(built, bench_app):
    """Most on the default public board, a fifth on a second public one, a twentieth private;
    a merged idea sits with the idea it was merged into; the benchmark idea on the default one."""
    by_id = {idea.id: idea for idea in all_of(Idea)}
    on = Counter(idea.board_id for idea in by_id.values())
    assert on[1] / IDEAS == pytest.approx(0.75, abs=0.07)
    assert on[2] / IDEAS == pytest.approx(0.20, abs=0.06)
    assert on[3] / IDEAS == pytest.approx(0.05, abs=0.04) and on[3] > 0
    assert {b["id"]: b["ideas"] for b in built.manifest["boards"]} == dict(on)
    boards = {board.id: board for board in all_of(Board)}
    assert [boards[i].audience for i in (1, 2, 3)] == ["public", "public", "private"]
    assert [o.id for o in boards[3].organisations] == [
        built.manifest["private_board"]["organisation_id"]
    ]
    assert by_id[built.manifest["benchmark_idea_id"]].board_id == 1
    for idea in by_id.values():
        if idea.merged_into_id is not None:
            assert idea.board_id == by_id[idea.merged_into_id].board_id


def test_the_private_board_is_seen_by_its_organisation_and_the_team_only(built, bench_app):
    """Asked of portal.visibility, the one rule: the manifest's members see all three boards,
    its outsiders and visitors the two public ones, and the app lists the ideas accordingly."""
    board = built.manifest["private_board"]
    organisation = board["organisation_id"]

    def person(entry: dict) -> User:
        return db.session.scalar(select(User).where(User.email == entry["email"]))

    members = [person(entry) for entry in board["members"]]
    outsiders = [person(entry) for entry in board["outsiders"]]
    assert members and outsiders
    assert all(user.organisation_id == organisation for user in members)
    assert all(user.organisation_id != organisation for user in outsiders)
    for user in members:
        visibility.forget()
        assert visibility.visible_board_ids(user) is None  # every board
    for user in [*outsiders, None]:
        visibility.forget()
        assert visibility.visible_board_ids(user) == {1, 2}
    seeing = set(
        db.session.scalars(select(User.id).where(visibility.recipients_clause(board["id"])))
    )
    expected = {
        user.id
        for user in all_of(User)
        if user.role != "customer" or user.organisation_id == organisation
    }
    assert seeing == expected
    private_ideas = table_count(Idea) - sum(
        b["ideas"] for b in built.manifest["boards"] if b["audience"] == "public"
    )
    visibility.forget()
    for user, hidden_from_them in ((members[0], 0), (outsiders[0], private_ideas)):
        listed = db.session.scalar(
            select(func.count()).select_from(Idea).where(visibility.listed(user))
        )
        assert listed == table_count(Idea) - hidden_from_them
    # Their vote ideas are on public boards, so either may vote for theirs.
    for entry in [*board["members"], *board["outsiders"], *built.manifest["customers"]]:
        assert db.session.get(Idea, entry["vote_idea_id"]).board_id != board["id"]


def test_the_app_serves_the_busy_pages(built, bench_app):
    client = bench_app.test_client()
    idea = db.session.get(Idea, built.manifest["benchmark_idea_id"])
    assert client.get("/").status_code == 200
    page = client.get(f"/ideas/{idea.id}")
    assert page.status_code == 200 and idea.title in page.text
    found = client.get("/search", query_string={"q": built.manifest["search_word"]})
    assert found.status_code == 200 and "<mark>" in found.text
    customer = db.session.scalar(
        select(User).where(User.email == built.manifest["customers"][0]["email"])
    )
    sign_in_client(client, customer)
    home = client.get("/")
    assert home.status_code == 200 and customer.display_name in home.text


def test_sqlite_times_are_stored_as_the_app_stores_them(bench_app):
    """Times are compared as text on SQLite: the builder's must look exactly like the app's."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL stores timestamps, not text")
    shape = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")
    checked = 0
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, UTCDateTime):
                stored = db.session.scalars(
                    text(f"SELECT {column.name} FROM {table.name} WHERE {column.name} IS NOT NULL")
                ).all()
                assert all(shape.fullmatch(value) for value in stored), column
                checked += len(stored)
    assert checked > IDEAS * 10


# --- Safety and reuse -------------------------------------------------------------------------


def test_refuses_to_write_into_a_database_with_people_or_ideas(built):
    before = built.manifest_path.read_text()
    result = run_builder(built.url, built.manifest_path, "--ideas", str(IDEAS))
    assert result.returncode == 2
    assert "--replace" in result.stderr
    assert built.manifest_path.read_text() == before


def test_reuse_keeps_a_build_of_the_same_size_only(built):
    before = built.manifest_path.read_text()
    same = run_builder(built.url, built.manifest_path, "--ideas", str(IDEAS), "--reuse")
    assert same.returncode == 0 and "Reusing" in same.stdout
    other = run_builder(built.url, built.manifest_path, "--ideas", str(IDEAS + 1), "--reuse")
    assert other.returncode == 2  # not a match: a rebuild, which needs --replace
    assert built.manifest_path.read_text() == before


@pytest.mark.parametrize(
    "change", [{"scale": {"ideas": IDEAS - 1}}, {"database_url": "sqlite:////elsewhere.sqlite3"}]
)
def test_reuse_needs_a_manifest_of_this_database_and_size(built, tmp_path, change):
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(built.manifest | change))
    result = run_builder(built.url, stale, "--ideas", str(IDEAS), "--reuse")
    assert result.returncode == 2 and "Reusing" not in result.stdout


def test_replace_empties_the_database_and_the_app_keeps_working_on_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    manifest = tmp_path / "manifest.json"
    with dbutil.fresh_database(tmp_path, "benchreplace") as url:
        assert run_builder(url, manifest, "--ideas", "100").returncode == 0
        app = app_on(url)
        with app.app_context():
            db.session.execute(
                text("UPDATE users SET display_name = 'Left from before' WHERE id = 1")
            )
            db.session.commit()
            db.session.remove()
            db.engine.dispose()

        result = run_builder(url, manifest, "--ideas", "120", "--replace", BENCH_PASSWORD="pw-x")
        assert result.returncode == 0, result.stderr
        assert json.loads(manifest.read_text())["password"] == "pw-x"
        with app.app_context():
            assert table_count(Idea) == 120
            assert db.session.get(User, 1).display_name != "Left from before"
            if db.engine.dialect.name == "sqlite":
                # The search triggers were dropped for the load and made again as defined.
                made = db.session.scalars(
                    text("SELECT sql FROM sqlite_master WHERE type = 'trigger'")
                ).all()
                defined = [s for s in SQLITE_SEARCH_DDL if s.startswith("CREATE TRIGGER")]
                assert sorted(made) == sorted(defined)
            # New rows get fresh ids (PostgreSQL's sequences moved past the loaded ones) and
            # are found by search.
            author = db.session.scalar(select(User).where(User.role == "customer"))
            idea = ideas.submit_idea(
                author=author,
                title="Zeppelin mooring schedule",
                problem="Our airships need a mooring calendar.",
                category_id=1,
            )
            db.session.commit()
            assert idea.id == 121
            assert [h.idea.id for h in search.search_ideas("zeppelin", viewer=None).hits] == [
                idea.id
            ]
            db.session.remove()
            db.engine.dispose()
