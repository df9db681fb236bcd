"""Ideas: posting and editing them, the list on the home page, hidden ideas, query counts."""

from __future__ import annotations

import base64
import html
import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Follow, Idea, IdeaRevision, Vote
from portal.models.types import utcnow
from portal.services import comments, votes

from .helpers import XSS, assert_inert, page_text

CARD = re.compile(r'<article class="idea-card" id="idea-(\d+)"')
NEXT_LINK = re.compile(r'<a rel="next" href="([^"]+)">More ideas</a>')
PREV_LINK = re.compile(r'<a rel="prev" href="([^"]+)">Previous ideas</a>')


def listed_ids(response) -> list[int]:
    assert response.status_code == 200, response.data[:300]
    return [int(n) for n in CARD.findall(response.get_data(as_text=True))]


def idea_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Idea))


def only_idea() -> Idea:
    [idea] = db.session.scalars(select(Idea)).unique().all()
    return idea


def post_idea(client, **fields):
    # confirmed=1 is the second step of the no-JavaScript flow: post even if similar ideas exist.
    data = {
        "title": "Export reports to Excel",
        "problem": "Our finance team copies numbers by hand every month.",
        "solution": "",
        "confirmed": "1",
    }
    data.update(fields)
    return client.post("/ideas/new", data=data)


# ---------------------------------------------------------------------------------------------
# Posting an idea


def test_customer_posts_an_idea_and_votes_for_and_follows_it(client, login_as, stages):
    me = login_as("customer", display_name="Carla Customer")

    response = post_idea(
        client,
        title="  Export   reports to Excel ",
        problem="We copy numbers by hand.",
        solution="A button on every report.",
    )

    assert response.status_code == 303
    idea = only_idea()
    assert response.headers["Location"] == f"/ideas/{idea.id}"
    assert (idea.title, idea.problem, idea.solution) == (
        "Export reports to Excel",
        "We copy numbers by hand.",
        "A button on every report.",
    )
    assert idea.author_id == me.id
    assert idea.stage.slug == "new"
    assert idea.is_team_concept is False
    assert idea.vote_count == 1
    assert db.session.scalars(select(Vote.user_id).where(Vote.idea_id == idea.id)).all() == [me.id]
    assert db.session.scalars(select(Follow.user_id).where(Follow.idea_id == idea.id)).all() == [
        me.id
    ]

    page = page_text(client.get(response.headers["Location"]))
    assert "Your idea is posted." in page
    assert "Export reports to Excel" in page
    assert "by Carla Customer" in page
    assert "Supported by 1 person." in page
    assert "Following ✓" in page
    assert "Proposed solution" in page and "A button on every report." in page


def test_the_solution_is_optional(client, login_as, stages):
    login_as("customer")
    response = post_idea(client, solution="")
    assert response.status_code == 303
    assert only_idea().solution == ""
    assert "Proposed solution" not in page_text(client.get(response.headers["Location"]))


def test_anonymous_visitor_is_sent_to_sign_in_to_post(client, stages):
    response = client.get("/ideas/new")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    assert post_idea(client).status_code == 302
    assert idea_count() == 0


@pytest.mark.parametrize("title", ["x" * 5, "y" * 120])
def test_title_of_5_to_120_characters_is_accepted(client, login_as, stages, title):
    login_as("customer")
    assert post_idea(client, title=title).status_code == 303
    assert only_idea().title == title


@pytest.mark.parametrize("title", ["", "abcd", "z" * 121, "a    b", "     "])
def test_title_too_short_or_too_long_is_refused_keeping_what_was_typed(
    client, login_as, stages, title
):
    login_as("customer")
    response = post_idea(
        client, title=title, problem="Typed problem 7431", solution="Typed solution 9922"
    )

    assert response.status_code == 400
    page = page_text(response)
    assert "Please correct the problem marked below." in page
    assert "Typed problem 7431" in page
    assert "Typed solution 9922" in page
    if title.strip():
        assert f'value="{title}"' in page
        assert "120 characters" in page
    assert idea_count() == 0


def test_a_very_long_title_is_refused_whole_never_cut(client, login_as, stages):
    login_as("customer")
    title = "Export " + "x" * 9_993  # 10,000 characters, pasted by mistake
    response = post_idea(client, title=title, problem="Typed problem 7431")

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "The title has 10,000 characters; the limit is 120." in page_text(response)
    assert f'value="{title}"' in page  # all of it, to shorten by hand
    title_input = re.search(r'<input[^>]*id="title"[^>]*>', page).group(0)
    assert "maxlength" not in title_input  # a browser would cut a paste without a word
    assert 'data-limit="120"' in title_input
    assert "title-count" in title_input  # described by the limit
    assert "Up to 120 characters." in page_text(response)
    assert idea_count() == 0


def test_the_new_idea_form_shows_every_limit_without_cutting(client, login_as, stages):
    login_as("customer")
    page = client.get("/ideas/new").get_data(as_text=True)
    assert "maxlength" not in page.split('<form method="post"', 1)[1].split("</form>", 1)[0]
    assert 'id="title-count">Up to 120 characters.' in page
    assert 'id="problem-count">Up to 20,000 characters.' in page


def test_every_blank_field_is_reported_in_one_round(client, login_as, stages, make_category):
    make_category("Reporting")
    login_as("customer")
    response = post_idea(client, title="      ", problem="   \n   ", category_id="")

    assert response.status_code == 400
    text = page_text(response)
    assert "Give the idea a title of 5 to 120 characters." in text
    assert "Describe the problem this idea solves for you." in text
    assert "Choose the category that fits best." in text
    assert idea_count() == 0


def test_the_service_names_every_wrong_field_at_once():
    from portal.services.errors import InvalidFields
    from portal.services.validation import clean_idea_text

    with pytest.raises(InvalidFields) as refused:
        clean_idea_text("   ", "  ", "s" * 20_001)
    assert set(refused.value.problems) == {"title", "problem", "solution"}
    assert "20,001 characters; the limit is 20,000" in refused.value.problems["solution"]


def test_line_breaks_count_once_as_a_browser_counts_them(client, login_as, stages):
    login_as("customer")
    problem = ("a" * 99 + "\r\n") * 200  # 20,000 characters as typed, 20,200 as sent
    assert post_idea(client, problem=problem.strip()).status_code == 303
    assert "\r" not in only_idea().problem


@pytest.mark.parametrize("problem", ["", "   \n  "])
def test_problem_is_required(client, login_as, stages, problem):
    login_as("customer")
    response = post_idea(client, title="A perfectly fine title", problem=problem)
    assert response.status_code == 400
    page = page_text(response)
    assert "Describe the problem" in page
    assert 'value="A perfectly fine title"' in page
    assert idea_count() == 0


def test_without_categories_no_category_is_asked_for(client, login_as, stages):
    login_as("customer")
    assert 'name="category_id"' not in page_text(client.get("/ideas/new"))
    assert post_idea(client).status_code == 303
    assert only_idea().category_id is None


def test_category_is_required_when_categories_exist(client, login_as, stages, make_category):
    login_as("customer")
    make_category("Reporting")
    make_category("Billing", position=1)
    form = page_text(client.get("/ideas/new"))
    assert 'name="category_id"' in form
    assert "Reporting" in form and "Billing" in form

    response = post_idea(client, problem="Problem typed 5150")

    assert response.status_code == 400
    assert "Choose the category that fits best." in page_text(response)
    assert "Problem typed 5150" in page_text(response)
    assert idea_count() == 0


def test_missing_category_is_reported_before_the_duplicate_check(
    client, login_as, make_idea, make_category
):
    make_idea("Export reports to Excel")  # a look-alike, so the confirm step would come first
    make_category("Reporting")
    login_as("customer")

    response = post_idea(client, problem="Problem typed 5151", confirmed="")

    assert response.status_code == 400
    assert "Choose the category that fits best." in page_text(response)
    assert "Post anyway" not in page_text(response)
    assert "Problem typed 5151" in page_text(response)


@pytest.mark.parametrize("category_id", ["999999", "abc", "-1", "retired"])
def test_category_must_be_one_of_the_listed_ones(
    client, login_as, stages, make_category, category_id
):
    login_as("customer")
    make_category("Reporting")
    retired = make_category("Old area", position=5)
    retired.retired = True
    db.session.commit()
    if category_id == "retired":
        category_id = str(retired.id)

    response = post_idea(client, category_id=category_id)

    assert response.status_code == 400
    assert "Choose one of the listed categories." in page_text(response)
    assert idea_count() == 0


def test_idea_is_filed_under_the_chosen_category(client, login_as, stages, make_category):
    login_as("customer")
    make_category("Reporting")
    billing = make_category("Billing", position=1)
    response = post_idea(client, category_id=str(billing.id))
    assert response.status_code == 303
    assert only_idea().category_id == billing.id
    assert "Billing" in page_text(client.get(response.headers["Location"]))


def test_extra_fields_posted_with_an_idea_change_nothing(client, login_as, make_user, stages):
    me = login_as("customer")
    other = make_user("customer")
    response = post_idea(
        client,
        stage_id=str(stages["shipped"].id),
        stage="shipped",
        vote_count="999",
        comment_count="50",
        trending_score="1e300",
        author_id=str(other.id),
        is_team_concept="y",
        first_response_at="2020-01-01T00:00:00",
        hidden_at="2020-01-01T00:00:00",
    )
    assert response.status_code == 303
    idea = only_idea()
    assert idea.stage.slug == "new"
    assert (idea.vote_count, idea.comment_count) == (1, 0)
    assert idea.author_id == me.id
    assert idea.is_team_concept is False
    assert idea.first_response_at is None and idea.hidden_at is None
    assert idea.trending_score < 1e100


def test_customer_cannot_publish_a_team_concept(client, login_as, stages):
    login_as("customer")
    assert 'name="as_concept"' not in page_text(client.get("/ideas/new"))

    response = post_idea(client, as_concept="y")

    assert response.status_code == 303
    idea = only_idea()
    assert idea.is_team_concept is False
    assert "Concept from the team" not in page_text(client.get("/"))
    assert "Concept from the team" not in page_text(client.get(f"/ideas/{idea.id}"))


@pytest.mark.parametrize("role", ["product_manager", "admin"])
def test_team_publishes_a_concept_labelled_as_such(client, login_as, stages, role):
    login_as(role)
    assert 'name="as_concept"' in page_text(client.get("/ideas/new"))

    response = post_idea(client, as_concept="y")

    assert response.status_code == 303
    idea = only_idea()
    assert idea.is_team_concept is True
    assert idea.vote_count == 1
    assert "Concept from the team" in page_text(client.get("/"))
    assert "Concept from the team" in page_text(client.get(f"/ideas/{idea.id}"))


def test_team_idea_without_the_concept_box_is_an_ordinary_idea(client, login_as, stages):
    login_as("product_manager")
    assert post_idea(client).status_code == 303
    assert only_idea().is_team_concept is False


# ---------------------------------------------------------------------------------------------
# The no-JavaScript confirm step: similar ideas are shown before anything is saved.


def test_similar_ideas_are_shown_before_saving_and_a_second_post_saves(client, login_as, make_idea):
    existing = make_idea("Export reports to Excel spreadsheets")
    login_as("customer")
    data = {
        "title": "Export reports to Excel",
        "problem": "Typed problem 6161",
        "solution": "Typed solution 6262",
    }

    first = client.post("/ideas/new", data=data)

    assert first.status_code == 200
    page = page_text(first)
    assert "Is it one of these?" in page
    assert f'href="/ideas/{existing.id}"' in page
    assert "Export reports to Excel spreadsheets" in page
    assert "Typed problem 6161" in page and "Typed solution 6262" in page
    assert "Post anyway" in page
    confirmed = re.search(
        r'name="confirmed" type="hidden" value="([^"]*)"', first.text
    ) or re.search(r'type="hidden" name="confirmed" value="([^"]*)"', first.text)
    assert confirmed is not None and confirmed.group(1) == "1"
    assert idea_count() == 1

    second = client.post("/ideas/new", data={**data, "confirmed": confirmed.group(1)})

    assert second.status_code == 303
    assert idea_count() == 2
    new = db.session.scalar(select(Idea).where(Idea.id != existing.id))
    assert new.title == "Export reports to Excel"


def test_without_similar_ideas_the_first_post_saves(client, login_as, make_idea):
    make_idea("Dark mode for the dashboard")
    login_as("customer")
    response = client.post(
        "/ideas/new",
        data={"title": "Single sign-on with Okta", "problem": "Too many passwords."},
    )
    assert response.status_code == 303
    assert idea_count() == 2


def test_similar_suggestions_fragment_lists_matching_ideas(client, make_idea):
    idea = make_idea("Export reports to Excel spreadsheets")
    make_idea("Dark mode for the dashboard")
    response = client.get("/ideas/similar", query_string={"title": "export excel reports"})
    assert response.status_code == 200
    assert f'href="/ideas/{idea.id}"' in response.text
    assert "Dark mode" not in response.text
    assert "<html" not in response.text


def test_similar_suggestions_leave_out_hidden_ideas(client, make_idea):
    idea = make_idea("Export reports to Excel spreadsheets")
    idea.hidden_at = utcnow()
    db.session.commit()
    response = client.get("/ideas/similar", query_string={"title": "export excel reports"})
    assert response.status_code == 200
    assert "Export reports" not in response.text


# ---------------------------------------------------------------------------------------------
# Editing


def test_author_edits_the_idea_and_the_old_text_is_kept(client, login_as, make_idea):
    me = login_as("customer")
    idea = make_idea("Export reports to Excel", author=me, problem="Old problem", solution="Old")
    form = page_text(client.get(f"/ideas/{idea.id}/edit"))
    assert 'value="Export reports to Excel"' in form
    assert "Old problem" in form
    assert "Edit idea" in page_text(client.get(f"/ideas/{idea.id}"))

    response = client.post(
        f"/ideas/{idea.id}/edit",
        data={"title": "Export reports to CSV", "problem": "New problem", "solution": "New"},
    )

    assert response.status_code == 303
    assert response.headers["Location"] == f"/ideas/{idea.id}"
    idea = db.session.get(Idea, idea.id)
    assert (idea.title, idea.problem, idea.solution) == (
        "Export reports to CSV",
        "New problem",
        "New",
    )
    assert idea.edited_at is not None
    [revision] = db.session.scalars(select(IdeaRevision)).all()
    assert (revision.idea_id, revision.title, revision.problem, revision.solution) == (
        idea.id,
        "Export reports to Excel",
        "Old problem",
        "Old",
    )
    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "Your idea is updated." in page
    assert "(edited)" in page
    assert "Export reports to CSV" in page


def test_author_moves_the_idea_to_another_category(client, login_as, make_idea, make_category):
    reporting, billing = make_category("Reporting"), make_category("Billing", position=1)
    me = login_as("customer")
    idea = make_idea("Export reports to Excel", author=me, category=reporting)
    form = client.get(f"/ideas/{idea.id}/edit").text
    assert re.search(rf'<option selected value="{reporting.id}">Reporting</option>', form)

    response = client.post(
        f"/ideas/{idea.id}/edit",
        data={
            "title": "Export reports to Excel",
            "problem": idea.problem,
            "category_id": str(billing.id),
        },
    )

    assert response.status_code == 303
    assert db.session.get(Idea, idea.id).category_id == billing.id
    bogus = client.post(
        f"/ideas/{idea.id}/edit",
        data={"title": "Export reports to Excel", "problem": "x", "category_id": "999999"},
    )
    assert bogus.status_code == 400
    assert "Choose one of the listed categories." in page_text(bogus)
    assert db.session.get(Idea, idea.id).category_id == billing.id


def test_saving_an_unchanged_idea_keeps_no_revision(client, login_as, make_idea):
    me = login_as("customer")
    idea = make_idea("Export reports to Excel", author=me, problem="Same problem")
    response = client.post(
        f"/ideas/{idea.id}/edit",
        data={"title": "Export reports to Excel", "problem": "Same problem", "solution": ""},
    )
    assert response.status_code == 303
    assert db.session.scalar(select(func.count()).select_from(IdeaRevision)) == 0
    assert db.session.get(Idea, idea.id).edited_at is None


def test_invalid_edit_is_refused_keeping_what_was_typed(client, login_as, make_idea):
    me = login_as("customer")
    idea = make_idea("Export reports to Excel", author=me)
    response = client.post(
        f"/ideas/{idea.id}/edit", data={"title": "abc", "problem": "Typed 8080", "solution": ""}
    )
    assert response.status_code == 400
    assert "Typed 8080" in page_text(response)
    assert db.session.get(Idea, idea.id).title == "Export reports to Excel"
    assert db.session.scalar(select(func.count()).select_from(IdeaRevision)) == 0


@pytest.mark.parametrize("role", ["customer", "product_manager", "admin"])
def test_nobody_but_the_author_can_edit_an_idea(client, login_as, make_idea, role):
    idea = make_idea("Export reports to Excel", problem="Original problem")
    login_as(role)
    assert "Edit idea" not in page_text(client.get(f"/ideas/{idea.id}"))
    assert client.get(f"/ideas/{idea.id}/edit").status_code == 403
    response = client.post(
        f"/ideas/{idea.id}/edit", data={"title": "Hijacked title", "problem": "Hijacked"}
    )
    assert response.status_code == 403
    idea = db.session.get(Idea, idea.id)
    assert (idea.title, idea.problem) == ("Export reports to Excel", "Original problem")
    assert db.session.scalar(select(func.count()).select_from(IdeaRevision)) == 0


def test_author_cannot_edit_after_the_team_responds(client, login_as, make_user, make_idea):
    me = login_as("customer")
    idea = make_idea("Export reports to Excel", author=me)
    comments.add_comment(idea, author=make_user("customer"), body="Me too!")
    db.session.commit()
    assert client.get(f"/ideas/{idea.id}/edit").status_code == 200  # a customer is no answer

    comments.add_comment(
        db.session.get(Idea, idea.id), author=make_user("product_manager"), body="Thanks!"
    )
    db.session.commit()

    assert db.session.get(Idea, idea.id).first_response_at is not None
    assert "Edit idea" not in page_text(client.get(f"/ideas/{idea.id}"))
    assert client.get(f"/ideas/{idea.id}/edit").status_code == 403
    response = client.post(
        f"/ideas/{idea.id}/edit", data={"title": "Moved goalposts", "problem": "x"}
    )
    assert response.status_code == 403
    assert db.session.get(Idea, idea.id).title == "Export reports to Excel"


def test_earlier_versions_are_shown_to_the_team_only(app, client, login_as, make_user, make_idea):
    from .conftest import sign_in_client

    author = login_as("customer")
    idea = make_idea("Original title 1111", author=author, problem="Original problem 2222")
    client.post(f"/ideas/{idea.id}/edit", data={"title": "Second title", "problem": "Second"})

    for viewer in (None, author, make_user("customer")):
        other = app.test_client()
        if viewer is not None:
            sign_in_client(other, viewer)
        page = page_text(other.get(f"/ideas/{idea.id}"))
        assert "Earlier versions" not in page
        assert "Original title 1111" not in page

    for role in ("product_manager", "admin"):
        team = app.test_client()
        sign_in_client(team, make_user(role))
        page = page_text(team.get(f"/ideas/{idea.id}"))
        assert "Earlier versions (1)" in page
        assert "Original title 1111" in page and "Original problem 2222" in page


# ---------------------------------------------------------------------------------------------
# The list on the home page: sorting


@pytest.fixture
def four_ideas(make_idea):
    """Four ideas whose order differs for every sort."""
    now = utcnow()
    t = [now - timedelta(days=4 - n) for n in range(4)]
    values = {
        #      trending, votes, created, comments, activity
        "Alpha idea": (40.0, 1, t[0], 3, t[1]),
        "Bravo idea": (10.0, 4, t[1], 0, t[3]),
        "Charlie idea": (30.0, 2, t[3], 1, t[0]),
        "Delta idea": (20.0, 3, t[2], 2, t[2]),
    }
    ideas = {}
    for title, (score, vote_count, created, comment_count, activity) in values.items():
        idea = make_idea(title)
        idea.trending_score = score
        idea.vote_count = vote_count
        idea.created_at = created
        idea.comment_count = comment_count
        idea.last_activity_at = activity
        ideas[title.split()[0]] = idea
    db.session.commit()
    return {name: idea.id for name, idea in ideas.items()}


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("trending", "Alpha Charlie Delta Bravo"),
        ("top", "Bravo Delta Charlie Alpha"),
        ("new", "Charlie Delta Bravo Alpha"),
        ("discussed", "Alpha Delta Charlie Bravo"),
        ("updated", "Bravo Delta Alpha Charlie"),
    ],
)
def test_home_page_sorts_ideas(client, four_ideas, sort, order):
    expected = [four_ideas[name] for name in order.split()]
    assert listed_ids(client.get("/", query_string={"sort": sort})) == expected


def test_junk_sort_is_ignored(client, four_ideas):
    trending = [four_ideas[n] for n in ("Alpha", "Charlie", "Delta", "Bravo")]
    for sort in ("", "bogus", "'; DROP TABLE ideas; --", "trending\x01", "TOP", "id"):
        assert listed_ids(client.get("/", query_string={"sort": sort})) == trending, sort


# ---------------------------------------------------------------------------------------------
# Filters


@pytest.fixture
def ideas_by_stage(make_idea):
    return {
        slug: make_idea(f"An idea that is {slug}", stage=slug).id
        for slug in ("new", "planned", "in_progress", "shipped", "declined", "merged")
    }


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        (None, {"new", "planned", "in_progress"}),
        ("open", {"new", "planned", "in_progress"}),
        ("closed", {"shipped", "declined", "merged"}),
        ("all", {"new", "planned", "in_progress", "shipped", "declined", "merged"}),
        ("planned", {"planned"}),
        ("shipped", {"shipped"}),
        ("under_review", set()),
        ("nonsense", {"new", "planned", "in_progress"}),
        ("' OR 1=1 --", {"new", "planned", "in_progress"}),
    ],
)
def test_stage_filter(client, ideas_by_stage, stage, expected):
    query = {} if stage is None else {"stage": stage}
    ids = listed_ids(client.get("/", query_string=query))
    assert sorted(ids) == sorted(ideas_by_stage[slug] for slug in expected)
    assert len(ids) == len(set(ids))


def test_category_filter(client, make_idea, make_category):
    reporting, billing = make_category("Reporting"), make_category("Billing")
    report_idea = make_idea("Export reports to Excel", category=reporting)
    bill_idea = make_idea("Invoices in euros", category=billing)
    assert listed_ids(client.get("/", query_string={"category": reporting.id})) == [report_idea.id]
    assert listed_ids(client.get("/", query_string={"category": billing.id})) == [bill_idea.id]
    response = client.get("/", query_string={"category": 424242})
    assert listed_ids(response) == []
    assert "No ideas match these filters yet." in page_text(response)


def test_empty_category_is_every_category(client, make_idea, make_category):
    reporting, billing = make_category("Reporting"), make_category("Billing")
    ids = {
        make_idea("First idea here", category=reporting).id,
        make_idea("Second idea here", category=billing).id,
    }
    response = client.get("/", query_string={"category": ""})
    assert set(listed_ids(response)) == ids


def test_junk_category_is_a_clean_400(client, make_idea):
    make_idea("First idea here")
    for category in ("abc", "-1", "0", "1.5", "99999999999999999999", "1 OR 1=1"):
        response = client.get("/", query_string={"category": category})
        assert response.status_code == 400, category
        assert "The “category” in the address must be a whole number" in page_text(response)


def test_mine_voted_and_following_filters(client, login_as, make_idea, make_user):
    me = login_as("customer")
    other = make_user("customer")
    mine = make_idea("An idea of mine", author=me)
    voted = make_idea("An idea I voted for", author=other)
    followed = make_idea("An idea I follow", author=other)
    neither = make_idea("Somebody else's idea", author=other)
    votes.cast_vote(voted, me)
    votes.follow(followed, me)
    db.session.commit()

    def ids(**query):
        return sorted(listed_ids(client.get("/", query_string=query)))

    assert ids(mine="1") == [mine.id]
    assert ids(voted="1") == sorted([mine.id, voted.id])
    assert ids(following="1") == sorted([mine.id, voted.id, followed.id])
    assert ids(voted="1", following="1", mine="1") == [mine.id]
    assert ids(mine="yes") == sorted([mine.id, voted.id, followed.id, neither.id])


def test_mine_filter_means_nothing_to_anonymous_visitors(client, make_idea):
    ids = {make_idea("First idea here").id, make_idea("Second idea here").id}
    response = client.get("/", query_string={"mine": "1", "voted": "1", "following": "1"})
    assert set(listed_ids(response)) == ids
    assert 'name="mine"' not in response.text


# ---------------------------------------------------------------------------------------------
# Keyset paging


def _follow(client, url: str):
    response = client.get(html.unescape(url))
    assert response.status_code == 200, url
    return response


def _expected_order(sort: str) -> list[int]:
    column = {
        "trending": Idea.trending_score,
        "top": Idea.vote_count,
        "new": Idea.created_at,
        "discussed": Idea.comment_count,
        "updated": Idea.last_activity_at,
    }[sort]
    return list(
        db.session.scalars(
            select(Idea.id)
            .join(Idea.stage)
            .where(Idea.hidden_at.is_(None))
            .order_by(column.desc(), Idea.id.desc())
        )
    )


@pytest.mark.parametrize("sort", ["trending", "top", "new", "discussed", "updated"])
def test_paging_visits_every_idea_once_in_order_and_goes_back(client, make_user, make_idea, sort):
    author = make_user()
    base = utcnow()
    for n in range(45):
        idea = make_idea(f"Idea number {n:02d}", author=author)
        # Plenty of ties, so the id must break them.
        idea.vote_count = n % 4
        idea.comment_count = n % 3
        idea.last_activity_at = base - timedelta(minutes=n % 5)
    db.session.commit()
    expected = _expected_order(sort)
    assert len(expected) == 45

    pages = [listed_ids(client.get("/", query_string={"sort": sort}))]
    response = client.get("/", query_string={"sort": sort})
    assert PREV_LINK.search(response.text) is None
    while match := NEXT_LINK.search(response.text):
        assert f"sort={sort}" in html.unescape(match.group(1))
        response = _follow(client, match.group(1))
        pages.append(listed_ids(response))

    assert [len(p) for p in pages] == [20, 20, 5]
    assert [i for page in pages for i in page] == expected

    # Back from the last page to the first.
    back = _follow(client, PREV_LINK.search(response.text).group(1))
    assert listed_ids(back) == pages[1]
    first = _follow(client, PREV_LINK.search(back.text).group(1))
    assert listed_ids(first) == pages[0]
    assert PREV_LINK.search(first.text) is None
    assert listed_ids(_follow(client, NEXT_LINK.search(first.text).group(1))) == pages[1]


def test_paging_keeps_the_filters(client, make_idea, make_category):
    reporting = make_category("Reporting")
    make_category("Billing")
    for n in range(22):
        make_idea(f"Reporting idea {n:02d}", category=reporting)
    response = client.get("/", query_string={"sort": "new", "category": reporting.id})
    link = html.unescape(NEXT_LINK.search(response.text).group(1))
    assert f"category={reporting.id}" in link and "sort=new" in link
    assert len(listed_ids(client.get(link))) == 2


def _cursor(value) -> str:
    raw = json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


JUNK_CURSORS = [  # an empty one is no cursor at all: the first page
    "not-a-cursor",
    "!!!!",
    "%00",
    "a" * 5000,
    _cursor("just a string"),
    _cursor([1]),
    _cursor([1, 2, 3]),
    _cursor({"a": 1}),
    _cursor([1, "2"]),
    _cursor([1, None]),
    _cursor([True, 1]),
    _cursor(["1", 1]),
    _cursor([{"t": "2026-01-01T00:00:00"}, 1]),
    _cursor([[1], 1]),
]


def test_junk_paging_cursor_is_a_clean_400(client, make_idea):
    make_idea()
    for param in ("after", "before"):
        for cursor in JUNK_CURSORS:
            response = client.get("/", query_string={"sort": "top", param: cursor})
            assert response.status_code == 400, (param, cursor)
            assert "That page link is not valid any more." in page_text(response)


def test_cursor_of_the_wrong_kind_for_the_sort_is_a_clean_400(client, make_idea):
    make_idea()
    for sort, cursor in [
        ("new", _cursor([5, 1])),
        ("new", _cursor([{"t": "yesterday"}, 1])),
        ("new", _cursor([{"t": "2026-01-01T00:00:00"}, 1])),  # no time zone
        ("updated", _cursor([{"x": 1}, 1])),
        ("trending", _cursor([{"t": "2026-01-01T00:00:00+00:00"}, 1])),
    ]:
        response = client.get("/", query_string={"sort": sort, "after": cursor})
        assert response.status_code == 400, (sort, cursor)


def test_cursor_with_out_of_range_numbers_is_a_clean_400(client, make_idea):
    make_idea()
    for sort, cursor in [
        ("top", _cursor([10**30, 1])),
        ("top", _cursor([-(2**40), 1])),
        ("discussed", _cursor([2**63, 1])),
        ("top", _cursor([1, 10**30])),
        ("trending", _cursor([1.0, 10**30])),
        ("trending", _cursor([-1.0, -(10**30)])),
        ("new", _cursor([{"t": "2026-01-01T00:00:00+00:00"}, 2**63])),
        ("top", _cursor([1, 0])),
    ]:
        response = client.get("/", query_string={"sort": sort, "after": cursor})
        assert response.status_code == 400, (sort, cursor)


def test_odd_but_well_formed_cursor_never_causes_500(client, make_idea):
    make_idea()
    # Top and discussed count whole votes and comments; trending's score is any finite number.
    finite_scores = (
        _cursor([1e308, 2**31 - 1]),
        _cursor([10**30, 1]),
        _cursor([-(10**30), 1]),
        _cursor([-1.5, 1]),
    )
    not_a_number = (_cursor([float("nan"), 1]), _cursor([float("inf"), 1]))
    ours = "WzEsMV0"  # [1,1] without padding, as we write them
    for sort in ("top", "trending", "discussed"):
        for cursor in (*finite_scores, *not_a_number, ours):
            if cursor == ours or (sort == "trending" and cursor in finite_scores):
                expected = 200
            else:
                expected = 400
            response = client.get("/", query_string={"sort": sort, "after": cursor})
            assert response.status_code == expected, (sort, cursor)


# ---------------------------------------------------------------------------------------------
# What a card shows


def test_card_shows_votes_comments_organisations_and_your_vote(
    client, login_as, make_user, make_idea, make_organisation
):
    me = login_as("customer")
    acme, globex = make_organisation("Acme"), make_organisation("Globex")
    idea = make_idea("Export reports to Excel", author=make_user(organisation=acme))
    other = make_idea("Dark mode for the dashboard")
    for voter in (make_user(organisation=acme), make_user(organisation=globex), me):
        votes.cast_vote(idea, voter)
    for body in ("Me too", "Same here"):
        comments.add_comment(idea, author=make_user(), body=body)
    db.session.commit()

    page = page_text(client.get("/"))
    card = page[page.index(f'id="idea-{idea.id}"') : page.index(f'id="idea-{other.id}"')]
    assert '<span class="vote__count">4</span>' in card
    assert "2 comments" in card
    assert "2 organisations" in card
    assert "You voted" in card
    other_card = page[page.index(f'id="idea-{other.id}"') :]
    assert '<span class="vote__count">1</span>' in other_card
    assert "0 comments" in other_card
    # No organisations: an empty, hidden slot that a vote with JavaScript can fill.
    assert f'data-live="organisations" data-idea="{other.id}" hidden></span>' in other_card
    assert " organisation" not in other_card.split("</article>")[0]
    assert "You voted" not in other_card


# ---------------------------------------------------------------------------------------------
# Hidden ideas


@pytest.fixture
def hidden_idea(make_user, make_idea):
    author = make_user("customer", display_name="Hidden Author")
    idea = make_idea("A hidden idea 4242", author=author)
    idea.hidden_at = utcnow()
    db.session.commit()
    return idea


@pytest.mark.parametrize("viewer", ["anonymous", "customer"])
def test_hidden_idea_is_absent_for_customers(client, login_as, make_idea, hidden_idea, viewer):
    if viewer == "customer":
        login_as("customer")
    visible = make_idea("A visible idea")
    for query in ({}, {"stage": "all"}, {"sort": "new"}):
        response = client.get("/", query_string=query)
        assert listed_ids(response) == [visible.id]
        assert "A hidden idea 4242" not in response.text
    assert client.get(f"/ideas/{hidden_idea.id}").status_code == 404


def test_author_still_sees_their_hidden_idea(client, hidden_idea):
    from .conftest import sign_in_client

    sign_in_client(client, hidden_idea.author)
    page = client.get(f"/ideas/{hidden_idea.id}")
    assert page.status_code == 200
    assert "Moderators have hidden this idea." in page_text(page)
    mine = page_text(client.get("/my-ideas"))
    assert "A hidden idea 4242" in mine
    assert "Hidden by moderators" in mine


@pytest.mark.parametrize("role", ["product_manager", "admin"])
def test_team_sees_hidden_ideas(client, login_as, hidden_idea, role):
    login_as(role)
    assert hidden_idea.id in listed_ids(client.get("/"))
    assert client.get(f"/ideas/{hidden_idea.id}").status_code == 200


def test_unknown_idea_is_404(client, stages):
    assert client.get("/ideas/999999").status_code == 404
    assert client.get("/ideas/99999999999999").status_code == 404
    assert client.get("/ideas/0").status_code == 404


# ---------------------------------------------------------------------------------------------
# Stored XSS in ideas


@pytest.mark.parametrize("payload", XSS)
def test_idea_text_renders_inert(client, login_as, make_idea, payload):
    me = login_as("customer")
    idea = make_idea(f"Title {payload}", author=me, problem=payload, solution=payload)
    for url in ("/", f"/ideas/{idea.id}", f"/ideas/{idea.id}/edit", "/my-ideas"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_inert(response.get_data(as_text=True))
    # The title is shown as text, not dropped.
    assert str(escape(f"Title {payload}")) in client.get(f"/ideas/{idea.id}").text


# ---------------------------------------------------------------------------------------------
# A fixed number of queries, whatever the length of the page


def test_home_page_query_count_does_not_grow_with_ideas(
    client, login_as, make_user, make_idea, make_organisation, count_queries
):
    viewer = login_as("customer")
    orgs = [make_organisation(f"Org {n}") for n in range(3)]
    people = [make_user(organisation=org) for org in orgs for _ in range(2)] + [make_user()]
    made = 0

    def add_ideas(n: int) -> None:
        nonlocal made
        for _ in range(n):
            idea = make_idea(f"Idea number {made:02d}", author=people[made % len(people)])
            for voter in people[: made % 5 + 2]:
                votes.cast_vote(idea, voter)
            if made % 2:
                votes.cast_vote(idea, viewer)
            comments.add_comment(
                idea, author=people[(made + 1) % len(people)], body=f"Me too, {made}"
            )
            made += 1
        db.session.commit()

    add_ideas(5)
    client.get("/")  # anything done once per session is done now
    with count_queries() as few:
        response = client.get("/")
    assert len(listed_ids(response)) == 5

    add_ideas(15)
    with count_queries() as many:
        response = client.get("/")
    assert len(listed_ids(response)) == 20
    assert "You voted" in response.text and "organisations" in response.text

    assert many.count == few.count, many.statements


def test_the_list_filters_apply_at_once_with_javascript_and_show_stays_without(
    client, login_as, make_idea
):
    make_idea("Export reports to Excel")
    login_as("customer")
    page = client.get("/?sort=newest").get_data(as_text=True)
    form = re.search(r'<form method="get" action="/" class="filters"[^>]*>', page).group(0)
    assert 'data-apply-on-change="idea-results"' in form  # forms.js swaps this region
    region = page[page.index('<div id="idea-results">') :]
    assert CARD.search(region)  # the list is inside what is swapped
    assert page.index('id="idea-results"') > page.index("</form>", page.index(form))
    assert '<button type="submit" class="button">Show</button>' in page  # without JavaScript


@pytest.mark.parametrize("role", ["product_manager", "admin"])
def test_a_team_concept_is_not_said_to_wait_for_the_team(client, login_as, stages, role):
    login_as(role)
    post_idea(client, as_concept="y")
    page = page_text(client.get(f"/ideas/{only_idea().id}"))
    assert "waiting for the product team to read it" not in page
    assert "The product team shared this concept to hear from you" in page
