"""Boards: the separate places ideas are posted to, and who may see each.

Every idea belongs to one board. A board's audience is public (everyone, visitors too),
signed-in (any account) or private: the team, people of the organisations it names, people whose
confirmed email address is at a domain it names, and people who accepted an invitation to it.
portal.visibility holds the one rule that reads these rows; nothing else decides who sees what.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Model
from portal.models.catalog import Category
from portal.models.organisation import Organisation
from portal.models.pipeline import Stage
from portal.models.types import UTCDateTime, utcnow


class Audience(enum.StrEnum):
    PUBLIC = "public"
    SIGNED_IN = "signed_in"
    PRIVATE = "private"

    @property
    def label(self) -> str:
        return AUDIENCE_LABELS[self]


AUDIENCE_LABELS = {
    Audience.PUBLIC: "Public: everyone, including visitors who are not signed in",
    Audience.SIGNED_IN: "Signed-in people only: anyone with an account on this portal",
    Audience.PRIVATE: "Private: the team, and only the organisations, domains and people named",
}
AUDIENCE_VALUES = tuple(a.value for a in Audience)


class Board(Model):
    """A place for ideas with its own list, categories, pipeline and audience."""

    __tablename__ = "boards"
    __table_args__ = (CheckConstraint(f"audience IN {AUDIENCE_VALUES!r}", name="audience_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    # The board's address: /boards/<slug>.
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    position: Mapped[int] = mapped_column(default=0, server_default="0")
    audience: Mapped[str] = mapped_column(
        String(10), default=Audience.PUBLIC.value, server_default=Audience.PUBLIC.value
    )
    # Whether customers may post new ideas here, and vote on its ideas. The team always may post.
    posting_open: Mapped[bool] = mapped_column(default=True, server_default=sa_true())
    voting_open: Mapped[bool] = mapped_column(default=True, server_default=sa_true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisations: Mapped[list[Organisation]] = relationship(
        secondary="board_organisations", order_by=Organisation.name, lazy="select"
    )
    domains: Mapped[list[BoardDomain]] = relationship(
        cascade="all, delete-orphan", order_by="BoardDomain.domain", lazy="select"
    )
    # The categories its ideas are filed in; none chosen means every category.
    categories: Mapped[list[Category]] = relationship(
        secondary="board_categories", order_by=Category.position, lazy="select"
    )
    # The stages of its pipeline; none chosen means the shared pipeline (every stage).
    stages: Mapped[list[Stage]] = relationship(
        secondary="board_stages", order_by=Stage.position, lazy="select"
    )

    @property
    def audience_enum(self) -> Audience:
        return Audience(self.audience)

    @property
    def is_private(self) -> bool:
        return self.audience == Audience.PRIVATE.value

    def __repr__(self) -> str:
        return f"<Board {self.id} {self.slug}>"


class BoardOrganisation(Model):
    """An organisation whose people (with a confirmed email address) see a private board."""

    __tablename__ = "board_organisations"

    board_id: Mapped[int] = mapped_column(
        ForeignKey("boards.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class BoardDomain(Model):
    """An email domain whose people (once their address is confirmed) see a private board."""

    __tablename__ = "board_domains"
    __table_args__ = (UniqueConstraint("board_id", "domain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"))
    # Lower-case, without the "@".
    domain: Mapped[str] = mapped_column(String(253), index=True)


class BoardMember(Model):
    """Someone who accepted an invitation to a private board."""

    __tablename__ = "board_members"

    board_id: Mapped[int] = mapped_column(
        ForeignKey("boards.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    invite_id: Mapped[int | None] = mapped_column(ForeignKey("invites.id", ondelete="SET NULL"))


class BoardCategory(Model):
    __tablename__ = "board_categories"

    board_id: Mapped[int] = mapped_column(
        ForeignKey("boards.id", ondelete="CASCADE"), primary_key=True
    )
    category_id: Mapped[int] = mapped_column(
        ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True
    )


class BoardStage(Model):
    __tablename__ = "board_stages"

    board_id: Mapped[int] = mapped_column(
        ForeignKey("boards.id", ondelete="CASCADE"), primary_key=True
    )
    stage_id: Mapped[int] = mapped_column(
        ForeignKey("stages.id", ondelete="CASCADE"), primary_key=True
    )


class Invite(Model):
    """An emailed, single-use, expiring link that lets one person into a private board, or,
    with no board, into a private portal (sign-up by invitation)."""

    __tablename__ = "invites"
    __table_args__ = (Index("ix_invites_board_email", "board_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int | None] = mapped_column(ForeignKey("boards.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    # SHA-256 of the token in the link; the token itself is only ever in the email.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    board: Mapped[Board | None] = relationship(lazy="joined")
