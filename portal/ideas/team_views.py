"""The team's actions on one idea: moving it, owner, estimates, notes (merging: merge_views).

The owner, estimates and notes routes keep their /team/ addresses; they live here because
they answer with the idea's page when a form comes back with errors.
"""

from __future__ import annotations

from flask import request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.extensions import db
from portal.forms import handle_submission
from portal.ideas import bp
from portal.ideas.common import back, idea_or_404
from portal.ideas.forms import EstimatesForm, InternalNoteForm, OwnerForm, TimeframeForm
from portal.ideas.page import move_form_for, render_idea_page
from portal.models import Idea, User
from portal.permissions import can_triage
from portal.services import pipeline, roadmap, triage
from portal.services.errors import InvalidInput
from portal.web import client_ip, parse_number, role_required


@bp.route("/ideas/<id:idea_id>/move", methods=["POST"])
@role_required(can_triage)
def move(idea_id: int) -> ResponseReturnValue:
    idea = idea_or_404(idea_id)
    form = move_form_for(idea, formdata=request.form)
    stage = next(
        (s for s in pipeline.allowed_targets(idea) if str(s.id) == form.stage_id.data), None
    )

    def act() -> None:
        if stage is None:
            raise InvalidInput("Choose one of the listed stages.", field="stage_id")
        pipeline.move_stage(idea, stage, actor=current_user, note=form.note.data, ip=client_ip())

    done = handle_submission(
        form,
        act,
        success="Moved. Everyone following the idea is notified with your note.",
        # In triage mode, on to the next idea of the view.
        redirect_to=back(url_for("ideas.detail", idea_id=idea.id)),
    )
    return done or render_idea_page(idea, move_form=form, status=400)


def _back_to_team_tools(idea: Idea) -> str:
    # Triage mode's forms name their way back (the idea, still in triage mode).
    return back(url_for("ideas.detail", idea_id=idea.id, _anchor="team-title"))


@bp.route("/team/ideas/<id:idea_id>/owner", methods=["POST"])
@role_required(can_triage)
def set_owner(idea_id: int) -> ResponseReturnValue:
    idea = idea_or_404(idea_id)
    form = OwnerForm()

    def act() -> None:
        owner_id = parse_number(form.owner_id.data)
        owner = db.session.get(User, owner_id) if owner_id else None
        if form.owner_id.data and owner is None:
            raise InvalidInput("Choose one of the listed team members.", field="owner_id")
        triage.assign_owner(idea, owner, actor=current_user, ip=client_ip())

    return handle_submission(
        form, act, success="Owner saved.", redirect_to=_back_to_team_tools(idea)
    ) or render_idea_page(idea, owner_form=form, status=400)


@bp.route("/team/ideas/<id:idea_id>/estimates", methods=["POST"])
@role_required(can_triage)
def set_estimates(idea_id: int) -> ResponseReturnValue:
    idea = idea_or_404(idea_id)
    form = EstimatesForm()

    def act() -> None:
        values: dict[str, int | None] = {}
        for name in ("impact", "effort"):
            raw = getattr(form, name).data
            values[name] = parse_number(raw) if raw else None
            if raw and values[name] is None:
                raise InvalidInput("Estimates go from 1 (low) to 5 (high).", field=name)
        triage.set_estimates(idea, actor=current_user, ip=client_ip(), **values)

    return handle_submission(
        form, act, success="Estimates saved.", redirect_to=_back_to_team_tools(idea)
    ) or render_idea_page(idea, estimates_form=form, status=400)


@bp.route("/team/ideas/<id:idea_id>/notes", methods=["POST"])
@role_required(can_triage)
def add_note(idea_id: int) -> ResponseReturnValue:
    idea = idea_or_404(idea_id)
    form = InternalNoteForm()
    return handle_submission(
        form,
        lambda: triage.add_internal_note(idea, actor=current_user, body=form.body.data),
        success="Internal note added. Customers never see it.",
        redirect_to=_back_to_team_tools(idea),
    ) or render_idea_page(idea, note_form=form, status=400)


@bp.route("/team/ideas/<id:idea_id>/timeframe", methods=["POST"])
@role_required(can_triage)
def set_timeframe(idea_id: int) -> ResponseReturnValue:
    idea = idea_or_404(idea_id)
    form = TimeframeForm()
    return handle_submission(
        form,
        lambda: roadmap.set_timeframe(
            idea, form.timeframe.data or "", actor=current_user, ip=client_ip()
        ),
        success="Timeframe saved. Customers see it on the roadmap and on this page.",
        redirect_to=_back_to_team_tools(idea),
    ) or render_idea_page(idea, timeframe_form=form, status=400)
