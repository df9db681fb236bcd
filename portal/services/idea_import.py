"""Reading ideas, votes, comments and people from CSV exports: the portal's own files, Canny's
and UserVoice's, into one shape that portal.services.idea_import_apply writes.

Nothing here touches the database: each reader turns (file name, text) pairs into a `Bundle`
of records, each knowing the file and line it came from, plus the problems found on the way
(a missing column, a bad date or address). Column names are matched case-insensitively and
without spaces, dashes or underscores ("Author Email", "author_email" and "AUTHOR-EMAIL" are
one), and each field accepts the names the tools are known to use: docs/import.md lists them.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePath

from portal.services.accounts import normalise_email
from portal.services.csv_files import CsvRow, read_rows
from portal.services.errors import InvalidInput

FORMATS = ("own", "canny", "uservoice")
EXTERNAL_ID_MAX = 255
FILE_MAX_BYTES = 50_000_000


@dataclass(frozen=True)
class Origin:
    """Where a record was read: shown as file:line in every report."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Problem:
    origin: Origin | None  # None: about the import as a whole
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.message}" if self.origin else self.message


@dataclass
class PersonIn:
    email: str  # normalised (lower case)
    name: str
    created_at: datetime | None
    origin: Origin


@dataclass
class IdeaIn:
    external_id: str
    title: str
    problem: str
    solution: str
    author_email: str | None
    author_name: str
    board: str
    category: str
    status: str
    created_at: datetime | None
    origin: Origin
    votes_stated: int | None = None  # the tool's own vote count, to compare with the voters named


@dataclass
class VoteIn:
    idea_id: str
    email: str
    name: str
    created_at: datetime | None
    origin: Origin


@dataclass
class CommentIn:
    external_id: str
    idea_id: str
    author_email: str | None
    author_name: str
    body: str
    created_at: datetime | None
    origin: Origin
    parent_id: str | None = None


@dataclass
class Bundle:
    """Everything read from one import's files."""

    source: str
    people: list[PersonIn] = field(default_factory=list)
    ideas: list[IdeaIn] = field(default_factory=list)
    votes: list[VoteIn] = field(default_factory=list)
    comments: list[CommentIn] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)  # not wrong, but worth knowing

    @property
    def bad_rows(self) -> set[Origin]:
        """The rows with a problem: nothing read from them is imported."""
        return {p.origin for p in self.problems if p.origin is not None}


# --- Columns ---------------------------------------------------------------------------------


def column_key(header: str) -> str:
    """A column name as matched: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", header.lower())


# The names each field goes by, as column_key gives them, in order of preference.
OWN_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "people": {
        "email": ("email",),
        "name": ("name", "displayname"),
        "created_at": ("createdat",),
    },
    "ideas": {
        "id": ("id",),
        "title": ("title",),
        "problem": ("problem",),
        "solution": ("solution",),
        "author_email": ("authoremail",),
        "author_name": ("authorname",),
        "board": ("board",),
        "category": ("category",),
        "stage": ("stage",),
        "created_at": ("createdat",),
    },
    "votes": {
        "idea_id": ("ideaid",),
        "email": ("email",),
        "created_at": ("createdat",),
    },
    "comments": {
        "id": ("id",),
        "idea_id": ("ideaid",),
        "parent_id": ("parentid",),
        "author_email": ("authoremail",),
        "author_name": ("authorname",),
        "body": ("body",),
        "created_at": ("createdat",),
    },
}
OWN_REQUIRED = {
    "people": ("email",),
    "ideas": ("id", "title"),
    "votes": ("idea_id", "email"),
    "comments": ("idea_id", "body"),
}

CANNY_POSTS = {
    "id": ("id", "postid", "posturl", "url", "link"),
    "title": ("title", "posttitle"),
    "details": ("details", "postdetails", "description", "body", "content"),
    "board": ("board", "boardname"),
    "category": ("category", "categoryname", "subcategory"),
    "status": ("status", "poststatus"),
    "author_name": ("authorname", "author", "createdbyname"),
    "author_email": ("authoremail", "authoremailaddress", "createdbyemail", "email"),
    "created_at": ("createdat", "created", "createddate", "date"),
    "votes": ("votes", "votecount", "numvotes", "upvotes"),
    "voters": ("voters", "voteremails", "voteemails", "voteremail"),
}
CANNY_VOTES = {
    "idea": ("postid", "posturl", "url", "posttitle", "title", "post"),
    "email": ("voteremail", "voteremailaddress", "email", "useremail"),
    "name": ("votername", "name", "username"),
    "created_at": ("votedat", "createdat", "created", "date"),
}
CANNY_COMMENTS = {
    "id": ("commentid", "id"),
    "idea": ("postid", "posturl", "url", "posttitle", "title", "post"),
    "body": ("comment", "commentvalue", "value", "body", "text", "content", "commenttext"),
    "author_email": ("authoremail", "authoremailaddress", "email", "commenteremail"),
    "author_name": ("authorname", "author", "name", "commentername"),
    "created_at": ("createdat", "created", "date", "commentedat"),
}

USERVOICE_SUGGESTIONS = {
    "id": ("suggestionid", "ideaid", "id"),
    "title": ("title", "suggestiontitle", "ideatitle", "suggestion"),
    "details": ("description", "ideadescription", "suggestiondescription", "text", "body"),
    "board": ("forum", "forumname"),
    "category": ("category", "categoryname"),
    "status": ("status", "statusname", "publicstatusname", "publicstatus"),
    "author_name": ("creatorname", "ideacreatorname", "suggestioncreatorname", "authorname"),
    "author_email": (
        "creatoremail",
        "creatoremailaddress",
        "ideacreatoremailaddress",
        "ideacreatoremail",
        "authoremail",
    ),
    "created_at": ("createdat", "createdtimestamp", "created", "createddate"),
    "votes": ("votes", "voterscount", "votecount", "supporterscount", "supporters"),
    # The full export has one row per suggestion and supporter: the supporter's address.
    "voter_email": ("useremailaddress", "supporteremail", "voteremail", "supporteremailaddress"),
    "voter_name": ("username", "supportername", "votername"),
    "voted_at": ("linkedideacreationdate", "supportedat", "votedat"),
}
USERVOICE_SUPPORTERS = {
    "idea": ("suggestionid", "ideaid"),
    "email": ("email", "useremail", "useremailaddress", "supporteremail", "supporteremailaddress"),
    "name": ("name", "username", "supportername"),
    "created_at": ("createdat", "supportedat", "created", "votedat"),
}
USERVOICE_COMMENTS = {
    "id": ("commentid", "id"),
    "idea": ("suggestionid", "ideaid"),
    "body": ("text", "comment", "body", "commenttext"),
    "author_email": ("useremail", "useremailaddress", "email", "creatoremail", "authoremail"),
    "author_name": ("username", "name", "creatorname", "authorname"),
    "created_at": ("createdat", "created", "createdtimestamp"),
}


@dataclass
class _Table:
    """One file's rows, read by field name."""

    name: str
    header: list[str]
    rows: list[CsvRow]
    columns: dict[str, int]  # field -> column index

    def has(self, name: str) -> bool:
        return name in self.columns

    def get(self, row: CsvRow, name: str) -> str:
        index = self.columns.get(name)
        if index is None or index >= len(row.cells):
            return ""
        return row.cells[index].strip()


def _table(name: str, text: str, fields: dict[str, tuple[str, ...]]) -> _Table:
    rows = read_rows(text)
    header = rows[0].cells if rows else []
    keys = [column_key(h) for h in header]
    columns: dict[str, int] = {}
    for field_name, names in fields.items():
        for wanted in names:
            if wanted in keys and keys.index(wanted) not in columns.values():
                columns[field_name] = keys.index(wanted)
                break
    return _Table(name, header, rows[1:], columns)


def _keys(text: str) -> set[str]:
    rows = read_rows(text)
    return {column_key(h) for h in rows[0].cells} if rows else set()


# --- Values ----------------------------------------------------------------------------------

_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y",
    "%d %b %Y",
    "%b %d, %Y",
    "%B %d, %Y",
)


def parse_when(raw: str) -> datetime | None:
    """A date and time from an export, in UTC; None when empty. A time without a zone is taken
    as UTC, which is what the tools write. ValueError when it cannot be read."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" UTC", "+00:00"))
    except ValueError:
        for form in _DATE_FORMATS:
            try:
                when = datetime.strptime(raw, form)
                break
            except ValueError:
                continue
        else:
            raise ValueError(
                f"“{raw[:40]}” is not a date we can read; write it as 2024-03-01 14:30:00 "
                "(UTC) or 2024-03-01T14:30:00+02:00."
            ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_count(raw: str) -> int | None:
    digits = raw.strip().replace(",", "")
    return int(digits) if digits.isdigit() else None


_ADDRESS = re.compile(r"[^\s<>,;\"']+@[^\s<>,;\"']+")


def addresses_in(raw: str) -> list[str]:
    """The email addresses in a cell listing people ("ann@x.com, Bob <bob@y.org>; ...")."""
    return _ADDRESS.findall(raw)


def hashed_id(*parts: str) -> str:
    """An id for a record its tool gave none: the same parts give the same id on every run."""
    return "sha256:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _external(raw: str) -> str:
    return raw if len(raw) <= EXTERNAL_ID_MAX else hashed_id(raw)


class _Reader:
    """Reads rows into a bundle, recording each problem against its file and line."""

    def __init__(self, source: str) -> None:
        self.bundle = Bundle(source)

    def problem(self, origin: Origin | None, message: str) -> None:
        self.bundle.problems.append(Problem(origin, message))

    def note(self, origin: Origin | None, message: str) -> None:
        self.bundle.notes.append(Problem(origin, message))

    def when(self, table: _Table, row: CsvRow, name: str = "created_at") -> datetime | None:
        try:
            return parse_when(table.get(row, name))
        except ValueError as exc:
            self.problem(Origin(table.name, row.line), str(exc))
            return None

    def email(self, raw: str, origin: Origin, what: str, *, required: bool) -> str | None:
        raw = raw.strip()
        if not raw:
            if required:
                self.problem(origin, f"The {what} has no email address.")
            return None
        try:
            return normalise_email(raw)
        except InvalidInput as exc:
            self.problem(origin, f"The {what}'s address {raw!r}: {exc.message}")
            return None

    def require(self, table: _Table, fields: Iterable[str], labels: dict[str, str]) -> bool:
        missing = [labels.get(f, f) for f in fields if not table.has(f)]
        if missing:
            self.problem(
                Origin(table.name, 1),
                f"No column for {', '.join(missing)}. The columns are: "
                + ", ".join(h.strip() for h in table.header if h.strip()),
            )
        return not missing


# --- The portal's own format -----------------------------------------------------------------


def read_own(files: Sequence[tuple[str, str]]) -> Bundle:
    """people.csv, ideas.csv, votes.csv and comments.csv (any of them), known by file name."""
    reader = _Reader("own")
    bundle = reader.bundle
    for name, text in files:
        kind = PurePath(name).stem.lower()
        if kind not in OWN_COLUMNS:
            reader.problem(
                Origin(name, 1),
                "The portal's own format reads people.csv, ideas.csv, votes.csv and comments.csv; "
                "rename the file to one of these.",
            )
            continue
        table = _table(name, text, OWN_COLUMNS[kind])
        if not reader.require(table, OWN_REQUIRED[kind], {}):
            continue
        for row in table.rows:
            origin = Origin(name, row.line)
            if kind == "people":
                email = reader.email(table.get(row, "email"), origin, "person", required=True)
                created = reader.when(table, row)
                if email:
                    bundle.people.append(PersonIn(email, table.get(row, "name"), created, origin))
            elif kind == "ideas":
                bundle.ideas.append(
                    IdeaIn(
                        external_id=_id(reader, table.get(row, "id"), origin),
                        title=table.get(row, "title"),
                        problem=table.get(row, "problem"),
                        solution=table.get(row, "solution"),
                        author_email=reader.email(
                            table.get(row, "author_email"), origin, "author", required=False
                        ),
                        author_name=table.get(row, "author_name"),
                        board=table.get(row, "board"),
                        category=table.get(row, "category"),
                        status=table.get(row, "stage"),
                        created_at=reader.when(table, row),
                        origin=origin,
                    )
                )
            elif kind == "votes":
                email = reader.email(table.get(row, "email"), origin, "voter", required=True)
                created = reader.when(table, row)
                if email:
                    bundle.votes.append(
                        VoteIn(
                            _id(reader, table.get(row, "idea_id"), origin),
                            email,
                            "",
                            created,
                            origin,
                        )
                    )
            else:
                idea_id = _id(reader, table.get(row, "idea_id"), origin)
                body = table.get(row, "body")
                author = reader.email(
                    table.get(row, "author_email"), origin, "comment's author", required=False
                )
                created = reader.when(table, row)
                own_id = table.get(row, "id")
                bundle.comments.append(
                    CommentIn(
                        external_id=_external(own_id)
                        if own_id
                        else _comment_key(idea_id, author, created, body),
                        idea_id=idea_id,
                        author_email=author,
                        author_name=table.get(row, "author_name"),
                        body=body,
                        created_at=created,
                        origin=origin,
                        parent_id=table.get(row, "parent_id") or None,
                    )
                )
    return bundle


def _id(reader: _Reader, raw: str, origin: Origin) -> str:
    if not raw:
        reader.problem(origin, "The id is empty; every idea needs one, to link votes and comments.")
    return _external(raw)


def _comment_key(idea_id: str, author: str | None, when: datetime | None, body: str) -> str:
    return hashed_id(idea_id, author or "", when.isoformat() if when else "", body)


# --- Canny and UserVoice ---------------------------------------------------------------------


@dataclass(frozen=True)
class _ToolLayout:
    """How one tool's export files look: the posts file, and the optional vote and comment ones."""

    posts: dict[str, tuple[str, ...]]
    votes: dict[str, tuple[str, ...]]
    comments: dict[str, tuple[str, ...]]
    post_word: str  # what the tool calls an idea, for messages


CANNY = _ToolLayout(CANNY_POSTS, CANNY_VOTES, CANNY_COMMENTS, "post")
USERVOICE = _ToolLayout(
    USERVOICE_SUGGESTIONS, USERVOICE_SUPPORTERS, USERVOICE_COMMENTS, "suggestion"
)


def _kind_of(keys: set[str], layout: _ToolLayout) -> str | None:
    """Which of a tool's files this is, by its columns. Votes and comments files name the post
    they belong to and have none of a post's own columns (details, status, board); of those, a
    comments file has a text. Anything else with a title is a posts file."""

    def any_of(names: tuple[str, ...]) -> bool:
        return bool(keys.intersection(names))

    own_columns = {*layout.posts["details"], *layout.posts["status"], *layout.posts["board"]}
    own_columns -= set(layout.comments["body"])  # UserVoice calls both texts "Text"
    refers = any_of(layout.comments["idea"]) and not any_of(tuple(own_columns))
    if any_of(("comment", "commenttext", "commentvalue", "commentid")) and any_of(
        layout.comments["idea"]
    ):
        return "comments"  # unmistakably, whatever else it carries
    if refers and any_of(layout.comments["body"]):
        return "comments"
    if refers and any_of(layout.votes["email"]):
        return "votes"
    if any_of(layout.posts["title"]):
        return "posts"
    return None


def read_canny(files: Sequence[tuple[str, str]]) -> Bundle:
    return _read_tool("canny", CANNY, files)


def read_uservoice(files: Sequence[tuple[str, str]]) -> Bundle:
    return _read_tool("uservoice", USERVOICE, files)


def _read_tool(source: str, layout: _ToolLayout, files: Sequence[tuple[str, str]]) -> Bundle:
    reader = _Reader(source)
    bundle = reader.bundle
    kinds = {name: _kind_of(_keys(text), layout) for name, text in files}
    for name, kind in kinds.items():
        if kind is None:
            reader.problem(
                Origin(name, 1),
                f"This is not a {source} export we know: a {layout.post_word}s file has a Title "
                "column, a comments file a comment text and the "
                f"{layout.post_word} it is on, a votes file a voter's email and the "
                f"{layout.post_word}.",
            )
    texts = dict(files)
    by_title: dict[str, str] = {}  # lower-cased title -> id, for files naming posts by title
    for name, kind in kinds.items():
        if kind == "posts":
            _read_posts(reader, layout, _table(name, texts[name], layout.posts), by_title)
    for name, kind in kinds.items():
        if kind == "votes":
            _read_votes(reader, _table(name, texts[name], layout.votes), by_title)
        elif kind == "comments":
            _read_comments(reader, _table(name, texts[name], layout.comments), by_title)
    return bundle


def _read_posts(
    reader: _Reader, layout: _ToolLayout, table: _Table, by_title: dict[str, str]
) -> None:
    bundle = reader.bundle
    seen: dict[str, IdeaIn] = {}
    for row in table.rows:
        origin = Origin(table.name, row.line)
        title = table.get(row, "title")
        created = reader.when(table, row)
        raw_id = table.get(row, "id")
        # Without an id column, a post is known by its title and date: stable between runs.
        external = (
            _external(raw_id)
            if raw_id
            else hashed_id(title, created.isoformat() if created else "")
        )
        idea = seen.get(external)
        if idea is None:
            idea = IdeaIn(
                external_id=external,
                title=title,
                problem=table.get(row, "details"),
                solution="",
                author_email=reader.email(
                    table.get(row, "author_email"), origin, "author", required=False
                ),
                author_name=table.get(row, "author_name"),
                board=table.get(row, "board"),
                category=table.get(row, "category"),
                status=table.get(row, "status"),
                created_at=created,
                origin=origin,
                votes_stated=parse_count(table.get(row, "votes")),
            )
            seen[external] = idea
            bundle.ideas.append(idea)
            by_title.setdefault(title.lower(), external)
        # Voters: a list in one cell (Canny), or one per row of the full export (UserVoice).
        single = table.get(row, "voter_email")
        voters: list[tuple[str, str, datetime | None]] = [
            (raw, "", None) for raw in addresses_in(table.get(row, "voters"))
        ]
        if single:
            voters.append(
                (single, table.get(row, "voter_name"), reader.when(table, row, "voted_at"))
            )
        for raw, name, voted in voters:
            try:  # an odd address among the voters leaves out that vote, not the post
                bundle.votes.append(VoteIn(external, normalise_email(raw), name, voted, origin))
            except InvalidInput as exc:
                reader.note(origin, f"The voter {raw!r} is left out: {exc.message}")


def _idea_ref(reader: _Reader, table: _Table, row: CsvRow, by_title: dict[str, str]) -> str:
    raw = table.get(row, "idea")
    column = table.header[table.columns["idea"]] if table.has("idea") else ""
    if column_key(column) in ("posttitle", "title", "post") and raw.lower() in by_title:
        return by_title[raw.lower()]
    if not raw:
        reader.problem(Origin(table.name, row.line), "It does not say which idea it belongs to.")
    return _external(raw)


def _read_votes(reader: _Reader, table: _Table, by_title: dict[str, str]) -> None:
    for row in table.rows:
        origin = Origin(table.name, row.line)
        email = reader.email(table.get(row, "email"), origin, "voter", required=True)
        created = reader.when(table, row)
        idea = _idea_ref(reader, table, row, by_title)
        if email:
            reader.bundle.votes.append(VoteIn(idea, email, table.get(row, "name"), created, origin))


def _read_comments(reader: _Reader, table: _Table, by_title: dict[str, str]) -> None:
    for row in table.rows:
        origin = Origin(table.name, row.line)
        author = reader.email(
            table.get(row, "author_email"), origin, "comment's author", required=False
        )
        created = reader.when(table, row)
        idea = _idea_ref(reader, table, row, by_title)
        body = table.get(row, "body")
        raw_id = table.get(row, "id")
        reader.bundle.comments.append(
            CommentIn(
                external_id=_external(raw_id)
                if raw_id
                else _comment_key(idea, author, created, body),
                idea_id=idea,
                author_email=author,
                author_name=table.get(row, "author_name"),
                body=body,
                created_at=created,
                origin=origin,
            )
        )


READERS = {"own": read_own, "canny": read_canny, "uservoice": read_uservoice}


def read_export(source: str, files: Sequence[tuple[str, str]]) -> Bundle:
    """Read an export's files (name, text) in the given format: "own", "canny" or "uservoice"."""
    try:
        return READERS[source](files)
    except csv.Error as exc:
        bundle = Bundle(source)
        bundle.problems.append(Problem(None, f"This is not a CSV file we can read: {exc}."))
        return bundle
