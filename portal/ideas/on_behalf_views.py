"""The team adds a customer's vote they heard elsewhere, or takes back one it added.

Finding the customer works without JavaScript: the search is a GET form on the same page,
which lists the matching people as choices of the vote form below it.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.extensions import db
from portal.forms import apply_domain_error
from portal.ideas import bp
from portal.ideas.common import idea_or_404
from portal.ideas.forms import RemoveTeamVoteForm, TeamVoteForm
from portal.models import VOTE_SOURCES, Idea, Organisation, User
from portal.permissions import can_triage
from portal.services import on_behalf, organisations
from portal.services.errors import DomainError, InvalidInput
from portal.web import client_ip, parse_number, role_required

SEARCH_MAX = 100


def _form(query: str, people: list[User], formdata: object = None) -> TeamVoteForm:
    form = TeamVoteForm(formdata=formdata) if formdata is not None else TeamVoteForm(q=query)
    form.user_id.choices = [(str(p.id), p.display_name) for p in people]
    form.organisation_id.choices = [("", "No organisation: I chose a person")] + [
        (str(id_), name) for id_, name in organisations.organisation_names()
    ]
    form.source.choices = list(VOTE_SOURCES.items())
    return form


def _render(idea: Idea, form: TeamVoteForm, people: list[User], status: int) -> ResponseReturnValue:
    return render_template(
        "ideas/team_vote.html",
        idea=idea,
        form=form,
        query=form.q.data or "",
        people=people,
        sources=VOTE_SOURCES,
    ), status


def _search(query: str) -> list[User]:
    return on_behalf.find_customers(query[:SEARCH_MAX], viewer=current_user)


@bp.route("/team/ideas/<id:idea_id>/votes/new")
@role_required(can_triage)
def new_team_vote(idea_id: int) -> ResponseReturnValue:
    idea = idea_or_404(idea_id)
    query = request.args.get("q", "").strip()[:SEARCH_MAX]
    people = _search(query)
    return _render(idea, _form(query, people), people, 200)


@bp.route("/team/ideas/<id:idea_id>/votes", methods=["POST"])
@role_required(can_triage)
def add_team_vote(idea_id: int) -> ResponseReturnValue:
    idea = idea_or_404(idea_id)
    query = (request.form.get("q") or "").strip()[:SEARCH_MAX]
    people = _search(query)
    form = _form(query, people, formdata=request.form)

    def act() -> str:
        person_id = parse_number(form.user_id.data)
        organisation_id = parse_number(form.organisation_id.data)
        if person_id and organisation_id:
            raise InvalidInput(
                "Choose a person or an organisation, not both: a person's vote already counts "
                "for their organisation.",
                field="organisation_id",
            )
        if person_id:
            person = db.session.get(User, person_id)
            if person is None:
                raise InvalidInput("Choose one of the people found.", field="user_id")
            on_behalf.add_vote_for_person(
                idea,
                person,
                source=form.source.data or "",
                quote=form.quote.data or "",
                actor=current_user,
                ip=client_ip(),
            )
            return f"Vote added for {person.display_name}. They are told, and follow the idea."
        if organisation_id:
            organisation = db.session.get(Organisation, organisation_id)
            if organisation is None:
                raise InvalidInput(
                    "Choose one of the listed organisations.", field="organisation_id"
                )
            on_behalf.add_vote_for_organisation(
                idea,
                organisation,
                source=form.source.data or "",
                quote=form.quote.data or "",
                actor=current_user,
                ip=client_ip(),
            )
            return f"Vote added for {organisation.name}."
        raise InvalidInput(
            "Find the customer and choose them, or choose their organisation if no person "
            "was named.",
            field="user_id",
        )

    if form.validate_on_submit():
        try:
            said = act()
        except DomainError as exc:
            db.session.rollback()
            apply_domain_error(form, exc)
        else:
            db.session.commit()
            flash(said, "success")
            return redirect(
                url_for("ideas.detail", idea_id=idea.id, _anchor="team-votes-title"), code=303
            )
    return _render(idea, form, people, 400)


@bp.route("/team/ideas/<id:idea_id>/votes/remove", methods=["POST"])
@role_required(can_triage)
def remove_team_vote(idea_id: int) -> ResponseReturnValue:
    idea = idea_or_404(idea_id)
    form = RemoveTeamVoteForm()
    back = url_for("ideas.detail", idea_id=idea.id, _anchor="team-votes-title")
    if not form.validate_on_submit():
        flash("This form is out of date. Please try again.", "error")
        return redirect(back, code=303)
    vote_id = parse_number(form.vote_id.data) or 0
    try:
        name = on_behalf.remove_team_vote(idea, vote_id, actor=current_user, ip=client_ip())
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(back, code=303)
    db.session.commit()
    if name is None:
        flash("That vote was already withdrawn or removed.", "info")
    else:
        flash(f"The vote the team added for {name} is removed.", "success")
    return redirect(back, code=303)
