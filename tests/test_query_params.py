"""Query parameters: nonsense in any of them gives a clear 400 or is ignored, never a 500.

PARAMS below lists every query parameter each GET route reads, with what kind of value it
takes. Two tests keep it true: one crawls every route recording the names the code reads
from request.args, one greps the source for names read with .get("..."). Then Hypothesis
throws random values (and random names) at every GET route as each role and checks the
answer: never a 500; a 400 exactly when a number or date parameter holds something that is
not one; otherwise what the page answers with no parameters at all.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote, urlencode

import pytest
from flask import has_request_context, request, url_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import ImmutableMultiDict

from portal.extensions import db
from portal.models import (
    AuditEvent,
    OutboxMessage,
    OutboxStatus,
    Release,
    SsoProvider,
    WebhookEndpoint,
)
from portal.services import boards, comments

from .conftest import sign_in_client

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("anonymous", "customer", "product_manager", "admin")
ID_MAX = 2**31 - 1


@dataclass(frozen=True)
class Param:
    """What a parameter takes. Numbers and dates are strict (nonsense is a 400); choices
    fall back to their default; text is anything; a cursor is ours or a 400."""

    # "number", "date", "owner" (a number, "me" or "unassigned"), "choice", "text", "flag", "cursor"
    kind: str
    maximum: int = ID_MAX  # for numbers


NUMBER = Param("number")
DATE = Param("date")
OWNER = Param("owner")
CHOICE = Param("choice")
TEXT = Param("text")
FLAG = Param("flag")
CURSOR = Param("cursor")

TRIAGE = {
    "stage": CHOICE,
    "owner": OWNER,
    "category": NUMBER,
    "organisation": NUMBER,
    "overdue": FLAG,
}
# Triage mode carries a view it did not build: what names nothing is left out, never refused.
TRIAGE_MODE = {
    **dict.fromkeys(("stage", "owner", "category", "organisation", "show"), CHOICE),
    "overdue": FLAG,
}
AUDIT = {"action": CHOICE, "actor": TEXT, "since": DATE, "until": DATE}
EMAIL = {"email": TEXT}
NEXT = {"next": TEXT}

IDEA_LIST = {
    "sort": CHOICE,
    "stage": CHOICE,
    "category": NUMBER,
    "mine": FLAG,
    "voted": FLAG,
    "following": FLAG,
    "after": CURSOR,
    "before": CURSOR,
}
# A board's slug narrows a page to that board; one the person may not see is ignored.
BOARD = {"board": CHOICE}

PARAMS: dict[str, dict[str, Param]] = {
    "main.home": IDEA_LIST,
    "main.board": IDEA_LIST,
    "ideas.search": {"q": TEXT, "page": Param("number", 50), **BOARD},
    "ideas.new": BOARD,
    "main.shipped": BOARD,
    "ideas.new_team_vote": {"q": TEXT},
    "ideas.merge": {"q": TEXT},
    "main.roadmap": {"by": CHOICE, **BOARD},
    "ideas.similar": {"title": TEXT},
    "admin.users_list": {
        "q": TEXT,
        "role": CHOICE,
        "status": CHOICE,
        "page": Param("number", 100_000),
    },
    "admin.audit_events": {**AUDIT, "page": Param("number", 100_000)},
    "admin.outbox": {
        "q": TEXT,
        "status": CHOICE,
        "kind": CHOICE,
        "page": Param("number", 100_000),
    },
    "admin.audit_csv": AUDIT,
    "admin.webhook_endpoint": {"page": Param("number", 100_000)},
    "team.queue": {**TRIAGE, "show": CHOICE},
    "team.queue_csv": {**TRIAGE, "show": CHOICE},
    "team.priority": TRIAGE | {"sort": CHOICE},
    "team.priority_csv": TRIAGE | {"sort": CHOICE},
    "auth.sign_in": {**NEXT, **EMAIL, "intent": CHOICE, "idea": TEXT},
    # A customer's product sends its signed token (docs/sso.md); without a good one, a 400.
    "auth.identify_sign_in": {"token": TEXT, **NEXT},
    "auth.sign_up": {"intent": CHOICE, "idea": TEXT},
    "ideas.notifications_page": {"unread": FLAG},
    "auth.resend_confirmation": EMAIL,
    "auth.forgot_password": EMAIL,
    "ideas.next_idea": TRIAGE_MODE,
    "ideas.triage_idea": {**TRIAGE_MODE, "at": CHOICE},
    "admin.hide_idea": NEXT,
    "admin.hide_comment": NEXT,
}


# --- Which names the code reads ---------------------------------------------------------------


class RecordingArgs(ImmutableMultiDict):
    """request.args that notes each name a view or template asks for, by endpoint."""

    read: ClassVar[dict[str, set[str]]] = {}

    def _note(self, key: object) -> None:
        if has_request_context() and isinstance(key, str):
            self.read.setdefault(request.endpoint or "", set()).add(key)

    def __getitem__(self, key):
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self._note(key)
        return super().__contains__(key)

    def get(self, key, default=None, type=None):
        self._note(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):
        self._note(key)
        return super().getlist(key, type)


# --- A small world for the routes to show -----------------------------------------------------


@dataclass
class World:
    clients: dict[str, object]
    paths: dict[str, str]  # endpoint -> a path with every <variable> filled in
    _baseline: dict[tuple[str, str], int] = field(default_factory=dict)

    def baseline(self) -> dict[tuple[str, str], int]:
        """(endpoint, role) -> the status with no parameters, from one crawl of every route."""
        if not self._baseline:
            RecordingArgs.read.clear()
            for endpoint, path in self.paths.items():
                for role in ROLES:
                    response = self.clients[role].get(path)
                    assert response.status_code != 500, (endpoint, role)
                    self._baseline[endpoint, role] = response.status_code
        return self._baseline


@pytest.fixture
def world(app, make_user, make_idea, make_category, make_organisation, stages) -> World:
    app.request_class = type(
        "RecordingRequest", (app.request_class,), {"parameter_storage_class": RecordingArgs}
    )
    organisation = make_organisation("Acme", domains=("acme.example",))
    category = make_category("Reporting")
    people = {role: make_user(role, organisation=organisation) for role in ROLES[1:]}
    idea = make_idea("Export reports to Excel", author=people["customer"], category=category)
    # Enough rows that every list shows its pager, which copies the query into its links.
    others = [make_idea(f"Another idea, number {n}", category=category) for n in range(21)]
    other = others[0]
    for _ in range(26):
        make_user()
    db.session.add_all(
        AuditEvent(action="sign_in", actor_id=people["admin"].id, ip="127.0.0.1") for _ in range(51)
    )
    comment = comments.add_comment(idea, author=people["customer"], body="Yes please")
    message = OutboxMessage(
        kind="signup_existing",
        to_address="someone@example.com",
        status=OutboxStatus.FAILED,
        attempts=6,
        body="Subject: Hello\n\nHello.\n",
    )
    db.session.add(message)
    release = Release(title="Spring update", note="Scheduled exports are here for everyone.")
    db.session.add(release)
    endpoint = WebhookEndpoint(url="https://hooks.example.com/portal", secret="whsec_AAAA")
    db.session.add(endpoint)
    provider = SsoProvider(
        slug="qp",
        name="Query ID",
        discovery_url="https://id.example.com/.well-known/openid-configuration",
        client_id="qp",
        client_secret="qp-secret",
    )
    db.session.add(provider)
    db.session.commit()
    values = {
        "release_id": release.id,
        "idea_id": idea.id,
        "target_id": other.id,  # the idea a duplicate would be merged into
        "comment_id": comment.id,
        "user_id": people["customer"].id,
        "category_id": category.id,
        "organisation_id": organisation.id,
        "stage_id": stages["under_review"].id,
        "message_id": message.id,
        "notification_id": 1,  # nobody's: each role gets its 404 or sign-in, never a 500
        "token": "not-a-real-token",
        "filename": "css/site.css",
        "board_id": boards.default_board().id,
        "slug": "ideas",  # the default board
        "person_id": people["customer"].id,
        "endpoint_id": endpoint.id,
        "export_id": 1,  # nobody's: each role gets its 404 or sign-in, never a 500
        "provider_id": provider.id,
    }
    clients = {role: app.test_client() for role in ROLES}
    for role, user in people.items():
        sign_in_client(clients[role], user)
    paths = {}
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" in rule.methods:
                unknown = rule.arguments - values.keys()
                assert not unknown, f"give test_query_params.world a value for {unknown}"
                paths[rule.endpoint] = url_for(
                    rule.endpoint, **{k: values[k] for k in rule.arguments}
                )
    return World(clients=clients, paths=paths)


# --- What the answer should be ----------------------------------------------------------------


def is_number(text: str, maximum: int) -> bool:
    return text.isascii() and text.isdigit() and 1 <= int(text.lstrip("0") or "0") <= maximum


def is_date(text: str) -> bool:
    if not (text.isascii() and len(text) == 10 and text[4] == text[7] == "-"):
        return False
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def is_nonsense(param: Param, text: str) -> bool:
    """Whether a strict parameter's value is one the page must refuse (empty means absent)."""
    if text == "":
        return False
    if param.kind == "number":
        return not is_number(text, param.maximum)
    if param.kind == "owner":
        return text not in ("me", "unassigned") and not is_number(text, ID_MAX)
    if param.kind == "date":
        return not is_date(text)
    return False


def expected(world: World, endpoint: str, role: str, pairs: list[tuple[str, str]]) -> set[int]:
    """The statuses the request may answer with."""
    if any("\x00" in value for _name, value in pairs):
        return {400}  # refused before anything else looks at it
    base = world.baseline()[endpoint, role]
    if base != 200:
        return {base}  # sign-in, forbidden, not found: the parameters do not matter
    first: dict[str, str] = {}
    for name, value in pairs:
        first.setdefault(name, value)  # request.args.get reads the first of repeated names
    params = PARAMS.get(endpoint, {})
    if any(is_nonsense(params[n], v) for n, v in first.items() if n in params):
        return {400}
    if any(params[n].kind == "cursor" and v for n, v in first.items() if n in params):
        return {200, 400}  # a cursor we did not make is refused; a lucky one is a page
    return {200}


def get(world: World, endpoint: str, role: str, pairs: list[tuple[str, str]], **kwargs):
    query = urlencode(pairs, quote_via=quote)
    return world.clients[role].get(f"{world.paths[endpoint]}?{query}", **kwargs)


# --- The table is complete ---------------------------------------------------------------------


def test_every_parameter_the_code_reads_is_in_the_table(world):
    world.baseline()
    read = {endpoint: names for endpoint, names in RecordingArgs.read.items() if endpoint}
    for endpoint, names in read.items():
        assert names <= PARAMS.get(endpoint, {}).keys(), (
            f"{endpoint} reads {sorted(names - PARAMS.get(endpoint, {}).keys())}: "
            "add them to PARAMS in tests/test_query_params.py"
        )
    stale = {e: sorted(PARAMS[e].keys() - read.get(e, set())) for e in PARAMS}
    assert not any(stale.values()), f"PARAMS lists names nothing reads: {stale}"


def test_every_name_read_in_the_source_is_in_the_table():
    pattern = re.compile(r"""\b(?:args|values)\.get(?:list)?\(\s*["']([^"']+)["']""")
    sources = [*ROOT.joinpath("portal").rglob("*.py"), *ROOT.joinpath("templates").rglob("*")]
    found = {
        name for path in sources if path.is_file() for name in pattern.findall(path.read_text())
    }
    known = {name for params in PARAMS.values() for name in params}
    assert found, "the pattern found nothing: has the way views read parameters changed?"
    assert found <= known, f"add {sorted(found - known)} to PARAMS in tests/test_query_params.py"


# --- Nonsense gets a clear 400 -----------------------------------------------------------------

NONSENSE_NUMBERS = [
    "abc",
    "-1",
    "0",
    "1.5",
    "1e3",
    " 1",
    "+1",
    "²",
    "\u0661",
    "9" * 20,
    str(2**63),
    "9" * 5000,
]
NONSENSE_DATES = ["2026-02-30", "2026-13-01", "9999-12-32", "0000-01-01", "2026-1-1", "20260101"]
NONSENSE_DATES += [
    "2026-W01-1",
    "yesterday",
    "2026-01-01T00:00",
    "\u0662\u0660\u0662\u0666-\u0660\u0661-\u0660\u0661",
]


def _strict_params() -> Iterator[tuple[str, str, Param]]:
    for endpoint, params in PARAMS.items():
        for name, param in params.items():
            if param.kind in ("number", "owner", "date"):
                yield endpoint, name, param


def test_nonsense_numbers_and_dates_get_a_400_that_names_the_parameter(world):
    for endpoint, name, param in _strict_params():
        values = NONSENSE_DATES if param.kind == "date" else NONSENSE_NUMBERS
        if param.maximum != ID_MAX:
            values = [*values, str(param.maximum + 1)]
        for value in values:
            response = get(world, endpoint, "admin", [(name, value)])
            assert response.status_code == 400, (endpoint, name, value)
            assert f"“{name}”" in response.get_data(as_text=True), (endpoint, name, value)


def test_scripts_get_the_400_as_json(world):
    response = get(
        world,
        "admin.audit_events",
        "admin",
        [("since", "soon")],
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert response.is_json
    assert "since" in response.get_json()["detail"]


def test_the_first_and_last_days_of_the_calendar_are_dates_like_any_other(world):
    for endpoint in ("admin.audit_events", "admin.audit_csv"):
        for name in ("since", "until"):
            for day in ("0001-01-01", "9999-12-31"):
                response = get(world, endpoint, "admin", [(name, day)])
                assert response.status_code == 200, (endpoint, name, day)


def test_valid_and_empty_values_are_accepted(world):
    """A filter form sends every field, empty ones included: an empty field filters nothing."""
    for endpoint, name, param in _strict_params():
        valid = "2026-03-31" if param.kind == "date" else str(param.maximum)
        for value in ("", valid):
            response = get(world, endpoint, "admin", [(name, value)])
            assert response.status_code == 200, (endpoint, name, value)


def test_ids_out_of_range_are_not_found(world):
    for path in ("/ideas/99999999999999999999", "/ideas/2147483648", "/ideas/0", "/admin/users/-1"):
        assert world.clients["admin"].get(path).status_code == 404, path


# --- Random values everywhere ------------------------------------------------------------------

SPECIAL_NAMES = ["_scheme", "_external", "_anchor", "_method", "endpoint", "values", "page", "q"]
EDGE_VALUES = [
    "",
    "1",
    "me",
    "open",
    "all",
    "new",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "2147483647",
    "2147483648",
    str(2**63),
    "-" + str(2**63),
    "1e400",
    "nan",
    "-inf",
    "%00",
    "\x00",
    "x" * 5000,
    "' OR 1=1 --",
    "javascript:alert(1)",
    "//evil.example",
]
UNICODE = st.characters(exclude_categories=("Cs",))  # lone surrogates cannot travel in a URL


def cursors() -> st.SearchStrategy[str]:
    """Cursors in our own format around the edges: extreme numbers and times, other types."""
    when = st.datetimes(timezones=st.timezones()).map(lambda d: {"t": d.isoformat()})
    value = st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(),
        when,
        st.sampled_from([{"t": "0001-01-01T00:00:00+01:00"}, {"t": "9999-12-31T23:59:59-01:00"}]),
    )
    idea_id = st.integers(min_value=-(2**40), max_value=2**40)
    return st.builds(_raw_cursor, value, idea_id)


def _raw_cursor(value: object, idea_id: int) -> str:
    """A cursor in our format holding anything at all (encode_cursor takes only our types)."""
    raw = json.dumps([value, idea_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


VALUES = st.one_of(
    st.sampled_from(EDGE_VALUES),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.dates().map(lambda d: d.isoformat()),
    st.floats().map(str),
    st.text(UNICODE, max_size=30),
    cursors(),
)


def test_random_query_parameters_never_give_a_500(world):
    endpoints = sorted(world.paths)
    world.baseline()

    # About 10 s on SQLite, 15 s on PostgreSQL; 3,000 examples found nothing more.
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def check(data):
        # Half the time a route that reads parameters, half the time any route at all.
        endpoint = data.draw(
            st.one_of(st.sampled_from(sorted(PARAMS)), st.sampled_from(endpoints)), label="endpoint"
        )
        role = data.draw(st.sampled_from(ROLES), label="role")
        names = st.one_of(
            st.sampled_from(sorted(PARAMS.get(endpoint) or SPECIAL_NAMES)),
            st.sampled_from(SPECIAL_NAMES),
            st.text(UNICODE, min_size=1, max_size=10),
        )
        pairs = data.draw(st.lists(st.tuples(names, VALUES), max_size=4), label="query")
        response = get(world, endpoint, role, pairs)
        assert response.status_code != 500, (endpoint, role, pairs)
        assert response.status_code in expected(world, endpoint, role, pairs), (
            endpoint,
            role,
            pairs,
            response.status_code,
        )

    check()


def test_cursors_at_the_edges_of_time_and_number(world):
    """A cursor is ours or a 400, whatever it holds: no time before year 1, no count past 2**31."""
    values = [
        ({"t": "0001-01-01T00:00:00+01:00"}, 1),  # before year 1 once moved to UTC
        ({"t": "9999-12-31T23:59:59-01:00"}, 1),  # after year 9999 once moved to UTC
        ({"t": "0001-01-01T00:00:00+00:00"}, 1),
        ({"t": "9999-12-31T23:59:59+00:00"}, 1),
        (2**63, 1),
        (1e308, 1),
        (1, 2**63),
    ]
    for sort in ("new", "updated", "top", "trending", "discussed"):
        for value, idea_id in values:
            for name in ("after", "before"):
                cursor = _raw_cursor(value, idea_id)
                response = get(world, "main.home", "customer", [("sort", sort), (name, cursor)])
                assert response.status_code in (200, 400), (sort, value, idea_id, name)


def test_pages_that_copy_their_query_into_links_keep_the_visitors_names_to_themselves(world):
    """?_scheme=, ?endpoint= and ?_external= are the visitor's, not arguments to url_for."""
    names = [("_scheme", "javascript"), ("endpoint", "x"), ("_external", "1"), ("_anchor", "x")]
    for endpoint in (
        "main.home",
        "admin.users_list",
        "admin.audit_events",
        "team.queue",
        "team.priority",
    ):
        for name, value in names:
            response = get(world, endpoint, "admin", [(name, value)])
            assert response.status_code == 200, (endpoint, name)
            assert "http://localhost" not in response.get_data(as_text=True), (endpoint, name)


def test_an_empty_cursor_is_the_first_page(world):
    for name in ("after", "before"):
        assert get(world, "main.home", "anonymous", [(name, "")]).status_code == 200, name
