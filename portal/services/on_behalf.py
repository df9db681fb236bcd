"""Votes the team adds for customers who asked elsewhere: a sales call, a ticket, a meeting.

A product manager records that a named customer wants an idea. The vote is the customer's own
from then on: it counts like any vote (vote_count, trending, the organisations behind the
idea), the customer follows the idea, is told who added it and why, and can withdraw it.

When the team heard it from a company but no person was named, the vote is the
organisation's: one per organisation and idea, counted as one vote and as one voter of that
organisation (so the organisation shows behind the idea, and its value counts once). It names
nobody, so nobody is notified or follows; the team can remove it. If people of that
organisation vote too, each of them counts as well: the organisation's vote stands for the
people the team heard from, not for the ones who vote themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import aliased

from portal.database import insert_ignoring_duplicates
from portal.extensions import db
from portal.mail.notify import queue_instant
from portal.models import (
    VOTE_SOURCES,
    Follow,
    Idea,
    Notification,
    NotificationKind,
    Organisation,
    Role,
    User,
    Vote,
)
from portal.models.types import utcnow
from portal.permissions import can_triage, require
from portal.services import audit, votes
from portal.services.errors import InvalidInput
from portal.services.validation import long_text, text_problem

QUOTE_MAX = 2000
SEARCH_LIMIT = 20


@dataclass
class TeamVote:
    """A vote the team added, as the team sees it: for whom, from where, by whom, and when."""

    id: int
    person: User | None
    organisation: Organisation | None
    source: str
    quote: str
    added_by: str  # the team member's name, or "A former team member"
    created_at: datetime

    @property
    def source_label(self) -> str:
        return VOTE_SOURCES.get(self.source, "another conversation")

    @property
    def name(self) -> str:
        if self.person is not None:
            return self.person.display_name
        return self.organisation.name if self.organisation else "An organisation"


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def find_customers(query: str, *, viewer: User, limit: int = SEARCH_LIMIT) -> list[User]:
    """Customers whose name or email address contains query, for the team to pick from.

    Suspended people are left out: a vote cannot be added for them.
    """
    require(can_triage(viewer))
    query = query.strip()
    if not query:
        return []
    pattern = _like(query)
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.role == Role.CUSTOMER.value,
                User.suspended_at.is_(None),
                or_(
                    User.email.like(pattern, escape="\\"),
                    User.display_name.ilike(pattern, escape="\\"),
                ),
            )
            .order_by(User.display_name, User.id)
            .limit(limit)
        ).unique()
    )


def _checked(idea: Idea, source: str, quote: str, *, actor: User) -> str:
    """The quote, tidied, once the actor, the idea and the source are known to be fine."""
    require(can_triage(actor))
    if not idea.voting_open:
        raise votes.VotingClosed
    if source not in VOTE_SOURCES:
        raise InvalidInput("Choose where the customer told you.", field="source")
    problem = text_problem(quote, limit=QUOTE_MAX)
    if problem:
        raise InvalidInput(problem, field="quote")
    return long_text(quote)


def add_vote_for_person(
    idea: Idea, person: User, *, source: str, quote: str, actor: User, ip: str | None
) -> Vote:
    """Add a customer's vote on their behalf: counted, followed, told, and audited."""
    quote = _checked(idea, source, quote, actor=actor)
    if person.role != Role.CUSTOMER.value:
        raise InvalidInput(
            "Votes can be added only for customers; the team's own votes are left out of "
            "priorities.",
            field="user_id",
        )
    if person.is_suspended:
        raise InvalidInput(
            f"{person.display_name}'s account is suspended, so no vote can be added for them.",
            field="user_id",
        )
    now = utcnow()
    if not _insert_team_vote(idea, source, quote, actor=actor, now=now, user_id=person.id):
        raise InvalidInput(
            f"{person.display_name} already votes for this idea, so there is nothing to add.",
            field="user_id",
        )
    votes.count_vote(idea, organisation_id=person.organisation_id, cast_at=now)
    votes.follow_with_vote(idea, person, now=now)
    _tell(person, idea, source=source, actor=actor)
    audit.record(
        "vote.added_for_customer",
        actor=actor,
        ip=ip,
        target=idea,
        idea=idea.title,
        customer=person.display_name,
        organisation=person.organisation.name if person.organisation else None,
        source=VOTE_SOURCES[source],
        quote=quote or None,
    )
    return _vote(idea, user_id=person.id)


def add_vote_for_organisation(
    idea: Idea,
    organisation: Organisation,
    *,
    source: str,
    quote: str,
    actor: User,
    ip: str | None,
) -> Vote:
    """Add an organisation's vote when no person was named: one per organisation and idea."""
    quote = _checked(idea, source, quote, actor=actor)
    now = utcnow()
    if not _insert_team_vote(
        idea, source, quote, actor=actor, now=now, organisation_id=organisation.id
    ):
        raise InvalidInput(
            f"The team already added a vote for {organisation.name} on this idea; "
            "a company counts once. Name a person to add theirs.",
            field="organisation_id",
        )
    votes.count_vote(idea, organisation_id=organisation.id, cast_at=now)
    audit.record(
        "vote.added_for_organisation",
        actor=actor,
        ip=ip,
        target=idea,
        idea=idea.title,
        organisation=organisation.name,
        source=VOTE_SOURCES[source],
        quote=quote or None,
    )
    return _vote(idea, organisation_id=organisation.id)


def _insert_team_vote(
    idea: Idea, source: str, quote: str, *, actor: User, now: datetime, **voter: int
) -> bool:
    """The vote row the team adds, for a person or an organisation (`voter`); False if that
    voter has a vote here already."""
    return insert_ignoring_duplicates(
        Vote,
        idea_id=idea.id,
        created_at=now,
        source=source,
        added_by_id=actor.id,
        quote=quote or None,
        **voter,
    )


def _vote(idea: Idea, *, user_id: int | None = None, organisation_id: int | None = None) -> Vote:
    vote = db.session.scalar(
        select(Vote).where(
            Vote.idea_id == idea.id,
            Vote.user_id == user_id if user_id is not None else Vote.user_id.is_(None),
            Vote.organisation_id == organisation_id
            if organisation_id is not None
            else Vote.organisation_id.is_(None),
        )
    )
    assert vote is not None  # just added in this transaction
    return vote


def _tell(person: User, idea: Idea, *, source: str, actor: User) -> None:
    """The customer hears, in the app and by email as they chose, who added it and why."""
    notification = Notification(
        user_id=person.id,
        kind=NotificationKind.VOTE_ADDED,
        idea_id=idea.id,
        actor_id=actor.id,
        message=(
            f"{actor.display_name} added your vote for “{idea.title}”, from "
            f"{VOTE_SOURCES[source]}. You follow it now; withdraw the vote on the idea's page "
            "if it is not what you meant."
        ),
    )
    db.session.add(notification)
    db.session.flush()
    queue_instant(Notification.id == notification.id)


def remove_team_vote(idea: Idea, vote_id: int, *, actor: User, ip: str | None) -> str | None:
    """The team takes back a vote it added (a mistake, a customer who changed their mind).

    Only votes the team added; a customer's own vote is theirs alone. Returns whose vote it
    was, or None if there was none (already withdrawn or removed).
    """
    require(can_triage(actor))
    if not idea.voting_open:
        raise votes.VotingClosed
    row = db.session.execute(
        delete(Vote)
        .where(Vote.id == vote_id, Vote.idea_id == idea.id, Vote.source.is_not(None))
        .returning(Vote.user_id, Vote.organisation_id, Vote.created_at, Vote.hidden_at, Vote.source)
    ).one_or_none()
    if row is None:
        return None
    person = db.session.get(User, row.user_id) if row.user_id is not None else None
    organisation = (
        db.session.get(Organisation, row.organisation_id)
        if row.organisation_id is not None
        else None
    )
    if person is not None:
        db.session.execute(
            delete(Follow).where(
                Follow.idea_id == idea.id, Follow.user_id == person.id, Follow.via_vote.is_(True)
            )
        )
    if row.hidden_at is None:
        counted_for = person.organisation_id if person is not None else row.organisation_id
        votes.uncount_vote(idea, organisation_id=counted_for, cast_at=row.created_at)
    name = (
        person.display_name
        if person is not None
        else (organisation.name if organisation else "an organisation")
    )
    audit.record(
        "vote.removed_by_team",
        actor=actor,
        ip=ip,
        target=idea,
        idea=idea.title,
        voter=name,
        source=VOTE_SOURCES.get(row.source, row.source),
    )
    return name


def team_votes(idea: Idea, *, viewer: User) -> list[TeamVote]:
    """Every counted vote the team added on this idea, newest first, with source and quote."""
    require(can_triage(viewer))
    adder = aliased(User)
    rows = db.session.execute(
        select(Vote, User, Organisation, adder.display_name)
        .outerjoin(User, User.id == Vote.user_id)
        .outerjoin(Organisation, Organisation.id == Vote.organisation_id)
        .outerjoin(adder, adder.id == Vote.added_by_id)
        .where(Vote.idea_id == idea.id, Vote.source.is_not(None), Vote.hidden_at.is_(None))
        .order_by(Vote.created_at.desc(), Vote.id.desc())
    ).unique()
    return [
        TeamVote(
            id=vote.id,
            person=person,
            organisation=organisation,
            source=vote.source or "other",
            quote=vote.quote or "",
            added_by=added_by or "A former team member",
            created_at=vote.created_at,
        )
        for vote, person, organisation, added_by in rows
    ]


@dataclass
class AddedForYou:
    """What a customer sees about their vote when the team added it."""

    added_by: str
    source_label: str
    created_at: datetime


def your_vote(idea: Idea, user: User) -> tuple[bool, AddedForYou | None]:
    """Whether this person's vote counts here and, if the team added it for them, who added it
    and from what: one query for the idea page, whichever it is."""
    if not getattr(user, "is_authenticated", False):
        return False, None
    row = db.session.execute(
        select(Vote.source, Vote.created_at, User.display_name)
        .outerjoin(User, User.id == Vote.added_by_id)
        .where(Vote.idea_id == idea.id, Vote.user_id == user.id, Vote.hidden_at.is_(None))
    ).one_or_none()
    if row is None:
        return False, None
    if row.source is None:
        return True, None
    return True, AddedForYou(
        added_by=row.display_name or "Someone in the team",
        source_label=VOTE_SOURCES.get(row.source, "another conversation"),
        created_at=row.created_at,
    )


def added_for(idea: Idea, user: User) -> AddedForYou | None:
    """If this person's counted vote here was added by the team: who added it, and from what."""
    return your_vote(idea, user)[1]
