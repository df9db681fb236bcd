"""The public roadmap, the timeframes customers see on it, and the record of what shipped."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from portal import visibility
from portal.extensions import db
from portal.models import Idea, Stage, StageChange, User
from portal.models.types import utcnow
from portal.permissions import can_configure_site, can_triage, require
from portal.services import audit, settings
from portal.services.errors import InvalidInput

# Under review first: customers see what the team is weighing, not only what it decided.
ROADMAP_COLUMNS = ("under_review", "planned", "in_progress")
RECENTLY_SHIPPED = timedelta(days=90)


@dataclass
class ShippedIdea:
    idea: Idea
    shipped_at: datetime
    release_note: str


def roadmap(viewer: Any) -> dict[str, list[Idea]]:
    """Ideas under review, planned and in progress that this person may see, most wanted first;
    hidden ones never appear, even to the team."""
    rows = db.session.scalars(
        select(Idea)
        .join(Stage, Idea.stage_id == Stage.id)
        .where(Stage.slug.in_(ROADMAP_COLUMNS), visibility.listed(viewer, hidden_for_team=False))
        .order_by(Idea.vote_count.desc(), Idea.id.desc())
    ).unique()
    columns: dict[str, list[Idea]] = {slug: [] for slug in ROADMAP_COLUMNS}
    for idea in rows:
        columns[idea.stage.slug].append(idea)
    return columns


def shipped(*, viewer: Any, since: datetime | None = None, limit: int = 100) -> list[ShippedIdea]:
    """Shipped ideas this person may see, newest release first, each with the team's note from
    the move."""
    latest = (
        select(StageChange.idea_id, func.max(StageChange.id).label("change_id"))
        .join(Stage, StageChange.to_stage_id == Stage.id)
        .where(Stage.slug == "shipped")
        .group_by(StageChange.idea_id)
        .subquery()
    )
    stmt = (
        select(Idea, StageChange.created_at, StageChange.note)
        .join(latest, latest.c.idea_id == Idea.id)
        .join(StageChange, StageChange.id == latest.c.change_id)
        .join(Stage, Idea.stage_id == Stage.id)
        .where(Stage.slug == "shipped", visibility.listed(viewer, hidden_for_team=False))
        .order_by(StageChange.created_at.desc(), Idea.id.desc())
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(StageChange.created_at >= since)
    return [ShippedIdea(idea, at, note) for idea, at, note in db.session.execute(stmt).unique()]


def recently_shipped(viewer: Any) -> list[ShippedIdea]:
    return shipped(viewer=viewer, since=utcnow() - RECENTLY_SHIPPED, limit=20)


# --- Timeframes ------------------------------------------------------------------------------
# Admins choose how the roadmap speaks of time: relative (now, next, later) or by calendar
# quarter ("2027-Q1", shown "2027 Q1"). Values of either scheme stay readable after a switch,
# so nothing a PM set is lost; the team panel then offers the new scheme's choices.

NOW_NEXT_LATER = "now_next_later"
QUARTERS = "quarters"
SCHEMES = {
    NOW_NEXT_LATER: "Now, next, later",
    QUARTERS: "Calendar quarters, such as 2027 Q1",
}
RELATIVE = {"now": "Now", "next": "Next", "later": "Later"}
QUARTERS_AHEAD = 6  # this quarter and the five after it
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
NOT_SCHEDULED = "Not scheduled yet"


def timeframe_scheme() -> str:
    scheme = settings.get_setting("roadmap_timeframes")
    return scheme if scheme in SCHEMES else NOW_NEXT_LATER


def timeframe_label(value: str | None) -> str:
    """What customers read for a stored timeframe; empty for none."""
    if not value:
        return ""
    if value in RELATIVE:
        return RELATIVE[value]
    match = _QUARTER.match(value)
    return f"{match.group(1)} Q{match.group(2)}" if match else ""


def _sort_key(value: str | None) -> tuple[int, int, int]:
    """Soonest first: now, next, then quarters in calendar order, later, and none last."""
    if value in ("now", "next"):
        return (0, 0, 0 if value == "now" else 1)
    match = _QUARTER.match(value or "")
    if match:
        return (1, int(match.group(1)), int(match.group(2)))
    if value == "later":
        return (2, 0, 0)
    return (3, 0, 0)


def _quarter_of(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def timeframe_choices(*, current: str | None = None, today: date | None = None) -> dict[str, str]:
    """The timeframes a PM may pick under the admins' scheme, and the idea's own if it is of
    another scheme or a past quarter (so saving other things never erases it)."""
    choices = {"": NOT_SCHEDULED}
    if timeframe_scheme() == QUARTERS:
        year, quarter = _quarter_of(today or utcnow().date())
        for _ in range(QUARTERS_AHEAD):
            choices[f"{year}-Q{quarter}"] = f"{year} Q{quarter}"
            year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)
        choices["later"] = RELATIVE["later"]
    else:
        choices |= RELATIVE
    if current and current not in choices and timeframe_label(current):
        choices[current] = timeframe_label(current)
    return choices


def set_timeframe(idea: Idea, value: str, *, actor: User, ip: str | None) -> bool:
    """Set (or clear, with "") when customers can expect an idea; returns whether it changed."""
    require(can_triage(actor))
    value = (value or "").strip()
    if value not in timeframe_choices(current=idea.timeframe):
        raise InvalidInput("Choose one of the listed timeframes.", field="timeframe")
    if idea.stage.is_closed and value:
        raise InvalidInput(
            f"“{idea.title}” is {idea.stage.name.lower()}: a timeframe is for ideas still to come.",
            field="timeframe",
        )
    new = value or None
    if new == idea.timeframe:
        return False
    old = idea.timeframe
    idea.timeframe = new
    audit.record(
        "idea.timeframe_set",
        actor=actor,
        ip=ip,
        target=idea,
        idea=idea.title,
        old=timeframe_label(old) or NOT_SCHEDULED,
        new=timeframe_label(new) or NOT_SCHEDULED,
    )
    return True


def set_timeframe_scheme(scheme: str, *, actor: User, ip: str | None) -> bool:
    """The admins' choice of how the roadmap speaks of time; returns whether it changed."""
    require(can_configure_site(actor))
    if scheme not in SCHEMES:
        raise InvalidInput("Choose one of the listed ways.", field="scheme")
    old = timeframe_scheme()
    if scheme == old:
        return False
    settings.set_setting("roadmap_timeframes", scheme, actor=actor)
    audit.record(
        "settings.changed",
        actor=actor,
        ip=ip,
        changed=["roadmap_timeframes"],
        roadmap_timeframes={"old": SCHEMES[old], "new": SCHEMES[scheme]},
    )
    return True


@dataclass
class TimeframeColumn:
    key: str
    label: str
    ideas: list[Idea] = field(default_factory=list)


def roadmap_by_timeframe(columns: dict[str, list[Idea]]) -> list[TimeframeColumn]:
    """The roadmap's ideas regrouped by timeframe, soonest first, then those not scheduled;
    within each, in the order the stage columns had them (most wanted first)."""
    grouped: dict[str, TimeframeColumn] = {}
    for ideas in columns.values():
        for idea in ideas:
            key = idea.timeframe if timeframe_label(idea.timeframe) else ""
            column = grouped.setdefault(
                key or "", TimeframeColumn(key or "none", timeframe_label(key) or NOT_SCHEDULED)
            )
            column.ideas.append(idea)
    result = [grouped[k] for k in sorted(grouped, key=_sort_key)]
    for column in result:
        column.ideas.sort(key=lambda i: (-i.vote_count, -i.id))
    return result
