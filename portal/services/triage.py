"""The product team's queue: ideas awaiting a first answer, then ideas overdue for the next;
every open idea by owner, stage, category, organisation and lateness; and the order in which
the "next idea" flow walks through them."""

from __future__ import annotations

import _csv
import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Select, func, or_, select

from portal.extensions import db
from portal.models import (
    Idea,
    InternalNote,
    Organisation,
    Role,
    SavedFilter,
    Stage,
    User,
)
from portal.models.types import utcnow
from portal.permissions import can_triage, require
from portal.services import audit
from portal.services.errors import InvalidInput
from portal.services.validation import long_text, too_long


@dataclass
class TriageFilters:
    category_id: int | None = None
    stage: str | None = None  # a stage slug
    organisation_id: int | None = None
    owner_id: int | None = None
    unassigned: bool = False  # nobody owns it (owner_id is then ignored)
    overdue: bool = False  # the answer customers were promised is late


@dataclass
class QueueEntry:
    idea: Idea
    due_at: datetime | None
    days_late: int  # 0 when not late


@dataclass
class Queue:
    awaiting: list[QueueEntry]  # no answer yet, oldest first
    overdue: list[QueueEntry]  # answered before, next answer late, latest first


def open_ideas_select(filters: TriageFilters) -> Select:
    """Open, visible ideas matching the team's filters: the start of the team's lists."""
    stmt = (
        select(Idea)
        .join(Stage, Idea.stage_id == Stage.id)
        .where(Stage.is_closed.is_(False), Idea.hidden_at.is_(None))
    )
    if filters.category_id is not None:
        stmt = stmt.where(Idea.category_id == filters.category_id)
    if filters.stage:
        stmt = stmt.where(Stage.slug == filters.stage)
    if filters.unassigned:
        stmt = stmt.where(Idea.owner_id.is_(None))
    elif filters.owner_id is not None:
        stmt = stmt.where(Idea.owner_id == filters.owner_id)
    if filters.overdue:
        stmt = stmt.where(Idea.response_due_at < utcnow())
    if filters.organisation_id is not None:
        stmt = stmt.where(
            Idea.author_id.in_(
                select(User.id).where(User.organisation_id == filters.organisation_id)
            )
        )
    return stmt


def _entry(idea: Idea, now: datetime) -> QueueEntry:
    due = idea.response_due_at
    late = (now - due).days if due is not None and due < now else 0
    return QueueEntry(idea, due, max(late, 0))


def queue(filters: TriageFilters, *, viewer: User, limit: int = 200) -> Queue:
    """Two lists in two queries: what waits for a first answer, and what is late for the next."""
    require(can_triage(viewer))
    now = utcnow()
    awaiting = db.session.scalars(
        open_ideas_select(filters)
        .where(Idea.first_response_at.is_(None))
        .order_by(Idea.created_at, Idea.id)
        .limit(limit)
    ).unique()
    overdue = db.session.scalars(
        open_ideas_select(filters)
        .where(Idea.first_response_at.is_not(None), Idea.response_due_at < now)
        .order_by(Idea.response_due_at, Idea.id)
        .limit(limit)
    ).unique()
    return Queue([_entry(i, now) for i in awaiting], [_entry(i, now) for i in overdue])


def queue_csv(q: Queue) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["list", "id", "title", "stage", "category", "author", "organisation", "votes",
         "comments", "posted", "answer due", "days late"]
    )  # fmt: skip
    for name, entries in (("awaiting first answer", q.awaiting), ("overdue", q.overdue)):
        for e in entries:
            idea = e.idea
            author = idea.author
            write_csv_row(
                writer,
                [
                    name,
                    idea.id,
                    idea.title,
                    idea.stage.name,
                    idea.category.name if idea.category else "",
                    author.display_name if author else "",
                    author.organisation.name if author and author.organisation else "",
                    idea.vote_count,
                    idea.comment_count,
                    idea.created_at.isoformat(),
                    e.due_at.isoformat() if e.due_at else "",
                    e.days_late,
                ],
            )
    return out.getvalue()


def write_csv_row(writer: _csv.Writer, row: list[Any]) -> None:
    """Spreadsheets run text cells that start with = + - @ as formulas; make them plain text."""
    writer.writerow(
        [
            "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v
            for v in row
        ]
    )


# --- Owners, estimates and internal notes --------------------------------------------------

NOTE_MAX = 5_000


def team_members() -> list[User]:
    """The people who can own an idea: product managers and admins, not suspended."""
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.role.in_([Role.PRODUCT_MANAGER.value, Role.ADMIN.value]),
                User.suspended_at.is_(None),
            )
            .order_by(User.display_name)
        ).unique()
    )


def assign_owner(idea: Idea, owner: User | None, *, actor: User, ip: str | None) -> None:
    """Name the team member customers can contact about this idea (or nobody)."""
    require(can_triage(actor))
    if owner is not None and not can_triage(owner):
        raise InvalidInput("Only a product manager or admin can own an idea.", field="owner_id")
    if idea.owner_id == (owner.id if owner else None):
        return
    previous = idea.owner
    idea.owner = owner
    # The people themselves: the log keeps their names as they are today.
    audit.record(
        "idea.owner_changed", actor=actor, ip=ip, target=idea, previous=previous, owner=owner
    )


def set_estimates(
    idea: Idea, *, impact: int | None, effort: int | None, actor: User, ip: str | None = None
) -> bool:
    """The team's judgement of an idea's impact and effort (1 to 5, or not judged); audited
    with the values before and after. Returns whether anything changed."""
    require(can_triage(actor))
    for name, value in (("impact", impact), ("effort", effort)):
        if value is not None and not 1 <= value <= 5:
            raise InvalidInput("Estimates go from 1 (low) to 5 (high).", field=name)
    old = {"impact": idea.impact, "effort": idea.effort}
    new = {"impact": impact, "effort": effort}
    if old == new:
        return False
    idea.impact, idea.effort = impact, effort
    audit.record(
        "idea.estimates_changed",
        actor=actor,
        ip=ip,
        target=idea,
        idea=idea.title,
        **{k: {"old": old[k], "new": new[k]} for k in new if old[k] != new[k]},
    )
    return True


def add_internal_note(idea: Idea, *, actor: User, body: str) -> InternalNote:
    require(can_triage(actor))
    body = long_text(body)
    if not body:
        raise InvalidInput("Write the note first.", field="body")
    if len(body) > NOTE_MAX:
        raise InvalidInput(too_long(len(body), NOTE_MAX), field="body")
    note = InternalNote(idea_id=idea.id, author_id=actor.id, body=body)
    db.session.add(note)
    return note


def internal_notes(idea: Idea, *, viewer: User) -> list[InternalNote]:
    require(can_triage(viewer))
    return list(
        db.session.scalars(
            select(InternalNote)
            .where(InternalNote.idea_id == idea.id)
            .order_by(InternalNote.created_at.desc(), InternalNote.id.desc())
        ).unique()
    )


# --- Lookups for the team's pages -----------------------------------------------------------


def organisation_choices() -> list[tuple[int, str]]:
    """Every organisation's id and name, by name: the choices of the triage filters."""
    query = select(Organisation.id, Organisation.name).order_by(Organisation.name)
    return [(row.id, row.name) for row in db.session.execute(query)]


def ideas_by_id(ids: list[int]) -> list[Idea]:
    """The ideas with these ids (the ones that exist), for moving several at once."""
    return list(db.session.scalars(select(Idea).where(Idea.id.in_(ids))).unique())


# --- The inbox: views over every open idea, and the "next idea" flow -----------------------

SHOW_ANSWER = "answer"  # awaiting a first answer, then overdue for the next (the default)
SHOW_ALL = "all"  # every open idea
OWNER_ME = "me"
OWNER_NOBODY = "unassigned"
# The names a view's address may carry, in the order a saved filter keeps them.
VIEW_NAMES = ("show", "stage", "category", "organisation", "owner", "overdue")
INBOX_SIZE = 200
SEQUENCE_SIZE = 1_000


@dataclass(frozen=True)
class InboxView:
    """One way of looking at the open ideas: which ones (filters) and which lists (show)."""

    filters: TriageFilters
    show: str = SHOW_ANSWER

    @property
    def all_open(self) -> bool:
        return self.show == SHOW_ALL


def _whole_number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and 0 < len(text) <= 9 else None


def parse_view(args: Mapping[str, str], *, viewer_id: int, stage_slugs: set[str]) -> InboxView:
    """The view an address names. Values that name nothing are left out rather than refused:
    a saved filter may outlive the stage or organisation it named."""
    owner = args.get("owner", "")
    stage = args.get("stage", "")
    return InboxView(
        TriageFilters(
            category_id=_whole_number(args.get("category", "")),
            stage=stage if stage in stage_slugs else None,
            organisation_id=_whole_number(args.get("organisation", "")),
            owner_id=viewer_id if owner == OWNER_ME else _whole_number(owner),
            unassigned=owner == OWNER_NOBODY,
            overdue=args.get("overdue", "") not in ("", "0"),
        ),
        SHOW_ALL if args.get("show") == SHOW_ALL else SHOW_ANSWER,
    )


def view_query(args: Mapping[str, str]) -> str:
    """The canonical query string of a view: only its own names, in one order, none empty.

    "owner=me" stays as written, so a filter shared with the team means each person's own."""
    pairs = []
    for name in VIEW_NAMES:
        value = args.get(name, "").strip()
        if name == "show" and value != SHOW_ALL:
            continue  # the default view says nothing
        if name == "overdue":
            value = "" if value in ("", "0") else "1"
        if value:
            pairs.append((name, value))
    return urlencode(pairs)


def _needs_answer(now: datetime) -> ColumnElement[bool]:
    return or_(Idea.first_response_at.is_(None), Idea.response_due_at < now)


def _in_view(view: InboxView, now: datetime) -> Select:
    stmt = open_ideas_select(view.filters)
    return stmt if view.all_open else stmt.where(_needs_answer(now))


def _all_open_order(stmt: Select) -> Select:
    """The soonest promise first (overdue ones lead), then the ideas with none, oldest first."""
    return stmt.order_by(
        Idea.response_due_at.is_(None), Idea.response_due_at, Idea.created_at, Idea.id
    )


@dataclass
class OpenIdeas:
    entries: list[QueueEntry]
    total: int  # how many match, when entries stops at the page size


def open_ideas(filters: TriageFilters, *, viewer: User, limit: int = INBOX_SIZE) -> OpenIdeas:
    """Every open idea the filters keep, the soonest promise first, in two queries."""
    require(can_triage(viewer))
    now = utcnow()
    ideas = db.session.scalars(_all_open_order(open_ideas_select(filters)).limit(limit)).unique()
    entries = [_entry(i, now) for i in ideas]
    total = len(entries)
    if total == limit:
        total = count_views([InboxView(filters, SHOW_ALL)], viewer=viewer)[0]
    return OpenIdeas(entries, total)


def count_views(views: list[InboxView], *, viewer: User) -> list[int]:
    """How many ideas each view holds, in one query whatever the number of views."""
    require(can_triage(viewer))
    if not views:
        return []
    now = utcnow()
    counts = [
        select(func.count())
        .select_from(_in_view(v, now).with_only_columns(Idea.id).subquery())
        .scalar_subquery()
        for v in views
    ]
    row = db.session.execute(select(*counts)).one()
    return [int(n or 0) for n in row]


def sequence(view: InboxView, *, viewer: User, skipped: frozenset[int] = frozenset()) -> list[int]:
    """The ideas of a view in the order the list shows them: the "next idea" flow's path.

    Ideas the person skipped for now go to the end of the line, in the order they came."""
    require(can_triage(viewer))
    now = utcnow()
    if view.all_open:
        ids = list(
            db.session.scalars(
                _all_open_order(open_ideas_select(view.filters).with_only_columns(Idea.id)).limit(
                    SEQUENCE_SIZE
                )
            )
        )
    else:
        ids_stmt = open_ideas_select(view.filters).with_only_columns(Idea.id)
        awaiting = db.session.scalars(
            ids_stmt.where(Idea.first_response_at.is_(None))
            .order_by(Idea.created_at, Idea.id)
            .limit(SEQUENCE_SIZE)
        )
        overdue = db.session.scalars(
            ids_stmt.where(Idea.first_response_at.is_not(None), Idea.response_due_at < now)
            .order_by(Idea.response_due_at, Idea.id)
            .limit(SEQUENCE_SIZE)
        )
        ids = [*awaiting, *overdue]
    return [i for i in ids if i not in skipped] + [i for i in ids if i in skipped]


@dataclass(frozen=True)
class Position:
    """Where one idea stands in a view: "3 of 17", and its neighbours."""

    index: int | None  # 0-based; None once the idea has left the view (moved, assigned ...)
    total: int
    previous_id: int | None
    next_id: int | None

    @property
    def number(self) -> int | None:
        return None if self.index is None else self.index + 1


def position(ids: list[int], idea_id: int, *, was_at: int | None = None) -> Position:
    """The idea's place among ids. An idea that left the view keeps its old place (was_at):
    its neighbours are then the ideas on either side of the gap it left."""
    if idea_id in ids:
        i = ids.index(idea_id)
        return Position(
            i, len(ids), ids[i - 1] if i > 0 else None, ids[i + 1] if i + 1 < len(ids) else None
        )
    at = min(max(was_at or 0, 0), len(ids))
    return Position(
        None, len(ids), ids[at - 1] if at > 0 else None, ids[at] if at < len(ids) else None
    )


def open_ideas_csv(rows: OpenIdeas) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["id", "title", "stage", "category", "owner", "author", "organisation", "votes",
         "comments", "posted", "answer due", "days late"]
    )  # fmt: skip
    for e in rows.entries:
        idea = e.idea
        author = idea.author
        write_csv_row(
            writer,
            [
                idea.id,
                idea.title,
                idea.stage.name,
                idea.category.name if idea.category else "",
                idea.owner.display_name if idea.owner else "",
                author.display_name if author else "",
                author.organisation.name if author and author.organisation else "",
                idea.vote_count,
                idea.comment_count,
                idea.created_at.isoformat(),
                e.due_at.isoformat() if e.due_at else "",
                e.days_late,
            ],
        )
    return out.getvalue()


# The views every team member has, before their own saved filters: (label, query).
BUILT_IN_VIEWS = (
    ("Needs an answer", ""),
    ("All open ideas", "show=all"),
    ("Assigned to me", "show=all&owner=me"),
    ("Unassigned", "show=all&owner=unassigned"),
    ("Overdue", "show=all&overdue=1"),
)


def view_label(query: str, saved: list[SavedFilter]) -> str | None:
    """What the person calls a view: a built-in one's label, or a saved filter's name."""
    for label, built_in in BUILT_IN_VIEWS:
        if built_in == query:
            return label
    return next((f.name for f in saved if f.query == query), None)
