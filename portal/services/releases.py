"""Releases: the team writes what shipped, links the ideas, and publishing closes the loop.

A release starts as a draft only the team sees. Publishing it, in one transaction, moves its
ideas to Shipped, tells every follower once (however many of its ideas they follow) with the
note, asking whether it met their need, and puts it on the public changelog.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from portal import visibility
from portal.database import rows_affected
from portal.extensions import db
from portal.models import (
    Follow,
    Idea,
    Release,
    ReleaseIdea,
    ReleaseStatus,
    Stage,
    StageChange,
    User,
)
from portal.models.types import utcnow
from portal.permissions import can_triage, require
from portal.services import audit, catalog, notifications, pipeline, webhooks
from portal.services.errors import DomainError, InvalidFields, InvalidInput
from portal.services.text import clean_line, visible_length
from portal.services.validation import long_text, too_long

SHIPPED_SLUG = "shipped"
TITLE_MIN = 3
TITLE_MAX = 120
NOTE_MIN = 20
NOTE_MAX = 20_000
MAX_IDEAS = 50
SEARCH_LIMIT = 10
# What a customer's notification quotes of the note; the whole note is one click away.
MESSAGE_NOTE_MAX = 1_500


class ReleaseNotFound(DomainError):
    def __init__(self) -> None:
        super().__init__("There is no such release.")


# --- Reading ---------------------------------------------------------------------------------


def get_release(release_id: int, *, viewer: Any) -> Release:
    """A release the viewer may see: a published one, or a draft for the team."""
    release = db.session.get(Release, release_id)
    if release is None or (not release.is_published and not can_triage(viewer)):
        raise ReleaseNotFound
    return release


def drafts_and_recent(*, viewer: User, limit: int = 50) -> tuple[list[Release], list[Release]]:
    """The team's list: every draft (last edited first), and the latest published releases."""
    require(can_triage(viewer))
    drafts = list(
        db.session.scalars(
            select(Release)
            .where(Release.status == ReleaseStatus.DRAFT)
            .order_by(Release.updated_at.desc(), Release.id.desc())
        ).unique()
    )
    published = list(
        db.session.scalars(
            select(Release)
            .where(Release.status == ReleaseStatus.PUBLISHED)
            .order_by(Release.published_at.desc(), Release.id.desc())
            .limit(limit)
        ).unique()
    )
    return drafts, published


def ideas_of(release_ids: Iterable[int]) -> dict[int, list[Idea]]:
    """Each release's ideas in the order the team listed them, in one query: all of them, for
    the team's pages and the release's own bookkeeping."""
    return _ideas_of(release_ids, None)


def shown_ideas_of(release_ids: Iterable[int], *, viewer: Any) -> dict[int, list[Idea]]:
    """Each release's ideas that this person (None: a visitor, as feeds are read) may see
    listed (portal.visibility), for the changelog and the release page."""
    return _ideas_of(release_ids, visibility.listed(viewer))


def _ideas_of(release_ids: Iterable[int], shown: Any) -> dict[int, list[Idea]]:
    ids = list(release_ids)
    result: dict[int, list[Idea]] = {release_id: [] for release_id in ids}
    if not ids:
        return result
    stmt = (
        select(ReleaseIdea.release_id, Idea)
        .join(Idea, Idea.id == ReleaseIdea.idea_id)
        .where(ReleaseIdea.release_id.in_(ids))
        .order_by(ReleaseIdea.release_id, ReleaseIdea.position, Idea.id)
    )
    if shown is not None:
        stmt = stmt.where(shown)
    for release_id, idea in db.session.execute(stmt).unique():
        result[release_id].append(idea)
    return result


def releases_of_idea(idea: Idea) -> list[Release]:
    """The published releases that shipped an idea, newest first: its page links them."""
    return list(
        db.session.scalars(
            select(Release)
            .join(ReleaseIdea, ReleaseIdea.release_id == Release.id)
            .where(ReleaseIdea.idea_id == idea.id, Release.status == ReleaseStatus.PUBLISHED)
            .order_by(Release.published_at.desc())
        ).unique()
    )


def _linkable() -> Any:
    """Ideas a release may ship: visible, not merged, and open or shipped already."""
    return (
        select(Idea)
        .join(Stage, Stage.id == Idea.stage_id)
        .where(
            Idea.hidden_at.is_(None),
            Idea.awaiting_approval.is_(False),
            Idea.merged_into_id.is_(None),
            or_(Stage.is_closed.is_(False), Stage.slug == SHIPPED_SLUG),
        )
    )


def search_ideas(query: str, *, viewer: User, exclude: Iterable[int] = ()) -> list[Idea]:
    """Ideas whose title contains the words typed (all of them), most voted first."""
    require(can_triage(viewer))
    words = clean_line(query).lower().split()[:6]
    if not words:
        return []
    stmt = _linkable()
    for word in words:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(func.lower(Idea.title).like(pattern, escape="\\"))
    excluded = list(exclude)
    if excluded:
        stmt = stmt.where(Idea.id.not_in(excluded))
    stmt = stmt.order_by(Idea.vote_count.desc(), Idea.id.desc()).limit(SEARCH_LIMIT)
    return list(db.session.scalars(stmt).unique())


def shipping_problem(idea: Idea, shipped: Stage | None) -> str | None:
    """Why publishing could not ship this idea now, in a sentence; None when it can."""
    if idea.hidden_at is not None or idea.awaiting_approval:
        return f"“{idea.title}” is hidden from customers; restore it or take it out."
    if idea.merged_into_id is not None:
        return f"“{idea.title}” was merged into another idea; link that one instead."
    if shipped is None:
        return "There is no Shipped stage to move the ideas to; an admin can restore it."
    if idea.stage_id == shipped.id:
        return None
    if idea.stage.is_closed:
        return f"“{idea.title}” is {idea.stage.name.lower()}, so a release cannot ship it."
    if not pipeline.in_pipeline(shipped, idea.board_id, pipeline.board_pipelines()):
        return (
            f"“{idea.title}” is on the {idea.board.name} board, whose own pipeline has no "
            f"{shipped.name} stage; take it out, or move it to another board first."
        )
    if shipped.id not in {stage.id for stage in pipeline.allowed_targets(idea)}:
        return (
            f"“{idea.title}” cannot move from {idea.stage.name} to {shipped.name} in the "
            "pipeline; move it on first, or take it out."
        )
    return None


def shipped_stage() -> Stage | None:
    stage = catalog.stage_by_slug(SHIPPED_SLUG)
    return stage if stage is not None and not stage.retired else None


# --- Writing ---------------------------------------------------------------------------------


@dataclass
class ReleaseText:
    title: str
    note: str
    idea_ids: list[int] = field(default_factory=list)


def _clean(title: str, note: str, idea_ids: Iterable[int]) -> ReleaseText:
    problems: dict[str, str] = {}
    title = clean_line(title)
    if not visible_length(title) or len(title) < TITLE_MIN:
        problems["title"] = (
            f"Give the release a title of {TITLE_MIN} to {TITLE_MAX} characters, "
            "such as “Spring update” or “Version 4.2”."
        )
    elif len(title) > TITLE_MAX:
        problems["title"] = too_long(len(title), TITLE_MAX, "The title")
    note = long_text(note)
    if len(note) > NOTE_MAX:
        problems["note"] = too_long(len(note), NOTE_MAX)
    unique_ids = list(dict.fromkeys(idea_ids))
    if len(unique_ids) > MAX_IDEAS:
        problems["ideas"] = (
            f"A release links at most {MAX_IDEAS} ideas; this one has {len(unique_ids)}. "
            "Split it in two."
        )
    if problems:
        raise InvalidFields(problems)
    return ReleaseText(title, note, unique_ids)


def _linkable_ideas(idea_ids: list[int]) -> list[Idea]:
    """The ideas, in the order given; refuses any id a release may not link."""
    if not idea_ids:
        return []
    found = {
        idea.id: idea
        for idea in db.session.scalars(_linkable().where(Idea.id.in_(idea_ids))).unique()
    }
    missing = [i for i in idea_ids if i not in found]
    if missing:
        raise InvalidInput(
            "A release can ship only visible ideas that are open or shipped already; "
            f"idea {', '.join(f'#{i}' for i in missing)} is not one. Take it out and save again.",
            field="ideas",
        )
    return [found[i] for i in idea_ids]


def save_draft(
    release: Release | None,
    *,
    actor: User,
    ip: str | None,
    title: str,
    note: str,
    idea_ids: Iterable[int],
) -> Release:
    """Create a draft (release None) or save changes to one; published releases keep their
    ideas, and only their title and note may be corrected."""
    require(can_triage(actor))
    text = _clean(title, note, idea_ids)
    now = utcnow()
    if release is None:
        chosen = _linkable_ideas(text.idea_ids)
        release = Release(
            title=text.title, note=text.note, author_id=actor.id, created_at=now, updated_at=now
        )
        db.session.add(release)
        db.session.flush()
        _link(release, chosen)
        audit.record(
            "release.drafted",
            actor=actor,
            ip=ip,
            target=release,
            release=release.title,
            ideas=[idea.title for idea in chosen],
        )
        return release
    changed: dict[str, Any] = {}
    if text.title != release.title:
        changed["title"] = {"old": release.title, "new": text.title}
    if text.note != release.note:
        changed["note"] = {"old_length": len(release.note), "new_length": len(text.note)}
    if not release.is_published:
        before = [idea.id for idea in ideas_of([release.id])[release.id]]
        if before != text.idea_ids:
            chosen = _linkable_ideas(text.idea_ids)
            old_titles = {i.id: i.title for i in ideas_of([release.id])[release.id]}
            new_titles = {i.id: i.title for i in chosen}
            changed["ideas"] = {
                "added": [new_titles[i] for i in text.idea_ids if i not in old_titles],
                "removed": [old_titles[i] for i in before if i not in new_titles],
            }
            db.session.execute(delete(ReleaseIdea).where(ReleaseIdea.release_id == release.id))
            _link(release, chosen)
    if changed:
        release.title, release.note, release.updated_at = text.title, text.note, now
        audit.record(
            "release.edited",
            actor=actor,
            ip=ip,
            target=release,
            release=release.title,
            changed=sorted(changed),
            **changed,
        )
    return release


def _link(release: Release, chosen: list[Idea]) -> None:
    db.session.add_all(
        ReleaseIdea(release_id=release.id, idea_id=idea.id, position=position)
        for position, idea in enumerate(chosen)
    )
    db.session.flush()


def delete_draft(release: Release, *, actor: User, ip: str | None) -> None:
    """Drafts may be thrown away; a published release is part of the public record."""
    require(can_triage(actor))
    if release.is_published:
        raise InvalidInput("A published release stays on the changelog; edit its note instead.")
    audit.record("release.draft_deleted", actor=actor, ip=ip, target=release, release=release.title)
    db.session.delete(release)


def publish_problems(release: Release) -> list[str]:
    """Everything that stops the release from being published now, each in a sentence."""
    problems: list[str] = []
    if len(release.note) < NOTE_MIN:
        problems.append(
            f"Write a release note of at least {NOTE_MIN} characters: what changed and how "
            "people use it. It is what every follower receives."
        )
    linked = ideas_of([release.id])[release.id]
    if not linked:
        problems.append("Link at least one idea that this release ships.")
    shipped = shipped_stage()
    problems.extend(p for p in (shipping_problem(idea, shipped) for idea in linked) if p)
    return problems


@dataclass
class Published:
    moved: list[Idea]
    already_shipped: list[Idea]


def publish(release: Release, *, actor: User, ip: str | None) -> Published:
    """Publish a draft, all or nothing: ideas to Shipped, each follower told once, on the
    changelog. Ideas that had shipped already stay as they are and their followers, who were
    told then, are not told again."""
    require(can_triage(actor))
    if release.is_published:
        raise InvalidInput(f"“{release.title}” is already published.")
    problems = publish_problems(release)
    if problems:
        raise InvalidInput(" ".join(problems))
    now = utcnow()
    # The draft-to-published switch is the lock: of two PMs pressing Publish, one wins.
    won = rows_affected(
        update(Release)
        .where(Release.id == release.id, Release.status == ReleaseStatus.DRAFT)
        .values(status=ReleaseStatus.PUBLISHED, published_at=now, published_by_id=actor.id)
    )
    if not won:
        raise InvalidInput(f"“{release.title}” was published a moment ago by someone else.")
    db.session.refresh(release)
    shipped = shipped_stage()
    assert shipped is not None  # publish_problems checked it
    linked = ideas_of([release.id])[release.id]
    moved = [idea for idea in linked if idea.stage_id != shipped.id]
    stage_note = f"Shipped in **{release.title}**.\n\n{release.note}"
    left = [(idea, idea.stage) for idea in moved]
    for idea in moved:
        pipeline.move_telling_nobody(idea, shipped, actor=actor, note=stage_note)
    db.session.flush()
    webhooks.ideas_shipped(release, left, note=stage_note)
    notifications.notify_release(
        release.id,
        [idea.id for idea in moved],
        actor=actor,
        message=_message(release),
    )
    audit.record(
        "release.published",
        actor=actor,
        ip=ip,
        target=release,
        release=release.title,
        shipped=[idea.title for idea in moved],
        already_shipped=[idea.title for idea in linked if idea not in moved],
    )
    return Published(moved=moved, already_shipped=[i for i in linked if i not in moved])


def _message(release: Release) -> str:
    note = release.note
    if len(note) > MESSAGE_NOTE_MAX:
        note = note[:MESSAGE_NOTE_MAX].rsplit(" ", 1)[0] + "…"
    return note  # the headline already names the release and the idea


# --- The public changelog --------------------------------------------------------------------


@dataclass
class ChangelogEntry:
    """A published release with its ideas, or an idea shipped without one (release None)."""

    at: datetime
    release: Release | None = None
    ideas: list[Idea] = field(default_factory=list)
    note: str = ""

    @property
    def key(self) -> str:
        return f"release-{self.release.id}" if self.release else f"idea-{self.ideas[0].id}"


def changelog(*, viewer: Any, limit: int = 50) -> list[ChangelogEntry]:
    """What shipped, newest first: each published release with its note and the ideas this
    person may see, and each idea shipped on its own (moved to Shipped, in no release) with the
    team's note."""
    releases = list(
        db.session.scalars(
            select(Release)
            .where(Release.status == ReleaseStatus.PUBLISHED)
            .order_by(Release.published_at.desc(), Release.id.desc())
            .limit(limit)
        ).unique()
    )
    by_release = shown_ideas_of([r.id for r in releases], viewer=viewer)
    entries = [
        ChangelogEntry(
            at=r.published_at or r.created_at, release=r, ideas=by_release[r.id], note=r.note
        )
        for r in releases
    ]
    entries.extend(_shipped_alone(limit, viewer))
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


def _shipped_alone(limit: int, viewer: Any) -> list[ChangelogEntry]:
    """Shipped ideas no published release lists, with the note of their latest move there."""
    in_a_release = (
        select(ReleaseIdea.idea_id)
        .join(Release, Release.id == ReleaseIdea.release_id)
        .where(Release.status == ReleaseStatus.PUBLISHED)
    )
    latest = (
        select(StageChange.idea_id, func.max(StageChange.id).label("change_id"))
        .join(Stage, StageChange.to_stage_id == Stage.id)
        .where(Stage.slug == SHIPPED_SLUG)
        .group_by(StageChange.idea_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Idea, StageChange.created_at, StageChange.note)
        .join(latest, latest.c.idea_id == Idea.id)
        .join(StageChange, StageChange.id == latest.c.change_id)
        .join(Stage, Idea.stage_id == Stage.id)
        .where(
            Stage.slug == SHIPPED_SLUG,
            visibility.listed(viewer),
            Idea.id.not_in(in_a_release),
        )
        .order_by(StageChange.created_at.desc(), Idea.id.desc())
        .limit(limit)
    ).unique()
    return [ChangelogEntry(at=at, ideas=[idea], note=note) for idea, at, note in rows]


def picked(idea_ids: Iterable[int], *, viewer: User) -> list[Idea]:
    """The ideas a release form lists as ticked, in the order given, to show them again."""
    require(can_triage(viewer))
    ids = list(dict.fromkeys(idea_ids))[: MAX_IDEAS * 2]
    if not ids:
        return []
    found = {i.id: i for i in db.session.scalars(select(Idea).where(Idea.id.in_(ids))).unique()}
    return [found[i] for i in ids if i in found]


def audience(idea_ids: Iterable[int], *, actor: User) -> int:
    """How many people publishing would tell: the followers of the ideas it moves, once each."""
    ids = list(idea_ids)
    if not ids:
        return 0
    shipped = shipped_stage()
    stmt = (
        select(func.count(func.distinct(Follow.user_id)))
        .join(Idea, Idea.id == Follow.idea_id)
        .where(Follow.idea_id.in_(ids), Follow.user_id != actor.id, Idea.hidden_at.is_(None))
    )
    if shipped is not None:
        stmt = stmt.where(Idea.stage_id != shipped.id)
    return db.session.scalar(stmt) or 0
