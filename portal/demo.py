"""Demo data for `make run`: organisations, customers, the product team and an admin."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select, update

from portal.config import instance_secret
from portal.extensions import db
from portal.models import (
    NEW_SLUG,
    Category,
    Idea,
    Notification,
    Organisation,
    OrganisationDomain,
    OutboxMessage,
    OutboxStatus,
    Role,
    User,
)
from portal.models.types import utcnow
from portal.services import accounts, catalog, comments, ideas, pipeline, votes
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
    _load_ideas()
    _no_email_about_the_past()
    set_setting("demo_loaded_at", utcnow().isoformat(), actor=None)
    return True


def _no_email_about_the_past() -> None:
    """The demo's history happened "before": nobody is emailed about it, now or in a digest."""
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.kind == "notification")
        .values(status=OutboxStatus.SKIPPED)
    )
    db.session.execute(
        update(Notification).where(Notification.digested_at.is_(None)).values(digested_at=utcnow())
    )


CATEGORIES = ["Reporting", "Integrations", "Mobile app", "Administration", "Notifications"]

# (title, category, author email, stage, problem, solution, voter count)
IDEAS = [
    (
        "Export reports to Excel with formatting",
        "Reporting",
        "ana@northwind.example",
        "planned",
        "Every month our finance team copies the revenue report into Excel by hand and fixes the "
        "number formats. It takes half a day and mistakes slip in.",
        "An **Export to Excel** button that keeps currencies, dates and column widths.",
        11,
    ),
    (
        "Single sign-on with Azure AD",
        "Administration",
        "dmitri@globex.example",
        "in_progress",
        "We have 400 people using the product and IT has to create and remove every account by "
        "hand. Leavers keep access for weeks.",
        "SAML or OIDC sign-in with Azure AD, and automatic deprovisioning.",
        9,
    ),
    (
        "Dark mode for the dashboard",
        "Mobile app",
        "chloe@northwind.example",
        "under_review",
        "Our support team works night shifts and the bright dashboard is tiring on the eyes.",
        "",
        7,
    ),
    (
        "Slack notifications when a deal changes stage",
        "Integrations",
        "emma@globex.example",
        "new",
        "Sales managers live in Slack and miss stage changes until the weekly review.",
        "Post a message to a chosen channel when a deal moves.",
        5,
    ),
    (
        "Scheduled email of the weekly summary",
        "Reporting",
        "george@initech.example",
        "shipped",
        "Our managers never log in; they want the summary in their inbox on Monday morning.",
        "",
        8,
    ),
    (
        "Bulk edit of customer records",
        "Administration",
        "ivan@umbra-health.example",
        "new",
        "After a reorganisation we had to reassign 300 accounts one by one.",
        "Select many records and change the owner or a field in one go.",
        4,
    ),
    (
        "Offline mode for field visits",
        "Mobile app",
        "julia@umbra-health.example",
        "declined",
        "Our nurses visit patients in areas with no signal and cannot record visits.",
        "",
        3,
    ),
    (
        "Webhook when an invoice is paid",
        "Integrations",
        "kofi@freelance.example",
        "new",
        "I reconcile payments in my own accounting tool and have to check the portal daily.",
        "",
        2,
    ),
    (
        "Two-factor authentication with hardware keys",
        "Administration",
        "farah@globex.example",
        "planned",
        "Our security policy requires phishing-resistant second factors for every SaaS tool.",
        "Support WebAuthn security keys alongside authenticator apps.",
        6,
    ),
]

STAGE_NOTES = {
    "under_review": "Thanks for raising this. We are talking to a few of you to understand "
    "when it matters most; expect an update within a month.",
    "planned": "This is on the roadmap for next quarter. We will share designs here first.",
    "in_progress": "Design is done and two engineers are building it now.",
    "shipped": "Shipped in release 4.2: look for **Schedule** on the summary page.",
    "declined": "We looked at this carefully. Offline sync for health data needs encryption "
    "and conflict handling we cannot do well this year, so we are not taking it on now.",
}

COMMENTS = [
    ("ben@northwind.example", "Same here: our controller asked for this last week."),
    ("hana@initech.example", "Please keep the column widths, that's half the work for us."),
    ("lena@freelance.example", "Would CSV be enough for a first version?"),
]


def _person(email: str) -> User:
    """One of the demo PEOPLE, who load_demo creates before the ideas."""
    user = accounts.find_user_by_email(email)
    if user is None:
        raise RuntimeError(f"The demo account {email} is missing.")
    return user


def _install_categories() -> dict[str, Category]:
    existing = set(db.session.scalars(select(Category.name)))
    for position, name in enumerate(CATEGORIES):
        if name not in existing:
            db.session.add(Category(name=name, position=position))
    db.session.flush()
    return {c.name: c for c in catalog.active_categories()}


def _load_ideas() -> None:
    catalog.install_default_stages()
    categories = _install_categories()
    stages = {s.slug: s for s in catalog.stages()}
    people = [_person(email) for email, _n, _r in PEOPLE]
    customers = [p for p in people if p.role == Role.CUSTOMER]
    pm = _person("priya.pm@portal.example")

    for title, category, author_email, stage, problem, solution, voters in IDEAS:
        author = _person(author_email)
        idea = ideas.submit_idea(
            author=author,
            title=title,
            problem=problem,
            solution=solution,
            category_id=categories[category].id,
        )
        for voter in [c for c in customers if c.id != author.id][: voters - 1]:
            votes.cast_vote(idea, voter)
        if stage != NEW_SLUG:
            pipeline.move_stage(idea, stages[stage], actor=pm, note=STAGE_NOTES[stage], ip=None)
        db.session.flush()
    _load_conversation(pm, categories)


def _load_conversation(pm: User, categories: dict[str, Category]) -> None:
    """Comments and the team's answer on the first idea, and a concept from the team."""
    first = db.session.scalars(select(Idea).order_by(Idea.id).limit(1)).one()
    for email, body in COMMENTS:
        comments.add_comment(first, author=_person(email), body=body)
    answer = comments.add_comment(
        first,
        author=pm,
        body="Thanks all. We will start with formatted **.xlsx** export of the revenue and "
        "pipeline reports; CSV stays available for everything else.",
    )
    comments.mark_official(answer, actor=pm)
    ideas.submit_idea(
        author=pm,
        title="Concept: a shared workspace for your whole team",
        problem="We hear that teams share dashboards by screenshot. We are exploring shared "
        "workspaces with comments on charts. Would this help you? What would you need?",
        category_id=categories["Reporting"].id,
        as_concept=True,
    )
