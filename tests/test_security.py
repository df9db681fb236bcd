"""What an attacker probes: headers, CSRF, oversized and junk input, error pages, stored XSS."""

from __future__ import annotations

import re

import pytest
from flask import url_for
from markupsafe import escape
from sqlalchemy import select

from portal.extensions import db
from portal.markdown import render_markdown
from portal.models import User
from portal.services.settings import set_setting

from .conftest import DEFAULT_PASSWORD, sign_in_client
from .helpers import database_snapshot, page_text

CSRF_ON = pytest.mark.parametrize("config_overrides", [{"WTF_CSRF_ENABLED": True}], ids=["csrf"])
NO_PROPAGATION = pytest.mark.parametrize(
    "config_overrides", [{"PROPAGATE_EXCEPTIONS": False}], ids=["no-propagation"]
)


def post_rules(app):
    return sorted(
        (r for r in app.url_map.iter_rules() if "POST" in r.methods), key=lambda r: r.endpoint
    )


def build_url(app, rule, user_id: int) -> str:
    # Ids that may not exist: CSRF is checked before any lookup, and a GET may 404 but not write.
    samples = {"user_id": user_id, "token": "some-token"}
    with app.test_request_context():
        # Every other argument is an id (idea_id, comment_id, category_id, ...): 1 will do.
        return url_for(rule.endpoint, **{name: samples.get(name, 1) for name in rule.arguments})


# Every field any form has, filled so that the request would change something if accepted.
EVERY_FIELD = {
    "email": "target@example.com",
    "password": DEFAULT_PASSWORD,
    "display_name": "Changed Name",
    "accept_guidelines": "y",
    "current_password": DEFAULT_PASSWORD,
    "new_password": "another long passphrase 42",
    "role": "admin",
    "reason": "Suspended by a forged form",
}


def boom_route(app) -> None:
    @app.route("/test-only/boom")
    def boom():
        raise RuntimeError("secret internal detail 8f3a")


# ---------------------------------------------------------------------------------------------
# Security headers on every kind of response (item 18).


def csp_directives(response) -> dict[str, list[str]]:
    policy = response.headers.get("Content-Security-Policy")
    assert policy, f"{response.request.path} has no Content-Security-Policy"
    directives = {}
    for part in policy.split(";"):
        tokens = part.split()
        if tokens:
            directives[tokens[0].lower()] = tokens[1:]
    return directives


def assert_protective_headers(response, *, https: bool = False) -> None:
    where = f"{response.request.method} {response.request.path} ({response.status_code})"
    csp = csp_directives(response)
    scripts = csp.get("script-src", csp.get("default-src"))
    assert scripts, f"{where}: no script-src or default-src"
    assert "'unsafe-inline'" not in scripts, where
    assert "'unsafe-eval'" not in scripts, where
    assert not {"*", "data:", "http:", "https:"} & set(scripts), where
    assert csp.get("object-src") == ["'none'"], where
    assert csp.get("base-uri") in (["'self'"], ["'none'"]), where
    assert csp.get("frame-ancestors") == ["'none'"], where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where
    assert response.headers.get("Referrer-Policy") in (
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    ), where
    hsts = response.headers.get("Strict-Transport-Security")
    if https:
        assert hsts is not None, where
        assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 31_536_000, where
    else:
        assert hsts is None, where


def assert_no_inline_code(response) -> None:
    """The CSP forbids inline code, so a page that relied on it would break."""
    body = response.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body, re.IGNORECASE)
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", body, re.IGNORECASE)
    assert not re.search(r"<[^>]+\sstyle\s*=", body, re.IGNORECASE)
    assert "javascript:" not in body.lower()


def responses_of_every_kind(app, client, make_user) -> list:
    """Pages, redirects and error pages, as an anonymous visitor, a customer and an admin."""
    boom_route(app)
    customer = make_user("customer")
    admin = make_user("admin")
    anonymous = app.test_client()
    admin_client = app.test_client()
    sign_in_client(client, customer)
    sign_in_client(admin_client, admin)
    too_big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    responses = [
        anonymous.get("/"),
        anonymous.get("/guidelines"),
        anonymous.get("/sign-in"),
        anonymous.get("/sign-up"),
        anonymous.get("/password/forgot"),
        anonymous.get("/confirm/not-a-token"),
        anonymous.get("/password/reset/not-a-token"),  # 400
        anonymous.get("/account"),  # 302 to sign-in
        anonymous.get("/no-such-page"),  # 404
        anonymous.get("/sign-out"),  # 405
        anonymous.post("/sign-up", data={"display_name": too_big}),  # 413
        anonymous.get("/test-only/boom"),  # 500
        anonymous.get("/static/css/portal.css"),
        client.get("/account"),
        client.get("/admin/users"),  # 403
        client.post("/account/display-name", data={"display_name": ""}),  # 400 form error
        admin_client.get("/admin/users"),
        admin_client.get(f"/admin/users/{customer.id}"),
        admin_client.get("/admin/users?page=abc"),  # 400
        admin_client.get("/admin/users/999999"),  # 404
    ]
    for response in responses:
        response.get_data()
        response.close()  # the static file's handle, which would otherwise leak a warning
    return responses


EXPECTED_STATUSES = [200, 200, 200, 200, 200, 400, 400, 302, 404, 405, 413, 500, 200]
EXPECTED_STATUSES += [200, 403, 400, 200, 200, 400, 404]


def assert_kept_by_no_shared_cache(response) -> None:
    """A page is not stored at all, or (the cached pages) stored per cookie and revalidated."""
    cache_control = response.headers.get("Cache-Control")
    if "ETag" not in response.headers:
        assert cache_control == "no-store"
    else:
        assert cache_control in ("no-cache", "private, no-cache")
        assert "cookie" in response.vary


@NO_PROPAGATION
def test_every_response_carries_protective_headers(app, client, make_user):
    responses = responses_of_every_kind(app, client, make_user)
    assert [r.status_code for r in responses] == EXPECTED_STATUSES
    for response in responses:
        assert_protective_headers(response)
        if response.mimetype == "text/html":
            assert_no_inline_code(response)
            assert_kept_by_no_shared_cache(response)


@pytest.mark.parametrize(
    "config_overrides",
    [{"PROPAGATE_EXCEPTIONS": False, "BASE_URL": "https://portal.example.com"}],
    ids=["https"],
)
def test_hsts_is_sent_when_the_site_is_https(app, client, make_user):
    responses = responses_of_every_kind(app, client, make_user)
    for response in responses:
        assert_protective_headers(response, https=True)


def test_a_header_a_response_sets_itself_is_kept_whatever_its_case(app, client):
    @app.get("/test-only/own-headers")
    def own_headers():
        return "kept", {"cache-control": "max-age=60", "X-FRAME-OPTIONS": "SAMEORIGIN"}

    response = client.get("/test-only/own-headers")

    assert response.headers.getlist("Cache-Control") == ["max-age=60"]
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert "Strict-Transport-Security" not in response.headers


def test_a_page_view_no_limit_counts_skips_the_rate_limiter(app, client, login_as, monkeypatch):
    # Every limit is on a POST; resolving them for each page view was a good part of the time
    # a cached page took. A default limit set by an operator still counts reads
    # (tests/test_observability.py, test_healthz_is_never_rate_limited).
    from portal.extensions import limiter

    resolved = []
    real_resolve = limiter.limit_manager.resolve_limits
    monkeypatch.setattr(
        limiter.limit_manager,
        "resolve_limits",
        lambda *args, **kwargs: resolved.append(args[1]) or real_resolve(*args, **kwargs),
    )
    login_as()

    assert client.get("/").status_code == 200
    assert client.get("/ideas/new").status_code == 200
    assert resolved == []
    client.post("/ideas/new", data={})
    assert "ideas.new" in resolved  # its per-person limit is checked as before


# ---------------------------------------------------------------------------------------------
# CSRF (item 21).


def csrf_token_from(response) -> str:
    match = re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"', response.text)
    assert match, "no CSRF token on the page"
    return match.group(1)


# The POSTs without a CSRF token, each refusing a made-up credential with these words: RFC
# 8058 one-click unsubscribe, which mail clients send with no form, and an identify link's
# token, which a customer's product may POST from its own site (docs/sso.md).
SIGNED_LINKS = {
    "account.email_unsubscribe": "not valid",
    "auth.identify_sign_in": "Could not sign you in",
}
# The comment box on a page every signed-out visitor shares (so without a token): it changes no
# row, only keeps the text in the visitor's own session while they sign in (portal.intent).
# Another site is refused by the Sec-Fetch-Site and Origin headers browsers send instead.
SESSION_ONLY = {"ideas.keep_comment_draft"}


@CSRF_ON
@pytest.mark.parametrize("who", ["anonymous", "customer", "admin"])
def test_every_post_route_refuses_a_request_without_csrf_token(app, client, make_user, who):
    target = make_user("customer", email="target@example.com")
    if who != "anonymous":
        sign_in_client(client, make_user(who))
    client.get("/account")  # the session now holds a CSRF secret, as a real browser's would
    rules = post_rules(app)
    assert len(rules) >= 9

    for rule in rules:
        url = build_url(app, rule, target.id)
        if rule.endpoint.startswith("api."):
            # The API reads no cookie and takes no CSRF token: without a key it is refused,
            # whoever the browser is signed in as, and nothing changes.
            before = database_snapshot()
            for data in ({"json": EVERY_FIELD}, {"data": EVERY_FIELD}):
                response = client.post(url, **data)
                assert response.status_code == 401, f"POST {url} as {who}"
            assert database_snapshot() == before, f"POST {url} as {who} changed the database"
            continue
        if rule.endpoint in SESSION_ONLY:
            before = database_snapshot()
            for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
                response = client.post(url, data=EVERY_FIELD, headers=headers)
                assert response.status_code in (403, 404), f"POST {url} as {who} from afar"
            assert database_snapshot() == before, f"POST {url} as {who} changed the database"
            continue
        for data in (EVERY_FIELD, {**EVERY_FIELD, "csrf_token": "forged"}):
            before = database_snapshot()
            response = client.post(url, data=data)
            assert response.status_code == 400, f"POST {url} as {who}"
            if rule.endpoint in SIGNED_LINKS:
                assert SIGNED_LINKS[rule.endpoint] in page_text(response), f"POST {url} as {who}"
            else:
                assert "The form had expired or came from another site" in page_text(response)
            assert database_snapshot() == before, f"POST {url} as {who} changed the database"

        before = database_snapshot()
        response = client.post(url, json=EVERY_FIELD)
        assert response.status_code == 400, f"JSON POST {url} as {who}"
        assert database_snapshot() == before


@CSRF_ON
def test_csrf_token_from_another_session_is_refused(app, client, make_user):
    me = make_user("customer", display_name="Me Myself")
    sign_in_client(client, me)
    attacker = app.test_client()
    token = csrf_token_from(attacker.get("/sign-in"))

    response = client.post(
        "/account/display-name", data={"display_name": "Pwned", "csrf_token": token}
    )

    assert response.status_code == 400
    assert db.session.get(User, me.id).display_name == "Me Myself"


@CSRF_ON
def test_forms_work_with_the_token_from_the_page(client, make_user):
    me = make_user("customer", email="me@example.com", display_name="Me Myself")

    sign_in_page = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={
            "email": "me@example.com",
            "password": DEFAULT_PASSWORD,
            "csrf_token": csrf_token_from(sign_in_page),
        },
    )
    assert response.status_code == 302

    account_page = client.get("/account")
    assert account_page.status_code == 200
    response = client.post(
        "/account/display-name",
        data={"display_name": "New Name", "csrf_token": csrf_token_from(account_page)},
    )
    assert response.status_code == 303
    assert db.session.get(User, me.id).display_name == "New Name"

    response = client.post("/sign-out", data={"csrf_token": csrf_token_from(client.get("/"))})
    assert response.status_code == 302
    assert client.get("/account").status_code == 302


@CSRF_ON
def test_sign_out_by_get_is_impossible(client, login_as):
    login_as("customer")
    before = database_snapshot()
    response = client.get("/sign-out")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert database_snapshot() == before
    assert client.get("/account").status_code == 200


@CSRF_ON
def test_get_requests_change_nothing(app, client, make_user):
    """Every GET route, with the CSRF-free query string a forged link could carry."""
    target = make_user("customer", email="target@example.com")
    sign_in_client(client, make_user("admin"))
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        url = build_url(app, rule, target.id)
        before = database_snapshot()
        response = client.get(url, query_string=EVERY_FIELD)
        assert response.status_code < 500, url
        assert database_snapshot() == before, f"GET {url} changed the database"


# ---------------------------------------------------------------------------------------------
# Oversized input, forced errors and friendly error pages (item 20).


@CSRF_ON
def test_body_over_the_limit_gets_413_and_changes_nothing(app, client, login_as):
    me = login_as("customer", display_name="Me Myself")
    before = database_snapshot()
    too_big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)

    for path, data in [
        ("/account/display-name", {"display_name": too_big}),
        ("/sign-up", {"email": "a@example.com", "display_name": too_big}),
        ("/sign-in", {"email": "a@example.com", "password": too_big}),
    ]:
        response = client.post(path, data=data)
        assert response.status_code == 413, path
        assert "That was too much to send at once" in page_text(response)
        assert "Traceback" not in response.text

    assert database_snapshot() == before
    assert db.session.get(User, me.id).display_name == "Me Myself"


@pytest.mark.parametrize("length", [61, 5000])
def test_over_long_display_name_is_a_form_error(client, login_as, length):
    me = login_as("customer", display_name="Me Myself")
    response = client.post("/account/display-name", data={"display_name": "n" * length})
    assert response.status_code == 400
    assert "Field must be between 2 and 60 characters long." in page_text(response)
    assert db.session.get(User, me.id).display_name == "Me Myself"


def test_over_long_sign_up_and_sign_in_fields_are_form_errors(client):
    response = client.post(
        "/sign-up",
        data={
            "email": "e" * 300 + "@example.com",
            "display_name": "d" * 300,
            "password": "p" * 5000,
            "accept_guidelines": "y",
        },
    )
    assert response.status_code == 200
    text = page_text(response)
    assert "Field cannot be longer than 254 characters." in text
    assert "Field must be between 2 and 60 characters long." in text
    assert "Field cannot be longer than 256 characters." in text
    assert db.session.scalar(select(User)) is None

    response = client.post("/sign-in", data={"email": "a@example.com", "password": "p" * 5000})
    assert response.status_code == 200
    assert "Field cannot be longer than 256 characters." in page_text(response)


@NO_PROPAGATION
def test_forced_error_shows_plain_500_page_without_traceback(app, client):
    boom_route(app)
    response = client.get("/test-only/boom")
    assert response.status_code == 500
    text = page_text(response)
    assert "Something went wrong on our side" in text
    for leak in ("Traceback", "RuntimeError", "secret internal detail", "portal/", ".py"):
        assert leak not in text


@NO_PROPAGATION
def test_forced_error_for_json_caller_is_json_without_detail(app, client):
    boom_route(app)
    # As the vote script asks: JSON only.
    response = client.get("/test-only/boom", headers={"Accept": "application/json"})
    assert response.status_code == 500
    assert response.is_json
    assert response.get_json()["error"] == "Something went wrong on our side"
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text


@NO_PROPAGATION
@pytest.mark.parametrize("accept", ["text/html,application/json;q=0.9", "*/*", None])
def test_forced_error_for_a_caller_that_takes_html_is_the_page(app, client, accept):
    boom_route(app)
    headers = {"Accept": accept} if accept else {}
    response = client.get("/test-only/boom", headers=headers, json={})
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    assert "Something went wrong on our side" in page_text(response)


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "We can't find that page" in page_text(response)
    assert 'href="/"' in response.text


def test_wrong_method_is_a_friendly_405(client):
    response = client.get("/account/display-name")
    assert response.status_code == 405
    assert "That doesn't work here" in page_text(response)
    assert "POST" in response.headers["Allow"]


# ---------------------------------------------------------------------------------------------
# Junk query parameters (item 19): a clean 400 or ignored, never a 500.

JUNK = [
    "abc",
    "-1",
    "0",
    "99999999999",
    "9" * 400,
    "1e3",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    '"; DROP TABLE users; --',
    "%",
    "%%_\\",
    "\\",
    "\u202e\U0001f600",
    "x" * 5000,
]


@pytest.mark.parametrize("junk", JUNK)
def test_junk_query_parameters_never_cause_500(app, client, make_user, junk):
    make_user("customer", display_name="Someone Else")
    sign_in_client(client, make_user("admin"))
    for path, name in [
        ("/admin/users", "page"),
        ("/admin/users", "q"),
        ("/admin/users", "role"),
        ("/admin/users", "status"),
        ("/sign-in", "next"),
        ("/password/forgot", "email"),
        ("/confirm/resend", "email"),
        ("/", "page"),
    ]:
        response = client.get(path, query_string={name: junk})
        # The people list refuses a page that is not a page number; a signed-in person is sent
        # on from sign-in; everything else ignores what it cannot use.
        expected = {("/admin/users", "page"): 400, ("/sign-in", "next"): 302}.get((path, name), 200)
        assert response.status_code == expected, (path, name, junk)
        if junk.startswith("<script>"):
            assert "<script>alert(1)</script>" not in response.text, (path, name)


@pytest.mark.parametrize(
    "query",
    [
        {"role": "<script>", "status": "<script>"},
        {"q": "'\"%", "role": "admin' --"},
        {"q": "%", "page": "abc"},
        {"page": ["1", "2"], "q": ["a", "b"]},
    ],
)
def test_junk_filters_on_people_page_are_ignored_or_400(client, login_as, query):
    login_as("admin", display_name="Ada Admin")
    response = client.get("/admin/users", query_string=query)
    if "page" in query and query["page"] == "abc":
        assert response.status_code == 400
    else:
        assert response.status_code == 200
    assert "<script>" not in response.text.split("<main", 1)[1]


def test_huge_id_in_the_url_is_404_not_500(client, login_as):
    login_as("admin")
    response = client.get("/admin/users/" + "9" * 30)
    assert response.status_code == 404
    response = client.post("/admin/users/" + "9" * 30 + "/role", data={"role": "admin"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "fields"),
    [
        ("GET", "/admin/users", {"q": "a\x00b"}),
        ("GET", "/admin/users", {"role": "admin\x00"}),
        ("POST", "/sign-in", {"email": "a\x00@example.com", "password": "whatever1"}),
        ("POST", "/password/forgot", {"email": "a\x00@example.com"}),
        ("POST", "/account/display-name", {"display_name": "Nul\x00Name"}),
        ("POST", "/admin/users/{user_id}/suspend", {"reason": "Spam\x00 and spam"}),
    ],
    ids=["search", "role-filter", "sign-in", "forgot-password", "display-name", "suspend"],
)
def test_nul_byte_in_input_is_refused_cleanly_on_every_database(
    app, make_user, method, path, fields
):
    """PostgreSQL cannot store NUL in text, SQLite can: refusing it is the only way to agree."""
    target = make_user("customer")
    client = app.test_client()
    if not path.startswith(("/sign-in", "/password")):
        sign_in_client(client, make_user("admin"))
    before = database_snapshot()
    url = path.format(user_id=target.id)
    if method == "GET":
        response = client.get(url, query_string=fields)
    else:
        response = client.post(url, data=fields)
    assert response.status_code == 400  # refused before any view reads it
    assert database_snapshot()["users"] == before["users"]


# ---------------------------------------------------------------------------------------------
# Stored XSS (item 17).

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    '"><script>alert(1)</script>',
]


def assert_inert(response_or_text, payload: str) -> None:
    """The payload appears, but only as escaped text."""
    body = (
        response_or_text
        if isinstance(response_or_text, str)
        else response_or_text.get_data(as_text=True)
    )
    assert payload not in body
    assert str(escape(payload)) in body


@pytest.mark.parametrize("payload", PAYLOADS)
def test_display_name_is_escaped_on_account_and_admin_pages(
    app, client, login_as, make_user, payload
):
    me = login_as("customer")
    response = client.post("/account/display-name", data={"display_name": payload})
    assert response.status_code == 303
    assert db.session.get(User, me.id).display_name == payload

    page = client.get("/account", follow_redirects=False)
    assert_inert(page, payload)

    admin_client = app.test_client()
    sign_in_client(admin_client, make_user("admin"))
    assert_inert(admin_client.get("/admin/users"), payload)
    assert_inert(admin_client.get(f"/admin/users/{me.id}"), payload)
    response = admin_client.post(f"/admin/users/{me.id}/role", data={"role": "product_manager"})
    assert_inert(admin_client.get(response.headers["Location"]), payload)  # the flash message


@pytest.mark.parametrize("payload", PAYLOADS)
def test_organisation_name_is_escaped(app, client, make_user, make_organisation, payload):
    org = make_organisation(payload)
    member = make_user("customer", organisation=org)
    sign_in_client(client, member)
    assert_inert(client.get("/account"), payload)

    admin_client = app.test_client()
    sign_in_client(admin_client, make_user("admin"))
    assert_inert(admin_client.get("/admin/users"), payload)
    assert_inert(admin_client.get(f"/admin/users/{member.id}"), payload)


@pytest.mark.parametrize("payload", PAYLOADS[:3])
def test_display_name_is_escaped_in_emails_and_welcome_message(client, outbox, payload):
    response = client.post(
        "/sign-up",
        data={
            "email": "xss@example.com",
            "display_name": payload,
            "password": "a long enough passphrase",
            "accept_guidelines": "y",
        },
    )
    assert response.status_code == 303
    [message] = outbox.to("xss@example.com")
    assert_inert(message.get_body(("html",)).get_content(), payload)

    plain = message.get_body(("plain",)).get_content()
    confirm_path = re.search(r"http://portal\.test(/confirm/[\w.\-]+)", plain).group(1)
    response = client.post(confirm_path)
    assert response.status_code == 302
    home = client.get(response.headers["Location"])
    assert "Your email address is confirmed. Welcome," in home.text
    assert_inert(home, payload)  # in the welcome message and the navigation


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "hello <script>alert(1)</script> there",
        "<img src=x onerror=alert(1)>",
        "<svg onload=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src=//evil.example></iframe>",
        "<style>body{display:none}</style>",
    ],
)
def test_markdown_drops_raw_html(source):
    out = str(render_markdown(source))
    assert set(re.findall(r"<\s*([a-z0-9]+)", out, re.IGNORECASE)) <= {"p"}, out
    assert "&lt;" in out  # shown as text, so nobody's words silently vanish


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](javascript&#58;alert(1))",
        "[x](  javascript:alert(1) )",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
        "![x](data:image/png;base64,iVBORw0KGgo=)",
        "<javascript:alert(1)>",
        "[x][ref]\n\n[ref]: javascript:alert(1)",
        "[x](file:///etc/passwd)",
    ],
)
def test_markdown_neutralises_dangerous_links(source):
    out = str(render_markdown(source)).lower()
    hrefs = re.findall(r'(?:href|src)="([^"]*)"', out)
    for href in hrefs:
        assert not href.strip().startswith(("javascript", "vbscript", "data", "file")), out
    assert "<img" not in out
    assert "<script" not in out


def test_markdown_links_get_nofollow_ugc_noopener():
    out = str(render_markdown("See [the docs](https://example.com/docs) or <https://example.org>."))
    links = re.findall(r"<a [^>]*>", out)
    assert len(links) >= 1
    for link in links:
        assert 'rel="nofollow ugc noopener"' in link
    assert 'href="https://example.com/docs"' in out


def test_markdown_keeps_ordinary_formatting():
    out = str(render_markdown("# Title\n\n**bold** and *em*\n\n- one\n- two\n\n`code`"))
    for tag in ("<h1>", "<strong>", "<em>", "<ul>", "<li>", "<code>"):
        assert tag in out


def test_guidelines_page_renders_stored_markdown_inert(client, make_user):
    set_setting(
        "guidelines",
        "# Rules\n\n<script>alert(1)</script>\n\n[click](javascript:alert(1))\n\n"
        "<img src=x onerror=alert(1)>",
        actor=None,
    )
    db.session.commit()
    response = client.get("/guidelines")
    assert response.status_code == 200
    body = response.text
    assert "<script>alert(1)</script>" not in body
    assert "<img src=x" not in body
    assert 'href="javascript:' not in body.lower()
    assert "<h1>Rules</h1>" in body
