"""Abuse resistance (issue 5; SECURITY.md items 22 and 23).

Honeypot and minimum fill time on sign-up and on a new idea; at most a few links from new accounts;
the same text refused within five minutes; per-person rate limits with the real figures of
portal.config.Defaults, answering 429 with Retry-After and the form as it was typed; and the
limits shared between two apps through Redis, while memory:// keeps them per process.

Time: a `clock` fixture freezes time.time() and moves it on by hand, which is what the fill-time
check (itsdangerous) and Flask-Limiter's in-memory windows read. Database timestamps come from
datetime.now(), so the five-minute window for repeated text is passed by backdating rows.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import redis
from flask import Flask
from sqlalchemy import func, select, update

from portal.config import Defaults
from portal.extensions import db
from portal.models import Comment, Idea, Report, User, Vote
from portal.models.types import utcnow
from portal.services import comments

from .conftest import DEFAULT_PASSWORD, sign_in_client
from .helpers import page_text

ROOT = Path(__file__).resolve().parent.parent

TOO_QUICK = "That was quicker than a person can fill in this form."
OUT_OF_DATE = "This form is out of date."
SENT_ALREADY = "This form was sent already."
HONEYPOT_FILLED = "a field meant to stay empty was filled in"
MAX_LINKS = Defaults.NEW_ACCOUNT_MAX_LINKS
TOO_MANY_LINKS = f"New accounts can put at most {MAX_LINKS} links in a post"
REPEATED = "You posted exactly this in the last 5 minutes."
LIMITED = "To keep spam out there is a limit"
STILL_HERE = "What you typed is still here."

DAY = 24 * 3600


def links(n: int) -> str:
    return "See " + ", ".join(f"https://site{i}.example/page" for i in range(n)) + "."


TOO_MANY = links(MAX_LINKS + 1)  # what a new account may not post
ALLOWED_LINKS = links(MAX_LINKS)


# --- Reading pages ---------------------------------------------------------------------------

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


class _FormReader(HTMLParser):
    """Every form control of a page with its value, and the classes of the elements around it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, dict[str, str]]] = []
        self.controls: list[tuple[str, dict[str, str], list[dict[str, str]]]] = []
        self.labels: dict[str, list[dict[str, str]]] = {}  # for= -> enclosing elements
        self._textarea: dict[str, str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = {name: value or "" for name, value in attrs}
        around = [a for _, a in self.open]
        if tag == "input":
            self.controls.append((tag, attrs, around))
        elif tag == "textarea":
            self._textarea = {**attrs, "value": ""}
            self.controls.append((tag, self._textarea, around))
        elif tag == "label" and "for" in attrs:
            self.labels[attrs["for"]] = around
        if tag not in _VOID:
            self.open.append((tag, attrs))

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i][0] == tag:
                del self.open[i:]
                break

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea["value"] += data


def read_form(response) -> _FormReader:
    reader = _FormReader()
    reader.feed(response.get_data(as_text=True))
    return reader


def form_values(response) -> dict[str, str]:
    """What the page's form holds: text fields, hidden fields, textareas, checked radios."""
    values = {}
    for tag, attrs, _ in read_form(response).controls:
        name = attrs.get("name")
        if not name:
            continue
        if tag == "textarea":
            values[name] = attrs["value"].lstrip("\r\n")  # WTForms starts a textarea with CRLF
        elif attrs.get("type") in ("radio", "checkbox"):
            if "checked" in attrs:
                values[name] = attrs.get("value", "")
        else:
            values[name] = attrs.get("value", "")
    return values


def control(response, name: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    matches = [
        (a, around) for _, a, around in read_form(response).controls if a.get("name") == name
    ]
    assert len(matches) == 1, f"expected one control named {name!r}, found {len(matches)}"
    return matches[0]


def started_token(response) -> str:
    attrs, _ = control(response, "started")
    assert attrs.get("type") == "hidden" and attrs.get("value")
    return attrs["value"]


def retry_after(response) -> int:
    """The Retry-After header of a 429, less the second Flask-Limiter rounds it up by."""
    assert response.status_code == 429, response.status_code
    return int(response.headers["Retry-After"]) - 1


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


# --- Time ------------------------------------------------------------------------------------


class Clock:
    """time.time(), frozen at a whole second and moved on only by advance()."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    frozen = Clock()
    monkeypatch.setattr(time, "time", frozen)
    return frozen


@pytest.fixture
def real_limits(app):
    """The production figures of every per-person limit (the test config relaxes some)."""
    for name in (
        "LIMIT_IDEAS",
        "LIMIT_IDEAS_NEW_ACCOUNT",
        "LIMIT_COMMENTS",
        "LIMIT_COMMENTS_NEW_ACCOUNT",
        "LIMIT_VOTES",
        "LIMIT_REPORTS",
    ):
        app.config[name] = getattr(Defaults, name)


# --- What a browser sends --------------------------------------------------------------------

_numbers = iter(range(1, 1_000_000))


def idea_fields(**fields) -> dict[str, str]:
    n = next(_numbers)
    # confirmed=1 is the no-JavaScript flow's second step: post even if similar ideas exist.
    return {
        "title": f"Export report number {n} to Excel",
        "problem": f"Finance copies report {n} by hand every month.",
        "solution": "",
        "confirmed": "1",
        **fields,
    }


def post_idea(client, **fields):
    return client.post("/ideas/new", data=idea_fields(**fields))


def post_comment(client, idea_id: int, body: str | None = None):
    body = body if body is not None else f"Me too, for reason {next(_numbers)}."
    return client.post(f"/ideas/{idea_id}/comments", data={"body": body})


def vote(client, idea_id: int, action: str = "vote"):
    return client.post(f"/ideas/{idea_id}/vote", data={"action": action})


def report_comment(client, comment_id: int, reason: str = "spam", detail: str = ""):
    return client.post(f"/comments/{comment_id}/report", data={"reason": reason, "detail": detail})


@dataclass
class Case:
    """One of the two forms with a honeypot and a minimum fill time."""

    path: str
    fields: dict[str, str]
    kept: tuple[str, ...]  # fields whose typed value must come back in a refused form
    signed_in: bool
    success: str  # where an accepted form leads (a path prefix)
    stored: Callable[[], int]  # how many of what it creates exist
    refused_status: int  # what a refused form answers: sign-up re-renders with 200, ideas 400


SIGN_UP = Case(
    path="/sign-up",
    fields={
        "email": "jo.tester@example.com",
        "display_name": "Jo Tester",
        "password": DEFAULT_PASSWORD,
        "accept_guidelines": "y",
    },
    kept=("email", "display_name"),
    signed_in=False,
    success="/sign-up/check-email",
    stored=lambda: count(User, User.email == "jo.tester@example.com"),
    refused_status=200,
)
NEW_IDEA = Case(
    path="/ideas/new",
    fields={
        "title": "Export the pipeline to a spreadsheet",
        "problem": "Every Monday I retype the pipeline into Excel for my manager.",
        "solution": "A download button.",
        "confirmed": "1",
    },
    kept=("title", "problem", "solution"),
    signed_in=True,
    success="/ideas/",
    stored=lambda: count(Idea),
    refused_status=400,
)
FORMS = {"sign-up": SIGN_UP, "new idea": NEW_IDEA}


@pytest.fixture(params=FORMS)
def case(request, client, login_as, stages) -> Case:
    chosen = FORMS[request.param]
    if chosen.signed_in:
        login_as("customer")
    return chosen


def send(client, case: Case, **extra):
    # Each sign-up from an address of its own, far from the 3-a-day limit per address.
    n = next(_numbers)
    address = f"10.9.{n // 250 % 250}.{n % 250}"
    return client.post(
        case.path, data={**case.fields, **extra}, environ_base={"REMOTE_ADDR": address}
    )


def assert_refused_and_kept(response, case: Case, message: str) -> None:
    assert response.status_code == case.refused_status, response.status_code
    assert message in page_text(response)
    values = form_values(response)
    for name in case.kept:
        assert values.get(name) == case.fields[name], name
    assert values.get("password", "") == ""  # a password is never sent back in a page
    assert case.stored() == 0


# --- Honeypot --------------------------------------------------------------------------------


def test_the_honeypot_is_in_the_form_but_hidden_from_people(client, case):
    page = client.get(case.path)
    assert page.status_code == 200

    honeypot, around = control(page, "website")
    assert honeypot.get("type", "text") == "text" and honeypot.get("value", "") == ""
    assert honeypot.get("tabindex") == "-1" and honeypot.get("autocomplete") == "off"
    containers = [a for a in around if "honeypot" in a.get("class", "").split()]
    assert containers, "the honeypot field must sit inside an element of class honeypot"
    # No inline style (the CSP forbids them): the stylesheet hides it.
    assert "style" not in honeypot and not any("style" in a for a in containers)
    label_around = read_form(page).labels[honeypot["id"]]
    assert any("honeypot" in a.get("class", "").split() for a in label_around)

    css = (ROOT / "static" / "css" / "portal.css").read_text()
    rule = re.search(r"(?m)^\s*\.honeypot\s*\{([^}]*)\}", css)
    assert rule and re.search(r"display\s*:\s*none", rule.group(1))
    assert '/static/css/portal.css"' in page.get_data(as_text=True)  # the page uses it
    stylesheet = client.get("/static/css/portal.css")
    assert stylesheet.status_code == 200
    stylesheet.close()

    started_token(page)  # and the time the form was shown, signed


def test_a_filled_honeypot_is_refused_nothing_stored_and_the_form_kept(client, case, outbox):
    page = client.get(case.path)
    response = send(
        client, case, website="https://cheap-pills.example", started=started_token(page)
    )

    assert_refused_and_kept(response, case, HONEYPOT_FILLED)
    assert "Leave this empty" in page_text(response)  # the message names the field
    assert outbox.messages() == []


def test_an_empty_honeypot_is_accepted(client, case):
    response = send(client, case, website="", started=started_token(client.get(case.path)))
    assert response.status_code == 303
    assert response.headers["Location"].startswith(case.success)
    assert case.stored() == 1


# --- Minimum fill time -----------------------------------------------------------------------


@pytest.fixture
def fill_time(app, clock) -> Clock:
    app.config["FORM_MIN_SECONDS"] = Defaults.FORM_MIN_SECONDS
    assert Defaults.FORM_MIN_SECONDS == 3
    return clock


@pytest.fixture
def idea_case(client, login_as, stages) -> Case:
    """The new-idea form: content people type themselves, where the minimum fill time holds."""
    login_as("customer")
    return NEW_IDEA


def test_a_form_sent_at_once_is_refused_and_kept(client, idea_case, fill_time):
    case = idea_case
    token = started_token(client.get(case.path))
    fill_time.advance(1)

    response = send(client, case, started=token)

    assert_refused_and_kept(response, case, TOO_QUICK)
    assert started_token(response) != ""  # the page again has a fresh token to send


def test_a_form_sent_just_under_three_seconds_is_refused(client, idea_case, fill_time):
    token = started_token(client.get(idea_case.path))
    fill_time.advance(2.9)
    assert_refused_and_kept(send(client, idea_case, started=token), idea_case, TOO_QUICK)


def test_a_form_sent_after_three_seconds_is_accepted(client, case, fill_time):
    token = started_token(client.get(case.path))
    fill_time.advance(3)

    response = send(client, case, started=token)

    assert response.status_code == 303
    assert response.headers["Location"].startswith(case.success)
    assert case.stored() == 1


def test_a_sign_up_filled_by_a_password_manager_in_a_second_and_a_half_is_accepted(
    client, stages, fill_time
):
    # Speed alone refuses nobody on sign-up: a password manager fills it at once. The
    # honeypot, the single-use token, the per-address limit and the emailed link remain.
    token = started_token(client.get(SIGN_UP.path))
    fill_time.advance(1.5)

    response = send(client, SIGN_UP, started=token)

    assert response.status_code == 303
    assert response.headers["Location"].startswith(SIGN_UP.success)
    assert SIGN_UP.stored() == 1


def test_a_sign_up_sent_at_once_still_needs_a_token_of_ours(client, stages, fill_time):
    assert_refused_and_kept(send(client, SIGN_UP, started="forged"), SIGN_UP, OUT_OF_DATE)


def test_after_a_refusal_the_same_page_can_be_sent_once_time_has_passed(
    client, idea_case, fill_time
):
    case = idea_case
    refused = send(client, case, started=started_token(client.get(case.path)))
    assert TOO_QUICK in page_text(refused)

    fill_time.advance(3)
    response = send(client, case, **form_values(refused))
    assert response.status_code == 303
    assert case.stored() == 1


def test_the_fill_time_counts_from_the_first_showing_across_redraws(client, idea_case, fill_time):
    # Refused at 1 s, sent again 2 s later: 3 s since the person first saw the form.
    case = idea_case
    token = started_token(client.get(case.path))
    fill_time.advance(1)
    refused = send(client, case, started=token)
    assert TOO_QUICK in page_text(refused)
    fill_time.advance(2)

    response = send(client, case, **form_values(refused))

    assert response.status_code == 303
    assert case.stored() == 1


def test_post_anyway_a_second_after_the_similar_ideas_step_is_accepted(
    client, idea_case, fill_time, make_idea
):
    make_idea("Export the pipeline to a spreadsheet every week")
    page = client.get(idea_case.path)
    fill_time.advance(20)  # typing the idea
    step = send(client, idea_case, started=started_token(page), confirmed="")
    assert "Is it one of these?" in page_text(step)
    values = form_values(step)
    assert values["started"] != started_token(page)  # a fresh nonce for the redrawn form
    fill_time.advance(1)

    response = client.post(idea_case.path, data=values)

    assert response.status_code == 303, page_text(response)
    assert idea_case.stored() == 2


def test_a_redrawn_token_keeps_the_first_time_and_cannot_be_moved_earlier(
    app, client, idea_case, fill_time
):
    from itsdangerous import URLSafeSerializer

    refused = send(client, idea_case, started=started_token(client.get(idea_case.path)))
    token = form_values(refused)["started"]
    nonce, first_shown = URLSafeSerializer(app.secret_key, salt="form-started").loads(token)
    assert first_shown == fill_time.now  # the first showing, not the redraw
    # A first time moved back by hand needs our signature: without it the token is refused.
    _payload, signature = token.rsplit(".", 1)
    forged_payload = URLSafeSerializer("not-our-key", salt="form-started").dumps(
        [nonce, first_shown - 60]
    )
    forged = forged_payload.rsplit(".", 1)[0] + "." + signature
    assert_refused_and_kept(send(client, idea_case, started=forged), idea_case, OUT_OF_DATE)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda token: None, id="missing"),
        pytest.param(lambda token: "", id="empty"),
        pytest.param(
            lambda token: token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), id="bad-signature"
        ),
        pytest.param(lambda token: "MQ.Zz9yAA.not-signed-by-us", id="forged"),
    ],
)
def test_a_missing_or_tampered_start_token_is_refused(client, case, fill_time, tamper):
    token = started_token(client.get(case.path))
    fill_time.advance(60)
    changed = tamper(token)
    extra = {} if changed is None else {"started": changed}

    assert_refused_and_kept(send(client, case, **extra), case, OUT_OF_DATE)


def test_a_token_signed_with_another_key_is_refused(app, client, case, fill_time):
    from portal.forms import form_started_token

    with app.test_request_context():
        original = app.secret_key
        app.secret_key = "someone-elses-key"
        try:
            foreign = form_started_token()
        finally:
            app.secret_key = original
    fill_time.advance(60)
    assert_refused_and_kept(send(client, case, started=foreign), case, OUT_OF_DATE)


def other_fields(case: Case) -> dict[str, str]:
    """What someone would send next through the same form: another account, another idea."""
    if case is SIGN_UP:
        return {"email": f"another{next(_numbers)}@example.com", "display_name": "Another One"}
    return {"title": "Sort the pipeline by size", "problem": "The big deals are hard to find."}


def test_a_start_token_is_good_for_one_submission(client, case, fill_time):
    # One token once served a run of sign-ups: the minimum fill time was paid only once.
    token = started_token(client.get(case.path))
    fill_time.advance(3)
    assert send(client, case, started=token).status_code == 303

    again = {**case.fields, **other_fields(case)}
    response = client.post(
        case.path, data={**again, "started": token}, environ_base={"REMOTE_ADDR": "10.8.0.1"}
    )

    assert response.status_code == case.refused_status
    assert SENT_ALREADY in page_text(response)
    values = form_values(response)
    assert all(values.get(name) == again[name] for name in case.kept)  # what was typed is kept
    assert case.stored() == 1
    # The page came back with a token of its own, which goes through.
    fill_time.advance(3)
    resent = client.post(
        case.path,
        data={**again, "started": values["started"]},
        environ_base={"REMOTE_ADDR": "10.8.0.1"},
    )
    assert resent.status_code == 303
    assert count(User if case is SIGN_UP else Idea) == 2


def test_a_start_token_used_through_one_worker_is_refused_by_another(
    another_app, tmp_path, stages, clock
):
    # Two workers of one machine without Redis: the used tokens are in the instance folder.
    settings = {"RATELIMIT_STORAGE_URI": None, "FORM_MIN_SECONDS": 3}
    worker_a = another_app(tmp_path / "machine", **settings)
    browser = worker_a.test_client()
    token = started_token(browser.get("/sign-up"))
    clock.advance(3)
    first = browser.post(
        "/sign-up",
        data={**SIGN_UP.fields, "started": token},
        environ_base={"REMOTE_ADDR": "10.8.1.1"},
    )
    assert first.status_code == 303

    worker_b = another_app(tmp_path / "machine", **settings)
    fields = {**SIGN_UP.fields, **other_fields(SIGN_UP), "started": token}
    second = worker_b.test_client().post(
        "/sign-up", data=fields, environ_base={"REMOTE_ADDR": "10.8.1.2"}
    )

    assert second.status_code == 200
    assert SENT_ALREADY in page_text(second)
    assert count(User) == 1


@pytest.mark.parametrize(
    ("age", "accepted"),
    [
        pytest.param(Defaults.FORM_MAX_SECONDS, True, id="at-the-lifetime"),
        pytest.param(Defaults.FORM_MAX_SECONDS + 1, False, id="past-the-lifetime"),
        pytest.param(30 * DAY, False, id="a-month-old"),
    ],
)
def test_a_start_token_older_than_its_lifetime_is_refused(client, case, fill_time, age, accepted):
    assert Defaults.FORM_MAX_SECONDS == 6 * 3600
    token = started_token(client.get(case.path))
    fill_time.advance(age)

    response = send(client, case, started=token)

    if accepted:
        assert response.status_code == 303
    else:
        assert_refused_and_kept(response, case, OUT_OF_DATE)
        assert started_token(response) != token  # a fresh one, to send it again


def test_a_start_token_from_before_they_were_single_use_is_refused(app, client, case, fill_time):
    from itsdangerous import URLSafeTimedSerializer

    old_style = URLSafeTimedSerializer(app.secret_key, salt="form-started").dumps(1)
    fill_time.advance(60)
    assert_refused_and_kept(send(client, case, started=old_style), case, OUT_OF_DATE)


# --- Links from new accounts -----------------------------------------------------------------


@pytest.fixture
def idea(make_idea, make_user):
    return make_idea("Dark mode for the reports page", author=make_user())


def test_a_new_account_may_put_a_few_links_in_an_idea_but_not_more(client, login_as, stages):
    login_as("customer", new_account=True)

    fields = idea_fields(problem="Three links in all.", solution=TOO_MANY)
    refused = client.post("/ideas/new", data=fields)
    assert refused.status_code == 400
    assert TOO_MANY_LINKS in page_text(refused)
    assert form_values(refused)["solution"] == TOO_MANY
    assert form_values(refused)["title"] == fields["title"]
    assert count(Idea) == 0

    # Links count over title, problem and solution together.
    spread = idea_fields(
        title="Compare with www.a.example",
        problem="Or https://b.example/x.",
        solution=links(MAX_LINKS - 1),
    )
    assert client.post("/ideas/new", data=spread).status_code == 400
    assert count(Idea) == 0

    accepted = post_idea(client, problem=ALLOWED_LINKS)
    assert accepted.status_code == 303
    assert count(Idea) == 1


def test_a_new_account_may_put_a_few_links_in_a_comment_but_not_more(client, login_as, idea):
    login_as("customer", new_account=True)

    refused = post_comment(client, idea.id, TOO_MANY)
    assert refused.status_code == 400
    assert TOO_MANY_LINKS in page_text(refused)
    assert form_values(refused)["body"] == TOO_MANY
    assert count(Comment) == 0

    assert post_comment(client, idea.id, ALLOWED_LINKS).status_code == 303
    assert count(Comment) == 1


@pytest.mark.parametrize(
    ("role", "new_account"),
    [("customer", False), ("product_manager", True), ("admin", True)],
)
def test_established_accounts_and_the_team_may_post_more_links(
    client, login_as, idea, role, new_account
):
    login_as(role, new_account=new_account)
    assert post_idea(client, problem=TOO_MANY + " And https://d.example.").status_code == 303
    assert post_comment(client, idea.id, TOO_MANY).status_code == 303
    assert count(Idea) == 2 and count(Comment) == 1


# --- The same text twice ---------------------------------------------------------------------


def backdate(model, seconds: float) -> None:
    db.session.execute(update(model).values(created_at=utcnow() - timedelta(seconds=seconds)))
    db.session.commit()


def test_the_same_idea_within_five_minutes_is_refused(client, login_as, make_user, stages):
    me = login_as("customer")
    fields = idea_fields()
    assert client.post("/ideas/new", data=fields).status_code == 303

    again = client.post("/ideas/new", data=fields)
    assert again.status_code == 400
    assert REPEATED in page_text(again)
    assert (form_values(again)["title"], form_values(again)["problem"]) == (
        fields["title"],
        fields["problem"],
    )
    assert count(Idea) == 1

    # Four minutes and 59 seconds later it is still the same idea.
    backdate(Idea, Defaults.DUPLICATE_WINDOW.total_seconds() - 1)
    assert client.post("/ideas/new", data=fields).status_code == 400
    assert count(Idea, Idea.author_id == me.id) == 1

    # A different problem with the same title, or a different title, is a different idea.
    assert client.post("/ideas/new", data={**fields, "problem": "Another need."}).status_code == 303
    assert client.post("/ideas/new", data={**fields, "title": "Another title"}).status_code == 303
    assert count(Idea) == 3

    # Someone else may post the very same text.
    other = client.application.test_client()
    sign_in_client(other, make_user())
    assert other.post("/ideas/new", data=fields).status_code == 303
    assert count(Idea) == 4


def test_the_same_idea_is_accepted_after_five_minutes(client, login_as, stages):
    login_as("customer")
    fields = idea_fields()
    assert client.post("/ideas/new", data=fields).status_code == 303
    backdate(Idea, Defaults.DUPLICATE_WINDOW.total_seconds() + 1)

    assert client.post("/ideas/new", data=fields).status_code == 303
    assert count(Idea) == 2


def test_the_same_comment_within_five_minutes_is_refused(client, login_as, make_user, idea):
    login_as("customer")
    body = "The export should keep the column widths."
    assert post_comment(client, idea.id, body).status_code == 303

    again = post_comment(client, idea.id, body)
    assert again.status_code == 400
    assert REPEATED in page_text(again)
    assert form_values(again)["body"] == body
    assert count(Comment) == 1

    backdate(Comment, Defaults.DUPLICATE_WINDOW.total_seconds() - 1)
    assert post_comment(client, idea.id, body).status_code == 400

    assert post_comment(client, idea.id, body + " And the fonts.").status_code == 303
    other = client.application.test_client()
    sign_in_client(other, make_user())
    assert post_comment(other, idea.id, body).status_code == 303
    assert count(Comment) == 3

    backdate(Comment, Defaults.DUPLICATE_WINDOW.total_seconds() + 1)
    assert post_comment(client, idea.id, body).status_code == 303
    assert count(Comment) == 4


# --- Rate limits: ideas and comments ---------------------------------------------------------


def test_the_defaults_are_the_ones_argued_for_in_the_configuration():
    # Each is explained beside it in portal/config.py: who it stops, why people never meet it.
    assert Defaults.LIMIT_SIGN_UP_PER_IP == "20/minute;60/hour;200/day"
    assert Defaults.LIMIT_EMAIL_PER_IP == "5/minute;20/hour;50/day"
    assert Defaults.LIMIT_IDEAS == "1/15seconds;30/day"
    assert Defaults.LIMIT_IDEAS_NEW_ACCOUNT == "1/30seconds;10/day"
    assert Defaults.LIMIT_COMMENTS == "10/minute;200/day"
    assert Defaults.LIMIT_COMMENTS_NEW_ACCOUNT == "6/minute;50/day"
    assert Defaults.LIMIT_VOTES == "30/minute;200/day"
    assert Defaults.LIMIT_REPORTS == "10/minute;50/day"
    assert Defaults.DUPLICATE_WINDOW.total_seconds() == 5 * 60
    assert Defaults.NEW_ACCOUNT_MAX_LINKS == 5


def assert_limited_idea_form(response, fields: dict, *, wait: int | None = None) -> None:
    if wait is not None:
        assert retry_after(response) == wait
    else:
        assert retry_after(response) > 0
    text = page_text(response)
    assert LIMITED in text and STILL_HERE in text
    values = form_values(response)
    assert (values["title"], values["problem"]) == (fields["title"], fields["problem"])


@pytest.mark.parametrize(
    ("new_account", "spacing", "per_day"),
    [pytest.param(True, 30, 10, id="new-account"), pytest.param(False, 15, 30, id="established")],
)
def test_ideas_per_person_are_limited_with_the_real_figures(
    client, login_as, stages, real_limits, clock, new_account, spacing, per_day
):
    login_as("customer", new_account=new_account)

    for n in range(per_day):
        assert post_idea(client).status_code == 303, f"idea {n + 1}"
        too_soon = idea_fields()
        response = client.post("/ideas/new", data=too_soon)
        # (After the day's last idea the day's limit is spent too; see the report.)
        assert_limited_idea_form(response, too_soon, wait=spacing if n < per_day - 1 else None)
        assert count(Idea) == n + 1
        clock.advance(spacing - 1)
        assert post_idea(client).status_code == 429  # a second short
        clock.advance(1)

    one_more = idea_fields(problem="One more need, typed with care.")
    response = client.post("/ideas/new", data=one_more)
    # The day's limit, counted from the first idea.
    assert_limited_idea_form(response, one_more, wait=DAY - per_day * spacing)
    assert count(Idea) == per_day

    clock.advance(DAY)
    assert post_idea(client).status_code == 303


def test_after_the_days_last_idea_the_wait_given_is_the_days(
    client, login_as, stages, real_limits, clock
):
    login_as("customer", new_account=True)
    for _ in range(10):
        assert post_idea(client).status_code == 303
        clock.advance(30)
    clock.advance(-29)  # a second after the tenth idea

    response = post_idea(client)
    assert retry_after(response) == DAY - 9 * 30 - 1
    assert "please wait 24 hours" in page_text(response)


def test_a_new_customer_brings_a_few_ideas_on_launch_day(
    client, login_as, stages, real_limits, clock
):
    # A backlog of five, each written in a minute or two: never refused.
    login_as("customer", new_account=True)
    for n in range(5):
        assert post_idea(client).status_code == 303, f"idea {n + 1}"
        clock.advance(60)
    assert count(Idea) == 5


def assert_limited_comment(response, body: str, *, wait: int | None) -> None:
    if wait is not None:
        assert retry_after(response) == wait
    else:
        assert retry_after(response) > 0
    text = page_text(response)
    assert LIMITED in text and STILL_HERE in text
    assert form_values(response)["body"] == body


@pytest.mark.parametrize(
    ("new_account", "per_minute", "per_day"),
    [pytest.param(True, 6, 50, id="new-account"), pytest.param(False, 10, 200, id="established")],
)
def test_comments_per_person_are_limited_with_the_real_figures(
    client, login_as, idea, real_limits, clock, new_account, per_minute, per_day
):
    login_as("customer", new_account=new_account)

    # A burst: per_minute comments at once pass, the next waits for the minute to end.
    for n in range(per_minute):
        assert post_comment(client, idea.id).status_code == 303, f"comment {n + 1}"
    body = "Too soon, but typed with care."
    assert_limited_comment(post_comment(client, idea.id, body), body, wait=60)
    clock.advance(59)
    assert post_comment(client, idea.id).status_code == 429  # a second short
    clock.advance(1)

    # The day: per_minute a minute until the day's budget is spent, counted from the first.
    posted, minutes = per_minute, 1
    while posted < per_day:
        for _ in range(min(per_minute, per_day - posted)):
            assert post_comment(client, idea.id).status_code == 303, f"comment {posted + 1}"
            posted += 1
        clock.advance(60)
        minutes += 1
    body = "One more, typed with care."
    response = post_comment(client, idea.id, body)
    assert_limited_comment(response, body, wait=DAY - minutes * 60)
    assert count(Comment) == per_day


def test_a_new_account_replying_in_a_lively_thread_is_never_refused(
    client, login_as, idea, make_user, real_limits, clock
):
    # The reported case: a reply 4 s after a comment. A few quick replies, one every ~4 s.
    someone = make_user()
    first = comments.add_comment(idea, author=someone, body="Does anyone export to Excel daily?")
    db.session.commit()
    login_as("customer", new_account=True)
    for n, words in enumerate(["Yes, we do!", "Every morning.", "Thanks!", "Same here."]):
        response = client.post(
            f"/ideas/{idea.id}/comments", data={"body": words, "parent_id": str(first.id)}
        )
        assert response.status_code == 303, f"reply {n + 1}: {page_text(response)[:300]}"
        clock.advance(4)
    assert count(Comment) == 5


def test_a_new_account_flooding_a_thread_is_stopped(client, login_as, idea, real_limits, clock):
    login_as("customer", new_account=True)
    answers = [post_comment(client, idea.id).status_code for _ in range(20)]
    assert answers == [303] * 6 + [429] * 14
    assert count(Comment) == 6


def test_a_short_thanks_may_be_said_in_two_conversations(client, login_as, make_idea, idea):
    # Repeated text is refused in the same conversation (a double-click), not a "Thanks!" elsewhere.
    login_as("customer")
    other = make_idea("Webhook when an invoice is paid")
    assert post_comment(client, idea.id, "Thanks!").status_code == 303
    assert post_comment(client, other.id, "Thanks!").status_code == 303
    assert post_comment(client, other.id, "Thanks!").status_code == 400
    long = "We would use this every week for the finance team's month-end close, please add it."
    assert post_comment(client, idea.id, long).status_code == 303
    assert post_comment(client, other.id, long).status_code == 400  # a copy-paste run
    assert count(Comment) == 3


def test_a_refused_post_does_not_use_up_the_budget(client, login_as, idea, app):
    app.config["LIMIT_IDEAS_NEW_ACCOUNT"] = "1/day"
    app.config["LIMIT_COMMENTS_NEW_ACCOUNT"] = "1/day"
    login_as("customer", new_account=True)

    # Refused for what they contain: too many links, nothing, the same as before.
    assert post_idea(client, problem=TOO_MANY).status_code == 400
    assert post_idea(client, problem="").status_code == 400
    assert post_comment(client, idea.id, TOO_MANY).status_code == 400
    assert post_comment(client, idea.id, "").status_code == 400

    assert post_idea(client).status_code == 303
    assert post_comment(client, idea.id).status_code == 303
    # The limit is there all the same.
    assert post_idea(client).status_code == 429
    assert post_comment(client, idea.id).status_code == 429


def test_a_refused_repeat_does_not_use_up_the_budget(client, login_as, idea, app):
    app.config["LIMIT_COMMENTS"] = "2/day"
    login_as("customer")
    body = "Same words twice."
    assert post_comment(client, idea.id, body).status_code == 303
    assert post_comment(client, idea.id, body).status_code == 400  # repeated
    assert post_comment(client, idea.id, body + " Now changed.").status_code == 303
    assert post_comment(client, idea.id, "A third.").status_code == 429


def test_a_honeypot_refusal_does_not_use_up_the_budget(client, login_as, stages, app):
    app.config["LIMIT_IDEAS_NEW_ACCOUNT"] = "1/day"
    login_as("customer", new_account=True)
    assert post_idea(client, website="spam").status_code == 400
    assert post_idea(client).status_code == 303
    assert post_idea(client).status_code == 429


def test_honeypot_refusals_do_not_use_up_the_sign_up_limit(client, app):
    app.config["LIMIT_SIGN_UP_PER_IP"] = "3/day"
    address = {"REMOTE_ADDR": "10.77.0.1"}
    for n in range(5):
        data = {**SIGN_UP.fields, "email": f"bot{n}@example.com", "website": "x"}
        assert client.post("/sign-up", data=data, environ_base=address).status_code == 200
    assert count(User) == 0
    for n in range(3):
        data = {**SIGN_UP.fields, "email": f"jo{n}@example.com"}
        assert client.post("/sign-up", data=data, environ_base=address).status_code == 303
    assert count(User) == 3


def sign_up_from(client, address: str, n: int):
    data = {**SIGN_UP.fields, "email": f"colleague{n}@office.example", "display_name": f"P {n}"}
    return client.post("/sign-up", data=data, environ_base={"REMOTE_ADDR": address})


def test_a_whole_office_signs_up_on_launch_day_behind_one_address(client, clock):
    # 20 colleagues at once when the launch email lands, then more over the hour: all welcome.
    address = "10.77.0.2"
    for n in range(20):
        assert sign_up_from(client, address, n).status_code == 303, f"sign-up {n + 1}"
    clock.advance(60)
    for n in range(20, 40):
        assert sign_up_from(client, address, n).status_code == 303, f"sign-up {n + 1}"
        clock.advance(60)
    assert count(User) == 40


def test_a_script_making_accounts_from_one_address_is_stopped(client, clock):
    address = "10.77.0.3"
    answers = [sign_up_from(client, address, n).status_code for n in range(21)]
    assert answers == [303] * 20 + [429]  # 20 a minute
    response = sign_up_from(client, address, 99)
    assert retry_after(response) == 60
    assert f"please wait {response.headers['Retry-After']} seconds" in page_text(response)

    for minute in range(1, 4):  # and 60 an hour
        clock.advance(60)
        for n in range(20):
            status = sign_up_from(client, address, 100 * minute + n).status_code
            assert status == (303 if minute < 3 else 429)
    assert count(User) == 60
    response = sign_up_from(client, address, 999)
    assert "please wait 57 minutes" in page_text(response)


# --- Rate limits: votes and reports ----------------------------------------------------------


def test_votes_are_limited_with_the_real_figures_and_withdrawing_does_not_count(
    client, login_as, make_idea, make_user, real_limits, clock
):
    me = login_as("customer")
    author = make_user()
    ideas = [make_idea(f"Idea to vote for, number {n}", author=author) for n in range(3)]

    # 29 votes cast, and 26 of them taken back again: only casting counts.
    for n in range(29):
        target = ideas[n % 3].id
        if n >= 3:
            assert vote(client, target, "unvote").status_code == 303, f"withdraw {n}"
        assert vote(client, target).status_code == 303, f"vote {n + 1}"
    # Voting for an idea one already voted for changes nothing, and costs nothing.
    assert vote(client, ideas[2].id).status_code == 303
    assert vote(client, ideas[0].id, "unvote").status_code == 303
    assert vote(client, ideas[1].id, "unvote").status_code == 303
    assert vote(client, ideas[0].id).status_code == 303  # the 30th in the minute

    response = vote(client, ideas[1].id)
    assert retry_after(response) == 60
    text = page_text(response)
    assert "Slow down a little" in text
    assert f"You can try again in {response.headers['Retry-After']} seconds." in text
    assert count(Vote, Vote.user_id == me.id) == 2

    clock.advance(60)
    assert vote(client, ideas[1].id).status_code == 303
    assert count(Vote, Vote.user_id == me.id) == 3


def test_the_201st_vote_in_a_day_is_refused_with_the_wait_in_hours(
    client, login_as, make_idea, make_user, real_limits, clock
):
    login_as("customer")
    idea = make_idea("Idea to vote for again and again", author=make_user())
    for _minute in range(10):
        for _ in range(20):
            assert vote(client, idea.id, "unvote").status_code == 303
            assert vote(client, idea.id).status_code == 303
        clock.advance(60)
    assert vote(client, idea.id, "unvote").status_code == 303
    response = vote(client, idea.id)
    assert retry_after(response) == DAY - 10 * 60
    assert "You can try again in 24 hours." in page_text(response)


def test_a_vote_can_be_withdrawn_at_the_limit(client, login_as, make_idea, make_user, app):
    app.config["LIMIT_VOTES"] = "1/day"
    login_as("customer")
    first, second = make_idea("First idea to vote for"), make_idea("Second idea to vote for")
    assert vote(client, first.id).status_code == 303
    assert vote(client, second.id).status_code == 429
    assert vote(client, first.id, "unvote").status_code == 303


@pytest.fixture
def reportable(idea, make_user) -> list[Comment]:
    """51 comments by someone else on an idea by someone else."""
    author = make_user()
    made = [
        comments.add_comment(idea, author=author, body=f"Buy cheap pills, {n}") for n in range(51)
    ]
    db.session.commit()
    return made


def test_the_51st_report_in_a_day_is_refused_keeping_what_was_typed(
    client, login_as, reportable, real_limits, clock
):
    me = login_as("customer")
    for n, target in enumerate(reportable[:50]):
        assert report_comment(client, target.id).status_code == 303, f"report {n + 1}"
        clock.advance(10)

    detail = "It links to a shop & names a colleague <b>by name</b>."
    response = report_comment(client, reportable[50].id, "other", detail)
    assert retry_after(response) == DAY - 50 * 10  # the day began with the first
    text = page_text(response)
    assert LIMITED in text and STILL_HERE in text
    values = form_values(response)
    assert values["detail"] == detail and values["reason"] == "other"
    assert count(Report, Report.reporter_id == me.id) == 50


def test_reports_on_ideas_and_on_comments_share_one_budget(
    client, login_as, reportable, make_idea, make_user, real_limits
):
    login_as("customer")
    author = make_user()
    for n in range(5):
        target = make_idea(f"Idea to report, number {n}", author=author)
        path = f"/ideas/{target.id}/report"
        assert client.post(path, data={"reason": "spam"}).status_code == 303
    for target in reportable[:5]:
        assert report_comment(client, target.id).status_code == 303
    assert report_comment(client, reportable[10].id).status_code == 429  # 10 a minute


def test_a_refused_report_does_not_use_up_the_budget(client, login_as, reportable, app):
    app.config["LIMIT_REPORTS"] = "1/day"
    login_as("customer")
    refused = report_comment(client, reportable[0].id, "other", "")  # "other" needs a detail
    assert refused.status_code == 400
    assert report_comment(client, reportable[0].id, "other", "Advertising.").status_code == 303
    assert report_comment(client, reportable[1].id).status_code == 429
    assert count(Report) == 1


# --- The team is exempt ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["product_manager", "admin"])
def test_the_team_is_exempt_from_the_per_person_limits(
    app, client, login_as, make_user, reportable, real_limits, role
):
    # Limits a customer would hit on the second try, to show the exemption cheaply.
    for name in ("IDEAS", "COMMENTS", "VOTES", "REPORTS"):
        app.config[f"LIMIT_{name}"] = "1/day"
    app.config["LIMIT_IDEAS_NEW_ACCOUNT"] = app.config["LIMIT_COMMENTS_NEW_ACCOUNT"] = "1/day"
    login_as(role, new_account=True)
    idea_id = reportable[0].idea_id
    for _ in range(4):
        assert post_idea(client).status_code == 303
        assert post_comment(client, idea_id).status_code == 303
    for target in reportable[:3]:
        assert report_comment(client, target.id).status_code == 303
    assert vote(client, idea_id).status_code == 303
    assert vote(client, idea_id, "unvote").status_code == 303
    assert vote(client, idea_id).status_code == 303

    # The same figures stop a customer.
    customer = app.test_client()
    sign_in_client(customer, make_user())
    assert post_idea(customer).status_code == 303
    assert post_idea(customer).status_code == 429
    assert post_comment(customer, idea_id).status_code == 303
    assert post_comment(customer, idea_id).status_code == 429
    assert report_comment(customer, reportable[5].id).status_code == 303
    assert report_comment(customer, reportable[6].id).status_code == 429
    other_idea_id = db.session.scalar(select(func.max(Idea.id)))
    assert vote(customer, idea_id).status_code == 303
    assert vote(customer, other_idea_id).status_code == 429


# --- Shared between apps through Redis (SECURITY.md item 23) --------------------------------

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix() -> Iterator[tuple[redis.Redis, str]]:
    """A Redis client and a key prefix of this test's own; its keys are deleted afterwards."""
    server = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        server.ping()
    except redis.RedisError as exc:
        message = f"Redis is not reachable at {REDIS_URL}: {exc}"
        server.close()
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    prefix = f"portal-test-abuse-{secrets.token_hex(6)}"
    try:
        yield server, prefix
    finally:
        keys = list(server.scan_iter(match=f"*{prefix}*"))
        if keys:
            server.delete(*keys)
        server.close()


@pytest.fixture
def make_worker(another_app) -> Callable[[str, str], Flask]:
    """make_worker(storage_uri, prefix): another app on the same database, as a second worker
    process or machine would run it, with the production limits.

    portal.extensions.limiter is one object per Python process. Each create_app() points it at
    that app's storage, so the apps here are used one after the other, as separate processes
    would be: a second app starting up has only what the storage itself remembers. Each app
    keeps its own RATELIMIT_KEY_PREFIX (portal.limits.init_app gives it to that app's storage).
    """

    def make(storage_uri: str, prefix: str) -> Flask:
        return another_app(
            RATELIMIT_STORAGE_URI=storage_uri,
            RATELIMIT_KEY_PREFIX=prefix,
            **{
                name: getattr(Defaults, name)
                for name in ("LIMIT_IDEAS", "LIMIT_IDEAS_NEW_ACCOUNT", "LIMIT_COMMENTS")
            },
        )

    return make


def limit_reached_through_a_then_tried_through_b(
    make_worker, storage_uri, prefix, user, *, prefix_b=None
):
    app_a = make_worker(storage_uri, prefix)
    browser_a = app_a.test_client()
    sign_in_client(browser_a, user)
    assert post_idea(browser_a).status_code == 303
    assert post_idea(browser_a).status_code == 429  # a new account: one idea per 30 seconds

    app_b = make_worker(storage_uri, prefix_b or prefix)
    browser_b = app_b.test_client()
    sign_in_client(browser_b, user)
    fields = idea_fields()
    return browser_b.post("/ideas/new", data=fields), fields


def test_a_limit_reached_through_one_app_holds_in_another_sharing_redis(
    make_worker, make_user, stages, redis_prefix
):
    server, prefix = redis_prefix
    user = make_user(new_account=True)
    db.session.commit()

    response, fields = limit_reached_through_a_then_tried_through_b(
        make_worker, REDIS_URL, prefix, user
    )

    assert_limited_idea_form(response, fields)
    assert 0 < retry_after(response) <= 30
    assert count(Idea) == 1
    keys = [key.decode() for key in server.scan_iter(match=f"*{prefix}*")]
    assert any(f"person:{user.id}" in key and "ideas.new" in key for key in keys), keys


def test_two_sites_with_their_own_prefixes_on_one_redis_do_not_share_limits(
    make_worker, make_user, stages, redis_prefix
):
    server, prefix = redis_prefix
    user = make_user(new_account=True)
    db.session.commit()

    response, _ = limit_reached_through_a_then_tried_through_b(
        make_worker, REDIS_URL, prefix, user, prefix_b=f"{prefix}-other-site"
    )

    assert response.status_code == 303
    assert count(Idea) == 2
    keys = [key.decode() for key in server.scan_iter(match=f"*{prefix}*")]
    assert any(key.startswith(f"{prefix}:") for key in keys), keys
    assert any(key.startswith(f"{prefix}-other-site:") for key in keys), keys


def test_with_memory_storage_two_apps_do_not_share_limits(make_worker, make_user, stages):
    # The control: the same steps with each app's limits in its own memory.
    user = make_user(new_account=True)
    db.session.commit()

    response, _ = limit_reached_through_a_then_tried_through_b(
        make_worker, "memory://", f"portal-test-{secrets.token_hex(4)}", user
    )

    assert response.status_code == 303
    assert count(Idea) == 2


def test_the_sign_in_page_says_how_long_to_wait(client, app, clock):
    app.config["LIMIT_SIGN_IN_PER_IP"] = Defaults.LIMIT_SIGN_IN_PER_IP
    address = {"REMOTE_ADDR": "10.77.0.9"}
    guess = {"email": "nobody@example.com", "password": "a wrong guess"}
    answers = [client.post("/sign-in", data=guess, environ_base=address) for _ in range(7)]
    assert [r.status_code for r in answers] == [200] * 6 + [429]
    wait = answers[-1].headers["Retry-After"]
    assert f"Too many sign-in attempts. Wait {wait} seconds and try again" in page_text(answers[-1])
