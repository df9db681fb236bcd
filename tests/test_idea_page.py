"""An idea's page: the stage explainer and its promised date, voting in place, its scripts."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Idea, StageChange, Vote
from portal.models.types import utcnow


def explainer(response) -> str:
    """The stage explainer's text, tags removed."""
    match = re.search(
        r'<section class="stage-explainer[^"]*".*?</section>', response.get_data(as_text=True), re.S
    )
    assert match, "no stage explainer"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", match.group(0))).split())


def as_date(value) -> str:
    return value.strftime("%-d %B %Y")


def set_created_at(idea, when) -> None:
    """Backdate an idea nobody has answered yet, with the promise it was posted with."""
    from portal.services.ideas import promise_next_answer

    idea.created_at = when
    promise_next_answer(idea, idea.stage, since=when)
    db.session.commit()


def add_stage_change(idea, stages, to: str, *, at, note: str = "Moving on.") -> StageChange:
    from portal.services.ideas import promise_next_answer

    change = StageChange(
        idea_id=idea.id,
        from_stage_id=idea.stage_id,
        to_stage_id=stages[to].id,
        note=note,
        created_at=at,
    )
    idea.stage = stages[to]
    promise_next_answer(idea, stages[to], since=at)  # as pipeline.move_stage does
    db.session.add(change)
    db.session.commit()
    return change


# ---------------------------------------------------------------------------------------------
# The stage explainer


def test_new_idea_explains_its_stage_and_promises_an_answer_within_a_week(client, make_idea):
    idea = make_idea("Export reports to Excel")
    due = idea.created_at + timedelta(days=7)

    text = explainer(client.get(f"/ideas/{idea.id}"))

    assert "What “New” means" in text
    assert idea.stage.description in text
    assert (
        f"You can expect to hear from the team by {as_date(due)} (7 days after the last change)."
        in text
    )
    assert "is late" not in text
    assert "Voting is closed" not in text


def test_promised_date_counts_from_the_latest_stage_change(client, make_idea, stages):
    idea = make_idea("Export reports to Excel")
    now = utcnow()
    set_created_at(idea, now - timedelta(days=90))
    add_stage_change(idea, stages, "under_review", at=now - timedelta(days=40))
    latest = add_stage_change(idea, stages, "planned", at=now - timedelta(days=2))
    due = latest.created_at + timedelta(days=60)

    text = explainer(client.get(f"/ideas/{idea.id}"))

    assert "What “Planned” means" in text
    assert stages["planned"].description in text
    assert f"You can expect to hear from the team by {as_date(due)} (60 days" in text
    assert "is late" not in text


def test_answer_past_its_date_is_shown_as_late(client, make_idea, monkeypatch):
    idea = make_idea("Export reports to Excel")
    due = idea.created_at + timedelta(days=7)
    monkeypatch.setattr("portal.ideas.page.utcnow", lambda: due + timedelta(minutes=1))

    text = explainer(client.get(f"/ideas/{idea.id}"))

    assert f"The team's answer was due by {as_date(due)} and is late." in text
    assert "You can expect to hear" not in text


def test_answer_is_not_late_until_its_date_has_passed(client, make_idea, monkeypatch):
    idea = make_idea("Export reports to Excel")
    due = idea.created_at + timedelta(days=7)
    monkeypatch.setattr("portal.ideas.page.utcnow", lambda: due - timedelta(minutes=1))

    text = explainer(client.get(f"/ideas/{idea.id}"))

    assert f"You can expect to hear from the team by {as_date(due)}" in text
    assert "is late" not in text


def test_old_idea_without_an_answer_is_late(client, make_idea):
    idea = make_idea("Export reports to Excel")
    set_created_at(idea, utcnow() - timedelta(days=10))
    due = idea.created_at + timedelta(days=7)

    text = explainer(client.get(f"/ideas/{idea.id}"))

    assert f"The team's answer was due by {as_date(due)} and is late." in text


def test_a_stage_change_after_the_promised_date_is_answered_again_on_time(
    client, make_idea, stages
):
    idea = make_idea("Export reports to Excel")
    now = utcnow()
    set_created_at(idea, now - timedelta(days=10))  # New's week is long gone
    add_stage_change(idea, stages, "under_review", at=now - timedelta(days=1))

    text = explainer(client.get(f"/ideas/{idea.id}"))

    assert "is late" not in text
    assert as_date(now - timedelta(days=1) + timedelta(days=30)) in text


@pytest.mark.parametrize("slug", ["shipped", "declined", "merged"])
def test_closed_stages_promise_no_date_and_say_voting_is_closed(client, make_idea, stages, slug):
    idea = make_idea("Export reports to Excel")
    set_created_at(idea, utcnow() - timedelta(days=400))
    add_stage_change(idea, stages, slug, at=utcnow() - timedelta(days=300))

    text = explainer(client.get(f"/ideas/{idea.id}"))

    assert stages[slug].description in text
    assert "You can expect to hear" not in text
    assert "is late" not in text
    assert "Voting is closed on this idea" in text


def test_the_explainer_is_the_same_for_every_viewer(client, login_as, make_idea):
    idea = make_idea("Export reports to Excel")
    anonymous = explainer(client.get(f"/ideas/{idea.id}"))
    login_as("customer")
    assert explainer(client.get(f"/ideas/{idea.id}")) == anonymous


# ---------------------------------------------------------------------------------------------
# Voting in place: the JSON mode of the vote endpoint

JSON = {"Accept": "application/json"}


def vote_json(client, idea_id: int, action: str = "vote", **kwargs):
    return client.post(f"/ideas/{idea_id}/vote", data={"action": action, **kwargs}, headers=JSON)


def counts(idea_id: int) -> tuple[int, int]:
    db.session.expire_all()
    rows = db.session.scalar(select(func.count()).select_from(Vote).where(Vote.idea_id == idea_id))
    return db.session.get(Idea, idea_id).vote_count, rows


def test_vote_and_unvote_answer_json_for_the_enhancing_script(client, login_as, make_idea):
    idea = make_idea("Export reports to Excel")  # its author's vote: 1
    login_as("customer")

    response = vote_json(client, idea.id)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json().items() >= {"voted": True, "vote_count": 2}.items()
    assert counts(idea.id) == (2, 2)

    again = vote_json(client, idea.id)
    assert again.get_json().items() >= {"voted": True, "vote_count": 2}.items()
    assert counts(idea.id) == (2, 2)

    response = vote_json(client, idea.id, "unvote")
    assert response.status_code == 200
    assert response.get_json().items() >= {"voted": False, "vote_count": 1}.items()
    assert counts(idea.id) == (1, 1)

    again = vote_json(client, idea.id, "unvote")
    assert again.get_json().items() >= {"voted": False, "vote_count": 1}.items()


def test_vote_count_in_json_includes_other_peoples_votes(client, login_as, make_user, make_idea):
    from portal.services import votes

    idea = make_idea("Export reports to Excel")
    for _ in range(3):
        votes.cast_vote(idea, make_user())
    db.session.commit()
    login_as("customer")
    assert vote_json(client, idea.id).get_json().items() >= {"voted": True, "vote_count": 5}.items()


@pytest.mark.parametrize("slug", ["shipped", "declined", "merged"])
@pytest.mark.parametrize("action", ["vote", "unvote"])
def test_voting_on_a_closed_idea_is_a_409_in_json(
    client, make_user, make_idea, stages, slug, action
):
    from .conftest import sign_in_client

    voter = make_user()
    idea = make_idea("Export reports to Excel", author=voter)  # voter has voted
    idea.stage = stages[slug]
    db.session.commit()
    sign_in_client(client, voter)

    response = vote_json(client, idea.id, action)

    assert response.status_code == 409
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert "Voting is closed" in body["error"]
    assert counts(idea.id) == (1, 1)


def test_team_voting_on_a_hidden_idea_is_a_409_in_json(client, login_as, make_idea):
    idea = make_idea("Export reports to Excel")
    idea.hidden_at = utcnow()
    db.session.commit()
    login_as("product_manager")

    response = vote_json(client, idea.id)

    assert response.status_code == 409
    assert "error" in response.get_json()
    assert counts(idea.id) == (1, 1)


def test_customer_voting_on_a_hidden_idea_is_404(client, login_as, make_idea):
    idea = make_idea("Export reports to Excel")
    idea.hidden_at = utcnow()
    db.session.commit()
    login_as("customer")
    assert vote_json(client, idea.id).status_code == 404
    assert counts(idea.id) == (1, 1)


def test_anonymous_json_vote_is_401_and_changes_nothing(client, make_idea):
    idea = make_idea("Export reports to Excel")
    response = vote_json(client, idea.id)
    assert response.status_code == 401
    assert response.get_json() == {"error": "authentication required"}
    assert counts(idea.id) == (1, 1)


def test_browsers_still_get_a_redirect(client, login_as, make_idea):
    idea = make_idea("Export reports to Excel")
    login_as("customer")
    response = client.post(
        f"/ideas/{idea.id}/vote",
        data={"action": "vote"},
        headers={"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/ideas/{idea.id}"
    assert counts(idea.id) == (2, 2)


def test_unknown_action_in_json_is_400(client, login_as, make_idea):
    idea = make_idea("Export reports to Excel")
    login_as("customer")
    assert vote_json(client, idea.id, "vote_twice").status_code == 400
    assert counts(idea.id) == (1, 1)


def test_json_vote_cannot_set_the_count(client, login_as, make_idea):
    idea = make_idea("Export reports to Excel")
    login_as("customer")
    response = vote_json(client, idea.id, vote_count="1000", voted="false")
    assert response.get_json().items() >= {"voted": True, "vote_count": 2}.items()
    assert counts(idea.id) == (2, 2)


class TestWithCsrf:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "WTF_CSRF_ENABLED": True}

    def test_json_vote_needs_the_pages_csrf_token(self, client, login_as, make_idea):
        idea = make_idea("Export reports to Excel")
        login_as("customer")

        without = vote_json(client, idea.id)
        assert without.status_code == 400
        assert counts(idea.id) == (1, 1)

        page = client.get(f"/ideas/{idea.id}").get_data(as_text=True)
        form = re.search(r'<form[^>]*class="vote".*?</form>', page, re.S).group(0)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        response = vote_json(client, idea.id, csrf_token=token)
        assert response.status_code == 200
        assert response.get_json().items() >= {"voted": True, "vote_count": 2}.items()


# ---------------------------------------------------------------------------------------------
# Scripts: served from our own origin, referenced by the pages, never inline


def script_tags(response) -> list[tuple[str, str]]:
    """(attributes, body) of every <script> element of a page."""
    return re.findall(r"<script\b([^>]*)>(.*?)</script>", response.get_data(as_text=True), re.S)


@pytest.mark.parametrize("name", ["vote.js", "similar.js"])
def test_scripts_are_served(client, name):
    response = client.get(f"/static/js/{name}")
    assert response.status_code == 200
    assert response.mimetype in ("text/javascript", "application/javascript")
    assert "use strict" in response.get_data(as_text=True)
    response.close()


def test_every_page_loads_the_vote_script_from_our_origin(client, login_as, make_idea):
    idea = make_idea("Export reports to Excel")
    login_as("customer")
    for url in ("/", f"/ideas/{idea.id}", "/ideas/new", "/search?q=export", "/my-ideas"):
        response = client.get(url)
        sources = [
            re.search(r'src="([^"]+)"', attrs).group(1) for attrs, _ in script_tags(response)
        ]
        assert "/static/js/vote.js" in sources, url


def test_the_new_idea_page_loads_the_similar_ideas_script(client, login_as, stages):
    login_as("customer")
    response = client.get("/ideas/new")
    tags = script_tags(response)
    assert any('src="/static/js/similar.js"' in attrs and "defer" in attrs for attrs, _ in tags)
    assert 'data-similar-url="/ideas/similar"' in response.get_data(as_text=True)
    assert 'id="similar-ideas"' in response.get_data(as_text=True)


def test_the_similar_ideas_script_is_only_on_the_new_idea_page(client, make_idea):
    idea = make_idea("Export reports to Excel")
    for url in ("/", f"/ideas/{idea.id}"):
        assert "similar.js" not in client.get(url).get_data(as_text=True), url


@pytest.mark.parametrize("role", ["anonymous", "customer", "admin"])
def test_pages_have_no_inline_scripts(client, login_as, make_idea, role):
    idea = make_idea("Export reports to Excel")
    if role != "anonymous":
        login_as(role)
    urls = ["/", f"/ideas/{idea.id}", "/search?q=export", "/guidelines"]
    urls += ["/ideas/new"] if role != "anonymous" else ["/sign-in", "/sign-up"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        tags = script_tags(response)
        assert tags, url
        for attrs, body in tags:
            assert 'src="/static/' in attrs, (url, attrs)
            assert body.strip() == "", (url, body)
        assert not re.search(r"\son[a-z]+\s*=", response.get_data(as_text=True)), url
        assert "javascript:" not in response.get_data(as_text=True), url
        policy = response.headers["Content-Security-Policy"]
        script_src = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'self'" in script_src
