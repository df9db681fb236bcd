"""Organisations as the team sees them: who belongs, what they asked for, what they back."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.models import Idea, Organisation, User, Vote
from portal.permissions import can_manage_users, can_see_organisations, require
from portal.services import audit
from portal.services.errors import InvalidInput


@dataclass
class OrganisationRow:
    organisation: Organisation
    members: int
    ideas: int
    votes: int


def overview(*, viewer) -> list[OrganisationRow]:
    """Every organisation with its number of people, ideas and votes, in three queries."""
    require(can_see_organisations(viewer))
    orgs = list(
        db.session.scalars(
            select(Organisation)
            .options(selectinload(Organisation.domains))
            .order_by(Organisation.name)
        )
    )
    members = dict(
        db.session.execute(
            select(User.organisation_id, func.count(User.id)).group_by(User.organisation_id)
        ).all()
    )
    ideas = dict(
        db.session.execute(
            select(User.organisation_id, func.count(Idea.id))
            .join(Idea, Idea.author_id == User.id)
            .group_by(User.organisation_id)
        ).all()
    )
    votes = dict(
        db.session.execute(
            select(User.organisation_id, func.count(Vote.id))
            .join(Vote, Vote.user_id == User.id)
            .group_by(User.organisation_id)
        ).all()
    )
    return [
        OrganisationRow(o, members.get(o.id, 0), ideas.get(o.id, 0), votes.get(o.id, 0))
        for o in orgs
    ]


@dataclass
class OrganisationDetail:
    organisation: Organisation
    members: list[User]
    submitted: list[Idea]
    backed: list[tuple[Idea, int]]  # ideas its people voted for, with how many of them


def detail(organisation: Organisation, *, viewer) -> OrganisationDetail:
    require(can_see_organisations(viewer))
    members = list(
        db.session.scalars(
            select(User).where(User.organisation_id == organisation.id).order_by(User.display_name)
        ).unique()
    )
    submitted = list(
        db.session.scalars(
            select(Idea)
            .join(User, Idea.author_id == User.id)
            .where(User.organisation_id == organisation.id)
            .order_by(Idea.created_at.desc())
        ).unique()
    )
    backers = (
        select(Vote.idea_id, func.count(Vote.id).label("n"))
        .join(User, Vote.user_id == User.id)
        .where(User.organisation_id == organisation.id)
        .group_by(Vote.idea_id)
        .subquery()
    )
    backed = [
        (idea, n)
        for idea, n in db.session.execute(
            select(Idea, backers.c.n)
            .join(backers, backers.c.idea_id == Idea.id)
            .order_by(backers.c.n.desc(), Idea.vote_count.desc(), Idea.id.desc())
        )
        .unique()
        .all()
    ]
    return OrganisationDetail(organisation, members, submitted, backed)


def set_organisation(target: User, organisation_id: int | None, *, actor, ip: str | None) -> None:
    """An admin places a person in an organisation, or takes them out of one."""
    require(can_manage_users(actor))
    organisation = None
    if organisation_id is not None:
        organisation = db.session.get(Organisation, organisation_id)
        if organisation is None:
            raise InvalidInput("Choose one of the listed organisations.", field="organisation_id")
    if target.organisation_id == (organisation.id if organisation else None):
        return
    old = target.organisation.name if target.organisation else None
    target.organisation = organisation
    audit.record(
        "user.organisation_changed",
        actor=actor,
        ip=ip,
        target=target,
        old=old,
        new=organisation.name if organisation else None,
    )
