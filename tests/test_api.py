"""The JSON API (/api/v1): keys, scopes, the site's rules through the same services, problems,
cursors and ETags. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    AuditEvent,
    Board,
    BoardMember,
    Comment,
    Idea,
    Notification,
    Role,
    StageChange,
    Vote,
)
from portal.models.types import utcnow
from portal.services import api_keys
from tests.conftest import sign_in_client

API = "/api/v1"


@pytest.fixture
def key_for(app):
    """key_for(user, "read", "write") makes an API key and returns its Authorization header."""

    def make(user, *scopes: str) -> dict[str, str]:
        _key, token = api_keys.create_key(user, name="test", scopes=list(scopes or ("read",)))
        db.session.commit()
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def customer(make_user):
    return make_user(Role.CUSTOMER)


@pytest.fixture
def pm(make_user):
    return make_user(Role.PRODUCT_MANAGER)


def problem_of(response) -> dict:
    assert response.mimetype == "application/problem+json", response.data
    body = response.get_json(force=True)
    assert body["status"] == response.status_code
    assert body["title"] and body["detail"]
    return body


# --- Authentication ---------------------------------------------------------------------------


def test_public_reads_need_no_key_and_writes_do(client, make_idea):
    idea = make_idea("Dark mode")
    listed = client.get(f"{API}/ideas")
    assert listed.status_code == 200
    assert [i["title"] for i in listed.get_json()["data"]] == ["Dark mode"]
    assert listed.get_json()["data"][0]["voted"] is None
    one = client.get(f"{API}/ideas/{idea.id}").get_json()
    assert one["url"].endswith(f"/ideas/{idea.id}")
    refused = client.post(f"{API}/ideas", json={"title": "x", "problem": "y"})
    assert refused.status_code == 401
    assert "Bearer" in refused.headers["WWW-Authenticate"]
    assert problem_of(refused)["type"] == "http://portal.test/api#problem-unauthenticated"


def test_a_browser_sign_in_never_authenticates_the_api(client, customer, make_idea):
    """No cookie is read or set under /api/: a signed-in browser is a visitor there."""
    idea = make_idea()
    sign_in_client(client, customer)
    assert client.get("/account").status_code == 200  # signed in on the site
    assert client.get(f"{API}/me").status_code == 401
    voted = client.put(f"{API}/ideas/{idea.id}/vote")
    assert voted.status_code == 401
    assert "Set-Cookie" not in voted.headers
    assert client.get(f"{API}/ideas").headers.get("Set-Cookie") is None
    assert db.session.scalar(select(func.count()).select_from(Vote)) == 1  # the author's


def test_malformed_and_unknown_keys_are_refused(client):
    for header in ("Basic abc", "Bearer", "Bearer portal_nope"):
        response = client.get(f"{API}/ideas", headers={"Authorization": header})
        assert response.status_code == 401, header
        problem_of(response)
        assert response.headers["X-Request-ID"]  # logged like any request


def test_a_suspended_persons_key_stops_at_once(client, customer, key_for):
    headers = key_for(customer, "read")
    assert client.get(f"{API}/me", headers=headers).status_code == 200
    customer.suspended_at = utcnow()
    db.session.commit()
    assert client.get(f"{API}/me", headers=headers).status_code == 401


def test_scopes_limit_what_a_key_does(client, customer, pm, key_for, make_idea):
    idea = make_idea()
    read = key_for(customer, "read")
    answer = client.put(f"{API}/ideas/{idea.id}/vote", headers=read)
    assert answer.status_code == 403
    assert "'write' scope" in problem_of(answer)["detail"]
    # A customer's key can never reach the team's side, whatever it asks for.
    write = key_for(customer, "write")
    assert client.get(f"{API}/people", headers=write).status_code == 403
    me = client.get(f"{API}/me", headers=write).get_json()
    assert me["scopes"] == ["read", "write"]
    team = key_for(pm, "team")
    assert client.get(f"{API}/people", headers=team).status_code == 200


def test_a_demoted_persons_team_key_loses_the_team_scope(client, pm, key_for):
    headers = key_for(pm, "team")
    assert client.get(f"{API}/organisations", headers=headers).status_code == 200
    pm.role = Role.CUSTOMER.value
    db.session.commit()
    assert client.get(f"{API}/organisations", headers=headers).status_code == 403


# --- Ideas ------------------------------------------------------------------------------------


def test_creating_an_idea_runs_the_sites_rules(client, customer, key_for, stages):
    headers = key_for(customer, "write")
    created = client.post(
        f"{API}/ideas",
        json={"title": "Export to CSV", "problem": "We copy numbers by hand every month."},
        headers=headers,
    )
    assert created.status_code == 201, created.data
    body = created.get_json()
    assert created.headers["Location"].endswith(f"{API}/ideas/{body['id']}")
    assert body["voted"] is True and body["following"] is True and body["vote_count"] == 1
    assert body["stage"]["slug"] == "new" and body["author"]["id"] == customer.id
    assert db.session.get(Idea, body["id"]).author_id == customer.id


def test_invalid_fields_come_back_as_a_problem_with_every_field(client, customer, key_for, stages):
    headers = key_for(customer, "write")
    empty = client.post(f"{API}/ideas", json={"title": "", "problem": ""}, headers=headers)
    assert empty.status_code == 422
    fields = {e["field"] for e in problem_of(empty)["errors"]}
    assert "title" in fields
    unknown = client.post(
        f"{API}/ideas", json={"title": "A title", "problem": "p", "colour": "red"}, headers=headers
    )
    assert unknown.status_code == 422
    assert [e["field"] for e in problem_of(unknown)["errors"]] == ["colour"]
    not_json = client.post(f"{API}/ideas", data="title=x", headers=headers)
    assert not_json.status_code == 415
    broken = client.post(
        f"{API}/ideas", data="{", headers={**headers, "Content-Type": "application/json"}
    )
    assert broken.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Idea)) == 0


@pytest.mark.parametrize("config_overrides", [{"LIMIT_IDEAS": "2/hour"}])
def test_rate_limits_hold_for_keys(client, customer, key_for, stages):
    headers = key_for(customer, "write")
    for n in range(2):
        posted = client.post(
            f"{API}/ideas",
            json={"title": f"Idea number {n} about reports", "problem": f"Problem {n} is real."},
            headers=headers,
        )
        assert posted.status_code == 201, posted.data
    third = client.post(
        f"{API}/ideas",
        json={"title": "A third idea on exports", "problem": "Yet another problem here."},
        headers=headers,
    )
    assert third.status_code == 429
    assert int(third.headers["Retry-After"]) > 0
    problem_of(third)


def test_hidden_and_private_ideas_never_reach_a_key_that_may_not_see_them(
    client, customer, make_user, key_for, make_idea
):
    shown = make_idea("Shown idea")
    hidden = make_idea("Hidden idea")
    hidden.hidden_at = utcnow()
    private = Board(name="Partners", slug="partners", audience="private")
    db.session.add(private)
    db.session.flush()
    secret = make_idea("Partner idea")
    secret.board_id = private.id
    db.session.commit()
    for headers in ({}, key_for(customer, "read")):
        listed = client.get(f"{API}/ideas", headers=headers).get_json()["data"]
        titles = [i["title"] for i in listed]
        assert titles == ["Shown idea"]
        assert client.get(f"{API}/ideas/{hidden.id}", headers=headers).status_code == 404
        assert client.get(f"{API}/ideas/{secret.id}", headers=headers).status_code == 404
        found = client.get(f"{API}/ideas?q=idea", headers=headers).get_json()
        assert [i["id"] for i in found["data"]] == [shown.id]
    member = make_user()
    db.session.add(BoardMember(board_id=private.id, user_id=member.id))
    db.session.commit()
    seen = client.get(f"{API}/ideas/{secret.id}", headers=key_for(member, "read"))
    assert seen.status_code == 200


def test_cursors_walk_every_idea_once(client, make_idea):
    made = {make_idea(f"Idea {n} for the cursor walk").id for n in range(7)}
    seen, cursor = [], None
    while True:
        url = f"{API}/ideas?sort=new&limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url).get_json()
        seen += [i["id"] for i in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made) and len(seen) == len(made)
    bad = client.get(f"{API}/ideas?sort=top&cursor=nonsense")
    assert bad.status_code == 400
    problem_of(bad)


def test_etags_answer_304_and_if_match_refuses_a_lost_update(client, customer, key_for, make_idea):
    idea = make_idea("Old title of the idea", author=customer)
    headers = key_for(customer, "write")
    first = client.get(f"{API}/ideas/{idea.id}", headers=headers)
    etag = first.headers["ETag"]
    again = client.get(f"{API}/ideas/{idea.id}", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304
    edited = client.patch(
        f"{API}/ideas/{idea.id}",
        json={"title": "New title of the idea"},
        headers={**headers, "If-Match": etag},
    )
    assert edited.status_code == 200, edited.data
    assert edited.get_json()["title"] == "New title of the idea"
    assert edited.get_json()["problem"] == idea.problem
    stale = client.patch(
        f"{API}/ideas/{idea.id}",
        json={"title": "Another title for it"},
        headers={**headers, "If-Match": etag},
    )
    assert stale.status_code == 412
    problem_of(stale)


def test_only_the_author_edits(client, make_user, key_for, make_idea):
    idea = make_idea()
    other = key_for(make_user(), "write")
    refused = client.patch(f"{API}/ideas/{idea.id}", json={"title": "Mine now!"}, headers=other)
    assert refused.status_code == 403
    problem_of(refused)


# --- Votes, follows, comments ----------------------------------------------------------------


def test_voting_and_withdrawing(client, customer, key_for, make_idea, stages):
    idea = make_idea()
    headers = key_for(customer, "write")
    voted = client.put(f"{API}/ideas/{idea.id}/vote", headers=headers)
    assert voted.get_json() == {"idea_id": idea.id, "voted": True, "vote_count": 2}
    assert client.put(f"{API}/ideas/{idea.id}/vote", headers=headers).get_json()["vote_count"] == 2
    withdrawn = client.delete(f"{API}/ideas/{idea.id}/vote", headers=headers)
    assert withdrawn.get_json() == {"idea_id": idea.id, "voted": False, "vote_count": 1}
    idea.stage = stages["shipped"]
    db.session.commit()
    closed = client.put(f"{API}/ideas/{idea.id}/vote", headers=headers)
    assert closed.status_code == 409
    problem_of(closed)


def test_comments_notify_followers_as_on_the_site(client, customer, key_for, make_idea):
    idea = make_idea()
    headers = key_for(customer, "write")
    posted = client.post(
        f"{API}/ideas/{idea.id}/comments", json={"body": "We need this too."}, headers=headers
    )
    assert posted.status_code == 201, posted.data
    comment_id = posted.get_json()["id"]
    assert db.session.scalar(
        select(Notification).where(
            Notification.user_id == idea.author_id, Notification.comment_id == comment_id
        )
    )
    reply = client.post(
        f"{API}/ideas/{idea.id}/comments",
        json={"body": "Agreed.", "parent_id": comment_id},
        headers=headers,
    )
    assert reply.status_code == 201
    hidden = db.session.get(Comment, comment_id)
    hidden.hidden_at = utcnow()
    db.session.commit()
    listed = client.get(f"{API}/ideas/{idea.id}/comments").get_json()["data"]
    assert comment_id not in [c["id"] for c in listed]
    empty = client.post(f"{API}/ideas/{idea.id}/comments", json={"body": " "}, headers=headers)
    assert empty.status_code == 422


def test_following(client, customer, key_for, make_idea):
    idea = make_idea()
    headers = key_for(customer, "write")
    assert client.put(f"{API}/ideas/{idea.id}/follow", headers=headers).get_json()["following"]
    assert client.get(f"{API}/ideas/{idea.id}", headers=headers).get_json()["following"] is True
    client.delete(f"{API}/ideas/{idea.id}/follow", headers=headers)
    assert client.get(f"{API}/ideas/{idea.id}", headers=headers).get_json()["following"] is False


# --- The team's side -------------------------------------------------------------------------


def test_moves_tell_followers_and_are_audited(client, pm, customer, key_for, make_idea):
    idea = make_idea(author=customer)
    refused = client.post(
        f"{API}/ideas/{idea.id}/moves",
        json={"stage": "planned", "note": "Soon."},
        headers=key_for(customer, "write"),
    )
    assert refused.status_code == 403
    headers = key_for(pm, "team")
    moved = client.post(
        f"{API}/ideas/{idea.id}/moves",
        json={"stage": "under_review", "note": "We are looking into it this month."},
        headers=headers,
    )
    assert moved.status_code == 201, moved.data
    assert moved.get_json()["to_stage"]["slug"] == "under_review"
    assert db.session.scalar(
        select(Notification).where(
            Notification.user_id == customer.id, Notification.message.contains("this month")
        )
    )
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "idea.stage_changed"))
    history = client.get(f"{API}/ideas/{idea.id}/moves").get_json()["data"]
    assert history[-1]["note"] == "We are looking into it this month."
    unknown = client.post(
        f"{API}/ideas/{idea.id}/moves", json={"stage": "nowhere", "note": "x"}, headers=headers
    )
    assert unknown.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(StageChange)) == len(history)


def test_votes_on_behalf_and_people(client, pm, make_user, key_for, make_idea):
    idea = make_idea()
    buyer = make_user(email="buyer@customer.example")
    headers = key_for(pm, "team")
    people = client.get(f"{API}/people?email=Buyer@customer.example", headers=headers).get_json()
    assert [p["id"] for p in people["data"]] == [buyer.id]
    added = client.post(
        f"{API}/ideas/{idea.id}/votes-on-behalf",
        json={"email": "buyer@customer.example", "source": "sales_call", "quote": "Need it."},
        headers=headers,
    )
    assert added.status_code == 201, added.data
    assert added.get_json()["vote_count"] == 2
    nobody = client.post(
        f"{API}/ideas/{idea.id}/votes-on-behalf",
        json={"email": "nobody@nowhere.example", "source": "email"},
        headers=headers,
    )
    assert nobody.status_code == 422


def test_outcome_answers(client, customer, pm, key_for, make_idea, stages):
    idea = make_idea(author=customer, stage="shipped")
    headers = key_for(customer, "write")
    answered = client.put(
        f"{API}/ideas/{idea.id}/outcome", json={"answer": "partly"}, headers=headers
    )
    assert answered.status_code == 200, answered.data
    assert answered.get_json()["own_answer"]["answer"] == "partly"
    team = client.get(f"{API}/ideas/{idea.id}/outcome", headers=key_for(pm, "team")).get_json()
    assert team["counts"]["partly"] == 1
    assert client.get(f"{API}/ideas/{idea.id}/outcome").get_json()["counts"] is None


# --- The description ---------------------------------------------------------------------------


def test_the_openapi_document_describes_every_operation(app, client):
    document = client.get(f"{API}/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    described = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi":
            path = rule.rule.removeprefix(API).replace("<id:", "{").replace(">", "}")
            served |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == described
    page = client.get("/api")
    assert page.status_code == 200
    assert b"GET /ideas" in page.data


def test_authors_correct_and_delete_their_comments(client, customer, make_user, key_for, make_idea):
    idea = make_idea()
    headers = key_for(customer, "write")
    posted = client.post(
        f"{API}/ideas/{idea.id}/comments", json={"body": "Frist!"}, headers=headers
    ).get_json()
    other = key_for(make_user(), "write")
    assert (
        client.patch(
            f"{API}/comments/{posted['id']}", json={"body": "Mine"}, headers=other
        ).status_code
        == 403
    )
    fixed = client.patch(f"{API}/comments/{posted['id']}", json={"body": "First!"}, headers=headers)
    assert fixed.status_code == 200 and fixed.get_json()["body"] == "First!"
    assert fixed.get_json()["edited_at"] is not None
    gone = client.delete(f"{API}/comments/{posted['id']}", headers=headers)
    assert gone.status_code == 204 and gone.data == b""
    assert client.get(f"{API}/ideas/{idea.id}").get_json()["comment_count"] == 0
    assert client.delete(f"{API}/comments/{posted['id']}", headers=headers).status_code == 404


def test_the_audit_log_says_what_came_through_a_key(client, pm, key_for, make_idea):
    from portal.services.audit_log import describe

    idea = make_idea()
    moved = client.post(
        f"{API}/ideas/{idea.id}/moves",
        json={"stage": "under_review", "note": "We are reading it with the sales team now."},
        headers=key_for(pm, "team"),
    )
    assert moved.status_code == 201, moved.data
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "idea.stage_changed"))
    assert "through the API key “test” (portal_" in describe(event)


def test_every_kind_of_problem_is_described():
    import re
    from pathlib import Path

    from portal.api import core

    source = "".join(p.read_text() for p in Path(core.__file__).parent.glob("*.py"))
    used = set(re.findall(r'kind="([a-z-]+)"', source))
    assert used and used <= set(core.PROBLEM_KINDS)


def test_admin_keys_read_the_audit_log_a_page_at_a_time(client, make_user, key_for, make_idea):
    from portal.services import audit

    admin = make_user(Role.ADMIN)
    for n in range(5):
        audit.record("settings.changed", actor=admin, ip="192.0.2.1", changes={"n": n})
    db.session.commit()
    headers = key_for(admin, "admin")
    seen, cursor = [], None
    while True:
        page = client.get(
            f"{API}/audit-events?limit=2" + (f"&cursor={cursor}" if cursor else ""),
            headers=headers,
        ).get_json()
        seen += [event["id"] for event in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) >= 5
    first = client.get(f"{API}/audit-events?action=settings.changed&limit=1", headers=headers)
    assert first.get_json()["data"][0]["sentence"]
    pm_key = key_for(make_user(Role.PRODUCT_MANAGER), "team")
    assert client.get(f"{API}/audit-events", headers=pm_key).status_code == 403


@pytest.mark.parametrize("config_overrides", [{"LIMIT_API": "3/minute"}])
def test_every_api_request_draws_on_one_budget_per_person(client, customer, key_for, make_idea):
    idea = make_idea()
    headers = key_for(customer, "read")
    for path in ("/ideas", f"/ideas/{idea.id}", "/stages"):
        assert client.get(f"{API}{path}", headers=headers).status_code == 200
    stopped = client.get(f"{API}/categories", headers=headers)
    assert stopped.status_code == 429
    assert problem_of(stopped)["type"].endswith("#problem-rate-limited")
    assert int(stopped.headers["Retry-After"]) > 0
    assert client.get(f"{API}/stages").status_code == 200  # a visitor's budget is their own


def test_a_private_portal_answers_the_api_only_with_a_key(client, customer, key_for, make_idea):
    from portal.services.settings import set_setting

    make_idea()
    set_setting("private_portal", "on", actor=None)
    db.session.commit()
    refused = client.get(f"{API}/ideas")
    assert refused.status_code == 401
    assert "private" in problem_of(refused)["detail"]
    listed = client.get(f"{API}/ideas", headers=key_for(customer, "read"))
    assert listed.status_code == 200 and len(listed.get_json()["data"]) == 1


def test_a_page_of_ideas_costs_the_same_queries_however_many_authors(
    client, make_user, make_idea, count_queries
):
    make_idea("The first idea on the list")
    client.get(f"{API}/ideas")
    with count_queries() as one:
        client.get(f"{API}/ideas")
    for n in range(6):
        make_idea(f"Another idea, number {n}", author=make_user())
    with count_queries() as seven:
        assert len(client.get(f"{API}/ideas").get_json()["data"]) == 7
    assert seven.count <= one.count + 1
