"""The server-side cache and HTTP caching (portal/cache.py): exact, and useful.

Exact: after any committed write that a page shows, the next request for that page, from
anyone, through any worker, is computed afresh; nobody ever sees a count older than their own
vote. Useful: an unchanged page is a kept copy (`X-Cache: hit`; anonymous visitors share one,
a signed-in person has their own) and a 304 without running the view for anyone who sends its
ETag back. The cache failing costs speed, never a page.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, update

from portal import cache
from portal.extensions import db
from portal.mail import outbox
from portal.main import views as main_views
from portal.models import Idea, OutboxMessage, OutboxStatus, User, Vote
from portal.services import accounts

from .conftest import sign_in_client
from .helpers import page_text
from .servers import free_port, private_redis_database

TITLE = "Export reports to Excel"
CACHED_PAGES = (
    "/",
    "/guidelines",
    "/roadmap",
    "/shipped",
    "/ideas/{idea_id}",
    "/search?q=excel",
    "/feeds/ideas.atom",
    "/feeds/shipped.atom",
    "/ideas/{idea_id}/feed.atom",
)


# --- Reading pages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """What a page says about one idea: its votes, whether the viewer voted, its comments."""

    votes: int
    voted: bool
    comments: int


def card_html(response, idea_id: int) -> str:
    """The idea's card on the home page, as HTML; empty when the page does not list it."""
    text = page_text(response)
    match = re.search(rf'<article class="idea-card" id="idea-{idea_id}".*?</article>', text, re.S)
    return match[0] if match else ""


def home_card(response, idea_id: int) -> Card | None:
    """What the idea's card on the home page says, or None when the page does not list it."""
    card = card_html(response, idea_id)
    if not card:
        return None
    return Card(
        votes=int(re.search(r'class="vote__count">(\d+)<', card)[1]),
        voted='aria-pressed="true"' in card,
        comments=int(re.search(r"(\d+) comments?<", card)[1]),
    )


def idea_card(response) -> Card:
    """The same, read from the idea's own page (whose follow button is pressed too)."""
    text = page_text(response)
    button = re.search(r'class="vote__button.*?</(?:button|a|div)>', text, re.S)[0]
    return Card(
        votes=int(re.search(r'class="vote__count">(\d+)<', button)[1]),
        voted='aria-pressed="true"' in button,
        comments=int(re.search(r"Conversation \((\d+)\)", text)[1]),
    )


def x_cache(response) -> str | None:
    return response.headers.get("X-Cache")


def visitor(app: Flask) -> FlaskClient:
    """A new browser: no cookies, nobody signed in."""
    return app.test_client()


def person(app: Flask, user: User) -> FlaskClient:
    """A new browser signed in as user."""
    client = app.test_client()
    sign_in_client(client, user)
    return client


def settled(client: FlaskClient, path: str):
    """GET path until the session stops changing (its first view stores a CSRF token)."""
    for _ in range(3):
        response = client.get(path)
        if response.headers.get("ETag"):
            return response
    raise AssertionError(f"{path} never got an ETag: {response.status_code} {response.headers}")


def generation(app: Flask) -> int:
    return app.extensions[cache.EXTENSION].generations.read()


@pytest.fixture
def idea(make_idea) -> Idea:
    return make_idea(TITLE)


# --- Every write that a page shows, shown at once --------------------------------------------


# Each write through the app, and what the home page shows once it is made.
Shows = Callable[[object, int], bool]


def _vote(app, idea, make_user, **_) -> Shows:
    response = person(app, make_user()).post(f"/ideas/{idea.id}/vote", data={"action": "vote"})
    assert response.status_code == 303
    return lambda page, idea_id: home_card(page, idea_id).votes == 2  # the author's and one


def _comment(app, idea, make_user, **_) -> Shows:
    response = person(app, make_user()).post(
        f"/ideas/{idea.id}/comments", data={"body": "We copy the numbers by hand too."}
    )
    assert response.status_code == 303
    return lambda page, idea_id: home_card(page, idea_id).comments == 1


def _stage_change(app, idea, make_user, stages, **_) -> Shows:
    team = person(app, make_user("product_manager"))
    response = team.post(
        f"/ideas/{idea.id}/move",
        data={"stage_id": str(stages["planned"].id), "note": "Planned for the spring release."},
    )
    assert response.status_code == 303
    planned = re.compile(r'badge--planned[^"]*">Planned<')  # with its colour class, if any
    return lambda page, idea_id: bool(planned.search(card_html(page, idea_id)))


def _hide(app, idea, make_user, **_) -> Shows:
    admin = person(app, make_user("admin"))
    response = admin.post(
        f"/admin/moderation/ideas/{idea.id}/hide", data={"reason": "Spam: see our guidelines."}
    )
    assert response.status_code == 303
    return lambda page, idea_id: home_card(page, idea_id) is None


def _edit_title(app, idea, **_) -> Shows:
    author = person(app, db.session.get(User, idea.author_id))
    response = author.post(
        f"/ideas/{idea.id}/edit",
        data={"title": "Export every report to Excel", "problem": idea.problem, "solution": ""},
    )
    assert response.status_code == 303
    return lambda page, idea_id: "Export every report to Excel" in card_html(page, idea_id)


def _site_name(app, make_user, **_) -> Shows:
    admin = person(app, make_user("admin"))
    assert admin.post("/admin/settings", data={"site_name": "Acme Ideas"}).status_code == 303
    return lambda page, idea_id: "<title>Acme Ideas</title>" in page_text(page)


WRITES = {
    "vote": _vote,
    "comment": _comment,
    "stage change": _stage_change,
    "hidden by a moderator": _hide,
    "title edited": _edit_title,
    "site renamed": _site_name,
}


@pytest.mark.parametrize("write", WRITES)
def test_an_anonymous_page_is_kept_until_a_write_it_shows(app, idea, make_user, stages, write):
    first = visitor(app).get("/")
    assert (first.status_code, x_cache(first)) == (200, "miss")
    second = visitor(app).get("/")
    assert x_cache(second) == "hit"
    assert second.get_data() == first.get_data()
    assert home_card(second, idea.id) == Card(votes=1, voted=False, comments=0)

    shows = WRITES[write](app=app, idea=idea, make_user=make_user, stages=stages)
    assert not shows(second, idea.id), "the write should change the page"

    after = visitor(app).get("/")
    assert (after.status_code, x_cache(after)) == (200, "miss"), write
    assert shows(after, idea.id), write
    assert x_cache(visitor(app).get("/")) == "hit", "kept again, now with the write"


def test_a_hidden_idea_is_gone_from_its_page_and_feeds_at_once(app, idea, make_user):
    for path in (f"/ideas/{idea.id}", "/feeds/ideas.atom"):
        visitor(app).get(path)
        assert x_cache(visitor(app).get(path)) == "hit", path
        assert TITLE in page_text(visitor(app).get(path))

    _hide(app, idea, make_user)

    assert visitor(app).get(f"/ideas/{idea.id}").status_code == 404
    feed = visitor(app).get("/feeds/ideas.atom")
    assert x_cache(feed) == "miss"
    assert TITLE not in page_text(feed)


# --- Nobody sees a count older than their own vote -------------------------------------------


def test_a_voter_sees_their_own_vote_and_its_withdrawal_at_once(app, idea, make_user):
    voter = person(app, make_user())
    others = visitor(app)
    idea_path = f"/ideas/{idea.id}"
    # Everything warm: the anonymous copies kept, the voter's browser holding ETags.
    for path in ("/", idea_path):
        others.get(path)
    home_tag = settled(voter, "/").headers["ETag"]
    idea_tag = settled(voter, idea_path).headers["ETag"]
    warm = voter.get("/")
    assert x_cache(warm) == "hit", "the voter's own copy is kept too"
    assert home_card(warm, idea.id) == Card(votes=1, voted=False, comments=0)

    for action, expected in (
        ("vote", Card(votes=2, voted=True, comments=0)),
        ("unvote", Card(votes=1, voted=False, comments=0)),
    ):
        response = voter.post(
            f"{idea_path}/vote", data={"action": action, "next": "/"}, follow_redirects=False
        )
        assert response.status_code == 303
        # The very next requests, sending the ETags the browser holds, as browsers do.
        home = voter.get("/", headers={"If-None-Match": home_tag})
        page = voter.get(idea_path, headers={"If-None-Match": idea_tag})
        assert (home.status_code, page.status_code) == (200, 200), action
        assert (x_cache(home), x_cache(page)) == ("miss", "miss"), action
        assert home_card(home, idea.id) == expected, action
        assert idea_card(page) == expected, action
        anonymous = Card(votes=expected.votes, voted=False, comments=0)
        assert home_card(visitor(app).get("/"), idea.id) == anonymous, action
        assert idea_card(visitor(app).get(idea_path)) == anonymous, action
        home_tag, idea_tag = home.headers["ETag"], page.headers["ETag"]


def test_the_vote_buttons_json_answer_has_the_new_count(app, idea, make_user):
    voter = person(app, make_user())
    settled(voter, f"/ideas/{idea.id}")
    response = voter.post(
        f"/ideas/{idea.id}/vote", data={"action": "vote"}, headers={"Accept": "application/json"}
    )
    assert response.get_json().items() >= {"voted": True, "vote_count": 2}.items()
    assert idea_card(voter.get(f"/ideas/{idea.id}")) == Card(votes=2, voted=True, comments=0)


# --- ETags and 304 ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", CACHED_PAGES)
def test_every_cached_page_answers_its_etag_with_an_empty_304(app, idea, make_user, path):
    path = path.format(idea_id=idea.id)
    for client, cache_control in (
        (visitor(app), "no-cache"),
        (person(app, make_user()), "private, no-cache"),
    ):
        page = settled(client, path)
        assert page.status_code == 200
        assert page.headers["Cache-Control"] == cache_control
        assert "Cookie" in page.headers["Vary"]
        again = client.get(path, headers={"If-None-Match": page.headers["ETag"]})
        assert (again.status_code, again.get_data()) == (304, b""), path
        assert again.headers["ETag"] == page.headers["ETag"]
        assert again.headers["Cache-Control"] == cache_control
        assert "Cookie" in again.headers["Vary"]


def test_a_304_runs_no_view_and_no_query(app, idea, make_user, count_queries, monkeypatch):
    anonymous, signed_in = visitor(app), person(app, make_user())
    anonymous_tag = settled(anonymous, "/").headers["ETag"]
    signed_in_tag = settled(signed_in, "/").headers["ETag"]
    rendered: list[str] = []
    real_render = main_views.render_template

    def render(template: str, **context) -> str:
        rendered.append(template)
        return real_render(template, **context)

    monkeypatch.setattr(main_views, "render_template", render)

    with count_queries(cold=False) as queries:
        response = anonymous.get("/", headers={"If-None-Match": anonymous_tag})
    assert (response.status_code, response.get_data()) == (304, b"")
    assert queries.statements == []

    with count_queries(cold=False) as queries:
        response = signed_in.get("/", headers={"If-None-Match": signed_in_tag})
    assert (response.status_code, response.get_data()) == (304, b"")
    # Who is signed in is looked up, and what is theirs alone on the page (their votes on the
    # ideas shown, their unread count of the boards they see); nothing the page shows to all.
    tables = {re.search(r"\bFROM (\w+)", s)[1] for s in queries.statements}
    theirs = {"user_sessions", "users", "votes", "notifications", "boards", "board_members"}
    assert tables <= theirs, queries.statements
    assert rendered == []

    # The view does run when the page is asked for afresh.
    visitor(app).get("/?sort=new")
    assert rendered == ["main/home.html"]


def test_a_browser_behind_a_compressing_proxy_gets_its_304(app, idea):
    """Proxies that compress (nginx's gzip) turn a strong ETag weak; If-None-Match compares
    weakly (RFC 9110, 13.1.2), so W/"tag" must still match."""
    tag = visitor(app).get("/").headers["ETag"]
    response = visitor(app).get("/", headers={"If-None-Match": f"W/{tag}"})
    assert response.status_code == 304


def test_any_write_gives_the_old_etag_a_full_page_and_a_new_etag(app, idea, make_user):
    client = visitor(app)
    old = client.get(f"/ideas/{idea.id}").headers["ETag"]
    assert client.get(f"/ideas/{idea.id}", headers={"If-None-Match": old}).status_code == 304

    make_user()  # a write that no page shows: the cache cannot know, and refreshes

    response = client.get(f"/ideas/{idea.id}", headers={"If-None-Match": old})
    assert response.status_code == 200
    assert TITLE in page_text(response)
    assert response.headers["ETag"] not in (None, old)


def test_each_viewer_has_pages_and_etags_of_their_own(app, idea, make_user):
    first = person(app, make_user(display_name="Fran First"))
    second = person(app, make_user(display_name="Sam Second"))
    tags = {
        "first": settled(first, "/").headers["ETag"],
        "second": settled(second, "/").headers["ETag"],
        "anonymous": visitor(app).get("/").headers["ETag"],
    }
    assert len(set(tags.values())) == 3, tags
    # Each one's copy is kept for them alone: their name at the top, their own forms.
    pages = {"first": first.get("/"), "second": second.get("/"), "anonymous": visitor(app).get("/")}
    assert {name: x_cache(page) for name, page in pages.items()} == dict.fromkeys(pages, "hit")
    assert "Fran First" in page_text(pages["first"])
    assert "Sam Second" not in page_text(pages["first"])
    assert "Sam Second" in page_text(pages["second"])
    assert "Fran First" not in page_text(pages["second"])
    assert "Sign in" in page_text(pages["anonymous"])
    # One person's tag brings another nothing but their own page.
    response = second.get("/", headers={"If-None-Match": tags["first"]})
    assert response.status_code == 200
    assert response.headers["ETag"] == tags["second"]
    response = visitor(app).get("/", headers={"If-None-Match": tags["second"]})
    assert (response.status_code, response.headers["ETag"]) == (200, tags["anonymous"])


def test_a_page_with_a_flash_message_is_never_tagged_nor_kept(app, make_idea, make_user):
    """Messages that come with no write (nothing changes the generation): the kept copy, or a
    304, would swallow them."""
    closed = make_idea("Dark mode", stage="shipped")

    anonymous = visitor(app)
    tag = anonymous.get("/").headers["ETag"]
    assert x_cache(visitor(app).get("/")) == "hit"
    asked = anonymous.post("/password/forgot", data={"email": "nobody@example.com"})
    assert asked.status_code == 303
    flashed = anonymous.get("/", headers={"If-None-Match": tag})
    assert flashed.status_code == 200
    assert "we have emailed it a link" in page_text(flashed)
    assert (flashed.headers.get("ETag"), x_cache(flashed)) == (None, None)
    after = visitor(app).get("/")
    assert x_cache(after) == "hit", "the shared copy is still the one without the message"
    assert "we have emailed it a link" not in page_text(after)
    assert x_cache(anonymous.get("/")) == "hit", "the message shown once, the copy serves again"

    voter = person(app, make_user())
    tag = settled(voter, "/").headers["ETag"]
    refused = voter.post(f"/ideas/{closed.id}/vote", data={"action": "vote", "next": "/"})
    assert refused.status_code == 303
    flashed = voter.get("/", headers={"If-None-Match": tag})
    assert flashed.status_code == 200
    assert "Voting is closed on this idea" in page_text(flashed)
    assert (flashed.headers.get("ETag"), x_cache(flashed)) == (None, None)
    again = voter.get("/", headers={"If-None-Match": tag})
    assert again.status_code == 304, "nothing was written: the page they had is still right"


def test_head_is_answered_like_get_and_keeps_no_empty_page(app, idea):
    head = visitor(app).head("/")
    assert (head.status_code, head.get_data()) == (200, b"")
    tag = head.headers["ETag"]
    assert visitor(app).head("/", headers={"If-None-Match": tag}).status_code == 304

    page = visitor(app).get("/")
    assert x_cache(page) == "hit"
    assert page.headers["ETag"] == tag
    assert home_card(page, idea.id) == Card(votes=1, voted=False, comments=0)


def test_with_csrf_on_cookieless_visitors_share_copies_and_kept_forms_work(
    app, idea, make_user, another_app
):
    """As in production (the other tests switch CSRF off): a crawler that keeps no cookie
    still gets the shared copy, and a signed-in person's kept page carries a token that works."""
    production = another_app(Path(app.instance_path), WTF_CSRF_ENABLED=True)
    for path in CACHED_PAGES:
        path = path.format(idea_id=idea.id)
        visitor(production).get(path)
        again = visitor(production).get(path)
        assert (again.status_code, x_cache(again)) == (200, "hit"), path
        assert "Set-Cookie" not in again.headers, path

    voter = person(production, make_user())
    settled(voter, "/")
    kept = voter.get("/")
    assert x_cache(kept) == "hit"
    form = re.search(
        r'<form method="post" action="/ideas/\d+/vote".*?</form>', page_text(kept), re.S
    )
    token = re.search(r'name="csrf_token" value="([^"]+)"', form[0])[1]
    response = voter.post(f"/ideas/{idea.id}/vote", data={"action": "vote", "csrf_token": token})
    assert response.status_code == 303
    assert home_card(voter.get("/"), idea.id) == Card(votes=2, voted=True, comments=0)


# --- What advances the generation ------------------------------------------------------------


def test_only_committed_writes_that_pages_show_advance_the_generation(app, idea, make_user):
    user = make_user()
    # Someone signs up with a taken address: its owner is warned by email.
    accounts.register(
        email=user.email,
        display_name="Someone Else",
        password="a long enough passphrase",
        accepted_guidelines=True,
        ip=None,
    )
    db.session.commit()
    start = generation(app)
    visitor(app).get("/")
    assert x_cache(visitor(app).get("/")) == "hit"

    # Sending email writes only to the outbox, which no page shows.
    assert outbox.deliver_due() == 1
    assert db.session.scalar(select(OutboxMessage.status)) == OutboxStatus.SENT
    assert generation(app) == start
    assert x_cache(visitor(app).get("/")) == "hit"

    # A write that is rolled back changed nothing.
    db.session.execute(update(Idea).values(title="Never committed"))
    db.session.execute(delete(Vote))
    db.session.rollback()
    assert generation(app) == start
    assert x_cache(visitor(app).get("/")) == "hit"
    db.session.commit()  # the next transaction does not inherit the rolled-back write
    assert generation(app) == start

    # Any committed write to ideas or votes, however it is made.
    db.session.execute(update(Idea).values(vote_count=Idea.vote_count + 1))
    db.session.commit()
    assert generation(app) > start
    page = visitor(app).get("/")
    assert x_cache(page) == "miss"
    assert home_card(page, idea.id).votes == 2

    start = generation(app)
    db.session.execute(delete(Vote).where(Vote.idea_id == idea.id))
    db.session.commit()
    assert generation(app) > start
    assert db.session.scalar(select(func.count()).select_from(Vote)) == 0


# --- Several workers, several servers --------------------------------------------------------


def test_two_workers_of_one_machine_share_the_generation(app, idea, make_user, another_app):
    other_worker = another_app(Path(app.instance_path))
    assert visitor(other_worker).get("/").status_code == 200
    assert x_cache(visitor(other_worker).get("/")) == "hit"

    voter = person(app, make_user())
    assert voter.post(f"/ideas/{idea.id}/vote", data={"action": "vote"}).status_code == 303

    page = visitor(other_worker).get("/")
    assert x_cache(page) == "miss"
    assert home_card(page, idea.id).votes == 2


@pytest.fixture
def redis_url() -> Iterator[str]:
    with private_redis_database() as url:
        yield url


def test_two_servers_share_entries_and_invalidation_through_redis(
    app, idea, make_user, another_app, tmp_path, redis_url
):
    server_a = another_app(tmp_path / "instance-a", REDIS_URL=redis_url)
    server_b = another_app(tmp_path / "instance-b", REDIS_URL=redis_url)

    first = visitor(server_a).get("/")
    assert x_cache(first) == "miss"
    second = visitor(server_b).get("/")
    assert x_cache(second) == "hit"
    assert second.get_data() == first.get_data()
    # A browser sent to the other server by the load balancer still gets its 304.
    tag = first.headers["ETag"]
    assert visitor(server_b).get("/", headers={"If-None-Match": tag}).status_code == 304

    voter = person(server_a, make_user())
    assert voter.post(f"/ideas/{idea.id}/vote", data={"action": "vote"}).status_code == 303

    page = visitor(server_b).get("/")
    assert x_cache(page) == "miss"
    assert home_card(page, idea.id).votes == 2
    assert visitor(server_b).get("/", headers={"If-None-Match": tag}).status_code == 200


def test_the_same_release_on_another_machine_has_the_same_keys(monkeypatch, tmp_path):
    """Each machine installs the code at its own time, perhaps in its own place: keys (and so
    ETags) made from file times or paths would be each machine's own, shared by none."""
    cache.code_version.cache_clear()
    here = cache.code_version()
    release = tmp_path / "elsewhere"
    for folder in ("portal", "templates"):
        shutil.copytree(
            cache.ROOT / folder,
            release / folder,
            ignore=shutil.ignore_patterns("__pycache__"),
            copy_function=shutil.copyfile,  # new files: times of their own
        )
    monkeypatch.setattr(cache, "ROOT", release)
    cache.code_version.cache_clear()
    try:
        assert cache.code_version() == here
    finally:
        cache.code_version.cache_clear()


def test_an_unreachable_cache_serves_every_page_uncached(
    app, idea, make_user, another_app, tmp_path
):
    down = another_app(tmp_path / "instance-down", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    for path in ("/", f"/ideas/{idea.id}"):
        response = visitor(down).get(path)
        assert response.status_code == 200, path
        assert (x_cache(response), response.headers.get("ETag")) == (None, None)

    voter = person(down, make_user())
    assert voter.post(f"/ideas/{idea.id}/vote", data={"action": "vote"}).status_code == 303
    assert home_card(voter.get("/"), idea.id) == Card(votes=2, voted=True, comments=0)
    assert home_card(visitor(down).get("/"), idea.id).votes == 2


def test_with_the_cache_off_pages_are_plain_and_right(app, idea, make_user, another_app):
    plain = another_app(Path(app.instance_path), CACHE_ENABLED=False)
    for _ in range(2):
        response = visitor(plain).get("/")
        assert response.status_code == 200
        assert (x_cache(response), response.headers.get("ETag")) == (None, None)

    voter = person(plain, make_user())
    assert voter.post(f"/ideas/{idea.id}/vote", data={"action": "vote"}).status_code == 303
    assert home_card(visitor(plain).get("/"), idea.id).votes == 2


# --- What a write makes afresh, and what is one person's own (issue 18) ---------------------


def test_a_vote_makes_afresh_its_idea_and_the_lists_but_not_other_ideas(app, make_idea, make_user):
    voted_on, other = make_idea("Export reports to Excel"), make_idea("Dark mode for the app")
    voter, commenter = person(app, make_user()), person(app, make_user())
    admin = person(app, make_user("admin"))
    paths = ("/", f"/ideas/{voted_on.id}", f"/ideas/{other.id}", "/guidelines")
    for path in paths:
        visitor(app).get(path)
        assert x_cache(visitor(app).get(path)) == "hit", path

    assert voter.post(f"/ideas/{voted_on.id}/vote", data={"action": "vote"}).status_code == 303

    after = {path: visitor(app).get(path) for path in paths}
    assert {p: x_cache(r) for p, r in after.items()} == {
        "/": "miss",
        f"/ideas/{voted_on.id}": "miss",
        f"/ideas/{other.id}": "hit",  # shows nothing of the vote: kept
        "/guidelines": "hit",
    }
    assert home_card(after["/"], voted_on.id).votes == 2
    assert idea_card(after[f"/ideas/{voted_on.id}"]).votes == 2

    # A comment likewise; a write to anything else (a new category) makes every page afresh.
    body = {"body": "We copy the numbers by hand."}
    assert commenter.post(f"/ideas/{voted_on.id}/comments", data=body).status_code == 303
    assert x_cache(visitor(app).get(f"/ideas/{other.id}")) == "hit"
    assert idea_card(visitor(app).get(f"/ideas/{voted_on.id}")).comments == 1
    admin.post("/admin/settings", data={"site_name": "Acme Ideas"})
    assert x_cache(visitor(app).get(f"/ideas/{other.id}")) == "miss"


def test_a_write_beyond_an_ideas_activity_inside_touching_makes_everything_afresh(app, idea):
    start = generation(app)
    with app.test_request_context("/"):
        with cache.touching(idea.id):
            db.session.execute(update(Idea).values(vote_count=Idea.vote_count + 1))
            db.session.commit()
        assert generation(app) == start, "votes' own tables: only the idea and the lists"
        with cache.touching(idea.id):
            db.session.execute(update(User).values(display_name="Someone"))
            db.session.execute(update(Idea).values(vote_count=Idea.vote_count + 1))
            db.session.commit()
    assert generation(app) == start + 1, "a table outside them: every page"


def test_people_who_see_the_same_share_one_copy_each_with_their_own_things(
    app, idea, make_idea, make_user, another_app
):
    """One kept home page serves every customer who sees the same boards; each gets their own
    name, unread count, votes and a CSRF token that works."""
    production = another_app(Path(app.instance_path), WTF_CSRF_ENABLED=True)
    other_idea = make_idea("Dark mode for the app")
    fran = person(production, make_user(display_name="Fran First"))
    sam = person(production, make_user(display_name="Sam Second"))
    assert fran.post(f"/ideas/{idea.id}/vote", data={"action": "vote"}).status_code in (400, 303)
    first = settled(fran, "/")
    # Sam has never asked for the page: the copy rendered for Fran's role and boards serves.
    sams = sam.get("/")
    assert x_cache(sams) == "hit"
    text = page_text(sams)
    assert "Sam Second" in text and "Fran First" not in text
    assert "Fran First" in page_text(first)
    assert home_card(sams, idea.id).voted is False

    # Sam votes with the token on their copy, and sees their own vote; Fran's copy says what
    # Fran did, with the new count.
    form = re.search(
        rf'<form method="post" action="/ideas/{other_idea.id}/vote".*?</form>', text, re.S
    )
    token = re.search(r'name="csrf_token" value="([^"]+)"', form[0])[1]
    voted = sam.post(f"/ideas/{other_idea.id}/vote", data={"action": "vote", "csrf_token": token})
    assert voted.status_code == 303
    sams = sam.get("/")
    assert home_card(sams, other_idea.id) == Card(votes=2, voted=True, comments=0)
    frans = fran.get("/")
    assert x_cache(frans) == "hit", "rendered once for both after the vote"
    assert home_card(frans, other_idea.id) == Card(votes=2, voted=False, comments=0)
    assert frans.headers["ETag"] != sams.headers["ETag"]

    # A team member has a copy of their own role's.
    team = settled(person(production, make_user("product_manager")), "/")
    assert "Triage" in page_text(team) and "Triage" not in page_text(sams)


def test_an_unread_count_is_current_on_a_kept_page(app, idea, make_idea, make_user):
    reader = person(app, make_user(display_name="Fran Follower"))
    commenter = person(app, make_user())
    other = make_idea("Dark mode for the app")
    assert reader.post(f"/ideas/{idea.id}/follow", data={"action": "follow"}).status_code == 303
    settled(reader, f"/ideas/{other.id}")
    assert x_cache(reader.get(f"/ideas/{other.id}")) == "hit"
    assert "unread" not in page_text(reader.get(f"/ideas/{other.id}"))

    body = {"body": "We need this for the board meeting."}
    assert commenter.post(f"/ideas/{idea.id}/comments", data=body).status_code == 303

    page = reader.get(f"/ideas/{other.id}")
    assert x_cache(page) == "hit", "the comment was on another idea: the page is kept"
    assert re.search(r'class="count">1<span class="visually-hidden"> unread', page_text(page))


def test_who_is_signed_in_is_known_without_a_query_until_an_account_changes(
    app, idea, make_user, another_app, count_queries
):
    other_worker = another_app(Path(app.instance_path))
    user = make_user()
    browser = person(app, user)
    settled(browser, "/")
    with count_queries(cold=False) as queries:
        assert x_cache(browser.get("/")) == "hit"
    tables = {re.search(r"\bFROM (\w+)", s)[1] for s in queries.statements}
    assert not tables & {"user_sessions", "users"}, queries.statements

    # Another worker ends the session: this one knows at once.
    key = browser.get_cookie("portal_session")
    other = other_worker.test_client()
    other.set_cookie("portal_session", key.value)
    assert "Sign out" in page_text(other.get("/"))
    assert other.post("/sign-out").status_code == 302
    assert "Sign out" not in page_text(browser.get("/"))

    # A suspension (here by a command), likewise.
    suspended = make_user()
    browser = person(app, suspended)
    assert "Sign out" in page_text(settled(browser, "/"))
    db.session.execute(update(User).where(User.id == suspended.id).values(suspended_at=func.now()))
    db.session.commit()
    assert "Sign out" not in page_text(browser.get("/"))
