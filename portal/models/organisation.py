"""Company accounts: customers from one organisation, matched by email domain."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Model
from portal.models.types import UTCDateTime, utcnow

# How an admin gave an organisation's value: per month or per year. The value itself is always
# kept per year (annual_value), so sums never mix the two.
VALUE_BASES = {"mrr": "Monthly (MRR)", "arr": "Yearly (ARR)"}


class Organisation(Model):
    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint("annual_value >= 0", name="annual_value_not_negative"),
        CheckConstraint("value_basis IN ('mrr', 'arr')", name="value_basis_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the team knows of the customer: set by an admin or imported by CSV, all optional.
    plan: Mapped[str] = mapped_column(String(60), default="", server_default="")
    segment: Mapped[str] = mapped_column(String(60), default="", server_default="")
    # Annual recurring revenue in whole currency units, whichever way it was entered.
    annual_value: Mapped[int | None] = mapped_column(BigInteger)
    value_basis: Mapped[str | None] = mapped_column(String(3))
    renewal_on: Mapped[date | None]

    domains: Mapped[list[OrganisationDomain]] = relationship(
        back_populates="organisation",
        cascade="all, delete-orphan",
        order_by="OrganisationDomain.domain",
    )

    @property
    def monthly_value(self) -> int | None:
        """The annual value per month, rounded to a whole unit."""
        return None if self.annual_value is None else round(self.annual_value / 12)

    def __repr__(self) -> str:
        return f"<Organisation {self.id} {self.name}>"


class OrganisationDomain(Model):
    """An email domain whose people join the organisation when they sign up."""

    __tablename__ = "organisation_domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(String(253), unique=True)

    organisation: Mapped[Organisation] = relationship(back_populates="domains")
