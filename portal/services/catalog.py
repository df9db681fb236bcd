"""Stages and categories: the defaults a new portal starts with, and looking them up."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import Category, Stage

# (slug, name, description, is_closed, voting_allowed, response_days)
DEFAULT_STAGES = [
    (
        "new",
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
        "merged",
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
    """Add the default pipeline to a database that has no stages (the migration does this too)."""
    if db.session.scalar(select(Stage.id).limit(1)) is None:
        db.session.add_all(Stage(**row) for row in default_stage_rows())
        db.session.flush()


def stages() -> list[Stage]:
    return list(db.session.scalars(select(Stage).order_by(Stage.position, Stage.id)))


def stage_by_slug(slug: str) -> Stage | None:
    return db.session.scalar(select(Stage).where(Stage.slug == slug))


def initial_stage() -> Stage:
    stage = stage_by_slug("new") or db.session.scalar(
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
