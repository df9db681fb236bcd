"""Admins create, change, order and delete boards, and decide who may see each.

A change that would let anyone new see a board is not saved until the admin has seen who
(`AudienceWidens`, carrying boards.widening's answer); a change that shuts people out is saved at
once and says how many accounts no longer see the board. Who sees what is portal.visibility's.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select

from portal import visibility
from portal.extensions import db
from portal.models import (
    MERGED_SLUG,
    NEW_SLUG,
    Audience,
    Board,
    BoardCategory,
    BoardDomain,
    BoardOrganisation,
    BoardStage,
    Category,
    Idea,
    Organisation,
    Stage,
    User,
)
from portal.permissions import can_configure_boards, require
from portal.services import audit, organisations
from portal.services.boards import AudienceState, Widening, widening
from portal.services.errors import InvalidFields, InvalidInput
from portal.services.text import and_list, clean_line, without_control_characters

NAME_MAX = 60
SLUG_MAX = 60
DESCRIPTION_MAX = 2000
DOMAINS_MAX = 50
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Words the board pages' own addresses use (/boards/new, /boards/<slug>/feed ...), and words
# that would read as a page of the portal rather than a board.
RESERVED_SLUGS = frozenset(
    {
        "account",
        "admin",
        "all",
        "api",
        "atom",
        "boards",
        "delete",
        "edit",
        "feed",
        "feeds",
        "ideas-new",
        "invites",
        "mine",
        "new",
        "people",
        "roadmap",
        "rss",
        "search",
        "settings",
        "shipped",
        "static",
        "team",
    }
)


@dataclass(frozen=True)
class BoardDraft:
    """A board as the admin's form describes it, not yet checked."""

    name: str
    slug: str
    description: str = ""
    audience: str = Audience.PUBLIC.value
    organisation_ids: frozenset[int] = frozenset()
    domains: str = ""  # as typed: separated by commas, spaces or lines
    category_ids: frozenset[int] = frozenset()
    stage_ids: frozenset[int] = frozenset()
    posting_open: bool = True
    voting_open: bool = True


@dataclass(frozen=True)
class CleanBoard:
    """A draft that passed every check, in the form it is stored."""

    name: str
    slug: str
    description: str
    audience: str
    organisation_ids: frozenset[int]
    domains: tuple[str, ...]
    category_ids: frozenset[int]
    stage_ids: frozenset[int]
    posting_open: bool
    voting_open: bool


class AudienceWidens(Exception):
    """The save would let people see the board who cannot today: nothing was saved.

    `seen` stands for exactly who was shown: the admin's confirmation carries it back, and
    if who would be let in has changed meanwhile (someone joined an organisation, another
    admin changed the board), the new answer is shown instead of saving."""

    def __init__(self, board: Board, change: Widening, idea_count: int) -> None:
        super().__init__("The change lets new people see the board.")
        self.board = board
        self.widening = change
        self.idea_count = idea_count
        self.seen = fingerprint(change)


def fingerprint(change: Widening) -> str:
    return hashlib.sha256("\n".join(change.sentences()).encode()).hexdigest()[:16]


@dataclass
class Saved:
    board: Board
    created: bool
    # Who no longer sees the board (the change narrowed its audience), for the message.
    shut_out: Widening = field(default_factory=Widening)

    def message(self) -> str:
        if self.created:
            return f"{self.board.name} is ready: {_audience_phrase(self.board.audience)}."
        lost = shut_out_sentence(self.shut_out)
        return f"{self.board.name} is saved." + (f" {lost}" if lost else "")


def _audience_phrase(audience: str) -> str:
    return {
        Audience.PUBLIC.value: "everyone can see it, visitors included",
        Audience.SIGNED_IN.value: "everyone with an account can see it",
        Audience.PRIVATE.value: "only the team and the people you named can see it",
    }.get(audience, "saved")


def shut_out_sentence(lost: Widening) -> str:
    """Who no longer sees a board after a narrowing change, in one sentence ("" for nobody)."""
    parts = []
    if lost.visitors:
        parts.append("visitors who are not signed in")
    if lost.people:
        parts.append(f"{lost.people:,} account{'' if lost.people == 1 else 's'}")
    if not parts:
        return ""
    return " and ".join(parts).capitalize() + " no longer see it."


# --- Reading -----------------------------------------------------------------------------------


def suggest_slug(name: str) -> str:
    """The address a name suggests: lower-case letters, digits and hyphens."""
    plain = unicodedata.normalize("NFKD", clean_line(name).lower())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:SLUG_MAX].strip("-")


def idea_counts() -> dict[int, int]:
    """How many ideas each board holds, hidden ones included (they stop a delete too)."""
    rows = db.session.execute(select(Idea.board_id, func.count(Idea.id)).group_by(Idea.board_id))
    return {board_id: count for board_id, count in rows}


def idea_count(board: Board) -> int:
    return db.session.scalar(select(func.count(Idea.id)).where(Idea.board_id == board.id)) or 0


def board_stages_choice() -> list[Stage]:
    """The stages an admin may choose for a board's own pipeline (Merged always belongs)."""
    return list(
        db.session.scalars(
            select(Stage)
            .where(Stage.retired.is_(False), Stage.slug != MERGED_SLUG)
            .order_by(Stage.position, Stage.id)
        )
    )


# --- Checking a draft --------------------------------------------------------------------------


def check_board(board: Board | None, draft: BoardDraft) -> CleanBoard:
    """The draft as it would be stored, or InvalidFields naming every field at fault."""
    problems: dict[str, str] = {}
    name = clean_line(draft.name)
    slug = (draft.slug or "").strip().lower() or suggest_slug(name)
    description = without_control_characters(draft.description or "").strip()
    if not 2 <= len(name) <= NAME_MAX:
        problems["name"] = f"Give the board a name of 2 to {NAME_MAX} characters."
    elif _taken(Board.name, name, board):
        problems["name"] = f"There is already a board called {name}. Choose another name."
    slug_problem = _slug_problem(slug, board)
    if slug_problem:
        problems["slug"] = slug_problem
    if len(description) > DESCRIPTION_MAX:
        problems["description"] = (
            f"Keep the description to {DESCRIPTION_MAX:,} characters; it has {len(description):,}."
        )
    if draft.audience not in {a.value for a in Audience}:
        problems["audience"] = "Choose who may see the board."
    domains, domain_problem = _clean_domains(draft.domains)
    if domain_problem:
        problems["domains"] = domain_problem
    organisation_ids = _known(Organisation, draft.organisation_ids)
    category_ids = _known(Category, draft.category_ids)
    stage_ids = _known(Stage, draft.stage_ids)
    stage_problem = _pipeline_problem(board, stage_ids)
    if stage_problem:
        problems["stage_ids"] = stage_problem
    if stage_ids:
        merged = db.session.scalar(select(Stage.id).where(Stage.slug == MERGED_SLUG))
        stage_ids = stage_ids | ({merged} if merged is not None else set())
    if problems:
        raise InvalidFields(problems)
    return CleanBoard(
        name=name,
        slug=slug,
        description=description,
        audience=draft.audience,
        organisation_ids=frozenset(organisation_ids),
        domains=tuple(domains),
        category_ids=frozenset(category_ids),
        stage_ids=frozenset(stage_ids),
        posting_open=draft.posting_open,
        voting_open=draft.voting_open,
    )


def _taken(column: Any, value: str, board: Board | None) -> bool:
    clash = db.session.scalar(select(Board.id).where(func.lower(column) == value.lower()))
    return clash is not None and (board is None or clash != board.id)


def _slug_problem(slug: str, board: Board | None) -> str | None:
    if not slug:
        return "Give the board an address: lower-case letters, digits and hyphens."
    if len(slug) > SLUG_MAX:
        return f"Keep the address to {SLUG_MAX} characters."
    if not SLUG_PATTERN.match(slug):
        return (
            "Use lower-case letters, digits and single hyphens only, such as mobile-app "
            "(no spaces, accents or hyphens at either end)."
        )
    if slug in RESERVED_SLUGS:
        return f"The portal uses “{slug}” for its own pages. Choose another address."
    if _taken(Board.slug, slug, board):
        return f"Another board already uses the address “{slug}”."
    return None


def _clean_domains(text: str) -> tuple[list[str], str | None]:
    domains: list[str] = []
    for raw in re.split(r"[\s,;]+", text or ""):
        if not raw:
            continue
        if "@" in raw.removeprefix("@"):
            return domains, (
                f"“{raw}” is an email address. Write only the part after the @, such as "
                "example.com; to let one person in, invite them from the board's people page."
            )
        try:
            domain = organisations.clean_domain(raw)
        except InvalidInput:
            return domains, f"“{raw}” is not a domain name. Write domains such as example.com."
        if domain not in domains:
            domains.append(domain)
    if len(domains) > DOMAINS_MAX:
        return domains, f"Name at most {DOMAINS_MAX} domains; for more, name organisations."
    return domains, None


def _known(model: Any, ids: Iterable[int]) -> set[int]:
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    return set(db.session.scalars(select(model.id).where(model.id.in_(wanted))))


def _pipeline_problem(board: Board | None, stage_ids: set[int]) -> str | None:
    """A board's own pipeline starts at New, can close, and keeps the stages its ideas are in."""
    if stage_ids:
        chosen = list(db.session.scalars(select(Stage).where(Stage.id.in_(sorted(stage_ids)))))
        if not any(s.slug == NEW_SLUG for s in chosen):
            return "A board's own pipeline needs the New stage: every idea starts there."
        if not any(s.is_closed and not s.is_merged_stage for s in chosen):
            return (
                "A board's own pipeline needs at least one closed stage, such as Shipped or "
                "Declined, or its ideas could never close."
            )
    if board is None or not stage_ids:  # no choice is the shared pipeline: every stage
        return None
    kept = stage_ids | set(db.session.scalars(select(Stage.id).where(Stage.slug == MERGED_SLUG)))
    in_use = (
        select(Stage.name, func.count(Idea.id))
        .join(Idea, Idea.stage_id == Stage.id)
        .where(Idea.board_id == board.id, Stage.id.not_in(sorted(kept)))
    )
    stranded = db.session.execute(
        in_use.group_by(Stage.id, Stage.name, Stage.position).order_by(Stage.position)
    ).all()
    if not stranded:
        return None
    said = and_list(
        [f"{name} ({count:,} idea{'' if count == 1 else 's'})" for name, count in stranded]
    )
    return (
        f"Ideas of this board are still in {said}. Move them to another stage first, or keep "
        f"{'that stage' if len(stranded) == 1 else 'those stages'} in the board's pipeline."
    )


# --- Saving ------------------------------------------------------------------------------------


def proposed_audience(board: Board, clean: CleanBoard) -> AudienceState:
    """The board's audience after the change; invited members stay members."""
    return AudienceState(
        audience=clean.audience,
        organisation_ids=clean.organisation_ids,
        domains=frozenset(clean.domains),
        member_ids=AudienceState.of(board).member_ids,
    )


def save_board(
    board: Board | None,
    draft: BoardDraft,
    *,
    actor: User,
    ip: str | None,
    let_them_in: str | None = None,
) -> Saved:
    """Create or change a board in the caller's transaction (flush only).

    Raises InvalidFields for a draft that fails a check, and AudienceWidens, before writing
    anything, when the change lets anyone new see an existing board, unless `let_them_in` is
    the fingerprint of that very answer (the admin has seen who, and agreed).
    """
    require(can_configure_boards(actor))
    clean = check_board(board, draft)
    if board is None:
        return Saved(board=_create(clean, actor=actor, ip=ip), created=True)
    before = AudienceState.of(board)
    after = proposed_audience(board, clean)
    change = widening(before, after)
    if change.anyone and let_them_in != fingerprint(change):
        raise AudienceWidens(board, change, idea_count(board))
    lost = widening(after, before)
    old = _settings(board)
    _apply(board, clean)
    new = _settings(board)
    _record_changes(board, old, new, actor=actor, ip=ip)
    return Saved(board=board, created=False, shut_out=lost)


def _create(clean: CleanBoard, *, actor: User, ip: str | None) -> Board:
    last = db.session.scalar(select(func.max(Board.position)))
    board = Board(position=(last if last is not None else -1) + 1)
    db.session.add(board)
    _apply(board, clean)
    audit.record("board.created", actor=actor, ip=ip, target=board, settings=_settings(board))
    return board


def _apply(board: Board, clean: CleanBoard) -> None:
    board.name, board.slug, board.description = clean.name, clean.slug, clean.description
    board.audience = clean.audience
    board.posting_open, board.voting_open = clean.posting_open, clean.voting_open
    db.session.flush()
    _replace(BoardOrganisation, board, "organisation_id", clean.organisation_ids)
    _replace(BoardCategory, board, "category_id", clean.category_ids)
    _replace(BoardStage, board, "stage_id", clean.stage_ids)
    db.session.execute(delete(BoardDomain).where(BoardDomain.board_id == board.id))
    db.session.add_all(BoardDomain(board_id=board.id, domain=d) for d in clean.domains)
    db.session.flush()
    # The relationships were read before the rows changed.
    db.session.expire(board, ["organisations", "domains", "categories", "stages"])
    visibility.forget()


def _replace(model: Any, board: Board, column: str, ids: frozenset[int]) -> None:
    db.session.execute(delete(model).where(model.board_id == board.id))
    db.session.add_all(model(board_id=board.id, **{column: i}) for i in sorted(ids))


def _settings(board: Board) -> dict[str, Any]:
    """A board's settings as the audit log keeps them: plain values, things by name."""

    def names(model: Any, link: Any, key: Any) -> list[str]:
        return list(
            db.session.scalars(
                select(model.name)
                .join(link, key == model.id)
                .where(link.board_id == board.id)
                .order_by(model.name)
            )
        )

    return {
        "name": board.name,
        "slug": board.slug,
        "description": board.description,
        "audience": board.audience,
        "organisations": names(Organisation, BoardOrganisation, BoardOrganisation.organisation_id),
        "domains": sorted(
            db.session.scalars(select(BoardDomain.domain).where(BoardDomain.board_id == board.id))
        ),
        "categories": names(Category, BoardCategory, BoardCategory.category_id),
        "stages": names(Stage, BoardStage, BoardStage.stage_id),
        "posting_open": board.posting_open,
        "voting_open": board.voting_open,
    }


AUDIENCE_KEYS = ("audience", "organisations", "domains")


def _record_changes(
    board: Board, old: dict[str, Any], new: dict[str, Any], *, actor: User, ip: str | None
) -> None:
    changes = {key: [old[key], new[key]] for key in new if old[key] != new[key]}
    seen_by = {k: v for k, v in changes.items() if k in AUDIENCE_KEYS}
    rest = {k: v for k, v in changes.items() if k not in AUDIENCE_KEYS}
    if seen_by:
        audit.record("board.audience_changed", actor=actor, ip=ip, target=board, changes=seen_by)
    if rest:
        audit.record("board.updated", actor=actor, ip=ip, target=board, changes=rest)


# --- Order and deletion ------------------------------------------------------------------------


def move_board(board: Board, *, up: bool, actor: User, ip: str | None) -> None:
    """Swap the board with its neighbour in the list; the first board is the default one."""
    require(can_configure_boards(actor))
    ordered = list(db.session.scalars(select(Board).order_by(Board.position, Board.id)))
    index = ordered.index(board)
    other = index - 1 if up else index + 1
    if not 0 <= other < len(ordered):
        raise InvalidInput(f"{board.name} is already {'first' if up else 'last'} in the list.")
    ordered[index], ordered[other] = ordered[other], ordered[index]
    for position, each in enumerate(ordered):
        each.position = position
    db.session.flush()
    audit.record(
        "board.reordered",
        actor=actor,
        ip=ip,
        target=board,
        direction="up" if up else "down",
        position=other + 1,
        first=other == 0,
    )
    visibility.forget()


def delete_board(board: Board, *, actor: User, ip: str | None) -> str:
    """Delete an empty board (never the last one). Returns its name, for the message."""
    require(can_configure_boards(actor))
    count = idea_count(board)
    if count:
        raise InvalidInput(
            f"{board.name} still holds {count:,} idea{'' if count == 1 else 's'}. Move "
            f"{'it' if count == 1 else 'them'} to another board first; then it can be deleted."
        )
    if db.session.scalar(select(func.count(Board.id))) == 1:
        raise InvalidInput(
            f"{board.name} is the only board, and every idea needs one. Add another board "
            "before deleting this one."
        )
    name = board.name
    audit.record("board.deleted", actor=actor, ip=ip, target=board, settings=_settings(board))
    db.session.delete(board)
    db.session.flush()
    visibility.forget()
    return name
