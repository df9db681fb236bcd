"""Full-text search over ideas: ranking, highlighting, junk input, hiding, and staying in sync."""

from __future__ import annotations

import logging

import flask_migrate
import pytest
from markupsafe import Markup
from sqlalchemy import inspect, select, text, update

from portal import create_app, visibility
from portal.extensions import db
from portal.models import Category, Idea
from portal.models.types import utcnow
from portal.services import catalog, highlighting, search

from . import dbutil


@pytest.fixture
def post(app, make_user):
    """post(title, problem, solution) adds an idea row directly, as the search sees it."""
    catalog.install_default_stages()
    db.session.commit()
    stage = catalog.initial_stage()
    author = make_user(display_name="Ada Author")

    def make(
        title: str, problem: str = "", solution: str = "", *, hidden: bool = False, **values
    ) -> Idea:
        idea = Idea(
            title=title,
            problem=problem,
            solution=solution,
            stage=values.pop("stage", stage),
            author=values.pop("author", author),
            hidden_at=utcnow() if hidden else None,
            **values,
        )
        db.session.add(idea)
        db.session.commit()
        return idea

    return make


def titles(page: search.SearchPage) -> list[str]:
    return [hit.idea.title for hit in page.hits]


# Ranking and matching ------------------------------------------------------------------------


def test_title_match_ranks_above_body_match(post):
    in_title = post("Dark mode", "My eyes hurt when I work at night.")
    in_body = post("Night theme", "Please add a dark mode, my eyes hurt.")
    post("Export to Excel", "Finance copies numbers by hand.")

    page = search.search_ideas("dark mode", viewer=None)

    assert [hit.idea.id for hit in page.hits] == [in_title.id, in_body.id]
    assert page.total == 2
    assert page.hits[0].rank > page.hits[1].rank


def test_equally_good_matches_list_the_newest_first(post):
    older = post("Dark mode", "Same text.")
    newer = post("Dark mode", "Same text.")

    page = search.search_ideas("dark mode", viewer=None)

    assert [hit.idea.id for hit in page.hits] == [newer.id, older.id]


def test_every_word_must_match(post):
    post("Dark mode", "For the dashboard.")
    post("Dark mode for reports", "Printing reports in dark colours.")
    post("Faster reports", "Reports take a minute to load.")

    assert titles(search.search_ideas("dark reports", viewer=None)) == ["Dark mode for reports"]


def test_last_word_matches_as_a_prefix_while_typing(post):
    post("Dark mode", "")
    post("Darker charts", "")

    assert titles(search.search_ideas("dark mo", viewer=None)) == ["Dark mode"]
    assert titles(search.search_ideas("Dark Mod", viewer=None)) == ["Dark mode"]
    # Only the last word is a prefix: "mo" followed by more words is a whole word.
    assert titles(search.search_ideas("mo dark", viewer=None)) == []
    # A finished word (a space typed after it) is a whole word too.
    assert titles(search.search_ideas("dark mo ", viewer=None)) == []


def test_words_match_in_other_forms(post):
    post("Export reports to Excel", "")
    post("Import contacts", "")

    assert titles(search.search_ideas("exporting", viewer=None)) == ["Export reports to Excel"]
    assert titles(search.search_ideas("exports report", viewer=None)) == ["Export reports to Excel"]


def test_stop_words_neither_match_everything_nor_block_a_match(post):
    post("Dark mode for the dashboard", "")
    post("The calendar is slow", "")

    assert titles(search.search_ideas("the", viewer=None)) == []
    assert titles(search.search_ideas("the dark mode", viewer=None)) == [
        "Dark mode for the dashboard"
    ]


def test_body_text_and_solution_are_searched(post):
    post("Quicker start", "Opening the app takes a minute.", "Cache the spreadsheet previews.")

    assert titles(search.search_ideas("spreadsheet", viewer=None)) == ["Quicker start"]
    assert titles(search.search_ideas("opening", viewer=None)) == ["Quicker start"]


# Highlighting -------------------------------------------------------------------------------


def test_matched_words_are_marked_and_html_in_ideas_stays_escaped(post):
    post(
        "<script>dark mode</script>",
        'Use a <b onclick="x()">dark</b> palette & "quiet" colours.',
    )

    [hit] = search.search_ideas("dark mode", viewer=None).hits

    assert isinstance(hit.title_html, Markup)
    assert hit.title_html == ("&lt;script&gt;<mark>dark</mark> <mark>mode</mark>&lt;/script&gt;")
    assert isinstance(hit.excerpt_html, Markup)
    assert hit.excerpt_html == (
        "Use a &lt;b onclick=&#34;x()&#34;&gt;<mark>dark</mark>&lt;/b&gt; palette &amp; "
        "&#34;quiet&#34; colours."
    )


def test_text_that_looks_like_match_markers_is_shown_as_written(post):
    title = "Dark \ue000<i>mode\ue001 and \ue002 more"
    post(title, "")

    [hit] = search.search_ideas("dark", viewer=None).hits

    assert hit.title_html == Markup.escape(title)


def test_words_in_angle_brackets_are_plain_words(post):
    post("Support <video> embeds", "Paste a <iframe> from YouTube.")

    [hit] = search.search_ideas("video iframe", viewer=None).hits

    assert hit.title_html == "Support &lt;<mark>video</mark>&gt; embeds"
    assert hit.excerpt_html == "Paste a &lt;<mark>iframe</mark>&gt; from YouTube."


def test_prefixes_and_other_word_forms_are_marked(post):
    post("Exporting dark modes", "We export a lot.")

    [hit] = search.search_ideas("export dark mo", viewer=None).hits

    assert hit.title_html == "<mark>Exporting</mark> <mark>dark</mark> <mark>modes</mark>"
    assert hit.excerpt_html == "We <mark>export</mark> a lot."


def test_excerpt_is_a_short_piece_around_the_first_match(post):
    filler = "Every month our team copies numbers between systems by hand again. " * 8
    post("Automate month end", filler + "A spreadsheet import would save days. " + filler)

    [hit] = search.search_ideas("spreadsheet", viewer=None).hits

    excerpt = str(hit.excerpt_html)
    assert "<mark>spreadsheet</mark> import would save days." in excerpt
    assert excerpt.startswith("…") and excerpt.endswith("…")
    assert len(excerpt) < highlighting.EXCERPT_CHARS + 40
    assert hit.title_html == "Automate month end"


def test_excerpt_comes_from_the_solution_when_only_it_matches(post):
    post("Quicker start", "Opening the app takes a minute.", "Cache the\n\n  spreadsheet previews.")

    [hit] = search.search_ideas("spreadsheet", viewer=None).hits

    assert hit.excerpt_html == "Cache the <mark>spreadsheet</mark> previews."


def test_excerpt_starts_the_problem_when_only_the_title_matches(post):
    post("Spreadsheet import", "Finance copies numbers by hand.", "Read CSV files.")

    [hit] = search.search_ideas("spreadsheet", viewer=None).hits

    assert hit.title_html == "<mark>Spreadsheet</mark> import"
    assert hit.excerpt_html == "Finance copies numbers by hand."


# Junk and hostile input ----------------------------------------------------------------------

JUNK = [
    "",
    "   ",
    '"',
    "'",
    "''",
    "(",
    ")",
    "()",
    "AND",
    "OR",
    "NOT",
    "NEAR",
    "NEAR(a b)",
    "*",
    "**",
    ":",
    "::",
    "-",
    "--",
    "^",
    "&",
    "|",
    "!",
    "<->",
    "':*",
    '"*',
    "\\",
    "%",
    "_",
    "%_%",
    "\x00",
    "\ue000\ue001",
    "🙂",
    "title:",
    "{title problem}:",
    "' OR 1=1 --",
    "'); DROP TABLE ideas; --",
    "a" * 5000,
    "the and of",
]


@pytest.mark.parametrize("junk", JUNK)
def test_junk_search_text_never_raises(post, junk):
    post("Dark mode", "Night theme for the dashboard.")

    page = search.search_ideas(junk, viewer=None)
    similar = search.similar_ideas(junk, viewer=None)
    matches = search.matching_idea_ids(junk, viewer=None)
    ids = db.session.scalars(select(matches.c.idea_id)).all()

    assert page.hits == [] and page.total == 0
    assert similar == []
    assert ids == []
    assert db.session.scalar(select(Idea.title)) == "Dark mode"


@pytest.mark.parametrize(
    "query",
    [
        '"dark mode"',
        "(dark) (mode)",
        "dark* mode*",
        "dark: mode:",
        "-dark -mode",
        "dark AND mode",
        "dark OR mode",
        "dark & mode | !",
        "'dark' 'mode':*",
        "DARK\x00MODE",
        "dark mode " * 300,
    ],
)
def test_query_syntax_in_search_text_is_read_as_words(post, query):
    dark = post("Dark mode", "Night theme for the dashboard.")
    post("Light mode", "")

    page = search.search_ideas(query, viewer=None)

    # Every word must match, so "Light mode" never does: "OR" is a (stop) word, not an operator.
    assert [hit.idea.id for hit in page.hits] == [dark.id]


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (-5, -5), (10**9, 0), (20, 10**9)])
def test_out_of_range_paging_never_raises(post, limit, offset):
    post("Dark mode", "")

    page = search.search_ideas("dark", limit=limit, offset=offset, viewer=None)

    assert page.total == 1
    assert len(page.hits) == (0 if offset > 0 else 1)


# Hidden ideas --------------------------------------------------------------------------------


def test_hidden_ideas_never_appear(post):
    visible = post("Dark mode", "")
    post("Dark mode please", "", hidden=True)

    page = search.search_ideas("dark mode", viewer=None)
    assert [hit.idea.id for hit in page.hits] == [visible.id]
    assert page.total == 1

    assert [idea.id for idea in search.similar_ideas("dark mode", viewer=None)] == [visible.id]

    matches = search.matching_idea_ids("dark mode", viewer=None)
    assert db.session.scalars(select(matches.c.idea_id)).all() == [visible.id]


def test_hidden_ideas_are_not_counted_when_paging_past_the_end(post):
    post("Dark mode", "")
    post("Dark mode please", "", hidden=True)

    page = search.search_ideas("dark", offset=5, viewer=None)

    assert page.hits == [] and page.total == 1


# Many matches: only the newest are ranked ------------------------------------------------------


def test_only_the_newest_matches_are_ranked_and_older_ones_follow_newest_first(post, monkeypatch):
    monkeypatch.setattr(search, "RANKED_MATCHES", 3)
    oldest_title_match = post("Dark mode", "")
    body = [post(f"Idea {n}", "Please add a dark mode.", "A dark mode.") for n in range(3)]
    newest_title_match = post("Dark mode", "")

    page = search.search_ideas("dark mode", viewer=None)

    # The three newest ranked (the title match first), then the two older ones, newest first.
    assert [hit.idea.id for hit in page.hits] == [
        newest_title_match.id,
        body[2].id,
        body[1].id,
        body[0].id,
        oldest_title_match.id,
    ]
    assert page.total == 5


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 7])
def test_pages_across_the_ranked_matches_list_every_visible_match_once(post, monkeypatch, limit):
    monkeypatch.setattr(search, "RANKED_MATCHES", 4)
    ideas = [post(f"Report {n}", "Reports for finance.", hidden=n in (2, 7, 8)) for n in range(10)]
    visible = [idea.id for idea in ideas if idea.hidden_at is None]

    seen, totals = [], set()
    for offset in range(0, 12, limit):
        page = search.search_ideas("report", viewer=None, limit=limit, offset=offset)
        seen += [hit.idea.id for hit in page.hits]
        totals.add(page.total)

    assert sorted(seen) == sorted(visible)  # each exactly once
    assert totals == {len(visible)}
    # The newest four matches (two of them hidden) are ranked; the rest follow newest first.
    assert seen[2:] == sorted(visible, reverse=True)[2:]


# Staying in sync -----------------------------------------------------------------------------


def test_edited_ideas_are_found_by_their_new_words_only(post):
    idea = post("Dark mode", "Night theme.", "Invert colours.")

    idea.title = "Light theme"
    idea.problem = "Daylight glare."
    idea.solution = "Brighter colours."
    db.session.commit()

    assert titles(search.search_ideas("dark", viewer=None)) == []
    assert titles(search.search_ideas("invert", viewer=None)) == []
    assert titles(search.search_ideas("light theme", viewer=None)) == ["Light theme"]
    assert titles(search.search_ideas("glare brighter", viewer=None)) == ["Light theme"]
    [hit] = search.search_ideas("light", viewer=None).hits
    assert hit.title_html == "<mark>Light</mark> theme"


def test_counter_updates_leave_the_search_intact(post):
    idea = post("Dark mode", "")

    db.session.execute(
        update(Idea).where(Idea.id == idea.id).values(vote_count=Idea.vote_count + 1)
    )
    db.session.commit()

    assert titles(search.search_ideas("dark", viewer=None)) == ["Dark mode"]


def test_deleted_ideas_disappear_from_search(post):
    gone = post("Dark mode", "")
    kept = post("Dark theme", "")

    db.session.delete(gone)
    db.session.commit()

    assert [hit.idea.id for hit in search.search_ideas("dark", viewer=None).hits] == [kept.id]
    assert [idea.id for idea in search.similar_ideas("dark mode", viewer=None)] == [kept.id]


# Similar ideas while typing a title ----------------------------------------------------------


def test_similar_ideas_match_any_word_best_first(post):
    both = post("Export reports to Excel", "")
    excel = post("Excel add-in", "")
    export = post("Export to PDF", "")
    post("Dark mode", "")

    found = search.similar_ideas("Exporting to Excel", viewer=None)

    assert found[0].id == both.id
    assert {idea.id for idea in found} == {both.id, excel.id, export.id}


def test_similar_ideas_match_the_last_word_as_a_prefix(post):
    post("Dark mode", "")
    post("Calendar sync", "")

    assert [idea.title for idea in search.similar_ideas("calen", viewer=None)] == ["Calendar sync"]
    assert [idea.title for idea in search.similar_ideas("night mo", viewer=None)] == ["Dark mode"]


def test_similar_ideas_are_at_most_five_and_skip_the_idea_being_edited(post):
    ideas = [post(f"Dark mode number {n}", "") for n in range(7)]

    found = search.similar_ideas("dark mode", viewer=None)
    assert len(found) == 5

    assert len(search.similar_ideas("dark mode", limit=2, viewer=None)) == 2
    without = search.similar_ideas("dark mode", limit=10, exclude_id=ideas[3].id, viewer=None)
    assert {idea.id for idea in without} == {idea.id for idea in ideas} - {ideas[3].id}


@pytest.mark.parametrize("typed", ["", "d", "da", " da ", "the", "a an", "x y"])
def test_similar_ideas_wait_for_a_meaningful_word(post, typed):
    post("Dark mode", "")
    post("The A team", "")
    post("X and Y axes", "")

    assert search.similar_ideas(typed, viewer=None) == []


# Combining with list filters -----------------------------------------------------------------


def test_matching_ids_combine_with_other_filters_and_order_by_rank(post):
    planned = catalog.stage_by_slug("planned")
    best = post("Dark mode", "Dark dashboard.", stage=planned)
    good = post("Night theme", "Add a dark mode.", stage=planned)
    post("Dark mode", "In the wrong stage.")

    matches = search.matching_idea_ids("dark mode", viewer=None)
    found = db.session.scalars(
        select(Idea)
        .join(matches, matches.c.idea_id == Idea.id)
        .where(Idea.stage_id == planned.id)
        .order_by(matches.c.rank.desc(), Idea.id.desc())
    ).all()

    assert [idea.id for idea in found] == [best.id, good.id]


# Cost ----------------------------------------------------------------------------------------


def test_a_page_of_results_costs_the_same_few_queries_whatever_its_length(
    app, post, make_user, count_queries
):
    stages = catalog.stages()
    for n in range(25):
        post(
            f"Dark mode idea {n}",
            f"Problem {n} with dark screens.",
            author=make_user(display_name=f"Author {n}"),
            stage=stages[n % 4],
            category=Category(name=f"Area {n}"),
        )
    db.session.expire_all()
    # In a request, as on the site: the boards are read once per request, then the counts.
    with app.test_request_context():
        visibility.visible_board_ids(None)

        def show(page):
            return [
                (hit.idea.author.display_name, hit.idea.stage.name, hit.idea.category.name)
                for hit in page.hits
            ] + [(str(hit.title_html), str(hit.excerpt_html)) for hit in page.hits]

        with count_queries() as small:
            show(search.search_ideas("dark mode", limit=2, viewer=None))
        with count_queries() as full:
            page = search.search_ideas("dark mode", limit=20, viewer=None)
            show(page)
        with count_queries() as last:
            rest = search.search_ideas("dark mode", limit=20, offset=20, viewer=None)
            show(rest)

        assert len(page.hits) == 20 and page.total == 25
        assert len(rest.hits) == 5 and rest.total == 25
        # Where the ranked matches begin, the count, the ranked ids, the ideas, the marks.
        assert full.count == small.count == last.count == 5, full.statements


def test_similar_ideas_cost_one_query(app, post, count_queries):
    for n in range(5):
        post(f"Dark mode {n}", "")
    db.session.expire_all()
    # In a request, as on the site: the boards are read once per request, then the counts.
    with app.test_request_context():
        visibility.visible_board_ids(None)

        with count_queries() as q:
            found = search.similar_ideas("dark mode", viewer=None)
            [(idea.author.display_name, idea.stage.name) for idea in found]

        assert len(found) == 5
        assert q.count == 1, q.statements


@pytest.mark.skipif(dbutil.backend() != "postgresql", reason="PostgreSQL's GIN index")
def test_postgresql_search_uses_the_gin_index(post):
    post("Dark mode", "")
    matches = search.matching_idea_ids("dark mo", viewer=None)
    compiled = select(matches.c.idea_id).compile(dialect=db.engine.dialect)

    # Neither a whole-table scan nor a walk of another index (the planner's costs follow the
    # statistics earlier tests left on the table): the words can then only be found through it.
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    db.session.execute(text("SET LOCAL enable_indexscan = off"))
    plan = db.session.connection().exec_driver_sql("EXPLAIN " + compiled.string, compiled.params)

    assert "ix_ideas_search" in "\n".join(row[0] for row in plan)


# The migration -------------------------------------------------------------------------------


@pytest.fixture
def migrated_app(tmp_path, monkeypatch):
    """An app on an empty database, migrated to just before search was added."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    with dbutil.fresh_database(tmp_path, "search") as url:
        monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "search-migration-test",
                "SQLALCHEMY_DATABASE_URI": url,
                "RATELIMIT_STORAGE_URI": "memory://",
            }
        )
        with app.app_context():
            flask_migrate.upgrade(revision="9e2c854c8e7f")
            yield app
            db.session.remove()
            db.engine.dispose()
    root.handlers[:] = handlers
    root.setLevel(level)


def insert_idea_row(title: str) -> None:
    stage_id = db.session.scalar(text("SELECT id FROM stages WHERE slug = 'new'"))
    # From migration b17a0a1b2c01 on, every idea names its board (the one it made).
    columns = {c["name"] for c in inspect(db.session.connection()).get_columns("ideas")}
    board = ("board_id, ", "1, ") if "board_id" in columns else ("", "")
    db.session.execute(
        text(
            f"INSERT INTO ideas ({board[0]}title, problem, solution, stage_id, is_team_concept,"
            " created_at, last_activity_at, vote_count, comment_count, trending_score) VALUES"
            f" ({board[1]}:title, 'A problem.', '', :stage_id, false, CURRENT_TIMESTAMP,"
            " CURRENT_TIMESTAMP, 0, 0, 0)"
        ),
        {"title": title, "stage_id": stage_id},
    )
    db.session.commit()


def search_structures() -> set[str]:
    """The FTS5 tables and triggers on SQLite, the GIN index on PostgreSQL."""
    inspector = inspect(db.engine)
    names = set(inspector.get_table_names())
    names |= {index["name"] for index in inspector.get_indexes("ideas")}
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as conn:
            names |= set(
                conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                .scalars()
                .all()
            )
    return {name for name in names if name.startswith("ideas_fts") or name == "ix_ideas_search"}


def test_migration_indexes_existing_ideas_and_downgrade_removes_search(migrated_app):
    insert_idea_row("Dark mode from before search")

    flask_migrate.upgrade()
    assert search_structures()
    insert_idea_row("Dark mode after search")
    assert titles(search.search_ideas("dark mode", viewer=None)) == [
        "Dark mode after search",
        "Dark mode from before search",
    ]

    db.session.rollback()  # end the read, so the migration can take SQLite's write lock
    flask_migrate.downgrade(revision="9e2c854c8e7f")
    assert search_structures() == set()
    insert_idea_row("Dark mode without search")  # no trigger left behind

    flask_migrate.upgrade()
    assert len(search.search_ideas("dark mode", viewer=None).hits) == 3


def test_past_the_matches_a_page_can_reach_the_count_says_more_than(client, post, monkeypatch):
    """Counting every match of a common word cost most of a search; the page reaches only so far,
    so past COUNTED_MATCHES it says "more than", and every page up to there is still right."""
    monkeypatch.setattr(search, "COUNTED_MATCHES", 4)
    for n in range(6):
        post(f"Dark mode idea {n}", f"Problem {n} with dark screens.")
    page = search.search_ideas("dark mode", limit=2, viewer=None)
    assert page.total == 5, "counted up to one more than the limit"
    everything = [
        hit.idea.title
        for offset in (0, 2, 4)
        for hit in search.search_ideas("dark mode", limit=2, offset=offset, viewer=None).hits
    ]
    assert sorted(everything) == [f"Dark mode idea {n}" for n in range(6)]
