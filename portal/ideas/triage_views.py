"""Triage mode: an idea's own page with a bar that walks a view of the open ideas.

The bar says where the idea stands ("3 of 17"), links to the previous and next ideas, skips
one for now, and assigns it to the person; keyboard shortcuts (static/js/triage.js) press the
same links and buttons, so everything works without JavaScript too. The view travels in the
query string (portal.services.triage.view_query), with `at`, the idea's place when the link
was made, so that an idea that leaves the view (moved, assigned) still has neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, flash, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from portal.extensions import db
from portal.ideas import bp
from portal.ideas.common import idea_or_404
from portal.ideas.forms import ActionForm
from portal.ideas.page import render_idea_page
from portal.models import Idea
from portal.permissions import can_triage
from portal.services import catalog, saved_filters, triage
from portal.services.errors import DomainError
from portal.web import client_ip, parse_number, role_required

SKIPPED_KEY = "triage_skipped"
SKIPPED_MAX = 200


def current_query() -> str:
    return triage.view_query(request.args)


def current_view() -> triage.InboxView:
    slugs = {s.slug for s in catalog.stages()}
    return triage.parse_view(request.args, viewer_id=current_user.id, stage_slugs=slugs)


def list_url(query: str) -> str:
    return url_for("team.queue") + (f"?{query}" if query else "")


def _skipped() -> frozenset[int]:
    return frozenset(n for n in session.get(SKIPPED_KEY, []) if isinstance(n, int))


def mode_url(idea_id: int, query: str, at: int | None) -> str:
    """An idea in triage mode: the view comes along, and the place it had (at, from 0)."""
    parts = [p for p in (query, f"at={at}" if at is not None else "") if p]
    suffix = "?" + "&".join(parts) if parts else ""
    return url_for("ideas.triage_idea", idea_id=idea_id) + suffix


@dataclass(frozen=True)
class TriageBar:
    """What the bar on an idea in triage mode shows and links to."""

    view_name: str
    list_url: str
    position: triage.Position
    here: str
    previous_url: str | None
    next_url: str | None
    after_move: str  # the next idea once this one is moved, or the list at the end
    skip_url: str
    assign_url: str
    assigned_to_me: bool
    action_form: ActionForm


def _bar(idea: Idea, query: str) -> TriageBar:
    ids = triage.sequence(current_view(), viewer=current_user, skipped=_skipped())
    was_at = parse_number(request.args.get("at", ""))
    pos = triage.position(ids, idea.id, was_at=was_at)
    index = pos.index if pos.index is not None else (was_at or 0)
    after = pos.index + 1 if pos.index is not None else index
    action_query = "&".join(p for p in (query, f"at={index}") if p)
    return TriageBar(
        view_name=triage.view_label(query, saved_filters.visible_filters(current_user))
        or "This view",
        list_url=list_url(query),
        position=pos,
        here=mode_url(idea.id, query, index),
        previous_url=mode_url(pos.previous_id, query, max(index - 1, 0))
        if pos.previous_id
        else None,
        next_url=mode_url(pos.next_id, query, after) if pos.next_id else None,
        # A move usually takes the idea out of the view: its successor slides into its place.
        after_move=mode_url(pos.next_id, query, index) if pos.next_id else list_url(query),
        skip_url=url_for("ideas.skip_idea", idea_id=idea.id) + f"?{action_query}",
        assign_url=url_for("ideas.assign_to_me", idea_id=idea.id) + f"?{action_query}",
        assigned_to_me=idea.owner_id == current_user.id,
        action_form=ActionForm(),
    )


@bp.route("/team/triage/next")
@role_required(can_triage)
def next_idea() -> BaseResponse:
    """Start triage mode at the first idea of the view (ideas skipped for now come last)."""
    query = current_query()
    ids = triage.sequence(current_view(), viewer=current_user, skipped=_skipped())
    if not ids:
        flash("There is nothing to triage in this view. Well done.", "success")
        return redirect(list_url(query), code=303)
    return redirect(mode_url(ids[0], query, 0), code=303)


@bp.route("/team/triage/ideas/<id:idea_id>")
@role_required(can_triage)
def triage_idea(idea_id: int) -> ResponseReturnValue:
    """The idea's own page, with the bar: its place in the view, previous, next, skip."""
    idea = idea_or_404(idea_id)
    return render_idea_page(idea, triage_bar=_bar(idea, current_query()))


@bp.route("/team/triage/ideas/<id:idea_id>/skip", methods=["POST"])
@role_required(can_triage)
def skip_idea(idea_id: int) -> BaseResponse:
    """Leave this idea for later: it goes to the end of the line, and the next one opens."""
    if not ActionForm().validate_on_submit():
        abort(400)
    idea = idea_or_404(idea_id)
    query = current_query()
    skipped = [n for n in session.get(SKIPPED_KEY, []) if n != idea.id][-(SKIPPED_MAX - 1) :]
    session[SKIPPED_KEY] = [*skipped, idea.id]
    ids = triage.sequence(current_view(), viewer=current_user, skipped=_skipped())
    at = parse_number(request.args.get("at", "")) or 0
    following = [i for i in ids[at:] if i != idea.id]
    if not following:
        flash("That was the last idea in this view. The ones you skipped wait at the end.", "info")
        return redirect(list_url(query), code=303)
    return redirect(mode_url(following[0], query, at), code=303)


@bp.route("/team/triage/ideas/<id:idea_id>/assign-to-me", methods=["POST"])
@role_required(can_triage)
def assign_to_me(idea_id: int) -> BaseResponse:
    idea = idea_or_404(idea_id)
    query = current_query()
    at = parse_number(request.args.get("at", ""))
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        triage.assign_owner(idea, current_user, actor=current_user, ip=client_ip())
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash("Assigned to you: customers see you as their contact for this idea.", "success")
    return redirect(mode_url(idea.id, query, at), code=303)
