"""Stages and categories: the defaults a new portal starts with, and looking them up."""

from __future__ import annotations

import re

from sqlalchemy import delete, func, select

from portal.extensions import db
from portal.models import MERGED_SLUG, NEW_SLUG, Category, Idea, Stage, StageTransition, User
from portal.permissions import can_configure_site, can_configure_stages, require
from portal.services import audit, colours, pipeline_checks
from portal.services.errors import InvalidInput
from portal.services.pipeline_checks import Problem
from portal.services.text import clean_line, without_control_characters

# Each default stage's badge colour: light shades, under dark text (a migration gives them to
# portals made before stages had colours).
DEFAULT_COLOURS = {
    NEW_SLUG: "#e5e7eb",
    "under_review": "#fde68a",
    "planned": "#bfdbfe",
    "in_progress": "#c7d2fe",
    "shipped": "#bbf7d0",
    "declined": "#fecaca",
    MERGED_SLUG: "#e5e7eb",
}

# (slug, name, description, is_closed, voting_allowed, response_days)
DEFAULT_STAGES = [
    (
        NEW_SLUG,
        "New",
        "Just posted and waiting for the product team to read it. We answer every new idea.",
        False,
        True,
        7,
    ),
    (
        "under_review",
        "Under review",
        "The team is looking into the need: talking to customers, sizing it and weighing it "
        "against other work. Your votes and comments carry the most weight now.",
        False,
        True,
        30,
    ),
    (
        "planned",
        "Planned",
        "We intend to build this. It is on the roadmap, but the design may still change.",
        False,
        True,
        60,
    ),
    (
        "in_progress",
        "In progress",
        "The team is building it now. Followers hear from us when it ships.",
        False,
        True,
        45,
    ),
    (
        "shipped",
        "Shipped",
        "Released. Tell us whether it met your need.",
        True,
        False,
        None,
    ),
    (
        "declined",
        "Declined",
        "We will not build this, and the team's note explains why. Tell us whether that "
        "answer met your need.",
        True,
        False,
        None,
    ),
    (
        MERGED_SLUG,
        "Merged",
        "The same need as another idea; its votes and followers moved there.",
        True,
        False,
        None,
    ),
]


def default_stage_rows() -> list[dict]:
    return [
        {
            "slug": slug,
            "name": name,
            "description": description,
            "is_closed": is_closed,
            "voting_allowed": voting_allowed,
            "response_days": response_days,
            "position": position,
            "retired": False,
        }
        for position, (
            slug,
            name,
            description,
            is_closed,
            voting_allowed,
            response_days,
        ) in enumerate(DEFAULT_STAGES)
    ]


def install_default_stages() -> None:
    """Add the default pipeline to a database that has no stages (the migrations do this too)."""
    if db.session.scalar(select(Stage.id).limit(1)) is None:
        created = [
            Stage(**row, colour=DEFAULT_COLOURS.get(row["slug"])) for row in default_stage_rows()
        ]
        db.session.add_all(created)
        db.session.flush()
        db.session.add_all(
            StageTransition(from_stage_id=a.id, to_stage_id=b.id)
            for a in created
            for b in created
            if a.id != b.id and not b.is_merged_stage
        )
        db.session.flush()


def transitions() -> dict[int, set[int]]:
    """For each stage, the stages its ideas may move to."""
    result: dict[int, set[int]] = {}
    for from_id, to_id in db.session.execute(
        select(StageTransition.from_stage_id, StageTransition.to_stage_id)
    ):
        result.setdefault(from_id, set()).add(to_id)
    return result


def stages() -> list[Stage]:
    return list(db.session.scalars(select(Stage).order_by(Stage.position, Stage.id)))


def stage_colours() -> list[tuple[int, str]]:
    """(stage id, colour) for every stage that has a colour, for the stylesheet of badges."""
    return [
        (stage_id, colour)
        for stage_id, colour in db.session.execute(
            select(Stage.id, Stage.colour).where(Stage.colour.is_not(None)).order_by(Stage.id)
        )
        if colour
    ]


def stage_by_slug(slug: str) -> Stage | None:
    return db.session.scalar(select(Stage).where(Stage.slug == slug))


def initial_stage() -> Stage:
    stage = stage_by_slug(NEW_SLUG) or db.session.scalar(
        select(Stage)
        .where(Stage.is_closed.is_(False), Stage.retired.is_(False))
        .order_by(Stage.position)
    )
    if stage is None:
        raise RuntimeError("no open stage is configured")
    return stage


def active_categories() -> list[Category]:
    return list(
        db.session.scalars(
            select(Category)
            .where(Category.retired.is_(False))
            .order_by(Category.position, Category.name)
        )
    )


# --- Admins configure the pipeline ---------------------------------------------------------


def stage_usage() -> dict[int, int]:
    """How many ideas are in each stage now."""
    return dict(
        db.session.execute(select(Idea.stage_id, func.count(Idea.id)).group_by(Idea.stage_id)).all()
    )


def pipeline_problems() -> list[Problem]:
    """What is wrong with the pipeline as it is: the stages page lists these at the top."""
    return pipeline_checks.problems(stages(), transitions())


def save_stage(
    stage: Stage | None,
    *,
    actor: User,
    ip: str | None,
    name: str,
    description: str,
    is_closed: bool,
    voting_allowed: bool,
    response_days: int | None,
    position: int,
    target_ids: set[int],
    colour: str | None = None,
    source_ids: set[int] | None = None,
) -> Stage:
    """Create or change a stage, the stages its ideas may move to and, when `source_ids` is
    given, the stages whose ideas may move into it.

    The whole pipeline is checked before anything is kept: a change that would leave ideas in
    an open stage with no way to close is refused with the stage named (InvalidInput). A stage
    nothing leads to is saved (an admin may be building the pipeline a step at a time); the
    stages page names it until it is mended.
    """
    require(can_configure_stages(actor))
    name, description = _clean_stage(stage, name, description, response_days)
    if is_closed and response_days is not None:
        raise InvalidInput(
            "A closed stage promises no further answer: leave the commitment empty, or make "
            "the stage open.",
            field="response_days",
        )
    checked_colour = colours.checked_stage_colour(colour)
    before_problems = pipeline_problems()
    names = {s.id: s.name for s in stages()}
    before = None if stage is None else _stage_state(stage, transitions(), names)
    if stage is None:
        stage = Stage(slug=_free_slug(name))
        db.session.add(stage)
    stage.name, stage.description = name, description
    stage.is_closed, stage.voting_allowed = is_closed, voting_allowed and not is_closed
    stage.response_days = response_days
    stage.position = position
    stage.colour = checked_colour
    db.session.flush()
    _set_targets(stage, target_ids)
    if source_ids is not None:
        _set_sources(stage, source_ids)
    db.session.flush()
    _refuse_new_traps(before_problems, stage)
    names[stage.id] = stage.name
    after = _stage_state(stage, transitions(), names)
    if before is None:
        audit.record("stage.created", actor=actor, ip=ip, target=stage, name=name, settings=after)
    else:
        changes = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
        if changes:
            audit.record(
                "stage.changed", actor=actor, ip=ip, target=stage, name=name, changes=changes
            )
    return stage


def _stage_state(stage: Stage, moves: dict[int, set[int]], names: dict[int, str]) -> dict:
    """A stage's settings as the audit log keeps them: plain values, stages by name."""
    incoming = sorted(names[f] for f, to_ids in moves.items() if stage.id in to_ids and f in names)
    return {
        "name": stage.name,
        "description": stage.description,
        "closed": stage.is_closed,
        "voting": stage.voting_allowed,
        "response_days": stage.response_days,
        "position": stage.position,
        "colour": stage.colour,
        "moves_to": sorted(names[t] for t in moves.get(stage.id, set()) if t in names),
        "moves_from": incoming,
    }


def _refuse_new_traps(before: list[Problem], stage: Stage | None) -> None:
    """Refuse a change that leaves ideas in some open stage with no way to close."""
    traps = pipeline_checks.new_traps(before, pipeline_problems())
    if not traps:
        return
    own = next((p for p in traps if stage is not None and p.stage_id == stage.id), None)
    if own is not None:
        raise InvalidInput(own.message, field="targets")
    raise InvalidInput(
        "That would leave ideas with no way to close, so nothing is changed. " + traps[0].message
    )


def _clean_stage(
    stage: Stage | None, name: str, description: str, response_days: int | None
) -> tuple[str, str]:
    """The stage's name and description as stored, or InvalidInput naming the field at fault."""
    name = clean_line(name)
    description = without_control_characters(description or "").strip()
    if not 2 <= len(name) <= 60:
        raise InvalidInput("Give the stage a name of 2 to 60 characters.", field="name")
    if len(description) < 10:
        raise InvalidInput(
            "Tell customers what this stage means for them, in at least 10 characters.",
            field="description",
        )
    if response_days is not None and not 1 <= response_days <= 365:
        raise InvalidInput("The commitment is 1 to 365 days, or none.", field="response_days")
    clash = db.session.scalar(select(Stage).where(func.lower(Stage.name) == name.lower()))
    if clash is not None and clash is not stage:
        raise InvalidInput("Another stage already has that name.", field="name")
    return name, description


def _set_targets(stage: Stage, target_ids: set[int]) -> None:
    """Replace the stages ideas in `stage` may move to; unknown ids and itself are left out."""
    known = {s.id for s in stages()}
    db.session.execute(delete(StageTransition).where(StageTransition.from_stage_id == stage.id))
    db.session.add_all(
        StageTransition(from_stage_id=stage.id, to_stage_id=target)
        for target in sorted(target_ids & known - {stage.id})
    )


def _set_sources(stage: Stage, source_ids: set[int]) -> None:
    """Replace the stages whose ideas may move into `stage`; merged ideas never move."""
    allowed = {s.id for s in stages() if not s.is_merged_stage} - {stage.id}
    db.session.execute(
        delete(StageTransition).where(
            StageTransition.to_stage_id == stage.id, StageTransition.from_stage_id.in_(allowed)
        )
    )
    db.session.add_all(
        StageTransition(from_stage_id=source, to_stage_id=stage.id)
        for source in sorted(source_ids & allowed)
    )


def _free_slug(name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:30] or "stage"
    taken = set(db.session.scalars(select(Stage.slug)))
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}_{n}", n + 1
    return slug


def retire_stage(stage: Stage, *, actor: User, ip: str | None) -> None:
    """A stage leaves the pipeline once no idea is in it; its history stays readable."""
    require(can_configure_stages(actor))
    if stage_usage().get(stage.id):
        raise InvalidInput(
            f"Move the ideas in {stage.name} to other stages first; then it can be retired."
        )
    if stage.slug in (NEW_SLUG, MERGED_SLUG):
        raise InvalidInput(f"{stage.name} is needed: new ideas start there or merges end there.")
    before = pipeline_problems()
    stage.retired = True
    _refuse_new_traps(before, None)
    audit.record("stage.retired", actor=actor, ip=ip, target=stage, name=stage.name)


def reinstate_stage(stage: Stage, *, actor: User, ip: str | None) -> None:
    """A retired stage comes back, with the moves it had, if that traps no idea."""
    require(can_configure_stages(actor))
    before = pipeline_problems()
    stage.retired = False
    _refuse_new_traps(before, stage)
    audit.record("stage.reinstated", actor=actor, ip=ip, target=stage, name=stage.name)


# --- Admins manage the categories -----------------------------------------------------------

CATEGORY_NAME_MAX = 60
CATEGORY_DESCRIPTION_MAX = 500
POSITION_MAX = 999


def all_categories() -> list[Category]:
    """Every category, retired ones included, in the order the submit form offers them."""
    return list(db.session.scalars(select(Category).order_by(Category.position, Category.name)))


def next_category_position() -> int:
    """Where a new category goes by default: after the last one, within the form's 999."""
    last = db.session.scalar(select(func.max(Category.position)))
    return min((last or 0) + 1, 999)


def category_usage() -> dict[int, int]:
    """How many ideas each category holds (hidden ones too: they keep their category)."""
    rows = db.session.execute(
        select(Idea.category_id, func.count(Idea.id))
        .where(Idea.category_id.is_not(None))
        .group_by(Idea.category_id)
    )
    return {category_id: count for category_id, count in rows if category_id is not None}


def save_category(
    category: Category | None,
    *,
    actor: User,
    ip: str | None,
    name: str,
    description: str,
    position: int,
) -> Category:
    """Create a category, or change one's name, description or place in the list."""
    require(can_configure_site(actor))
    name, description = _clean_category(category, name, description, position)
    created = category is None
    if category is None:
        category = Category(retired=False)
        db.session.add(category)
    elif (category.name, category.description, category.position) == (name, description, position):
        return category
    old_name = None if created else category.name
    category.name, category.description, category.position = name, description, position
    db.session.flush()
    detail = {"name": name} if created or old_name == name else {"old": old_name, "name": name}
    audit.record(
        "category.created" if created else "category.changed",
        actor=actor,
        ip=ip,
        target=category,
        **detail,
    )
    return category


def _clean_category(
    category: Category | None, name: str, description: str, position: int
) -> tuple[str, str]:
    """The category's name and description as stored, or InvalidInput naming the field at fault."""
    name = clean_line(name)
    description = without_control_characters(description or "").strip()
    if not 2 <= len(name) <= CATEGORY_NAME_MAX:
        raise InvalidInput(
            f"Give the category a name of 2 to {CATEGORY_NAME_MAX} characters.", field="name"
        )
    if len(description) > CATEGORY_DESCRIPTION_MAX:
        raise InvalidInput(
            f"Keep the description under {CATEGORY_DESCRIPTION_MAX} characters.",
            field="description",
        )
    if not 0 <= position <= POSITION_MAX:
        raise InvalidInput(f"The position is a number from 0 to {POSITION_MAX}.", field="position")
    clash = db.session.scalar(select(Category).where(func.lower(Category.name) == name.lower()))
    if clash is not None and clash is not category:
        state = " (retired; reinstate it instead)" if clash.retired else ""
        raise InvalidInput(f"There is already a category called {clash.name}{state}.", field="name")
    return name, description


def retire_category(category: Category, *, actor: User, ip: str | None) -> bool:
    """Take a category off the submit form; ideas already in it keep it. False if it was off."""
    require(can_configure_site(actor))
    if category.retired:
        return False
    category.retired = True
    audit.record("category.retired", actor=actor, ip=ip, target=category, name=category.name)
    return True


def reinstate_category(category: Category, *, actor: User, ip: str | None) -> bool:
    """Offer a retired category again. False if it was not retired."""
    require(can_configure_site(actor))
    if not category.retired:
        return False
    category.retired = False
    audit.record("category.reinstated", actor=actor, ip=ip, target=category, name=category.name)
    return True
