"""The priority score: the team's own weights over votes, customer value, impact, effort, age and
the unmet need left by related ideas, and the priority view built on it.

The score is a weighted sum, so anyone can check a row by hand from the formula above the
table. Only customers count: votes by the team, by suspended people, and hidden votes add
neither votes nor value.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, Subquery, and_, case, func, or_, select

from portal.extensions import db
from portal.models import Idea, Organisation, OutcomeAnswer, Role, Stage, User, Vote
from portal.models.types import utcnow
from portal.permissions import can_triage, require
from portal.services import audit, settings
from portal.services.errors import InvalidFields
from portal.services.triage import TriageFilters, open_ideas_select, write_csv_row

UNSET_ESTIMATE = 3
VALUE_UNIT = 10_000  # the value term counts yearly value in tens of thousands
WEIGHT_MAX = Decimal(100)
SETTING = "priority_weights"
MINUS, TIMES = "\u2212", "\u00d7"  # as the formula is printed


@dataclass(frozen=True)
class Factor:
    key: str
    label: str  # as the weights form asks for it
    term: str  # as the formula reads
    explanation: str
    default: Decimal
    subtracted: bool = False


FACTORS = (
    Factor("votes", "Votes", "votes",
           "Customers' votes; the team's and suspended people's are left out.", Decimal(1)),
    Factor("value", "Customer value", f"yearly value in {VALUE_UNIT:,}s",
           "The yearly value of the organisations whose people voted, each counted once.",
           Decimal(1)),
    Factor("impact", "Impact", "impact",
           "From 1 to 5, as the team judges it; 3 until judged.", Decimal(2)),
    Factor("effort", "Effort", "effort",
           "From 1 to 5, as the team judges it; 3 until judged. Subtracted: more effort, lower "
           "score.", Decimal(2), subtracted=True),
    Factor("age", "Age", "months open",
           "How long the idea has waited, in months.", Decimal(0)),
    Factor("satisfaction", "Unmet need", "unmet need",
           "From 0 to 10: how far closed ideas in the same category left people unsatisfied "
           "(the share answering No to “did it meet your need?”, Partly counting half).",
           Decimal(1)),
)  # fmt: skip
FACTOR_KEYS = tuple(f.key for f in FACTORS)

Weights = dict[str, Decimal]


def default_weights() -> Weights:
    return {f.key: f.default for f in FACTORS}


def weights() -> Weights:
    """The weights the team saved, or the defaults for any not saved (or unreadable)."""
    result = default_weights()
    raw = settings.get_setting(SETTING)
    try:
        saved = json.loads(raw) if raw else {}
    except ValueError:
        saved = {}
    if isinstance(saved, dict):
        for key in FACTOR_KEYS:
            try:
                value = Decimal(str(saved[key]))
            except (KeyError, InvalidOperation):
                continue
            if value.is_finite() and 0 <= value <= WEIGHT_MAX:
                result[key] = value
    return result


def weight_text(value: Decimal) -> str:
    """1, 0.5, 2.25: a weight as people write it."""
    return f"{value.normalize():f}"


@dataclass(frozen=True)
class Term:
    sign: str  # "+" or MINUS
    weight: str
    name: str


def formula(w: Weights) -> list[Term]:
    """The score's terms with a weight above zero, in the order of FACTORS."""
    return [
        Term(MINUS if f.subtracted else "+", weight_text(w[f.key]), f.term)
        for f in FACTORS
        if w[f.key] > 0
    ]


def formula_text(w: Weights) -> str:
    """The formula in one line, as in: score = 1 x votes + 2 x impact - 2 x effort."""
    terms = formula(w)
    if not terms:
        return "score = 0 (every weight is zero)"
    parts = []
    for i, term in enumerate(terms):
        prefix = (f"{MINUS} " if term.sign == MINUS else "") if i == 0 else f"{term.sign} "
        parts.append(f"{prefix}{term.weight} {TIMES} {term.name}")
    return "score = " + " ".join(parts)


def save_weights(raw: dict[str, str], *, actor: User, ip: str | None) -> bool:
    """The team sets the weights; every one is checked, and the change audited as the formula
    before and after. Returns whether anything changed."""
    require(can_triage(actor))
    problems: dict[str, str] = {}
    wanted: Weights = {}
    for f in FACTORS:
        text = (raw.get(f.key) or "").strip().replace(",", ".")
        try:
            value = Decimal(text) if text else Decimal(0)
        except InvalidOperation:
            value = Decimal(-1)
        if not value.is_finite() or not 0 <= value <= WEIGHT_MAX or value != round(value, 2):
            problems[f.key] = (
                f"Give {f.label.lower()} a weight from 0 to {WEIGHT_MAX}, such as 1 or 0.5."
            )
        wanted[f.key] = value
    if problems:
        raise InvalidFields(problems)
    current = weights()
    if wanted == current:
        return False
    settings.set_setting(
        SETTING, json.dumps({k: weight_text(v) for k, v in wanted.items()}), actor=actor
    )
    audit.record(
        "priority.formula_changed",
        actor=actor,
        ip=ip,
        old=formula_text(current),
        new=formula_text(wanted),
        changed=[f.label for f in FACTORS if wanted[f.key] != current[f.key]],
    )
    return True


# --- The priority view ----------------------------------------------------------------------

SORTS = {
    "score": "score",
    "value": "customer value",
    "renewal": "soonest renewal",
    "votes": "votes",
}


@dataclass
class PriorityRow:
    idea: Idea
    votes: int  # customers' votes only
    organisations: int  # organisations behind it, among those votes
    value: int  # their summed yearly value, each organisation once
    renewal_on: date | None  # the soonest renewal among them, from today on
    months_open: float
    unmet_need: float  # 0 to 10
    score: float


def _counted(idea_ids: list[int] | None) -> tuple[ColumnElement[bool], ...]:
    """Which votes count: visible, by customers who are not suspended, or recorded by the team
    for an organisation as a whole (portal.services.on_behalf); on these ideas only, when given,
    so one row's figures do not read every vote. The query outer-joins the voter."""
    only = (Vote.idea_id.in_(idea_ids),) if idea_ids is not None else ()
    return (
        Vote.hidden_at.is_(None),
        or_(
            and_(Vote.user_id.is_(None), Vote.organisation_id.is_not(None)),
            and_(User.role == Role.CUSTOMER.value, User.suspended_at.is_(None)),
        ),
        *only,
    )


def _votes_per_idea(idea_ids: list[int] | None) -> Subquery:
    """Per idea, how many of its votes count."""
    return (
        select(Vote.idea_id, func.count(Vote.id).label("votes"))
        .outerjoin(User, Vote.user_id == User.id)
        .where(*_counted(idea_ids))
        .group_by(Vote.idea_id)
        .subquery()
    )


def _organisations_per_idea(today: date, idea_ids: list[int] | None) -> Subquery:
    """Per idea, the organisations of the people whose votes count, each once: how many, their
    summed yearly value, and the soonest renewal from today on."""
    organisation_id = func.coalesce(Vote.organisation_id, User.organisation_id)
    backing = (
        select(Vote.idea_id, organisation_id.label("organisation_id"))
        .outerjoin(User, Vote.user_id == User.id)
        .where(*_counted(idea_ids), organisation_id.is_not(None))
        .distinct()
        .subquery()
    )
    return (
        select(
            backing.c.idea_id,
            func.count(Organisation.id).label("organisations"),
            func.coalesce(func.sum(Organisation.annual_value), 0).label("value"),
            func.min(case((Organisation.renewal_on >= today, Organisation.renewal_on))).label(
                "renewal_on"
            ),
        )
        .join(Organisation, Organisation.id == backing.c.organisation_id)
        .group_by(backing.c.idea_id)
        .subquery()
    )


def unmet_need_by_category() -> dict[int | None, float]:
    """Per category, 0 to 10: the share of No answers (Partly half) on its closed ideas."""
    rows = db.session.execute(
        select(Idea.category_id, OutcomeAnswer.answer, func.count(OutcomeAnswer.id))
        .join(Idea, OutcomeAnswer.idea_id == Idea.id)
        .join(Stage, Idea.stage_id == Stage.id)
        .where(Stage.is_closed.is_(True), Idea.hidden_at.is_(None))
        .group_by(Idea.category_id, OutcomeAnswer.answer)
    ).all()
    totals: dict[int | None, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for category_id, answer, n in rows:
        unmet = {"no": 1.0, "partly": 0.5}.get(answer, 0.0)
        totals[category_id][0] += unmet * n
        totals[category_id][1] += n
    return {c: 10 * unmet / total for c, (unmet, total) in totals.items() if total}


def score_of(
    w: Weights, *, votes: int, value: int, impact: int | None, effort: int | None,
    months_open: float, unmet_need: float,
) -> float:  # fmt: skip
    x = {
        "votes": votes,
        "value": value / VALUE_UNIT,
        "impact": impact or UNSET_ESTIMATE,
        "effort": effort or UNSET_ESTIMATE,
        "age": months_open,
        "satisfaction": unmet_need,
    }
    return sum((-1 if f.subtracted else 1) * float(w[f.key]) * x[f.key] for f in FACTORS)


def _months(since: datetime, now: datetime) -> float:
    return max((now - since).total_seconds(), 0) / (86_400 * 30.44)


@dataclass(frozen=True)
class _Figures:
    idea_id: int
    votes: int
    organisations: int
    value: int
    renewal_on: date | None
    months_open: float
    unmet_need: float
    score: float


def _sort_key(sort: str) -> Callable[[_Figures], tuple[Any, ...]]:
    if sort == "value":
        return lambda r: (-r.value, -r.score, -r.idea_id)
    if sort == "renewal":
        return lambda r: (r.renewal_on or date.max, -r.value, -r.score, -r.idea_id)
    if sort == "votes":
        return lambda r: (-r.votes, -r.score, -r.idea_id)
    return lambda r: (-r.score, -r.idea_id)


def priority(
    filters: TriageFilters,
    *,
    viewer: User,
    sort: str = "score",
    limit: int = 200,
    idea_ids: list[int] | None = None,
) -> list[PriorityRow]:
    """Open ideas by the team's score (or another order), highest first: the figures of every
    matching idea in one query, scored here, then the ideas shown loaded in one more."""
    require(can_triage(viewer))
    now = utcnow()
    w = weights()
    counted = _votes_per_idea(idea_ids)
    backing = _organisations_per_idea(now.date(), idea_ids)
    stmt = (
        open_ideas_select(filters)
        .outerjoin(counted, counted.c.idea_id == Idea.id)
        .outerjoin(backing, backing.c.idea_id == Idea.id)
        .with_only_columns(
            Idea.id,
            Idea.impact,
            Idea.effort,
            Idea.created_at,
            Idea.category_id,
            func.coalesce(counted.c.votes, 0),
            func.coalesce(backing.c.organisations, 0),
            func.coalesce(backing.c.value, 0),
            backing.c.renewal_on,
        )
    )
    if idea_ids is not None:
        stmt = stmt.where(Idea.id.in_(idea_ids))
    unmet = unmet_need_by_category()
    figures = []
    for (
        idea_id,
        impact,
        effort,
        created,
        category,
        votes,
        orgs,
        value,
        renewal,
    ) in db.session.execute(stmt).all():
        months, need = _months(created, now), unmet.get(category, 0.0)
        score = score_of(
            w, votes=votes, value=int(value), impact=impact, effort=effort,
            months_open=months, unmet_need=need,
        )  # fmt: skip
        figures.append(_Figures(idea_id, votes, orgs, int(value), renewal, months, need, score))
    figures.sort(key=_sort_key(sort))
    shown = figures[:limit]
    ideas = {
        i.id: i
        for i in db.session.scalars(
            select(Idea).where(Idea.id.in_([f.idea_id for f in shown]))
        ).unique()
    }
    return [
        PriorityRow(ideas[f.idea_id], f.votes, f.organisations, f.value, f.renewal_on,
                    f.months_open, f.unmet_need, f.score)
        for f in shown
    ]  # fmt: skip


def row_for(idea: Idea, *, viewer: User) -> PriorityRow | None:
    """One idea's figures and score as the priority view shows them (after an edit in place);
    None when the idea is not in the view (closed or hidden)."""
    found = priority(TriageFilters(), viewer=viewer, limit=1, idea_ids=[idea.id])
    return found[0] if found else None


def priority_csv(rows: list[PriorityRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["id", "title", "stage", "category", "owner", "votes", "organisations", "yearly value",
         "next renewal", "impact", "effort", "months open", "unmet need", "score"]
    )  # fmt: skip
    for row in rows:
        idea = row.idea
        write_csv_row(
            writer,
            [
                idea.id,
                idea.title,
                idea.stage.name,
                idea.category.name if idea.category else "",
                idea.owner.display_name if idea.owner else "",
                row.votes,
                row.organisations,
                row.value,
                row.renewal_on.isoformat() if row.renewal_on else "",
                idea.impact or "",
                idea.effort or "",
                f"{row.months_open:.1f}",
                f"{row.unmet_need:.1f}",
                f"{row.score:.2f}",
            ],
        )
    return out.getvalue()
