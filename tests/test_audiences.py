"""The promise of private boards: a person outside one learns nothing about it, not even that an
idea exists.

One world (`world`): a private board ("Quokkaboard") for organisation Acme and one invited
member, holding ideas on the roadmap, shipped in a published release, with comments, an
official answer and votes, and an idea the outsider had followed, voted for and commented on
while it was public before it moved in. Around it, ordinary public ideas sharing words with the
private ones. The outsider is a verified customer of Globex; a visitor is signed in as nobody; a
suspended Acme person sees what a visitor sees.

Routes are read from the app (app.url_map), never from a hand list, so every route added later
is covered: each GET route naming a private idea, comment, notification or board answers as if
it did not exist, and every GET route naming nothing private gives the outsider the same page
whether or not the private board and its ideas exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import quote, quote_plus, unquote_plus

import pytest
from flask import url_for
from sqlalchemy import delete, func, select

from portal import visibility
from portal.extensions import db
from portal.models import Board, BoardMember, BoardOrganisation, Idea, Notification, User
from portal.models.board import Audience
from portal.services import api_keys, comments, email_settings, pipeline, releases, votes
from portal.services import ideas as idea_service

from .conftest import sign_in_client
from .helpers import database_snapshot, page_text
from .test_access import API_MATRIX, MATRIX
from .test_email import mailbox, run, smtp_server  # noqa: F401  (fixtures)
from .test_query_params import PARAMS

# Words only the private board and its ideas contain: none may reach an outsider.
SECRETS = (
    "quokka",
    "zanzibar",
    "xylophon",
    "marzipan",
    # The private titles without their first word: found even where someone searched for it.
    "telemetry for fleets",
    "telemetry exports",
    "telemetry per driver",
    "alerts by sms",
)
SHARED_WORD = "telemetry"  # in public and private titles alike
MISSING_ID = 987_654
MISSING_SLUG = "no-such-board"
PRIVATE_SLUG = "quokka-lounge"


@dataclass
class World:
    public_board: Board
    board: Board
    outsider: User
    acme: User
    invited: User
    pm: User
    suspended: User
    private: dict[str, int]  # the private ideas, by role in the story
    public_idea: int
    public_comment: int
    private_comment: int
    outsider_notification_public: int
    outsider_notification_private: int
    release: int

    @property
    def private_ids(self) -> list[int]:
        return sorted(self.private.values())


def _in_stage(idea: Idea, stage) -> None:
    idea.stage = stage
    idea_service.promise_next_answer(idea, stage, since=idea.created_at)


@pytest.fixture
def world(app, make_user, make_organisation, stages) -> World:
    acme_org = make_organisation("Acme", domains=("acme.example",))
    globex = make_organisation("Globex", domains=("globex.example",))
    pm = make_user("product_manager", display_name="Priya Product")
    outsider = make_user(
        email="olga@globex.example", display_name="Olga Outsider", organisation=globex
    )
    acme = make_user(email="ann@acme.example", display_name="Ann Acme", organisation=acme_org)
    acme_voter = make_user(email="vic@acme.example", display_name="Vic Acme", organisation=acme_org)
    invited = make_user(email="ines@freelance.example", display_name="Ines Invited")
    suspended = make_user(
        email="sam@acme.example",
        display_name="Sam Suspended",
        organisation=acme_org,
        suspended_reason="Posting adverts",
    )
    public_author = make_user(display_name="Paul Public")
    # Comments by others come in the daily digest (the default); official answers at once.
    email_settings.set_preferences(outsider, {"comment": "daily"})
    email_settings.set_preferences(acme, {"comment": "daily"})

    def post(title: str, author: User, problem: str, board: Board | None = None) -> Idea:
        return idea_service.submit_idea(author=author, title=title, problem=problem, board=board)

    public_board = db.session.scalar(select(Board).order_by(Board.position, Board.id))
    public = post(
        f"Export {SHARED_WORD} to CSV", public_author, f"We copy {SHARED_WORD} numbers by hand."
    )
    public_shipped = post(
        f"Dark mode {SHARED_WORD} dashboard", public_author, "Our night shift squints at it."
    )
    moved = post(
        f"Zanzibar {SHARED_WORD} alerts by SMS",
        public_author,
        "Xylophonic pager noise wakes the whole floor.",
    )
    db.session.commit()
    public_comment = comments.add_comment(public, author=pm, body=f"Which {SHARED_WORD} fields?")
    # The outsider follows, votes for and talks about `moved` while it is still public...
    votes.cast_vote(moved, outsider)
    votes.follow(moved, outsider)
    comments.add_comment(moved, author=outsider, body="We would use this every night.")
    comments.add_comment(moved, author=pm, body="Marzipan-grade alerts are on our list.")
    answer = comments.add_comment(moved, author=pm, body="Marzipan: we will start with SMS.")
    comments.mark_official(answer, actor=pm)
    db.session.commit()

    # ... and then it moves into a private board for Acme and one invited freelancer.
    board = Board(
        name="Quokkaboard",
        slug=PRIVATE_SLUG,
        description="Quokkaboard: what Acme's fleet team asks of us.",
        position=5,
        audience=Audience.PRIVATE.value,
    )
    db.session.add(board)
    db.session.flush()
    db.session.add_all(
        [
            BoardOrganisation(board_id=board.id, organisation_id=acme_org.id),
            BoardMember(board_id=board.id, user_id=invited.id),
        ]
    )
    moved.board_id = board.id
    db.session.commit()
    visibility.forget()  # this test's app context asked about boards before this one existed

    planned = post(
        f"Zanzibar {SHARED_WORD} for fleets",
        acme,
        "Xylophonic route data from every truck, in one place.",
        board,
    )
    shipped = post(
        f"Zanzibar {SHARED_WORD} exports", acme, "Xylophonic reports for the fleet board.", board
    )
    talked = post(
        f"Zanzibar {SHARED_WORD} per driver", acme, "Xylophonic scores for each driver.", board
    )
    _in_stage(planned, stages["planned"])
    for idea in (shipped, public_shipped):
        _in_stage(idea, stages["in_progress"])
    votes.cast_vote(talked, acme_voter)
    votes.cast_vote(talked, invited)
    comments.add_comment(talked, author=acme_voter, body="Marzipan scores would settle it.")
    official = comments.add_comment(talked, author=pm, body="Marzipan scores ship in spring.")
    comments.mark_official(official, actor=pm)
    # After the move: told to Acme, never to the outsider.
    comments.add_comment(moved, author=acme_voter, body="Marzipan alerts please, by Friday.")
    pipeline.move_stage(
        moved, stages["under_review"], actor=pm, note="Marzipan review with Acme.", ip=None
    )
    db.session.commit()
    release = releases.save_draft(
        None,
        actor=pm,
        ip=None,
        title="Spring release",
        note="Two things our customers asked for, ready to use today.",
        idea_ids=[shipped.id, public_shipped.id],
    )
    db.session.commit()
    releases.publish(release, actor=pm, ip=None)
    # The outsider also hears about a public idea, so their notification pages are not empty.
    votes.follow(public, outsider)
    comments.add_comment(public, author=acme_voter, body=f"Yes, all {SHARED_WORD} fields.")
    db.session.commit()

    def outsider_notification(idea_id: int) -> int:
        found = db.session.scalar(
            select(func.min(Notification.id)).where(
                Notification.user_id == outsider.id, Notification.idea_id == idea_id
            )
        )
        assert found is not None, "the outsider was told of this idea while it was public"
        return found

    return World(
        public_board=public_board,
        board=board,
        outsider=outsider,
        acme=acme,
        invited=invited,
        pm=pm,
        suspended=suspended,
        private={
            "moved": moved.id,
            "planned": planned.id,
            "shipped": shipped.id,
            "talked": talked.id,
        },
        public_idea=public.id,
        public_comment=public_comment.id,
        private_comment=official.id,
        outsider_notification_public=outsider_notification(public.id),
        outsider_notification_private=outsider_notification(moved.id),
        release=release.id,
    )


# --- Requests, and reading what came back -------------------------------------------------------


def browser(app, user: User | None):
    """A browser signed in as the person, which also sends an API key of theirs (the site's
    pages ignore it; the API reads nothing else), so every route is asked as them."""
    client = app.test_client()
    if user is not None:
        sign_in_client(client, user)
        if not user.is_suspended:  # nobody suspended may make a key; theirs stop working
            _key, token = api_keys.create_key(user, name="audiences", scopes=["write"])
            db.session.commit()
            client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
            assert client.get("/api/v1/me").status_code == 200  # its first use, written now
    return client


def viewers(app, w: World) -> dict[str, object]:
    return {
        "visitor": browser(app, None),
        "outsider": browser(app, w.outsider),
        "suspended": browser(app, w.suspended),
    }


def leaks(text: str, asked: str = "") -> list[str]:
    """The secret words in text, leaving out what the person typed into the address."""
    lowered = text.lower()
    for typed in re.split(r"[?&=+/]", unquote_plus(asked).lower()):
        if typed:
            lowered = lowered.replace(quote_plus(typed).lower(), "").replace(typed, "")
    return [word for word in SECRETS if word in lowered]


def answer_text(response) -> str:
    return page_text(response) + " " + response.headers.get("Location", "")


_NORMAL = [
    (re.compile(r'name="csrf_token"[^>]*value="[^"]*"'), 'name="csrf_token"'),
    (re.compile(r'data-csrf="[^"]*"'), 'data-csrf=""'),
    (re.compile(r'<meta name="csrf-token" content="[^"]*"'), '<meta name="csrf-token"'),
    (re.compile(r'nonce="[^"]*"'), 'nonce=""'),
    (re.compile(r'(name="started" type="hidden" value=")[^"]*"'), r'\1"'),
    (re.compile(r"\b(just now|\d+ (second|minute|hour|day)s? ago)\b"), "a moment ago"),
    (re.compile(r'(request[-_ ]id["\s:=]+)[\w-]+', re.I), r"\1"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?"), "TIME"),
]


def normalised(response) -> tuple[int, str, str]:
    body = response.get_data(as_text=True)
    for pattern, replacement in _NORMAL:
        body = pattern.sub(replacement, body)
    return response.status_code, response.headers.get("Location", ""), body


# --- Filling in the URLs -------------------------------------------------------------------------


def _private_names(name: str) -> bool:
    """Which URL variables name something that may be private."""
    return any(part in name for part in ("idea", "comment", "board", "slug", "notification")) or (
        name == "target_id"
    )


def _is_number(rule, name: str) -> bool:
    return type(rule._converters[name]).__name__ not in ("UnicodeConverter", "PathConverter")


def values(rule, w: World, which: str) -> dict[str, object]:
    """URL values: `which` is "private" (names the private board's things), "missing" (ids and
    slugs that do not exist) or "public" (public things; the rest alike in all three)."""
    idea = {"private": w.private["talked"], "missing": MISSING_ID, "public": w.public_idea}
    samples: dict[str, dict[str, object]] = {
        "idea_id": idea,
        "target_id": idea,
        "comment_id": {
            "private": w.private_comment,
            "missing": MISSING_ID,
            "public": w.public_comment,
        },
        "notification_id": {
            "private": w.outsider_notification_private,
            "missing": MISSING_ID,
            "public": w.outsider_notification_public,
        },
        "slug": {"private": PRIVATE_SLUG, "missing": MISSING_SLUG, "public": w.public_board.slug},
        "board_id": {"private": w.board.id, "missing": MISSING_ID, "public": w.public_board.id},
    }
    alike: dict[str, object] = {
        "user_id": w.outsider.id,
        "organisation_id": w.outsider.organisation_id,
        "release_id": w.release,
        "token": "not-a-real-token",
    }
    found: dict[str, object] = {}
    for name in rule.arguments:
        if name in samples:
            found[name] = samples[name][which]
        elif name in alike:
            found[name] = alike[name]
        elif _private_names(name):
            is_number = _is_number(rule, name)
            slug = {"private": PRIVATE_SLUG, "missing": MISSING_SLUG, "public": "ideas"}[which]
            found[name] = idea[which] if is_number else slug
        else:
            is_number = _is_number(rule, name)
            found[name] = 1 if is_number else "x"
    return found


def get_rules(app) -> list:
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static" and "GET" in r.methods]
    # The matrix lists every route: a route it lacks fails there, and would be missed here.
    assert {r.endpoint for r in rules} <= set(MATRIX) | set(API_MATRIX), "a route is missing"
    return sorted(rules, key=lambda r: r.endpoint)


def url(app, rule, vals: dict[str, object], **query: str) -> str:
    with app.test_request_context():
        return url_for(rule.endpoint, **vals, **query)


# --- 1. Naming a private thing is the same as naming nothing ------------------------------------


def test_naming_a_private_idea_comment_notification_or_board_is_like_naming_nothing(app, world):
    w = world
    named = [r for r in get_rules(app) if any(_private_names(a) for a in r.arguments)]
    assert {"ideas.detail", "main.idea_feed", "ideas.report_idea"} <= {r.endpoint for r in named}
    problems = []
    for who, client in viewers(app, w).items():
        for rule in named:
            private_url = url(app, rule, values(rule, w, "private"))
            missing_url = url(app, rule, values(rule, w, "missing"))
            private, missing = client.get(private_url), client.get(missing_url)
            where = f"GET {private_url} as {who}"
            if found := leaks(answer_text(private), private_url):
                problems.append(f"{where} shows {found}")
            if _as_if(private, private_url) != _as_if(missing, missing_url):
                problems.append(f"{where}: not the answer for {missing_url}")
                problems.append(_first_difference(private.text, missing.text))
    assert not problems, "\n".join(problems)


def _as_if(response, asked: str) -> tuple[int, str, str]:
    """The answer with the address asked for taken out of it (a sign-in link names it)."""
    status, location, body = normalised(response)
    for form in (asked, quote_plus(asked), quote(asked, safe="")):
        location, body = location.replace(form, "ASKED"), body.replace(form, "ASKED")
    return status, location, body


# --- 2. Pages naming nothing private are the same with or without the private board -------------


def _variants(endpoint: str) -> list[dict[str, str]]:
    """Query strings that matter: search words found in public and private titles, the private
    board's slug, sorts and stages; each only where the route reads it."""
    reads = PARAMS.get(endpoint, {})
    tries = [
        {"q": SHARED_WORD},
        {"q": "zanzibar"},
        {"board": PRIVATE_SLUG},
        {"sort": "top"},
        {"sort": "new"},
        {"stage": "planned"},
        {"stage": "shipped"},
        {"by": "stage"},
        {"title": f"Zanzibar {SHARED_WORD}"},
        {"unread": "1"},
    ]
    lists = {"main.home", "ideas.search", "main.roadmap", "main.shipped", "main.ideas_feed"}
    return [{}] + [
        q for q in tries if set(q) <= set(reads) or (q.keys() == {"board"} and endpoint in lists)
    ]


def _delete_everywhere(table, condition) -> None:
    """Delete the rows of `table` meeting `condition`, and first every row that refers to them."""
    for other in db.metadata.sorted_tables:
        for key in other.foreign_keys:
            if key.column.table is table and other is not table:
                _delete_everywhere(other, key.parent.in_(select(key.column).where(condition)))
    db.session.execute(delete(table).where(condition))


def remove_private_board(w: World) -> None:
    _delete_everywhere(Idea.__table__, Idea.__table__.c.board_id == w.board.id)
    _delete_everywhere(Board.__table__, Board.__table__.c.id == w.board.id)
    db.session.commit()


def test_the_outsider_sees_the_same_pages_whether_or_not_the_private_board_exists(app, world):
    w = world
    clients = {"visitor": browser(app, None), "outsider": browser(app, w.outsider)}
    requests = [
        (rule, url(app, rule, values(rule, w, "public"), **query))
        for rule in get_rules(app)
        for query in _variants(rule.endpoint)
    ]
    # Every path that lists ideas or counts them is among them.
    paths = {u.split("?")[0] for _, u in requests}
    assert {"/", "/search", "/roadmap", "/shipped", "/notifications", "/my-ideas"} <= paths | {
        "/my-ideas"
    }

    def pages() -> dict[tuple[str, str], tuple[int, str, str]]:
        return {(who, u): normalised(c.get(u)) for who, c in clients.items() for _, u in requests}

    pages()  # once first: opening a page marks its news read, which changes the next look
    before = pages()
    remove_private_board(w)
    after = pages()
    problems = []
    for key, page in before.items():
        if found := leaks(page[1] + " " + page[2], key[1]):
            problems.append(f"GET {key[1]} as {key[0]} shows {found}")
        if page != after[key]:
            problems.append(f"GET {key[1]} as {key[0]} differs when the private board is gone")
            problems.append(_first_difference(page[2], after[key][2]))
    assert not problems, "\n".join(problems[:40]) + f"\n({len(problems)} lines in all)"


def _first_difference(one: str, other: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(one, other, strict=False)) if a != b), None)
    at = min(len(one), len(other)) if at is None else at
    start, end = max(0, at - 120), at + 120
    return f"    with: {one[start:end]!r}\n    without: {other[start:end]!r}"


# --- 3. Acting on a private idea is acting on nothing --------------------------------------------


class _Filled(dict):
    """The matrix's form placeholders; one added later by another route reads as 1."""

    def __missing__(self, key: str) -> object:
        return 1


def test_every_write_aimed_at_a_private_idea_is_a_404_and_changes_nothing(app, world):
    w = world
    client = browser(app, w.outsider)
    rules = [
        r
        for r in app.url_map.iter_rules()
        if r.methods & {"POST", "PUT", "PATCH", "DELETE"}
        and any(_private_names(a) for a in r.arguments)
    ]
    customer_actions = {
        "ideas.vote",
        "ideas.follow",
        "ideas.comment",
        "ideas.answer_outcome",
        "ideas.report_idea",
        "ideas.report_comment",
    }
    assert customer_actions <= {r.endpoint for r in rules}
    placeholders = {
        "organisation_id": w.outsider.organisation_id,
        "other_idea_id": w.public_idea,
        "stage_id": 1,
        "team_member_id": w.pm.id,
    }
    problems = []
    for rule in sorted(rules, key=lambda r: r.endpoint):
        if rule.endpoint in API_MATRIX:  # asked with the outsider's own API key
            method, body, _statuses = API_MATRIX[rule.endpoint]
            sent: dict[str, object] = {"method": method, "json": body}
        else:
            route = MATRIX[rule.endpoint]
            data = {k: v.format_map(_Filled(placeholders)) for k, v in route.data.items()}
            method, sent = "POST", {"method": "POST", "data": data}
        before = database_snapshot()
        private_url = url(app, rule, values(rule, w, "private"))
        private = client.open(private_url, **sent)
        changed = database_snapshot() != before
        missing = client.open(url(app, rule, values(rule, w, "missing")), **sent)
        where = f"{method} {private_url} as the outsider"
        if changed:
            problems.append(f"{where} changed the database")
        if private.status_code != missing.status_code:
            problems.append(f"{where}: {private.status_code}, {missing.status_code} if missing")
        may_do = rule.endpoint in API_MATRIX and API_MATRIX[rule.endpoint][2]["write"] < 300
        if may_do and private.status_code != 404:
            problems.append(f"{where}: {private.status_code}, not 404")
        if rule.endpoint in customer_actions and private.status_code != 404:
            problems.append(f"{where}: {private.status_code}, not 404")
        if found := leaks(answer_text(private), private_url):
            problems.append(f"{where} shows {found}")
    # Aimed at the private board's other ideas too, the customer's actions change nothing.
    for idea_id in w.private_ids:
        for endpoint in sorted(customer_actions - {"ideas.report_comment"}):
            before = database_snapshot()
            rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
            response = client.post(url(app, rule, {"idea_id": idea_id}), data=MATRIX[endpoint].data)
            if response.status_code != 404 or database_snapshot() != before:
                problems.append(f"POST {endpoint} on idea {idea_id}: {response.status_code}")
    assert not problems, "\n".join(problems)


# --- 4. Emails and notifications -----------------------------------------------------------------


def test_no_email_or_notification_tells_the_outsider_while_acme_hears(app, runner, mailbox, world):  # noqa: F811
    w = world
    run(runner, "outbox", "send")
    run(runner, "digest", "send")

    def text(message) -> str:
        """Subject and every part, decoded (quoted-printable may split a word across lines)."""
        parts = [p.get_content() for p in message.walk() if p.get_content_maintype() == "text"]
        return " ".join([str(message["Subject"]), *parts])

    to_outsider = [text(m) for m in mailbox.messages() if m["To"] == w.outsider.email]
    to_acme = [text(m) for m in mailbox.messages() if m["To"] == w.acme.email]
    for message in to_outsider:
        assert not leaks(message), message[:200]
    # Acme hears of the private ideas; the outsider still hears of the public one.
    assert any("Zanzibar" in m for m in to_acme), [m[:200] for m in to_acme]
    assert any("Export telemetry to CSV" in m for m in to_outsider), [m[:200] for m in to_outsider]

    outsider = browser(app, w.outsider)
    for path in ("/notifications", "/notifications?unread=1", "/"):
        assert not leaks(page_text(outsider.get(path))), path
    insider = browser(app, w.acme)
    assert "Zanzibar" in page_text(insider.get("/notifications"))


# --- 5. The page cache ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", f"/search?q={SHARED_WORD}", "/search?q=zanzibar", "/roadmap", "/shipped"]
)
def test_the_page_cache_keeps_what_insiders_see_from_everyone_else(app, world, path):
    w = world
    assert app.config["CACHE_ENABLED"]
    for insider in (w.acme, w.pm, w.invited):
        # The insider's visit comes first and fills the cache; then the others ask.
        assert "Zanzibar" in page_text(browser(app, insider).get(path)), (path, insider)
        for outsider in (None, w.outsider, w.suspended):
            assert not leaks(page_text(browser(app, outsider).get(path)), path), (path, outsider)
        # And the other way round: an anonymous copy made first is not what the insider gets.
        assert "Zanzibar" in page_text(browser(app, insider).get(path)), (path, insider)


# --- 6. The same world shows insiders everything -------------------------------------------------


@pytest.mark.parametrize("who", ["acme", "invited", "pm"])
def test_insiders_see_the_private_board_and_its_ideas(app, world, who):
    w = world
    client = browser(app, getattr(w, who))
    for idea_id in w.private_ids:
        response = client.get(f"/ideas/{idea_id}")
        assert response.status_code == 200, idea_id
        assert "Zanzibar" in page_text(response)
    found = page_text(client.get(f"/search?q={SHARED_WORD}"))
    assert "Zanzibar" in found and "Export telemetry to CSV" in found
    assert "Zanzibar telemetry for fleets" in page_text(client.get("/roadmap"))
    assert "Zanzibar telemetry exports" in page_text(client.get(f"/shipped/releases/{w.release}"))
    assert "Zanzibar" in page_text(client.get("/"))


def test_the_world_holds_what_the_proof_needs(world):
    w = world
    db.session.expire_all()
    moved = db.session.get(Idea, w.private["moved"])
    assert moved.board_id == w.board.id
    assert votes.has_voted(moved, w.outsider) and votes.is_following(moved, w.outsider)
    assert db.session.get(User, w.suspended.id).is_suspended
    assert SimpleNamespace(**w.private)
