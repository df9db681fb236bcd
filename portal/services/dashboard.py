"""The team's dashboard: where ideas stand, how fast the team answers, and what customers think."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import NEW_SLUG, Idea, Stage, StageChange, User
from portal.models.types import utcnow
from portal.permissions import can_triage, require
from portal.services import catalog, outcomes

WEEKS = 12
RESPONSE_WINDOW = timedelta(days=90)
NOT_YET_PLANNED = (NEW_SLUG, "under_review")


@dataclass
class Week:
    start: datetime
    submitted: int = 0
    closed: int = 0


@dataclass
class Dashboard:
    per_stage: list[tuple[Stage, int]]
    new_this_week: int
    overdue_now: int
    median_first_response: timedelta | None
    answered_in_window: int
    satisfaction: outcomes.Verdicts
    most_wanted: list[Idea]
    weeks: list[Week]

    @property
    def busiest_week(self) -> int:
        return max([1] + [max(w.submitted, w.closed) for w in self.weeks])


def _week_start(when: datetime) -> datetime:
    day = when - timedelta(days=when.weekday())
    return day.replace(hour=0, minute=0, second=0, microsecond=0)


def dashboard(*, viewer: User) -> Dashboard:
    require(can_triage(viewer))
    now = utcnow()
    visible = Idea.hidden_at.is_(None)
    counts = dict(
        db.session.execute(
            select(Idea.stage_id, func.count(Idea.id)).where(visible).group_by(Idea.stage_id)
        ).all()
    )
    per_stage = [(stage, counts.get(stage.id, 0)) for stage in catalog.stages()]
    new_this_week = db.session.scalar(
        select(func.count(Idea.id)).where(visible, Idea.created_at >= now - timedelta(days=7))
    )
    overdue_now = db.session.scalar(
        select(func.count(Idea.id))
        .join(Stage, Stage.id == Idea.stage_id)
        .where(visible, Stage.is_closed.is_(False), Idea.response_due_at < now)
    )
    answered = db.session.execute(
        select(Idea.created_at, Idea.first_response_at).where(
            Idea.created_at >= now - RESPONSE_WINDOW,
            Idea.first_response_at.is_not(None),
            Idea.is_team_concept.is_(False),
        )
    ).all()
    waits = [responded - created for created, responded in answered if responded is not None]
    most_wanted = list(
        db.session.scalars(
            select(Idea)
            .join(Stage, Stage.id == Idea.stage_id)
            .where(visible, Stage.slug.in_(NOT_YET_PLANNED))
            .order_by(Idea.vote_count.desc(), Idea.id.desc())
            .limit(10)
        ).unique()
    )
    return Dashboard(
        per_stage=per_stage,
        new_this_week=new_this_week or 0,
        overdue_now=overdue_now or 0,
        # median() only sorts and averages, which timedelta supports; typeshed asks for numbers.
        median_first_response=statistics.median(waits) if waits else None,  # type: ignore[type-var]
        answered_in_window=len(waits),
        satisfaction=outcomes.satisfaction(),
        most_wanted=most_wanted,
        weeks=_weeks(now),
    )


def _weeks(now: datetime) -> list[Week]:
    """Ideas submitted and closed in each of the last WEEKS weeks (Monday to Sunday, UTC)."""
    first = _week_start(now) - timedelta(weeks=WEEKS - 1)
    weeks = [Week(first + timedelta(weeks=i)) for i in range(WEEKS)]

    def bucket(when: datetime) -> Week | None:
        index = (when - first).days // 7
        return weeks[index] if 0 <= index < WEEKS else None

    for (created,) in db.session.execute(
        select(Idea.created_at).where(Idea.created_at >= first, Idea.hidden_at.is_(None))
    ):
        if week := bucket(created):
            week.submitted += 1
    for (closed,) in db.session.execute(
        select(StageChange.created_at)
        .join(Stage, Stage.id == StageChange.to_stage_id)
        .where(StageChange.created_at >= first, Stage.is_closed.is_(True))
    ):
        if week := bucket(closed):
            week.closed += 1
    return weeks
