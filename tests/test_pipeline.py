"""The team's pipeline: moving ideas between stages and merging duplicates, with notes for all."""

from __future__ import annotations

import html
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import (
    AuditEvent,
    Follow,
    Idea,
    Notification,
    NotificationKind,
    StageChange,
    Vote,
)
from portal.models.types import utcnow
from portal.permissions import PermissionDenied
from portal.services import pipeline, trending, votes
from portal.services.errors import DomainError, InvalidInput

from .conftest import sign_in_client
from .helpers import page_text

NOTE = "We are sizing this with three customers and will report back next month."
MERGE_NOTE = "Same need as the Excel export idea; please follow the conversation there."
NOTE_TOO_SHORT = "Write the people following this idea a note of at least 20 characters"
CLOSED = "Voting is closed on this idea. The votes it had still count."


def form_html(response, action: str) -> str:
    """The HTML of the form on the page that posts to `action`."""
    page = response.get_data(as_text=True)
    start = page.index(f'action="{action}"')
    return page[start : page.index("</form>", start)]


def textarea_value(form: str, name: str) -> str:
    match = re.search(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', form, re.S)
    assert match, f"no textarea {name!r} in the form"
    return html.unescape(match.group(1)).strip()


def fresh(idea_id: int) -> Idea:
    db.session.expire_all()
    return db.session.get(Idea, idea_id)


def voters(idea_id: int) -> set[int]:
    return set(db.session.scalars(select(Vote.user_id).where(Vote.idea_id == idea_id)))


def followers(idea_id: int) -> set[int]:
    return set(db.session.scalars(select(Follow.user_id).where(Follow.idea_id == idea_id)))


def notes(kind: str, idea_id: int) -> dict[int, str]:
    """user id -> message of the notifications of this kind about this idea."""
    rows = db.session.execute(
        select(Notification.user_id, Notification.message).where(
            Notification.kind == kind, Notification.idea_id == idea_id
        )
    ).all()
    assert len(rows) == len({user_id for user_id, _ in rows}), "someone was notified twice"
    return dict(rows)


def audit_rows(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).unique()
    )


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def snapshot(*idea_ids: int) -> dict:
    """Everything a move or a merge could change, to prove that a refusal changed nothing."""
    db.session.expire_all()
    state = {
        "stage_changes": count(StageChange),
        "notifications": count(Notification),
        "audit": count(AuditEvent),
    }
    for idea_id in idea_ids:
        idea = db.session.get(Idea, idea_id)
        state[idea_id] = (
            idea.stage_id,
            idea.merged_into_id,
            idea.vote_count,
            idea.trending_score,
            idea.first_response_at,
            idea.last_activity_at,
            voters(idea_id),
            followers(idea_id),
        )
    return state


def move(client, idea_id: int, stage_id, note: str = NOTE, **extra):
    return client.post(
        f"/ideas/{idea_id}/move", data={"stage_id": str(stage_id), "note": note, **extra}
    )


def merge(client, source_id: int, target_id, note: str = MERGE_NOTE):
    return client.post(
        f"/ideas/{source_id}/merge", data={"target_id": str(target_id), "note": note}
    )


@pytest.fixture
def team_member(client, make_user):
    """A signed-in product manager."""
    pm = make_user("product_manager", display_name="Priya Product")
    sign_in_client(client, pm)
    return pm


@pytest.fixture
def idea(make_user, make_idea):
    """A new idea with an author, a voter, a plain follower, and a voter who stopped following."""
    people = SimpleNamespace(
        author=make_user(display_name="Ada Author"),
        voter=make_user(display_name="Vic Voter"),
        follower=make_user(display_name="Fay Follower"),
        lapsed=make_user(display_name="Lee Lapsed"),
        stranger=make_user(display_name="Sam Stranger"),
    )
    idea = make_idea("Export reports to Excel", author=people.author)
    votes.cast_vote(idea, people.voter)
    votes.follow(idea, people.follower)
    votes.cast_vote(idea, people.lapsed)
    votes.unfollow(idea, people.lapsed)
    db.session.commit()
    idea.people = people
    return idea


@pytest.fixture
def duplicates(make_user, make_idea):
    """A (kept) and B (the duplicate). One person voted for both; B has its own voter and follower.

    A's voters: author_a, voter_a, both.  B's voters: author_b, both, voter_b.
    B's followers: author_b, both, voter_b, follower_b.
    """
    p = SimpleNamespace(
        author_a=make_user(display_name="Ann A"),
        author_b=make_user(display_name="Bob B"),
        voter_a=make_user(display_name="Val A"),
        voter_b=make_user(display_name="Vin B"),
        both=make_user(display_name="Bo Both"),
        follower_b=make_user(display_name="Flo B"),
    )
    a = make_idea("Export reports to Excel", author=p.author_a)
    b = make_idea(
        "Download the monthly report as a spreadsheet",
        author=p.author_b,
        problem="Finance retypes the report into a spreadsheet every month.",
    )
    votes.cast_vote(a, p.voter_a)
    votes.cast_vote(a, p.both)
    votes.cast_vote(b, p.both)
    votes.cast_vote(b, p.voter_b)
    votes.follow(b, p.follower_b)
    db.session.commit()
    return SimpleNamespace(a=a, b=b, a_id=a.id, b_id=b.id, people=p)


# ---------------------------------------------------------------------------------------------
# Who may move and merge


@pytest.mark.parametrize("role", ["product_manager", "admin"])
def test_team_members_see_the_team_panel(client, login_as, idea, stages, role):
    login_as(role)
    response = client.get(f"/ideas/{idea.id}")
    assert response.status_code == 200
    page = page_text(response)
    assert "For the team" in page
    move_form = form_html(response, f"/ideas/{idea.id}/move")
    offered = re.findall(r'<option[^>]*value="(\d+)"', move_form)
    expected = [
        str(s.id) for s in stages.values() if s.slug not in ("new", "merged") and not s.retired
    ]
    assert sorted(offered, key=int) == sorted(expected, key=int)
    assert f'action="/ideas/{idea.id}/merge"' in page


@pytest.mark.parametrize("role", [None, "customer"])
def test_customers_and_visitors_see_no_team_panel(client, login_as, idea, role):
    if role:
        login_as(role)
    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "For the team" not in page
    assert f'action="/ideas/{idea.id}/move"' not in page
    assert f'action="/ideas/{idea.id}/merge"' not in page


def test_team_panel_fields_have_unique_ids(client, team_member, idea):
    """Two fields with one id break the labels and the error links of both forms."""
    page = client.get(f"/ideas/{idea.id}").get_data(as_text=True)
    ids = re.findall(r'\sid="([^"]+)"', page)
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    assert duplicated == []


def test_customer_cannot_move_stage(client, login_as, idea, stages):
    before = snapshot(idea.id)
    login_as("customer")
    assert move(client, idea.id, stages["planned"].id).status_code == 403
    assert snapshot(idea.id) == before


def test_author_cannot_move_their_own_idea(client, idea, stages):
    sign_in_client(client, idea.people.author)
    before = snapshot(idea.id)
    assert move(client, idea.id, stages["shipped"].id).status_code == 403
    assert snapshot(idea.id) == before


def test_anonymous_move_goes_to_sign_in(client, idea, stages):
    before = snapshot(idea.id)
    response = move(client, idea.id, stages["planned"].id)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")
    assert snapshot(idea.id) == before


def test_customer_cannot_merge(client, login_as, duplicates):
    before = snapshot(duplicates.a_id, duplicates.b_id)
    login_as("customer")
    assert merge(client, duplicates.b_id, duplicates.a_id).status_code == 403
    assert snapshot(duplicates.a_id, duplicates.b_id) == before


def test_anonymous_merge_goes_to_sign_in(client, duplicates):
    before = snapshot(duplicates.a_id, duplicates.b_id)
    response = merge(client, duplicates.b_id, duplicates.a_id)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")
    assert snapshot(duplicates.a_id, duplicates.b_id) == before


def test_services_refuse_customers(make_user, idea, duplicates, stages):
    customer = make_user("customer")
    before = snapshot(idea.id, duplicates.a_id, duplicates.b_id)
    with pytest.raises(PermissionDenied):
        pipeline.move_stage(idea, stages["planned"], actor=customer, note=NOTE, ip=None)
    db.session.rollback()
    with pytest.raises(PermissionDenied):
        pipeline.move_many([idea], stages["planned"], actor=customer, note=NOTE, ip=None)
    db.session.rollback()
    with pytest.raises(PermissionDenied):
        pipeline.merge_ideas(duplicates.b, duplicates.a, actor=customer, note=MERGE_NOTE, ip=None)
    db.session.rollback()
    assert snapshot(idea.id, duplicates.a_id, duplicates.b_id) == before


# ---------------------------------------------------------------------------------------------
# Moving


@pytest.mark.parametrize("role", ["product_manager", "admin"])
def test_team_member_moves_an_idea(client, login_as, idea, stages, role):
    login_as(role)
    response = move(client, idea.id, stages["under_review"].id)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/ideas/{idea.id}"
    page = page_text(client.get(response.headers["Location"]))
    assert "Moved. Everyone following the idea is notified with your note." in page
    assert fresh(idea.id).stage_id == stages["under_review"].id


@pytest.mark.parametrize("note", ["ok", " " * 30, "a note of 19 chars.", "  padded but short  "])
def test_a_short_note_is_refused_and_the_typed_note_kept(client, team_member, idea, stages, note):
    before = snapshot(idea.id)
    response = move(client, idea.id, stages["planned"].id, note=note)
    assert response.status_code == 400
    move_form = form_html(response, f"/ideas/{idea.id}/move")
    assert textarea_value(move_form, "note") == note.strip()
    assert re.search(rf'<option selected value="{stages["planned"].id}">Planned<', move_form)
    if note.strip():
        assert NOTE_TOO_SHORT in html.unescape(move_form)
    else:
        assert 'class="field__error"' in move_form
    assert snapshot(idea.id) == before


def test_a_note_of_twenty_characters_is_enough(client, team_member, idea, stages):
    note = "Twenty characters ok"
    assert len(note) == 20
    assert move(client, idea.id, stages["planned"].id, note=note).status_code == 303
    assert fresh(idea.id).stage_id == stages["planned"].id


@pytest.mark.parametrize("slug", ["new", "merged"])
def test_moving_to_the_current_stage_or_to_merged_is_refused(
    client, team_member, idea, stages, slug
):
    before = snapshot(idea.id)
    response = move(client, idea.id, stages[slug].id)
    assert response.status_code == 400
    assert "Choose one of the listed stages." in page_text(response)
    assert snapshot(idea.id) == before

    with pytest.raises(pipeline.InvalidTransition):
        pipeline.move_stage(
            fresh(idea.id), stages[slug], actor=team_member, note=NOTE, ip="127.0.0.1"
        )
    db.session.rollback()
    assert snapshot(idea.id) == before


@pytest.mark.parametrize("stage_id", ["", "abc", "999999", "-1"])
def test_moving_to_an_unknown_stage_is_refused(client, team_member, idea, stage_id):
    before = snapshot(idea.id)
    response = move(client, idea.id, stage_id)
    assert response.status_code == 400
    assert "Choose one of the listed stages." in page_text(response)
    assert snapshot(idea.id) == before


def test_moving_to_a_retired_stage_is_refused(client, team_member, idea, stages):
    stages["planned"].retired = True
    db.session.commit()
    assert stages["planned"] not in pipeline.allowed_targets(fresh(idea.id))
    before = snapshot(idea.id)
    assert move(client, idea.id, stages["planned"].id).status_code == 400
    assert snapshot(idea.id) == before


def test_a_move_appears_on_the_public_timeline(client, team_member, idea, stages):
    assert move(client, idea.id, stages["under_review"].id).status_code == 303
    visitor = client.application.test_client()  # someone who is not signed in
    page = page_text(visitor.get(f"/ideas/{idea.id}"))
    assert "Timeline" in page
    assert "New → Under review" in page
    assert NOTE in page
    assert "by Priya Product" in page

    rows = db.session.scalars(select(StageChange).where(StageChange.idea_id == idea.id)).all()
    assert [(r.from_stage_id, r.to_stage_id, r.note, r.actor_id) for r in rows] == [
        (stages["new"].id, stages["under_review"].id, NOTE, team_member.id)
    ]


def test_a_move_notifies_every_follower_but_the_actor(client, team_member, idea, stages):
    votes.cast_vote(idea, team_member)  # the actor follows too, and hears nothing of their move
    db.session.commit()
    assert move(client, idea.id, stages["planned"].id).status_code == 303

    people = idea.people
    received = notes(NotificationKind.STAGE_CHANGE, idea.id)
    assert set(received) == {people.author.id, people.voter.id, people.follower.id}
    for message in received.values():
        assert NOTE in message
        assert "Planned" in message

    sign_in_client(client, people.voter)
    page = page_text(client.get("/notifications"))
    assert NOTE in page


def test_the_author_cannot_edit_after_the_team_moves_it(client, team_member, idea, stages):
    author = idea.people.author
    assert fresh(idea.id).first_response_at is None
    assert move(client, idea.id, stages["under_review"].id).status_code == 303
    assert fresh(idea.id).first_response_at is not None

    sign_in_client(client, author)
    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "Edit idea" not in page
    assert client.get(f"/ideas/{idea.id}/edit").status_code == 403
    response = client.post(
        f"/ideas/{idea.id}/edit",
        data={"title": "Export everything to Excel", "problem": "Moved goalposts."},
    )
    assert response.status_code == 403
    assert fresh(idea.id).title == "Export reports to Excel"


def test_a_move_is_audited_with_both_stage_names(client, team_member, idea, stages):
    assert move(client, idea.id, stages["planned"].id).status_code == 303
    (event,) = audit_rows("idea.stage_changed")
    assert event.actor_id == team_member.id
    assert event.ip == "127.0.0.1"
    assert (event.target_type, event.target_id) == ("ideas", idea.id)
    assert event.detail == {"old": "New", "new": "Planned"}


def test_moving_again_records_each_step(client, team_member, idea, stages):
    assert move(client, idea.id, stages["planned"].id).status_code == 303
    shipped = move(client, idea.id, stages["shipped"].id, note="Released in version 4.2 today.")
    assert shipped.status_code == 303
    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert page.index("New → Planned") < page.index("Planned → Shipped")
    assert [(e.detail["old"], e.detail["new"]) for e in audit_rows("idea.stage_changed")] == [
        ("New", "Planned"),
        ("Planned", "Shipped"),
    ]


def test_move_many_moves_all_with_one_note(make_user, make_idea, stages):
    pm = make_user("product_manager")
    batch = [make_idea(f"Idea number {n} for the batch") for n in range(3)]
    pipeline.move_many(batch, stages["declined"], actor=pm, note=NOTE, ip="10.0.0.1")
    db.session.commit()

    for item in batch:
        assert fresh(item.id).stage_id == stages["declined"].id
        # Closed: the outcome question, carrying the note (one message per person).
        assert notes(NotificationKind.OUTCOME_QUESTION, item.id) == {
            item.author_id: f"Now Declined: {NOTE}"
        }
    changes = db.session.scalars(select(StageChange)).all()
    assert sorted(c.idea_id for c in changes) == sorted(i.id for i in batch)
    assert {c.note for c in changes} == {NOTE}
    assert sorted(e.target_id for e in audit_rows("idea.stage_changed")) == sorted(
        i.id for i in batch
    )


@pytest.mark.parametrize("reason", ["already_there", "short_note"])
def test_move_many_moves_none_if_one_cannot_move(make_user, make_idea, stages, reason):
    pm = make_user("product_manager")
    batch = [make_idea(f"Idea number {n} for the batch") for n in range(3)]
    note = NOTE
    if reason == "already_there":
        batch[-1].stage = stages["planned"]  # the last one cannot move to where it already is
    else:
        note = "too short"
    db.session.commit()
    ids = [i.id for i in batch]
    before = snapshot(*ids)

    # As a view would: one transaction, rolled back when the service refuses.
    with pytest.raises(DomainError):
        pipeline.move_many(batch, stages["planned"], actor=pm, note=note, ip=None)
    db.session.rollback()

    assert snapshot(*ids) == before
    assert count(StageChange) == 0
    assert count(Notification) == 0


# ---------------------------------------------------------------------------------------------
# Merging


def test_merging_moves_votes_and_counts_a_double_voter_once(client, team_member, duplicates):
    p = duplicates.people
    response = merge(client, duplicates.b_id, duplicates.a_id)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/ideas/{duplicates.a_id}#merged-{duplicates.b_id}"
    page = page_text(client.get(response.headers["Location"]))
    assert "Merged. Votes and followers moved, and the followers are notified." in page

    a, b = fresh(duplicates.a_id), fresh(duplicates.b_id)
    assert voters(a.id) == {p.author_a.id, p.voter_a.id, p.both.id, p.author_b.id, p.voter_b.id}
    assert a.vote_count == len(voters(a.id)) == 5
    assert b.vote_count == 0
    assert voters(b.id) == set()
    assert "Supported by 5 people." in page


def test_merging_makes_the_duplicates_followers_follow_the_kept_idea(
    client, team_member, duplicates
):
    p = duplicates.people
    b_followers = followers(duplicates.b_id)
    assert b_followers == {p.author_b.id, p.both.id, p.voter_b.id, p.follower_b.id}
    assert merge(client, duplicates.b_id, duplicates.a_id).status_code == 303
    assert followers(duplicates.a_id) == b_followers | {p.author_a.id, p.voter_a.id}

    sign_in_client(client, p.follower_b)
    assert "Following ✓" in page_text(client.get(f"/ideas/{duplicates.a_id}"))


def test_a_merged_idea_is_closed_and_points_to_the_kept_one(
    client, team_member, duplicates, stages
):
    assert merge(client, duplicates.b_id, duplicates.a_id).status_code == 303
    b = fresh(duplicates.b_id)
    assert b.stage_id == stages["merged"].id
    assert b.merged_into_id == duplicates.a_id
    assert b.first_response_at is not None

    response = client.get(f"/ideas/{duplicates.b_id}")
    page = page_text(response)
    assert "This idea was merged into" in page
    assert re.search(
        rf'This idea was merged into\s*<a href="/ideas/{duplicates.a_id}">',
        response.get_data(as_text=True),
    )
    assert "New → Merged" in page
    assert MERGE_NOTE in page
    assert "by Priya Product" in page
    assert f'action="/ideas/{duplicates.b_id}/merge"' not in page  # nothing left to merge


def test_a_merged_idea_takes_no_more_votes(client, make_user, team_member, duplicates):
    assert merge(client, duplicates.b_id, duplicates.a_id).status_code == 303
    a_votes = fresh(duplicates.a_id).vote_count
    latecomer = make_user()
    sign_in_client(client, latecomer)

    response = client.post(f"/ideas/{duplicates.b_id}/vote", data={"action": "vote"})
    assert response.status_code == 303
    assert CLOSED in page_text(client.get(response.headers["Location"]))
    assert fresh(duplicates.b_id).vote_count == 0
    assert voters(duplicates.b_id) == set()
    assert fresh(duplicates.a_id).vote_count == a_votes

    with pytest.raises(votes.VotingClosed):
        votes.cast_vote(fresh(duplicates.b_id), latecomer)
    db.session.rollback()


def test_a_merged_idea_cannot_be_moved_back_to_take_votes(
    client, make_user, team_member, duplicates, stages
):
    """A merged idea keeps its link and its closed vote: its votes already live on the other."""
    assert merge(client, duplicates.b_id, duplicates.a_id).status_code == 303
    move(client, duplicates.b_id, stages["under_review"].id)
    sign_in_client(client, make_user())
    client.post(f"/ideas/{duplicates.b_id}/vote", data={"action": "vote"})
    b = fresh(duplicates.b_id)
    # Never both "merged into A" and open for votes that A will never see.
    if b.merged_into_id is not None:
        assert b.stage_id == stages["merged"].id
        assert voters(duplicates.b_id) == set()


def test_merging_notifies_everyone_who_followed_the_duplicate_but_the_actor(
    client, team_member, duplicates
):
    p = duplicates.people
    votes.cast_vote(duplicates.b, team_member)
    db.session.commit()
    assert merge(client, duplicates.b_id, duplicates.a_id).status_code == 303

    received = notes(NotificationKind.MERGED, duplicates.b_id)
    assert set(received) == {p.author_b.id, p.both.id, p.voter_b.id, p.follower_b.id}
    for message in received.values():
        assert MERGE_NOTE in message
        assert "Export reports to Excel" in message
    # The kept idea's own followers were not told about someone else's duplicate.
    assert notes(NotificationKind.MERGED, duplicates.a_id) == {}

    sign_in_client(client, p.follower_b)
    assert MERGE_NOTE in page_text(client.get("/notifications"))


def test_merging_into_a_shipped_idea_still_moves_the_votes(client, team_member, duplicates, stages):
    a = fresh(duplicates.a_id)
    a.stage = stages["shipped"]
    db.session.commit()
    assert merge(client, duplicates.b_id, duplicates.a_id).status_code == 303
    a, b = fresh(duplicates.a_id), fresh(duplicates.b_id)
    assert a.stage_id == stages["shipped"].id
    assert a.vote_count == len(voters(a.id)) == 5
    assert (b.vote_count, voters(b.id), b.merged_into_id) == (0, set(), a.id)


def test_a_merge_is_audited_with_the_votes_moved(client, team_member, duplicates):
    assert merge(client, duplicates.b_id, duplicates.a_id).status_code == 303
    (event,) = audit_rows("idea.merged")
    assert event.actor_id == team_member.id
    assert event.ip == "127.0.0.1"
    assert (event.target_type, event.target_id) == ("ideas", duplicates.b_id)
    assert event.detail == {
        "into": duplicates.a_id,
        "votes_moved": 2,
        "summary": f"Merged “Download the monthly report as a spreadsheet” (#{duplicates.b_id}) "
        f"into “Export reports to Excel” (#{duplicates.a_id}): 2 votes moved.",
    }


def test_merging_raises_the_kept_ideas_trending_score_by_the_moved_votes(team_member, duplicates):
    a_before = fresh(duplicates.a_id).trending_score
    moved_at = db.session.scalars(
        select(Vote.created_at).where(
            Vote.idea_id == duplicates.b_id, Vote.user_id != duplicates.people.both.id
        )
    ).all()
    assert len(moved_at) == 2
    gained = sum(trending.weight_at(trending.VOTE_WEIGHT, when) for when in moved_at)

    pipeline.merge_ideas(
        fresh(duplicates.b_id),
        fresh(duplicates.a_id),
        actor=team_member,
        note=MERGE_NOTE,
        ip=None,
    )
    db.session.commit()

    a_after = fresh(duplicates.a_id).trending_score
    assert a_after > a_before
    assert a_after == pytest.approx(a_before + gained, rel=1e-9)


# ---------------------------------------------------------------------------------------------
# Merges that are refused


def assert_merge_refused(client, source_id, target, message, *ideas):
    before = snapshot(*ideas)
    response = merge(client, source_id, target)
    assert response.status_code == 400
    assert message in page_text(response)
    assert snapshot(*ideas) == before


def test_merging_an_idea_into_itself_is_refused(client, team_member, duplicates):
    assert_merge_refused(
        client,
        duplicates.b_id,
        duplicates.b_id,
        "An idea cannot be merged into itself.",
        duplicates.a_id,
        duplicates.b_id,
    )


def test_merging_into_an_already_merged_idea_is_refused(client, team_member, make_idea, duplicates):
    c = make_idea("Excel export please")
    assert merge(client, c.id, duplicates.a_id).status_code == 303
    assert_merge_refused(
        client,
        duplicates.b_id,
        c.id,
        "That idea was itself merged; merge into the idea it was merged into.",
        duplicates.a_id,
        duplicates.b_id,
        c.id,
    )


def test_merging_an_already_merged_idea_again_is_refused_with_a_message(
    client, team_member, make_idea, duplicates
):
    c = make_idea("Spreadsheet export of reports")
    assert merge(client, duplicates.b_id, duplicates.a_id).status_code == 303
    assert_merge_refused(
        client,
        duplicates.b_id,
        c.id,
        "has already been merged.",
        duplicates.a_id,
        duplicates.b_id,
        c.id,
    )


def test_services_refuse_merging_from_or_into_a_merged_idea(team_member, make_idea, duplicates):
    c = make_idea("Spreadsheet export of reports")
    pipeline.merge_ideas(duplicates.b, duplicates.a, actor=team_member, note=MERGE_NOTE, ip=None)
    db.session.commit()
    before = snapshot(duplicates.a_id, duplicates.b_id, c.id)
    with pytest.raises(pipeline.InvalidTransition):
        pipeline.merge_ideas(
            fresh(duplicates.b_id), fresh(c.id), actor=team_member, note=MERGE_NOTE, ip=None
        )
    db.session.rollback()
    with pytest.raises(InvalidInput):
        pipeline.merge_ideas(
            fresh(c.id), fresh(duplicates.b_id), actor=team_member, note=MERGE_NOTE, ip=None
        )
    db.session.rollback()
    assert snapshot(duplicates.a_id, duplicates.b_id, c.id) == before


HIDDEN_TARGET = "That idea is hidden by moderators, so the people following this one could not"
PENDING_TARGET = "That idea is still waiting for a moderator's approval"


def hide_for_test(idea_id: int, *, pending: bool = False) -> None:
    """Hidden by a moderator, or (pending) held for pre-moderation, as those services leave it."""
    idea = fresh(idea_id)
    idea.hidden_at = utcnow()
    if pending:
        idea.awaiting_approval = True
    else:
        idea.hidden_reason = "Advertising"
    db.session.commit()


@pytest.mark.parametrize(
    ("pending", "message"),
    [(False, HIDDEN_TARGET), (True, PENDING_TARGET)],
    ids=["hidden", "pending"],
)
def test_merging_into_a_hidden_or_pending_idea_is_refused_and_changes_nothing(
    client, team_member, duplicates, pending, message
):
    """Followers would be told a title they cannot see, and votes would move where nobody sees."""
    hide_for_test(duplicates.a_id, pending=pending)
    before = snapshot(duplicates.a_id, duplicates.b_id)

    response = merge(client, duplicates.b_id, duplicates.a_id)

    assert response.status_code == 400
    merge_form = form_html(response, f"/ideas/{duplicates.b_id}/merge")
    assert message in html.unescape(merge_form)
    assert textarea_value(merge_form, "note") == MERGE_NOTE  # what was typed is kept
    assert snapshot(duplicates.a_id, duplicates.b_id) == before
    assert notes("merged", duplicates.b_id) == {}
    assert audit_rows("idea.merged") == []


@pytest.mark.parametrize("pending", [False, True], ids=["hidden", "pending"])
def test_services_refuse_merging_into_a_hidden_or_pending_idea(team_member, duplicates, pending):
    hide_for_test(duplicates.a_id, pending=pending)
    before = snapshot(duplicates.a_id, duplicates.b_id)
    with pytest.raises(InvalidInput) as refused:
        pipeline.merge_ideas(
            fresh(duplicates.b_id),
            fresh(duplicates.a_id),
            actor=team_member,
            note=MERGE_NOTE,
            ip=None,
        )
    assert refused.value.field == "target_id"
    db.session.rollback()
    assert snapshot(duplicates.a_id, duplicates.b_id) == before


def test_services_read_the_targets_state_from_the_database_not_a_stale_copy(
    team_member, duplicates
):
    """A moderator hid the target after the page was loaded: the merge still sees it hidden."""
    target = fresh(duplicates.a_id)
    db.session.execute(
        update(Idea).where(Idea.id == duplicates.a_id).values(hidden_at=utcnow())
    )  # behind the loaded object's back, as another request would
    with pytest.raises(InvalidInput):
        pipeline.merge_ideas(
            db.session.get(Idea, duplicates.b_id),
            target,
            actor=team_member,
            note=MERGE_NOTE,
            ip=None,
        )
    db.session.rollback()


def test_a_hidden_duplicate_may_be_merged_into_a_visible_idea_without_telling_its_followers(
    client, team_member, duplicates
):
    """Cleaning up: the duplicate's support moves, and nobody is told about a hidden idea."""
    hide_for_test(duplicates.b_id)
    assert merge(client, duplicates.b_id, duplicates.a_id).status_code == 303
    a = fresh(duplicates.a_id)
    p = duplicates.people
    assert a.vote_count == len(voters(a.id)) == 5
    assert {p.follower_b.id, p.voter_b.id} <= followers(a.id)
    assert notes("merged", duplicates.b_id) == {}
    assert fresh(duplicates.b_id).merged_into_id == a.id


@pytest.mark.parametrize("target", ["999999", "0", "abc", "", "12345678901", "\uff11"])
def test_an_unknown_idea_to_keep_sends_back_to_choosing(client, team_member, duplicates, target):
    """The idea to keep is chosen on the merge page, never typed; a forged or stale number
    is answered with the choosing page again."""
    before = snapshot(duplicates.a_id, duplicates.b_id)
    response = merge(client, duplicates.b_id, target)
    assert response.status_code == 400
    assert "Choose the idea to keep: search for it, or take one of the suggestions." in (
        page_text(response)
    )
    assert snapshot(duplicates.a_id, duplicates.b_id) == before


def test_a_merge_needs_a_real_note(client, team_member, duplicates):
    before = snapshot(duplicates.a_id, duplicates.b_id)
    response = merge(client, duplicates.b_id, duplicates.a_id, note="dupe")
    assert response.status_code == 400
    merge_form = form_html(response, f"/ideas/{duplicates.b_id}/merge")
    assert NOTE_TOO_SHORT in html.unescape(merge_form)
    assert textarea_value(merge_form, "note") == "dupe"
    assert snapshot(duplicates.a_id, duplicates.b_id) == before


# ---------------------------------------------------------------------------------------------
# All or nothing


def fail(*_args, **_kwargs):
    raise RuntimeError("the database went away")


@pytest.mark.parametrize("step", ["notify", "audit"])
def test_a_merge_that_fails_at_the_end_changes_nothing(
    monkeypatch, team_member, duplicates, stages, step
):
    before = snapshot(duplicates.a_id, duplicates.b_id)
    if step == "notify":
        monkeypatch.setattr(pipeline.notifications, "notify_followers", fail)
    else:
        monkeypatch.setattr(pipeline.audit, "record", fail)

    with pytest.raises(RuntimeError):
        pipeline.merge_ideas(
            duplicates.b, duplicates.a, actor=team_member, note=MERGE_NOTE, ip=None
        )
    db.session.rollback()

    assert snapshot(duplicates.a_id, duplicates.b_id) == before
    b = fresh(duplicates.b_id)
    assert (b.stage_id, b.merged_into_id) == (stages["new"].id, None)
    assert len(voters(duplicates.a_id)) == fresh(duplicates.a_id).vote_count == 3


@pytest.mark.parametrize("step", ["notify", "audit"])
def test_a_merge_request_that_crashes_changes_nothing(
    client, monkeypatch, team_member, duplicates, step
):
    before = snapshot(duplicates.a_id, duplicates.b_id)
    if step == "notify":
        monkeypatch.setattr(pipeline.notifications, "notify_followers", fail)
    else:
        monkeypatch.setattr(pipeline.audit, "record", fail)

    with pytest.raises(RuntimeError):  # TESTING propagates the error the 500 page would show
        merge(client, duplicates.b_id, duplicates.a_id)

    assert snapshot(duplicates.a_id, duplicates.b_id) == before


def test_a_merge_refused_at_the_last_step_changes_nothing(
    client, monkeypatch, team_member, duplicates
):
    def refuse(*_args, **_kwargs):
        raise DomainError("The audit log is full.")

    monkeypatch.setattr(pipeline.audit, "record", refuse)
    before = snapshot(duplicates.a_id, duplicates.b_id)
    response = merge(client, duplicates.b_id, duplicates.a_id)
    assert response.status_code == 400
    assert "The audit log is full." in page_text(response)
    assert snapshot(duplicates.a_id, duplicates.b_id) == before


@pytest.mark.parametrize("step", ["notify", "audit"])
def test_a_move_that_fails_at_the_end_changes_nothing(monkeypatch, team_member, idea, stages, step):
    before = snapshot(idea.id)
    if step == "notify":
        monkeypatch.setattr(pipeline.notifications, "notify_followers", fail)
    else:
        monkeypatch.setattr(pipeline.audit, "record", fail)

    with pytest.raises(RuntimeError):
        pipeline.move_stage(idea, stages["planned"], actor=team_member, note=NOTE, ip=None)
    db.session.rollback()

    assert snapshot(idea.id) == before
    assert count(StageChange) == 0


def test_a_merged_idea_says_where_its_votes_went(client, team_member, duplicates):
    assert merge(client, duplicates.b_id, duplicates.a_id).status_code == 303
    response = client.get(f"/ideas/{duplicates.b_id}")
    page = " ".join(page_text(response).split())
    assert "its votes still count" not in page
    assert "Its 2 votes and its followers moved there." in page  # Bo Both voted for both
    assert (
        f'its votes count on <a href="/ideas/{duplicates.a_id}">“Export reports to Excel”</a>'
        in page_text(response)
    )
