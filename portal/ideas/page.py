"""An idea's page: the one place that gathers what its template shows, for every view showing it.

The detail view shows it; so do the forms posted from it (move, outcome, the team's
owner, estimates and notes) when they come back with errors, keeping what was typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import render_template
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from portal import intent, visibility
from portal.ideas.forms import (
    ActionForm,
    CommentForm,
    EstimatesForm,
    InternalNoteForm,
    MoveForm,
    OutcomeForm,
    OwnerForm,
    TimeframeForm,
)
from portal.models import Comment, Idea, IdeaMerge, StageChange
from portal.models.types import utcnow
from portal.permissions import (
    can_comment,
    can_edit_comment,
    can_edit_idea,
    can_hide_content,
    can_mark_official,
    can_moderate,
    can_read_verdicts,
    can_see_revisions,
    can_triage,
    can_vote,
    is_signed_in,
)
from portal.services import (
    comments,
    idea_lists,
    ideas,
    merging,
    on_behalf,
    outcomes,
    pipeline,
    releases,
    roadmap,
    triage,
    votes,
)


def move_form_for(idea: Idea, formdata: MultiDict[str, Any] | None = None) -> MoveForm:
    """The move form, offering only the stages this idea may go to from where it is."""
    form = MoveForm(formdata=formdata)
    form.stage_id.choices = {str(s.id): s.name for s in pipeline.allowed_targets(idea)}
    return form


@dataclass(frozen=True)
class TimelineEntry:
    """One line of an idea's timeline: a stage change, or a duplicate merged into it."""

    at: datetime
    change: StageChange | None = None
    merge: IdeaMerge | None = None


def timeline_entries(idea: Idea, changes: list[StageChange]) -> list[TimelineEntry]:
    """Stage changes and merged-in duplicates, oldest first. A duplicate customers may not
    see (hidden, or awaiting approval) is listed for the team only."""
    merges = [
        m for m in merging.merged_into_this(idea) if visibility.can_see_idea(current_user, m.source)
    ]
    entries = [TimelineEntry(c.created_at, change=c) for c in changes]
    entries += [TimelineEntry(m.created_at, merge=m) for m in merges]
    return sorted(entries, key=lambda e: e.at)


def can_edit_comment_now(comment: Comment) -> bool:
    """Whether the person asking may still edit the comment (only for a short while)."""
    return can_edit_comment(current_user, comment, now=utcnow())


def _viewer_context(idea: Idea) -> dict[str, Any]:
    """What the person looking has done here, and what they may do."""
    # Their vote and, if the team added it for them, who did and from what conversation.
    voted, added_for_me = on_behalf.your_vote(idea, current_user)
    return {
        "voted": voted,
        "added_for_me": added_for_me,
        "following": votes.is_following(idea, current_user),
        "can_vote": can_vote(current_user, idea),
        "can_comment": can_comment(current_user, idea),
        "can_edit": can_edit_idea(current_user, idea),
        "can_mark_official": can_mark_official(current_user),
        "can_moderate": can_moderate(current_user),
        "can_hide": can_hide_content(current_user),
        "can_edit_comment": can_edit_comment_now,
        "revisions": ideas.revisions(idea) if can_see_revisions(current_user) else [],
        "merged_votes": merging.votes_moved(idea),
    }


def _team_context(
    idea: Idea,
    *,
    owner_form: OwnerForm | None,
    estimates_form: EstimatesForm | None,
    note_form: InternalNoteForm | None,
    timeframe_form: TimeframeForm | None = None,
) -> dict[str, Any]:
    """The team's tools on an idea: owner, estimates, timeframe, internal notes (never for
    customers)."""
    if owner_form is None:
        owner_form = OwnerForm(formdata=None, data={"owner_id": str(idea.owner_id or "")})
    owner_form.owner_id.choices = {"": "Nobody yet"} | {
        str(m.id): m.display_name for m in triage.team_members()
    }
    if estimates_form is None:
        estimates_form = EstimatesForm(
            formdata=None,
            data={"impact": str(idea.impact or ""), "effort": str(idea.effort or "")},
        )
    if timeframe_form is None:
        timeframe_form = TimeframeForm(formdata=None, data={"timeframe": idea.timeframe or ""})
    timeframe_form.timeframe.choices = roadmap.timeframe_choices(current=idea.timeframe)
    return {
        "timeframe_form": timeframe_form,
        "owner_form": owner_form,
        "estimates_form": estimates_form,
        "note_form": note_form or InternalNoteForm(formdata=None),
        "internal_notes": triage.internal_notes(idea, viewer=current_user),
        "team_votes": on_behalf.team_votes(idea, viewer=current_user),
    }


def _outcome_context(
    idea: Idea, *, outcome_form: OutcomeForm | None, signed_in: bool
) -> dict[str, Any]:
    """Shipped or declined: followers say whether it solved their problem; the team reads it."""
    own = outcomes.own_answer(idea, current_user)
    asked = outcomes.is_asked(idea)
    if outcome_form is None and signed_in:
        # The earlier comment is in the box, so changing the answer does not erase it.
        outcome_form = OutcomeForm(formdata=None, data={"comment": own.comment if own else ""})
    return {
        "asked": asked,
        "can_answer": outcomes.can_answer(current_user, idea),
        "own_answer": own,
        "outcome_form": outcome_form,
        "answers": outcomes.ANSWERS,
        "verdicts": outcomes.verdicts(idea, viewer=current_user)
        if asked and can_read_verdicts(current_user)
        else None,
    }


def render_idea_page(
    idea: Idea,
    *,
    status: int = 200,
    move_form: MoveForm | None = None,
    outcome_form: OutcomeForm | None = None,
    owner_form: OwnerForm | None = None,
    estimates_form: EstimatesForm | None = None,
    note_form: InternalNoteForm | None = None,
    timeframe_form: TimeframeForm | None = None,
    triage_bar: object | None = None,
) -> tuple[str, int]:
    """The idea's page with the given status; forms passed in are shown with their errors."""
    official, threads = comments.conversation(idea, viewer=current_user)
    people, organisations = idea_lists.supporter_summary(idea)
    due = idea.response_due_at
    changes = pipeline.timeline(idea)
    team = can_triage(current_user)
    # Forms carry a CSRF token, and making one starts a session. Anonymous visitors see no form
    # on this page, so they get none, and their page can be kept whole by the cache.
    signed_in = is_signed_in(current_user)
    draft = intent.draft_for(idea)  # typed before signing in: back in the box (portal.intent)
    team_context = (
        _team_context(
            idea,
            owner_form=owner_form,
            estimates_form=estimates_form,
            note_form=note_form,
            timeframe_form=timeframe_form,
        )
        if team
        else {}
    )
    page = render_template(
        "ideas/detail.html",
        idea=idea,
        official=official,
        threads=threads,
        timeline=changes,
        timeline_entries=timeline_entries(idea, changes),
        people=people,
        organisations=organisations,
        supporters=idea_lists.supporters(idea),
        due=due,
        overdue=due is not None and due < utcnow(),
        **_viewer_context(idea),
        comment_form=CommentForm(formdata=None, data={"body": draft or ""}) if signed_in else None,
        comment_draft=draft,
        action_form=ActionForm() if signed_in else None,
        move_form=move_form or (move_form_for(idea) if team else None),
        team_tools=team,
        # Triage mode (portal.team.inbox_views): the idea's place in a view of the open ideas.
        triage_bar=triage_bar,
        **team_context,
        **_outcome_context(idea, outcome_form=outcome_form, signed_in=signed_in),
        shipped_in=releases.releases_of_idea(idea) if idea.stage.slug == "shipped" else [],
    )
    return page, status
