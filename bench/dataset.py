"""Builds the load benchmark's data set (issue 8, `make bench`): a portal with a year of history.

    .venv/bin/python bench/dataset.py --database-url sqlite:////work/main/instance/bench/portal.sqlite3
    .venv/bin/python bench/dataset.py --database-url postgresql://postgres@127.0.0.1:5432/portal_bench

By default 100,000 ideas, 20,000 people, 500 organisations, 1,000,000 votes and 300,000 comments;
`--ideas N` scales all of them. The schema comes from the real migrations, so the benchmark runs
on the production tables and indexes. Rows are generated in memory from a seeded random.Random
and written in bulk on the raw DBAPI connection (executemany in one transaction on SQLite, COPY
on PostgreSQL): one ORM object per row would take hours at this size. Every value the app keeps
up to date as things happen (vote_count, comment_count, trending_score, last_activity_at, the
response dates) is derived from the generated rows as the app's services would have left it.

Ideas are spread over boards as a portal with audiences would have them (issue 17): most on the
public board the migration makes, a fifth on a second public board and a twentieth on a private
board that one organisation (the largest) sees. A merged idea sits on the board of the idea it
was merged into. The boards are drawn from a random.Random of their own, so everything else is
exactly what the same seed built before there were boards.

A JSON manifest (0600: it holds the password) tells the load test what it needs: the password
every account shares, customers to sign in as with an idea each can vote for, the idea with
exactly 50 comments, a search word that many ideas contain, and the boards with customers inside
and outside the private board's organisation.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import contextlib
import json
import os
import re
import secrets
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import accumulate
from pathlib import Path
from random import Random
from typing import TextIO

from sqlalchemy import make_url

from portal import ROOT
from portal.services import trending

DEFAULT_IDEAS = 100_000
MIN_IDEAS = 100
DEFAULT_SEED = 8
HISTORY = timedelta(days=365)
BENCHMARK_COMMENTS = 50  # visible comments on the benchmark idea
BENCHMARK_HIDDEN_COMMENTS = 3  # and a few hidden or deleted ones, which must not count
SIGN_IN_CUSTOMERS = 20
SEARCH_WORD = "export"
REFUSED = 2  # exit status when the database already holds a portal


@dataclass(frozen=True)
class Scale:
    """How much of everything: all of it follows from the number of ideas."""

    ideas: int

    @property
    def people(self) -> int:
        return self.ideas // 5

    @property
    def organisations(self) -> int:
        return max(1, self.ideas // 200)

    @property
    def votes(self) -> int:
        return self.ideas * 10

    @property
    def comments(self) -> int:
        return self.ideas * 3

    @property
    def team(self) -> int:
        """Product managers: about 2% of the people."""
        return max(1, round(self.people * 0.02))


# Every idea starts on the board the migration makes (b17a0a1b2c01): public, first in order.
DEFAULT_BOARD_ID = 1


@dataclass(frozen=True)
class BoardPlan:
    id: int
    name: str
    slug: str
    description: str
    audience: str
    share: float  # of the ideas


BOARDS = [
    BoardPlan(
        2, "Mobile app", "mobile-app",
        "Ideas for the iPhone and Android apps: what you need when you are away from your desk.",
        "public", 0.20,
    ),
    BoardPlan(
        3, "Beta programme", "beta-programme",
        "Early features for the customers in our beta programme. Tell us what works and what"
        " gets in your way before everyone has it.",
        "private", 0.05,
    ),
]  # fmt: skip
PRIVATE_BOARD = next(b for b in BOARDS if b.audience == "private")
# The private board is seen by the largest organisation (organisation ids follow their size).
PRIVATE_BOARD_ORGANISATION_ID = 1
BOARD_SEED_OFFSET = 17_000  # the boards' own random stream, apart from everything else


# --- Vocabulary ---------------------------------------------------------------------------
# Product words that recur across ideas, so full-text search has plenty to find. No other
# form of SEARCH_WORD ("exports", "exported") appears, so the ideas counted as containing it
# are exactly the ones a stemming search finds.

CATEGORIES = [
    ("Reporting", "Reports, dashboards and charts.", 18),
    ("Integrations", "Connections to the other tools you use.", 15),
    ("Calendar", "Scheduling, events and reminders.", 12),
    ("Billing", "Invoices, payments and plans.", 12),
    ("Mobile app", "The iOS and Android apps.", 12),
    ("Administration", "Users, permissions and settings.", 11),
    ("Search", "Finding things across the product.", 10),
    ("Notifications", "Emails, alerts and digests.", 10),
]
ACTIONS = [
    "Export", "Schedule", "Filter", "Share", "Bulk edit", "Sync", "Customise", "Search",
    "Archive", "Duplicate", "Print", "Import", "Automate", "Pin", "Sort", "Group", "Tag",
    "Approve", "Comment on", "Restore", "Lock", "Assign", "Preview", "Compare", "Merge",
]  # fmt: skip
THINGS = [
    "dashboard widgets", "calendar events", "invoices", "reports", "timesheets",
    "purchase orders", "customer records", "projects", "tasks", "notifications",
    "user permissions", "budgets", "forecasts", "inventory items", "support tickets",
    "contracts", "expense claims", "sales leads", "email templates", "audit logs",
    "saved filters", "dashboard charts", "calendar views", "recurring meetings",
    "approval workflows",
]  # fmt: skip
SUFFIXES = [
    "", " to Excel", " as PDF", " from the mobile app", " by date range", " with Slack",
    " in bulk", " across teams", " via the API", " from Outlook", " on the dashboard",
    " per organisation", " with Google Calendar", " as CSV", " without reloading the page",
    " for external guests", " on a schedule", " with one click", " from search results",
    " in the calendar",
]  # fmt: skip
ROLES = [
    "finance", "sales", "support", "operations", "marketing", "HR", "engineering",
    "procurement", "legal", "customer success",
]  # fmt: skip
TOOLS = [
    "Excel", "Slack", "Outlook", "Google Calendar", "Salesforce", "Jira", "Power BI", "SAP",
    "Teams", "Zapier",
]  # fmt: skip
PERIODS = ["day", "week", "month", "quarter"]
PROBLEM_OPENINGS = [
    "Every {period} our {role} team has to {act} {thing} by hand, and it takes {n} hours.",
    "Right now the only way to get {thing} into {tool} is a manual export to CSV, then a lot "
    "of copying and pasting.",
    "The dashboard shows our {thing}, but we cannot {act} them from there.",
    "We tried the calendar view for {thing}, but it does not cover what our {role} team needs.",
    "Our managers ask for a weekly overview of {thing} and someone builds it from scratch each "
    "time.",
    "When we have more than {n}00 {thing} the page gets slow and search misses older ones.",
    "Customers keep asking our {role} team about {thing}, and the app has no good answer.",
    "The report on {thing} is useful, but we need it in {tool} to share with the company.",
]
PROBLEM_DETAILS = [
    "This matters most at the end of the {period}, when everything has to be ready for the "
    "{role} review.",
    "About {n}0 people use the portal every day here, so small delays add up.",
    "A setting per organisation would be enough; not everyone needs it.",
    "At the moment we keep a spreadsheet on the side, which is always out of date.",
    "**Why it matters:** mistakes in {thing} cost us real money.",
    "New colleagues need a week to learn the workaround.",
    "We looked for an option in the settings and found none.",
    "The search finds {thing} by name only, never by what is in them.",
]
PROBLEM_LISTS = [
    "\n\nWhat we do today:\n\n- open the {thing} page\n- export the list to CSV\n"
    "- fix the columns in {tool}",
    "\n\nSteps:\n\n1. filter the {thing}\n2. copy them into {tool}\n3. send them round by email",
]
SOLUTIONS = [
    "A button to {act} {thing}{suffix} would solve most of it.",
    "Let us choose the columns once and reuse them every time.",
    "An option in the settings, off by default, would keep everyone else's workflow as it is.",
    "Even a simple version without filters would be a big step.",
    "Show it on the dashboard next to the other {thing}.",
]
CUSTOMER_COMMENTS = [
    "+1, our {role} team needs this too.",
    "Same problem here. We {act} {thing} by hand every {period}.",
    "Would this also cover {thing}? That is where it hurts for us.",
    "We would use this every day. Today we export everything to {tool} instead.",
    "Is there a workaround in the meantime? The dashboard does not help much.",
    "Agreed. It would save our {role} team a couple of hours a {period}.",
    "For us it only matters for {thing}, so a simple version would do.",
    "Please keep it optional: some of our people like the current calendar view.",
]
TEAM_COMMENTS = [
    "Thanks for the detail. How many {thing} do you handle in a typical {period}?",
    "We are looking at this together with the {role} reporting work. More soon.",
    "Good point. Which version of {tool} do you use?",
    "This is a common request; we are collecting examples before we decide.",
]
REPLIES = [
    "Good question, we see the same.",
    "Thanks, that helps us a lot.",
    "In our case it is about {n}0 a {period}.",
    "We use {tool} for that today.",
]
STAGE_NOTES = {
    "under_review": "Thanks for the idea. We are talking to customers about {thing} and will "
    "share what we learn here.",
    "planned": "This is on the roadmap for the next quarter. The design may still change; "
    "follow the idea for updates.",
    "in_progress": "The team has started building this. We will post here when it ships.",
    "shipped": "This shipped in release {n}.{m}. Tell us whether it met your need.",
    "declined": "We will not build this: it does not fit where {thing} are heading. Thank you "
    "for the detailed write-up.",
    "merged": "This is the same need as another idea, so its votes and followers moved there.",
}
HIDDEN_REASONS = ["Off topic for this idea.", "Advertising removed.", "Personal details."]
FIRST_NAMES = [
    "Ana", "Ben", "Chloe", "Dmitri", "Emma", "Farah", "George", "Hana", "Ivan", "Julia", "Kofi",
    "Lena", "Marco", "Nina", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera",
    "Wei", "Xavier", "Yara", "Zoe", "Aisha", "Bruno", "Carla", "Diego", "Elif", "Felix",
    "Grace", "Hugo", "Ines", "Jonas", "Kaito", "Leila", "Mateo", "Noor",
]  # fmt: skip
LAST_NAMES = [
    "Souza", "Okafor", "Martin", "Volkov", "Lindqvist", "Haddad", "Papadopoulos", "Suzuki",
    "Petrov", "Kowalska", "Mensah", "Fischer", "Bianchi", "Raman", "Novak", "Garcia", "Kim",
    "Nguyen", "Smith", "Jensen", "Rossi", "Dubois", "Silva", "Yilmaz", "Tanaka", "Murphy",
    "Schmidt", "Cohen", "Ali", "Larsen", "Moreau", "Costa", "Weber", "Sato", "Horvat",
    "Olsen", "Kaur", "Reyes", "Ivanova", "Brown",
]  # fmt: skip
ORGANISATION_NAMES = [
    "Northwind", "Globex", "Initech", "Umbra", "Vandelay", "Acme", "Stark", "Wayne", "Tyrell",
    "Soylent", "Hooli", "Cyberdyne", "Oscorp", "Wonka", "Monarch", "Aperture", "Blue Sun",
    "Gringotts", "Dunder", "Sterling", "Prestige", "Wernham", "Nakatomi", "Gekko", "Bluth",
    "Krusty", "Pawnee", "Virtucon", "Zorg", "Massive",
]  # fmt: skip
ORGANISATION_KINDS = [
    "Logistics", "Health", "Software", "Foods", "Energy", "Retail", "Finance", "Media", "Labs",
    "Holdings", "Traders", "Systems", "Studios", "Airlines", "Insurance", "Motors", "Pharma",
    "Consulting", "Hotels", "Telecom",
]  # fmt: skip
PERSONAL_DOMAINS = ["mail.example", "inbox.example", "freelance.example", "post.example"]

# Stages and how ideas got there from "new": the first route is the usual one, the second one
# skips a step. The shares follow the brief of issue 8.
STAGE_SHARES = [
    ("new", 0.35),
    ("under_review", 0.25),
    ("planned", 0.10),
    ("in_progress", 0.07),
    ("shipped", 0.12),
    ("declined", 0.08),
    ("merged", 0.03),
]
ROUTES = {
    "new": [()],
    "under_review": [("under_review",)],
    "planned": [("under_review", "planned"), ("planned",)],
    "in_progress": [("under_review", "planned", "in_progress"), ("planned", "in_progress")],
    "shipped": [
        ("under_review", "planned", "in_progress", "shipped"),
        ("planned", "in_progress", "shipped"),
    ],
    "declined": [("under_review", "declined"), ("declined",)],
    "merged": [("merged",), ("under_review", "merged")],
}
VOTE_TAIL = 1.3  # Pareto shape: smaller means a longer tail of very popular ideas
COMMENT_TAIL = 1.3
MAX_COMMENTS_PER_IDEA = 500
TEAM_COMMENT_SHARE = 0.08
REPLY_SHARE = 0.3
INVISIBLE_COMMENT_SHARE = 0.02  # hidden by moderators or deleted by their author


# --- The world being generated --------------------------------------------------------------


@dataclass(frozen=True)
class StageInfo:
    """A stage as the migrations installed it."""

    id: int
    slug: str
    is_closed: bool
    voting_allowed: bool
    response_days: int | None


@dataclass(slots=True)
class Comment:
    idea_id: int
    created_at: datetime
    author_id: int
    body: str
    by_team: bool = False
    parent: Comment | None = None
    is_official: bool = False
    hidden_at: datetime | None = None
    hidden_reason: str | None = None
    deleted_at: datetime | None = None
    id: int = 0

    @property
    def visible(self) -> bool:
        return self.hidden_at is None and self.deleted_at is None


@dataclass(slots=True)
class StageMove:
    created_at: datetime
    from_slug: str
    to_slug: str
    actor_id: int
    note: str


@dataclass(slots=True)
class Idea:
    id: int
    created_at: datetime
    stage: str
    author_id: int
    author_index: int  # the author's place among the customers
    category_id: int
    title: str
    problem: str
    solution: str
    mentions_search_word: bool
    moves: list[StageMove] = field(default_factory=list)
    owner_id: int | None = None
    impact: int | None = None
    effort: int | None = None
    merged_into: int | None = None
    voters: dict[int, datetime] = field(default_factory=dict)
    followers: dict[int, datetime] = field(default_factory=dict)
    comments: list[Comment] = field(default_factory=list)
    # A merged idea keeps the trending score its votes gave it; the votes themselves moved.
    merged_vote_weight: float | None = None
    merged_in_at: list[datetime] = field(default_factory=list)
    board_id: int = DEFAULT_BOARD_ID

    @property
    def voting_ends(self) -> datetime | None:
        """When voting closed (the move to a closed stage), or None while it is open."""
        return self.moves[-1].created_at if self.stage in CLOSED else None

    def follow(self, user_id: int, when: datetime) -> None:
        """Following starts with someone's first vote or comment; later ones change nothing."""
        current = self.followers.get(user_id)
        if current is None or when < current:
            self.followers[user_id] = when


CLOSED = frozenset({"shipped", "declined", "merged"})


@dataclass
class People:
    rows: list[tuple]
    team_ids: list[int]
    customer_ids: list[int]
    customer_created: list[datetime]  # ascending, so a prefix is "everyone who existed by then"
    organisations: list[tuple]
    domains: list[tuple]

    def customers_by(self, when: datetime) -> int:
        """How many customers had an account at `when` (the first ones in customer_ids)."""
        return bisect.bisect_right(self.customer_created, when)


class Words:
    """Sentences from the product vocabulary, with the same random generator as the rest."""

    def __init__(self, rng: Random) -> None:
        self.rng = rng

    def fill(self, template: str, **fixed: str) -> str:
        """The template with its blanks filled: `fixed` ones as given, the others at random."""
        values = {
            name: fixed[name] if name in fixed else self._word(name) for name in _blanks(template)
        }
        return template.format(**values)

    def _word(self, blank: str) -> str:
        rng = self.rng
        if blank == "n":
            return str(rng.randint(2, 9))
        if blank == "m":
            return str(rng.randint(0, 20))
        if blank == "act":
            return rng.choice(ACTIONS).lower()
        return rng.choice(_WORD_LISTS[blank])

    def idea(self) -> tuple[str, str, str]:
        rng, choice = self.rng, self.rng.choice
        action, thing, suffix = choice(ACTIONS), choice(THINGS), choice(SUFFIXES)
        title = f"{action} {thing}{suffix}"
        sentences = [self.fill(choice(PROBLEM_OPENINGS), thing=thing)]
        sentences += [
            self.fill(choice(PROBLEM_DETAILS), thing=thing) for _ in range(rng.randint(1, 3))
        ]
        problem = " ".join(sentences)
        if rng.random() < 0.25:
            problem += self.fill(choice(PROBLEM_LISTS), thing=thing)
        solution = ""
        if rng.random() < 0.5:
            solution = self.fill(choice(SOLUTIONS), thing=thing, act=action.lower(), suffix=suffix)
        return title, problem, solution


_WORD_LISTS = {
    "thing": THINGS,
    "role": ROLES,
    "tool": TOOLS,
    "period": PERIODS,
    "suffix": SUFFIXES,
}


@cache
def _blanks(template: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(re.findall(r"\{(\w+)\}", template)))


_SEARCH_WORD = re.compile(rf"\b{SEARCH_WORD}\b", re.IGNORECASE)


def between(rng: Random, start: datetime, end: datetime) -> datetime:
    return start + (end - start) * rng.random()


def long_tail(rng: Random, shape: float, count: int) -> list[float]:
    """Pareto weights: most near zero, a few enormous (Zipf-like popularity)."""
    return [rng.paretovariate(shape) - 1.0 for _ in range(count)]


def spread(rng: Random, total: int, weights: list[float], caps: list[int]) -> list[int]:
    """Whole-number shares of `total` in proportion to `weights`, none above its cap."""
    if total > sum(caps):
        raise SystemExit(f"cannot place {total:,} rows: too few people for this scale")
    factor = total / (sum(weights) or 1.0)
    counts = [min(cap, int(w * factor)) for w, cap in zip(weights, caps, strict=True)]
    left = total - sum(counts)
    while left > 0:
        room = [i for i, (n, cap) in enumerate(zip(counts, caps, strict=True)) if n < cap]
        for i in rng.choices(room, weights=[weights[i] + 0.01 for i in room], k=left):
            if counts[i] < caps[i]:
                counts[i] += 1
                left -= 1
    return counts


# --- People -----------------------------------------------------------------------------------


def make_people(rng: Random, scale: Scale, now: datetime, password_hash: str) -> People:
    """One admin, a product team, and customers, most of them in an organisation."""
    start = now - HISTORY  # the first accounts; ideas start a day later
    organisations, domains, org_domains = make_organisations(rng, scale, start)
    rows: list[tuple] = []

    def person(user_id: int, email: str, name: str, role: str, org: int | None, created: datetime):
        verified = created + timedelta(minutes=rng.randint(1, 90))
        signed_in = between(rng, verified, now)
        rows.append(
            (user_id, email, name, password_hash, role, org, created, verified, verified,
             signed_in, None, None, None, None, None, None, None, None, None)
        )  # fmt: skip

    person(1, "admin@portal.example", "Alex Admin", "admin", None, start)
    team_ids = list(range(2, 2 + scale.team))
    for user_id in team_ids:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}.{user_id}@portal.example".lower()
        created = start + timedelta(hours=rng.uniform(0, 12))
        person(user_id, email, f"{first} {last}", "product_manager", None, created)

    customers = scale.people - 1 - scale.team
    # Accounts come in fastest early on (an existing customer base), then keep trickling in.
    created_at = sorted(now - HISTORY * (1 - rng.random() ** 2) for _ in range(customers))
    created_at[0] = start
    # A few large organisations, many small ones.
    org_weights = list(accumulate(1 / (rank + 1) ** 0.8 for rank in range(len(organisations))))
    first_id = 2 + scale.team
    for offset, created in enumerate(created_at):
        user_id = first_id + offset
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        org = None
        domain = rng.choice(PERSONAL_DOMAINS)
        if rng.random() < 0.85:
            org = rng.choices(range(len(organisations)), cum_weights=org_weights)[0] + 1
            domain = rng.choice(org_domains[org])
        email = f"{first}.{last}.{user_id}@{domain}".lower()
        person(user_id, email, f"{first} {last}", "customer", org, created)
    return People(
        rows=rows,
        team_ids=team_ids,
        customer_ids=list(range(first_id, first_id + customers)),
        customer_created=created_at,
        organisations=organisations,
        domains=domains,
    )


def make_organisations(
    rng: Random, scale: Scale, start: datetime
) -> tuple[list[tuple], list[tuple], dict[int, list[str]]]:
    """Organisations with one or two email domains each, all before the first account."""
    names = [f"{a} {b}" for a in ORGANISATION_NAMES for b in ORGANISATION_KINDS]
    rng.shuffle(names)
    organisations, domains, by_org = [], [], {}
    for org_id in range(1, scale.organisations + 1):
        base = names[(org_id - 1) % len(names)]
        name = base if org_id <= len(names) else f"{base} {org_id}"
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        # Value and renewal as an admin's CSV import leaves them: most known, a few not.
        monthly = rng.choice([None, 99, 290, 900, 2_500, 8_000, 25_000])
        basis = rng.choice(["mrr", "arr"]) if monthly else None
        organisations.append((
            org_id, name, start - timedelta(days=rng.uniform(1, 400)),
            rng.choice(["", "Starter", "Team", "Business", "Enterprise"]),
            rng.choice(["", "SMB", "Mid-market", "Enterprise"]),
            monthly * 12 if monthly else None, basis,
            (start + timedelta(days=rng.randint(30, 700))).date() if monthly else None,
        ))  # fmt: skip
        own = [f"{slug}.example"] + ([f"{slug}-group.example"] if rng.random() < 0.2 else [])
        by_org[org_id] = own
        for domain in own:
            domains.append((len(domains) + 1, org_id, domain))
    return organisations, domains, by_org


# --- Ideas and their history ----------------------------------------------------------------


def make_ideas(
    rng: Random, scale: Scale, now: datetime, people: People, stages: dict[str, StageInfo]
) -> list[Idea]:
    """Ideas spread over the year, ids in posting order, each with its stage history."""
    words = Words(rng)
    slugs = [slug for slug, share in STAGE_SHARES for _ in range(round(share * scale.ideas))]
    slugs = (slugs + ["new"] * scale.ideas)[: scale.ideas]
    rng.shuffle(slugs)
    # Ideas still in "new" are recent: the team answers most within days.
    ages = [
        min(rng.expovariate(1 / 10), 364.0) if slug == "new" else rng.uniform(2, 364)
        for slug in slugs
    ]
    order = sorted(range(scale.ideas), key=lambda i: -ages[i])
    category_weights = [weight for _, _, weight in CATEGORIES]
    ideas: list[Idea] = []
    for idea_id, i in enumerate(order, start=1):
        created = now - timedelta(days=ages[i])
        author_index = rng.randrange(people.customers_by(created))
        title, problem, solution = words.idea()
        idea = Idea(
            id=idea_id,
            created_at=created,
            stage=slugs[i],
            author_id=people.customer_ids[author_index],
            author_index=author_index,
            category_id=rng.choices(range(1, len(CATEGORIES) + 1), weights=category_weights)[0],
            title=title,
            problem=problem,
            solution=solution,
            mentions_search_word=any(_SEARCH_WORD.search(t) for t in (title, problem, solution)),
        )
        ideas.append(idea)
    choose_merge_targets(rng, ideas)
    for idea in ideas:
        add_history(rng, idea, now, people, stages, words)
    return ideas


def assign_boards(rng: Random, ideas: list[Idea], benchmark: Idea) -> None:
    """Each idea on a board by the boards' shares; a merged idea on its target's board.

    The benchmark idea stays on the default board, so its page measures the same idea as before.
    """
    weights = [1 - sum(b.share for b in BOARDS), *(b.share for b in BOARDS)]
    ids = [DEFAULT_BOARD_ID, *(b.id for b in BOARDS)]
    by_id = {idea.id: idea for idea in ideas}
    for idea in ideas:  # in id order: a merge target is older, so it has its board already
        idea.board_id = rng.choices(ids, weights=weights)[0]
        if idea.merged_into is not None:
            idea.board_id = by_id[idea.merged_into].board_id
        if idea is benchmark:
            idea.board_id = DEFAULT_BOARD_ID


def choose_merge_targets(rng: Random, ideas: list[Idea]) -> None:
    """Each merged idea points at an older idea that is still open."""
    open_ids: list[int] = []
    for idea in ideas:
        if idea.stage == "merged":
            if open_ids:
                idea.merged_into = rng.choice(open_ids)
            else:
                idea.stage = "declined"  # nothing older to merge into
        elif idea.stage not in CLOSED:
            open_ids.append(idea.id)


def add_history(
    rng: Random,
    idea: Idea,
    now: datetime,
    people: People,
    stages: dict[str, StageInfo],
    words: Words,
) -> None:
    """The team's stage changes, each with a note; the owner and estimates once triaged."""
    route = rng.choice(ROUTES[idea.stage])
    if not route:
        return
    days = stages[idea.stage].response_days
    if idea.stage not in CLOSED and days:
        # The last move is usually recent enough that the next answer is not due yet.
        last = now - timedelta(days=rng.expovariate(1 / (0.7 * days)))
        if last <= idea.created_at:
            last = between(rng, idea.created_at, now)
    else:
        last = between(rng, idea.created_at, now)
    times = [*sorted(between(rng, idea.created_at, last) for _ in route[:-1]), last]
    previous = "new"
    for when, slug in zip(times, route, strict=True):
        note = words.fill(STAGE_NOTES[slug])
        idea.moves.append(StageMove(when, previous, slug, rng.choice(people.team_ids), note))
        previous = slug
    if rng.random() < 0.6:
        idea.owner_id = rng.choice(people.team_ids)
    if rng.random() < 0.4:
        idea.impact, idea.effort = rng.randint(1, 5), rng.randint(1, 5)


# --- Votes ----------------------------------------------------------------------------------


def cast_votes(rng: Random, scale: Scale, now: datetime, ideas: list[Idea], people: People):
    """The author's vote on every idea, then a long tail of customers' votes; voters follow."""
    ends = [idea.voting_ends or now for idea in ideas]
    eligible = [people.customers_by(end) for end in ends]
    # Besides its author, no idea gets more than 40% of the customers who could vote on it
    # (all of them on a small data set, or there would not be enough votes to go round).
    caps = [min(n - 1, max(int(n * 0.4), 25)) for n in eligible]
    extra = spread(rng, scale.votes - len(ideas), long_tail(rng, VOTE_TAIL, len(ideas)), caps)
    for idea, end, pool, count in zip(ideas, ends, eligible, extra, strict=True):
        idea.voters[idea.author_id] = idea.created_at
        picks = rng.sample(range(pool), count + 1)
        if idea.author_index in picks:
            picks.remove(idea.author_index)
        else:
            picks.pop()
        for index in picks:
            start = max(idea.created_at, people.customer_created[index])
            idea.voters[people.customer_ids[index]] = between(rng, start, end)
        for user_id, when in idea.voters.items():
            idea.follow(user_id, when)


def merge_duplicates(ideas: list[Idea]) -> None:
    """What pipeline.merge_ideas does: votes and (earlier) followers move to the target.

    The target counts a person who voted for both once; the merged idea keeps its score.
    """
    for idea in ideas:
        if idea.merged_into is None:
            continue
        target = ideas[idea.merged_into - 1]
        merged_at = idea.moves[-1].created_at
        idea.merged_vote_weight = sum(
            trending.weight_at(trending.VOTE_WEIGHT, when) for when in idea.voters.values()
        )
        for user_id, when in idea.voters.items():
            target.voters.setdefault(user_id, when)
        idea.voters = {}
        for user_id, when in idea.followers.items():
            if when <= merged_at:
                target.follow(user_id, merged_at)
        target.merged_in_at.append(merged_at)


def top_up_votes(rng: Random, scale: Scale, now: datetime, ideas: list[Idea], people: People):
    """Merges count a voter of both ideas once; new votes on open ideas make up the total."""
    open_ideas = [idea for idea in ideas if idea.stage not in CLOSED]
    missing = scale.votes - sum(len(idea.voters) for idea in ideas)
    while missing > 0:
        idea = rng.choice(open_ideas)
        index = rng.randrange(len(people.customer_ids))
        user_id = people.customer_ids[index]
        if user_id in idea.voters:
            continue
        when = between(rng, max(idea.created_at, people.customer_created[index]), now)
        idea.voters[user_id] = when
        idea.follow(user_id, when)
        missing -= 1


# --- Comments -------------------------------------------------------------------------------


def choose_benchmark_idea(ideas: list[Idea]) -> Idea:
    """An open, visible idea among the most voted-for ones under review: a busy idea page."""
    candidates = sorted(
        (idea for idea in ideas if idea.stage == "under_review"),
        key=lambda idea: (len(idea.voters), idea.id),
    )
    return candidates[int(len(candidates) * 0.99)]


def write_comments(
    rng: Random, scale: Scale, now: datetime, ideas: list[Idea], people: People, benchmark: Idea
) -> None:
    """A long tail of conversations; the benchmark idea gets exactly 50 visible comments."""
    fixed = BENCHMARK_COMMENTS + BENCHMARK_HIDDEN_COMMENTS
    caps = [0 if idea is benchmark else MAX_COMMENTS_PER_IDEA for idea in ideas]
    counts = spread(rng, scale.comments - fixed, long_tail(rng, COMMENT_TAIL, len(ideas)), caps)
    words = Words(rng)
    for idea, count in zip(ideas, counts, strict=True):
        if idea is benchmark:
            visible, invisible = BENCHMARK_COMMENTS, BENCHMARK_HIDDEN_COMMENTS
        else:
            invisible = sum(rng.random() < INVISIBLE_COMMENT_SHARE for _ in range(count))
            visible = count - invisible
        conversation(rng, idea, now, people, words, visible, invisible)


def conversation(
    rng: Random,
    idea: Idea,
    now: datetime,
    people: People,
    words: Words,
    visible: int,
    invisible: int,
) -> None:
    """Comments and one level of replies; hidden and deleted ones never have replies."""
    top_level: list[Comment] = []
    for when in sorted(between(rng, idea.created_at, now) for _ in range(visible)):
        comment = new_comment(rng, idea, when, people, words)
        if top_level and rng.random() < REPLY_SHARE:
            comment.parent = rng.choice(top_level)
            comment.body = words.fill(rng.choice(REPLIES))
        else:
            top_level.append(comment)
        idea.comments.append(comment)
    for _ in range(invisible):
        when = between(rng, idea.created_at, now)
        comment = new_comment(rng, idea, when, people, words, by_team=False)
        earlier = [c for c in top_level if c.created_at < when]
        if earlier and rng.random() < REPLY_SHARE:
            comment.parent = rng.choice(earlier)
        gone_at = between(rng, when, min(now, when + timedelta(days=3)))
        if rng.random() < 0.5:
            comment.hidden_at, comment.hidden_reason = gone_at, rng.choice(HIDDEN_REASONS)
        else:
            comment.deleted_at = gone_at
        idea.comments.append(comment)
    team_answers = [c for c in top_level if c.by_team]
    if team_answers and rng.random() < 0.5:
        team_answers[-1].is_official = True
    for comment in idea.comments:
        idea.follow(comment.author_id, comment.created_at)


def new_comment(
    rng: Random,
    idea: Idea,
    when: datetime,
    people: People,
    words: Words,
    *,
    by_team: bool | None = None,
) -> Comment:
    if by_team is None:
        by_team = rng.random() < TEAM_COMMENT_SHARE
    if by_team:
        author_id = rng.choice(people.team_ids)
        body = words.fill(rng.choice(TEAM_COMMENTS))
    else:
        author_id = people.customer_ids[rng.randrange(people.customers_by(when))]
        body = words.fill(rng.choice(CUSTOMER_COMMENTS))
    return Comment(idea.id, when, author_id, body, by_team=by_team)


# --- What the app keeps up to date, derived -------------------------------------------------


@dataclass(frozen=True)
class Derived:
    vote_count: int
    comment_count: int
    trending_score: float
    last_activity_at: datetime
    first_response_at: datetime | None
    response_due_at: datetime | None


def derive(idea: Idea, stages: dict[str, StageInfo]) -> Derived:
    """The idea's counters and dates as the services would have left them.

    Posting, each vote and each comment (hidden or deleted later or not) add to the trending
    score when they happen; votes do not count as activity, comments, stage changes and
    merges do. The team answers by moving the idea or commenting; the next answer is due the
    stage's commitment after the last one, and never in a closed stage.
    """
    weight = trending.weight_at
    if idea.merged_vote_weight is not None:
        vote_weight = idea.merged_vote_weight
    else:
        vote_weight = sum(weight(trending.VOTE_WEIGHT, when) for when in idea.voters.values())
    comment_weight = sum(weight(trending.COMMENT_WEIGHT, c.created_at) for c in idea.comments)
    answers = [move.created_at for move in idea.moves]
    answers += [c.created_at for c in idea.comments if c.by_team]
    activity = [idea.created_at, *answers, *(c.created_at for c in idea.comments)]
    stage = stages[idea.stage]
    due = None
    if not stage.is_closed and stage.response_days is not None:
        due = max([idea.created_at, *answers]) + timedelta(days=stage.response_days)
    return Derived(
        vote_count=len(idea.voters),
        comment_count=sum(c.visible for c in idea.comments),
        trending_score=weight(trending.IDEA_WEIGHT, idea.created_at) + vote_weight + comment_weight,
        last_activity_at=max(activity + idea.merged_in_at),
        first_response_at=min(answers) if answers else None,
        response_due_at=due,
    )


# --- Rows -----------------------------------------------------------------------------------


@dataclass
class Table:
    name: str
    columns: tuple[str, ...]
    rows: Sequence[tuple]


USER_COLUMNS = (
    "id", "email", "display_name", "password_hash", "role", "organisation_id", "created_at",
    "email_verified_at", "guidelines_accepted_at", "last_sign_in_at", "suspended_at",
    "suspension_reason", "reset_token_hash", "reset_token_expires_at", "verify_token_hash",
    "verify_token_expires_at", "totp_secret", "totp_enabled_at", "totp_last_step",
)  # fmt: skip
IDEA_COLUMNS = (
    "id", "title", "problem", "solution", "category_id", "stage_id", "author_id",
    "is_team_concept", "created_at", "edited_at", "last_activity_at", "first_response_at",
    "response_due_at", "hidden_at", "hidden_reason", "awaiting_approval", "hidden_with_author",
    "merged_into_id", "owner_id", "impact", "effort", "timeframe", "vote_count",
    "comment_count", "trending_score", "board_id",
)  # fmt: skip
COMMENT_COLUMNS = (
    "id", "idea_id", "author_id", "parent_id", "body", "created_at", "edited_at", "deleted_at",
    "hidden_at", "hidden_reason", "hidden_with_author", "is_official",
)  # fmt: skip
# Every vote here is a person's own: no organisation vote, source, adder or quote.
VOTE_COLUMNS = (
    "id", "idea_id", "user_id", "created_at", "hidden_at",
    "organisation_id", "source", "added_by_id", "quote",
)  # fmt: skip

BOARD_COLUMNS = (
    "id", "name", "slug", "description", "position", "audience", "posting_open", "voting_open",
    "created_at",
)  # fmt: skip


def board_rows(now: datetime) -> list[tuple]:
    """The boards beside the default one, made by an admin when the history starts."""
    return [
        (b.id, b.name, b.slug, b.description, position, b.audience, True, True, now - HISTORY)
        for position, b in enumerate(BOARDS, start=1)
    ]


def build_tables(
    people: People, ideas: list[Idea], stages: dict[str, StageInfo], now: datetime
) -> list[Table]:
    """Every row, in the order foreign keys need, ids ascending with time where the app's are."""
    categories = [
        (i, name, description, i - 1, False)
        for i, (name, description, _) in enumerate(CATEGORIES, start=1)
    ]
    idea_rows = []
    for idea in ideas:
        d = derive(idea, stages)
        idea_rows.append(
            (idea.id, idea.title, idea.problem, idea.solution, idea.category_id,
             stages[idea.stage].id, idea.author_id, False, idea.created_at, None,
             d.last_activity_at, d.first_response_at, d.response_due_at, None, None, False,
             False, idea.merged_into, idea.owner_id, idea.impact, idea.effort, None,
             d.vote_count, d.comment_count, d.trending_score, idea.board_id)
        )  # fmt: skip
    moves = sorted(
        ((move, idea.id) for idea in ideas for move in idea.moves),
        key=lambda pair: pair[0].created_at,
    )
    move_rows = [
        (n, idea_id, stages[m.from_slug].id, stages[m.to_slug].id, m.note, m.actor_id, m.created_at)
        for n, (m, idea_id) in enumerate(moves, start=1)
    ]
    votes = []
    follows = []
    for idea in ideas:
        for user_id in sorted(idea.voters):
            own = (None, None, None, None)
            votes.append((len(votes) + 1, idea.id, user_id, idea.voters[user_id], None, *own))
        # A voter's follow came with the vote, as the app records it; the author's is chosen.
        follows += [
            (
                idea.id,
                user_id,
                idea.followers[user_id],
                user_id in idea.voters and user_id != idea.author_id,
            )
            for user_id in sorted(idea.followers)
        ]
    # As portal.services.votes keeps it: per idea, how many voters each organisation has.
    organisation_of = {row[USER_COLUMNS.index("id")]: row[USER_COLUMNS.index("organisation_id")]
                       for row in people.rows}  # fmt: skip
    backing = collections.Counter(
        (idea_id, organisation_of[user_id])
        for _, idea_id, user_id, *_ in votes
        if organisation_of[user_id] is not None
    )
    backing_rows = [(idea_id, org, n) for (idea_id, org), n in sorted(backing.items())]
    comments = sorted((c for idea in ideas for c in idea.comments), key=lambda c: c.created_at)
    for n, comment in enumerate(comments, start=1):
        comment.id = n  # a parent is older, so it already has its id
    comment_rows = [
        (c.id, c.idea_id, c.author_id, c.parent.id if c.parent else None, c.body, c.created_at,
         None, c.deleted_at, c.hidden_at, c.hidden_reason, False, c.is_official)
        for c in comments
    ]  # fmt: skip
    return [
        Table(
            "organisations",
            (
                "id",
                "name",
                "created_at",
                "plan",
                "segment",
                "annual_value",
                "value_basis",
                "renewal_on",
            ),
            people.organisations,
        ),
        Table("organisation_domains", ("id", "organisation_id", "domain"), people.domains),
        Table("categories", ("id", "name", "description", "position", "retired"), categories),
        Table("boards", BOARD_COLUMNS, board_rows(now)),
        Table(
            "board_organisations",
            ("board_id", "organisation_id"),
            [(PRIVATE_BOARD.id, PRIVATE_BOARD_ORGANISATION_ID)],
        ),
        Table("users", USER_COLUMNS, people.rows),
        Table("ideas", IDEA_COLUMNS, idea_rows),
        Table(
            "stage_changes",
            ("id", "idea_id", "from_stage_id", "to_stage_id", "note", "actor_id", "created_at"),
            move_rows,
        ),
        Table("votes", VOTE_COLUMNS, votes),
        Table("idea_organisations", ("idea_id", "organisation_id", "voters"), backing_rows),
        Table("follows", ("idea_id", "user_id", "created_at", "via_vote"), follows),
        Table("comments", COMMENT_COLUMNS, comment_rows),
    ]


def check_columns(tables: list[Table]) -> None:
    """Stop before writing if the models gained or lost a column this builder does not know."""
    from portal.extensions import db

    for table in tables:
        expected = set(db.metadata.tables[table.name].columns.keys())
        if set(table.columns) != expected:
            raise SystemExit(
                f"bench/dataset.py is out of date with the {table.name} table: it writes "
                f"{sorted(set(table.columns) - expected)} too many and "
                f"{sorted(expected - set(table.columns))} missing"
            )


# --- Progress ---------------------------------------------------------------------------------


class Progress:
    """One line per step on stderr: rows done of the total, rate and time.

    On a terminal the line redraws as rows go in; in a log, only its final state is written.
    """

    WIDTH = 24

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.label, self.total, self.done = "", 0, 0
        self.started = self.drawn = time.monotonic()

    def start(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self.started = self.drawn = time.monotonic()
        if self.live and total:
            self._draw(end="")

    def advance(self, rows: int) -> None:
        self.done += rows
        if self.live and time.monotonic() - self.drawn >= 0.1:
            self._draw(end="")

    def finish(self) -> None:
        self._draw(end="\n")

    @contextlib.contextmanager
    def step(self, label: str) -> Iterator[None]:
        """For a step with no row count: its name and how long it took, once it is done."""
        self.start(label, 0)
        yield
        self.finish()

    def _draw(self, *, end: str) -> None:
        self.drawn = time.monotonic()
        elapsed = self.drawn - self.started
        if self.total:
            filled = round(self.WIDTH * min(1.0, self.done / self.total))
            bar = "#" * filled + "." * (self.WIDTH - filled)
            rate = self.done / elapsed if elapsed > 0 else 0.0
            counts = f"[{bar}] {self.done:>9,}/{self.total:<9,} {rate:>9,.0f} rows/s"
        else:
            counts = ""
        start = "\r" if self.live else ""
        line = f"{self.label:<22} {elapsed:6.1f}s  {counts}".rstrip()
        self.stream.write(f"{start}{line}{end}")
        self.stream.flush()


def chunks(rows: Sequence[tuple], size: int = 20_000) -> Iterator[Sequence[tuple]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# --- Databases ------------------------------------------------------------------------------


class Target:
    """A database the data set is loaded into; subclasses count its people and ideas."""

    def _counts(self) -> tuple[int, int]:
        raise NotImplementedError

    def holds_a_portal(self) -> bool:
        users, ideas = self._counts()
        return bool(users or ideas)

    def idea_count(self) -> int:
        return self._counts()[1]


class SqliteTarget(Target):
    """A SQLite file: emptied by deleting it, loaded in one transaction without fsyncs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = Path(make_url(url).database or "")
        # Flask-SQLAlchemy reads a relative path from the instance folder, sqlite3 from here.
        if not self.path.is_absolute():
            raise SystemExit("give the SQLite database as an absolute path: sqlite:////path")

    def default_manifest(self) -> Path:
        return self.path.with_name(self.path.stem + ".manifest.json")

    def _counts(self) -> tuple[int, int]:
        if not self.path.exists():
            return 0, 0
        uri = f"{self.path.as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
            if not {"users", "ideas"} <= tables:
                return 0, 0
            return conn.execute(
                "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM ideas)"
            ).fetchone()

    def empty(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def prepare(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def load(self, tables: list[Table], progress: Progress) -> None:
        """Bulk inserts with the search triggers off, then one rebuild of the search index.

        The triggers that keep ideas_fts in step are read from the database, exactly as the
        migrations made them, and put back unchanged.
        """
        from portal.services.search import FTS_TABLE

        sqlite3.register_adapter(datetime, _sqlite_datetime)
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            # Nothing to roll back to in a new database; a rollback journal beats copying
            # every page through the WAL. The app turns WAL back on when it connects.
            conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA cache_size = -524288")  # 512 MiB for the index B-trees
            conn.execute("BEGIN")
            triggers = conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'ideas'"
            ).fetchall()
            for name, _sql in triggers:
                conn.execute(f'DROP TRIGGER "{name}"')
            for table in tables:
                insert = (
                    f"INSERT INTO {table.name} ({', '.join(table.columns)}) "
                    f"VALUES ({', '.join('?' * len(table.columns))})"
                )
                progress.start(table.name, len(table.rows))
                for chunk in chunks(table.rows):
                    conn.executemany(insert, chunk)
                    progress.advance(len(chunk))
                progress.finish()
            with progress.step("search index"):
                conn.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
                for _name, sql in triggers:
                    conn.execute(sql)
            with progress.step("commit"):
                conn.execute("COMMIT")
                conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()


def _sqlite_datetime(value: datetime) -> str:
    """The text SQLAlchemy stores for a UTCDateTime on SQLite, so both sort and compare alike."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class PostgresTarget(Target):
    """A PostgreSQL database, created if missing; emptied by recreating its public schema."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        if not parsed.database:
            raise SystemExit(
                "name the PostgreSQL database in the URL: postgresql://.../portal_bench"
            )
        self.database = parsed.database
        self.conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self.server = (
            parsed.set(drivername="postgresql", database="postgres")
            .render_as_string(hide_password=False)
        )  # fmt: skip

    def default_manifest(self) -> Path:
        return ROOT / "instance" / "bench" / "manifest-pg.json"

    def prepare(self) -> None:
        """Create the database on first use, from the server's maintenance database."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.server, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))

    def _counts(self) -> tuple[int, int]:
        import psycopg

        self.prepare()
        with psycopg.connect(self.conninfo) as conn:
            present = conn.execute(
                "SELECT to_regclass('public.users') IS NOT NULL "
                "AND to_regclass('public.ideas') IS NOT NULL"
            ).fetchone()[0]
            if not present:
                return 0, 0
            return conn.execute(
                "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM ideas)"
            ).fetchone()

    def empty(self) -> None:
        import psycopg

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")

    def load(self, tables: list[Table], progress: Progress) -> None:
        """COPY every table in one transaction, move the id sequences on, then VACUUM ANALYZE."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.conninfo) as conn:
            for table in tables:
                copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table.name),
                    sql.SQL(", ").join(map(sql.Identifier, table.columns)),
                )
                progress.start(table.name, len(table.rows))
                with conn.cursor() as cursor:
                    with cursor.copy(copy_sql) as copy:
                        for chunk in chunks(table.rows, 10_000):
                            for row in chunk:
                                copy.write_row(row)
                            progress.advance(len(chunk))
                    if "id" in table.columns:
                        # Rows came with their ids; the app's next insert must not reuse one.
                        cursor.execute(
                            sql.SQL(
                                "SELECT setval(pg_get_serial_sequence(%s, 'id'), max(id)) FROM {}"
                            ).format(sql.Identifier(table.name)),
                            (table.name,),
                        )
                progress.finish()
            with progress.step("commit"):
                conn.commit()
            conn.autocommit = True
            # VACUUM too, as autovacuum soon would on a live site: until the visibility map is
            # set, index-only scans (the organisation counts) read the table as well.
            with progress.step("vacuum and analyze"):
                conn.execute("VACUUM ANALYZE")


def open_target(url: str) -> SqliteTarget | PostgresTarget:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return SqliteTarget(url)
    if backend == "postgresql":
        return PostgresTarget(url)
    raise SystemExit(f"only SQLite and PostgreSQL are supported, not {backend}")


def public_url(url: str) -> str:
    """The URL as given, without its password (the manifest may be read by others)."""
    return make_url(url).set(password=None).render_as_string(hide_password=False)


# --- Schema and app values --------------------------------------------------------------------


def migrate_and_hash(url: str, password: str) -> tuple[dict[str, StageInfo], str]:
    """Build the schema with the real migrations; read the stages; hash the password once."""
    import flask_migrate

    from portal import create_app
    from portal.extensions import db
    from portal.services import catalog
    from portal.services.passwords import hash_password

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            # This process serves nothing: no secret worth keeping, no shared limiter store.
            "SECRET_KEY": secrets.token_hex(16),
            "RATELIMIT_STORAGE_URI": "memory://",
            "REDIS_URL": None,
        }
    )
    with app.app_context():
        flask_migrate.upgrade()
        stages = {
            stage.slug: StageInfo(
                stage.id, stage.slug, stage.is_closed, stage.voting_allowed, stage.response_days
            )
            for stage in catalog.stages()
        }
        password_hash = hash_password(password)
        db.session.remove()
        db.engine.dispose()
    missing = {slug for slug, _ in STAGE_SHARES} - set(stages)
    if missing:
        raise SystemExit(f"the migrations did not install the default stages {sorted(missing)}")
    return stages, password_hash


# --- The manifest -------------------------------------------------------------------------------


def sign_in_customers(
    rng: Random, ideas: list[Idea], people: People, count: int, among: Sequence[int] | None = None
) -> list[dict]:
    """Customers for the load test, each with an idea open to voting they have not voted for.

    `among`: the customers to choose from (places in people.customer_ids), by default all. The
    idea is on a public board, so whoever they are, they may see it.
    """
    votable = [
        i
        for i in ideas
        if i.stage not in CLOSED and i.merged_into is None and i.board_id != PRIVATE_BOARD.id
    ]
    among = range(len(people.customer_ids)) if among is None else among
    chosen = rng.sample(among, min(count, len(among)))
    emails = {row[0]: row[1] for row in people.rows}
    result = []
    for index in chosen:
        user_id = people.customer_ids[index]
        idea = rng.choice(votable)
        while user_id in idea.voters:
            idea = rng.choice(votable)
        result.append({"email": emails[user_id], "user_id": user_id, "vote_idea_id": idea.id})
    return result


def write_manifest(path: Path, manifest: dict) -> None:
    """Readable by its owner only (it holds the password), replaced in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(manifest, out, indent=2)
        out.write("\n")
    os.replace(partial, path)


def reusable(path: Path, target: SqliteTarget | PostgresTarget, scale: Scale) -> bool:
    """Whether the manifest describes this database at this scale, and it still holds it."""
    if not path.exists():
        return False
    manifest = json.loads(path.read_text())
    return (
        manifest.get("database_url") == public_url(target.url)
        and manifest.get("scale", {}).get("ideas") == scale.ideas
        and target.idea_count() == scale.ideas
    )


# --- Putting it together ----------------------------------------------------------------------


def board_manifest(seed: int, ideas: list[Idea], people: People) -> dict:
    """The boards, and customers inside and outside the private board's organisation."""
    rng = Random(seed + BOARD_SEED_OFFSET + 1)
    org = PRIVATE_BOARD_ORGANISATION_ID
    org_column = USER_COLUMNS.index("organisation_id")
    organisation_of = {row[0]: row[org_column] for row in people.rows}
    places = range(len(people.customer_ids))
    inside = [i for i in places if organisation_of[people.customer_ids[i]] == org]
    outside = [i for i in places if organisation_of[people.customer_ids[i]] != org]
    counts = collections.Counter(idea.board_id for idea in ideas)
    return {
        "boards": [
            {"id": DEFAULT_BOARD_ID, "slug": "ideas", "audience": "public",
             "ideas": counts[DEFAULT_BOARD_ID]},
            *({"id": b.id, "slug": b.slug, "audience": b.audience, "ideas": counts[b.id]}
              for b in BOARDS),
        ],
        "private_board": {
            "id": PRIVATE_BOARD.id,
            "slug": PRIVATE_BOARD.slug,
            "organisation_id": org,
            "members": sign_in_customers(rng, ideas, people, SIGN_IN_CUSTOMERS, inside),
            "outsiders": sign_in_customers(rng, ideas, people, SIGN_IN_CUSTOMERS, outside),
        },
    }  # fmt: skip


@dataclass
class Built:
    tables: list[Table]
    benchmark_idea_id: int
    search_matches: int
    customers: list[dict]
    boards: dict


def generate(
    scale: Scale,
    seed: int,
    now: datetime,
    stages: dict[str, StageInfo],
    password_hash: str,
    progress: Progress,
) -> Built:
    rng = Random(seed)
    with progress.step("people"):
        people = make_people(rng, scale, now, password_hash)
    with progress.step("ideas and history"):
        ideas = make_ideas(rng, scale, now, people, stages)
    with progress.step("votes"):
        cast_votes(rng, scale, now, ideas, people)
    benchmark = choose_benchmark_idea(ideas)
    assign_boards(Random(seed + BOARD_SEED_OFFSET), ideas, benchmark)
    with progress.step("comments"):
        write_comments(rng, scale, now, ideas, people, benchmark)
    with progress.step("merges"):
        merge_duplicates(ideas)
        top_up_votes(rng, scale, now, ideas, people)
    with progress.step("rows"):
        tables = build_tables(people, ideas, stages, now)
    return Built(
        tables=tables,
        benchmark_idea_id=benchmark.id,
        # What a visitor's search finds: the private board's ideas are not theirs to find.
        search_matches=sum(
            idea.mentions_search_word for idea in ideas if idea.board_id != PRIVATE_BOARD.id
        ),
        customers=sign_in_customers(rng, ideas, people, SIGN_IN_CUSTOMERS),
        boards=board_manifest(seed, ideas, people),
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="sqlite:////path or postgresql://")
    parser.add_argument("--ideas", type=int, default=DEFAULT_IDEAS, help="default %(default)s")
    parser.add_argument(
        "--replace", action="store_true", help="empty a database that already holds a portal"
    )
    parser.add_argument("--reuse", action="store_true", help="keep a matching earlier build")
    parser.add_argument("--manifest", type=Path, help="where to write the JSON manifest")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="default %(default)s")
    args = parser.parse_args(argv)
    if args.ideas < MIN_IDEAS:
        parser.error(f"--ideas must be at least {MIN_IDEAS}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scale = Scale(args.ideas)
    target = open_target(args.database_url)
    manifest_path = (args.manifest or target.default_manifest()).resolve()
    if args.reuse and reusable(manifest_path, target, scale):
        print(f"Reusing {public_url(target.url)}: it holds the {scale.ideas:,}-idea data set "
              f"described in {manifest_path}.")  # fmt: skip
        return 0
    target.prepare()
    if target.holds_a_portal():
        if not args.replace:
            print(
                f"{public_url(target.url)} already holds people or ideas; refusing to write "
                "into it. Pass --replace to empty it and build the data set again.",
                file=sys.stderr,
            )
            return REFUSED
        target.empty()
        target.prepare()

    started = time.monotonic()
    progress = Progress(sys.stderr)
    password = os.environ.get("BENCH_PASSWORD") or secrets.token_urlsafe(18)
    now = datetime.now(UTC).replace(microsecond=0)
    with progress.step("migrations"):
        stages, password_hash = migrate_and_hash(target.url, password)
    built = generate(scale, args.seed, now, stages, password_hash, progress)
    check_columns(built.tables)
    target.load(built.tables, progress)
    seconds = round(time.monotonic() - started, 1)

    counts = {table.name: len(table.rows) for table in built.tables}
    write_manifest(
        manifest_path,
        {
            "database_url": public_url(target.url),
            "backend": make_url(target.url).get_backend_name(),
            "scale": {"ideas": scale.ideas, "seed": args.seed},
            "built_at": now.isoformat(),
            "build_seconds": seconds,
            "counts": counts,
            "benchmark_idea_id": built.benchmark_idea_id,
            "search_word": SEARCH_WORD,
            "search_matches": built.search_matches,
            "password": password,
            "customers": built.customers,
            **built.boards,
        },
    )
    print(
        f"Built {counts['ideas']:,} ideas, {counts['users']:,} people, "
        f"{counts['organisations']:,} organisations, {counts['votes']:,} votes, "
        f"{counts['comments']:,} comments, {counts['follows']:,} follows and "
        f"{counts['stage_changes']:,} stage changes in {seconds:.1f} s. "
        f"Manifest: {manifest_path}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
