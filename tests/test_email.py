"""Email as people receive it: every message read back from a real SMTP server on loopback.

aiosmtpd listens on 127.0.0.1 and the app sends to it through its ordinary SMTP transport
(MAIL_DELIVERY "inline": after each request, or when a command runs the outbox). Browsers reach
the portal under another host name, so every link in a message must come from BASE_URL.
"""

from __future__ import annotations

import email
import html
import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from itsdangerous import URLSafeSerializer
from markupsafe import escape
from sqlalchemy import func, select

from portal.extensions import db
from portal.mail import notify
from portal.mail import outbox as mail_outbox
from portal.mail.preferences import KINDS as EMAIL_KINDS
from portal.mail.preferences import preferences
from portal.models import (
    Board,
    Comment,
    Idea,
    Notification,
    OutboxMessage,
    OutboxStatus,
    OutcomeAnswer,
    User,
    Vote,
)
from portal.models.types import utcnow
from portal.services import comments, email_settings, settings, votes

from .conftest import DEFAULT_PASSWORD, IsolatedClient, sign_in_client
from .helpers import XSS, assert_inert, database_snapshot, link_in, page_text
from .servers import free_port

BASE_URL = "http://portal.test"  # the BASE_URL of the tests' configuration
OTHER_HOST = "http://wrong-host.example"  # the Host header every browser here sends
SITE = "Acme Ideas"
TITLE = "Export reports to Excel"
COMMENT = "Our auditors need this every quarter."
REPLY = "Same here, and for the board pack."
OFFICIAL = "We will ship an Excel export in the spring release."
NOTE = "We are sizing this with three customers and will report back next month."
MERGE_NOTE = "Same need as the Excel export idea; please follow the conversation there."
HIDE_REASON = "Off topic for this idea"
ONE_CLICK = "List-Unsubscribe=One-Click"

_ips = itertools.count(1)


def fresh_ip() -> str:
    """A client address of its own, so the per-IP email limit of one test touches no other."""
    n = next(_ips)
    return f"10.77.{n // 256 % 256}.{n % 256}"


# --- The SMTP server and what it received --------------------------------------------------


class Recorder:
    """An aiosmtpd handler that keeps every message it accepts, with its envelope recipients."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


URL = re.compile(r"https?://[^\s\"'<>]+")
HREF = re.compile(r'href="([^"]*)"')


def parts(msg: EmailMessage) -> tuple[str, str]:
    """The plain-text and the HTML part of a message."""
    text = msg.get_body(preferencelist=("plain",))
    rich = msg.get_body(preferencelist=("html",))
    assert text is not None, "no plain-text part"
    assert rich is not None, "no HTML part"
    # SMTP carries lines ending in CRLF.
    return text.get_content().replace("\r\n", "\n"), rich.get_content().replace("\r\n", "\n")


def assert_well_formed(msg: EmailMessage, *, foreign_text_urls: tuple[str, ...] = ()) -> None:
    """What every message must be: text and HTML, the site's name, links on BASE_URL only."""
    assert msg.get_content_type() == "multipart/alternative"
    text, rich = parts(msg)
    assert str(msg["Subject"]).endswith(f" · {SITE}"), msg["Subject"]
    assert SITE in text
    assert SITE in rich
    hrefs = [html.unescape(h) for h in HREF.findall(rich)]
    assert hrefs, "no links in the HTML part"
    for link in hrefs + URL.findall(text):
        if link.startswith(foreign_text_urls) and link not in hrefs:
            continue  # a URL someone typed into a comment, shown as text
        assert link.startswith(BASE_URL + "/"), link
    headers = "".join(f"{name}: {value}\n" for name, value in msg.items())
    assert urlsplit(OTHER_HOST).hostname not in headers + text + rich
    assert_inert(rich)


class Mailbox:
    """The messages the SMTP server received, each checked by assert_well_formed."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.foreign_text_urls: tuple[str, ...] = ()

    def messages(self) -> list[EmailMessage]:
        found = []
        for recipients, raw in list(self.recorder.received):
            msg = email.message_from_bytes(raw, policy=policy.default)
            assert recipients == [str(msg["To"])]
            assert_well_formed(msg, foreign_text_urls=self.foreign_text_urls)
            # Mail about ideas can be unsubscribed from (RFC 8058); account mail cannot.
            [row] = outbox_rows(message_id=str(msg["Message-ID"]))
            if row.kind in ("notification", "digest"):
                assert_unsubscribable(msg)
            else:
                assert msg["List-Unsubscribe"] is None, row.kind
            found.append(msg)
        return found

    def to(self, address: str, subject: str = "") -> list[EmailMessage]:
        """Messages to address whose subject starts with `subject`."""
        return [
            m
            for m in self.messages()
            if m["To"] == address and str(m["Subject"]).startswith(subject)
        ]

    def digests(self, address: str) -> list[EmailMessage]:
        return self.to(address, "Your daily digest")

    def clear(self) -> None:
        self.recorder.received.clear()


@pytest.fixture
def smtp_server() -> Iterator[Controller]:
    controller = Controller(Recorder(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def mailbox(app, smtp_server) -> Mailbox:
    """The app sends through the SMTP server; the site has a name of its own."""
    app.config.update(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp_server.port,
        MAIL_SECURITY="none",
        MAIL_TIMEOUT_SECONDS=5,
    )
    settings.set_setting("site_name", SITE, actor=None)
    db.session.commit()
    return Mailbox(smtp_server.handler)


class OtherHostClient(IsolatedClient):
    """A browser that reaches the portal under a host name that is not the site's."""

    def open(self, *args, **kwargs):
        if args and isinstance(args[0], str):
            kwargs.setdefault("base_url", OTHER_HOST)
        return super().open(*args, **kwargs)

    def session_transaction(self, *args, **kwargs):
        kwargs.setdefault("base_url", OTHER_HOST)
        return super().session_transaction(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = OtherHostClient
    return app.test_client()


@pytest.fixture
def browser(app, client):
    """browser(user) is a new browser signed in as user; browser() one signed in as nobody."""

    def make(user: User | None = None):
        new = app.test_client()
        if user is not None:
            sign_in_client(new, user)
        return new

    return make


# --- Helpers -------------------------------------------------------------------------------


def run(runner, *args: str) -> str:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    return result.output


def path_of(url: str) -> str:
    return urlsplit(url).path


def unsubscribe_link(msg: EmailMessage) -> str:
    header = str(msg["List-Unsubscribe"])
    assert header.startswith("<") and header.endswith(">"), header
    assert msg["List-Unsubscribe-Post"] == ONE_CLICK
    return header[1:-1]


def assert_unsubscribable(msg: EmailMessage) -> None:
    """RFC 8058 headers, and the same link for people in both parts."""
    link = unsubscribe_link(msg)
    assert link.startswith(f"{BASE_URL}/account/email/unsubscribe/")
    text, rich = parts(msg)
    assert link in text
    assert f'href="{link}"' in rich


def visible_text(response) -> str:
    """The page's text as a person reads it: no tags, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split()).replace(
        " .", "."
    )


def csrf_token_in(response) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.text) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', response.text
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def tampered(token: str) -> str:
    """The token with one character of its signature changed."""
    i = len(token) - 3
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]


def outbox_rows(**where) -> list[OutboxMessage]:
    db.session.expire_all()
    stmt = select(OutboxMessage).order_by(OutboxMessage.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(OutboxMessage, name) == value)
    return list(db.session.scalars(stmt))


def notified(user: User, kind: str, *, count: int | None = None) -> bool:
    """Whether the person has in-app notifications of this kind (exactly `count`, if given)."""
    found = db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.kind == kind)
    )
    return found > 0 if count is None else found == count


def preferences_of(user: User) -> dict[str, str]:
    db.session.expire_all()
    prefs = preferences(db.session.get(User, user.id))
    db.session.commit()
    return prefs


def prefer(user: User, **choices: str) -> None:
    email_settings.set_preferences(user, choices)
    db.session.commit()


@contextmanager
def delivery_paused(app):
    """The background sender is behind: what requests queue waits in the outbox.

    In "thread" mode a commit only wakes the sending thread, and none runs in the tests.
    """
    app.config["MAIL_DELIVERY"] = "thread"
    try:
        yield
    finally:
        app.config["MAIL_DELIVERY"] = "inline"


def hide(browser, admin, what: str, item_id: int, reason: str = HIDE_REASON) -> None:
    url = f"/admin/moderation/{what}s/{item_id}/hide"
    assert browser(admin).post(url, data={"reason": reason}).status_code == 303


def headline(kind: str, title: str = TITLE) -> str:
    """The subject of the email about a notification of this kind (without the site name)."""
    return {
        "comment": f"New comment on “{title}”",
        "reply": f"A reply on “{title}”",
        "stage_change": f"“{title}” moved to Planned",
        "official_response": f"The team answered on “{title}”",
        "merged": f"“{title}” was merged into another idea",
        "outcome_question": f"Did “{title}” meet your need?",
        "moderation": "A moderator acted on your post",
        "vote_added": f"Priya Product added your vote for “{title}”",
        "board_moved": f"“{title}” moved to the Beta programme board",
    }[kind]


# --- A followed idea, and the people around it ---------------------------------------------


@pytest.fixture
def scene(make_user, make_idea, stages):
    people = {
        "author": make_user(display_name="Ada Author"),
        "fan": make_user(display_name="Fran Follower", email="fran@example.com"),
        "commenter": make_user(display_name="Cora Commenter"),
        "pm": make_user("product_manager", display_name="Priya Product"),
        "admin": make_user("admin", display_name="Alex Admin"),
    }
    idea = make_idea(TITLE, author=people["author"])
    votes.follow(idea, people["fan"])
    db.session.commit()
    return SimpleNamespace(idea=idea, stages=stages, **people)


def post_comment(browser, user, idea_id: int, body: str, parent_id: int | None = None) -> int:
    data = {"body": body}
    if parent_id is not None:
        data["parent_id"] = str(parent_id)
    response = browser(user).post(f"/ideas/{idea_id}/comments", data=data)
    assert response.status_code == 303, response.text
    return int(response.headers["Location"].rsplit("-", 1)[1])


def move(browser, pm, idea_id: int, stage, note: str = NOTE) -> None:
    response = browser(pm).post(
        f"/ideas/{idea_id}/move", data={"stage_id": str(stage.id), "note": note}
    )
    assert response.status_code == 303, page_text(response)


def comment_by(user, idea_id: int, body: str) -> Comment:
    """A comment posted earlier (its own notifications are not what the test is about)."""
    comment = comments.add_comment(db.session.get(Idea, idea_id), author=user, body=body)
    db.session.commit()
    return comment


def cause(kind: str, s, browser, make_idea) -> list[str]:
    """Make the fan get a notification of this kind, through the web; what its email says."""
    idea_id = s.idea.id
    if kind == "comment":
        post_comment(browser, s.commenter, idea_id, COMMENT)
        return [f"Cora Commenter commented on “{TITLE}”:", COMMENT]
    if kind == "reply":
        top = comment_by(s.fan, idea_id, "Can it keep our number formats?")
        post_comment(browser, s.commenter, idea_id, REPLY, parent_id=top.id)
        return [f"Cora Commenter replied in the conversation on “{TITLE}”:", REPLY]
    if kind == "stage_change":
        move(browser, s.pm, idea_id, s.stages["planned"])
        return [f"“{TITLE}” moved to Planned. Now Planned: {NOTE}"]
    if kind == "official_response":
        answer = comment_by(s.pm, idea_id, OFFICIAL)
        assert browser(s.pm).post(f"/comments/{answer.id}/official").status_code == 303
        return [f"The team gave an official response on “{TITLE}”:", OFFICIAL]
    if kind == "merged":
        target = make_idea("Excel export for every report", author=s.commenter)
        response = browser(s.pm).post(
            f"/ideas/{idea_id}/merge", data={"target_id": str(target.id), "note": MERGE_NOTE}
        )
        assert response.status_code == 303, page_text(response)
        return [
            f"“{TITLE}” was merged into another idea with the same need.",
            f"Merged into “Excel export for every report”: {MERGE_NOTE}",
        ]
    if kind == "outcome_question":
        move(browser, s.pm, idea_id, s.stages["shipped"])
        return [
            f"“{TITLE}” is shipped. Now Shipped: {NOTE} You asked for it, so you judge the outcome",
            f"Answer in one click:\n- Yes: {BASE_URL}/account/email/outcome/",
        ]
    if kind == "moderation":
        mine = comment_by(s.fan, idea_id, "Buy cheap watches at my shop")
        hide(browser, s.admin, "comment", mine.id)
        return [f"Moderators hid your comment. Reason: {HIDE_REASON}"]
    if kind == "vote_added":
        response = browser(s.pm).post(
            f"/team/ideas/{idea_id}/votes",
            data={"q": "fran", "user_id": str(s.fan.id), "source": "sales_call"},
        )
        assert response.status_code == 303, page_text(response)
        return [f"Priya Product added your vote for “{TITLE}”, from a sales call."]
    if kind == "board_moved":
        beta = Board(name="Beta programme", slug="beta", audience="signed_in", position=1)
        db.session.add(beta)
        db.session.commit()
        response = browser(s.pm).post(
            f"/ideas/{idea_id}/board", data={"board_id": str(beta.id), "note": NOTE}
        )
        assert response.status_code == 303, page_text(response)
        return [
            f"“{TITLE}”: Moved from the Ideas board to the Beta programme board: {NOTE}",
        ]
    raise AssertionError(kind)


# --- Sign-up, verification and password reset ----------------------------------------------


def sign_up(client, address: str, display_name: str = "Jo Newcomer"):
    return client.post(
        "/sign-up",
        data={
            "email": address,
            "display_name": display_name,
            "password": DEFAULT_PASSWORD,
            "accept_guidelines": "y",
        },
        environ_base={"REMOTE_ADDR": fresh_ip()},
    )


def find_user(address: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == address))


def test_sign_up_sends_a_verification_link_on_base_url_that_verifies(client, mailbox):
    assert sign_up(client, "jo@example.com").status_code == 303

    [msg] = mailbox.to("jo@example.com")
    assert msg["Subject"] == f"Confirm your email address · {SITE}"
    text, rich = parts(msg)
    assert "Hello Jo Newcomer," in text
    link = link_in(msg, "/confirm/")
    assert link.startswith(f"{BASE_URL}/confirm/")
    assert f'href="{link}"' in rich

    page = client.get(path_of(link))
    assert page.status_code == 200
    assert find_user("jo@example.com").email_verified_at is None  # a GET changes nothing

    response = client.post(path_of(link))
    assert response.status_code == 302
    assert find_user("jo@example.com").email_verified_at is not None
    assert "Jo Newcomer" in client.get("/account").text

    # Signing up again with the address tells its owner, in a message just as well made.
    assert sign_up(client.application.test_client(), "jo@example.com").status_code == 303
    [warning] = mailbox.to("jo@example.com", "Someone tried to sign up")
    assert "/confirm/" not in parts(warning)[0]
    assert link_in(warning, "/password/forgot").startswith(BASE_URL)


def test_unverified_person_signs_in_browses_and_votes_but_cannot_post(
    client, mailbox, make_user, make_idea
):
    idea = make_idea(TITLE)
    me = make_user(email="unsure@example.com", display_name="Una Unsure", verified=False)

    response = client.post(
        "/sign-in",
        data={"email": me.email, "password": DEFAULT_PASSWORD},
        environ_base={"REMOTE_ADDR": fresh_ip()},
    )
    assert response.status_code == 302
    home = client.get("/")
    assert "Una Unsure" in home.text
    assert "Confirm your email address to post ideas and comments" in page_text(home)
    assert 'href="/confirm/resend?email=unsure@example.com"' in home.text
    assert client.get(f"/ideas/{idea.id}").status_code == 200

    assert client.post(f"/ideas/{idea.id}/vote", data={"action": "vote"}).status_code == 303
    assert db.session.scalar(select(Vote).where(Vote.idea_id == idea.id, Vote.user_id == me.id))

    page = client.get("/ideas/new")
    assert page.status_code == 200
    assert "Confirm your email first" in page_text(page)
    assert "<textarea" not in page.text

    before = database_snapshot()
    response = client.post(
        "/ideas/new",
        data={"title": "Dark mode for reports", "problem": "Our eyes hurt at night, honestly."},
    )
    assert response.status_code == 403
    assert "Confirm your email first" in page_text(response)
    response = client.post(f"/ideas/{idea.id}/comments", data={"body": "Me too!"})
    assert response.status_code == 403
    assert database_snapshot() == before
    assert mailbox.messages() == []

    # Once the address is confirmed, the very same comment goes through.
    db.session.get(User, me.id).email_verified_at = utcnow()
    response = client.post(f"/ideas/{idea.id}/comments", data={"body": "Me too!"})
    assert response.status_code == 303


def test_resend_sends_a_working_link_and_is_rate_limited(app, client, mailbox, make_user):
    me = make_user(email="later@example.com", verified=False)
    ip = fresh_ip()
    form = client.get("/confirm/resend?email=later%40example.com")
    assert 'value="later@example.com"' in form.text

    limit = int(app.config["LIMIT_EMAIL_PER_IP"].split("/")[0])
    for _ in range(limit):
        response = client.post(
            "/confirm/resend", data={"email": me.email}, environ_base={"REMOTE_ADDR": ip}
        )
        assert response.status_code == 303
    assert len(mailbox.to(me.email, "Confirm your email address")) == limit

    response = client.post(
        "/confirm/resend", data={"email": me.email}, environ_base={"REMOTE_ADDR": ip}
    )
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    assert len(mailbox.to(me.email)) == limit

    newest = mailbox.to(me.email)[-1]
    assert app.test_client().post(path_of(link_in(newest, "/confirm/"))).status_code == 302
    assert find_user(me.email).email_verified_at is not None


def test_password_reset_email_has_a_base_url_link_that_works_once(client, mailbox, make_user):
    me = make_user(email="forgetful@example.com")
    response = client.post(
        "/password/forgot", data={"email": me.email}, environ_base={"REMOTE_ADDR": fresh_ip()}
    )
    assert response.status_code == 303

    [msg] = mailbox.to(me.email)
    assert msg["Subject"] == f"Reset your password · {SITE}"
    link = link_in(msg, "/password/reset/")
    assert link.startswith(f"{BASE_URL}/password/reset/")
    assert client.get(path_of(link)).status_code == 200
    data = {"password": "a brand new passphrase for spring"}
    assert client.post(path_of(link), data=data).status_code == 302
    assert client.application.test_client().post(path_of(link), data=data).status_code == 400


# --- Each kind of notification, as each person chose -------------------------------------

KINDS = list(EMAIL_KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_notification_arrives_at_once_when_chosen(kind, scene, browser, mailbox, make_idea, runner):
    prefer(scene.fan, **{kind: "instant"})

    expected = cause(kind, scene, browser, make_idea)

    assert notified(scene.fan, kind)
    [msg] = mailbox.to(scene.fan.email, headline(kind))
    assert msg["Subject"] == f"{headline(kind)} · {SITE}"
    text, rich = parts(msg)
    assert "Hello Fran Follower," in text
    for words in expected:
        assert words in text
    assert html.escape(expected[0], quote=False) in rich.replace("&#34;", '"')
    [row] = outbox_rows(message_id=str(msg["Message-ID"]))
    assert (row.status, row.user_id) == (OutboxStatus.SENT, scene.fan.id)
    notification = db.session.get(Notification, row.notification_id)
    assert notification.kind == kind
    # About a comment, the link opens that comment on the idea page; otherwise the idea.
    link = f"{BASE_URL}/ideas/{scene.idea.id}"
    if kind in ("comment", "reply", "official_response"):
        link += f"#comment-{notification.comment_id}"
        assert f"Read it in the conversation: {link}\n" in text, text
    else:
        assert f"Open the idea: {link}\n" in text
    assert f'href="{link}"' in rich
    assert msg["From"].addresses[0].display_name == SITE

    # Not again in the digest.
    run(runner, "digest", "send")
    for digest in mailbox.digests(scene.fan.email):
        assert headline(kind) not in parts(digest)[0]


@pytest.mark.parametrize("kind", KINDS)
def test_notification_is_not_emailed_when_off(kind, scene, browser, mailbox, make_idea, runner):
    prefer(scene.fan, **{kind: "off"})

    cause(kind, scene, browser, make_idea)
    run(runner, "digest", "send")

    # Still on the Notifications page; without the outcome question, as the stage change.
    assert notified(scene.fan, "stage_change" if kind == "outcome_question" else kind)
    assert mailbox.to(scene.fan.email, headline(kind)) == []
    for digest in mailbox.digests(scene.fan.email):
        assert headline(kind) not in parts(digest)[0]


@pytest.mark.parametrize("kind", KINDS)
def test_notification_goes_into_the_daily_digest_when_chosen(
    kind, scene, browser, mailbox, make_idea, runner
):
    prefer(scene.fan, **{kind: "daily"})

    cause(kind, scene, browser, make_idea)
    assert notified(scene.fan, kind)
    assert mailbox.to(scene.fan.email, headline(kind)) == []

    run(runner, "digest", "send")

    [digest] = mailbox.digests(scene.fan.email)
    text, rich = parts(digest)
    assert "Hello Fran Follower," in text
    assert headline(kind) in text
    assert html.escape(headline(kind), quote=False) in rich
    assert f"{BASE_URL}/ideas/{scene.idea.id}" in text


def test_emails_come_from_the_site_name_after_a_rename(scene, browser, mailbox, app, client):
    settings.set_setting("site_name", "Northwind Feedback", actor=None)
    db.session.commit()
    prefer(scene.fan, reply="instant")

    top = comment_by(scene.fan, scene.idea.id, "Can it keep our number formats?")
    reply_id = post_comment(browser, scene.commenter, scene.idea.id, REPLY, parent_id=top.id)
    assert sign_up(client, "newbie@example.com").status_code == 303

    received = [
        email.message_from_bytes(raw, policy=policy.default) for _, raw in mailbox.recorder.received
    ]
    assert {scene.fan.email, "newbie@example.com"} <= {m["To"] for m in received}
    for msg in received:
        assert str(msg["From"]) == "Northwind Feedback <portal@localhost>", msg["Subject"]
    [reply] = [m for m in received if m["To"] == scene.fan.email]
    text, rich = parts(reply)
    link = f"{BASE_URL}/ideas/{scene.idea.id}#comment-{reply_id}"
    assert f"Read it in the conversation: {link}" in text
    assert f'href="{link}"' in rich

    # A name the operator gave the sender is theirs to keep.
    app.config["MAIL_SENDER"] = "Acme Support <support@acme.example>"
    mailbox.clear()
    assert sign_up(client, "another@example.com").status_code == 303
    [(_, raw)] = mailbox.recorder.received
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert str(msg["From"]) == "Acme Support <support@acme.example>"


def test_digest_goes_once_a_day_and_keeps_later_news_for_tomorrow(
    scene, browser, mailbox, make_idea, runner, monkeypatch
):
    other = make_idea("Single sign-on with Okta", author=scene.author)
    votes.follow(other, scene.fan)
    db.session.commit()
    assert preferences_of(scene.fan)["comment"] == "daily"  # the default
    post_comment(browser, scene.commenter, scene.idea.id, COMMENT)
    assert mailbox.to(scene.fan.email) == []

    assert "Queued 2 digests" in run(runner, "digest", "send")  # the fan's and the author's
    assert "Queued 0 digests" in run(runner, "digest", "send")
    [digest] = mailbox.digests(scene.fan.email)
    assert digest["Subject"] == f"Your daily digest: 1 update · {SITE}"

    # News later the same day waits: one digest a day, however often cron runs.
    post_comment(browser, scene.commenter, other.id, "Okta would save us a day a month.")
    assert "Queued 0 digests" in run(runner, "digest", "send")
    assert len(mailbox.digests(scene.fan.email)) == 1

    tomorrow = datetime.now(UTC) + timedelta(days=1)
    monkeypatch.setattr(notify, "utcnow", lambda: tomorrow)
    monkeypatch.setattr(mail_outbox, "utcnow", lambda: tomorrow)
    assert "Queued 2 digests" in run(runner, "digest", "send")
    assert "Queued 0 digests" in run(runner, "digest", "send")
    _, second = mailbox.digests(scene.fan.email)
    text = parts(second)[0]
    assert headline("comment", "Single sign-on with Okta") in text
    assert TITLE not in text  # yesterday's news is not repeated


# --- The preferences page -------------------------------------------------------------------


def selected(page: str, name: str) -> str:
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select_html, f"no {name} select"
    options = re.findall(r"<option([^>]*)>", select_html.group(1))
    chosen = [o for o in options if re.search(r"\bselected\b", o)]
    assert len(chosen) == 1, options
    return re.search(r'value="([^"]*)"', chosen[0]).group(1)


def test_preferences_page_saves_choices_and_keeps_input_on_error(client, login_as, mailbox):
    me = login_as("customer")
    page = client.get("/account/email")
    assert page.status_code == 200
    defaults = {kind: default for kind, (_label, default) in EMAIL_KINDS.items()}
    assert {kind: selected(page.text, kind) for kind in KINDS} == defaults
    assert defaults["comment"] == "daily" and defaults["stage_change"] == "instant"
    for label, _ in EMAIL_KINDS.values():
        assert label in page_text(page)

    wanted = {kind: "daily" for kind in KINDS} | {"stage_change": "off", "comment": "instant"}
    response = client.post("/account/email", data=wanted)
    assert response.status_code == 303
    assert path_of(response.headers["Location"]) == "/account/email"
    assert preferences_of(me) == wanted
    page = client.get("/account/email")
    assert "Your email settings are saved." in page_text(page)
    assert {kind: selected(page.text, kind) for kind in KINDS} == wanted

    before = database_snapshot()
    typed = wanted | {"reply": "weekly", "merged": "off", "moderation": "instant"}
    response = client.post("/account/email", data=typed)
    assert response.status_code == 400
    assert "Not a valid choice" in page_text(response)
    assert selected(response.text, "merged") == "off"
    assert selected(response.text, "moderation") == "instant"
    assert selected(response.text, "stage_change") == "off"
    assert database_snapshot() == before
    assert mailbox.messages() == []


# --- Unsubscribing --------------------------------------------------------------------------


def test_unsubscribe_link_asks_then_turns_the_kind_off(scene, browser, mailbox, app):
    move(browser, scene.pm, scene.idea.id, scene.stages["planned"])
    [msg] = mailbox.to(scene.fan.email)
    link = unsubscribe_link(msg)

    stranger = app.test_client()  # another device: not signed in, no cookies
    page = stranger.get(path_of(link))
    assert page.status_code == 200
    assert (
        "Stop emailing fran@example.com for “An idea you follow moves to a new stage”?"
        in page_text(page)
    )
    assert preferences_of(scene.fan)["stage_change"] == "instant"  # a GET changes nothing

    done = stranger.post(path_of(link))
    assert done.status_code == 200
    assert "we will no longer email fran@example.com" in page_text(done)
    prefs = preferences_of(scene.fan)
    assert prefs["stage_change"] == "off"
    assert {k: v for k, v in prefs.items() if k != "stage_change"} == {
        k: d for k, (_, d) in EMAIL_KINDS.items() if k != "stage_change"
    }

    mailbox.clear()
    move(browser, scene.pm, scene.idea.id, scene.stages["in_progress"])
    assert mailbox.to(scene.fan.email) == []
    assert notified(scene.fan, "stage_change", count=2)  # the app still tells them


@pytest.mark.parametrize("source", ["notification", "digest"])
def test_one_click_unsubscribe_needs_no_cookie_and_no_csrf_token(
    source, scene, browser, mailbox, app, runner
):
    if source == "notification":
        move(browser, scene.pm, scene.idea.id, scene.stages["planned"])
        [msg] = mailbox.to(scene.fan.email)
    else:
        post_comment(browser, scene.commenter, scene.idea.id, COMMENT)
        run(runner, "digest", "send")
        [msg] = mailbox.digests(scene.fan.email)
    app.config["WTF_CSRF_ENABLED"] = True

    mail_client = app.test_client()
    response = mail_client.post(
        path_of(unsubscribe_link(msg)),
        data=ONE_CLICK,
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    prefs = preferences_of(scene.fan)
    if source == "notification":
        assert prefs["stage_change"] == "off"
        assert prefs["official_response"] == "instant"
    else:  # a digest's link turns every kind off
        assert set(prefs.values()) == {"off"}


def test_forged_unsubscribe_tokens_are_refused_and_change_nothing(scene, browser, mailbox, app):
    move(browser, scene.pm, scene.idea.id, scene.stages["planned"])
    [msg] = mailbox.to(scene.fan.email)
    token = path_of(unsubscribe_link(msg)).rsplit("/", 1)[1]
    victim = scene.author
    signature = token.rsplit(".", 1)[1]
    victims_payload = URLSafeSerializer("x", salt="unsubscribe").dumps({"u": victim.id, "k": "all"})
    forgeries = {
        "tampered signature": tampered(token),
        "another person's id, same signature": f"{victims_payload.rsplit('.', 1)[0]}.{signature}",
        "signed with another key": URLSafeSerializer("not-the-secret", salt="unsubscribe").dumps(
            {"u": victim.id, "k": "all"}
        ),
        "signed for another purpose": URLSafeSerializer(app.secret_key, salt="outcome").dumps(
            {"u": victim.id, "k": "all"}
        ),
        "unknown kind": URLSafeSerializer(app.secret_key, salt="unsubscribe").dumps(
            {"u": victim.id, "k": "everything"}
        ),
        "no such person": URLSafeSerializer(app.secret_key, salt="unsubscribe").dumps(
            {"u": 10**9, "k": "all"}
        ),
        "nonsense": "nonsense",
    }
    stranger = app.test_client()
    before = database_snapshot()
    for what, forged in forgeries.items():
        path = f"/account/email/unsubscribe/{forged}"
        for response in (
            stranger.get(path),
            stranger.post(path),
            stranger.post(path, data=ONE_CLICK, content_type="application/x-www-form-urlencoded"),
        ):
            assert response.status_code == 400, what
            assert "This unsubscribe link is not valid" in page_text(response), what
    assert database_snapshot() == before
    assert preferences_of(victim)["stage_change"] == "instant"


# --- Did this meet your need? ---------------------------------------------------------------


def answer_links(msg: EmailMessage) -> dict[str, str]:
    text, rich = parts(msg)
    links = dict(re.findall(r"^- (Yes|Partly|No): (\S+)$", text, re.M))
    assert set(links) == {"Yes", "Partly", "No"}
    for label, link in links.items():
        assert link.startswith(f"{BASE_URL}/account/email/outcome/")
        assert f'href="{html.escape(link)}"' in rich or f'href="{link}"' in rich, label
    return links


def answers_for(idea_id: int) -> list[tuple[int, str, str]]:
    db.session.expire_all()
    return [
        (a.user_id, a.answer, a.comment)
        for a in db.session.scalars(select(OutcomeAnswer).where(OutcomeAnswer.idea_id == idea_id))
    ]


def test_outcome_email_answers_through_a_confirmation_page_without_signing_in(
    scene, browser, mailbox, app
):
    move(browser, scene.pm, scene.idea.id, scene.stages["shipped"])
    [msg] = mailbox.to(scene.fan.email, headline("outcome_question"))
    links = answer_links(msg)
    app.config["WTF_CSRF_ENABLED"] = True
    phone = app.test_client()  # not signed in

    page = phone.get(path_of(links["Partly"]))
    assert page.status_code == 200
    assert f"Did “{TITLE}” meet your need?" in page_text(page)
    assert "Your answer: Partly." in visible_text(page)
    assert answers_for(scene.idea.id) == []  # following the link alone records nothing

    assert phone.post(path_of(links["Partly"]), data={"comment": "Hi"}).status_code == 400
    assert answers_for(scene.idea.id) == []  # the POST needs the page's CSRF token

    done = phone.post(
        path_of(links["Partly"]),
        data={"csrf_token": csrf_token_in(page), "comment": "Good, but PDF is missing."},
    )
    assert done.status_code == 200
    assert "Your answer" in page_text(done) and "Partly" in page_text(done)
    assert answers_for(scene.idea.id) == [(scene.fan.id, "partly", "Good, but PDF is missing.")]
    assert phone.get("/account").status_code == 302  # answering did not sign anyone in

    # Another answer from the same email replaces the first; the form offers the comment again.
    page = phone.get(path_of(links["No"]))
    assert "Good, but PDF is missing.</textarea>" in page.text
    response = phone.post(
        path_of(links["No"]),
        data={"csrf_token": csrf_token_in(page), "comment": "Good, but PDF is missing."},
    )
    assert response.status_code == 200
    assert answers_for(scene.idea.id) == [(scene.fan.id, "no", "Good, but PDF is missing.")]


def test_tampered_outcome_links_are_refused(scene, browser, mailbox, app):
    move(browser, scene.pm, scene.idea.id, scene.stages["shipped"])
    [msg] = mailbox.to(scene.fan.email, headline("outcome_question"))
    token = path_of(answer_links(msg)["Yes"]).rsplit("/", 1)[1]
    signer = URLSafeSerializer(app.secret_key, salt="outcome")
    forgeries = {
        "tampered signature": tampered(token),
        "signed with another key": URLSafeSerializer("not-the-secret", salt="outcome").dumps(
            {"u": scene.fan.id, "i": scene.idea.id, "a": "yes"}
        ),
        "an unsubscribe token": URLSafeSerializer(app.secret_key, salt="unsubscribe").dumps(
            {"u": scene.fan.id, "k": "all"}
        ),
        "unknown answer": signer.dumps({"u": scene.fan.id, "i": scene.idea.id, "a": "maybe"}),
        "nonsense": "nonsense",
    }
    phone = app.test_client()
    before = database_snapshot()
    for what, forged in forgeries.items():
        path = f"/account/email/outcome/{forged}"
        for response in (phone.get(path), phone.post(path, data={"comment": "x"})):
            assert response.status_code == 400, what
            assert "This link is not valid" in page_text(response), what
    assert database_snapshot() == before

    # Hidden since the message was sent: the link no longer leads anywhere.
    hide(browser, scene.admin, "idea", scene.idea.id)
    assert phone.get(path_of(answer_links(msg)["Yes"])).status_code == 404
    assert answers_for(scene.idea.id) == []


@pytest.mark.parametrize(("stage", "asked"), [("declined", True), ("in_progress", False)])
def test_the_outcome_question_comes_when_an_idea_closes(stage, asked, scene, browser, mailbox):
    move(browser, scene.pm, scene.idea.id, scene.stages[stage])
    # One message for the one event: closing asks the question, with the team's note in it.
    [msg] = mailbox.to(scene.fan.email)
    subject = headline("outcome_question") if asked else f"“{TITLE}” moved to"
    assert str(msg["Subject"]).startswith(subject)
    assert NOTE in parts(msg)[0]


def test_closing_an_idea_sends_each_follower_one_email_as_they_chose(
    scene, browser, mailbox, make_user
):
    quiet = make_user(display_name="Quinn No-Questions", email="quinn@example.com")
    no_stages = make_user(display_name="Sam No-Stages", email="sam@example.com")
    for person in (quiet, no_stages):
        votes.follow(scene.idea, person)
    db.session.commit()
    prefer(quiet, outcome_question="off")
    prefer(no_stages, stage_change="off")

    move(browser, scene.pm, scene.idea.id, scene.stages["shipped"])

    received = [m["To"] for m in mailbox.messages()]
    everyone = {scene.fan.email, scene.author.email, quiet.email, no_stages.email}
    assert sorted(received) == sorted(everyone)  # one each
    for address in (scene.fan.email, scene.author.email, no_stages.email):
        [msg] = mailbox.to(address, headline("outcome_question"))
        assert f"Now Shipped: {NOTE}" in parts(msg)[0]
        answer_links(msg)
    [msg] = mailbox.to(quiet.email, f"“{TITLE}” moved to Shipped")
    assert f"Now Shipped: {NOTE}" in parts(msg)[0]
    assert "judge the outcome" not in parts(msg)[0]
    # And one notification each in the app, the same as what was mailed.
    for person, kind in [(scene.fan, "outcome_question"), (quiet, "stage_change")]:
        db.session.expire_all()
        kinds = db.session.scalars(
            select(Notification.kind).where(Notification.user_id == person.id)
        ).all()
        assert kinds == [kind]


def test_a_reply_emails_the_people_in_its_thread_and_others_get_what_they_chose_for_comments(
    scene, browser, mailbox, make_user, runner
):
    """Thirteen followers do not each get a message when two people talk."""
    other_replier = make_user(display_name="Otto Other", email="otto@example.com")
    bystanders = [
        make_user(display_name=f"Bea Bystander {n}", email=f"bea{n}@example.com") for n in range(3)
    ]
    for person in bystanders:
        votes.follow(scene.idea, person)
    db.session.commit()
    prefer(bystanders[2], comment="instant")
    top = comment_by(scene.fan, scene.idea.id, "Can it keep our number formats?")
    elsewhere = comment_by(bystanders[0], scene.idea.id, "A thread of its own.")
    comments.add_comment(
        db.session.get(Idea, scene.idea.id),
        author=other_replier,
        body="Yes please.",
        parent_id=top.id,
    )
    db.session.commit()
    mail_outbox.deliver_due()  # what those earlier comments sent is not this test's subject
    mailbox.clear()

    post_comment(browser, scene.commenter, scene.idea.id, REPLY, parent_id=top.id)

    # At once, as a reply: whom it answers, who else replied there, and the idea's author.
    replied = {m["To"] for m in mailbox.messages() if m["Subject"].startswith(headline("reply"))}
    assert replied == {scene.fan.email, other_replier.email, scene.author.email}
    # Everyone else as a comment: the digest by default, at once for whoever chose that.
    assert [m["To"] for m in mailbox.to(bystanders[2].email)] == [bystanders[2].email]
    assert mailbox.to(bystanders[2].email, headline("comment"))
    assert len(mailbox.messages()) == 4
    # Bea's own thread makes her no part of this one: Fran's comment and both replies in its
    # thread are comments to her.
    assert elsewhere.parent_id is None
    assert not notified(bystanders[0], "reply") and notified(bystanders[0], "comment", count=3)

    run(runner, "digest", "send")
    [digest] = mailbox.digests(bystanders[1].email)
    assert headline("comment") in parts(digest)[0]
    for digest in mailbox.digests(scene.fan.email):  # Bea's thread is in Fran's digest
        assert headline("reply") not in parts(digest)[0]  # the reply came at once, not again


# --- Never anything about hidden content, never to suspended people -------------------------


@pytest.mark.parametrize("hidden", ["idea", "comment"])
def test_hidden_after_queueing_is_skipped_not_sent(hidden, scene, browser, mailbox, app, runner):
    prefer(scene.fan, comment="instant")
    secret = "Secret roadmap details nobody should read"

    with delivery_paused(app):
        comment_id = post_comment(browser, scene.commenter, scene.idea.id, secret)
    [queued] = outbox_rows(user_id=scene.fan.id)
    assert queued.status == OutboxStatus.PENDING
    assert mailbox.messages() == []

    if hidden == "idea":
        hide(browser, scene.admin, "idea", scene.idea.id)
    else:
        hide(browser, scene.admin, "comment", comment_id)
    run(runner, "outbox", "send")

    [row] = outbox_rows(id=queued.id)
    assert row.status == OutboxStatus.SKIPPED
    assert mailbox.to(scene.fan.email) == []
    for msg in mailbox.messages():
        assert secret not in parts(msg)[0] + parts(msg)[1]
    # The moderation note went to the author of what was hidden, and to no one else.
    author = scene.author if hidden == "idea" else scene.commenter
    assert {str(m["To"]) for m in mailbox.messages()} == {author.email}


def test_digest_leaves_out_hidden_items_even_when_hidden_after_queueing(
    scene, browser, mailbox, make_idea, runner
):
    second = make_idea("Single sign-on with Okta", author=scene.author)
    third = make_idea("Audit log export to CSV", author=scene.author)
    for idea in (second, third):
        votes.follow(idea, scene.fan)
    db.session.commit()
    hidden_comment = post_comment(browser, scene.commenter, scene.idea.id, "Hide me please")
    post_comment(browser, scene.commenter, scene.idea.id, "This one stays")
    post_comment(browser, scene.commenter, second.id, "Okta now")
    post_comment(browser, scene.commenter, third.id, "CSV now")
    hide(browser, scene.admin, "comment", hidden_comment)
    hide(browser, scene.admin, "idea", second.id)

    notify.queue_digests()  # what `digest send` does first
    db.session.commit()
    hide(browser, scene.admin, "idea", third.id)  # hidden while the digest waits to be sent
    run(runner, "outbox", "send")

    [digest] = mailbox.digests(scene.fan.email)
    assert digest["Subject"] == f"Your daily digest: 1 update · {SITE}"
    text, rich = parts(digest)
    assert text.count(headline("comment")) == 1
    for title in ("Single sign-on with Okta", "Audit log export to CSV"):
        assert title not in text + rich


def test_no_email_to_suspended_or_unconfirmed_people(
    scene, browser, mailbox, make_user, app, runner
):
    banned = make_user(display_name="Ben Banned")
    unconfirmed = make_user(display_name="Una Unconfirmed", verified=False)
    banned_meanwhile = make_user(display_name="Sid Soon")
    for person in (banned, unconfirmed, banned_meanwhile):
        votes.follow(db.session.get(Idea, scene.idea.id), person)
        prefer(person, stage_change="instant", comment="daily")
    banned.suspended_at, banned.suspension_reason = utcnow(), "Spam"  # after following
    db.session.commit()

    with delivery_paused(app):
        move(browser, scene.pm, scene.idea.id, scene.stages["planned"])
        post_comment(browser, scene.commenter, scene.idea.id, COMMENT)
        # Suspended while the stage change waits to be sent, before the digest goes.
        response = browser(scene.admin).post(
            f"/admin/users/{banned_meanwhile.id}/suspend", data={"reason": "Selling watches"}
        )
        assert response.status_code == 303
    [waiting] = outbox_rows(user_id=banned_meanwhile.id)
    assert waiting.status == OutboxStatus.PENDING
    run(runner, "outbox", "send")
    run(runner, "digest", "send")

    received = {(str(m["To"]), str(m["Subject"]).split(":")[0]) for m in mailbox.messages()}
    assert received == {
        (scene.fan.email, f"{headline('stage_change')} · {SITE}"),
        (scene.fan.email, "Your daily digest"),
        (scene.author.email, f"{headline('stage_change')} · {SITE}"),
        (scene.author.email, "Your daily digest"),
    }
    assert outbox_rows(id=waiting.id)[0].status == OutboxStatus.SKIPPED
    assert outbox_rows(user_id=banned.id) == []
    assert outbox_rows(user_id=unconfirmed.id) == []
    for person in (banned, unconfirmed, banned_meanwhile):
        assert notified(person, "stage_change")  # in the app, as before; just not mailed


# --- Stored XSS ----------------------------------------------------------------------------


@pytest.mark.parametrize("payload", XSS)
def test_user_text_is_inert_in_every_html_part(
    payload, make_user, make_idea, stages, browser, mailbox, runner
):
    mailbox.foreign_text_urls = ("https://evil.example",)  # typed by the attacker
    attacker = make_user(display_name=payload[:60])
    fan = make_user(display_name="Fran Follower")
    daily = make_user(display_name="Dee Daily")
    pm = make_user("product_manager")
    admin = make_user("admin")
    idea = make_idea(f"Export {payload}"[:120], author=attacker)
    for person in (fan, daily):
        votes.follow(idea, person)
    db.session.commit()
    prefer(fan, comment="instant")

    comment_id = post_comment(browser, attacker, idea.id, payload)
    move(browser, pm, idea.id, stages["planned"], note=f"{payload} - we are on it")
    run(runner, "digest", "send")
    hide(browser, admin, "comment", comment_id, reason=payload)

    received = mailbox.messages()  # each one checked with assert_inert
    recipients = sorted(str(m["To"]) for m in received)
    assert recipients == sorted([fan.email, daily.email, attacker.email] * 2)
    [comment_mail] = mailbox.to(fan.email, "New comment")
    text, rich = parts(comment_mail)
    assert payload in text  # plain text shows it as typed
    assert str(escape(payload)) in rich  # HTML shows it as text


# --- The admins' outbox, failures and retries ----------------------------------------------


def test_admin_outbox_lists_messages_and_shows_their_text(scene, browser, mailbox, client):
    move(browser, scene.pm, scene.idea.id, scene.stages["planned"])
    assert sign_up(client, "newbie@example.com").status_code == 303
    [note] = outbox_rows(kind="notification", user_id=scene.fan.id)
    [verify] = outbox_rows(kind="verify_email")
    admin = browser(scene.admin)

    page = admin.get("/admin/outbox")
    assert page.status_code == 200
    text = page_text(page)
    assert "Nothing has failed." in text
    assert f"{headline('stage_change')} · {SITE}" in text
    assert "fran@example.com" in text and "newbie@example.com" in text
    assert f'href="/admin/outbox/{note.id}"' in page.text

    shown = page_text(admin.get(f"/admin/outbox/{note.id}"))
    assert "Hello Fran Follower," in shown
    assert f"Now Planned: {NOTE}" in shown
    assert f"Open the idea: {BASE_URL}/ideas/{scene.idea.id}" in shown

    # A confirmation link is for its owner alone when a mail server delivers it.
    shown = admin.get(f"/admin/outbox/{verify.id}")
    assert "holds a one-time link for the person it is addressed to" in page_text(shown)
    assert "/confirm/" not in shown.text


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=5)

    def __call__(self) -> datetime:
        return self.now


def test_failed_messages_back_off_then_give_up_and_can_be_sent_again(
    app, client, browser, mailbox, make_user, monkeypatch, runner, smtp_server
):
    clock = Clock()
    monkeypatch.setattr(mail_outbox, "utcnow", clock)
    me = make_user(email="patient@example.com")
    admin = make_user("admin")
    app.config["MAIL_PORT"] = free_port()  # nothing listens there: the server is down
    delays = app.config["MAIL_RETRY_DELAYS"]
    max_attempts = app.config["MAIL_MAX_ATTEMPTS"]

    response = client.post(
        "/password/forgot", data={"email": me.email}, environ_base={"REMOTE_ADDR": fresh_ip()}
    )
    assert response.status_code == 303
    [row] = outbox_rows(to_address=me.email)
    gaps = []
    while row.status == OutboxStatus.PENDING:
        assert row.last_error.startswith("ConnectionRefusedError")
        gap = (row.next_attempt_at - clock.now).total_seconds()
        assert gap == pytest.approx(delays[min(row.attempts, len(delays)) - 1], abs=0.01)
        gaps.append(gap)
        attempts = row.attempts
        clock.now = row.next_attempt_at - timedelta(seconds=1)
        run(runner, "outbox", "send")  # not due yet: not tried
        [row] = outbox_rows(id=row.id)
        assert row.attempts == attempts
        clock.now = row.next_attempt_at
        run(runner, "outbox", "send")
        [row] = outbox_rows(id=row.id)
        assert row.attempts == attempts + 1
    assert row.status == OutboxStatus.FAILED
    assert row.attempts == max_attempts
    assert len(gaps) == max_attempts - 1
    assert gaps == sorted(set(gaps))  # each wait longer than the one before
    clock.now += timedelta(days=30)
    run(runner, "outbox", "send")
    assert outbox_rows(id=row.id)[0].attempts == max_attempts  # given up: not tried again
    assert mailbox.messages() == []

    admin_browser = browser(admin)
    page = admin_browser.get("/admin/outbox")
    assert 'Gave up <span class="count">1</span>' in page.text
    failed = page.text[page.text.index('id="failed-title"') : page.text.index('id="recent-title"')]
    assert me.email in failed
    assert "Send again" in failed
    assert f'action="/admin/outbox/{row.id}/retry"' in failed
    assert "ConnectionRefusedError" in page_text(admin_browser.get(f"/admin/outbox/{row.id}"))

    app.config["MAIL_PORT"] = smtp_server.port  # the server is back
    response = admin_browser.post(f"/admin/outbox/{row.id}/retry")
    assert response.status_code == 303

    [row] = outbox_rows(id=row.id)
    assert row.status == OutboxStatus.SENT
    assert row.body is None  # its one-time link is in the mailbox now, not in the database
    [msg] = mailbox.to(me.email)
    assert msg["Subject"] == f"Reset your password · {SITE}"
    assert client.get(path_of(link_in(msg, "/password/reset/"))).status_code == 200
    assert 'Gave up <span class="count">0</span>' in admin_browser.get("/admin/outbox").text


def test_the_unsubscribe_page_quotes_the_setting_it_turns_off(app, make_user):
    from portal.mail.preferences import ALL, unsubscribe_token

    fan = make_user(email="quote@example.com")
    client = app.test_client()
    with app.test_request_context():
        reply = unsubscribe_token(fan, "reply")
        everything = unsubscribe_token(fan, ALL)
    page = page_text(client.get(f"/account/email/unsubscribe/{reply}"))
    assert "about someone replies" not in page
    assert (
        "Stop emailing quote@example.com for “Someone replies in a conversation you are part of”?"
        in page
    )
    page = page_text(client.get(f"/account/email/unsubscribe/{everything}"))
    assert "Stop all email about ideas to quote@example.com?" in page
