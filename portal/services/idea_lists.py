"""Browsing ideas: the sorted, filtered, paged lists, and what each card shows beside an idea."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, lazyload

from portal import visibility
from portal.extensions import db
from portal.models import (
    Comment,
    Follow,
    Idea,
    IdeaOrganisation,
    Organisation,
    Stage,
    StageChange,
    User,
    Vote,
)
from portal.permissions import is_signed_in
from portal.services import catalog

# Where a page of ideas ends: the sort column's value (a time, a score or a count).
CursorValue = datetime | float | int

SORTS = {
    "trending": ("Trending", Idea.trending_score),
    "top": ("Most votes", Idea.vote_count),
    "new": ("Newest", Idea.created_at),
    "discussed": ("Most discussed", Idea.comment_count),
    "updated": ("Recently updated", Idea.last_activity_at),
}
PER_PAGE = 20


# The filters that list what is one person's own ("Mine", "Voted", "Following"): the query
# parameters set to 1 that turn them on.
PERSONAL_FILTERS = ("mine", "voted", "following")


@dataclass
class IdeaFilters:
    sort: str = "trending"
    stage: str = "open"  # "open", "closed", "all" or a stage slug
    category_id: int | None = None
    mine: bool = False
    voted: bool = False
    following: bool = False
    board_id: int | None = None  # one board's list; None lists every board the viewer sees


@dataclass
class IdeaPage:
    ideas: list[Idea]
    next_cursor: str | None
    prev_cursor: str | None
    voted_ids: set[int] = field(default_factory=set)
    org_counts: dict[int, int] = field(default_factory=dict)


def encode_cursor(value: CursorValue, idea_id: int) -> str:
    payload = {"t": value.isoformat()} if isinstance(value, datetime) else value
    raw = json.dumps([payload, idea_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[CursorValue, int]:
    """The (value, id) a cursor points after; ValueError for anything that is not one of ours."""

    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, idea_id = json.loads(raw)
    except Exception as exc:
        raise ValueError("bad cursor") from exc
    if not isinstance(idea_id, int) or isinstance(idea_id, bool) or not 0 < idea_id < 2**31:
        raise ValueError("bad cursor")
    if sort in ("new", "updated"):
        if not isinstance(value, dict) or not isinstance(value.get("t"), str):
            raise ValueError("bad cursor")
        when = datetime.fromisoformat(value["t"])
        if when.tzinfo is None:
            raise ValueError("bad cursor")
        return when, idea_id
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError("bad cursor")
    elif sort == "trending":
        value = float(value)
        if not math.isfinite(value):
            raise ValueError("bad cursor")
    elif not isinstance(value, int) or not -(2**31) < value < 2**31:
        raise ValueError("bad cursor")  # counts are 32-bit integers
    return value, idea_id


def visible_ideas(viewer: Any) -> Select[Idea]:
    """The ideas this person may see in a list (portal.visibility)."""
    return select(Idea).where(visibility.listed(viewer))


def _filtered(filters: IdeaFilters, viewer: Any) -> Select[Idea]:
    stmt = visible_ideas(viewer)
    if filters.stage == "open":
        stmt = stmt.where(Idea.stage.has(Stage.is_closed.is_(False)))
    elif filters.stage == "closed":
        stmt = stmt.where(Idea.stage.has(Stage.is_closed.is_(True)))
    elif filters.stage != "all":
        stmt = stmt.where(Idea.stage.has(Stage.slug == filters.stage))
    if filters.category_id is not None:
        stmt = stmt.where(Idea.category_id == filters.category_id)
    if filters.board_id is not None:
        stmt = stmt.where(Idea.board_id == filters.board_id)
    if is_signed_in(viewer):
        if filters.mine:
            stmt = stmt.where(Idea.author_id == viewer.id)
        if filters.voted:
            stmt = stmt.where(
                select(Vote.id)
                .where(Vote.idea_id == Idea.id, Vote.user_id == viewer.id, Vote.hidden_at.is_(None))
                .exists()
            )
        if filters.following:
            stmt = stmt.where(
                select(Follow.user_id)
                .where(Follow.idea_id == Idea.id, Follow.user_id == viewer.id)
                .exists()
            )
    return stmt


def list_ideas(
    filters: IdeaFilters,
    *,
    viewer: Any,
    after: str | None = None,
    before: str | None = None,
    per_page: int = PER_PAGE,
) -> IdeaPage:
    """One page of ideas in keyset order: as fast on page 1,000 as on page 1."""
    column = SORTS[filters.sort][1]
    stmt = _filtered(filters, viewer)
    key = tuple_(column, Idea.id)
    backwards = before is not None and after is None
    if after is not None:
        stmt = stmt.where(key < tuple_(*decode_cursor(after, filters.sort)))
    elif before is not None:
        stmt = stmt.where(key > tuple_(*decode_cursor(before, filters.sort)))
    order = (column.asc(), Idea.id.asc()) if backwards else (column.desc(), Idea.id.desc())
    # A card shows the stage and category; joining author and owner too (each with their
    # organisation) made PostgreSQL spend 16 ms planning a query that runs in one.
    stmt = stmt.options(lazyload(Idea.author), lazyload(Idea.owner))
    rows = list(db.session.scalars(stmt.order_by(*order).limit(per_page + 1)).unique())
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backwards:
        rows.reverse()

    def cursor_of(idea: Idea) -> str:
        return encode_cursor(getattr(idea, column.key), idea.id)

    has_next = more if not backwards else True
    has_prev = (after is not None) if not backwards else more
    page = IdeaPage(
        ideas=rows,
        next_cursor=cursor_of(rows[-1]) if rows and has_next else None,
        prev_cursor=cursor_of(rows[0]) if rows and has_prev else None,
    )
    decorate(page, viewer)
    return page


def decorate(page: IdeaPage, viewer: Any) -> None:
    """What a list shows beside each idea, in a fixed number of queries for the whole page."""
    ids = [idea.id for idea in page.ideas]
    if not ids:
        return
    page.voted_ids = voted_ids(viewer, ids)
    page.org_counts = organisation_counts(ids)


def voted_ids(viewer: Any, idea_ids: Collection[int]) -> set[int]:
    """Which of these ideas the viewer's vote counts for, in one query (none for visitors)."""
    if not is_signed_in(viewer) or not idea_ids:
        return set()
    return set(
        db.session.scalars(
            select(Vote.idea_id).where(
                Vote.user_id == viewer.id, Vote.idea_id.in_(idea_ids), Vote.hidden_at.is_(None)
            )
        )
    )


def all_voted_ids(viewer: Any) -> frozenset[int]:
    """Every idea the viewer's vote counts for (none for visitors)."""
    if not is_signed_in(viewer):
        return frozenset()
    return frozenset(
        db.session.scalars(
            select(Vote.idea_id).where(Vote.user_id == viewer.id, Vote.hidden_at.is_(None))
        )
    )


def organisation_counts(idea_ids: list[int]) -> dict[int, int]:
    """How many distinct organisations have people voting for each idea."""
    rows = db.session.execute(
        select(IdeaOrganisation.idea_id, func.count())
        .where(IdeaOrganisation.idea_id.in_(idea_ids))
        .group_by(IdeaOrganisation.idea_id)
    )
    return dict(rows.all())


def supporter_summary(idea: Idea) -> tuple[int, int]:
    """(people, organisations) behind an idea: 'supported by N people from M organisations'."""
    return idea.vote_count, organisation_counts([idea.id]).get(idea.id, 0)


@dataclass
class Supporter:
    """One vote in the supporters row: a person, or an organisation the team added."""

    name: str  # the person's display name, or the organisation's name
    added_by_team: bool = False
    is_organisation: bool = False

    @property
    def initials(self) -> str:
        parts = self.name.split()
        return (parts[0][:1] + (parts[-1][:1] if len(parts) > 1 else "")).upper() if parts else "?"


@dataclass
class Supporters:
    """The latest people behind an idea, and the organisations with most of its voters."""

    people: list[Supporter]  # latest vote first
    organisations: list[tuple[str, int]]  # (name, voters), most voters first


def supporters(idea: Idea, *, people: int = 8, organisations: int = 5) -> Supporters:
    """Who stands behind an idea, for its page: two queries, whatever the number of votes."""
    latest = db.session.execute(
        select(User.display_name, Organisation.name, Vote.source.is_not(None))
        .select_from(Vote)
        .outerjoin(User, User.id == Vote.user_id)
        .outerjoin(Organisation, Organisation.id == Vote.organisation_id)
        .where(Vote.idea_id == idea.id, Vote.hidden_at.is_(None))
        .order_by(Vote.created_at.desc(), Vote.id.desc())
        .limit(people)
    )
    orgs = db.session.execute(
        select(Organisation.name, IdeaOrganisation.voters)
        .join(IdeaOrganisation, IdeaOrganisation.organisation_id == Organisation.id)
        .where(IdeaOrganisation.idea_id == idea.id, IdeaOrganisation.voters > 0)
        .order_by(IdeaOrganisation.voters.desc(), Organisation.name)
        .limit(organisations)
    )
    return Supporters(
        [
            Supporter(
                person or organisation or "",
                added_by_team=bool(by_team),
                is_organisation=person is None,
            )
            for person, organisation, by_team in latest
        ],
        [(name, voters) for name, voters in orgs],
    )


def my_activity(user: User, *, limit: int = 50) -> dict[str, list[Idea]]:
    """What a person submitted, voted for and follows, each with its latest change first."""

    def ideas(condition: ColumnElement[bool]) -> list[Idea]:
        # Authors still see their own hidden ideas here, marked as hidden by moderators; nobody
        # sees an idea on a board they may not see, even one they wrote or voted for.
        stmt = (
            select(Idea)
            .where(condition, visibility.listed(user, own_hidden=True, hidden_for_team=False))
            .order_by(Idea.last_activity_at.desc(), Idea.id.desc())
            .limit(limit)
        )
        return list(db.session.scalars(stmt).unique())

    return {
        "submitted": ideas(Idea.author_id == user.id),
        "voted": ideas(
            select(Vote.id)
            .where(Vote.idea_id == Idea.id, Vote.user_id == user.id, Vote.hidden_at.is_(None))
            .exists()
        ),
        "following": ideas(
            select(Follow.user_id)
            .where(Follow.idea_id == Idea.id, Follow.user_id == user.id)
            .exists()
        ),
    }


@dataclass
class LatestChange:
    when: datetime
    text: str


def _newest_rows(
    model: type[StageChange] | type[Comment],
    ids: list[int],
    *columns: InstrumentedAttribute[Any],
    where: ColumnElement[bool] | None = None,
) -> Sequence[Row[Any]]:
    """For each idea, the newest row of model (a StageChange or Comment) in one query."""
    stmt = select(
        model.idea_id,
        model.created_at,
        *columns,
        func.row_number()
        .over(partition_by=model.idea_id, order_by=(model.created_at.desc(), model.id.desc()))
        .label("n"),
    ).where(model.idea_id.in_(ids))
    if where is not None:
        stmt = stmt.where(where)
    ranked = stmt.subquery()
    return db.session.execute(select(ranked).where(ranked.c.n == 1)).all()


def latest_changes(idea_list: list[Idea]) -> dict[int, LatestChange]:
    """The newest thing that happened to each idea: a stage change, a comment or its posting.

    A fixed number of queries (three) whatever the number of ideas.
    """

    result = {idea.id: LatestChange(idea.created_at, "Posted") for idea in idea_list}
    ids = list(result)
    if not ids:
        return result
    stage_names = {stage.id: stage.name for stage in catalog.stages()}
    for row in _newest_rows(StageChange, ids, StageChange.to_stage_id):
        if row.created_at >= result[row.idea_id].when:
            name = stage_names.get(row.to_stage_id, "a new stage")
            result[row.idea_id] = LatestChange(row.created_at, f"Moved to {name}")
    visible = Comment.deleted_at.is_(None) & Comment.hidden_at.is_(None)
    for row in _newest_rows(Comment, ids, where=visible):
        if row.created_at > result[row.idea_id].when:
            result[row.idea_id] = LatestChange(row.created_at, "New comment")
    return result
