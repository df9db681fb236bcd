"""Webhooks: what the services emit, signed, delivered, retried and logged; refused addresses.

A real HTTP server on 127.0.0.1 receives the deliveries (allowed through the admins' list of
hosts for local use) and every signature is checked with the `standardwebhooks` library.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from portal.extensions import db
from portal.mail import netguard
from portal.mail import outbox as mail_outbox
from portal.mail import webhooks as delivering
from portal.models import (
    AuditEvent,
    Board,
    Idea,
    OutboxMessage,
    OutboxStatus,
    Release,
    Role,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from portal.models.types import utcnow
from portal.services import (
    comments,
    moderation,
    outcomes,
    pipeline,
    releases,
    settings,
    votes,
    webhooks,
)
from portal.services.errors import InvalidFields

from .conftest import sign_in_client
from .helpers import page_text

NOTE = "We are building this in the next cycle; expect it within weeks."


# --- A receiver ----------------------------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every request and answers as told."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answers: list[tuple[int, bytes, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                )
                status, answer, headers = (
                    receiver.answers.pop(0) if receiver.answers else (200, b"ok", {})
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def events(self, secret: str | None = None) -> list[dict]:
        """The bodies received, each verified when a secret is given."""
        found = []
        for request in self.requests:
            if secret is not None:
                found.append(Webhook(secret).verify(request["body"], request["headers"]))
            else:
                found.append(json.loads(request["body"]))
        return found

    def types(self) -> list[str]:
        return [event["type"] for event in self.events()]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(app) -> Iterator[Receiver]:
    server = Receiver()
    settings.set_setting("webhook_local_hosts", f"127.0.0.1:{server.port}", actor=None)
    db.session.commit()
    yield server
    server.close()


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN, display_name="Ada Admin")


@pytest.fixture
def pm(make_user):
    return make_user(Role.PRODUCT_MANAGER, display_name="Pam Product")


@pytest.fixture
def endpoint(admin, receiver):
    """endpoint(events, **settings): an endpoint on the receiver, made by an admin."""

    def make(events=tuple(webhooks.EVENT_TYPES), **kwargs) -> WebhookEndpoint:
        made = webhooks.create_endpoint(
            actor=admin,
            ip=None,
            url=kwargs.pop("url", receiver.url()),
            events=events,
            **kwargs,
        )
        db.session.commit()
        return made

    return make


def deliver() -> int:
    return delivering.deliver_due()


def fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


# --- Events from the services --------------------------------------------------------------


def test_a_new_idea_is_sent_signed_as_a_standard_webhook(endpoint, receiver, make_idea):
    hook = endpoint(["idea.created"])
    idea = make_idea("Export reports to Excel")
    assert deliver() == 1

    (request,) = receiver.requests
    headers = request["headers"]
    assert headers["webhook-id"].startswith("msg_")
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["Content-Type"] == "application/json"
    body = Webhook(hook.secret).verify(request["body"], headers)
    assert body["type"] == "idea.created"
    assert body["timestamp"].endswith("Z")
    data = body["data"]
    assert data["idea"]["id"] == idea.id
    assert data["idea"]["title"] == "Export reports to Excel"
    assert data["idea"]["url"] == f"http://portal.test/ideas/{idea.id}"
    assert data["idea"]["stage"] == {"slug": "new", "name": "New", "closed": False}
    assert data["idea"]["votes"] == 1
    assert data["problem"].startswith("Our finance team")
    # Another secret does not verify it.
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(request["body"], headers)
    row = db.session.scalar(select(WebhookDelivery))
    assert row.status == OutboxStatus.SENT and row.response_status == 200


def test_an_endpoint_hears_only_the_events_it_chose(endpoint, receiver, make_idea, pm, stages):
    endpoint(["idea.moved"])
    idea = make_idea()
    deliver()
    assert receiver.requests == []
    pipeline.move_stage(idea, stages["planned"], actor=pm, note=NOTE, ip=None)
    db.session.commit()
    deliver()
    assert receiver.types() == ["idea.moved"]


def test_a_move_is_sent_with_its_note(endpoint, receiver, make_idea, pm, stages):
    hook = endpoint(["idea.moved"])
    idea = make_idea()
    pipeline.move_stage(idea, stages["planned"], actor=pm, note=NOTE, ip=None)
    db.session.commit()
    deliver()
    (event,) = receiver.events(hook.secret)
    assert event["data"]["from_stage"]["slug"] == "new"
    assert event["data"]["to_stage"] == {"slug": "planned", "name": "Planned", "closed": False}
    assert event["data"]["idea"]["stage"]["slug"] == "planned"
    assert event["data"]["note"] == NOTE


def test_moving_many_ideas_sends_one_event_each(endpoint, receiver, make_idea, pm, stages):
    endpoint(["idea.moved"])
    ideas = [make_idea(f"Idea number {n}") for n in range(3)]
    pipeline.move_many(ideas, stages["under_review"], actor=pm, note=NOTE, ip=None)
    db.session.commit()
    deliver()
    ids = sorted(event["data"]["idea"]["id"] for event in receiver.events())
    assert ids == sorted(idea.id for idea in ideas)


def test_a_merge_names_both_ideas(endpoint, receiver, make_idea, pm):
    hook = endpoint(["idea.merged"])
    kept = make_idea("Export to Excel")
    duplicate = make_idea("Excel export please")
    pipeline.merge_ideas(duplicate, kept, actor=pm, note=NOTE, ip=None)
    db.session.commit()
    deliver()
    (event,) = receiver.events(hook.secret)
    assert event["type"] == "idea.merged"
    assert event["data"]["idea"]["id"] == duplicate.id
    assert event["data"]["into"]["id"] == kept.id
    assert event["data"]["into"]["votes"] == 2
    assert event["data"]["note"] == NOTE


def test_an_unmerged_idea_is_sent_as_moved_back(endpoint, receiver, make_idea, pm):
    endpoint(["idea.moved"])
    kept = make_idea("Export to Excel")
    duplicate = make_idea("Excel export please")
    pipeline.merge_ideas(duplicate, kept, actor=pm, note=NOTE, ip=None)
    db.session.commit()
    pipeline.unmerge_ideas(duplicate, actor=pm, note=NOTE, ip=None)
    db.session.commit()
    deliver()
    (event,) = receiver.events()
    assert event["data"]["from_stage"]["slug"] == "merged"
    assert event["data"]["to_stage"]["slug"] == "new"


def test_a_comment_is_sent_with_its_author_and_link(endpoint, receiver, make_idea, make_user):
    hook = endpoint(["comment.created"])
    idea = make_idea()
    commenter = make_user(display_name="Carla Commenter")
    comment = comments.add_comment(idea, author=commenter, body="We need this for audits too.")
    db.session.commit()
    deliver()
    (event,) = receiver.events(hook.secret)
    assert event["data"]["comment"]["id"] == comment.id
    assert event["data"]["comment"]["body"] == "We need this for audits too."
    assert event["data"]["comment"]["author"] == "Carla Commenter"
    assert event["data"]["comment"]["url"].endswith(f"/ideas/{idea.id}#comment-{comment.id}")
    assert event["data"]["idea"]["comments"] == 1


def test_votes_are_sent_only_at_the_thresholds_listed(endpoint, receiver, make_idea, make_user):
    at_thresholds = endpoint(["vote.created"], vote_thresholds="3, 5")
    every_vote = endpoint(["vote.created"], url=receiver.url("/every"))
    idea = make_idea()  # the author's own vote: 1, sent to neither
    voters = [make_user() for _ in range(5)]
    for voter in voters:
        votes.cast_vote(idea, voter)
        db.session.commit()
    # Withdrawn and cast again: the count reaches 5 a second time, and nobody hears it twice.
    votes.withdraw_vote(idea, voters[-1])
    votes.cast_vote(idea, voters[-1])
    db.session.commit()
    deliver()
    by_path: dict[str, list[dict]] = {}
    for request, event in zip(receiver.requests, receiver.events(), strict=True):
        by_path.setdefault(request["path"], []).append(event)
    thresholds = by_path["/hook"]
    assert [(e["data"]["votes"], e["data"]["threshold"]) for e in thresholds] == [(3, 3), (5, 5)]
    assert [e["data"]["votes"] for e in by_path["/every"]] == [2, 3, 4, 5, 6, 6]
    assert at_thresholds.id != every_vote.id


def test_shipping_an_idea_by_moving_it_sends_shipped(endpoint, receiver, make_idea, pm, stages):
    endpoint(["idea.moved", "idea.shipped"])
    idea = make_idea(stage="in_progress")
    pipeline.move_stage(idea, stages["shipped"], actor=pm, note=NOTE, ip=None)
    db.session.commit()
    deliver()
    assert receiver.types() == ["idea.moved", "idea.shipped"]
    shipped = receiver.events()[1]["data"]
    assert shipped["idea"]["stage"]["slug"] == "shipped"
    assert shipped["note"] == NOTE
    assert shipped["release"] is None


def test_a_published_release_sends_shipped_with_the_release(
    endpoint, receiver, make_idea, pm, stages
):
    hook = endpoint(["idea.shipped"])
    first = make_idea("Scheduled exports", stage="in_progress")
    second = make_idea("Export to PDF", stage="planned")
    draft = releases.save_draft(
        None,
        actor=pm,
        ip=None,
        title="Spring release",
        note="Scheduled exports and PDF export are here for everyone.",
        idea_ids=[first.id, second.id],
    )
    db.session.commit()
    releases.publish(db.session.get(Release, draft.id), actor=pm, ip=None)
    db.session.commit()
    deliver()
    events = receiver.events(hook.secret)
    assert sorted(e["data"]["idea"]["id"] for e in events) == sorted([first.id, second.id])
    for event in events:
        assert event["type"] == "idea.shipped"
        assert event["data"]["release"]["title"] == "Spring release"
        assert event["data"]["release"]["url"] == f"http://portal.test/shipped/releases/{draft.id}"


def test_an_outcome_answer_is_sent_without_who_gave_it(
    endpoint, receiver, make_idea, make_user, pm, stages
):
    hook = endpoint(["outcome.answered"])
    customer = make_user(display_name="Olga Outcome")
    idea = make_idea(author=customer, stage="in_progress")
    pipeline.move_stage(idea, stages["shipped"], actor=pm, note=NOTE, ip=None)
    db.session.commit()
    outcomes.answer_outcome(idea, customer, answer="partly", comment="Only CSV so far.")
    db.session.commit()
    deliver()
    (event,) = receiver.events(hook.secret)
    assert event["type"] == "outcome.answered"
    assert event["data"]["answer"] == "partly"
    assert event["data"]["comment"] == "Only CSV so far."
    assert "Olga" not in json.dumps(event)


def test_an_idea_approved_by_a_moderator_is_sent_when_it_appears(
    endpoint, receiver, make_idea, make_user, admin
):
    endpoint(["idea.created", "vote.created"])
    settings.set_setting("pre_moderation", "on", actor=None)
    db.session.commit()
    idea = make_idea("Waiting for approval", author=make_user())
    assert idea.awaiting_approval
    deliver()
    assert receiver.requests == []
    assert db.session.scalar(select(func.count(WebhookDelivery.id))) == 0
    moderation.approve_idea(idea, actor=admin, ip=None)
    db.session.commit()
    deliver()
    assert receiver.types() == ["idea.created"]


# --- Nothing hidden is sent ----------------------------------------------------------------


def test_hidden_and_private_content_is_never_sent(endpoint, receiver, make_idea, make_user, admin):
    endpoint()
    # A comment hidden by moderators before it is sent.
    idea = make_idea("Public idea")
    deliver()
    receiver.requests.clear()
    comment = comments.add_comment(idea, author=make_user(), body="Buy cheap watches here")
    db.session.commit()
    comment.hidden_at, comment.hidden_reason = utcnow(), "Advertising"
    db.session.commit()
    assert deliver() == 0
    assert receiver.requests == []
    skipped = db.session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.event_type == "comment.created")
    )
    assert skipped.status == OutboxStatus.SKIPPED
    assert "hidden" in skipped.last_error
    # An idea on a private board: nothing is even queued.
    private = Board(name="Partners", slug="partners", audience="private", position=1)
    db.session.add(private)
    db.session.commit()
    from portal.services import ideas

    before = db.session.scalar(select(func.count(WebhookDelivery.id)))
    ideas.submit_idea(
        author=admin, title="A secret roadmap item", problem="Only partners know.", board=private
    )
    db.session.commit()
    assert db.session.scalar(select(func.count(WebhookDelivery.id))) == before
    # An idea hidden after it was queued is not sent either.
    late = make_idea("Hidden before delivery")
    late.hidden_at, late.hidden_reason = utcnow(), "Spam"
    db.session.commit()
    deliver()
    assert all(b"Hidden before delivery" not in r["body"] for r in receiver.requests)


# --- What each endpoint may receive -------------------------------------------------------


@pytest.fixture
def boards(app, stages):
    """A signed-in-only board and a private one (the team and nobody else)."""
    members = Board(name="Members", slug="members", audience="signed_in", position=1)
    private = Board(name="Internal", slug="internal", audience="private", position=2)
    db.session.add_all([members, private])
    db.session.commit()
    return {"members": members, "private": private}


def received(receiver: Receiver) -> dict[str, list[str]]:
    """The titles of the ideas each path on the receiver was told of."""
    found: dict[str, list[str]] = {}
    for request in receiver.requests:
        body = json.loads(request["body"])
        found.setdefault(request["path"], []).append(body["data"]["idea"]["title"])
    return found


def test_a_team_endpoint_hears_of_every_board_and_a_public_one_only_of_public_boards(
    endpoint, receiver, make_idea, admin, boards
):
    from portal.services import ideas

    endpoint(["idea.created"], url=receiver.url("/public"))
    endpoint(["idea.created"], url=receiver.url("/team"), audience="team")
    make_idea("On the public board")
    for board in boards.values():
        ideas.submit_idea(
            author=admin, title=f"On the {board.name} board", problem="Staff only.", board=board
        )
    db.session.commit()
    deliver()
    assert received(receiver) == {
        "/public": ["On the public board"],
        "/team": ["On the public board", "On the Members board", "On the Internal board"],
    }


def test_in_a_private_portal_nothing_is_public_so_only_a_team_endpoint_hears(
    endpoint, receiver, make_idea
):
    from portal.services.settings import set_setting

    endpoint(["idea.created"], url=receiver.url("/public"))
    endpoint(["idea.created"], url=receiver.url("/team"), audience="team")
    set_setting("private_portal", "on", actor=None)
    db.session.commit()
    make_idea("On the public board of a private portal")
    deliver()
    assert received(receiver) == {"/team": ["On the public board of a private portal"]}


def test_hidden_content_is_sent_to_no_endpoint_whatever_it_may_receive(
    endpoint, receiver, make_idea, make_user, admin, boards
):
    from portal.services import ideas

    endpoint(["idea.created", "comment.created"], url=receiver.url("/public"))
    endpoint(["idea.created", "comment.created"], url=receiver.url("/team"), audience="team")
    # Hidden between the event and its delivery: both are skipped when sent.
    late = ideas.submit_idea(
        author=admin, title="Hidden before delivery", problem="Spam.", board=boards["private"]
    )
    public_late = make_idea("Public, hidden before delivery")
    db.session.commit()
    assert db.session.scalar(select(func.count(WebhookDelivery.id))) == 3
    for idea in (late, public_late):
        idea.hidden_at, idea.hidden_reason = utcnow(), "Spam"
    db.session.commit()
    assert deliver() == 0
    assert receiver.requests == []
    skipped = db.session.scalars(select(WebhookDelivery.status)).all()
    assert skipped == [OutboxStatus.SKIPPED] * 3
    # Hidden when the event happens: nothing is even queued, for either endpoint.
    shown = ideas.submit_idea(
        author=admin, title="Shown idea", problem="Fine.", board=boards["members"]
    )
    db.session.commit()
    deliver()
    assert received(receiver) == {"/team": ["Shown idea"]}
    comment = comments.add_comment(shown, author=make_user(), body="Spam, spam, spam")
    comment.hidden_at, comment.hidden_reason = utcnow(), "Spam"
    db.session.commit()
    assert deliver() == 0
    # Waiting for approval: a team endpoint is not told either, until it is approved.
    settings.set_setting("pre_moderation", "on", actor=None)
    db.session.commit()
    waiting = ideas.submit_idea(
        author=make_user(), title="Waiting", problem="Soon.", board=boards["members"]
    )
    db.session.commit()
    assert waiting.awaiting_approval
    assert deliver() == 0
    moderation.approve_idea(waiting, actor=admin, ip=None)
    db.session.commit()
    deliver()
    assert received(receiver) == {"/team": ["Shown idea", "Waiting"]}


def test_a_board_made_private_after_the_event_is_not_sent_to_a_public_endpoint(
    endpoint, receiver, make_idea, boards
):
    endpoint(["idea.created"], url=receiver.url("/public"))
    endpoint(["idea.created"], url=receiver.url("/team"), audience="team")
    idea = make_idea("Soon internal")
    idea.board = boards["private"]
    db.session.commit()
    deliver()
    assert received(receiver) == {"/team": ["Soon internal"]}
    public_row = db.session.scalar(
        select(WebhookDelivery).join(WebhookEndpoint).where(WebhookEndpoint.audience == "public")
    )
    assert public_row.status == OutboxStatus.SKIPPED


def test_votes_on_a_private_board_reach_only_a_team_endpoint(
    endpoint, receiver, make_user, admin, boards
):
    from portal.services import ideas

    endpoint(["vote.created"], url=receiver.url("/public"))
    endpoint(["vote.created"], url=receiver.url("/team"), audience="team")
    idea = ideas.submit_idea(
        author=admin, title="Internal tooling", problem="Ours.", board=boards["private"]
    )
    db.session.commit()
    votes.cast_vote(idea, make_user(Role.PRODUCT_MANAGER))
    db.session.commit()
    deliver()
    assert received(receiver) == {"/team": ["Internal tooling"]}


def test_an_idea_moved_to_a_board_an_endpoint_newly_sees_is_sent_as_created_there_only(
    endpoint, receiver, admin, pm, boards
):
    from portal.services import board_moves, ideas

    endpoint(["idea.created"], url=receiver.url("/public"))
    endpoint(["idea.created"], url=receiver.url("/team"), audience="team")
    idea = ideas.submit_idea(
        author=admin, title="Moving out", problem="Staff first.", board=boards["members"]
    )
    db.session.commit()
    deliver()
    assert received(receiver) == {"/team": ["Moving out"]}
    public_board = db.session.scalar(select(Board).where(Board.audience == "public"))
    board_moves.move_idea(idea, public_board, actor=pm, note="", ip=None)
    db.session.commit()
    deliver()
    # The public endpoint sees it appear; the team's had it already.
    assert received(receiver) == {"/public": ["Moving out"], "/team": ["Moving out"]}
    # Back to a board neither newly sees: nothing more to anyone.
    board_moves.move_idea(idea, boards["private"], actor=pm, note="", ip=None)
    db.session.commit()
    assert deliver() == 0
    assert len(receiver.requests) == 2


def test_the_admin_lets_an_endpoint_receive_what_the_team_sees_and_the_audit_log_says_so(
    client, admin, receiver
):
    from portal.services import audit_log

    sign_in_client(client, admin)
    form = page_text(client.get("/admin/webhooks/new"))
    assert "What it may receive" in form
    assert "point it only at your company's own systems" in form
    response = client.post(
        "/admin/webhooks/new",
        data={
            "url": receiver.url(),
            "format": "slack",
            "audience": "team",
            "events": ["idea.created"],
        },
    )
    assert response.status_code == 303
    hook = db.session.scalar(select(WebhookEndpoint))
    assert hook.audience == "team"
    created = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.created"))
    assert "everything the team sees" in audit_log.describe(created)
    assert "Receives everything the team sees" in page_text(client.get("/admin/webhooks"))
    # Back to what visitors see: said too.
    response = client.post(
        f"/admin/webhooks/{hook.id}",
        data={
            "url": receiver.url(),
            "format": "slack",
            "audience": "public",
            "events": ["idea.created"],
            "enabled": "y",
        },
    )
    assert response.status_code == 303
    assert fresh(WebhookEndpoint, hook.id).audience == "public"
    updated = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.updated"))
    assert "limited it to what visitors see" in audit_log.describe(updated)
    # Anything else is refused, and nothing changes.
    refused = client.post(
        f"/admin/webhooks/{hook.id}",
        data={
            "url": receiver.url(),
            "format": "slack",
            "audience": "all",
            "events": "idea.created",
        },
    )
    assert refused.status_code == 400
    assert "Choose what it may receive" in page_text(refused)
    assert fresh(WebhookEndpoint, hook.id).audience == "public"


def test_an_endpoint_made_without_a_choice_receives_what_visitors_see(endpoint):
    hook = endpoint(["idea.created"])
    assert fresh(WebhookEndpoint, hook.id).audience == "public"
    created = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.created"))
    from portal.services import audit_log

    assert "team sees" not in audit_log.describe(created)


# --- Retries, redirects, caps, failures ----------------------------------------------------


def test_a_failed_delivery_is_retried_with_back_off_then_delivered(
    endpoint, receiver, make_idea, app
):
    hook = endpoint(["idea.created"])
    receiver.answers = [(500, b"Internal error: database down", {})]
    make_idea()
    deliver()
    row = db.session.scalar(select(WebhookDelivery))
    assert row.status == OutboxStatus.PENDING and row.attempts == 1
    assert row.last_error == "HTTP 500"
    first_delay = row.next_attempt_at - utcnow()
    expected = timedelta(seconds=app.config["WEBHOOK_RETRY_DELAYS"][0])
    assert expected - timedelta(seconds=5) < first_delay <= expected
    assert deliver() == 0  # not due yet
    row.next_attempt_at = utcnow()  # the back-off has passed
    db.session.commit()
    assert deliver() == 1
    row = fresh(WebhookDelivery, row.id)
    assert row.status == OutboxStatus.SENT and row.attempts == 2
    tries = db.session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)).all()
    assert [t.response_status for t in tries] == [500, 200]
    assert tries[0].response_excerpt == "Internal error: database down"
    assert tries[0].error == "HTTP 500" and tries[1].error is None
    # The same message both times, so the receiver can drop a repeat; both verify.
    first, second = receiver.requests
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert len(receiver.events(hook.secret)) == 2


def test_a_delivery_that_is_claimed_by_a_worker_that_died_goes_out_after_its_lease(
    endpoint, receiver, make_idea
):
    endpoint(["idea.created"])
    make_idea()
    row = db.session.scalar(select(WebhookDelivery))
    row.status, row.locked_until, row.attempts = OutboxStatus.SENDING, utcnow(), 1
    db.session.commit()
    assert deliver() == 1
    assert fresh(WebhookDelivery, row.id).status == OutboxStatus.SENT


def test_a_redirect_is_not_followed(endpoint, receiver, make_idea):
    endpoint(["idea.created"])
    receiver.answers = [(302, b"", {"Location": receiver.url("/elsewhere")})]
    make_idea()
    deliver()
    assert [r["path"] for r in receiver.requests] == ["/hook"]
    row = db.session.scalar(select(WebhookDelivery))
    assert row.status == OutboxStatus.PENDING
    assert row.response_status == 302
    assert "Redirect" in row.last_error and "not followed" in row.last_error


@pytest.mark.parametrize("config_overrides", [{"WEBHOOK_TIMEOUT": 1.0}])
def test_a_receiver_that_never_answers_is_given_up_on_after_the_timeout(
    endpoint, silent_server, make_idea, admin
):
    settings.set_setting("webhook_local_hosts", f"127.0.0.1:{silent_server}", actor=None)
    db.session.commit()
    endpoint(["idea.created"], url=f"http://127.0.0.1:{silent_server}/hook")
    make_idea()
    started = time.monotonic()
    deliver()
    assert time.monotonic() - started < 5
    attempt = db.session.scalar(select(WebhookAttempt))
    assert "Timeout" in attempt.error or "timed out" in attempt.error, attempt.error
    assert db.session.scalar(select(WebhookDelivery)).status == OutboxStatus.PENDING


def test_only_the_start_of_a_long_answer_is_read(endpoint, receiver, make_idea, app):
    endpoint(["idea.created"])
    receiver.answers = [(200, b"x" * 200_000, {})]
    make_idea()
    deliver()
    attempt = db.session.scalar(select(WebhookAttempt))
    assert attempt.response_status == 200
    assert len(attempt.response_excerpt) == app.config["WEBHOOK_RESPONSE_CAP"]


@pytest.mark.parametrize(
    "config_overrides",
    [{"WEBHOOK_MAX_ATTEMPTS": 2, "WEBHOOK_DISABLE_AFTER_FAILURES": 2}],
)
def test_an_endpoint_failing_again_and_again_is_disabled_and_admins_told(
    endpoint, receiver, make_idea, admin, client, outbox
):
    hook = endpoint(["idea.created"])
    receiver.answers = [(500, b"down", {})] * 10

    def fail_every_attempt():
        for _ in range(2):
            db.session.execute(
                WebhookDelivery.__table__.update()
                .where(WebhookDelivery.status == OutboxStatus.PENDING)
                .values(next_attempt_at=utcnow())
            )
            db.session.commit()
            deliver()

    make_idea("First")
    fail_every_attempt()
    assert fresh(WebhookEndpoint, hook.id).enabled
    assert fresh(WebhookEndpoint, hook.id).consecutive_failures == 1
    make_idea("Second")
    fail_every_attempt()
    hook = fresh(WebhookEndpoint, hook.id)
    assert not hook.enabled
    assert "2 deliveries in a row failed" in hook.disabled_reason
    # The admins are emailed, the log says so, and the page shows a banner.
    mail_outbox.deliver_due()
    (message,) = outbox.to(admin.email)
    assert "A webhook was disabled" in message["Subject"]
    assert hook.url in message.get_body(preferencelist=("plain",)).get_content()
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.disabled"))
    sign_in_client(client, admin)
    page = page_text(client.get(f"/admin/webhooks/{hook.id}"))
    assert "This webhook is disabled" in page and "failed every attempt" in page
    # Nothing more is sent until an admin enables it again.
    make_idea("Third")
    count = len(receiver.requests)
    deliver()
    assert len(receiver.requests) == count
    response = client.post(f"/admin/webhooks/{hook.id}/enable")
    assert response.status_code == 303
    hook = fresh(WebhookEndpoint, hook.id)
    assert hook.enabled and hook.consecutive_failures == 0 and hook.disabled_reason is None


def test_an_admin_sends_a_failed_delivery_again(endpoint, receiver, make_idea, admin, app):
    hook = endpoint(["idea.created"])
    make_idea()
    row = db.session.scalar(select(WebhookDelivery))
    row.status, row.attempts, row.last_error = OutboxStatus.FAILED, 5, "HTTP 503"
    db.session.commit()
    webhooks.send_again(row, actor=admin, ip="127.0.0.1")
    db.session.commit()
    assert deliver() == 1
    row = fresh(WebhookDelivery, row.id)
    assert row.status == OutboxStatus.SENT and row.attempts == 1
    assert len(receiver.events(hook.secret)) == 1
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "webhook.resent"))


def test_a_rotated_secret_signs_with_old_and_new_during_the_grace_period(
    endpoint, receiver, make_idea, admin
):
    hook = endpoint(["idea.created"])
    old = hook.secret
    webhooks.rotate_secret(hook, actor=admin, ip=None)
    db.session.commit()
    new = hook.secret
    assert new != old and new.startswith("whsec_")
    make_idea("During the grace period")
    deliver()
    request = receiver.requests[-1]
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(request["body"], request["headers"])["type"] == "idea.created"
    assert Webhook(new).verify(request["body"], request["headers"])["type"] == "idea.created"
    # Once the grace period is over, only the new secret signs.
    hook.previous_secret_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    make_idea("After the grace period")
    deliver()
    request = receiver.requests[-1]
    assert Webhook(new).verify(request["body"], request["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request["body"], request["headers"])


# --- Refused addresses ---------------------------------------------------------------------

REFUSED = [
    ("http://127.0.0.1/hook", "loopback"),
    ("http://127.9.9.9:8080/hook", "loopback"),
    ("http://10.1.2.3/hook", "private"),
    ("http://172.16.0.1/hook", "private"),
    ("http://172.31.255.254/hook", "private"),
    ("http://192.168.1.10/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://169.254.10.1/hook", "link-local"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://[::1]/hook", "loopback"),
    ("http://[fc00::1]/hook", "private"),
    ("http://[fd12:3456::1]/hook", "private"),
    ("http://100.64.0.1/hook", "shared"),
    ("http://100.127.255.1/hook", "shared"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://[::]/hook", "unspecified"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://240.0.0.1/hook", "reserved"),
    ("http://[::ffff:127.0.0.1]/hook", "IPv4-mapped a loopback"),
    ("http://[::ffff:10.0.0.1]/hook", "IPv4-mapped a private"),
    ("http://localhost/hook", "resolves to 127.0.0.1"),
]


@pytest.mark.parametrize(("url", "said"), REFUSED)
def test_internal_addresses_are_refused_when_saving(admin, url, said):
    with pytest.raises(InvalidFields) as refused:
        webhooks.create_endpoint(actor=admin, ip=None, url=url, events=["idea.created"])
    message = refused.value.problems["url"]
    assert said.replace("IPv4-mapped a", "IPv4-mapped") in message or said in message, message
    assert db.session.scalar(select(func.count(WebhookEndpoint.id))) == 0


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "file:///etc/passwd", "gopher://x/", "http:///nohost", "not a url"],
)
def test_only_http_and_https_addresses_are_accepted(admin, url):
    with pytest.raises(InvalidFields) as refused:
        webhooks.create_endpoint(actor=admin, ip=None, url=url, events=["idea.created"])
    assert "url" in refused.value.problems


def test_public_addresses_are_accepted(admin):
    made = webhooks.create_endpoint(
        actor=admin, ip=None, url="https://93.184.216.34/hook", events=["idea.created"]
    )
    assert made.id is not None


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.0.1", "169.254.169.254", "fe80::1", "::1",
     "fc00::1", "100.64.0.1", "0.0.0.0", "::ffff:127.0.0.1", "::ffff:169.254.169.254"],  # noqa: S104
)  # fmt: skip
def test_each_internal_address_class_is_blocked(address):
    import ipaddress

    assert netguard.blocked_reason(ipaddress.ip_address(address)) is not None
    assert netguard.blocked_reason(ipaddress.ip_address("93.184.216.34")) is None
    assert netguard.blocked_reason(ipaddress.ip_address("2606:2800:220:1::1")) is None


def test_a_host_allowed_for_local_use_is_refused_again_once_taken_off_the_list(
    endpoint, receiver, make_idea
):
    endpoint(["idea.created"])
    settings.set_setting("webhook_local_hosts", "", actor=None)
    db.session.commit()
    make_idea()
    deliver()
    assert receiver.requests == []
    attempt = db.session.scalar(select(WebhookAttempt))
    assert attempt.error.startswith("Refused: The host 127.0.0.1 is a loopback address")
    assert attempt.response_status is None


def test_the_allow_list_names_a_host_and_port_or_a_host(admin, receiver):
    target = netguard.parse(receiver.url())
    assert netguard.is_allowed_locally(target, [f"127.0.0.1:{receiver.port}"])
    assert netguard.is_allowed_locally(target, ["127.0.0.1"])
    assert not netguard.is_allowed_locally(target, ["127.0.0.1:1"])
    assert not netguard.is_allowed_locally(target, ["localhost"])
    settings.set_setting("webhook_local_hosts", "localhost", actor=None)
    db.session.commit()
    made = webhooks.create_endpoint(
        actor=admin,
        ip=None,
        url=f"http://localhost:{receiver.port}/hook",
        events=["idea.created"],
    )
    assert made.id is not None


def test_delivery_connects_to_the_address_it_checked_with_the_name_in_the_host_header(receiver):
    """The name is looked up once and checked; the connection goes to that address, so a
    second lookup (DNS rebinding) could not send it elsewhere."""
    import ipaddress

    target = netguard.parse(f"http://hooks.invalid:{receiver.port}/pinned")
    answer = netguard.post(
        target,
        [ipaddress.ip_address("127.0.0.1")],
        b"{}",
        {"Content-Type": "application/json"},
        connect_timeout=3,
        total_timeout=10,
        cap=4096,
    )
    assert answer.status == 200
    (request,) = receiver.requests
    assert request["headers"]["Host"] == f"hooks.invalid:{receiver.port}"
    assert request["path"] == "/pinned"


# --- Chat formats --------------------------------------------------------------------------


def test_slack_gets_a_text_message_with_a_link(endpoint, receiver, make_idea, pm, stages):
    hook = endpoint(["idea.moved"], format="slack")
    idea = make_idea("Export <reports> & charts")
    pipeline.move_stage(idea, stages["planned"], actor=pm, note=NOTE, ip=None)
    db.session.commit()
    deliver()
    (request,) = receiver.requests
    body = json.loads(request["body"])
    assert set(body) == {"text"}
    link = f"<http://portal.test/ideas/{idea.id}|"
    assert body["text"].startswith(link)
    assert "Export &lt;reports&gt; &amp; charts" in body["text"]
    assert "moved to Planned" in body["text"] and NOTE in body["text"]
    # Signed as well, for receivers that check.
    assert Webhook(hook.secret).verify(request["body"], request["headers"]) == body


def test_teams_gets_an_adaptive_card_with_a_button(endpoint, receiver, make_idea, pm, stages):
    hook = endpoint(["idea.shipped"], format="teams")
    idea = make_idea("Scheduled exports", stage="in_progress")
    pipeline.move_stage(idea, stages["shipped"], actor=pm, note=NOTE, ip=None)
    db.session.commit()
    deliver()
    (request,) = receiver.requests
    message = json.loads(request["body"])
    # What a Teams "Workflows" incoming webhook takes: a message with the card attached.
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.4"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    headline, text = card["body"]
    assert headline["type"] == text["type"] == "TextBlock"
    assert headline["text"] == "Shipped: “Scheduled exports”"
    assert text["text"] == NOTE and text["wrap"] is True
    (action,) = card["actions"]
    assert action == {
        "type": "Action.OpenUrl",
        "title": "Open",
        "url": f"http://portal.test/ideas/{idea.id}",
    }
    assert "@type" not in message and "potentialAction" not in card
    assert Webhook(hook.secret).verify(request["body"], request["headers"]) == message


def test_a_teams_test_event_has_no_button(endpoint, receiver, admin):
    hook = endpoint(["idea.created"], format="teams")
    webhooks.send_test(hook, actor=admin, ip=None)
    db.session.commit()
    deliver()
    card = json.loads(receiver.requests[0]["body"])["attachments"][0]["content"]
    assert "actions" not in card
    assert card["body"][0]["text"].startswith("A test event, sent by Ada Admin")


# --- The admin pages -----------------------------------------------------------------------


def test_an_admin_adds_a_webhook_reveals_its_secret_and_sends_a_test(client, admin, receiver):
    sign_in_client(client, admin)
    response = client.post(
        "/admin/webhooks/new",
        data={
            "url": receiver.url(),
            "description": "Our integration",
            "format": "standard",
            "events": ["idea.created", "idea.moved"],
            "vote_thresholds": "100, 10, 50",
        },
    )
    assert response.status_code == 303
    hook = db.session.scalar(select(WebhookEndpoint))
    assert hook.events == ["idea.created", "idea.moved"]
    assert hook.vote_thresholds == [10, 50, 100]
    page = page_text(client.get(response.headers["Location"]))
    assert "Our integration" in page and hook.secret not in page
    # Revealed on a POST's answer, never cached, and noted in the audit log.
    revealed = client.post(f"/admin/webhooks/{hook.id}/secret")
    assert revealed.status_code == 200
    assert hook.secret in page_text(revealed)
    assert revealed.headers["Cache-Control"] == "no-store"
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "webhook.secret_revealed")
    )
    # The test event goes out after the request (inline delivery in the tests).
    assert client.post(f"/admin/webhooks/{hook.id}/test").status_code == 303
    (event,) = receiver.events(hook.secret)
    assert event["type"] == "webhook.test"
    log = page_text(client.get(f"/admin/webhooks/{hook.id}"))
    assert "webhook.test" in log and "Delivered" in log and "HTTP 200" in log
    assert "Our integration" in page_text(client.get("/admin/webhooks"))


def test_the_form_refuses_an_internal_address_and_keeps_what_was_typed(client, admin):
    sign_in_client(client, admin)
    response = client.post(
        "/admin/webhooks/new",
        data={
            "url": "http://169.254.169.254/latest/meta-data/",
            "description": "Sneaky",
            "format": "slack",
            "events": ["idea.created"],
        },
    )
    assert response.status_code == 400
    page = page_text(response)
    assert "metadata" in page
    assert "169.254.169.254/latest/meta-data/" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(WebhookEndpoint.id))) == 0


def test_sending_again_from_the_log(client, admin, endpoint, receiver, make_idea):
    hook = endpoint(["idea.created"])
    make_idea()
    deliver()
    row = db.session.scalar(select(WebhookDelivery))
    sign_in_client(client, admin)
    response = client.post(f"/admin/webhooks/deliveries/{row.id}/resend")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/admin/webhooks/{hook.id}")
    assert len(receiver.requests) == 2
    assert db.session.scalar(select(func.count(WebhookAttempt.id))) == 2


def test_the_admins_allow_a_local_host_on_the_list_page(client, admin):
    sign_in_client(client, admin)
    response = client.post("/admin/webhooks/local-hosts", data={"local_hosts": "localhost"})
    assert response.status_code == 303
    assert delivering.local_hosts() == ["localhost"]
    refused = client.post("/admin/webhooks/local-hosts", data={"local_hosts": "a/b"})
    assert refused.status_code == 400
    assert "is not a host name" in page_text(refused)


def test_nothing_is_queued_while_no_endpoint_wants_it(make_idea, count_queries):
    make_idea()
    assert db.session.scalar(select(func.count(WebhookDelivery.id))) == 0
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0
    assert db.session.scalar(select(func.count(Idea.id))) == 1


def test_deleting_asks_first_and_only_the_post_deletes(client, admin, endpoint, make_idea):
    hook = endpoint(["idea.created"], description="Sales channel")
    hook_id = hook.id
    make_idea()
    make_idea("Another")
    deliver()
    sign_in_client(client, admin)
    page = page_text(client.get(f"/admin/webhooks/{hook_id}"))
    assert "Delete webhook and its log" in page
    confirm = client.get(f"/admin/webhooks/{hook_id}/delete")
    assert confirm.status_code == 200
    text = page_text(confirm)
    assert hook.url in text and "Sales channel" in text
    assert "2 deliveries logged" in text
    assert f'action="/admin/webhooks/{hook_id}/delete"' in confirm.get_data(as_text=True)
    assert fresh(WebhookEndpoint, hook_id) is not None
    assert db.session.scalar(select(func.count(WebhookDelivery.id))) == 2
    response = client.post(f"/admin/webhooks/{hook_id}/delete")
    assert response.status_code == 303
    assert fresh(WebhookEndpoint, hook_id) is None
    assert db.session.scalar(select(func.count(WebhookDelivery.id))) == 0
    assert client.get(f"/admin/webhooks/{hook_id}/delete").status_code == 404


def test_the_outbox_send_command_delivers_due_webhooks_too(app, endpoint, receiver, make_idea):
    hook = endpoint(["idea.created"])
    make_idea("Sent from cron")
    assert receiver.requests == []
    result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert "1 webhook delivery" in result.output
    assert "Sent 0 message(s)" in result.output
    (event,) = receiver.events(hook.secret)
    assert event["data"]["idea"]["title"] == "Sent from cron"
