"""The team's dashboard: where ideas stand, how fast the team answers, and what customers think."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Float, case, cast, func, select
from sqlalchemy.orm import InstrumentedAttribute

from portal.extensions import db
from portal.models import (
    NEW_SLUG,
    Category,
    Idea,
    IdeaOrganisation,
    Organisation,
    OutcomeAnswer,
    Stage,
    StageChange,
    User,
)
from portal.models.types import utcnow
from portal.permissions import can_triage, require
from portal.services import catalog, outcomes

WEEKS = 12
RESPONSE_WINDOW = timedelta(days=90)
NOT_YET_PLANNED = (NEW_SLUG, "under_review")
# The organisations breakdown lists those behind the most open ideas; there may be hundreds.
ORGANISATION_ROWS = 15
LOWEST_SATISFACTION = 10


@dataclass
class Group:
    """One owner, category or organisation: its open ideas, how promptly they were first
    answered, and what the people asked said of the outcome."""

    key: int | None
    name: str
    open: int = 0
    overdue: int = 0
    # Of the ideas posted in RESPONSE_WINDOW whose first answer was due or given: how many,
    # and how many were answered by the promise.
    due: int = 0
    in_time: int = 0
    verdicts: outcomes.Verdicts = field(default_factory=outcomes.Verdicts)

    @property
    def in_time_share(self) -> int | None:
        return round(100 * self.in_time / self.due) if self.due else None


@dataclass
class Breakdown:
    title: str  # "Owner", "Category", "Organisation"
    groups: list[Group]
    note: str = ""


@dataclass
class LowSatisfaction:
    idea: Idea
    verdicts: outcomes.Verdicts

    @property
    def score(self) -> int:
        """Yes counts whole, partly half: 0 (every answer no) to 100 (every answer yes)."""
        v = self.verdicts
        return round(100 * (v.counts["yes"] + v.counts["partly"] / 2) / v.total) if v.total else 0


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
    breakdowns: list[Breakdown] = field(default_factory=list)
    lowest_satisfaction: list[LowSatisfaction] = field(default_factory=list)

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
        breakdowns=_breakdowns(now),
        lowest_satisfaction=_lowest_satisfaction(),
    )


# --- Breakdowns by owner, category and organisation ---------------------------------------
# A fixed number of queries whatever the number of ideas: counts are grouped in SQL; only the
# first answers of the last RESPONSE_WINDOW are compared with their promise in Python, as the
# promise (the first stage's response_days) is date arithmetic each database spells its way.


Groups = dict[int | None, Group]


def _group(groups: Groups, key: int | None) -> Group:
    return groups.setdefault(key, Group(key, ""))


def _open_ideas() -> list[ColumnElement[bool]]:
    return [
        Idea.hidden_at.is_(None),
        Idea.merged_into_id.is_(None),
        Stage.is_closed.is_(False),
    ]


def _breakdowns(now: datetime) -> list[Breakdown]:
    owners: Groups = {}
    categories: Groups = {}
    organisations: Groups = {}
    group = _group
    overdue = func.sum(case((Idea.response_due_at < now, 1), else_=0))
    for owner_id, category_id, n, late in db.session.execute(
        select(Idea.owner_id, Idea.category_id, func.count(Idea.id), overdue)
        .join(Stage, Stage.id == Idea.stage_id)
        .where(*_open_ideas())
        .group_by(Idea.owner_id, Idea.category_id)
    ):
        for g in (group(owners, owner_id), group(categories, category_id)):
            g.open += n
            g.overdue += late or 0
    for organisation_id, n, late in db.session.execute(
        select(IdeaOrganisation.organisation_id, func.count(Idea.id), overdue)
        .join(Idea, Idea.id == IdeaOrganisation.idea_id)
        .join(Stage, Stage.id == Idea.stage_id)
        .where(*_open_ideas())
        .group_by(IdeaOrganisation.organisation_id)
    ):
        g = group(organisations, organisation_id)
        g.open, g.overdue = n, late or 0

    _first_answers(now, owners, categories, organisations)
    _answers(owners, categories, organisations)
    _name(owners, categories, organisations)

    by_open = lambda g: (-g.open, -g.overdue, g.name.lower())  # noqa: E731
    org_rows = sorted((g for g in organisations.values()), key=by_open)
    return [
        Breakdown("Owner", sorted(owners.values(), key=by_open)),
        Breakdown("Category", sorted(categories.values(), key=by_open)),
        Breakdown(
            "Organisation",
            org_rows[:ORGANISATION_ROWS],
            note=(
                f"The {ORGANISATION_ROWS} organisations behind the most open ideas, of "
                f"{len(org_rows)}."
                if len(org_rows) > ORGANISATION_ROWS
                else ""
            ),
        ),
    ]


def _first_answers(
    now: datetime,
    owners: Groups,
    categories: Groups,
    organisations: Groups,
) -> None:
    """Ideas posted in the window whose first answer is due or given, and those answered by
    the first stage's promise, for each owner, category and organisation behind them."""
    group = _group
    first = next((s for s in catalog.stages() if s.slug == NEW_SLUG), None)
    promise = timedelta(days=first.response_days) if first and first.response_days else None
    window = (
        Idea.created_at >= now - RESPONSE_WINDOW,
        Idea.is_team_concept.is_(False),
        Idea.hidden_at.is_(None),
    )
    rows = db.session.execute(
        select(
            Idea.id, Idea.owner_id, Idea.category_id, Idea.created_at, Idea.first_response_at
        ).where(*window)
    ).all()
    backers: dict[int, list[int]] = {}
    for idea_id, organisation_id in db.session.execute(
        select(IdeaOrganisation.idea_id, IdeaOrganisation.organisation_id).where(
            IdeaOrganisation.idea_id.in_(select(Idea.id).where(*window))
        )
    ):
        backers.setdefault(idea_id, []).append(organisation_id)
    for idea_id, owner_id, category_id, created, answered in rows:
        due_by = created + promise if promise else None
        if answered is None and (due_by is None or due_by >= now):
            continue  # not answered, and not late yet: nothing to judge
        in_time = answered is not None and (due_by is None or answered <= due_by)
        targets = [group(owners, owner_id), group(categories, category_id)]
        targets += [group(organisations, o) for o in backers.get(idea_id, [])]
        for g in targets:
            g.due += 1
            g.in_time += in_time


def _answers(
    owners: Groups,
    categories: Groups,
    organisations: Groups,
) -> None:
    """Outcome answers: by the idea's owner and category, and by the answering person's
    organisation (what that company's people think of what they got)."""
    group = _group
    for answer, owner_id, category_id, organisation_id, n in db.session.execute(
        select(
            OutcomeAnswer.answer,
            Idea.owner_id,
            Idea.category_id,
            User.organisation_id,
            func.count(OutcomeAnswer.id),
        )
        .join(Idea, Idea.id == OutcomeAnswer.idea_id)
        .join(Stage, Stage.id == Idea.stage_id)
        .join(User, User.id == OutcomeAnswer.user_id)
        .where(Stage.slug.in_(outcomes.ASKED_STAGES), Idea.hidden_at.is_(None))
        .group_by(OutcomeAnswer.answer, Idea.owner_id, Idea.category_id, User.organisation_id)
    ):
        targets = [group(owners, owner_id), group(categories, category_id)]
        if organisation_id is not None:
            targets.append(group(organisations, organisation_id))
        for g in targets:
            g.verdicts.counts[answer] += n


def _names(
    id_column: InstrumentedAttribute[int],
    name_column: InstrumentedAttribute[str],
    ids: Iterable[int | None],
) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = db.session.execute(select(id_column, name_column).where(id_column.in_(wanted)))
    return {id_: name for id_, name in rows}


def _name(owners: Groups, categories: Groups, organisations: Groups) -> None:
    for groups, id_column, name_column, nobody in (
        (owners, User.id, User.display_name, "Nobody yet"),
        (categories, Category.id, Category.name, "No category"),
        (organisations, Organisation.id, Organisation.name, "No organisation"),
    ):
        names = _names(id_column, name_column, groups)
        for key, g in groups.items():
            g.name = names.get(key, nobody) if key is not None else nobody
    organisations.pop(None, None)


def _lowest_satisfaction() -> list[LowSatisfaction]:
    """The closed ideas whose followers were least satisfied: no counts as 0, partly as a
    half, yes as 1; ties go to the idea more people answered."""
    yes = func.sum(case((OutcomeAnswer.answer == "yes", 1), else_=0))
    partly = func.sum(case((OutcomeAnswer.answer == "partly", 1), else_=0))
    no = func.sum(case((OutcomeAnswer.answer == "no", 1), else_=0))
    total = func.count(OutcomeAnswer.id)
    score = cast(2 * yes + partly, Float) / (2 * total)
    ranked = (
        select(OutcomeAnswer.idea_id, yes.label("yes"), partly.label("partly"), no.label("no"))
        .join(Idea, Idea.id == OutcomeAnswer.idea_id)
        .join(Stage, Stage.id == Idea.stage_id)
        .where(Stage.slug.in_(outcomes.ASKED_STAGES), Idea.hidden_at.is_(None))
        .group_by(OutcomeAnswer.idea_id)
        .order_by(score, total.desc(), OutcomeAnswer.idea_id)
        .limit(LOWEST_SATISFACTION)
        .subquery()
    )
    rows = (
        db.session.execute(
            select(Idea, ranked.c.yes, ranked.c.partly, ranked.c.no).join(
                ranked, ranked.c.idea_id == Idea.id
            )
        )
        .unique()
        .all()
    )
    result = []
    for idea, y, p, n in rows:
        verdicts = outcomes.Verdicts()
        verdicts.counts.update(yes=y, partly=p, no=n)
        result.append(LowSatisfaction(idea, verdicts))
    result.sort(key=lambda r: (r.score, -r.verdicts.total, r.idea.id))
    return result


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
