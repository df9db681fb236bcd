"""Ideas and what people attach to them: revisions, votes, follows, verdicts; and their search."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    DDL,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
    select,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Model
from portal.models.board import Board
from portal.models.catalog import Category
from portal.models.pipeline import Stage
from portal.models.types import UTCDateTime, utcnow
from portal.models.user import User


class Idea(Model):
    """A customer's (or the team's) proposal: its text, where it stands, and its tallies."""

    __tablename__ = "ideas"
    __table_args__ = (
        Index("ix_ideas_stage_trending", "stage_id", "trending_score"),
        Index("ix_ideas_trending", "trending_score", "id"),
        Index("ix_ideas_votes", "vote_count", "id"),
        Index("ix_ideas_created", "created_at", "id"),
        Index("ix_ideas_comments", "comment_count", "id"),
        Index("ix_ideas_activity", "last_activity_at", "id"),
        # One board's list in each order, at any board size, without sorting (the board page).
        Index("ix_ideas_board_trending", "board_id", "trending_score", "id"),
        Index("ix_ideas_board_votes", "board_id", "vote_count", "id"),
        Index("ix_ideas_board_created", "board_id", "created_at", "id"),
        Index("ix_ideas_board_comments", "board_id", "comment_count", "id"),
        Index("ix_ideas_board_activity", "board_id", "last_activity_at", "id"),
        CheckConstraint("vote_count >= 0", name="vote_count_not_negative"),
        CheckConstraint("comment_count >= 0", name="comment_count_not_negative"),
        CheckConstraint("impact BETWEEN 1 AND 5", name="impact_1_to_5"),
        CheckConstraint("effort BETWEEN 1 AND 5", name="effort_1_to_5"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    problem: Mapped[str] = mapped_column(Text)
    solution: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL"), index=True
    )
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id"), index=True)
    # The board it was posted to, which decides who may see it (portal.visibility). Left unset,
    # it is the first board (portal.services.boards.default_board).
    board_id: Mapped[int] = mapped_column(
        ForeignKey("boards.id"),
        default=select(Board.id).order_by(Board.position, Board.id).limit(1).scalar_subquery(),
    )
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # An early idea of the team's own, published to ask customers for feedback.
    is_team_concept: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by the team's first stage change or comment; the author may edit only before it.
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When customers were promised the team's next word: the last stage change or team reply
    # plus the stage's response commitment. None for closed stages and stages without one.
    response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Set while customers cannot see the idea: hidden by a moderator (with hidden_reason, shown to
    # its author) or, with awaiting_approval, held for pre-moderation. Its author and the team
    # still see it.
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hidden_reason: Mapped[str | None] = mapped_column(Text)
    awaiting_approval: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # Set when it was hidden with everything else its author posted (suspending a spammer), so
    # that restoring their posts brings back exactly those, not posts hidden on their own.
    hidden_with_author: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # Set when this idea was merged as a duplicate: its votes and followers moved there.
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("ideas.id", ondelete="SET NULL"), index=True
    )

    # The team member customers can contact about this idea.
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # The team's estimates, 1 (low) to 5 (high); None until someone judges them.
    impact: Mapped[int | None]
    effort: Mapped[int | None]
    # When customers can expect it, as the roadmap shows it: "now", "next", "later" or a
    # quarter such as "2027-Q1" (admins choose the scheme; portal.services.roadmap reads both).
    timeframe: Mapped[str | None] = mapped_column(String(20))

    # Kept in SQL with `x = x + 1`, never read-modify-written in Python.
    vote_count: Mapped[int] = mapped_column(default=0)
    comment_count: Mapped[int] = mapped_column(default=0)
    trending_score: Mapped[float] = mapped_column(default=0.0)

    category: Mapped[Category | None] = relationship(lazy="joined")
    stage: Mapped[Stage] = relationship(lazy="joined", innerjoin=True)
    # Few boards, loaded once per session: reading idea.board rarely queries.
    board: Mapped[Board] = relationship(lazy="select")
    author: Mapped[User | None] = relationship(foreign_keys=[author_id], lazy="joined")
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id], lazy="joined")
    merged_into: Mapped[Idea | None] = relationship(remote_side=[id], lazy="select")

    @property
    def voting_open(self) -> bool:
        """Whether votes may be cast or withdrawn now."""
        return (
            self.stage.voting_allowed
            and not self.stage.is_closed
            and self.hidden_at is None
            and self.board.voting_open
        )


class IdeaRevision(Model):
    """An earlier version of an idea's text, kept when its author edits it."""

    __tablename__ = "idea_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    problem: Mapped[str] = mapped_column(Text)
    solution: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Where a vote the team added on a customer's behalf came from (stored value: label), in the
# order the form offers them.
VOTE_SOURCES = {
    "sales_call": "a sales call",
    "support_ticket": "a support ticket",
    "email": "an email",
    "meeting": "a meeting",
    "other": "another conversation",
}


class Vote(Model):
    """One person's vote for an idea; at most one each. Or, added by the team, an organisation's.

    A hidden vote (hidden_at set, when its voter's posts were all hidden) counts nowhere: not
    in vote_count, the trending score, the organisations behind an idea, or any list. The row
    stays so that restoring the voter's posts counts it again, exactly as it was.

    A vote the team added on someone's behalf (portal.services.on_behalf) carries a source,
    who added it and perhaps the customer's words. It names a person (user_id), or, when the
    team heard from a company without a named person, the organisation (organisation_id, with
    no user_id): one such vote per organisation and idea, counted like one person's vote.
    """

    __tablename__ = "votes"
    __table_args__ = (
        UniqueConstraint("idea_id", "user_id"),
        UniqueConstraint("idea_id", "organisation_id"),
        CheckConstraint(
            "(user_id IS NULL) <> (organisation_id IS NULL)", name="person_or_organisation"
        ),
        CheckConstraint(
            "source IS NULL OR source IN "
            "('sales_call', 'support_ticket', 'email', 'meeting', 'other')",
            name="source_known",
        ),
        CheckConstraint(
            "organisation_id IS NULL OR source IS NOT NULL", name="organisation_vote_has_source"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Only for an organisation's vote that names no person.
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    # Set when the team added the vote: where they heard it (a VOTE_SOURCES key), who added it
    # and, if they wrote it down, what the customer said.
    source: Mapped[str | None] = mapped_column(String(20))
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    quote: Mapped[str | None] = mapped_column(Text)

    @property
    def added_by_team(self) -> bool:
        return self.source is not None

    @property
    def source_label(self) -> str:
        return VOTE_SOURCES.get(self.source or "", "")


class IdeaOrganisation(Model):
    """How many people of one organisation vote for an idea.

    Kept in SQL with every vote (portal.services.votes), so "supported by people from N
    organisations" counts a few rows instead of reading every vote of a popular idea.
    """

    __tablename__ = "idea_organisations"
    __table_args__ = (CheckConstraint("voters >= 0", name="voters_not_negative"),)

    idea_id: Mapped[int] = mapped_column(
        ForeignKey("ideas.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    voters: Mapped[int]


class Follow(Model):
    """Someone following an idea, to hear of its news."""

    __tablename__ = "follows"

    idea_id: Mapped[int] = mapped_column(
        ForeignKey("ideas.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # True while the follow is only what a vote brought with it: withdrawing that vote ends
    # it. Following by choice (the Follow button, posting, commenting) makes it False.
    via_vote: Mapped[bool] = mapped_column(default=False, server_default=sa_false())


# What a follower may answer (the stored value) and how it is shown, in the order offered.
OUTCOME_ANSWERS = {"yes": "Yes", "partly": "Partly", "no": "No"}


class OutcomeAnswer(Model):
    """A follower's verdict on a closed idea: did the outcome meet their need?"""

    __tablename__ = "outcome_answers"
    __table_args__ = (
        UniqueConstraint("idea_id", "user_id"),
        CheckConstraint("answer IN ('yes', 'partly', 'no')", name="answer_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idea_id: Mapped[int] = mapped_column(ForeignKey("ideas.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    answer: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


# Full-text search over ideas (queried by portal.services.search). Neither database's search
# structure fits a declarative model, so create_all() builds it from these statements; the
# migration that adds search (b7d41f0c2a96) carries its own copy, and Alembic autogenerate
# skips these objects (portal.services.search.autogenerate_include_object).
#
# SQLite: an FTS5 index that reads its text from `ideas` (external content), kept in step by
# triggers. The update trigger fires only when the text changes, not on every vote.
# PostgreSQL: a weighted tsvector (title A, body B) stored in a generated column, so ranking
# reads it instead of parsing every match again, with a GIN index on it (migration e4b9c2d7a1f3).
# `<` is read as a space, or PostgreSQL's parser would take "<video>" for an HTML tag and drop it.
SQLITE_SEARCH_DDL = (
    "CREATE VIRTUAL TABLE ideas_fts USING fts5("
    "title, problem, solution, content='ideas', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER ideas_fts_after_insert AFTER INSERT ON ideas BEGIN "
    "INSERT INTO ideas_fts(rowid, title, problem, solution) "
    "VALUES (new.id, new.title, new.problem, new.solution); END",
    "CREATE TRIGGER ideas_fts_after_delete AFTER DELETE ON ideas BEGIN "
    "INSERT INTO ideas_fts(ideas_fts, rowid, title, problem, solution) "
    "VALUES ('delete', old.id, old.title, old.problem, old.solution); END",
    "CREATE TRIGGER ideas_fts_after_update AFTER UPDATE OF title, problem, solution ON ideas "
    "BEGIN "
    "INSERT INTO ideas_fts(ideas_fts, rowid, title, problem, solution) "
    "VALUES ('delete', old.id, old.title, old.problem, old.solution); "
    "INSERT INTO ideas_fts(rowid, title, problem, solution) "
    "VALUES (new.id, new.title, new.problem, new.solution); END",
)
POSTGRESQL_SEARCH_DDL = (
    "ALTER TABLE ideas ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english', translate(title, '<', ' ')), 'A') || "
    "setweight(to_tsvector('english', translate(problem || ' ' || solution, '<', ' ')), 'B')"
    ") STORED",
    "CREATE INDEX ix_ideas_search ON ideas USING gin (search_vector)",
)

for _statement in SQLITE_SEARCH_DDL:
    event.listen(Idea.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in POSTGRESQL_SEARCH_DDL:
    event.listen(Idea.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))
# The triggers go with the table; the FTS table would be left behind by drop_all().
event.listen(
    Idea.__table__,
    "after_drop",
    DDL("DROP TABLE IF EXISTS ideas_fts").execute_if(dialect="sqlite"),
)
