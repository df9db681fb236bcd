"""Moderation: reports, the queue, hiding and restoring, moderators' edits, dismissing reports,
suspending with everything hidden, and pre-moderation of newcomers' ideas (issue 5)."""

from __future__ import annotations

import html
import json
import re
import threading
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import (
    AuditEvent,
    Comment,
    Idea,
    IdeaOrganisation,
    IdeaRevision,
    Notification,
    Organisation,
    Report,
    ReportResolution,
    User,
    UserSession,
    Vote,
)
from portal.models.types import utcnow
from portal.services import (
    catalog,
    comments,
    idea_lists,
    moderation,
    organisations,
    pipeline,
    premoderation,
    reports,
    trending,
    users,
    votes,
)
from portal.services.settings import get_setting, set_setting

from .conftest import sign_in_client
from .helpers import XSS, assert_inert, database_snapshot, page_text

IP = "127.0.0.1"  # what the test client sends as the remote address


# --- Helpers -------------------------------------------------------------------------------


@pytest.fixture
def admin(client, make_user):
    """An admin; the `client` fixture is signed in as them."""
    user = make_user("admin", display_name="Ada Admin")
    sign_in_client(client, user)
    return user


@pytest.fixture
def visitor(app):
    """visitor(user) is a fresh client signed in as user; visitor() an anonymous one."""

    def make(user: User | None = None):
        other = app.test_client()
        if user is not None:
            sign_in_client(other, user)
        return other

    return make


def report(reporter, item, reason="spam", detail=""):
    """A report through the service, committed; item is an Idea or a Comment."""
    if isinstance(item, Comment):
        idea = db.session.get(Idea, item.idea_id)
        added = reports.report(reporter, reason=reason, detail=detail, idea=idea, comment=item)
    else:
        added = reports.report(reporter, reason=reason, detail=detail, idea=item)
    db.session.commit()
    return added


def comment_on(idea, author, body):
    comment = comments.add_comment(idea, author=author, body=body)
    db.session.commit()
    return comment


def reports_of(target: str) -> list[Report]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(Report).where(Report.target == target).order_by(Report.id))
    )


def audit_rows(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).unique()
    )


def assert_audited(action: str, *, actor: User, target, **detail) -> AuditEvent:
    """Exactly one row for this action on this target: by actor, from the client's IP, and
    holding nothing secret."""
    rows = [
        row
        for row in audit_rows(action)
        if (row.target_type, row.target_id) == (type(target).__tablename__, target.id)
    ]
    assert len(rows) == 1, (action, rows)
    [row] = rows
    assert row.actor_id == actor.id
    assert row.ip == IP
    assert row.created_at is not None and row.created_at.utcoffset() == timedelta(0)
    for key, value in detail.items():
        assert row.detail[key] == value, (key, row.detail)
    stored = json.dumps(row.detail).lower()
    hashes = db.session.scalars(select(User.password_hash)).all()
    keys = db.session.scalars(select(UserSession.key_hash)).all()
    for secret in ("password", "token", "$argon2", "scrypt", *hashes, *keys):
        assert secret.lower() not in stored, (action, secret)
    return row


def unread(client) -> int:
    """The unread count in the page header (0 when the header shows none)."""
    page = client.get("/guidelines").get_data(as_text=True)
    found = re.search(r'Notifications <span class="count">(\d+)<', page)
    return int(found.group(1)) if found else 0


def moderation_messages(user: User) -> list[str]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Notification.message)
            .where(Notification.user_id == user.id, Notification.kind == "moderation")
            .order_by(Notification.id)
        )
    )


def queue_targets(client) -> list[str]:
    """The reported items in the moderation queue, in the order shown ("idea-3", ...)."""
    page = client.get("/admin/moderation")
    assert page.status_code == 200
    return re.findall(r'id="report-((?:idea|comment)-\d+)"', page.get_data(as_text=True))


def section(page: str, start_id: str, end_id: str | None = None) -> str:
    """The part of a page from the element with start_id up to the one with end_id."""
    start = page.index(f'id="{start_id}"')
    return page[start : page.index(f'id="{end_id}"') if end_id else None]


def words(markup: str) -> str:
    """The text of a page or fragment: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", markup)).split())


def post_idea(client, title, problem="Our finance team copies numbers by hand every month."):
    # confirmed=1 skips the no-JavaScript "similar ideas" step.
    return client.post(
        "/ideas/new", data={"title": title, "problem": problem, "solution": "", "confirmed": "1"}
    )


def newest_idea_by(user: User) -> Idea:
    db.session.expire_all()
    return db.session.scalars(
        select(Idea).where(Idea.author_id == user.id).order_by(Idea.id.desc()).limit(1)
    ).one()


# --- Reporting -----------------------------------------------------------------------------


def test_customer_reports_an_idea_and_a_comment(client, login_as, make_idea, make_user):
    idea = make_idea("Export reports to Excel")
    comment = comment_on(idea, make_user(), "Call me on 555-0199, I sell this cheaper.")
    reporter = login_as("customer")

    form = page_text(client.get(f"/ideas/{idea.id}/report"))
    for label in reports.REASONS.values():
        assert label in form
    response = client.post(f"/ideas/{idea.id}/report", data={"reason": "spam"})
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == f"/ideas/{idea.id}"
    follow = page_text(client.get(response.headers["Location"]))
    assert "Thank you for telling us. The moderators will look at it." in follow

    response = client.post(
        f"/comments/{comment.id}/report",
        data={"reason": "abusive", "detail": "  Posts a phone number and insults.  "},
    )
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert (location.path, location.fragment) == (f"/ideas/{idea.id}", f"comment-{comment.id}")

    [on_idea] = reports_of(f"idea:{idea.id}")
    assert (on_idea.idea_id, on_idea.comment_id, on_idea.reporter_id) == (
        idea.id,
        None,
        reporter.id,
    )
    assert (on_idea.reason, on_idea.detail, on_idea.resolved_at) == ("spam", "", None)
    [on_comment] = reports_of(f"comment:{comment.id}")
    assert (on_comment.idea_id, on_comment.comment_id) == (idea.id, comment.id)
    assert on_comment.reporter_id == reporter.id
    assert (on_comment.reason, on_comment.detail) == (
        "abusive",
        "Posts a phone number and insults.",
    )


def test_report_form_refuses_bad_input_and_keeps_what_was_typed(client, login_as, make_idea):
    idea = make_idea()
    login_as("customer")

    # "Something else" needs words: the choice stays ticked.
    response = client.post(f"/ideas/{idea.id}/report", data={"reason": "other", "detail": "  "})
    assert response.status_code == 400
    assert "Tell the moderators what is wrong." in page_text(response)
    other = re.search(r'<input[^>]*value="other"[^>]*>', response.get_data(as_text=True))
    assert other and "checked" in other.group(0)

    # No reason: the details typed are still there.
    detail = "It repeats idea 12 word for word & adds an advert"
    response = client.post(f"/ideas/{idea.id}/report", data={"detail": detail})
    assert response.status_code == 400
    assert "Choose what is wrong with it." in page_text(response)
    assert detail in page_text(response)

    for data in (
        {"reason": "because"},  # not one of the reasons
        {"reason": "other", "detail": "x" * (reports.DETAIL_MAX + 1)},
    ):
        assert client.post(f"/ideas/{idea.id}/report", data=data).status_code == 400
    assert reports_of(f"idea:{idea.id}") == []


def test_nobody_can_report_their_own_post(client, login_as, make_idea):
    author = login_as("customer")
    idea = make_idea(author=author)
    comment = comment_on(idea, author, "My own further thoughts on this.")

    page = client.get(f"/ideas/{idea.id}").get_data(as_text=True)
    assert f"/ideas/{idea.id}/report" not in page
    assert f"/comments/{comment.id}/report" not in page
    for url in (f"/ideas/{idea.id}/report", f"/comments/{comment.id}/report"):
        response = client.post(url, data={"reason": "spam"})
        assert response.status_code == 400
        assert "You cannot report your own post" in page_text(response)
    assert db.session.scalar(select(func.count(Report.id))) == 0


def test_anonymous_visitors_are_asked_to_sign_in_to_report(client, make_idea):
    idea = make_idea()
    response = client.post(f"/ideas/{idea.id}/report", data={"reason": "spam"})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    assert db.session.scalar(select(func.count(Report.id))) == 0


def test_reporting_twice_is_one_open_report_until_it_is_dealt_with(
    client, login_as, make_idea, make_user
):
    idea = make_idea()
    comment = comment_on(idea, make_user(), "Visit my shop for the best prices.")
    reporter = login_as("customer")

    for _ in range(2):
        assert client.post(f"/ideas/{idea.id}/report", data={"reason": "spam"}).status_code == 303
        response = client.post(f"/comments/{comment.id}/report", data={"reason": "off_topic"})
        assert response.status_code == 303
    assert len(reports_of(f"idea:{idea.id}")) == 1
    assert len(reports_of(f"comment:{comment.id}")) == 1

    # Once moderators closed it, the same person may report the item again.
    reports.dismiss_reports(idea=idea, actor=make_user("admin"), ip=None)
    db.session.commit()
    assert client.post(f"/ideas/{idea.id}/report", data={"reason": "abusive"}).status_code == 303
    rows = reports_of(f"idea:{idea.id}")
    assert [(r.reason, r.resolution) for r in rows] == [
        ("spam", ReportResolution.DISMISSED),
        ("abusive", None),
    ]
    assert {r.reporter_id for r in rows} == {reporter.id}


def test_simultaneous_reports_by_one_person_make_one_report(app, make_idea, make_user):
    idea_id = make_idea().id
    reporter = make_user()
    clients = [app.test_client() for _ in range(6)]
    for each in clients:
        sign_in_client(each, reporter)
    # Nothing may be loaded after this: on SQLite the test's own transaction would hold the lock.
    db.session.commit()
    start = threading.Barrier(len(clients))
    statuses, errors = [], []

    def send(each):
        try:
            start.wait(timeout=30)
            with app.app_context():
                response = each.post(f"/ideas/{idea_id}/report", data={"reason": "spam"})
                statuses.append(response.status_code)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(each,)) for each in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert statuses == [303] * len(clients)
    assert len(reports_of(f"idea:{idea_id}")) == 1


def test_the_database_allows_one_open_report_per_person_and_item(make_idea, make_user):
    idea = make_idea()
    reporter = make_user()
    row = dict(target=f"idea:{idea.id}", idea_id=idea.id, reporter_id=reporter.id, reason="spam")
    db.session.add(Report(**row))
    db.session.commit()
    db.session.add(Report(**row))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()

    # A closed report does not count: a new open one may sit beside it.
    db.session.execute(
        update(Report).values(resolved_at=utcnow(), resolution=ReportResolution.DISMISSED)
    )
    db.session.add(Report(**row))
    db.session.commit()
    assert len(reports_of(f"idea:{idea.id}")) == 2


def test_hidden_posts_cannot_be_reported(client, login_as, make_idea, make_user):
    idea = make_idea()
    comment = comment_on(idea, make_user(), "A comment moderators hid.")
    hidden_idea = make_idea("A hidden idea")
    moderator = make_user("admin")
    moderation.hide(comment, reason="Advertising", actor=moderator, ip=None)
    moderation.hide(hidden_idea, reason="Advertising", actor=moderator, ip=None)
    db.session.commit()
    login_as("customer")

    for url in (f"/comments/{comment.id}/report", f"/ideas/{hidden_idea.id}/report"):
        assert client.get(url).status_code == 404
        assert client.post(url, data={"reason": "spam"}).status_code == 404
    assert db.session.scalar(select(func.count(Report.id))) == 0


# --- The queue -----------------------------------------------------------------------------


def test_queue_shows_one_row_per_item_with_its_reporters_newest_first(
    client, admin, make_idea, make_user
):
    old_idea = make_idea("An idea reported long ago")
    busy_idea = make_idea("An idea many people reported")
    comment = comment_on(busy_idea, make_user(), "A comment someone reported")
    handled = make_idea("An idea whose report was dismissed")
    people = [make_user() for _ in range(3)]
    report(people[0], old_idea, "off_topic")
    report(people[0], busy_idea, "spam")
    report(people[1], busy_idea, "spam", detail="Same advert as yesterday")
    report(people[2], busy_idea, "abusive")
    report(people[1], comment, "other", detail="Names my colleague")
    report(people[2], handled, "spam")
    reports.dismiss_reports(idea=handled, actor=admin, ip=None)
    # Dated explicitly: the order must not depend on the clock's resolution.
    now = utcnow()
    for target, age in (
        (f"idea:{old_idea.id}", 3),
        (f"comment:{comment.id}", 2),
        (f"idea:{busy_idea.id}", 1),
    ):
        db.session.execute(
            update(Report)
            .where(Report.target == target)
            .values(created_at=now - timedelta(hours=age))
        )
    db.session.commit()

    assert queue_targets(client) == [
        f"idea-{busy_idea.id}",
        f"comment-{comment.id}",
        f"idea-{old_idea.id}",
    ]
    page = client.get("/admin/moderation").get_data(as_text=True)
    busy = words(section(page, f"report-idea-{busy_idea.id}", f"report-comment-{comment.id}"))
    assert "3 people reported this idea" in busy
    assert (
        "Spam or advertising \N{MULTIPLICATION SIGN} 2" in busy
        and "Abusive, harassing or hateful" in busy
    )
    assert "Same advert as yesterday" in busy
    on_comment = words(section(page, f"report-comment-{comment.id}", f"report-idea-{old_idea.id}"))
    assert "1 person reported this comment" in on_comment
    assert "A comment someone reported" in on_comment and "Names my colleague" in on_comment
    assert "An idea whose report was dismissed" not in page

    [first, *_] = reports.report_queue()
    assert (first.target, first.reporters, first.reasons) == (
        f"idea:{busy_idea.id}",
        3,
        {"spam": 2, "abusive": 1},
    )


def test_queue_query_count_does_not_grow_with_reported_items(
    client, admin, make_idea, make_user, count_queries
):
    def add_items(n: int, start: int) -> None:
        # Everyone new each time, so a lazy load per row could not hide in the identity map.
        for i in range(start, start + n):
            idea = make_idea(f"Reported idea number {i}", author=make_user())
            comment = comment_on(idea, make_user(), f"Reported comment number {i}")
            for _ in range(2):
                report(make_user(), idea, "spam", detail=f"Detail {i}")
                report(make_user(), comment, "abusive", detail=f"Detail {i}")
            waiting = make_idea(f"Waiting idea number {i}", author=make_user())
            waiting.hidden_at, waiting.awaiting_approval = utcnow(), True
            hidden = make_idea(f"Hidden idea number {i}", author=make_user())
            hidden_comment = comment_on(hidden, make_user(), f"Hidden comment number {i}")
            moderation.hide(hidden, reason="Advertising", actor=admin, ip=None)
            moderation.hide(hidden_comment, reason="Advertising", actor=admin, ip=None)
            db.session.commit()

    add_items(1, 0)
    client.get("/admin/moderation")  # warm up whatever the first request loads
    with count_queries() as few:
        assert len(queue_targets(client)) == 2
    add_items(8, 1)
    with count_queries() as many:
        assert len(queue_targets(client)) == 18

    assert many.count == few.count, many.statements


def test_report_details_and_hide_reasons_render_inert(
    app, client, admin, make_idea, make_user, visitor
):
    author = make_user(display_name="Author Person")
    target = make_idea("An idea with troublesome reports", author=author)
    hidden = []
    for payload in XSS:
        report(make_user(), target, "other", detail=payload)
        idea = make_idea(f"Hidden with a nasty reason {len(hidden)}", author=author)
        hidden.append(idea)
    comment = comment_on(target, author, XSS[0])
    report(make_user(), comment, "other", detail=XSS[1])
    db.session.commit()

    for idea, payload in zip(hidden, XSS, strict=True):
        response = client.post(
            f"/admin/moderation/ideas/{idea.id}/hide", data={"reason": f"Reason: {payload}"}
        )
        assert response.status_code == 303
    response = client.post(
        f"/admin/moderation/comments/{comment.id}/hide", data={"reason": f"Reason: {XSS[2]}"}
    )
    assert response.status_code == 303

    queue = client.get("/admin/moderation").get_data(as_text=True)
    as_author = visitor(author)
    pages = [
        queue,
        client.get(f"/admin/moderation/comments/{comment.id}/hide").get_data(as_text=True),
        as_author.get("/notifications").get_data(as_text=True),
        as_author.get(f"/ideas/{target.id}").get_data(as_text=True),
        *(as_author.get(f"/ideas/{idea.id}").get_data(as_text=True) for idea in hidden),
    ]
    for body in pages:
        assert_inert(body)
    # Shown as text, not dropped: the pages really do display what people wrote.
    for payload in XSS:
        assert payload in html.unescape(queue)
        assert f"Reason: Reason: {payload}" in html.unescape(pages[2])


# --- Hiding and restoring ------------------------------------------------------------------

REASON = "Advertising is against our guidelines."


@pytest.fixture
def hideable(make_idea, make_user, make_organisation, stages):
    """Two ideas by one author, one planned and one shipped, each with things that make it
    appear on every customer page: votes, followers, notifications, a team comment."""
    org = make_organisation("Quokka Holdings")
    author = make_user(display_name="Idea Author", organisation=org)
    fan = make_user(display_name="Keen Fan", organisation=org)
    pm = make_user("product_manager", display_name="Pat Product")
    planned = make_idea("Quokka planning board", author=author, stage="planned")
    shipped = make_idea("Quokka release export", author=author, stage="in_progress")
    for idea in (planned, shipped):
        votes.cast_vote(idea, fan)
    db.session.commit()
    comment_on(planned, pm, "We are sizing the quokka board this month.")
    pipeline.move_stage(
        db.session.get(Idea, shipped.id),
        stages["shipped"],
        actor=pm,
        note="Released in version 9.",
        ip=None,
    )
    db.session.commit()
    return {"author": author, "fan": fan, "pm": pm, "org": org, "ideas": (planned, shipped)}


def customer_surfaces(planned: Idea, shipped: Idea) -> dict[str, set[str]]:
    """Every public page where the two ideas show, with which of their titles it shows."""
    both = {planned.title, shipped.title}
    return {
        "/": {planned.title},
        "/?sort=new": {planned.title},
        "/?stage=all&sort=top": both,
        "/?stage=closed": {shipped.title},
        "/search?q=quokka": both,
        "/ideas/similar?title=quokka": both,
        "/roadmap": both,  # planned, and recently shipped
        "/shipped": {shipped.title},
        "/feeds/ideas.atom": both,
        "/feeds/shipped.atom": {shipped.title},
        f"/ideas/{planned.id}/feed.atom": {planned.title},
        f"/ideas/{shipped.id}/feed.atom": {shipped.title},
        f"/ideas/{planned.id}": {planned.title},
        f"/ideas/{shipped.id}": {shipped.title},
    }


def shown_titles(client, path: str, titles: set[str]) -> set[str] | int:
    response = client.get(path)
    if response.status_code != 200:
        return response.status_code
    text = words(response.get_data(as_text=True))
    return {title for title in titles if title in text}


def test_hidden_idea_is_gone_for_customers_everywhere_until_restored(
    app, client, admin, hideable, visitor
):
    planned, shipped = hideable["ideas"]
    author, fan, pm = hideable["author"], hideable["fan"], hideable["pm"]
    surfaces = customer_surfaces(planned, shipped)
    titles = {planned.title, shipped.title}
    anonymous, as_fan, as_author, as_team = visitor(), visitor(fan), visitor(author), visitor(pm)

    # Before: every surface shows what it should, so the checks below can fail.
    for viewer in (anonymous, as_fan):
        for path, expected in surfaces.items():
            assert shown_titles(viewer, path, titles) == expected, path
    assert set(re.findall("Quokka [a-z]+ [a-z]+", page_text(as_fan.get("/notifications")))) == (
        titles
    )
    # Looking at the ideas just now read their news: unread again, so the badge can show below
    # what hiding does to it.
    db.session.execute(
        update(Notification).where(Notification.user_id == fan.id).values(read_at=None)
    )
    db.session.commit()
    fans_unread = unread(as_fan)
    assert fans_unread >= 2
    assert all(title in page_text(as_fan.get("/my-ideas")) for title in titles)

    for idea in (planned, shipped):
        response = client.post(
            f"/admin/moderation/ideas/{idea.id}/hide",
            data={"reason": REASON, "next": f"/ideas/{idea.id}"},
        )
        assert response.status_code == 303
        assert urlsplit(response.headers["Location"]).path == f"/ideas/{idea.id}"

    for viewer in (anonymous, as_fan):
        for path in surfaces:
            shown = shown_titles(viewer, path, titles)
            if path.startswith("/ideas/") and "similar" not in path:
                assert shown == 404, path
            else:
                assert shown == set(), path
    notifications = page_text(as_fan.get("/notifications"))
    assert not any(title in notifications for title in titles)
    assert unread(as_fan) == 0
    assert not any(title in page_text(as_fan.get("/my-ideas")) for title in titles)
    # Organisation pages are the team's; customers never reach them.
    assert as_fan.get(f"/organisations/{hideable['org'].id}").status_code == 403

    # The author still sees their ideas, marked, with the reason, and was told.
    for idea in (planned, shipped):
        page = page_text(as_author.get(f"/ideas/{idea.id}"))
        assert idea.title in page
        assert (
            "Moderators have hidden this idea. Only its author and the team can see it. "
            f"Reason: {REASON}"
        ) in page
        assert "guidelines.." not in page  # the reason's own full stop, never doubled
    mine = page_text(as_author.get("/my-ideas"))
    assert planned.title in mine and shipped.title in mine
    assert "Hidden by moderators" in mine
    assert moderation_messages(author) == [
        f"Moderators hid your idea “{planned.title}”. Reason: {REASON}",
        f"Moderators hid your idea “{shipped.title}”. Reason: {REASON}",
    ]
    author_notes = page_text(as_author.get("/notifications"))
    assert f"Moderators hid your idea “{planned.title}”. Reason: {REASON}" in author_notes
    assert unread(as_author) == 0  # they opened both ideas above, which reads their news

    # The team sees them, marked.
    for idea in (planned, shipped):
        assert idea.title in page_text(as_team.get(f"/ideas/{idea.id}"))
    org_page = as_team.get(f"/organisations/{hideable['org'].id}").get_data(as_text=True)
    assert org_page.count('<span class="badge badge--danger">Hidden</span>') >= 2

    for idea in (planned, shipped):
        row = assert_audited("idea.hidden", actor=admin, target=idea, reason=REASON)
        assert row.detail == {"reason": REASON}
        assert db.session.get(Idea, idea.id).hidden_reason == REASON

    # Restored: back everywhere, and the author hears so.
    for idea in (planned, shipped):
        response = client.post(f"/admin/moderation/ideas/{idea.id}/restore")
        assert response.status_code == 303
        assert urlsplit(response.headers["Location"]).path == "/admin/moderation"
        assert_audited("idea.restored", actor=admin, target=idea)
    assert unread(as_fan) == fans_unread
    for viewer in (anonymous, as_fan):
        for path, expected in surfaces.items():
            assert shown_titles(viewer, path, titles) == expected, path
    assert moderation_messages(author)[-2:] == [
        f"Moderators restored your idea “{planned.title}”: everyone can see it again.",
        f"Moderators restored your idea “{shipped.title}”: everyone can see it again.",
    ]
    restored = db.session.get(Idea, planned.id)
    assert (restored.hidden_at, restored.hidden_reason) == (None, None)


def test_hidden_comment_is_gone_for_customers_and_no_longer_counted(
    client, admin, make_idea, make_user, visitor
):
    idea_author = make_user(display_name="Idea Author")
    idea = make_idea("Dark mode for the dashboard", author=idea_author)
    spammer = make_user(display_name="Sly Seller")
    pm = make_user("product_manager", display_name="Pat Product")
    spam = comment_on(idea, spammer, "Buy zorblax watches at a discount today.")
    team_reply = comment_on(idea, pm, "The team's zorblax answer, later hidden by mistake.")
    kept = comment_on(idea, make_user(), "I would love this too.")
    reader = make_user()
    anonymous, as_reader, as_idea_author = visitor(), visitor(reader), visitor(idea_author)
    as_spammer, as_team = visitor(spammer), visitor(pm)

    def customer_view(viewer) -> dict:
        return {
            "page": page_text(viewer.get(f"/ideas/{idea.id}")).count("zorblax"),
            "list": "3 comments" in page_text(viewer.get("/")),
            "feed": "zorblax" in viewer.get(f"/ideas/{idea.id}/feed.atom").get_data(as_text=True),
        }

    for viewer in (anonymous, as_reader):
        assert customer_view(viewer) == {"page": 2, "list": True, "feed": True}
    assert "Sly Seller commented." in page_text(as_idea_author.get("/notifications"))
    assert unread(as_idea_author) == 3

    response = client.post(
        f"/admin/moderation/comments/{spam.id}/hide",
        data={"reason": REASON, "next": f"/ideas/{idea.id}#comment-{spam.id}"},
    )
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert (location.path, location.fragment) == (f"/ideas/{idea.id}", f"comment-{spam.id}")
    client.post(f"/admin/moderation/comments/{team_reply.id}/hide", data={"reason": "Mistake"})

    assert db.session.get(Idea, idea.id).comment_count == 1
    for viewer in (anonymous, as_reader):
        assert customer_view(viewer) == {"page": 0, "list": False, "feed": False}
        assert "1 comment" in page_text(viewer.get("/"))
    assert kept.body in page_text(anonymous.get(f"/ideas/{idea.id}"))
    notes = page_text(as_idea_author.get("/notifications"))
    assert "Sly Seller commented." not in notes and "Pat Product commented." not in notes
    assert unread(as_idea_author) == 1
    assert as_reader.get(f"/comments/{spam.id}/report").status_code == 404

    # Its author sees it, marked, with the reason, and was told.
    own = page_text(as_spammer.get(f"/ideas/{idea.id}"))
    assert spam.body in own and "Hidden by moderators" in own and f"Reason: {REASON}" in own
    assert team_reply.body not in own  # someone else's hidden comment stays hidden
    assert moderation_messages(spammer) == [f"Moderators hid your comment. Reason: {REASON}"]
    assert f"Moderators hid your comment. Reason: {REASON}" in page_text(
        as_spammer.get("/notifications")
    )
    # The team sees both.
    team_page = page_text(as_team.get(f"/ideas/{idea.id}"))
    assert spam.body in team_page and team_reply.body in team_page
    assert_audited("comment.hidden", actor=admin, target=spam, reason=REASON)
    assert db.session.get(Comment, spam.id).hidden_reason == REASON

    for comment in (spam, team_reply):
        response = client.post(f"/admin/moderation/comments/{comment.id}/restore")
        assert response.status_code == 303
        assert_audited("comment.restored", actor=admin, target=comment)
    assert db.session.get(Idea, idea.id).comment_count == 3
    for viewer in (anonymous, as_reader):
        assert customer_view(viewer) == {"page": 2, "list": True, "feed": True}
    assert unread(as_idea_author) == 3
    assert moderation_messages(spammer)[-1] == (
        "Moderators restored your comment: everyone can see it again."
    )


def test_hiding_needs_a_reason(client, admin, make_idea, make_user):
    idea = make_idea()
    comment = comment_on(idea, make_user(), "Hello there.")
    before = database_snapshot()
    for url in (
        f"/admin/moderation/ideas/{idea.id}/hide",
        f"/admin/moderation/comments/{comment.id}/hide",
    ):
        for reason in ("", "  ", "x" * (moderation.HIDE_REASON_MAX + 1)):
            response = client.post(url, data={"reason": reason})
            assert response.status_code == 400, (url, reason)
    assert "Tell the author why." in page_text(
        client.post(f"/admin/moderation/ideas/{idea.id}/hide", data={"reason": ""})
    )
    assert database_snapshot() == before


def test_hide_form_suggests_the_reporters_reason(client, admin, make_idea, make_user):
    idea = make_idea()
    report(make_user(), idea, "spam")
    page = page_text(client.get(f"/admin/moderation/ideas/{idea.id}/hide"))
    assert "Spam or advertising: see our community guidelines." in page


def test_hiding_from_the_idea_page_returns_there(client, admin, make_idea, make_user):
    idea = make_idea()
    comment = comment_on(idea, make_user(), "Buy my watches.")
    back_to_idea = f"/ideas/{idea.id}"
    # The Hide links the idea page shows moderators, for the idea and for the comment.
    page = client.get(back_to_idea).get_data(as_text=True)
    links = [
        html.unescape(link)
        for link in re.findall(r'href="(/admin/moderation/[a-z]+/\d+/hide\?[^"]*)"', page)
    ]
    assert len(links) == 2, links

    for link in links:
        form = client.get(link).get_data(as_text=True)
        [next_value] = re.findall(r'name="next" value="([^"]*)"', form)
        assert html.unescape(next_value).startswith(back_to_idea), (link, next_value)
        response = client.post(link, data={"reason": "Advertising", "next": next_value})
        assert urlsplit(response.headers["Location"]).path == back_to_idea
    assert db.session.get(Comment, comment.id).hidden_at is not None


# --- Moderators' edits and dismissals ------------------------------------------------------


# A moderator's edit of an idea, as the edit form posts it.
PHONE_NUMBER_REMOVED = {
    "title": "Exports by phone",
    "problem": "Ask for details.",
    "solution": "",
    "note": "Removed a phone number.",
}


def test_moderator_edits_an_idea_keeping_the_old_text(client, admin, make_idea, make_user):
    author = make_user(display_name="Idea Author")
    idea = make_idea(
        "Call Jane on 555-0199 about exports",
        author=author,
        problem="Ring Jane Smith on 555-0199 for details.",
    )
    report(make_user(), idea, "other", detail="Personal phone number")
    old_title, old_problem = idea.title, idea.problem

    form = page_text(client.get(f"/admin/moderation/ideas/{idea.id}/edit"))
    assert old_title in form and old_problem in form

    before = database_snapshot()
    response = client.post(
        f"/admin/moderation/ideas/{idea.id}/edit",
        data={"title": "About exports", "problem": "Ask for details.", "note": ""},
    )
    assert response.status_code == 400
    assert "Tell the author why." in page_text(response)
    assert database_snapshot() == before

    response = client.post(
        f"/admin/moderation/ideas/{idea.id}/edit",
        data=PHONE_NUMBER_REMOVED,
    )
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == f"/ideas/{idea.id}"
    edited = db.session.get(Idea, idea.id)
    assert (edited.title, edited.problem) == ("Exports by phone", "Ask for details.")
    assert edited.edited_at is not None
    [revision] = db.session.scalars(select(IdeaRevision).where(IdeaRevision.idea_id == idea.id))
    assert (revision.title, revision.problem) == (old_title, old_problem)
    [closed] = reports_of(f"idea:{idea.id}")
    assert (closed.resolution, closed.resolved_by_id) == (ReportResolution.EDITED, admin.id)
    assert closed.resolved_at is not None
    assert moderation_messages(author) == [
        "Moderators edited your idea “Exports by phone”. Reason: Removed a phone number."
    ]
    assert_audited(
        "idea.moderator_edit", actor=admin, target=edited, reason="Removed a phone number."
    )
    assert queue_targets(client) == []


@pytest.mark.parametrize("filed_under", ["a retired category", "no category"])
def test_moderator_edits_an_idea_whatever_its_category(
    client, admin, make_idea, make_user, make_category, filed_under
):
    """The edit form has no category field and the edit leaves the category alone, so neither a
    category retired since the idea was posted nor none at all (posted before there were
    categories) may stop a moderator removing personal data."""
    author = make_user(display_name="Idea Author")
    if filed_under == "a retired category":
        category = make_category("Exports")
        idea = make_idea("Call Jane on 555-0199", author=author, category=category)
        catalog.retire_category(category, actor=admin, ip=None)
    else:
        category = None
        idea = make_idea("Call Jane on 555-0199", author=author)
    make_category("Reporting")  # an active category exists either way
    db.session.commit()

    response = client.post(
        f"/admin/moderation/ideas/{idea.id}/edit",
        data=PHONE_NUMBER_REMOVED,
    )
    assert response.status_code == 303, page_text(response)
    edited = db.session.get(Idea, idea.id)
    assert (edited.title, edited.problem) == ("Exports by phone", "Ask for details.")
    assert edited.category_id == (category.id if category is not None else None)
    assert moderation_messages(author) == [
        "Moderators edited your idea “Exports by phone”. Reason: Removed a phone number."
    ]
    assert_audited(
        "idea.moderator_edit", actor=admin, target=edited, reason="Removed a phone number."
    )


def test_moderator_edits_a_comment_with_the_old_text_in_the_audit_log(
    client, admin, make_idea, make_user
):
    author = make_user()
    idea = make_idea()
    comment = comment_on(idea, author, "Jane Smith lives at 4 Elm Street, tell her.")
    report(make_user(), comment, "abusive")

    form = page_text(client.get(f"/admin/moderation/comments/{comment.id}/edit"))
    assert comment.body in form
    response = client.post(
        f"/admin/moderation/comments/{comment.id}/edit",
        data={"body": "Jane Smith could tell you more.", "note": "Removed an address."},
    )
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert (location.path, location.fragment) == (f"/ideas/{idea.id}", f"comment-{comment.id}")
    edited = db.session.get(Comment, comment.id)
    assert edited.body == "Jane Smith could tell you more." and edited.edited_at is not None
    assert_audited(
        "comment.moderator_edit",
        actor=admin,
        target=edited,
        reason="Removed an address.",
        previous="Jane Smith lives at 4 Elm Street, tell her.",
    )
    [closed] = reports_of(f"comment:{comment.id}")
    assert (closed.resolution, closed.resolved_by_id) == (ReportResolution.EDITED, admin.id)
    assert moderation_messages(author) == [
        "Moderators edited your comment. Reason: Removed an address."
    ]
    assert "4 Elm Street" not in page_text(client.get(f"/ideas/{idea.id}"))


def test_dismissing_closes_the_reports_and_leaves_the_content(
    client, admin, make_idea, make_user, visitor
):
    idea = make_idea("A perfectly fine idea")
    comment = comment_on(idea, make_user(), "A perfectly fine comment.")
    report(make_user(), idea, "spam")
    report(make_user(), idea, "off_topic")
    report(make_user(), comment, "abusive")

    response = client.post(f"/admin/moderation/ideas/{idea.id}/dismiss")
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/admin/moderation"
    rows = reports_of(f"idea:{idea.id}")
    assert [(r.resolution, r.resolved_by_id) for r in rows] == [
        (ReportResolution.DISMISSED, admin.id)
    ] * 2
    assert all(r.resolved_at is not None for r in rows)
    assert reports_of(f"comment:{comment.id}")[0].resolved_at is None
    assert queue_targets(client) == [f"comment-{comment.id}"]
    assert_audited("report.dismissed", actor=admin, target=idea, reports=2)

    # Nothing left to dismiss: nothing written.
    assert client.post(f"/admin/moderation/ideas/{idea.id}/dismiss").status_code == 303
    assert len(audit_rows("report.dismissed")) == 1

    # An off-site `next` is ignored.
    response = client.post(
        f"/admin/moderation/comments/{comment.id}/dismiss", data={"next": "https://evil.example/"}
    )
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost") and location.path.startswith("/")
    assert_audited("report.dismissed", actor=admin, target=comment, reports=1)
    assert queue_targets(client) == []
    assert "No open reports" in page_text(client.get("/admin/moderation"))

    page = page_text(visitor().get(f"/ideas/{idea.id}"))
    assert idea.title in page and comment.body in page
    assert db.session.get(Idea, idea.id).hidden_at is None
    assert db.session.get(Comment, comment.id).hidden_at is None


def test_a_reported_comment_deleted_by_its_author_does_not_stick_in_the_queue(
    client, admin, make_idea, make_user, visitor
):
    idea = make_idea()
    author = make_user()
    comment = comment_on(idea, author, "Something I regret writing.")
    report(make_user(), comment, "abusive")
    assert visitor(author).post(f"/comments/{comment.id}/delete").status_code == 303

    # Either it leaves the queue by itself, or the moderator can dismiss it.
    if f"comment-{comment.id}" in queue_targets(client):
        response = client.post(f"/admin/moderation/comments/{comment.id}/dismiss")
        assert response.status_code == 303
    assert queue_targets(client) == []


# --- Suspending with everything hidden -----------------------------------------------------


@pytest.fixture
def spammer_content(make_idea, make_user):
    spammer = make_user(display_name="Spam Person", email="spammer@example.com")
    ideas = [make_idea(f"Cheap watches {n}", author=spammer) for n in (1, 2)]
    elsewhere = make_idea("Someone else's idea about exports")
    comment_on(elsewhere, make_user(), "A genuine comment.")
    spam = [comment_on(elsewhere, spammer, f"Buy my watches, offer {n}") for n in (1, 2)]
    report(make_user(), ideas[0], "spam")
    report(make_user(), spam[0], "spam")
    return {"spammer": spammer, "ideas": ideas, "elsewhere": elsewhere, "comments": spam}


def test_suspending_with_hide_content_hides_everything_they_posted(
    client, admin, spammer_content, visitor
):
    spammer = spammer_content["spammer"]
    elsewhere = spammer_content["elsewhere"]
    as_spammer, anonymous = visitor(spammer), visitor()
    assert as_spammer.get("/account").status_code == 200
    assert db.session.get(Idea, elsewhere.id).comment_count == 3

    response = client.post(
        f"/admin/users/{spammer.id}/suspend",
        data={"reason": "Posting adverts", "hide_content": "y"},
    )
    assert response.status_code == 303
    assert "Everything they posted is hidden, and their votes count nowhere." in page_text(
        client.get(response.headers["Location"])
    )

    db.session.expire_all()
    for idea in spammer_content["ideas"]:
        row = db.session.get(Idea, idea.id)
        assert row.hidden_at is not None and row.hidden_reason == "Posting adverts"
        assert anonymous.get(f"/ideas/{idea.id}").status_code == 404
    for comment in spammer_content["comments"]:
        row = db.session.get(Comment, comment.id)
        assert row.hidden_at is not None and row.hidden_reason == "Posting adverts"
    assert db.session.get(Idea, elsewhere.id).comment_count == 1
    page = page_text(anonymous.get(f"/ideas/{elsewhere.id}"))
    assert "A genuine comment." in page and "Buy my watches" not in page
    assert "Cheap watches" not in page_text(anonymous.get("/"))
    open_reports = db.session.scalar(
        select(func.count(Report.id)).where(Report.resolved_at.is_(None))
    )
    assert open_reports == 0
    assert {r.resolution for r in db.session.scalars(select(Report))} == {ReportResolution.HIDDEN}

    assert_audited("user.suspended", actor=admin, target=spammer, reason="Posting adverts")
    assert_audited("user.content_hidden", actor=admin, target=spammer, ideas=2, comments=2)

    # Their very next request is signed out.
    response = as_spammer.get("/account")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sign-in"


def test_suspending_without_hide_content_hides_nothing(client, admin, spammer_content, visitor):
    spammer = spammer_content["spammer"]
    response = client.post(f"/admin/users/{spammer.id}/suspend", data={"reason": "Cooling off"})
    assert response.status_code == 303

    db.session.expire_all()
    assert db.session.get(User, spammer.id).is_suspended
    hidden_ideas = db.session.scalar(select(func.count(Idea.id)).where(Idea.hidden_at.is_not(None)))
    hidden_comments = db.session.scalar(
        select(func.count(Comment.id)).where(Comment.hidden_at.is_not(None))
    )
    assert (hidden_ideas, hidden_comments) == (0, 0)
    assert db.session.get(Idea, spammer_content["elsewhere"].id).comment_count == 3
    assert audit_rows("user.content_hidden") == []
    assert visitor().get(f"/ideas/{spammer_content['ideas'][0].id}").status_code == 200


def test_suspending_and_hiding_is_one_transaction(
    client, admin, spammer_content, monkeypatch, visitor
):
    spammer = spammer_content["spammer"]
    as_spammer = visitor(spammer)
    before = database_snapshot()

    def fail(idea_ids):
        raise RuntimeError("the database went away half-way")

    monkeypatch.setattr(moderation, "recount_comments", fail)
    try:
        response = client.post(
            f"/admin/users/{spammer.id}/suspend",
            data={"reason": "Posting adverts", "hide_content": "y"},
        )
    except RuntimeError:
        pass
    else:
        assert response.status_code == 500

    assert database_snapshot() == before
    assert as_spammer.get("/account").status_code == 200


# --- Pre-moderation ------------------------------------------------------------------------


def turn_pre_moderation_on():
    set_setting("pre_moderation", "on", actor=None)
    db.session.commit()


def test_pre_moderation_is_off_by_default(client, login_as, visitor, stages):
    assert get_setting("pre_moderation") == ""
    newcomer = login_as("customer")
    response = post_idea(client, "A first idea from a newcomer")
    assert response.status_code == 303
    idea = newest_idea_by(newcomer)
    assert (idea.awaiting_approval, idea.hidden_at) == (False, None)
    assert visitor().get(f"/ideas/{idea.id}").status_code == 200


def test_newcomers_first_idea_is_held_for_approval(make_user, visitor, stages):
    turn_pre_moderation_on()
    newcomer = make_user()
    as_newcomer = visitor(newcomer)

    response = post_idea(as_newcomer, "Quokka waiting idea")

    assert response.status_code == 303
    assert "checked by a moderator before it is public" in page_text(
        as_newcomer.get(response.headers["Location"])
    )
    idea = newest_idea_by(newcomer)
    assert idea.awaiting_approval and idea.hidden_at is not None
    assert idea.vote_count == 1  # its author's own vote, as for any idea
    assert visitor().get(f"/ideas/{idea.id}").status_code == 404


def test_newcomers_need_approval_only_while_pre_moderation_is_on(make_user, make_idea):
    newcomer = make_user()
    established = make_user()
    make_idea(author=established)
    assert not premoderation.needs_approval(newcomer)
    turn_pre_moderation_on()
    assert premoderation.needs_approval(newcomer)
    for role in ("product_manager", "admin"):
        assert not premoderation.needs_approval(make_user(role))
    # Someone with a public idea already is no newcomer.
    assert not premoderation.needs_approval(established)


def held(idea: Idea) -> Idea:
    """Put an idea in the state submit_idea holds a newcomer's idea in."""
    idea.hidden_at, idea.awaiting_approval = utcnow(), True
    db.session.commit()
    return idea


def test_waiting_idea_is_seen_only_by_author_and_team_until_approved(
    client, admin, make_user, make_idea, visitor
):
    regular = make_user()
    control = make_idea("An idea from before pre-moderation", author=make_user("admin"))
    newcomer = make_user(display_name="New Person")
    as_newcomer = visitor(newcomer)
    title = "Quokka waiting idea"
    idea = held(make_idea(title, author=newcomer))
    turn_pre_moderation_on()

    # Customers: nowhere to be seen.
    for viewer in (visitor(), visitor(regular)):
        assert viewer.get(f"/ideas/{idea.id}").status_code == 404
        assert viewer.get(f"/ideas/{idea.id}/feed.atom").status_code == 404
        for path in ("/", "/?sort=new", "/search?q=quokka", "/ideas/similar?title=quokka"):
            assert title not in words(viewer.get(path).get_data(as_text=True)), path
        assert title not in viewer.get("/feeds/ideas.atom").get_data(as_text=True)
        assert control.title in page_text(viewer.get("/?sort=new"))
    # Its author sees it, waiting.
    page = page_text(as_newcomer.get(f"/ideas/{idea.id}"))
    assert title in page and "waiting for a moderator's approval" in page
    assert "Waiting for a moderator's approval" in page_text(as_newcomer.get("/my-ideas"))
    # The team sees it, but it is not in the triage queue until approved.
    as_team = visitor(make_user("product_manager"))
    assert title in page_text(as_team.get(f"/ideas/{idea.id}"))
    triage = page_text(as_team.get("/team/triage"))
    assert control.title in triage and title not in triage
    queue = client.get("/admin/moderation").get_data(as_text=True)
    assert title in section(queue, "waiting-title", "hidden-title")
    assert "Pre-moderation is <strong>on</strong>" in queue

    response = client.post(f"/admin/moderation/ideas/{idea.id}/approve")
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/admin/moderation"
    approved = db.session.get(Idea, idea.id)
    assert (approved.awaiting_approval, approved.hidden_at) == (False, None)
    assert_audited("idea.approved", actor=admin, target=approved)
    assert moderation_messages(newcomer) == [
        f"Your idea “{title}” is approved and public: everyone can now see it and vote."
    ]
    for viewer in (visitor(), visitor(regular)):
        assert viewer.get(f"/ideas/{idea.id}").status_code == 200
        assert title in words(viewer.get("/search?q=quokka").get_data(as_text=True))
    assert title in page_text(as_team.get("/team/triage"))
    assert title not in section(
        client.get("/admin/moderation").get_data(as_text=True), "waiting-title", "hidden-title"
    )
    # Approving twice is refused, and writes nothing.
    assert client.post(f"/admin/moderation/ideas/{idea.id}/approve").status_code == 303
    assert len(audit_rows("idea.approved")) == 1

    # Their next idea goes straight up.
    assert post_idea(as_newcomer, "A second idea from the same person").status_code == 303
    second = newest_idea_by(newcomer)
    assert second.title == "A second idea from the same person"
    assert (second.awaiting_approval, second.hidden_at) == (False, None)
    assert visitor().get(f"/ideas/{second.id}").status_code == 200


def test_team_members_never_wait_for_approval(make_user, visitor, stages):
    turn_pre_moderation_on()
    for role in ("product_manager", "admin"):
        member = make_user(role)
        as_member = visitor(member)
        assert post_idea(as_member, f"An idea from a {role} here").status_code == 303
        idea = newest_idea_by(member)
        assert (idea.awaiting_approval, idea.hidden_at) == (False, None), role
        assert visitor().get(f"/ideas/{idea.id}").status_code == 200


def test_rejecting_a_waiting_idea_tells_its_author(client, admin, make_user, make_idea, visitor):
    newcomer = make_user()
    as_newcomer = visitor(newcomer)
    idea = held(make_idea("Buy cheap watches here", author=newcomer))
    turn_pre_moderation_on()

    response = client.post(
        f"/admin/moderation/ideas/{idea.id}/hide", data={"reason": "Advertising, not an idea."}
    )
    assert response.status_code == 303
    rejected = db.session.get(Idea, idea.id)
    assert rejected.hidden_at is not None and not rejected.awaiting_approval
    assert rejected.hidden_reason == "Advertising, not an idea."
    assert moderation_messages(newcomer) == [
        "Moderators hid your idea “Buy cheap watches here”. Reason: Advertising, not an idea."
    ]
    assert_audited("idea.hidden", actor=admin, target=rejected, reason="Advertising, not an idea.")
    queue = client.get("/admin/moderation").get_data(as_text=True)
    assert idea.title not in section(queue, "waiting-title", "hidden-title")
    assert idea.title in section(queue, "hidden-title")
    assert visitor().get(f"/ideas/{idea.id}").status_code == 404
    assert "Reason: Advertising, not an idea." in page_text(as_newcomer.get(f"/ideas/{idea.id}"))
    # A rejected idea is no approved one: their next idea would wait too.
    assert premoderation.needs_approval(newcomer)


# --- Only admins moderate ------------------------------------------------------------------


def test_only_admins_reach_moderation(app, make_user, make_idea, visitor):
    author = make_user()
    idea = make_idea(author=author)
    comment = comment_on(idea, author, "A comment to moderate.")
    hidden_idea = make_idea("A hidden idea", author=author)
    hidden_comment = comment_on(idea, author, "A hidden comment.")
    pending = make_idea("A pending idea", author=author)
    hidden_idea.hidden_at, hidden_idea.hidden_reason = utcnow(), "Advertising"
    hidden_comment.hidden_at, hidden_comment.hidden_reason = utcnow(), "Advertising"
    pending.hidden_at, pending.awaiting_approval = utcnow(), True
    reporter = make_user()
    report(reporter, idea, "spam")
    report(reporter, comment, "spam")
    base = "/admin/moderation"
    pages = [
        base,
        f"{base}/ideas/{idea.id}/hide",
        f"{base}/comments/{comment.id}/hide",
        f"{base}/ideas/{idea.id}/edit",
        f"{base}/comments/{comment.id}/edit",
    ]
    actions = [
        (f"{base}/ideas/{idea.id}/hide", {"reason": "Advertising"}),
        (f"{base}/comments/{comment.id}/hide", {"reason": "Advertising"}),
        (f"{base}/ideas/{hidden_idea.id}/restore", {}),
        (f"{base}/comments/{hidden_comment.id}/restore", {}),
        (f"{base}/ideas/{pending.id}/approve", {}),
        (f"{base}/ideas/{idea.id}/dismiss", {}),
        (f"{base}/comments/{comment.id}/dismiss", {}),
        (f"{base}/ideas/{idea.id}/edit", {"title": "Defaced", "problem": "x", "note": "Why"}),
        (f"{base}/comments/{comment.id}/edit", {"body": "Defaced", "note": "Why not"}),
        (f"/admin/users/{author.id}/suspend", {"reason": "Posting adverts", "hide_content": "y"}),
    ]
    viewers = {
        "customer": visitor(make_user("customer")),
        "product_manager": visitor(make_user("product_manager")),
        "author": visitor(author),
        "anonymous": visitor(),
    }
    for each in viewers.values():
        each.get("/")  # anything a first visit writes, written before the snapshot
    before = database_snapshot()

    for who, viewer in viewers.items():
        for url in pages:
            if who == "product_manager" and url.endswith("/hide"):
                continue  # PMs hide, pending an admin's review: tests/test_pm_moderation.py
            response = viewer.get(url)
            if who == "anonymous":
                assert response.status_code == 302, (who, url)
                assert urlsplit(response.headers["Location"]).path == "/sign-in"
            else:
                assert response.status_code == 403, (who, url)
        for url, data in actions:
            if who == "product_manager" and url.endswith("/hide"):
                continue
            response = viewer.post(url, data=data)
            expected = 302 if who == "anonymous" else 403
            assert response.status_code == expected, (who, url)
    assert database_snapshot() == before


# --- Hidden with their account: votes leave every count, and restoring puts all back --------


def idea_counts(*idea_ids: int) -> dict[int, tuple]:
    """Each idea's (vote_count, trending_score, comment_count, hidden_at, hidden_reason)."""
    db.session.expire_all()
    return {
        i: (
            (idea := db.session.get(Idea, i)).vote_count,
            idea.trending_score,
            idea.comment_count,
            idea.hidden_at,
            idea.hidden_reason,
        )
        for i in idea_ids
    }


def backing() -> dict[tuple[int, int], int]:
    """The kept organisation counts: {(idea, organisation): voters}."""
    db.session.expire_all()
    return {
        (row.idea_id, row.organisation_id): row.voters
        for row in db.session.scalars(select(IdeaOrganisation))
    }


def organisation_pages(viewer: User) -> dict:
    """What the organisation pages count: votes per organisation, and the ideas each backs."""
    db.session.expire_all()
    overview = {row.organisation.id: row.votes for row in organisations.overview(viewer=viewer)}
    backed = {
        org_id: [
            (idea.id, n)
            for idea, n in organisations.detail(
                db.session.get(Organisation, org_id), viewer=viewer
            ).backed
        ]
        for org_id in overview
    }
    return {"overview": overview, "backed": backed}


def summaries(*idea_ids: int) -> dict[int, tuple[int, int]]:
    db.session.expire_all()
    return {i: idea_lists.supporter_summary(db.session.get(Idea, i)) for i in idea_ids}


def close_to(expected: float):
    """A trending score is a running sum of floats: taking a weight away and adding it back can
    differ from the original in the last bit, never more (the order of ideas is unchanged)."""
    return pytest.approx(expected, rel=1e-12, abs=0)


@pytest.fixture
def spam_voter(make_user, make_idea, make_organisation):
    """A spammer in Acme who votes and posts, and the state of the world before they voted.

    x, y, z are other people's ideas; the spammer votes for x and y (never z). s is the
    spammer's own idea, with a vote from Bob. Before the spammer voted, `never` was taken.
    Earlier, a moderator hid one of their ideas and one comment for reasons of their own, and
    one idea of theirs waits for pre-moderation.
    """
    acme, globex = make_organisation("Acme"), make_organisation("Globex")
    spammer = make_user(display_name="Spam Person", organisation=acme)
    alice = make_user(display_name="Alice", organisation=acme)
    bob = make_user(display_name="Bob", organisation=globex)
    carol = make_user(display_name="Carol")
    x = make_idea("Export reports to Excel", author=alice)
    y = make_idea("Dark mode for the dashboard", author=bob)
    z = make_idea("Single sign-on with Okta", author=carol)
    for idea, voters in ((x, [bob, carol]), (y, [alice]), (z, [alice, bob])):
        for voter in voters:
            votes.cast_vote(idea, voter)
    spam_comment = comment_on(x, spammer, "Buy my watches, best offer")
    off_topic = comment_on(y, spammer, "Unrelated rant about the weather")
    hidden_before = make_idea("Cheap watches, hidden already", author=spammer)
    pending = make_idea("Cheap watches, waiting", author=spammer)
    db.session.commit()
    admin = make_user("admin")
    moderation.hide(hidden_before, reason="Off topic", actor=admin, ip=None)
    moderation.hide(off_topic, reason="Rude", actor=admin, ip=None)
    pending.hidden_at, pending.awaiting_approval = utcnow(), True
    db.session.commit()
    ids = (x.id, y.id, z.id)
    never = {
        "ideas": {i: counts[:2] for i, counts in idea_counts(*ids).items()},
        "backing": backing(),
        "summaries": summaries(*ids),
    }

    votes.cast_vote(x, spammer)
    votes.cast_vote(y, spammer)
    s = make_idea("Cheap watches for your team", author=spammer)  # its author votes for it
    votes.cast_vote(s, bob)
    db.session.commit()
    return SimpleNamespace(
        spammer=spammer,
        x=x.id,
        y=y.id,
        z=z.id,
        s=s.id,
        hidden_before=hidden_before.id,
        pending=pending.id,
        spam_comment=spam_comment.id,
        off_topic=off_topic.id,
        acme=acme.id,
        globex=globex.id,
        never=never,
        all_ideas=(x.id, y.id, z.id, s.id, hidden_before.id, pending.id),
    )


def full_state(w, viewer: User) -> dict:
    return {
        "ideas": idea_counts(*w.all_ideas),
        "backing": backing(),
        "organisations": organisation_pages(viewer),
        "summaries": summaries(*w.all_ideas),
        "comments": {
            c: (row.hidden_at, row.hidden_reason)
            for c in (w.spam_comment, w.off_topic)
            for row in [db.session.get(Comment, c)]
        },
    }


def spammer_vote_weight(w, idea_id: int) -> float:
    cast_at = db.session.scalar(
        select(Vote.created_at).where(Vote.idea_id == idea_id, Vote.user_id == w.spammer.id)
    )
    return trending.weight_at(trending.VOTE_WEIGHT, cast_at)


def test_hiding_everything_takes_their_votes_out_of_every_count(client, admin, spam_voter):
    w = spam_voter
    s_before = idea_counts(w.s)[w.s]
    s_weight = spammer_vote_weight(w, w.s)
    acme_before = organisation_pages(admin)["overview"][w.acme]

    response = client.post(
        f"/admin/users/{w.spammer.id}/suspend",
        data={"reason": "Posting adverts", "hide_content": "y"},
    )
    assert response.status_code == 303

    # Other people's ideas: exactly as they were before the spammer voted.
    now = idea_counts(w.x, w.y, w.z)
    for idea_id, (vote_count, trending_score) in w.never["ideas"].items():
        assert now[idea_id][0] == vote_count, idea_id
        assert now[idea_id][1] == close_to(trending_score), idea_id
    assert summaries(w.x, w.y, w.z) == w.never["summaries"]
    others = (w.x, w.y, w.z)
    kept = backing()
    assert {k: v for k, v in kept.items() if k[0] in others} == {
        k: v for k, v in w.never["backing"].items() if k[0] in others
    }
    # Their own idea: only Bob's vote is left, from Globex.
    assert idea_counts(w.s)[w.s][0] == s_before[0] - 1 == 1
    assert idea_counts(w.s)[w.s][1] == close_to(s_before[1] - s_weight)
    assert {k: v for k, v in kept.items() if k[0] == w.s} == {(w.s, w.globex): 1}
    # Acme's page counts Alice's three votes, not the spammer's five (two on their own
    # ideas hidden or pending before, which count nowhere either while they are hidden).
    pages = organisation_pages(admin)
    assert pages["overview"][w.acme] == acme_before - 5 == 3
    assert dict(pages["backed"][w.acme]) == {w.x: 1, w.y: 1, w.z: 1}
    assert_audited("user.content_hidden", actor=admin, target=w.spammer, ideas=1, comments=1)
    assert audit_rows("user.content_hidden")[0].detail["votes"] == 5


def test_restoring_their_posts_puts_every_count_back_exactly(client, admin, spam_voter):
    w = spam_voter
    before = full_state(w, admin)

    suspended = client.post(
        f"/admin/users/{w.spammer.id}/suspend",
        data={"reason": "Posting adverts", "hide_content": "y"},
    )
    assert suspended.status_code == 303
    page = page_text(client.get(f"/admin/users/{w.spammer.id}"))
    assert "1 idea, 1 comment and 5 votes" in page
    assert full_state(w, admin) != before

    response = client.post(f"/admin/users/{w.spammer.id}/restore-content")
    assert response.status_code == 303
    assert "Spam Person's posts and votes are back: 1 idea, 1 comment and 5 votes." in page_text(
        client.get(response.headers["Location"])
    )

    after = full_state(w, admin)
    for idea_id, counts in before["ideas"].items():
        assert after["ideas"][idea_id][1] == close_to(counts[1]), idea_id
        assert after["ideas"][idea_id][0] == counts[0], idea_id
        assert after["ideas"][idea_id][2:] == counts[2:], idea_id
    assert {k: v for k, v in after.items() if k != "ideas"} == {
        k: v for k, v in before.items() if k != "ideas"
    }
    # Hidden earlier for reasons of their own: still hidden, with those reasons.
    assert after["ideas"][w.hidden_before][4] == "Off topic"
    assert after["comments"][w.off_topic][1] == "Rude"
    assert db.session.get(Idea, w.pending).awaiting_approval
    assert db.session.get(Idea, w.s).hidden_at is None
    assert db.session.get(Comment, w.spam_comment).hidden_at is None
    assert moderation.hidden_with_account(w.spammer) == moderation.HiddenWithAccount(0, 0, 0)
    assert "Hidden with their account" not in page_text(client.get(f"/admin/users/{w.spammer.id}"))
    assert_audited(
        "user.content_restored", actor=admin, target=w.spammer, ideas=1, comments=1, votes=5
    )


def test_a_post_hidden_again_on_its_own_stays_hidden_after_restoring(client, admin, spam_voter):
    w = spam_voter
    users.suspend(w.spammer, "Posting adverts", actor=admin, ip=None, hide_content=True)
    # After the sweep, a moderator hides their idea again, now for a reason of its own.
    moderation.hide(db.session.get(Idea, w.s), reason="Trademark complaint", actor=admin, ip=None)
    db.session.commit()

    restored = moderation.restore_everything_by(w.spammer, actor=admin, ip=None)
    db.session.commit()

    assert (restored.ideas, restored.comments, restored.votes) == (0, 1, 5)
    idea = db.session.get(Idea, w.s)
    assert idea.hidden_at is not None and idea.hidden_reason == "Trademark complaint"


def test_restoring_everything_is_one_transaction(client, admin, spam_voter, monkeypatch):
    w = spam_voter
    users.suspend(w.spammer, "Posting adverts", actor=admin, ip=None, hide_content=True)
    db.session.commit()
    before = database_snapshot()

    def fail(idea_ids):
        raise RuntimeError("the database went away half-way")

    monkeypatch.setattr(moderation, "recount_comments", fail)
    try:
        response = client.post(f"/admin/users/{w.spammer.id}/restore-content")
    except RuntimeError:
        pass
    else:
        assert response.status_code == 500
    assert database_snapshot() == before


def csrf_token_on(viewer, path: str) -> str:
    page = viewer.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]


@pytest.mark.parametrize("config_overrides", [{"WTF_CSRF_ENABLED": True}])
def test_restoring_needs_an_admin_and_a_csrf_token(app, make_user, spam_voter, visitor):
    w = spam_voter
    admin = make_user("admin")
    users.suspend(w.spammer, "Posting adverts", actor=admin, ip=None, hide_content=True)
    db.session.commit()
    url = f"/admin/users/{w.spammer.id}/restore-content"
    viewers = {
        "customer": visitor(make_user("customer")),
        "product_manager": visitor(make_user("product_manager")),
        "anonymous": visitor(),
    }
    as_admin = visitor(admin)
    for each in (*viewers.values(), as_admin):
        each.get("/")  # anything a first visit writes, written before the snapshot
    before = database_snapshot()

    for who, viewer in viewers.items():
        # With a valid token of their own session: refused for their role, not for the token.
        token = csrf_token_on(viewer, "/sign-in" if who == "anonymous" else "/account")
        response = viewer.post(url, data={"csrf_token": token})
        assert response.status_code == (302 if who == "anonymous" else 403), who
    assert as_admin.post(url).status_code == 400  # no token: a forged request
    assert as_admin.post(url, data={"csrf_token": "forged"}).status_code == 400
    assert as_admin.get(url).status_code == 405
    assert database_snapshot() == before

    page = as_admin.get(f"/admin/users/{w.spammer.id}").get_data(as_text=True)
    form = page[page.index(f'action="{url}"') :]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)[1]
    assert as_admin.post(url, data={"csrf_token": token}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Idea, w.s).hidden_at is None


def test_the_queue_offers_suspension_only_for_authors_not_yet_suspended(
    client, login_as, make_user, make_idea
):
    from portal.services import reports

    reporter = make_user()
    active = make_user(display_name="Ann Active")
    banned = make_user(display_name="Ben Banned")
    for author in (active, banned):
        idea = make_idea(f"An idea by {author.display_name}", author=author)
        reports.report(reporter, reason="spam", idea=idea)
    banned.suspended_at, banned.suspension_reason = utcnow(), "Spam"
    db.session.commit()
    login_as("admin")
    page = page_text(client.get("/admin/moderation"))
    assert "Ann Active's account (suspend)" in page
    assert "Ben Banned's account (suspended)" in page
    assert "Ben Banned's account (suspend)" not in page
