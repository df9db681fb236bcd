"""Demo data for `make run`: organisations, customers, the product team and an admin, and six
months of history that make the portal look lived in on first run.

The history is told through the services with the clock set to each moment (clock_at), so
every count, trending score, promise ("next answer due") and timeline is what the live portal
would have computed. It is deterministic: the same people vote at the same offsets from the
moment of loading, chosen by a seeded random generator.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from flask import current_app
from sqlalchemy import select, update

from portal import visibility
from portal.config import instance_secret
from portal.extensions import db
from portal.models import (
    Board,
    Category,
    Comment,
    Idea,
    Notification,
    Organisation,
    OrganisationDomain,
    OutboxMessage,
    OutboxStatus,
    Role,
    User,
)
from portal.models.types import clock_at, utcnow
from portal.services import (
    accounts,
    board_admin,
    boards,
    catalog,
    comments,
    ideas,
    moderation,
    on_behalf,
    outcomes,
    pipeline,
    releases,
    roadmap,
    saved_filters,
    votes,
)
from portal.services.board_admin import BoardDraft
from portal.services.settings import get_setting, set_setting

ORGANISATIONS = [
    ("Northwind Traders", "northwind.example"),
    ("Globex Logistics", "globex.example"),
    ("Initech Software", "initech.example"),
    ("Umbra Health", "umbra-health.example"),
]

# What the team knows of each customer, for the value-weighted priority view:
# (plan, segment, amount, given per "mrr" or "arr", days from loading to renewal).
CUSTOMER_VALUE = {
    "Northwind Traders": ("Enterprise", "Enterprise", 96_000, "arr", 45),
    "Globex Logistics": ("Business", "Mid-market", 2_400, "mrr", 120),
    "Initech Software": ("Team", "SMB", 450, "mrr", 300),
    "Umbra Health": ("Business", "Mid-market", 36_000, "arr", 20),
}

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
    now = utcnow()
    _give_customers_value(now)
    with clock_at(now - timedelta(days=HISTORY_DAYS)):  # everyone joined before the history
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
    _load_history(now)
    _load_roadmap_and_releases(now)
    _load_triage()
    _no_email_about_the_past()
    set_setting("demo_loaded_at", utcnow().isoformat(), actor=None)
    return True


def _give_customers_value(now: datetime) -> None:
    """Plans, values and renewals, as an admin's CSV import would leave them."""
    for org in db.session.scalars(
        select(Organisation).where(Organisation.name.in_(CUSTOMER_VALUE))
    ):
        plan, segment, amount, basis, renews_in = CUSTOMER_VALUE[org.name]
        org.plan, org.segment, org.value_basis = plan, segment, basis
        org.annual_value = amount * 12 if basis == "mrr" else amount
        org.renewal_on = (now + timedelta(days=renews_in)).date()


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
    # What happened more than a few days ago has been seen; the latest is still new.
    db.session.execute(
        update(Notification)
        .where(Notification.created_at < utcnow() - timedelta(days=3))
        .values(read_at=Notification.created_at)
    )


CATEGORIES = ["Reporting", "Integrations", "Mobile app", "Administration", "Notifications"]

HISTORY_DAYS = 180  # the history begins about six months before the demo is loaded
SEED = 15


@dataclass(frozen=True)
class Story:
    """One idea's life. Times are days before the demo is loaded (fractions are fine)."""

    title: str
    category: str
    author: str
    problem: str
    solution: str
    posted: float
    moves: tuple[tuple[str, float], ...] = ()  # (stage slug, when)
    supporters: int = 1  # voters, the author included
    hot: bool = False  # most votes in the last few days: it is trending
    comments: tuple[tuple[str, float, str], ...] = ()  # (author, when, text)
    answer: tuple[float, str] | None = None  # the team's official answer (when, text)
    outcomes: tuple[tuple[str, str, str], ...] = ()  # (follower, yes/partly/no, comment)
    notes: dict[str, str] = field(default_factory=dict)  # stage slug -> the move's note
    board: str = ""  # the slug of its board (DEMO_BOARDS); the default board when empty


STAGE_NOTES = {
    "under_review": "Thanks for raising this. We are talking to a few of you to understand "
    "when it matters most; expect an update within a month.",
    "planned": "This is on the roadmap. We will share designs here first.",
    "in_progress": "Design is done and two engineers are building it now.",
    "shipped": "Shipped. Tell us whether it does what you needed.",
    "declined": "We looked at this carefully and are not taking it on now; the reasons are "
    "in the comments.",
}

STORIES = (
    Story(
        "Export reports to Excel with formatting",
        "Reporting",
        "ana@northwind.example",
        "Every month our finance team copies the revenue report into Excel by hand and fixes "
        "the number formats. It takes half a day and mistakes slip in.",
        "An **Export to Excel** button that keeps currencies, dates and column widths.",
        posted=170,
        moves=(("under_review", 160), ("planned", 118), ("in_progress", 20)),
        supporters=11,
        comments=(
            ("ben@northwind.example", 165, "Same here: our controller asked for this last week."),
            ("hana@initech.example", 150, "Please keep the column widths, that's half the work."),
            ("lena@freelance.example", 140, "Would CSV be enough for a first version?"),
        ),
        answer=(
            118,
            "Thanks all. We will start with formatted **.xlsx** export of the revenue and "
            "pipeline reports; CSV stays available for everything else.",
        ),
        notes={"planned": "Planned for next quarter: revenue and pipeline reports first."},
    ),
    Story(
        "Single sign-on with Azure AD",
        "Administration",
        "dmitri@globex.example",
        "We have 400 people using the product and IT has to create and remove every account by "
        "hand. Leavers keep access for weeks.",
        "SAML or OIDC sign-in with Azure AD, and automatic deprovisioning.",
        posted=150,
        moves=(("under_review", 146), ("planned", 110), ("in_progress", 60), ("shipped", 9)),
        supporters=10,
        comments=(("farah@globex.example", 140, "Okta support too, please, if it's SAML."),),
        outcomes=(
            ("dmitri@globex.example", "yes", "IT switched it on in an afternoon. Thank you!"),
            ("emma@globex.example", "partly", "Sign-in works; we still need SCIM provisioning."),
            ("farah@globex.example", "yes", ""),
            ("george@initech.example", "no", "We use Google Workspace, not Azure AD."),
        ),
        notes={"shipped": "Shipped in release 4.3: Settings → Security → Single sign-on."},
    ),
    Story(
        "Dark mode for the dashboard",
        "Mobile app",
        "chloe@northwind.example",
        "Our support team works night shifts and the bright dashboard is tiring on the eyes.",
        "",
        posted=40,
        moves=(("under_review", 38),),
        supporters=8,
        hot=True,
        comments=(
            ("julia@umbra-health.example", 3, "Our nurses on night duty would love this."),
            ("kofi@freelance.example", 2, "And follow the system setting, please."),
        ),
    ),
    Story(
        "Slack notifications when a deal changes stage",
        "Integrations",
        "emma@globex.example",
        "Sales managers live in Slack and miss stage changes until the weekly review.",
        "Post a message to a chosen channel when a deal moves.",
        posted=5,
        supporters=9,
        hot=True,
        comments=(
            ("dmitri@globex.example", 4, "Teams too? Half our company is on Microsoft Teams."),
            ("ben@northwind.example", 1.5, "A daily summary in the channel would also work."),
        ),
    ),
    Story(
        "Scheduled email of the weekly summary",
        "Reporting",
        "george@initech.example",
        "Our managers never sign in; they want the summary in their inbox on Monday morning.",
        "",
        posted=130,
        moves=(("under_review", 126), ("planned", 100), ("in_progress", 70), ("shipped", 35)),
        supporters=8,
        outcomes=(
            ("george@initech.example", "yes", "Monday 8:00 sharp. Exactly what we asked for."),
            ("hana@initech.example", "yes", ""),
            ("ivan@umbra-health.example", "partly", "We need it in German too."),
        ),
        notes={"shipped": "Shipped in release 4.2: look for **Schedule** on the summary page."},
    ),
    Story(
        "Bulk edit of customer records",
        "Administration",
        "ivan@umbra-health.example",
        "After a reorganisation we had to reassign 300 accounts one by one.",
        "Select many records and change the owner or a field in one go.",
        posted=16,
        supporters=4,
    ),
    Story(
        "Offline mode for field visits",
        "Mobile app",
        "julia@umbra-health.example",
        "Our nurses visit patients in areas with no signal and cannot record visits.",
        "",
        posted=120,
        moves=(("under_review", 115), ("declined", 80)),
        supporters=4,
        outcomes=(
            ("julia@umbra-health.example", "no", "Disappointed, but the explanation was honest."),
            ("kofi@freelance.example", "partly", ""),
        ),
        notes={
            "declined": "We looked at this carefully. Offline sync for health data needs "
            "encryption and conflict handling we cannot do well this year, so we are not "
            "taking it on now."
        },
    ),
    Story(
        "Webhook when an invoice is paid",
        "Integrations",
        "kofi@freelance.example",
        "I reconcile payments in my own accounting tool and have to check the portal daily.",
        "",
        posted=1,
        supporters=2,
    ),
    Story(
        "Two-factor authentication with hardware keys",
        "Administration",
        "farah@globex.example",
        "Our security policy requires phishing-resistant second factors for every SaaS tool.",
        "Support WebAuthn security keys alongside authenticator apps.",
        posted=90,
        moves=(("under_review", 86), ("planned", 75)),
        supporters=6,
    ),
    Story(
        "Calendar sync with Outlook",
        "Integrations",
        "hana@initech.example",
        "Meetings booked in the portal don't show in Outlook, so people double-book.",
        "Two-way sync with Outlook and Google calendars.",
        posted=60,
        moves=(("under_review", 56), ("planned", 30)),
        supporters=5,
        comments=(("chloe@northwind.example", 50, "Google Calendar as well, please."),),
    ),
    Story(
        "Custom fields on deals",
        "Administration",
        "ben@northwind.example",
        "We track the contract type and renewal owner in a spreadsheet next to the portal.",
        "Let admins add their own fields (text, date, choice) to deals.",
        posted=100,
        moves=(("under_review", 95), ("planned", 70), ("in_progress", 25)),
        supporters=9,
    ),
    Story(
        "Push notifications for mentions",
        "Notifications",
        "lena@freelance.example",
        "I miss questions from clients because mentions only show when I open the app.",
        "",
        posted=75,
        moves=(("under_review", 70), ("planned", 50), ("in_progress", 30), ("shipped", 12)),
        supporters=7,
        outcomes=(
            ("lena@freelance.example", "yes", "I answer clients within minutes now."),
            ("chloe@northwind.example", "yes", ""),
        ),
    ),
    Story(
        "A daily digest instead of one email per update",
        "Notifications",
        "julia@umbra-health.example",
        "I get twenty emails a day from the portal and have started ignoring all of them.",
        "One email a day with everything that happened.",
        posted=25,
        moves=(("under_review", 20),),
        supporters=8,
        hot=True,
        comments=(("emma@globex.example", 2, "Weekly would suit our managers even better."),),
    ),
    Story(
        "Filter the pipeline report by region",
        "Reporting",
        "farah@globex.example",
        "Our regional leads each export the whole pipeline and filter it in a spreadsheet.",
        "",
        posted=11,
        supporters=3,
        answer=(4, "Thanks, Farah. Is region the account's country, or your own territories?"),
    ),
    Story(
        "Keyboard shortcuts for the deal list",
        "Administration",
        "george@initech.example",
        "Going through fifty deals a morning with the mouse is slow.",
        "J and K to move, E to edit, like in email clients.",
        posted=6,
        supporters=3,
    ),
    Story(
        "Share a dashboard with a read-only link",
        "Reporting",
        "chloe@northwind.example",
        "Our board wants to see the dashboard without having an account.",
        "",
        posted=55,
        moves=(("under_review", 50), ("declined", 45)),
        supporters=4,
        outcomes=(("chloe@northwind.example", "no", "We'll keep sending screenshots, then."),),
        notes={
            "declined": "Public links to customer data are a risk we don't want to take; "
            "scheduled PDF exports are planned instead."
        },
    ),
    Story(
        "Audit log export for compliance",
        "Administration",
        "ivan@umbra-health.example",
        "Our auditors ask every quarter who changed which record, and we can't answer.",
        "",
        posted=140,
        moves=(("under_review", 135), ("planned", 115), ("in_progress", 90), ("shipped", 60)),
        supporters=6,
        outcomes=(("ivan@umbra-health.example", "yes", "The auditors were happy."),),
    ),
    Story(
        "Android widget with today's tasks",
        "Mobile app",
        "dmitri@globex.example",
        "Field staff want to see their day without opening the app.",
        "",
        posted=32,
        moves=(("under_review", 29),),
        supporters=5,
    ),
    Story(
        "Currency conversion in reports",
        "Reporting",
        "emma@globex.example",
        "We sell in five currencies and every report mixes them.",
        "",
        posted=165,
        moves=(("under_review", 160), ("declined", 150)),
        supporters=2,
    ),
    Story(
        "Reply to a notification email to comment",
        "Notifications",
        "ben@northwind.example",
        "Opening the portal to answer a one-line question breaks my flow.",
        "Replying to the email posts the reply as a comment.",
        posted=3,
        supporters=6,
        hot=True,
    ),
)

# Boards besides the default one: a public board for the mobile app, and a private beta open to
# one customer, so that someone trying the demo meets boards (and a private one) at once.
# (name, slug, description, audience, organisations that see it, categories offered)
DEMO_BOARDS = (
    (
        "Mobile app",
        "mobile-app",
        "Ideas for the **iPhone and Android apps**: working on the go, offline and on small "
        "screens.",
        "public",
        (),
        ("Mobile app", "Notifications"),
    ),
    (
        "Beta programme",
        "beta-programme",
        "Early features that **Northwind Traders** tries before everyone else. Only the "
        "product team and Northwind's people see this board.",
        "private",
        ("Northwind Traders",),
        (),
    ),
)

BOARD_STORIES = (
    Story(
        "Work offline on the train",
        "Mobile app",
        "kofi@freelance.example",
        "I review reports on my commute and lose the connection in tunnels. The app shows an "
        "empty screen and forgets what I was reading.",
        "Keep the last opened reports on the phone and sync my notes when I am back online.",
        posted=75,
        moves=(("under_review", 60),),
        supporters=5,
        board="mobile-app",
    ),
    Story(
        "Face ID instead of typing my password",
        "Mobile app",
        "emma@globex.example",
        "Typing a long password on a phone keyboard several times a day is painful, so people "
        "pick short ones.",
        "Sign in with Face ID or a fingerprint once the password has been entered once.",
        posted=48,
        moves=(("under_review", 40), ("planned", 22)),
        supporters=7,
        board="mobile-app",
    ),
    Story(
        "A home screen widget with today's numbers",
        "Mobile app",
        "george@initech.example",
        "I open the app ten times a day just to glance at today's sales.",
        "A widget showing two or three numbers I choose, refreshed every hour.",
        posted=20,
        supporters=3,
        board="mobile-app",
    ),
    Story(
        "Quiet hours for push notifications",
        "Notifications",
        "julia@umbra-health.example",
        "Our nurses get pushes in the middle of the night about reports that can wait until "
        "morning.",
        "Let each person set quiet hours; pushes wait and arrive together afterwards.",
        posted=12,
        supporters=2,
        board="mobile-app",
    ),
    Story(
        "Beta: forecast next month's revenue",
        "Reporting",
        "ana@northwind.example",
        "We already tried the forecast preview in the beta build. It helps, but it ignores "
        "seasonal orders, which are a third of our year.",
        "Let us mark seasonal customers so the forecast expects their orders.",
        posted=30,
        moves=(("under_review", 25),),
        supporters=3,
        comments=(
            ("ben@northwind.example", 26, "Yes, December always looks like a disaster in it."),
        ),
        board="beta-programme",
    ),
    Story(
        "Beta: approve purchase orders from the email",
        "Administration",
        "ben@northwind.example",
        "In the beta, approvals still need the portal open. Managers approve from their phones "
        "between meetings.",
        "Approve or reject straight from the notification email.",
        posted=16,
        supporters=2,
        board="beta-programme",
    ),
    Story(
        "Beta: keep the old report layout one more month",
        "Reporting",
        "chloe@northwind.example",
        "Our board pack is built on the old layout and we cannot change it before the quarter "
        "closes.",
        "A switch to keep the old layout until the end of the quarter.",
        posted=6,
        supporters=1,
        board="beta-programme",
    ),
)


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


def _load_history(now: datetime) -> None:
    catalog.install_default_stages()
    boards.install_default_board()
    categories = _install_categories()
    customers = [_person(email) for email, _n, role in PEOPLE if role == Role.CUSTOMER]
    team = [_person("priya.pm@portal.example"), _person("marco.pm@portal.example")]
    rng = random.Random(SEED)
    for number, story in enumerate(STORIES):
        _tell(story, now=now, rng=rng, pm=team[number % 2], customers=customers,
              category=categories[story.category])  # fmt: skip
    _install_boards(now, categories)
    for number, story in enumerate(BOARD_STORIES):
        _tell(story, now=now, rng=rng, pm=team[number % 2], customers=customers,
              category=categories[story.category])  # fmt: skip
    with clock_at(now - timedelta(days=8)):
        ideas.submit_idea(
            author=team[0],
            title="Concept: a shared workspace for your whole team",
            problem="We hear that teams share dashboards by screenshot. We are exploring shared "
            "workspaces with comments on charts. Would this help you? What would you need?",
            category_id=categories["Reporting"].id,
            as_concept=True,
        )
    _tend_the_pipeline(now)
    _team_work(now, team)
    _merge_duplicates(now, pm=team[0], category=categories["Reporting"])


def _install_boards(now: datetime, categories: dict[str, Category]) -> None:
    """The admin adds the demo's other boards (DEMO_BOARDS), as the boards page would."""
    admin = _person("admin@portal.example")
    existing = set(db.session.scalars(select(Board.slug)))
    named = {o.name: o.id for o in db.session.scalars(select(Organisation))}
    for name, slug, description, audience, organisations, offered in DEMO_BOARDS:
        if slug in existing:
            continue
        draft = BoardDraft(
            name=name,
            slug=slug,
            description=description,
            audience=audience,
            organisation_ids=frozenset(named[o] for o in organisations),
            category_ids=frozenset(categories[c].id for c in offered),
        )
        with clock_at(now - timedelta(days=HISTORY_DAYS - 60)):
            board_admin.save_board(None, draft, actor=admin, ip=None)
    db.session.flush()


def _tend_the_pipeline(now: datetime) -> None:
    """The admin tightens a stage's promise and says where ideas go next, so the audit log shows
    stage edits with before and after values, as sentences (issue 16)."""
    admin = _person("admin@portal.example")
    review = catalog.stage_by_slug("under_review")
    if review is None:
        return
    moves = catalog.transitions()
    with clock_at(now - timedelta(days=1)):
        catalog.save_stage(
            review,
            actor=admin,
            ip=None,
            name=review.name,
            description=review.description,
            is_closed=review.is_closed,
            voting_allowed=review.voting_allowed,
            response_days=21,
            position=review.position,
            target_ids=moves.get(review.id, set()),
            colour=review.colour,
        )


def _load_triage() -> None:
    """Priya's saved triage filters, one shared with the team, and a comment Marco hid as a
    moderator of his product, waiting for an admin to confirm or restore it (issue 16)."""
    priya, marco = _person("priya.pm@portal.example"), _person("marco.pm@portal.example")
    for name, query, shared in [
        ("Mine, overdue", "show=all&owner=me&overdue=1", True),
        ("New and nobody's", "show=all&stage=new&owner=unassigned", False),
    ]:
        saved_filters.save_filter(name=name, query=query, shared=shared, actor=priya, ip=None)
    comment = db.session.scalar(
        select(Comment)
        .join(User, Comment.author_id == User.id)
        .where(User.role == Role.CUSTOMER.value, Comment.hidden_at.is_(None))
        .order_by(Comment.created_at.desc(), Comment.id.desc())
        .limit(1)
    )
    if comment is not None:
        moderation.hide(
            comment,
            reason="Shares a colleague's phone number: see our community guidelines.",
            actor=marco,
            ip=None,
        )


def _merge_duplicates(now: datetime, *, pm: User, category: Category) -> None:
    """Two duplicates of the weekly summary idea: one merged weeks ago (the kept idea's
    timeline lists it, and it says where its votes went) and a fresh one the team has yet to
    merge (the merge page suggests the original)."""
    kept = db.session.scalars(
        select(Idea).where(Idea.title == "Scheduled email of the weekly summary")
    ).one()
    duplicates = (
        ("emma@globex.example", 60, "Send the Monday summary by email",
         "Our regional managers want the numbers in their inbox at the start of the week, "
         "without signing in.",
         ("farah@globex.example", "hana@initech.example")),
        ("julia@umbra-health.example", 3, "Email the weekly summary to managers automatically",
         "Every Monday I export the summary and email it to five managers by hand. The portal "
         "could send it for me.",
         ("ivan@umbra-health.example", "lena@freelance.example")),
    )  # fmt: skip
    for author, days_ago, title, problem, voters in duplicates:
        with clock_at(now - timedelta(days=days_ago)):
            idea = ideas.submit_idea(
                author=_person(author), title=title, problem=problem, category_id=category.id
            )
        with clock_at(now - timedelta(days=days_ago - 1)):
            for email in voters:
                votes.cast_vote(idea, _person(email))
            db.session.flush()
        if days_ago > 30:
            with clock_at(now - timedelta(days=days_ago - 2)):
                pipeline.merge_ideas(
                    idea,
                    kept,
                    actor=pm,
                    note="This is the same need as the scheduled weekly summary, so your votes "
                    "now count there. Follow along on that idea.",
                    ip=None,
                )
                db.session.flush()


def _tell(
    story: Story,
    *,
    now: datetime,
    rng: random.Random,
    pm: User,
    customers: list[User],
    category: Category,
) -> None:
    """Post the idea, then play its events (votes, comments, moves, answers) in time order."""

    def at(days_ago: float) -> datetime:
        return now - timedelta(days=days_ago)

    author = _person(story.author)
    board = (
        db.session.scalar(select(Board).where(Board.slug == story.board)) if story.board else None
    )
    if board is not None:  # only people who may see the board vote for its ideas
        customers = [c for c in customers if visibility.user_can_see_board(c, board.id)]
    with clock_at(at(story.posted)):
        idea = ideas.submit_idea(
            author=author,
            title=story.title,
            problem=story.problem,
            solution=story.solution,
            category_id=category.id,
            board=board,
        )
    stages = {s.slug: s for s in catalog.stages()}
    closed_at = next((when for slug, when in story.moves if stages[slug].is_closed), 0.0)
    events: list[tuple[float, int, Callable[[], object]]] = []
    # Those who answer the outcome question follow the idea: they voted for it.
    answering = [_person(e) for e, _a, _c in story.outcomes if e != story.author]
    taken = {author.id} | {person.id for person in answering}
    others = [c for c in customers if c.id not in taken]
    chosen = answering + rng.sample(others, story.supporters - 1 - len(answering))
    for voter in chosen:
        recent = story.hot and rng.random() < 0.7
        start = min(story.posted, 4.0) if recent else story.posted
        when = rng.uniform(max(closed_at, 0.02) + 0.01, start - 0.01)
        events.append((when, 1, partial(votes.cast_vote, idea, voter)))
    for email, when, body in story.comments:
        add = partial(comments.add_comment, idea, author=_person(email), body=body)
        events.append((when, 2, add))
    if story.answer:
        when, body = story.answer
        events.append((when, 3, partial(_official_answer, idea, pm, body)))
    for slug, when in story.moves:
        note = story.notes.get(slug, STAGE_NOTES[slug])
        move = partial(pipeline.move_stage, idea, stages[slug], actor=pm, note=note, ip=None)
        events.append((when, 4, move))
    for offset, (email, answer, comment) in enumerate(story.outcomes):
        when = max(closed_at - 1.5 - offset * 1.2, 0.05)
        verdict = partial(
            outcomes.answer_outcome, idea, _person(email), answer=answer, comment=comment
        )
        events.append((when, 5, verdict))
    for when, _order, event in sorted(events, key=lambda e: (-e[0], e[1])):
        with clock_at(at(when)):
            event()
            db.session.flush()
    db.session.refresh(idea)


# Votes the team heard in calls and tickets: (idea title, a customer, or None for the
# organisation, organisation, source, quote, days ago). "someone" is the first customer who
# has not voted for it themselves.
TEAM_VOTES = [
    ("Export reports to Excel with formatting", "someone", None, "sales_call",
     "If the monthly report came out as a spreadsheet I would stop copying it by hand.", 2.5),
    ("Export reports to Excel with formatting", None, "Umbra Health", "meeting",
     "Their finance lead asked for it twice in the quarterly review.", 6.0),
    ("Dark mode for the dashboard", "someone", None, "support_ticket",
     "My eyes hurt after an evening shift with the bright screen.", 1.5),
]  # fmt: skip


def _team_work(now: datetime, team: list[User]) -> None:
    """What the product team does besides moving ideas: owners for the open ideas (the
    dashboard breaks down by them) and votes added for customers heard elsewhere."""
    unowned = db.session.scalars(
        select(Idea)
        .where(Idea.owner_id.is_(None), Idea.is_team_concept.is_(False))
        .order_by(Idea.id)
    ).unique()
    for n, each in enumerate(unowned):
        if not each.stage.is_closed and n % 3 != 2:  # a few stay unassigned, as in life
            each.owner_id = team[n % 2].id
    by_title = {i.title: i for i in db.session.scalars(select(Idea)).unique()}
    organisations = {o.name: o for o in db.session.scalars(select(Organisation))}
    for title, email, organisation, source, quote, days_ago in TEAM_VOTES:
        idea = by_title.get(title)
        if idea is None or not idea.voting_open:
            continue
        with clock_at(now - timedelta(days=days_ago)):
            if email is not None:
                customer = next(
                    _person(e)
                    for e, _n, role in reversed(PEOPLE)
                    if role == Role.CUSTOMER and not votes.has_voted(idea, _person(e))
                )
                on_behalf.add_vote_for_person(
                    idea, customer, source=source, quote=quote, actor=team[0], ip=None
                )
            elif organisation is not None:
                on_behalf.add_vote_for_organisation(
                    idea, organisations[organisation], source=source, quote=quote,
                    actor=team[1], ip=None,
                )  # fmt: skip
            db.session.flush()


def _official_answer(idea: Idea, pm: User, body: str) -> None:
    answer = comments.add_comment(idea, author=pm, body=body)
    comments.mark_official(answer, actor=pm)


# When customers can expect what is on the roadmap, and the releases that shipped ideas.
TIMEFRAMES = {
    "Export reports to Excel with formatting": "now",
    "Custom fields on deals": "now",
    "Two-factor authentication with hardware keys": "next",
    "Calendar sync with Outlook": "later",
}
RELEASES = (
    # (title, days ago, note, the ideas it shipped); the ideas shipped then, on their own.
    (
        "Release 4.2: the weekly summary by email, and a compliance export",
        35,
        "Two things many of you asked for.\n\n"
        "- **Weekly summary by email**: choose the day and the people in Reports → Summary → "
        "Schedule.\n"
        "- **Audit log export**: admins download a year of audit events as CSV from "
        "Settings → Security.",
        ("Scheduled email of the weekly summary", "Audit log export for compliance"),
    ),
    (
        "Release 4.3: single sign-on and mentions on the go",
        9,
        "Sign in with **Azure AD** (Settings → Security → Single sign-on), and get a push "
        "notification on your phone when someone mentions you.",
        ("Single sign-on with Azure AD", "Push notifications for mentions"),
    ),
)


def _load_roadmap_and_releases(now: datetime) -> None:
    """Timeframes on the roadmap, the releases behind the changelog, and a draft in the works."""
    pm = _person("priya.pm@portal.example")
    by_title = {idea.title: idea for idea in db.session.scalars(select(Idea))}
    for title, timeframe in TIMEFRAMES.items():
        roadmap.set_timeframe(by_title[title], timeframe, actor=pm, ip=None)
    for title, days_ago, note, shipped in RELEASES:
        with clock_at(now - timedelta(days=days_ago)):
            release = releases.save_draft(
                None,
                actor=pm,
                ip=None,
                title=title,
                note=note,
                idea_ids=[by_title[t].id for t in shipped],
            )
            releases.publish(release, actor=pm, ip=None)
    releases.save_draft(
        None,
        actor=pm,
        ip=None,
        title="Release 4.4: Excel export",
        note="Export the revenue and pipeline reports to **Excel**, with currencies, dates and "
        "column widths kept. Look for **Export** at the top of each report.",
        idea_ids=[by_title["Export reports to Excel with formatting"].id],
    )
    db.session.flush()
