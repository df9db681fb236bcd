"""Demo data for `make run`: organisations, customers, the product team and an admin."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from portal.config import instance_secret
from portal.extensions import db
from portal.models import Organisation, OrganisationDomain, Role
from portal.models.types import utcnow
from portal.services import accounts
from portal.services.settings import get_setting, set_setting

ORGANISATIONS = [
    ("Northwind Traders", "northwind.example"),
    ("Globex Logistics", "globex.example"),
    ("Initech Software", "initech.example"),
    ("Umbra Health", "umbra-health.example"),
]

# (email, display name, role)
PEOPLE = [
    ("admin@portal.example", "Alex Admin", Role.ADMIN),
    ("priya.pm@portal.example", "Priya Raman", Role.PRODUCT_MANAGER),
    ("marco.pm@portal.example", "Marco Bianchi", Role.PRODUCT_MANAGER),
    ("ana@northwind.example", "Ana Souza", Role.CUSTOMER),
    ("ben@northwind.example", "Ben Okafor", Role.CUSTOMER),
    ("chloe@northwind.example", "Chloé Martin", Role.CUSTOMER),
    ("dmitri@globex.example", "Dmitri Volkov", Role.CUSTOMER),
    ("emma@globex.example", "Emma Lindqvist", Role.CUSTOMER),
    ("farah@globex.example", "Farah Haddad", Role.CUSTOMER),
    ("george@initech.example", "George Papadopoulos", Role.CUSTOMER),
    ("hana@initech.example", "Hana Suzuki", Role.CUSTOMER),
    ("ivan@umbra-health.example", "Ivan Petrov", Role.CUSTOMER),
    ("julia@umbra-health.example", "Julia Kowalska", Role.CUSTOMER),
    ("kofi@freelance.example", "Kofi Mensah", Role.CUSTOMER),
    ("lena@freelance.example", "Lena Fischer", Role.CUSTOMER),
]


def demo_password() -> str:
    configured = current_app.config.get("DEMO_PASSWORD")
    if configured not in (None, ""):
        return str(configured)
    return instance_secret(current_app, "demo-password", nbytes=12)


def demo_accounts() -> list[tuple[str, str]]:
    return [(email, role.label) for email, _name, role in PEOPLE]


def load_demo() -> bool:
    """Add the demo data unless it is already there. Returns whether anything was added."""
    if get_setting("demo_loaded_at"):
        return False
    existing = set(db.session.scalars(select(Organisation.name)))
    for name, domain in ORGANISATIONS:
        if name not in existing:
            db.session.add(Organisation(name=name, domains=[OrganisationDomain(domain=domain)]))
    db.session.flush()
    password = demo_password()
    for email, name, role in PEOPLE:
        if accounts.find_user_by_email(email) is None:
            accounts.create_user(
                email=email,
                display_name=name,
                password=password,
                role=role,
                verified=True,
                accepted_guidelines=True,
            )
    set_setting("demo_loaded_at", utcnow().isoformat(), actor=None)
    return True
