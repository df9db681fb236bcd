"""Writing what portal.services.idea_import read: people, ideas, votes and comments, in the
caller's one transaction, with every rule the site applies to the same things typed by hand.

`plan_import` decides, row by row, what is new, what a record says was imported before, and
what is wrong, reading the database but writing nothing: a dry run prints exactly this. Then
`apply_plan` writes the new things, then brings the counters up to date from the rows with the
votes service's recount helpers (vote_count, the organisations behind an idea) and by adding
exactly what was added (comment_count, the trending score from when each vote or comment was
made), so they come out as if each had been made on the site when the export says it was.
The search index follows by itself: SQLite's FTS table by its triggers, PostgreSQL's stored
tsvector as a generated column.
"""

from __future__ import annotations

import math
import re
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Table, bindparam, func, insert, select, update

from portal.database import upsert
from portal.extensions import db
from portal.models import (
    MERGED_SLUG,
    NEW_SLUG,
    Board,
    Category,
    Comment,
    Follow,
    Idea,
    ImportRecord,
    OrganisationDomain,
    Stage,
    User,
    Vote,
)
from portal.models.types import utcnow
from portal.services import audit, boards, catalog, ideas, trending, votes
from portal.services.accounts import (
    DISPLAY_NAME_MAX,
    clean_display_name,
    find_user_by_email,
)
from portal.services.errors import InvalidFields, InvalidInput
from portal.services.idea_import import (
    Bundle,
    CommentIn,
    IdeaIn,
    Origin,
    Problem,
    hashed_id,
)
from portal.services.passwords import hash_password
from portal.services.validation import IdeaText, clean_comment_body, clean_idea_text

KINDS = ("person", "idea", "vote", "comment")
KIND_LABELS = {"person": "people", "idea": "ideas", "vote": "votes", "comment": "comments"}
# Dates more than this far ahead are a mistake in the file (a day's slack for time zones).
FUTURE_SLACK = timedelta(days=1)
CHUNK = 500  # values per IN (...) list, well within every database's limit on parameters

# What other tools call their statuses, as stage slugs of the default pipeline. A status is
# first matched to a stage by its own slug or name; these are the fallbacks.
STATUS_SLUGS = {
    "open": NEW_SLUG,
    "active": NEW_SLUG,
    "new": NEW_SLUG,
    "under_review": "under_review",
    "reviewing": "under_review",
    "in_review": "under_review",
    "needs_review": "under_review",
    "planned": "planned",
    "started": "in_progress",
    "in_progress": "in_progress",
    "working_on_it": "in_progress",
    "complete": "shipped",
    "completed": "shipped",
    "done": "shipped",
    "shipped": "shipped",
    "released": "shipped",
    "closed": "declined",
    "declined": "declined",
    "rejected": "declined",
    "will_not_implement": "declined",
    "won_t_do": "declined",
    "wont_do": "declined",
    "not_planned": "declined",
}


@dataclass
class Tally:
    """One kind's counts: made now, imported by an earlier run, or already here by other means
    (an account with that address, a vote the person had cast here)."""

    new: int = 0
    imported_before: int = 0
    already_here: int = 0
    skipped: int = 0  # left out with --skip-invalid


@dataclass
class _Person:
    email: str
    name: str
    created_at: datetime | None
    origin: Origin
    user: User | None = None  # known once resolved or created
    recorded: bool = False  # an import record names them already


@dataclass
class _Idea:
    row: IdeaIn
    title: str
    problem: str
    solution: str
    board: Board
    category: Category | None
    stage: Stage
    created_at: datetime
    idea: Idea | None = None  # the row here, once written


@dataclass
class _Vote:
    external_id: str
    idea_key: str
    email: str
    name: str
    created_at: datetime | None
    origin: Origin


@dataclass
class _Comment:
    row: CommentIn
    body: str
    created_at: datetime
    parent_key: str | None


@dataclass
class Plan:
    """What an import would do: the counts a dry run prints, and the rows to write."""

    source: str
    tallies: dict[str, Tally] = field(default_factory=lambda: {k: Tally() for k in KINDS})
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    people: dict[str, _Person] = field(default_factory=dict)
    ideas: dict[str, _Idea] = field(default_factory=dict)  # by external id: the new ones
    imported_ideas: dict[str, int] = field(default_factory=dict)  # external id -> ideas.id
    votes: list[_Vote] = field(default_factory=list)
    comments: dict[str, _Comment] = field(default_factory=dict)
    imported_comments: dict[str, int] = field(default_factory=dict)
    left_out: set[Origin] = field(default_factory=set)  # rows left out for another's problem

    @property
    def has_work(self) -> bool:
        return any(t.new for t in self.tallies.values())


def _records(source: str) -> dict[tuple[str, str], int]:
    return {
        (kind, external): local
        for kind, external, local in db.session.execute(
            select(ImportRecord.kind, ImportRecord.external_id, ImportRecord.local_id).where(
                ImportRecord.source == source
            )
        )
    }


def plan_import(
    bundle: Bundle, *, board_slug: str | None = None, category_name: str | None = None
) -> Plan:
    """What importing this bundle would create, and what is already here; writes nothing.

    InvalidInput when --board or --category names nothing.
    """
    default_board = boards.default_board()
    if board_slug:
        found = _board_named(board_slug, boards.all_boards())
        if found is None:
            raise InvalidInput(f"No board has the address or name “{board_slug}”.")
        default_board = found
    categories = list(db.session.scalars(select(Category)))
    default_category = None
    if category_name:
        default_category = _category_named(category_name, categories)
        if default_category is None:
            raise InvalidInput(f"No category is called “{category_name}”.")
    plan = Plan(bundle.source, problems=list(bundle.problems), notes=list(bundle.notes))
    records = _records(bundle.source)
    _plan_ideas(plan, bundle, records, default_board, default_category, categories)
    _plan_votes(plan, bundle, records)
    _plan_comments(plan, bundle, records)
    _plan_people(plan, bundle, records)  # only those the rows to write name
    return plan


# --- People ----------------------------------------------------------------------------------


def _plan_people(plan: Plan, bundle: Bundle, records: dict[tuple[str, str], int]) -> None:
    """Everyone the files name, once each by address: people.csv first, then authors, voters
    and commenters. An account with the address (in any case) is theirs already."""
    # Not those only rows left out name: a problem's row, or a vote or comment of such an idea.
    left_out = bundle.bad_rows | {p.origin for p in plan.problems} | plan.left_out
    named: list[tuple[str | None, str, datetime | None, Origin]] = [
        (p.email, p.name, p.created_at, p.origin) for p in bundle.people
    ]
    named += [(i.author_email, i.author_name, None, i.origin) for i in bundle.ideas]
    named += [(v.email, v.name, None, v.origin) for v in bundle.votes]
    named += [(c.author_email, c.author_name, None, c.origin) for c in bundle.comments]
    for email, name, created_at, origin in named:
        if email is None or origin in left_out:
            continue
        person = plan.people.get(email)
        if person is None:
            person = plan.people[email] = _Person(email, "", created_at, origin)
        if not person.name and name:
            person.name = name
    tally = plan.tallies["person"]
    accounts: dict[str, User] = {}
    emails = list(plan.people)
    for start in range(0, len(emails), CHUNK):
        wanted = emails[start : start + CHUNK]
        accounts.update(
            (u.email, u)
            for u in db.session.scalars(select(User).where(User.email.in_(wanted))).unique()
        )
    for person in plan.people.values():
        local = records.get(("person", person.email))
        person.user = accounts.get(person.email)  # stored lower-cased, as these are
        person.recorded = local is not None
        if person.recorded and person.user is not None and person.user.id == local:
            tally.imported_before += 1
        elif person.user is not None:
            tally.already_here += 1
        else:
            tally.new += 1
            person.name = _display_name(plan, person)


def _display_name(plan: Plan, person: _Person) -> str:
    """The name a new account gets: the file's, if the site accepts it, else the address's
    local part; a refused name is noted, never an error."""
    fallback = person.email.partition("@")[0][:DISPLAY_NAME_MAX]
    for candidate in (person.name, fallback, f"Imported person {hashed_id(person.email)[7:13]}"):
        if not candidate:
            continue
        try:
            name = clean_display_name(candidate)
        except InvalidInput as exc:
            if candidate == person.name:
                plan.notes.append(
                    Problem(
                        person.origin,
                        f"The name “{candidate[:60]}” is not taken ({exc.message}); "
                        f"{person.email} is named after the address instead.",
                    )
                )
            continue
        return name
    raise AssertionError("a generated name is always accepted")


# --- Ideas -----------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _board_named(name: str, all_boards: Iterable[Board]) -> Board | None:
    wanted = name.strip().lower()
    return next(
        (b for b in all_boards if b.slug.lower() == wanted or b.name.lower() == wanted), None
    )


def _category_named(name: str, categories: Iterable[Category]) -> Category | None:
    wanted = name.strip().lower()
    return next((c for c in categories if c.name.lower() == wanted), None)


def stage_for_status(status: str, stages: list[Stage]) -> Stage | None:
    """The stage a tool's status becomes: the one with that slug or name, else the default
    pipeline's stage for a known synonym; never the merged stage, nor a retired one."""
    usable = [s for s in stages if s.slug != MERGED_SLUG and not s.retired]
    slug = _slug(status)
    for stage in usable:
        if stage.slug == slug or stage.name.lower() == status.strip().lower():
            return stage
    synonym = STATUS_SLUGS.get(slug)
    return next((s for s in usable if s.slug == synonym), None)


def _plan_ideas(
    plan: Plan,
    bundle: Bundle,
    records: dict[tuple[str, str], int],
    default_board: Board,
    default_category: Category | None,
    categories: list[Category],
) -> None:
    tally = plan.tallies["idea"]
    all_boards = boards.all_boards()
    stages = catalog.stages()
    initial = catalog.initial_stage()
    now = utcnow()
    first_seen: dict[str, Origin] = {}
    bad = bundle.bad_rows
    for row in bundle.ideas:
        if not row.external_id or row.origin in bad:
            tally.skipped += 1  # its problem is reported already
            continue
        if row.external_id in first_seen:
            plan.problems.append(
                Problem(
                    row.origin,
                    f"The id {row.external_id!r} is used at {first_seen[row.external_id]} too.",
                )
            )
            continue
        first_seen[row.external_id] = row.origin
        local = records.get(("idea", row.external_id))
        if local is not None:
            plan.imported_ideas[row.external_id] = local
            tally.imported_before += 1
            continue
        problems: list[str] = []
        text: IdeaText | None = None
        problem = row.problem
        if not problem.strip() and row.title.strip():
            problem = row.title  # the portal needs a problem; the tools often leave it empty
            plan.notes.append(Problem(row.origin, "No description: the title stands in for it."))
        try:
            text = clean_idea_text(row.title, problem, row.solution)
        except InvalidFields as exc:
            problems += [f"{name}: {message}" for name, message in exc.problems.items()]
        created_at = row.created_at or now
        if created_at > now + FUTURE_SLACK:
            problems.append(f"It was created in the future ({created_at:%Y-%m-%d %H:%M} UTC).")
        if problems:
            plan.problems += [Problem(row.origin, message) for message in problems]
            tally.skipped += 1
            continue
        board = _board_named(row.board, all_boards) if row.board else None
        if board is None:
            if row.board:
                plan.notes.append(
                    Problem(row.origin, f"No board “{row.board}”: it goes on {default_board.name}.")
                )
            board = default_board
        category = _category_named(row.category, categories) if row.category else None
        if row.category and category is None:
            plan.notes.append(
                Problem(
                    row.origin,
                    f"No category “{row.category}”"
                    + (f": filed in {default_category.name}." if default_category else "."),
                )
            )
        category = category or default_category
        if category is not None and board.categories and category not in board.categories:
            plan.notes.append(
                Problem(
                    row.origin,
                    f"The {board.name} board does not use “{category.name}”: left uncategorised.",
                )
            )
            category = None
        stage = stage_for_status(row.status, stages) if row.status else initial
        if stage is None:
            plan.notes.append(
                Problem(
                    row.origin, f"No stage matches “{row.status}”: it starts in {initial.name}."
                )
            )
            stage = initial
        assert text is not None
        plan.ideas[row.external_id] = _Idea(
            row, text.title, text.problem, text.solution, board, category, stage, created_at
        )
        tally.new += 1


# --- Votes -----------------------------------------------------------------------------------


def _idea_known(plan: Plan, key: str, origin: Origin, what: str, skipped: set[str]) -> bool:
    if key in plan.ideas or key in plan.imported_ideas:
        return True
    if key in skipped:
        plan.left_out.add(origin)
        plan.notes.append(Problem(origin, f"Its idea has a problem, so this {what} is left out."))
    else:
        plan.problems.append(
            Problem(origin, f"No idea with the id {key!r} is in the files or was imported before.")
        )
    return False


def _plan_votes(plan: Plan, bundle: Bundle, records: dict[tuple[str, str], int]) -> None:
    tally = plan.tallies["vote"]
    bad_ideas = {i.external_id for i in bundle.ideas} - set(plan.ideas) - set(plan.imported_ideas)
    seen: set[str] = set()
    bad = bundle.bad_rows
    now = utcnow()
    for row in bundle.votes:
        external = (
            hashed_id(row.idea_id, row.email)
            if len(row.idea_id) > 200
            else (f"{row.idea_id}|{row.email}")
        )
        if external in seen:
            continue  # one vote each: the tools' exports repeat a voter now and then
        seen.add(external)
        if row.origin in bad:
            tally.skipped += 1
            continue
        if not _idea_known(plan, row.idea_id, row.origin, "vote", bad_ideas):
            tally.skipped += 1
            continue
        if row.created_at is not None and row.created_at > now + FUTURE_SLACK:
            plan.problems.append(Problem(row.origin, "The vote was cast in the future."))
            tally.skipped += 1
            continue
        if ("vote", external) in records:
            tally.imported_before += 1
            continue
        local_idea = plan.imported_ideas.get(row.idea_id)
        voter = find_user_by_email(row.email) if local_idea is not None else None
        if (
            voter is not None
            and db.session.scalar(
                select(Vote.id).where(Vote.idea_id == local_idea, Vote.user_id == voter.id)
            )
            is not None
        ):
            tally.already_here += 1
            continue
        plan.votes.append(
            _Vote(external, row.idea_id, row.email, row.name, row.created_at, row.origin)
        )
        tally.new += 1
    named_voters = Counter(v.idea_key for v in plan.votes)
    for idea in plan.ideas.values():
        stated = idea.row.votes_stated
        named = named_voters[idea.row.external_id]
        if stated is not None and stated != named:
            plan.notes.append(
                Problem(
                    idea.row.origin,
                    f"The export counts {stated} votes and names {named} "
                    f"voter{'' if named == 1 else 's'}: only named voters can vote here, "
                    f"so it starts with {named}.",
                )
            )


# --- Comments --------------------------------------------------------------------------------


def _plan_comments(plan: Plan, bundle: Bundle, records: dict[tuple[str, str], int]) -> None:
    tally = plan.tallies["comment"]
    bad_ideas = {i.external_id for i in bundle.ideas} - set(plan.ideas) - set(plan.imported_ideas)
    now = utcnow()
    bad = bundle.bad_rows
    for row in bundle.comments:
        if row.origin in bad:
            tally.skipped += 1
            continue
        if row.external_id in plan.comments or row.external_id in plan.imported_comments:
            plan.problems.append(
                Problem(row.origin, f"The comment id {row.external_id!r} is used twice.")
            )
            tally.skipped += 1
            continue
        if not _idea_known(plan, row.idea_id, row.origin, "comment", bad_ideas):
            tally.skipped += 1
            continue
        local = records.get(("comment", row.external_id))
        if local is not None:
            plan.imported_comments[row.external_id] = local
            tally.imported_before += 1
            continue
        try:
            body = clean_comment_body(row.body)
        except InvalidInput as exc:
            plan.problems.append(Problem(row.origin, exc.message))
            tally.skipped += 1
            continue
        idea = plan.ideas.get(row.idea_id)
        created_at = row.created_at or (idea.created_at if idea else now)
        if created_at > now + FUTURE_SLACK:
            plan.problems.append(Problem(row.origin, "The comment was written in the future."))
            tally.skipped += 1
            continue
        plan.comments[row.external_id] = _Comment(row, body, created_at, row.parent_id)
        tally.new += 1
    for key, comment in list(plan.comments.items()):
        parent = comment.parent_key
        # Replies stay one level deep, as on the site: a reply to a reply answers its thread.
        seen = {key}
        while parent in plan.comments and plan.comments[parent].parent_key is not None:
            if parent in seen:  # replies going round in a circle
                break
            seen.add(parent)
            parent = plan.comments[parent].parent_key
        comment.parent_key = parent
        known = parent in plan.comments or parent in plan.imported_comments
        if parent is not None and (not known or parent in seen):
            plan.problems.append(
                Problem(comment.row.origin, f"It replies to the comment {parent!r}, not there.")
            )
            del plan.comments[key]
            tally.new -= 1
            tally.skipped += 1


# --- Writing ---------------------------------------------------------------------------------


def _chunks(values: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def apply_plan(plan: Plan) -> None:
    """Write every new thing of the plan, in the caller's transaction; the caller commits.

    People are made without a usable password: each account's hash is of a random secret
    nobody keeps, so signing in with it fails as slowly as any wrong password does, and the
    person sets their own through "Forgot your password?".

    Rows go in by the hundred (an export holds tens of thousands of votes), and what the site
    keeps as counters is then brought up to date from them: vote_count and the organisations
    behind each idea counted again from its votes (votes.recount_votes, recount_organisations),
    comment_count and the trending score moved by exactly what was added, as when each vote and
    comment is made on the site.
    """
    records: list[dict[str, object]] = []

    def record(kind: str, external_id: str, local_id: int) -> None:
        records.append(
            {"source": plan.source, "kind": kind, "external_id": external_id, "local_id": local_id}
        )

    _write_people(plan, record)
    local_ideas = _write_ideas(plan, record)
    _write_votes(plan, local_ideas, record)
    _write_comments(plan, local_ideas, record)
    if records:
        db.session.execute(insert(ImportRecord), records)
    audit.record(
        "ideas.imported",
        actor=None,
        ip=None,
        source=plan.source,
        **{KIND_LABELS[k]: t.new for k, t in plan.tallies.items()},
    )


Recorder = Callable[[str, str, int], None]


def _write_people(plan: Plan, record: Recorder) -> None:
    now = utcnow()
    organisations: dict[str, int] = {
        domain: organisation_id
        for domain, organisation_id in db.session.execute(
            select(func.lower(OrganisationDomain.domain), OrganisationDomain.organisation_id)
        )
    }
    secret_hash = hash_password(secrets.token_urlsafe(32))
    made = []
    for person in plan.people.values():
        if person.user is None:
            person.user = User(
                email=person.email,
                display_name=person.name,
                password_hash=secret_hash,
                # By email domain, as at sign-up (accounts.organisation_for_email).
                organisation_id=organisations.get(person.email.rpartition("@")[2]),
                created_at=person.created_at or now,
            )
            made.append(person.user)
    db.session.add_all(made)
    db.session.flush()
    for person in plan.people.values():
        assert person.user is not None
        if not person.recorded:
            record("person", person.email, person.user.id)
        else:  # imported before, and the account has since gone: this one now
            db.session.execute(
                update(ImportRecord)
                .where(
                    ImportRecord.source == plan.source,
                    ImportRecord.kind == "person",
                    ImportRecord.external_id == person.email,
                )
                .values(local_id=person.user.id)
                .execution_options(synchronize_session=False)
            )


def _write_ideas(plan: Plan, record: Recorder) -> dict[str, tuple[int, datetime]]:
    """The new ideas; returns every idea the plan names, new or imported before, by its
    external id: (id here, when it was posted)."""
    now = utcnow()
    made: list[tuple[str, Idea]] = []
    for key, planned in plan.ideas.items():
        author = plan.people[planned.row.author_email].user if planned.row.author_email else None
        idea = Idea(
            title=planned.title,
            problem=planned.problem,
            solution=planned.solution,
            category=planned.category,
            board=planned.board,
            stage=planned.stage,
            author_id=author.id if author else None,
            created_at=planned.created_at,
            last_activity_at=planned.created_at,
            # Past New, the team has answered: the author may no longer edit it.
            first_response_at=None if planned.stage.slug == NEW_SLUG else planned.created_at,
            trending_score=trending.weight_at(trending.IDEA_WEIGHT, planned.created_at),
        )
        ideas.promise_next_answer(idea, planned.stage, since=now)
        made.append((key, idea))
    db.session.add_all(idea for _, idea in made)
    db.session.flush()
    local: dict[str, tuple[int, datetime]] = {}
    follows = []
    for key, idea in made:
        record("idea", key, idea.id)
        local[key] = (idea.id, idea.created_at)
        if idea.author_id is not None:
            follows.append((idea.id, idea.author_id, idea.created_at))
    _follow_by_choice(follows)
    imported = list(plan.imported_ideas.items())
    posted: dict[int, datetime] = {}
    for ids in _chunks([local_id for _, local_id in imported]):
        for idea_id, created_at in db.session.execute(
            select(Idea.id, Idea.created_at).where(Idea.id.in_(ids))
        ):
            posted[idea_id] = created_at
    for key, local_id in imported:
        local[key] = (local_id, posted.get(local_id, now))
    return local


def _write_votes(
    plan: Plan, local_ideas: dict[str, tuple[int, datetime]], record: Recorder
) -> None:
    rows: list[tuple[int, int, datetime]] = []  # idea, voter, when it was cast
    for vote in plan.votes:
        idea_id, posted = local_ideas[vote.idea_key]
        user = plan.people[vote.email].user
        assert user is not None
        rows.append((idea_id, user.id, vote.created_at or posted))
    if not rows:
        return
    # A vote cast here between the plan and now (on PostgreSQL, where imports and voters run
    # at once) stands, and is counted once: the recounts below read the rows.
    values = [{"idea_id": i, "user_id": u, "created_at": when} for i, u, when in rows]
    db.session.execute(upsert(Vote).on_conflict_do_nothing(), values)
    db.session.execute(
        upsert(Follow).on_conflict_do_nothing(), [{**v, "via_vote": True} for v in values]
    )
    idea_ids = sorted({idea_id for idea_id, _, _ in rows})
    ids_by_pair: dict[tuple[int, int], int] = {}
    for chunk in _chunks(idea_ids):
        for vote_id, idea_id, user_id in db.session.execute(
            select(Vote.id, Vote.idea_id, Vote.user_id).where(
                Vote.idea_id.in_(chunk), Vote.user_id.is_not(None)
            )
        ):
            if user_id is not None:
                ids_by_pair[(idea_id, user_id)] = vote_id
    for vote, (idea_id, user_id, _) in zip(plan.votes, rows, strict=True):
        record("vote", vote.external_id, ids_by_pair[(idea_id, user_id)])
    weights: dict[int, list[float]] = defaultdict(list)
    for idea_id, _, cast_at in rows:
        weights[idea_id].append(trending.weight_at(trending.VOTE_WEIGHT, cast_at))
    ideas_table = Idea.__table__
    assert isinstance(ideas_table, Table)  # typed as any FROM clause; executemany needs a Table
    db.session.execute(
        update(ideas_table)
        .where(ideas_table.c.id == bindparam("idea"))
        .values(trending_score=ideas_table.c.trending_score + bindparam("change")),
        [{"idea": idea_id, "change": math.fsum(w)} for idea_id, w in weights.items()],
    )
    for chunk in _chunks(idea_ids):
        votes.recount_votes(select(Idea.id).where(Idea.id.in_(chunk)))
        votes.recount_organisations(chunk)


def _write_comments(
    plan: Plan, local_ideas: dict[str, tuple[int, datetime]], record: Recorder
) -> None:
    local_comments = dict(plan.imported_comments)
    parents: dict[int, int | None] = {}  # a comment here -> its parent, for replies to replies
    added: dict[int, list[datetime]] = defaultdict(list)  # idea -> when each comment was written
    follows = []
    # Top-level comments before replies, so a reply finds its parent's id.
    ordered = sorted(plan.comments.items(), key=lambda item: item[1].parent_key is not None)
    for key, entry in ordered:
        idea_id, _ = local_ideas[entry.row.idea_id]
        author = plan.people[entry.row.author_email].user if entry.row.author_email else None
        parent_id = local_comments.get(entry.parent_key) if entry.parent_key else None
        if parent_id is not None:  # replies stay one level deep, as on the site
            if parent_id not in parents:
                parents[parent_id] = db.session.scalar(
                    select(Comment.parent_id).where(Comment.id == parent_id)
                )
            parent_id = parents[parent_id] or parent_id
        comment_id = db.session.scalar(
            insert(Comment)
            .values(
                idea_id=idea_id,
                author_id=author.id if author else None,
                parent_id=parent_id,
                body=entry.body,
                created_at=entry.created_at,
                is_official=False,
                hidden_with_author=False,
            )
            .returning(Comment.id)
        )
        assert comment_id is not None
        parents[comment_id] = parent_id
        local_comments[key] = comment_id
        record("comment", key, comment_id)
        added[idea_id].append(entry.created_at)
        if author is not None:
            follows.append((idea_id, author.id, entry.created_at))
    if not added:
        return
    ideas_table = Idea.__table__
    assert isinstance(ideas_table, Table)
    db.session.execute(
        update(ideas_table)
        .where(ideas_table.c.id == bindparam("idea"))
        .values(
            comment_count=ideas_table.c.comment_count + bindparam("n"),
            trending_score=ideas_table.c.trending_score + bindparam("change"),
        ),
        [
            {
                "idea": idea_id,
                "n": len(times),
                "change": math.fsum(trending.weight_at(trending.COMMENT_WEIGHT, t) for t in times),
            }
            for idea_id, times in added.items()
        ],
    )
    db.session.execute(
        update(ideas_table)
        .where(
            ideas_table.c.id == bindparam("idea"), ideas_table.c.last_activity_at < bindparam("at")
        )
        .values(last_activity_at=bindparam("at")),
        [{"idea": idea_id, "at": max(times)} for idea_id, times in added.items()],
    )
    _follow_by_choice(follows)


def _follow_by_choice(follows: list[tuple[int, int, datetime]]) -> None:
    """Posting or commenting follows the idea by choice, as on the site: a follow that came
    with a vote becomes theirs."""
    if not follows:
        return
    stmt = upsert(Follow)
    db.session.execute(
        stmt.on_conflict_do_update(index_elements=["idea_id", "user_id"], set_={"via_vote": False}),
        [
            {"idea_id": idea_id, "user_id": user_id, "created_at": when, "via_vote": False}
            for idea_id, user_id, when in dict.fromkeys(follows)
        ],
    )
