"""Merging duplicates and undoing it: exact on both databases, and the team's pages for it."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    AuditEvent,
    Follow,
    Idea,
    IdeaMerge,
    IdeaOrganisation,
    Notification,
    Role,
    Vote,
)
from portal.permissions import PermissionDenied
from portal.services import comments, merging, on_behalf, pipeline, votes
from tests.conftest import sign_in_client
from tests.helpers import organisation_backing, page_text

MERGE_NOTE = "The same need as the Excel export idea: follow the conversation there."
UNMERGE_NOTE = "These turned out to be different needs after all; sorry for the noise."


def fresh(idea_id: int) -> Idea:
    db.session.expire_all()
    return db.session.get_one(Idea, idea_id)


def state() -> dict[str, object]:
    """What unmerging must give back: every vote and follow, each idea's counts and stage,
    and the organisations behind each idea."""
    db.session.expire_all()
    return {
        "votes": sorted(
            db.session.execute(
                select(
                    Vote.idea_id,
                    Vote.user_id,
                    Vote.organisation_id,
                    Vote.created_at,
                    Vote.hidden_at,
                    Vote.source,
                    Vote.added_by_id,
                    Vote.quote,
                )
            ).all(),
            key=repr,  # an organisation's vote has no user_id: None beside numbers
        ),
        "follows": sorted(
            db.session.execute(
                select(Follow.idea_id, Follow.user_id, Follow.created_at, Follow.via_vote)
            ).all()
        ),
        "ideas": sorted(
            db.session.execute(
                select(
                    Idea.id, Idea.vote_count, Idea.comment_count, Idea.stage_id, Idea.merged_into_id
                )
            ).all()
        ),
        "organisations": sorted(
            db.session.execute(
                select(
                    IdeaOrganisation.idea_id,
                    IdeaOrganisation.organisation_id,
                    IdeaOrganisation.voters,
                )
            ).all()
        ),
    }


def visible_text(response) -> str:
    """The page's text as read: tags out, spaces and line breaks as one space."""
    text = " ".join(re.sub(r"<[^>]+>", " ", page_text(response)).split())
    return text.replace(" ,", ",").replace(" .", ".")


def trending(idea_id: int) -> float:
    return fresh(idea_id).trending_score


@pytest.fixture
def pm(make_user):
    return make_user(Role.PRODUCT_MANAGER, display_name="Pat Manager")


@pytest.fixture
def pair(make_user, make_idea, make_organisation, stages):
    """A (kept, Planned) and B (the duplicate, Under review), with people from two
    organisations: some voted for both, one only for B, one follows B by choice; B has a
    comment. Hidden votes: one person's posts are hidden, with a vote on B."""
    acme, globex = make_organisation("Acme"), make_organisation("Globex")
    p = SimpleNamespace(
        a_author=make_user(display_name="Ann A", organisation=acme),
        b_author=make_user(display_name="Bob B", organisation=globex),
        both_acme=make_user(display_name="Bo Both", organisation=acme),
        both_plain=make_user(display_name="Bea Both"),
        only_b_acme=make_user(display_name="Vin B", organisation=acme),
        only_b_globex=make_user(display_name="Gil B", organisation=globex),
        follower=make_user(display_name="Flo B"),
        hidden=make_user(display_name="Hid Den", organisation=globex),
    )
    a = make_idea("Export reports to Excel", author=p.a_author, stage="planned")
    b = make_idea(
        "Download the monthly report as a spreadsheet",
        author=p.b_author,
        problem="Finance retypes the report into a spreadsheet every month.",
        stage="under_review",
    )
    for person in (p.both_acme, p.both_plain):
        votes.cast_vote(a, person)
    for person in (p.both_acme, p.both_plain, p.only_b_acme, p.only_b_globex, p.hidden):
        votes.cast_vote(b, person)
    votes.follow(b, p.follower)
    votes.follow(b, p.both_plain)  # chosen on B, via a vote on A
    comments.add_comment(b, author=p.follower, body="We need this for the month-end close.")
    votes.hide_votes_of(p.hidden)
    db.session.commit()
    return SimpleNamespace(a=a, b=b, a_id=a.id, b_id=b.id, people=p, acme=acme, globex=globex)


def do_merge(pair, pm) -> IdeaMerge:
    merge = pipeline.merge_ideas(pair.b, pair.a, actor=pm, note=MERGE_NOTE, ip="127.0.0.1")
    db.session.commit()
    return merge


def do_unmerge(pair, pm) -> IdeaMerge:
    merge = pipeline.unmerge_ideas(fresh(pair.b_id), actor=pm, note=UNMERGE_NOTE, ip="127.0.0.1")
    db.session.commit()
    return merge


# --- Merging records what it moves --------------------------------------------------------


def test_a_merge_moves_votes_once_per_person_and_records_them(pair, pm):
    merge = do_merge(pair, pm)
    a, b = fresh(pair.a_id), fresh(pair.b_id)
    # A: its author and the two who voted for both, then B's author and the two who voted
    # only for B (the hidden vote moves too, but counts nowhere)
    assert (a.vote_count, b.vote_count, b.merged_into_id) == (6, 0, a.id)
    assert merge.votes_moved == 3
    assert b.stage.slug == "merged"
    assert not db.session.scalars(select(Vote).where(Vote.idea_id == b.id)).all()
    kept, recounted = organisation_backing()
    assert kept == recounted
    assert kept[(a.id, pair.acme.id)] == 3  # Ann, Bo Both and Vin B: Bo once
    assert (b.id, pair.acme.id) not in kept


def test_votes_the_team_added_move_with_their_source_and_come_back_exactly(pair, pm, make_user):
    """A customer's vote heard in a call, and two organisations' votes with no person named:
    Globex's is on both ideas (counted once), Acme's only on the duplicate."""
    on_behalf.add_vote_for_person(
        pair.b, make_user(display_name="Cal Called"), source="sales_call",
        quote="We lose a day a month to this.", actor=pm, ip=None,
    )  # fmt: skip
    for idea in (pair.a, pair.b):
        on_behalf.add_vote_for_organisation(
            idea, pair.globex, source="meeting", quote="", actor=pm, ip=None
        )
    on_behalf.add_vote_for_organisation(
        pair.b, pair.acme, source="support_ticket", quote="Ticket 4411", actor=pm, ip=None
    )
    db.session.commit()
    before = state()
    a_votes, b_votes = fresh(pair.a_id).vote_count, fresh(pair.b_id).vote_count

    do_merge(pair, pm)
    kept = db.session.execute(
        select(Vote.organisation_id, Vote.source, Vote.quote).where(
            Vote.idea_id == pair.a_id, Vote.user_id.is_(None)
        )
    ).all()
    assert sorted(kept) == [(pair.acme.id, "support_ticket", "Ticket 4411"),
                            (pair.globex.id, "meeting", None)]  # fmt: skip
    called = db.session.execute(
        select(Vote.source, Vote.added_by_id).where(
            Vote.idea_id == pair.a_id, Vote.quote == "We lose a day a month to this."
        )
    ).one()
    assert tuple(called) == ("sales_call", pm.id)
    # Bo Both, Bea Both and Globex were behind both ideas: each counts once.
    assert fresh(pair.a_id).vote_count == a_votes + b_votes - 3
    kept_orgs, recounted = organisation_backing()
    assert kept_orgs == recounted

    do_unmerge(pair, pm)
    assert state() == {**before, "ideas": _with_stage_as_before(before)}


def test_the_duplicate_says_where_it_went_and_how_many_votes_moved(client, pair, pm):
    do_merge(pair, pm)
    sign_in_client(client, pair.people.follower)
    text = visible_text(client.get(f"/ideas/{pair.b_id}"))
    assert "This idea was merged into “Export reports to Excel”" in text
    assert "Its 3 votes and its followers moved there." in text
    assert "0 votes" not in text and "Supported by 0" not in text
    assert "Its supporters now count on “Export reports to Excel”." in text


# --- Unmerging gives everything back ------------------------------------------------------


def test_unmerge_restores_both_ideas_exactly(pair, pm):
    before = state()
    a_trending, b_trending = trending(pair.a_id), trending(pair.b_id)
    do_merge(pair, pm)
    assert state() != before
    merge = do_unmerge(pair, pm)
    assert state() == {**before, "ideas": _with_stage_as_before(before)}
    assert trending(pair.a_id) == pytest.approx(a_trending)
    assert trending(pair.b_id) == pytest.approx(b_trending)
    assert merge.undone_at is not None and merge.undone_by_id == pm.id
    kept, recounted = organisation_backing()
    assert kept == recounted


def _with_stage_as_before(before):
    return before["ideas"]  # the stage is part of each idea's row: it must match as it was


def test_unmerge_returns_the_duplicate_to_its_stage_and_tells_its_followers(pair, pm):
    do_merge(pair, pm)
    do_unmerge(pair, pm)
    b = fresh(pair.b_id)
    assert b.stage.slug == "under_review"
    assert b.merged_into_id is None
    told = db.session.scalars(
        select(Notification).where(
            Notification.idea_id == b.id, Notification.message.like("No longer merged%")
        )
    ).all()
    assert {n.user_id for n in told} >= {pair.people.follower.id, pair.people.only_b_acme.id}
    assert all(UNMERGE_NOTE in n.message for n in told)
    (event,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "idea.unmerged")
    ).all()
    assert event.detail["summary"] == (
        f"Unmerged “Download the monthly report as a spreadsheet” (#{b.id}) from "
        f"“Export reports to Excel” (#{pair.a_id}): 5 votes returned; back to Under review."
    )


def test_a_follow_chosen_on_the_kept_idea_since_the_merge_stays(pair, pm):
    do_merge(pair, pm)
    a = fresh(pair.a_id)
    votes.follow(a, pair.people.only_b_acme)  # their follow came with the moved vote
    db.session.commit()
    do_unmerge(pair, pm)
    following_a = set(db.session.scalars(select(Follow.user_id).where(Follow.idea_id == a.id)))
    assert pair.people.only_b_acme.id in following_a  # chosen: stays
    assert pair.people.only_b_globex.id not in following_a  # moved: goes back
    assert pair.people.follower.id not in following_a


def test_a_vote_withdrawn_from_the_kept_idea_since_does_not_come_back(pair, pm):
    do_merge(pair, pm)
    votes.withdraw_vote(fresh(pair.a_id), pair.people.only_b_globex)
    db.session.commit()
    do_unmerge(pair, pm)
    b = fresh(pair.b_id)
    on_b = set(db.session.scalars(select(Vote.user_id).where(Vote.idea_id == b.id)))
    assert pair.people.only_b_globex.id not in on_b
    assert b.vote_count == 4  # all but Gil B, and the hidden vote counts nowhere
    kept, recounted = organisation_backing()
    assert kept == recounted


def test_a_new_vote_on_the_kept_idea_since_the_merge_stays_there(pair, pm, make_user):
    do_merge(pair, pm)
    newcomer = make_user(display_name="New Comer")
    votes.cast_vote(fresh(pair.a_id), newcomer)
    db.session.commit()
    do_unmerge(pair, pm)
    assert fresh(pair.a_id).vote_count == 4  # its own three and the newcomer


@pytest.mark.parametrize("who", ["customer", "anonymous"])
def test_only_the_team_may_unmerge(pair, pm, make_user, who):
    do_merge(pair, pm)
    from flask_login import AnonymousUserMixin

    actor = make_user() if who == "customer" else AnonymousUserMixin()
    with pytest.raises(PermissionDenied):
        pipeline.unmerge_ideas(fresh(pair.b_id), actor=actor, note=UNMERGE_NOTE, ip=None)


def test_an_idea_that_was_never_merged_cannot_be_unmerged(pair, pm):
    with pytest.raises(pipeline.InvalidTransition, match="is not merged into another idea"):
        pipeline.unmerge_ideas(fresh(pair.b_id), actor=pm, note=UNMERGE_NOTE, ip=None)


def test_unmerge_waits_for_the_kept_idea_to_be_unmerged_first(pair, pm, make_idea):
    do_merge(pair, pm)
    c = make_idea("Excel export of every report")
    pipeline.merge_ideas(fresh(pair.a_id), c, actor=pm, note=MERGE_NOTE, ip=None)
    db.session.commit()
    with pytest.raises(pipeline.InvalidTransition, match="Unmerge that first"):
        pipeline.unmerge_ideas(fresh(pair.b_id), actor=pm, note=UNMERGE_NOTE, ip=None)


def test_a_merge_made_before_records_were_kept_cannot_be_undone(pair, pm):
    merge = do_merge(pair, pm)
    merge.undoable = False
    db.session.commit()
    with pytest.raises(pipeline.InvalidTransition, match="cannot be undone exactly"):
        pipeline.unmerge_ideas(fresh(pair.b_id), actor=pm, note=UNMERGE_NOTE, ip=None)


def test_merge_again_after_unmerge_is_exact_too(pair, pm):
    before = state()
    do_merge(pair, pm)
    do_unmerge(pair, pm)
    do_merge(pair, pm)
    assert fresh(pair.a_id).vote_count == 6
    do_unmerge(pair, pm)
    assert state() == before


# --- Finding the idea to keep -------------------------------------------------------------


def test_suggestions_offer_similar_text_and_ideas_the_same_organisations_want(
    pair, pm, make_idea, make_user
):
    unrelated = make_idea("Dark mode for the dashboard", problem="Bright screens tire our eyes.")
    votes.cast_vote(unrelated, make_user(organisation=pair.acme))
    db.session.commit()
    found = {c.idea.id: c.reasons for c in merging.suggested_targets(fresh(pair.b_id), viewer=pm)}
    assert "Similar words" in found[pair.a_id]
    assert found[unrelated.id] == ["Also wanted by people from Acme"]
    assert pair.b_id not in found


def test_merged_hidden_and_pending_ideas_are_never_offered(pair, pm, make_idea):
    hidden = make_idea("Monthly report export hidden")
    hidden.hidden_at = hidden.created_at
    db.session.commit()
    found = merging.search_targets(fresh(pair.b_id), "report", viewer=pm)
    assert [i.id for i in found.ideas] == [pair.a_id]
    do_merge(pair, pm)
    other = make_idea("Report in a spreadsheet please")
    assert pair.b_id not in [
        i.id for i in merging.search_targets(other, "spreadsheet", viewer=pm).ideas
    ]


def test_preview_says_what_will_move(pair):
    preview = merging.preview(fresh(pair.b_id), fresh(pair.a_id))
    assert preview.votes_moving == 3  # Bob B (the author), Vin B, Gil B
    assert preview.voted_both == 2
    assert preview.target_votes_after == 6
    assert preview.comments_staying == 1
    # B's followers not following A: author, only_b x2, follower, hidden (both_* follow A)
    assert preview.followers_moving == 5


# --- The team's pages ---------------------------------------------------------------------


@pytest.fixture
def pm_client(client, pm):
    sign_in_client(client, pm)
    return client


def test_the_merge_page_suggests_duplicates_and_finds_ideas_by_title(pm_client, pair):
    page = visible_text(pm_client.get(f"/ideas/{pair.b_id}/merge"))
    assert "Which idea should “Download the monthly report as a spreadsheet” be merged" in page
    assert "Suggested duplicates" in page
    assert "Export reports to Excel" in page and "Similar words" in page
    found = pm_client.get(f"/ideas/{pair.b_id}/merge", query_string={"q": "excel"})
    assert found.status_code == 200
    text = visible_text(found)
    assert "1 idea matches “excel”." in text
    assert f'href="/ideas/{pair.b_id}/merge/{pair.a_id}"' in found.get_data(as_text=True)
    none = visible_text(pm_client.get(f"/ideas/{pair.b_id}/merge", query_string={"q": "zebra"}))
    assert "No idea you can merge into matches “zebra”." in none


def test_the_confirm_step_shows_both_ideas_and_what_will_move(pm_client, pair):
    response = pm_client.get(f"/ideas/{pair.b_id}/merge/{pair.a_id}")
    assert response.status_code == 200
    text = visible_text(response)
    assert "Merge this duplicate into “Export reports to Excel”?" in text
    assert "Finance retypes the report into a spreadsheet every month." in text
    assert (
        "3 votes move to “Export reports to Excel”, which will then have 6 "
        "(2 people voted for both and count once)." in text
    )
    assert "5 people follow the duplicate and will follow “Export reports to Excel” too." in text
    assert "Its 1 comment stays on the duplicate's page" in text
    assert fresh(pair.b_id).merged_into_id is None  # looking changes nothing


@pytest.mark.parametrize("target", ["self", "unknown"])
def test_the_confirm_step_offers_only_ideas_one_may_merge_into(pm_client, pair, target):
    target_id = pair.b_id if target == "self" else 999_999
    assert pm_client.get(f"/ideas/{pair.b_id}/merge/{target_id}").status_code == 404


def test_a_short_note_is_refused_and_kept_on_the_confirm_step(pm_client, pair):
    response = pm_client.post(
        f"/ideas/{pair.b_id}/merge", data={"target_id": str(pair.a_id), "note": "dupe"}
    )
    assert response.status_code == 400
    text = page_text(response)
    assert "a note of at least 20 characters" in text
    assert re.search(r">\s*dupe</textarea>", text)
    assert "3 votes move to" in visible_text(response)
    assert fresh(pair.b_id).merged_into_id is None


def test_the_kept_idea_lists_the_duplicate_with_its_text_and_customers_see_it(
    client, pm_client, pair
):
    response = pm_client.post(
        f"/ideas/{pair.b_id}/merge", data={"target_id": str(pair.a_id), "note": MERGE_NOTE}
    )
    assert response.headers["Location"] == f"/ideas/{pair.a_id}#merged-{pair.b_id}"
    page = pm_client.get(f"/ideas/{pair.a_id}").get_data(as_text=True)
    assert f'id="merged-{pair.b_id}"' in page
    assert f'href="/ideas/{pair.b_id}/unmerge"' in page  # the team can undo it from here
    sign_in_client(client, pair.people.a_author)
    text = visible_text(client.get(f"/ideas/{pair.a_id}"))
    assert "Merged in: “Download the monthly report as a spreadsheet”" in text
    assert "3 votes and its followers moved here." in text
    assert "Finance retypes the report into a spreadsheet every month." in text
    assert "Unmerge" not in text


def test_a_merged_idea_s_merge_page_leads_to_unmerging(pm_client, pair, pm):
    do_merge(pair, pm)
    response = pm_client.get(f"/ideas/{pair.b_id}/merge")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/ideas/{pair.b_id}/unmerge"


def test_unmerging_from_the_page(pm_client, pair, pm):
    before = state()
    do_merge(pair, pm)
    page = visible_text(pm_client.get(f"/ideas/{pair.b_id}/unmerge"))
    assert (
        "Unmerge “Download the monthly report as a spreadsheet” from “Export reports to Excel”?"
        in page
    )
    assert "returns to Under review" in page
    short = pm_client.post(f"/ideas/{pair.b_id}/unmerge", data={"note": "oops"})
    assert short.status_code == 400
    assert re.search(r">\s*oops</textarea>", page_text(short))
    response = pm_client.post(f"/ideas/{pair.b_id}/unmerge", data={"note": UNMERGE_NOTE})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/ideas/{pair.b_id}"
    assert state() == before
    after = pm_client.get(f"/ideas/{pair.a_id}").get_data(as_text=True)
    assert f'id="merged-{pair.b_id}"' not in after


def test_an_undoable_merge_says_why_on_its_page(pm_client, pair, pm):
    merge = do_merge(pair, pm)
    merge.undoable = False
    db.session.commit()
    response = pm_client.post(f"/ideas/{pair.b_id}/unmerge", data={"note": UNMERGE_NOTE})
    assert response.status_code == 409
    assert "cannot be undone exactly" in page_text(response)
    assert fresh(pair.b_id).merged_into_id == pair.a_id


def test_the_kept_idea_page_reads_a_fixed_number_of_queries(
    pm_client, pair, pm, make_idea, count_queries
):
    do_merge(pair, pm)
    pm_client.get(f"/ideas/{pair.a_id}")  # warm: the stage catalogue and the like
    with count_queries() as one:
        pm_client.get(f"/ideas/{pair.a_id}")
    for n in range(3):
        extra = make_idea(f"Spreadsheet export number {n}")
        pipeline.merge_ideas(extra, fresh(pair.a_id), actor=pm, note=MERGE_NOTE, ip=None)
        db.session.commit()
    with count_queries() as four:
        pm_client.get(f"/ideas/{pair.a_id}")
    assert four.count == one.count, four.statements
