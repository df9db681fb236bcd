"""Releases: drafts the team writes, publishing that ships ideas and tells each follower once,
and the public changelog with its feed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.mail.preferences import OFF, save_preference
from portal.models import (
    AuditEvent,
    Idea,
    Notification,
    NotificationKind,
    OutboxMessage,
    Release,
    ReleaseIdea,
    ReleaseStatus,
    StageChange,
)
from portal.models.types import utcnow
from portal.permissions import PermissionDenied
from portal.services import outcomes, pipeline, releases, votes
from portal.services.errors import InvalidInput

from .conftest import sign_in_client
from .helpers import XSS, assert_inert, page_text

ATOM = "{http://www.w3.org/2005/Atom}"
NOTE = "Scheduled exports are here: pick a report, a time and the people who get it."
MOVE_NOTE = "Released in version 4.2 for every customer; tell us whether it helps you."


@pytest.fixture
def pm(make_user):
    return make_user("product_manager", display_name="Priya PM")


@pytest.fixture
def two_ideas(make_idea):
    return (
        make_idea("Schedule report exports", stage="in_progress"),
        make_idea("Email reports to my team", stage="planned"),
    )


@pytest.fixture
def draft(pm, two_ideas):
    release = releases.save_draft(
        None,
        actor=pm,
        ip=None,
        title="Spring update",
        note=NOTE,
        idea_ids=[i.id for i in two_ideas],
    )
    db.session.commit()
    return release


def fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def notifications_of(user_id: int) -> list[Notification]:
    return list(
        db.session.scalars(select(Notification).where(Notification.user_id == user_id)).unique()
    )


def follow(idea: Idea, user) -> None:
    votes.cast_vote(fresh(Idea, idea.id), user)
    db.session.commit()


# --- Publishing --------------------------------------------------------------------------------


def test_publishing_moves_every_idea_to_shipped_with_the_note_on_its_timeline(
    client, pm, draft, two_ideas, stages
):
    sign_in_client(client, pm)
    response = client.post(f"/team/releases/{draft.id}/publish")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/shipped/releases/{draft.id}")
    for idea in two_ideas:
        idea = fresh(Idea, idea.id)
        assert idea.stage.slug == "shipped"
        change = db.session.scalars(
            select(StageChange)
            .where(StageChange.idea_id == idea.id)
            .order_by(StageChange.id.desc())
            .limit(1)
        ).one()
        assert change.to_stage_id == stages["shipped"].id
        assert "Spring update" in change.note and NOTE in change.note
        assert change.actor_id == pm.id
    release = fresh(Release, draft.id)
    assert release.status == ReleaseStatus.PUBLISHED
    assert release.published_by_id == pm.id and release.published_at is not None


def test_each_follower_hears_once_per_release_however_many_of_its_ideas_they_follow(
    client, pm, draft, two_ideas, make_user, outbox
):
    both = make_user(display_name="Follows Both")
    one = make_user(display_name="Follows One")
    follow(two_ideas[0], both)
    follow(two_ideas[1], both)
    follow(two_ideas[1], one)
    follow(two_ideas[0], pm)  # the PM publishing it is not told of their own release

    sign_in_client(client, pm)
    assert client.post(f"/team/releases/{draft.id}/publish").status_code == 303

    (n_both,) = notifications_of(both.id)
    (n_one,) = notifications_of(one.id)
    assert notifications_of(pm.id) == []
    assert n_both.release_id == n_one.release_id == draft.id
    assert n_both.kind == n_one.kind == NotificationKind.OUTCOME_QUESTION
    assert n_both.idea_id == min(i.id for i in two_ideas)  # the first they follow
    assert n_one.idea_id == two_ideas[1].id
    # Both authors follow their own idea too: everyone hears exactly once.
    per_person = db.session.execute(
        select(Notification.user_id, func.count())
        .where(Notification.release_id == draft.id)
        .group_by(Notification.user_id)
    ).all()
    assert per_person and all(count == 1 for _, count in per_person)
    assert {user for user, _ in per_person} == {
        both.id,
        one.id,
        two_ideas[0].author_id,
        two_ideas[1].author_id,
    }

    (mail,) = outbox.to(both.email)
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert str(mail["Subject"]).startswith("Shipped in Spring update: “Schedule report exports”")
    assert "and 1 more idea you follow" in text
    assert NOTE in text
    assert "did it meet your need?" in text
    assert "/account/outcome/" in text or "outcome" in text  # the one-click answers
    assert f"/shipped/releases/{draft.id}" in text
    assert len(outbox.to(one.email)) == 1


def test_a_follower_who_turned_the_question_off_is_told_of_the_release_instead(
    pm, draft, two_ideas, make_user
):
    quiet = make_user()
    follow(two_ideas[0], quiet)
    save_preference(quiet, NotificationKind.OUTCOME_QUESTION, OFF)
    db.session.commit()
    releases.publish(fresh(Release, draft.id), actor=pm, ip=None)
    db.session.commit()
    (n,) = notifications_of(quiet.id)
    assert n.kind == NotificationKind.STAGE_CHANGE and n.release_id == draft.id


def test_followers_answer_the_outcome_question_about_the_ideas_it_shipped(
    client, pm, draft, two_ideas, make_user
):
    customer = make_user()
    follow(two_ideas[0], customer)
    releases.publish(fresh(Release, draft.id), actor=pm, ip=None)
    db.session.commit()
    sign_in_client(client, customer)
    response = client.post(f"/ideas/{two_ideas[0].id}/outcome", data={"answer": "yes"})
    assert response.status_code == 303
    idea = fresh(Idea, two_ideas[0].id)
    assert outcomes.own_answer(idea, customer).answer == "yes"
    (n,) = notifications_of(customer.id)
    assert n.read_at is not None  # answering marks the question read


def test_ideas_shipped_already_stay_put_and_their_followers_are_not_told_again(
    pm, make_idea, make_user, stages
):
    old = make_idea("Dark mode", stage="in_progress")
    fan = make_user()
    follow(old, fan)
    pipeline.move_stage(fresh(Idea, old.id), stages["shipped"], actor=pm, note=MOVE_NOTE, ip=None)
    db.session.commit()
    before = len(notifications_of(fan.id))
    fresh_idea = make_idea("High contrast theme", stage="planned")
    release = releases.save_draft(
        None, actor=pm, ip=None, title="Themes", note=NOTE, idea_ids=[old.id, fresh_idea.id]
    )
    result = releases.publish(release, actor=pm, ip=None)
    db.session.commit()
    assert [i.id for i in result.moved] == [fresh_idea.id]
    assert [i.id for i in result.already_shipped] == [old.id]
    assert len(notifications_of(fan.id)) == before
    changes = db.session.scalar(
        select(func.count()).select_from(StageChange).where(StageChange.idea_id == old.id)
    )
    assert changes == 1  # no second move to Shipped


def test_publishing_is_audited_as_a_sentence_about_named_ideas(pm, draft, two_ideas):
    releases.publish(fresh(Release, draft.id), actor=pm, ip="203.0.113.9")
    db.session.commit()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "release.published"))
    assert event.actor_id == pm.id and event.target_type == "releases"
    assert event.target_id == draft.id and event.ip == "203.0.113.9"
    assert event.detail["release"] == "Spring update"
    assert sorted(event.detail["shipped"]) == sorted(i.title for i in two_ideas)


@pytest.mark.parametrize(
    ("note", "ideas", "message"),
    [
        ("Too short", True, "Write a release note of at least 20 characters"),
        (NOTE, False, "Link at least one idea"),
    ],
)
def test_an_incomplete_draft_is_not_published_and_nothing_changes(
    client, pm, two_ideas, note, ideas, message
):
    release = releases.save_draft(
        None,
        actor=pm,
        ip=None,
        title="Half written",
        note=note,
        idea_ids=[two_ideas[0].id] if ideas else [],
    )
    db.session.commit()
    sign_in_client(client, pm)
    response = client.post(f"/team/releases/{release.id}/publish", follow_redirects=True)
    assert message in page_text(response)
    assert fresh(Release, release.id).status == ReleaseStatus.DRAFT
    assert fresh(Idea, two_ideas[0].id).stage.slug == "in_progress"
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_a_hidden_idea_stops_the_release_with_its_name(pm, draft, two_ideas):
    fresh(Idea, two_ideas[1].id).hidden_at = utcnow()
    db.session.commit()
    with pytest.raises(InvalidInput, match="“Email reports to my team” is hidden"):
        releases.publish(fresh(Release, draft.id), actor=pm, ip=None)
    db.session.rollback()
    assert fresh(Idea, two_ideas[0].id).stage.slug == "in_progress"  # all or nothing


def test_a_release_is_published_once(pm, draft, make_user):
    releases.publish(fresh(Release, draft.id), actor=pm, ip=None)
    db.session.commit()
    with pytest.raises(InvalidInput, match="already published"):
        releases.publish(fresh(Release, draft.id), actor=make_user("admin"), ip=None)


def test_customers_cannot_publish(make_user, draft):
    with pytest.raises(PermissionDenied):
        releases.publish(fresh(Release, draft.id), actor=make_user(), ip=None)


def test_correcting_a_published_note_notifies_nobody_and_keeps_its_ideas(
    client, pm, draft, two_ideas
):
    releases.publish(fresh(Release, draft.id), actor=pm, ip=None)
    db.session.commit()
    count = db.session.scalar(select(func.count()).select_from(Notification))
    sign_in_client(client, pm)
    response = client.post(
        f"/team/releases/{draft.id}",
        data={"title": "Spring update", "note": NOTE + " Now in every plan.", "idea_ids": []},
    )
    assert response.status_code == 303
    assert fresh(Release, draft.id).note.endswith("Now in every plan.")
    linked = db.session.scalars(
        select(ReleaseIdea.idea_id).where(ReleaseIdea.release_id == draft.id)
    )
    assert sorted(linked) == sorted(i.id for i in two_ideas)
    assert db.session.scalar(select(func.count()).select_from(Notification)) == count


# --- Writing drafts ---------------------------------------------------------------------------


def test_a_pm_writes_a_draft_finding_ideas_by_title(client, pm, two_ideas, make_idea):
    make_idea("Declined idea about reports", stage="declined")
    sign_in_client(client, pm)
    form = {"title": "Reporting release", "note": NOTE, "q": "report", "action": "search"}
    response = client.post("/team/releases/new", data=form)
    text = page_text(response)
    assert response.status_code == 200
    assert "Schedule report exports" in text and "Email reports to my team" in text
    assert "Declined idea about reports" not in text  # closed ideas cannot be shipped
    assert "Reporting release" in text and NOTE in text  # what was typed is kept
    assert db.session.scalar(select(func.count()).select_from(Release)) == 0

    form = {"title": "Reporting release", "note": NOTE, "idea_ids": [str(two_ideas[1].id)]}
    response = client.post("/team/releases/new", data=form)
    assert response.status_code == 303
    release = db.session.scalars(select(Release)).one()
    assert response.headers["Location"].endswith(f"/team/releases/{release.id}")
    assert release.status == ReleaseStatus.DRAFT and release.author_id == pm.id
    assert [i.id for i in releases.ideas_of([release.id])[release.id]] == [two_ideas[1].id]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "release.drafted"))
    assert event.detail["ideas"] == ["Email reports to my team"]


def test_a_bad_title_is_refused_and_everything_typed_and_ticked_is_kept(client, pm, two_ideas):
    sign_in_client(client, pm)
    response = client.post(
        "/team/releases/new",
        data={"title": "x", "note": NOTE, "idea_ids": [str(two_ideas[0].id)]},
    )
    text = page_text(response)
    assert response.status_code == 400
    assert "Give the release a title of 3 to 120 characters" in text
    assert NOTE in text
    assert f'value="{two_ideas[0].id}" id="idea-{two_ideas[0].id}" checked' in (
        response.get_data(as_text=True)
    )
    assert db.session.scalar(select(func.count()).select_from(Release)) == 0


def test_a_hidden_idea_cannot_be_linked(client, pm, make_idea):
    hidden = make_idea("Secret idea")
    hidden.hidden_at = utcnow()
    db.session.commit()
    with pytest.raises(InvalidInput, match=f"#{hidden.id}"):
        releases.save_draft(
            None, actor=pm, ip=None, title="Sneaky", note=NOTE, idea_ids=[hidden.id]
        )


def test_preview_shows_the_rendered_note_without_saving(client, pm, draft):
    sign_in_client(client, pm)
    response = client.post(
        f"/team/releases/{draft.id}",
        data={"title": "Spring update", "note": "**Bold** news for everyone", "action": "preview"},
    )
    assert response.status_code == 200
    assert "<strong>Bold</strong> news for everyone" in response.get_data(as_text=True)
    assert fresh(Release, draft.id).note == NOTE


def test_editing_a_draft_records_what_changed(pm, draft, two_ideas):
    releases.save_draft(
        fresh(Release, draft.id),
        actor=pm,
        ip=None,
        title="Spring update 2027",
        note=NOTE,
        idea_ids=[two_ideas[0].id],
    )
    db.session.commit()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "release.edited"))
    assert event.detail["release"] == "Spring update 2027"
    assert event.detail["title"] == {"old": "Spring update", "new": "Spring update 2027"}
    assert event.detail["ideas"] == {"added": [], "removed": ["Email reports to my team"]}


def test_a_draft_can_be_deleted_but_a_published_release_cannot(client, pm, draft, make_idea):
    draft_id = draft.id
    sign_in_client(client, pm)
    assert client.post(f"/team/releases/{draft_id}/delete").status_code == 303
    assert fresh(Release, draft_id) is None
    idea = make_idea("Bulk edit", stage="planned")
    release = releases.save_draft(
        None, actor=pm, ip=None, title="Bulk", note=NOTE, idea_ids=[idea.id]
    )
    releases.publish(release, actor=pm, ip=None)
    db.session.commit()
    client.post(f"/team/releases/{release.id}/delete")
    assert fresh(Release, release.id) is not None


# --- What customers see -----------------------------------------------------------------------


def test_drafts_are_invisible_to_customers_everywhere(client, make_user, draft):
    for who in (None, make_user()):
        if who is not None:
            sign_in_client(client, who)
        assert "Spring update" not in page_text(client.get("/shipped"))
        assert "Spring update" not in page_text(client.get("/feeds/shipped.atom"))
        assert client.get(f"/shipped/releases/{draft.id}").status_code == 404
        assert client.get(f"/team/releases/{draft.id}").status_code in (302, 403)


def test_the_team_sees_a_draft_as_customers_will(client, pm, draft):
    sign_in_client(client, pm)
    text = page_text(client.get(f"/shipped/releases/{draft.id}"))
    assert "This is a draft: only the product team can see it." in text
    assert NOTE in text


def test_the_changelog_lists_releases_newest_first_and_ideas_shipped_alone(
    client, pm, draft, make_idea, stages
):
    alone = make_idea("Keyboard shortcuts", stage="in_progress")
    pipeline.move_stage(fresh(Idea, alone.id), stages["shipped"], actor=pm, note=MOVE_NOTE, ip=None)
    db.session.commit()
    releases.publish(fresh(Release, draft.id), actor=pm, ip=None)
    db.session.commit()
    response = client.get("/shipped")
    text = page_text(response)
    assert text.index("Spring update") < text.index("Keyboard shortcuts")
    assert NOTE in text and MOVE_NOTE in text
    assert "Schedule report exports" in text and "Email reports to my team" in text
    body = response.get_data(as_text=True)
    assert 'rel="alternate" type="application/atom+xml"' in body
    assert 'href="/feeds/shipped.atom"' in body


def test_the_changelog_feed_is_valid_atom_with_an_entry_per_release(client, pm, draft, make_idea):
    releases.publish(fresh(Release, draft.id), actor=pm, ip=None)
    db.session.commit()
    response = client.get("/feeds/shipped.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)  # noqa: S314 - our own output, under test
    (entry,) = feed.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == "Spring update"
    assert entry.findtext(f"{ATOM}id").endswith(f"/shipped/releases/{draft.id}")
    content = entry.findtext(f"{ATOM}content")
    assert "Scheduled exports are here" in content and "Schedule report exports" in content
    assert entry.find(f"{ATOM}author/{ATOM}name").text == "Priya PM"
    assert feed.findtext(f"{ATOM}updated") == entry.findtext(f"{ATOM}updated")


@pytest.mark.parametrize("payload", XSS)
def test_release_text_renders_inert_on_the_changelog(client, pm, make_idea, payload):
    idea = make_idea("Safe idea", stage="planned")
    release = releases.save_draft(
        None,
        actor=pm,
        ip=None,
        title=f"Release {payload}"[:120],
        note=f"Release note with {payload} inside it",
        idea_ids=[idea.id],
    )
    releases.publish(release, actor=pm, ip=None)
    db.session.commit()
    assert_inert(client.get("/shipped").get_data(as_text=True))
    assert_inert(client.get(f"/shipped/releases/{release.id}").get_data(as_text=True))
    ET.fromstring(client.get("/feeds/shipped.atom").data)  # noqa: S314 - our own output


def test_a_hidden_idea_disappears_from_a_published_release(client, pm, draft, two_ideas):
    releases.publish(fresh(Release, draft.id), actor=pm, ip=None)
    fresh(Idea, two_ideas[1].id).hidden_at = utcnow()
    db.session.commit()
    for path in ("/shipped", f"/shipped/releases/{draft.id}", "/feeds/shipped.atom"):
        text = page_text(client.get(path))
        assert "Schedule report exports" in text
        assert "Email reports to my team" not in text, path


def test_the_changelog_takes_a_fixed_number_of_queries(client, pm, make_idea, count_queries):
    def publish_one(n: int) -> None:
        ideas = [make_idea(f"Idea {n}-{k}", stage="planned") for k in range(3)]
        release = releases.save_draft(
            None, actor=pm, ip=None, title=f"Release {n}", note=NOTE, idea_ids=[i.id for i in ideas]
        )
        releases.publish(release, actor=pm, ip=None)
        db.session.commit()

    publish_one(1)  # each write starts a new cache generation: both looks render the page
    with count_queries() as few:
        assert client.get("/shipped").status_code == 200
    for n in range(2, 6):
        publish_one(n)
    with count_queries() as many:
        assert client.get("/shipped").status_code == 200
    assert many.count == few.count


def test_release_emails_are_queued_in_the_publishing_transaction(pm, draft, two_ideas):
    releases.publish(fresh(Release, draft.id), actor=pm, ip=None)
    db.session.flush()
    queued = db.session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .join(Notification, Notification.id == OutboxMessage.notification_id)
        .where(Notification.release_id == draft.id)
    )
    assert queued == 2  # the two authors, who chose instant email for the question
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_daily_digest_reader_gets_the_release_once_in_their_digest(
    pm, draft, two_ideas, make_user
):
    from portal.mail.compose import subject
    from portal.mail.notify import queue_digests
    from portal.mail.preferences import DAILY

    reader = make_user()
    follow(two_ideas[0], reader)
    follow(two_ideas[1], reader)
    save_preference(reader, NotificationKind.OUTCOME_QUESTION, DAILY)
    db.session.commit()
    releases.publish(fresh(Release, draft.id), actor=pm, ip=None)
    db.session.commit()
    instant = db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.user_id == reader.id)
    )
    assert instant == 0
    assert queue_digests() >= 1
    db.session.commit()
    (digest,) = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.user_id == reader.id)
    ).all()
    (n,) = notifications_of(reader.id)
    assert digest.payload["notifications"] == [n.id]
    assert subject(n) == "Shipped in Spring update: “Schedule report exports”"
    assert n.message == NOTE
