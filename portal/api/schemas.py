"""What the API reads and answers: one pydantic model per shape, which both validates requests
and describes them in the OpenAPI document. Field names are part of the contract: add, never
rename."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Strict(BaseModel):
    """A request body: unknown fields are refused, so a misspelt field is not silently lost."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    """Query parameters: as on the site, unknown ones are ignored and an empty one is absent."""

    model_config = ConfigDict(extra="ignore")


# --- Things shown inside others ------------------------------------------------------------


class PersonRef(BaseModel):
    id: int
    name: str


class StageRef(BaseModel):
    slug: str
    name: str
    is_closed: bool


class CategoryRef(BaseModel):
    id: int
    name: str


class BoardRef(BaseModel):
    slug: str
    name: str


# --- Ideas ------------------------------------------------------------------------------------


class Idea(BaseModel):
    """An idea as the key's person sees it."""

    id: int
    title: str
    problem: str = Field(description="The problem it solves, in Markdown.")
    solution: str = Field(description="The proposed solution, in Markdown; may be empty.")
    url: str = Field(description="The idea's page on the site.")
    stage: StageRef
    category: CategoryRef | None
    board: BoardRef
    author: PersonRef | None = Field(description="null once the author's account is gone.")
    is_team_concept: bool
    vote_count: int
    comment_count: int
    voting_open: bool
    created_at: datetime
    edited_at: datetime | None
    last_activity_at: datetime
    timeframe: str | None = Field(description="When the roadmap expects it: now, next, later…")
    merged_into: int | None = Field(description="The idea it was merged into, if it was.")
    hidden: bool = Field(description="Hidden by a moderator or awaiting approval.")
    voted: bool | None = Field(
        description="Whether the key's person votes for it; null without a key."
    )
    following: bool | None = Field(
        description="Whether the key's person follows it; null without a key."
    )


class IdeaList(BaseModel):
    data: list[Idea]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
    total: int | None = Field(
        default=None,
        description="With `q`: how many ideas match (at most 1,001: 'more than 1,000').",
    )


class IdeaListQuery(Query):
    sort: Literal["trending", "top", "new", "discussed", "updated"] = "trending"
    stage: Annotated[str, StringConstraints(min_length=1, max_length=40)] = Field(
        default="open", description="open, closed, all, or a stage's slug."
    )
    category: Id | None = Field(default=None, description="A category's id.")
    board: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = Field(
        default=None, description="A board's slug."
    )
    mine: bool = Field(default=False, description="Only the key's person's own ideas.")
    voted: bool = Field(default=False, description="Only ideas the key's person votes for.")
    following: bool = Field(default=False, description="Only ideas the key's person follows.")
    q: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, description="Search words: the ideas matching every word, best match first."
    )
    cursor: Cursor | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


Title = Annotated[str, StringConstraints(max_length=1000)]
LongText = Annotated[str, StringConstraints(max_length=100_000)]


class NewIdea(Strict):
    title: Title = Field(description="A short summary; the site's length rules apply.")
    problem: LongText = Field(description="The problem it solves, in Markdown.")
    solution: LongText = Field(default="", description="A proposed solution, in Markdown.")
    category_id: Id | None = Field(
        default=None,
        description="One of the board's categories (GET /categories); required when there are any.",
    )
    board: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = Field(
        default=None,
        description="The board's slug; the first board this person may post to if omitted.",
    )


class IdeaChanges(Strict):
    """Only the fields sent are changed."""

    title: Title | None = None
    problem: LongText | None = None
    solution: LongText | None = None
    category_id: Id | None = None


# --- Votes and follows -----------------------------------------------------------------------


class VoteState(BaseModel):
    idea_id: int
    voted: bool
    vote_count: int


class VoteOnBehalf(Strict):
    email: Annotated[str, StringConstraints(min_length=3, max_length=254)] = Field(
        description="The email address of the customer who asked for it (an existing account)."
    )
    source: Literal["sales_call", "support_ticket", "email", "meeting", "other"] = Field(
        description="Where the customer told the team."
    )
    quote: Annotated[str, StringConstraints(max_length=5000)] = Field(
        default="", description="What they said, in their words; shown to the team."
    )


class FollowState(BaseModel):
    idea_id: int
    following: bool


# --- Comments --------------------------------------------------------------------------------


class Comment(BaseModel):
    id: int
    idea_id: int
    parent_id: int | None
    author: PersonRef | None
    body: str = Field(description="Markdown.")
    is_official: bool = Field(description="An official answer from the team.")
    created_at: datetime
    edited_at: datetime | None


class CommentList(BaseModel):
    data: list[Comment]
    next_cursor: str | None


class PageQuery(Query):
    cursor: Cursor | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50


class NewComment(Strict):
    body: LongText
    parent_id: Id | None = Field(default=None, description="The comment this one answers.")


class CommentChanges(Strict):
    body: LongText


# --- Stages, moves, categories, boards -------------------------------------------------------


class Stage(BaseModel):
    slug: str
    name: str
    description: str = Field(description="What the stage means for customers.")
    is_closed: bool
    voting_allowed: bool
    response_days: int | None = Field(description="How soon customers hear back, in days.")
    position: int


class StageList(BaseModel):
    data: list[Stage]


class Move(BaseModel):
    """A move of an idea from one stage to another, with the note its followers were sent."""

    id: int
    idea_id: int
    from_stage: StageRef | None
    to_stage: StageRef
    note: str
    actor: PersonRef | None
    created_at: datetime


class MoveList(BaseModel):
    data: list[Move]


class NewMove(Strict):
    stage: Annotated[str, StringConstraints(min_length=1, max_length=40)] = Field(
        description="The slug of the stage to move it to."
    )
    note: LongText = Field(description="The public explanation sent to everyone following it.")


class Category(BaseModel):
    id: int
    name: str
    description: str


class CategoryList(BaseModel):
    data: list[Category]


class Board(BaseModel):
    slug: str
    name: str
    description: str
    audience: str
    posting_open: bool
    voting_open: bool


class BoardList(BaseModel):
    data: list[Board]


# --- Organisations and people (team keys) ----------------------------------------------------


class Organisation(BaseModel):
    id: int
    name: str
    domains: list[str] = Field(description="Email domains whose people belong to it.")
    plan: str
    segment: str
    annual_value: int | None = Field(description="Annual recurring revenue, whole units.")
    members: int
    ideas: int
    votes: int
    created_at: datetime


class OrganisationList(BaseModel):
    data: list[Organisation]


class OrganisationRef(BaseModel):
    id: int
    name: str


class Person(BaseModel):
    id: int
    name: str
    email: str
    role: str
    organisation: OrganisationRef | None
    created_at: datetime
    suspended: bool
    email_verified: bool


class PersonList(BaseModel):
    data: list[Person]
    next_cursor: str | None


class PeopleQuery(PageQuery):
    email: Annotated[str, StringConstraints(min_length=1, max_length=254)] | None = Field(
        default=None, description="Only the person with this address."
    )


class Me(BaseModel):
    id: int
    name: str
    email: str
    role: str
    scopes: list[str] = Field(description="What this key may do now.")


# --- Roadmap and outcomes --------------------------------------------------------------------


class RoadmapColumn(BaseModel):
    stage: StageRef
    ideas: list[Idea]


class Roadmap(BaseModel):
    columns: list[RoadmapColumn]


class NewOutcomeAnswer(Strict):
    answer: Literal["yes", "partly", "no"] = Field(
        description="Whether what shipped met the person's need."
    )
    comment: Annotated[str, StringConstraints(max_length=2000)] = ""


class OutcomeAnswer(BaseModel):
    idea_id: int
    answer: str
    comment: str
    answered_at: datetime


class Outcome(BaseModel):
    """What the people who asked said about the outcome."""

    idea_id: int
    asked: bool = Field(description="Whether the people who asked are being asked now.")
    own_answer: OutcomeAnswer | None
    counts: dict[str, int] | None = Field(description="Answers by kind, for team keys.")


# --- The audit log (admin keys) --------------------------------------------------------------


class AuditEvent(BaseModel):
    id: int
    created_at: datetime
    action: str = Field(description="What was done, as a dotted name: idea.stage_changed…")
    sentence: str = Field(description="What happened, in words, as the audit log page says it.")
    actor: PersonRef | None = Field(description="Who did it; null for the system.")
    target_type: str | None = Field(description="The kind of thing it was done to: ideas, users…")
    target_id: int | None
    ip: str | None


class AuditEventList(BaseModel):
    data: list[AuditEvent]
    next_cursor: str | None


class AuditQuery(PageQuery):
    action: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="Only events of this action."
    )
