"""Organisations' plan, value, renewal and segment imported from a CSV: a preview, then all at once.

The preview and the import read the file the same way (`read_import`), so what the admin saw is
what is applied; rows with a problem are shown with it and left out, never half-applied.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import select

from portal.extensions import db
from portal.models import Organisation, OrganisationDomain, User
from portal.permissions import can_manage_users, require
from portal.services import audit
from portal.services.csv_files import read_rows
from portal.services.errors import InvalidInput
from portal.services.organisations import (
    ORGANISATION_NAME_MAX,
    PLAN_MAX,
    SEGMENT_MAX,
    CustomerValue,
    annual_value_of,
    apply_customer_value,
    clean_domain,
    create_organisation,
    parse_amount,
    parse_renewal,
)
from portal.services.text import clean_line

IMPORT_MAX_BYTES = 1_000_000
IMPORT_MAX_ROWS = 5_000

# The columns an import understands, by the names people give them in a spreadsheet.
COLUMN_NAMES = {
    "name": "name",
    "organisation": "name",
    "organization": "name",
    "company": "name",
    "domain": "domain",
    "email domain": "domain",
    "plan": "plan",
    "mrr": "mrr",
    "monthly": "mrr",
    "arr": "arr",
    "annual": "arr",
    "yearly": "arr",
    "renewal": "renewal",
    "renewal date": "renewal",
    "renewal_on": "renewal",
    "renews": "renewal",
    "segment": "segment",
}

FIELD_LABELS = {
    "plan": "plan",
    "segment": "segment",
    "annual_value": "yearly value",
    "value_basis": "value given as",
    "renewal_on": "renewal",
}


@dataclass
class ImportRow:
    line: int  # the row's line in the file, as a spreadsheet numbers it
    label: str  # the name or domain as the file gives it
    organisation: Organisation | None = None
    new_name: str | None = None  # an organisation to create, when none matched
    new_domain: str | None = None
    wanted: CustomerValue | None = None
    changes: list[str] = field(default_factory=list)  # "plan: Team → Business"
    errors: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.errors:
            return "error"
        if self.organisation is None:
            return "new"
        return "update" if self.changes else "same"


@dataclass
class ImportPreview:
    rows: list[ImportRow]
    problems: list[str]  # about the file as a whole; when any, nothing can be imported
    ignored_columns: list[str]

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)

    @property
    def can_apply(self) -> bool:
        return not self.problems and any(r.status in ("new", "update") for r in self.rows)


@dataclass
class ImportResult:
    updated: list[str]
    created: list[str]
    skipped: int


def _shown(name: str, value: object) -> str:
    if value is None or value == "":
        return "—"
    if name == "annual_value" and isinstance(value, int):
        return f"{value:,} a year"
    if name == "value_basis":
        return "monthly (MRR)" if value == "mrr" else "yearly (ARR)"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def read_import(text: str, *, viewer: User) -> ImportPreview:
    """What importing this CSV would do, row by row, without changing anything."""
    require(can_manage_users(viewer))
    if len(text.encode("utf-8", "replace")) > IMPORT_MAX_BYTES:
        return ImportPreview([], [f"The file is over {IMPORT_MAX_BYTES // 1000:,} kB."], [])
    try:
        table = [row.cells for row in read_rows(text)]
    except csv.Error as exc:
        return ImportPreview([], [f"This is not a CSV file we can read: {exc}."], [])
    if not table:
        return ImportPreview([], ["The file is empty."], [])
    header = [clean_line(h).lower() for h in table[0]]
    columns = {i: COLUMN_NAMES[h] for i, h in enumerate(header) if h in COLUMN_NAMES}
    ignored = [table[0][i] for i, h in enumerate(header) if h and h not in COLUMN_NAMES]
    problems = []
    if "name" not in columns.values() and "domain" not in columns.values():
        problems.append(
            "The first row must name the columns, with at least one called name or domain "
            "(also understood: plan, mrr, arr, renewal, segment)."
        )
    if len(table) - 1 > IMPORT_MAX_ROWS:
        problems.append(f"Import at most {IMPORT_MAX_ROWS:,} rows at a time.")
    if len(table) == 1 and not problems:
        problems.append("The file has its column names but no rows.")
    if problems:
        return ImportPreview([], problems, ignored)

    by_name = {o.name.lower(): o for o in db.session.scalars(select(Organisation)).unique()}
    by_domain = {
        d.domain.lower(): d.organisation
        for d in db.session.scalars(select(OrganisationDomain)).unique()
    }
    rows: list[ImportRow] = []
    seen: dict[str, int] = {}  # organisation (id or new name) -> line first setting it
    for number, cells in enumerate(table[1:], start=2):
        by_column = {
            name: clean_line(cells[i]) if i < len(cells) else "" for i, name in columns.items()
        }
        row = _read_row(number, by_column, by_name, by_domain)
        key = (
            f"id:{row.organisation.id}"
            if row.organisation
            else f"new:{(row.new_name or '').lower()}"
        )
        if not row.errors and key in seen:
            row.errors.append(f"Line {seen[key]} already sets this organisation.")
        seen.setdefault(key, number)
        rows.append(row)
    return ImportPreview(rows, [], ignored)


def _read_row(
    line: int,
    cells: dict[str, str],
    by_name: dict[str, Organisation],
    by_domain: dict[str, Organisation],
) -> ImportRow:
    name, raw_domain = cells.get("name", ""), cells.get("domain", "")
    row = ImportRow(line, name or raw_domain)
    if not name and not raw_domain:
        row.errors.append("Give the organisation's name or one of its email domains.")
        return row
    domain = None
    if raw_domain:
        try:
            domain = clean_domain(raw_domain)
        except InvalidInput as exc:
            row.errors.append(exc.message)
    named = by_name.get(name.lower()) if name else None
    domained = by_domain.get(domain) if domain else None
    if named and domained and named is not domained:
        row.errors.append(f"{name} is one organisation and {domain} belongs to {domained.name}.")
    row.organisation = named or domained
    if row.organisation is None and not row.errors:
        if not name:
            row.errors.append(f"No organisation has the domain {domain}; add a name to create one.")
        elif not 2 <= len(name) <= ORGANISATION_NAME_MAX:
            row.errors.append(
                f"A new organisation needs a name of 2 to {ORGANISATION_NAME_MAX} characters."
            )
        else:
            row.new_name, row.new_domain = name, domain

    current = CustomerValue.of(row.organisation) if row.organisation else CustomerValue()
    wanted = current
    plan, segment = cells.get("plan", ""), cells.get("segment", "")
    if len(plan) > PLAN_MAX:
        row.errors.append(f"Keep the plan under {PLAN_MAX} characters.")
    elif plan:
        wanted = replace(wanted, plan=plan)
    if len(segment) > SEGMENT_MAX:
        row.errors.append(f"Keep the segment under {SEGMENT_MAX} characters.")
    elif segment:
        wanted = replace(wanted, segment=segment)
    mrr, arr = cells.get("mrr", ""), cells.get("arr", "")
    if mrr and arr:
        row.errors.append("Give MRR or ARR, not both.")
    elif mrr or arr:
        basis = "mrr" if mrr else "arr"
        try:
            amount = parse_amount(mrr or arr)
            if amount is not None:
                wanted = replace(
                    wanted, annual_value=annual_value_of(amount, basis), value_basis=basis
                )
        except InvalidInput as exc:
            row.errors.append(exc.message)
    try:
        renewal = parse_renewal(cells.get("renewal", ""))
        if renewal is not None:
            wanted = replace(wanted, renewal_on=renewal)
    except InvalidInput as exc:
        row.errors.append(exc.message)
    if row.errors:
        return row
    row.wanted = wanted
    row.changes = [
        f"{label}: {_shown(name, getattr(current, name))} → {_shown(name, getattr(wanted, name))}"
        for name, label in FIELD_LABELS.items()
        if getattr(current, name) != getattr(wanted, name)
    ]
    return row


def apply_import(text: str, *, actor: User, ip: str | None, create_missing: bool) -> ImportResult:
    """Apply every row without a problem (and create the organisations not found, if asked),
    in the caller's one transaction; each change is audited, and the import as a whole."""
    require(can_manage_users(actor))
    preview = read_import(text, viewer=actor)
    if preview.problems:
        raise InvalidInput(preview.problems[0])
    updated: list[str] = []
    created: list[str] = []
    skipped = 0
    for row in preview.rows:
        if row.status in ("error", "same") or row.wanted is None:
            skipped += row.status == "error"
            continue
        organisation = row.organisation
        if organisation is None:
            if not create_missing or row.new_name is None:
                skipped += 1
                continue
            # Another admin may have added it since the preview; the service says so.
            organisation = create_organisation(
                actor=actor,
                ip=ip,
                name=row.new_name,
                domains=[row.new_domain] if row.new_domain else [],
            )
            created.append(organisation.name)
        elif apply_customer_value(organisation, row.wanted, actor=actor, ip=ip):
            updated.append(organisation.name)
        if row.organisation is None:
            apply_customer_value(organisation, row.wanted, actor=actor, ip=ip)
    if not updated and not created:
        raise InvalidInput(
            "Nothing to import: every row is unchanged, has a problem, or names an organisation "
            "that does not exist yet."
        )
    audit.record(
        "organisation.import",
        actor=actor,
        ip=ip,
        updated=len(updated),
        created=len(created),
        skipped=skipped,
        organisations=sorted([*updated, *created])[:50],
    )
    return ImportResult(updated, created, skipped)
