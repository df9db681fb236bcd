"""The search page: ranked, marked results, counts, paging, hidden ideas, junk input, header box."""

from __future__ import annotations

import html
import re

import pytest
from markupsafe import escape

from portal.extensions import db
from portal.models import Idea
from portal.models.types import utcnow
from portal.services import catalog


@pytest.fixture
def post(app, stages, make_user):
    """post(title, problem) adds an idea row directly, as the search sees it."""
    author = make_user(display_name="Ada Author")
    stage = catalog.initial_stage()

    def make(title: str, problem: str = "Some problem.", *, hidden: bool = False) -> Idea:
        idea = Idea(
            title=title,
            problem=problem,
            solution="",
            stage=stage,
            author=author,
            hidden_at=utcnow() if hidden else None,
        )
        db.session.add(idea)
        db.session.commit()
        return idea

    return make


def search(client, q=None, **params):
    if q is not None:
        params["q"] = q
    return client.get("/search", query_string=params)


def result_ids(response) -> list[int]:
    results = re.search(r'<ol class="search-results".*?</ol>', response.text, re.S)
    if results is None:
        return []
    return [
        int(i)
        for i in re.findall(
            r'<h2 class="idea-card__title"><a href="/ideas/(\d+)"', results.group(0)
        )
    ]


def result_count_text(response) -> str | None:
    match = re.search(r'<p class="result-count"[^>]*>(.*?)</p>', response.text, re.S)
    return html.unescape(match.group(1)) if match else None


# ---------------------------------------------------------------------------------------------
# Results


def test_results_are_ranked_with_matched_words_marked(client, post):
    in_title = post("Dark mode", "My eyes hurt when I work at night.")
    in_body = post("Night theme", "Please add a dark mode, my eyes hurt.")
    post("Export to Excel", "Finance copies numbers by hand.")

    response = search(client, "dark mode")

    assert response.status_code == 200
    assert result_ids(response) == [in_title.id, in_body.id]
    assert (
        f'<a href="/ideas/{in_title.id}"><mark>Dark</mark> <mark>mode</mark></a>' in response.text
    )
    assert "add a <mark>dark</mark> <mark>mode</mark>, my eyes hurt." in response.text
    assert "Export to Excel" not in response.text


def test_result_count_says_how_many_ideas_match(client, post):
    post("Dark mode", "Eyes.")
    post("Dark mode for reports", "Printing.")
    assert result_count_text(search(client, "dark mode")) == "2 ideas match “dark mode”."
    assert result_count_text(search(client, "excel")) == "0 ideas match “excel”."


def test_result_count_is_singular_for_one_idea(client, post):
    post("Dark mode", "Eyes.")
    assert result_count_text(search(client, "dark")) == "1 idea matches “dark”."


def test_no_results_suggests_sharing_a_new_idea(client, post):
    post("Dark mode", "Eyes.")
    response = search(client, "spreadsheet")
    assert result_ids(response) == []
    assert "Nothing matches." in response.text
    assert 'href="/ideas/new"' in response.text


@pytest.mark.parametrize("q", [None, "", "   ", "\t\n"])
def test_empty_search_shows_just_the_form(client, post, q):
    post("Dark mode", "Eyes.")
    response = search(client, q)
    assert response.status_code == 200
    assert '<form method="get" action="/search" role="search" class="filters">' in response.text
    assert result_count_text(response) is None
    assert result_ids(response) == []
    assert "Nothing matches." not in response.text
    assert "<title>Search ideas ·" in response.text


def test_search_shows_stage_and_counts_of_each_idea(client, post):
    idea = post("Dark mode", "Eyes.")
    db.session.execute(
        Idea.__table__.update().where(Idea.id == idea.id).values(vote_count=3, comment_count=1)
    )
    db.session.commit()
    response = search(client, "dark")
    assert '<span class="vote__count">3</span>' in response.text  # in its vote button
    assert "1 comment<" in response.text
    assert "New" in response.text


def test_query_is_kept_in_both_search_boxes(client, post):
    post("Dark mode", "Eyes.")
    response = search(client, "dark mode")
    assert 'id="q" name="q" value="dark mode"' in response.text
    assert re.search(r'id="header-q"[^>]*value="dark mode"', response.text)
    assert "<title>Search: dark mode ·" in response.text


# ---------------------------------------------------------------------------------------------
# Paging


@pytest.fixture
def many(post):
    """25 matching ideas (and one that does not match)."""
    post("Unrelated idea", "Nothing to do with it.")
    return [post(f"Report number {n:02d}", "Reports for finance.") for n in range(25)]


def test_results_come_twenty_to_a_page_and_page_two_has_the_rest(client, many):
    first = search(client, "report")
    second = search(client, "report", page=2)

    assert first.status_code == second.status_code == 200
    page_one, page_two = result_ids(first), result_ids(second)
    assert len(page_one) == 20
    assert len(page_two) == 5
    assert sorted(page_one + page_two) == sorted(i.id for i in many)
    assert result_count_text(second) == "25 ideas match “report”."
    assert "Page 1 of 2" in first.text and "Page 2 of 2" in second.text
    assert 'rel="next" href="/search?q=report&amp;page=2"' in first.text
    assert 'rel="prev"' not in first.text
    assert 'rel="prev" href="/search?q=report&amp;page=1"' in second.text
    assert 'rel="next"' not in second.text
    assert '<ol class="search-results" start="21">' in second.text


def test_a_page_past_the_end_shows_no_results_but_the_count(client, many):
    response = search(client, "report", page=3)
    assert response.status_code == 200
    assert result_ids(response) == []
    assert result_count_text(response) == "25 ideas match “report”."


def test_more_matches_than_a_search_counts_are_said_so(client, many, monkeypatch):
    from portal.ideas import search_views
    from portal.services import search as search_service

    monkeypatch.setattr(search_service, "COUNTED_MATCHES", 20)
    monkeypatch.setattr(search_views, "COUNTED_MATCHES", 20)
    first, second = search(client, "report"), search(client, "report", page=2)
    assert result_count_text(first) == "More than 20 ideas match “report”."
    assert sorted(result_ids(first) + result_ids(second)) == sorted(i.id for i in many)


def test_few_results_have_no_pager(client, post):
    post("Dark mode", "Eyes.")
    assert "Result pages" not in search(client, "dark").text


@pytest.mark.parametrize(
    "page", ["0", "-1", "abc", "51", "1.5", " 2", "1e3", "99999999999999999999", "²"]
)
def test_junk_page_numbers_are_a_clean_400(client, post, page):
    post("Dark mode", "Eyes.")
    response = search(client, "dark", page=page)
    assert response.status_code == 400
    assert "Traceback" not in response.text


@pytest.mark.parametrize("page", ["1", "2", "50"])
def test_page_numbers_from_1_to_50_are_accepted(client, post, page):
    post("Dark mode", "Eyes.")
    assert search(client, "dark", page=page).status_code == 200


# ---------------------------------------------------------------------------------------------
# Hidden ideas


@pytest.mark.parametrize("viewer", ["anonymous", "customer", "product_manager"])
def test_hidden_ideas_are_absent_from_search_and_its_count(client, login_as, post, viewer):
    if viewer != "anonymous":
        login_as(viewer)
    visible = post("Dark mode", "Eyes.")
    post("Dark mode secret 4242", "Hidden words.", hidden=True)

    response = search(client, "dark mode")

    assert result_ids(response) == [visible.id]
    assert result_count_text(response).startswith("1 idea ")
    assert "secret 4242" not in response.text


# ---------------------------------------------------------------------------------------------
# Junk and hostile queries


JUNK = [
    "'; DROP TABLE ideas; --",
    '"',
    '"dark',
    "dark*",
    "*",
    "NEAR(dark mode)",
    "dark AND OR NOT mode",
    "title:dark",
    "-dark",
    "dark & | ! mode",
    "dark:* <-> mode",
    "()[]{}^$",
    "%_%",
    "\\",
    "\ue000dark\ue001",
    "🙂 dark 🙂",
    "Ünïcödé ﬁle dark",
    "dark " * 200,
    "x" * 5000,
    "<script>alert(1)</script>",
]


@pytest.mark.parametrize("q", JUNK)
def test_junk_queries_never_cause_an_error(client, post, q):
    post("Dark mode", "Eyes.")
    response = search(client, q)
    assert response.status_code == 200
    assert result_count_text(response) is not None


def test_a_nul_in_the_query_is_a_clean_400(client, post):
    post("Dark mode", "Eyes.")
    response = search(client, "dark\x00mode")
    assert response.status_code == 400
    assert "Traceback" not in response.text


def test_repeated_q_parameters_are_handled(client, post):
    post("Dark mode", "Eyes.")
    response = client.get("/search?q=dark&q=mode&page=1&page=2")
    assert response.status_code == 200


def test_search_words_are_never_query_syntax(client, post):
    post("Dark mode", "Eyes.")
    post("Light theme", "Sun.")
    # OR / NOT are read as words (stop words), not operators that would widen the match.
    assert len(result_ids(search(client, "dark OR light"))) == 0
    assert len(result_ids(search(client, "dark NOT mode"))) == 1


@pytest.mark.parametrize(
    "q", ["<script>alert(1)</script>", '"><img src=x onerror=alert(2)>', "<svg onload=alert(3)>"]
)
def test_query_text_is_shown_escaped(client, post, q):
    post("Dark mode", "Eyes.")
    response = search(client, q)
    assert q not in response.text
    assert str(escape(q)) in response.text
    assert "<script>alert" not in response.text


def test_idea_text_is_escaped_around_the_marks(client, post):
    post("Dark <b>mode</b> <script>x()</script>", "Use <img src=x onerror=alert(1)> dark.")
    response = search(client, "dark")
    assert "<script>x()" not in response.text
    assert "<img src=x" not in response.text
    assert "<mark>Dark</mark> &lt;b&gt;mode&lt;/b&gt;" in response.text


# ---------------------------------------------------------------------------------------------
# The header search box, on every page


def header_search_form(response) -> str | None:
    match = re.search(r'<form[^>]*class="header-search"[^>]*>.*?</form>', response.text, re.S)
    return match.group(0) if match else None


@pytest.mark.parametrize("signed_in", [False, True])
def test_every_page_has_the_header_search_box(client, login_as, make_idea, signed_in):
    idea = make_idea("An idea to look at")
    if signed_in:
        login_as("admin")
    urls = ["/", "/guidelines", f"/ideas/{idea.id}", "/search", "/search?q=idea", "/ideas/999999"]
    urls += ["/my-ideas", "/notifications", "/organisations"] if signed_in else ["/sign-in"]
    for url in urls:
        form = header_search_form(client.get(url))
        assert form is not None, url
        assert 'method="get"' in form and 'action="/search"' in form, url
        assert 'name="q"' in form, url
        assert '<label for="header-q"' in form, url


def test_header_search_box_is_empty_outside_the_search_page(client, make_idea):
    idea = make_idea("An idea to look at")
    form = header_search_form(client.get(f"/ideas/{idea.id}?q=sneaky"))
    assert 'value=""' in form
    assert "sneaky" not in form


def test_header_search_box_leads_to_results(client, post):
    idea = post("Dark mode", "Eyes.")
    form = header_search_form(client.get("/"))
    action = re.search(r'action="([^"]+)"', form).group(1)
    assert result_ids(client.get(action, query_string={"q": "dark"})) == [idea.id]
