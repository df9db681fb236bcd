"""Organisations as the team sees them: who belongs, what they asked for, what they back."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.database import insert_ignoring_duplicates
from portal.extensions import db
from portal.models import Idea, Organisation, OrganisationDomain, User, Vote
from portal.models.organisation import VALUE_BASES
from portal.permissions import can_manage_users, can_see_organisations, require
from portal.services import audit, votes
from portal.services.errors import InvalidFields, InvalidInput
from portal.services.text import clean_line


@dataclass
class OrganisationRow:
    organisation: Organisation
    members: int
    ideas: int
    votes: int


def overview(*, viewer: User) -> list[OrganisationRow]:
    """Every organisation with its number of people, ideas and votes, in three queries."""
    require(can_see_organisations(viewer))
    orgs = list(
        db.session.scalars(
            select(Organisation)
            .options(selectinload(Organisation.domains))
            .order_by(Organisation.name)
        )
    )
    members = dict(
        db.session.execute(
            select(User.organisation_id, func.count(User.id)).group_by(User.organisation_id)
        ).all()
    )
    ideas = dict(
        db.session.execute(
            select(User.organisation_id, func.count(Idea.id))
            .join(Idea, Idea.author_id == User.id)
            .group_by(User.organisation_id)
        ).all()
    )
    votes = dict(
        db.session.execute(
            select(User.organisation_id, func.count(Vote.id))
            .join(Vote, Vote.user_id == User.id)
            .where(Vote.hidden_at.is_(None))
            .group_by(User.organisation_id)
        ).all()
    )
    return [
        OrganisationRow(o, members.get(o.id, 0), ideas.get(o.id, 0), votes.get(o.id, 0))
        for o in orgs
    ]


@dataclass
class OrganisationDetail:
    organisation: Organisation
    members: list[User]
    submitted: list[Idea]
    backed: list[tuple[Idea, int]]  # ideas its people voted for, with how many of them


def detail(organisation: Organisation, *, viewer: User) -> OrganisationDetail:
    require(can_see_organisations(viewer))
    members = list(
        db.session.scalars(
            select(User).where(User.organisation_id == organisation.id).order_by(User.display_name)
        ).unique()
    )
    submitted = list(
        db.session.scalars(
            select(Idea)
            .join(User, Idea.author_id == User.id)
            .where(User.organisation_id == organisation.id)
            .order_by(Idea.created_at.desc())
        ).unique()
    )
    backers = (
        select(Vote.idea_id, func.count(Vote.id).label("n"))
        .join(User, Vote.user_id == User.id)
        .where(User.organisation_id == organisation.id, Vote.hidden_at.is_(None))
        .group_by(Vote.idea_id)
        .subquery()
    )
    backed = [
        (idea, n)
        for idea, n in db.session.execute(
            select(Idea, backers.c.n)
            .join(backers, backers.c.idea_id == Idea.id)
            .order_by(backers.c.n.desc(), Idea.vote_count.desc(), Idea.id.desc())
        )
        .unique()
        .all()
    ]
    return OrganisationDetail(organisation, members, submitted, backed)


def organisation_names() -> list[tuple[int, str]]:
    """Every organisation's id and name, alphabetically: the choices for set_organisation."""
    rows = db.session.execute(
        select(Organisation.id, Organisation.name).order_by(Organisation.name)
    )
    return [(id_, name) for id_, name in rows]


def set_organisation(
    target: User, organisation_id: int | None, *, actor: User, ip: str | None
) -> None:
    """An admin places a person in an organisation, or takes them out of one."""
    require(can_manage_users(actor))
    organisation = None
    if organisation_id is not None:
        organisation = db.session.get(Organisation, organisation_id)
        if organisation is None:
            raise InvalidInput("Choose one of the listed organisations.", field="organisation_id")
    if target.organisation_id == (organisation.id if organisation else None):
        return
    old = target.organisation.name if target.organisation else None
    target.organisation = organisation
    db.session.flush()
    votes.recount_organisations(select(Vote.idea_id).where(Vote.user_id == target.id))
    audit.record(
        "user.organisation_changed",
        actor=actor,
        ip=ip,
        target=target,
        old=old,
        new=organisation.name if organisation else None,
    )


# --- Admins register organisations and their email domains ---------------------------------

ORGANISATION_NAME_MAX = 120


def _clean_organisation_name(raw: str) -> str:
    name = clean_line(raw)
    if not 2 <= len(name) <= ORGANISATION_NAME_MAX:
        raise InvalidInput(
            f"Give the organisation a name of 2 to {ORGANISATION_NAME_MAX} characters.",
            field="name",
        )
    return name


def _check_name_is_free(name: str, organisation: Organisation | None) -> None:
    clash = db.session.scalar(
        select(Organisation).where(func.lower(Organisation.name) == name.lower())
    )
    if clash is not None and clash is not organisation:
        raise InvalidInput(f"There is already an organisation called {clash.name}.", field="name")


def clean_domain(raw: str) -> str:
    """An email domain as sign-up compares it: lower case, Unicode for international names.

    A domain is accepted only if an address at it would pass sign-up's own check, so every
    domain saved here can match someone.
    """
    text = (raw or "").strip().removeprefix("@").removesuffix(".")
    problem = InvalidInput(
        "Enter a domain name such as example.com: the part of an email address after the @.",
        field="domain",
    )
    if not text or "@" in text or len(text) > 253:
        raise problem
    try:
        result = validate_email(f"someone@{text}", check_deliverability=False)
    except EmailNotValidError:
        raise problem from None
    return result.domain.lower()


def create_organisation(
    *, actor: User, ip: str | None, name: str, domains: Iterable[str] = ()
) -> Organisation:
    """Register an organisation, with the email domains whose people join it at sign-up."""
    require(can_manage_users(actor))
    name = _clean_organisation_name(name)
    _check_name_is_free(name, None)
    cleaned: list[str] = []
    for raw in domains:
        domain = clean_domain(raw)
        if domain not in cleaned:
            cleaned.append(domain)
    for domain in cleaned:
        _check_domain_is_free(domain, None)
    organisation = Organisation(name=name)
    db.session.add(organisation)
    db.session.flush()
    audit.record("organisation.created", actor=actor, ip=ip, target=organisation, name=name)
    for domain in cleaned:
        _add_domain(organisation, domain, actor=actor, ip=ip)
    return organisation


def rename_organisation(
    organisation: Organisation, name: str, *, actor: User, ip: str | None
) -> bool:
    """Give an organisation a new name; False when the name is the same."""
    require(can_manage_users(actor))
    name = _clean_organisation_name(name)
    if name == organisation.name:
        return False
    _check_name_is_free(name, organisation)
    old, organisation.name = organisation.name, name
    audit.record("organisation.renamed", actor=actor, ip=ip, target=organisation, old=old, new=name)
    return True


def _check_domain_is_free(domain: str, organisation: Organisation | None) -> None:
    owner = db.session.scalar(
        select(Organisation)
        .join(OrganisationDomain)
        .where(func.lower(OrganisationDomain.domain) == domain)
    )
    if owner is not None:
        where = "this organisation" if owner is organisation else owner.name
        raise InvalidInput(f"{domain} already belongs to {where}.", field="domain")


def _add_domain(organisation: Organisation, domain: str, *, actor: User, ip: str | None) -> None:
    # The unique constraint decides between two admins adding the same domain at once.
    if not insert_ignoring_duplicates(
        OrganisationDomain, organisation_id=organisation.id, domain=domain
    ):
        raise InvalidInput(f"{domain} already belongs to another organisation.", field="domain")
    audit.record(
        "organisation.domain_added", actor=actor, ip=ip, target=organisation, domain=domain
    )


def add_domain(organisation: Organisation, raw: str, *, actor: User, ip: str | None) -> str:
    """People who sign up with an address at this domain will join the organisation."""
    require(can_manage_users(actor))
    domain = clean_domain(raw)
    _check_domain_is_free(domain, organisation)
    _add_domain(organisation, domain, actor=actor, ip=ip)
    db.session.expire(organisation, ["domains"])
    return domain


def remove_domain(organisation: Organisation, raw: str, *, actor: User, ip: str | None) -> str:
    """New sign-ups at the domain no longer join; people already in the organisation stay."""
    require(can_manage_users(actor))
    wanted = (raw or "").strip().lower()
    row = next((d for d in organisation.domains if d.domain.lower() == wanted), None)
    if row is None:
        raise InvalidInput(f"{organisation.name} has no domain {wanted[:253]}.", field="domain")
    organisation.domains.remove(row)
    audit.record(
        "organisation.domain_removed", actor=actor, ip=ip, target=organisation, domain=row.domain
    )
    return row.domain


# --- What the team knows of a customer: plan, segment, value, renewal ----------------------

PLAN_MAX = 60
SEGMENT_MAX = 60
# A trillion a year: past any real customer, inside a 64-bit column, and catches a pasted typo.
ANNUAL_VALUE_MAX = 10**12

_MONEY = re.compile(r"^\d+(\.\d{1,2})?$")


@dataclass(frozen=True)
class CustomerValue:
    """An organisation's attributes as an admin gives them, checked and ready to store."""

    plan: str = ""
    segment: str = ""
    annual_value: int | None = None  # always per year, in whole currency units
    value_basis: str | None = None  # how it was given: "mrr" or "arr"
    renewal_on: date | None = None

    @classmethod
    def of(cls, organisation: Organisation) -> CustomerValue:
        return cls(
            organisation.plan,
            organisation.segment,
            organisation.annual_value,
            organisation.value_basis,
            organisation.renewal_on,
        )


def parse_amount(raw: str | None, *, field: str = "value") -> Decimal | None:
    """A money amount as people type it: 1200, 1,200, 1 200.50, $1200; None when empty."""
    text = re.sub(r"[\s,_'\u00a0\u202f]", "", raw or "").lstrip("$€£¥")
    if not text:
        return None
    if not _MONEY.match(text):
        raise InvalidInput(
            f"Write the amount as a number such as 1200 or 1,250.50, not “{(raw or '')[:40]}”.",
            field=field,
        )
    return Decimal(text)


def annual_value_of(amount: Decimal, basis: str, *, field: str = "value") -> int:
    """The yearly value, in whole units, of an amount given per month (mrr) or per year (arr)."""
    yearly = amount * 12 if basis == "mrr" else amount
    value = int(yearly.to_integral_value())
    if value > ANNUAL_VALUE_MAX:
        raise InvalidInput("That amount is larger than any customer's; check it.", field=field)
    return value


def parse_renewal(raw: str | None, *, field: str = "renewal_on") -> date | None:
    """A renewal date written as YYYY-MM-DD (what a date input sends); None when empty."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"Write the renewal date as year-month-day, such as 2027-03-31, not “{text[:40]}”.",
            field=field,
        ) from None


def clean_customer_value(
    *, plan: str | None, segment: str | None, amount: str | None, basis: str | None,
    renewal: str | None,
) -> CustomerValue:  # fmt: skip
    """Check every attribute at once; InvalidFields names each one that is wrong."""
    problems: dict[str, str] = {}
    plan_text, segment_text = clean_line(plan), clean_line(segment)
    if len(plan_text) > PLAN_MAX:
        problems["plan"] = f"Keep the plan under {PLAN_MAX} characters."
    if len(segment_text) > SEGMENT_MAX:
        problems["segment"] = f"Keep the segment under {SEGMENT_MAX} characters."
    annual: int | None = None
    chosen_basis = basis if basis in VALUE_BASES else None
    try:
        parsed = parse_amount(amount)
        if parsed is not None:
            if chosen_basis is None:
                problems["value_basis"] = "Say whether the amount is per month or per year."
            else:
                annual = annual_value_of(parsed, chosen_basis)
    except InvalidInput as exc:
        problems["value"] = exc.message
    renewal_on = None
    try:
        renewal_on = parse_renewal(renewal)
    except InvalidInput as exc:
        problems["renewal_on"] = exc.message
    if problems:
        raise InvalidFields(problems)
    return CustomerValue(
        plan_text, segment_text, annual, chosen_basis if annual is not None else None, renewal_on
    )


def _shown(name: str, value: object) -> object:
    if name == "renewal_on" and isinstance(value, date):
        return value.isoformat()
    return value


def apply_customer_value(
    organisation: Organisation, wanted: CustomerValue, *, actor: User, ip: str | None
) -> list[str]:
    """Store an organisation's attributes; returns the names of those that changed, audited
    with their old and new values."""
    require(can_manage_users(actor))
    current = CustomerValue.of(organisation)
    changed = [
        name
        for name in ("plan", "segment", "annual_value", "value_basis", "renewal_on")
        if getattr(current, name) != getattr(wanted, name)
    ]
    if not changed:
        return []
    for name in changed:
        setattr(organisation, name, getattr(wanted, name))
    audit.record(
        "organisation.details_changed",
        actor=actor,
        ip=ip,
        target=organisation,
        organisation=organisation.name,
        changed=changed,
        **{
            name: {
                "old": _shown(name, getattr(current, name)),
                "new": _shown(name, getattr(wanted, name)),
            }
            for name in changed
        },
    )
    return changed


def set_customer_value(
    organisation: Organisation,
    *,
    actor: User,
    ip: str | None,
    plan: str | None,
    segment: str | None,
    amount: str | None,
    basis: str | None,
    renewal: str | None,
) -> list[str]:
    """An admin sets an organisation's plan, segment, value and renewal on its page."""
    require(can_manage_users(actor))
    wanted = clean_customer_value(
        plan=plan, segment=segment, amount=amount, basis=basis, renewal=renewal
    )
    return apply_customer_value(organisation, wanted, actor=actor, ip=ip)


def amount_as_given(organisation: Organisation) -> str:
    """The value in the form it was given (per month or per year), for an edit form: exact, so
    saving the form unchanged changes nothing."""
    if organisation.annual_value is None:
        return ""
    amount = Decimal(organisation.annual_value)
    if organisation.value_basis == "mrr":
        amount = (amount / 12).quantize(Decimal("0.01"))
    text = f"{amount:f}"
    return text.removesuffix(".00")
