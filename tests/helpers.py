"""Helpers that several test modules share: reading pages, snapshots, emails, XSS checks."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from sqlalchemy import select

from portal.extensions import db


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def database_snapshot() -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    db.session.expire_all()
    snapshot = {}
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
        snapshot[table.name] = [tuple(row) for row in rows]
    db.session.commit()
    return snapshot


def link_in(message, path_prefix: str) -> str:
    body = message.get_body(preferencelist=("plain",)).get_content()
    links = [u for u in re.findall(r"https?://\S+", body) if path_prefix in u]
    assert links, f"no {path_prefix} link in:\n{body}"
    return links[0]


XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "[click me](javascript:alert(1))",
    "[click me](JaVaScRiPt:alert(1))",
    "[click me](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<a href='javascript:alert(1)'>x</a>",
    "![x](javascript:alert(1))",
    '<iframe src="https://evil.example"></iframe>',
]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {name: value or "" for name, value in attrs}))


def assert_inert(body: str) -> None:
    """No element or attribute from user text: no script, no handlers, no script URLs."""
    parser = _Tags()
    parser.feed(body)
    for tag, attrs in parser.tags:
        assert tag not in ("svg", "iframe", "object", "embed"), (tag, attrs)
        if tag in ("script", "img"):
            assert attrs.get("src", "").startswith("/static/"), (tag, attrs)
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, attrs)
            if name in ("href", "src", "action", "formaction"):
                assert not value.strip().lower().startswith(("javascript:", "data:")), (tag, attrs)


def organisation_backing() -> tuple[dict, dict]:
    """(kept, recounted): the idea_organisations rows as {(idea, organisation): voters}, and
    the same counted again from the counted (not hidden) votes, which must agree."""
    from sqlalchemy import func

    from portal.models import IdeaOrganisation, User, Vote

    db.session.expire_all()
    kept = {
        (row.idea_id, row.organisation_id): row.voters
        for row in db.session.scalars(select(IdeaOrganisation))
    }
    # An organisation's own vote (added by the team, naming nobody) counts as one voter.
    organisation = func.coalesce(Vote.organisation_id, User.organisation_id)
    rows = db.session.execute(
        select(Vote.idea_id, organisation, func.count())
        .outerjoin(User, User.id == Vote.user_id)
        .where(organisation.is_not(None), Vote.hidden_at.is_(None))
        .group_by(Vote.idea_id, organisation)
    )
    return kept, {(idea, org): n for idea, org, n in rows}


# --- Two-factor sign-in: real codes from the account's secret ------------------------------

# A secret tests enrol people with, so a test (or a browser test's helper) can make their codes.
KNOWN_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def enrol_two_factor(user, secret: str = KNOWN_TOTP_SECRET) -> None:
    """Turn two-factor on for user with a known secret, as if they had set it up."""
    from portal.models.types import utcnow

    user.totp_secret = secret
    user.totp_enabled_at = utcnow()
    db.session.commit()


def next_code(email: str) -> str:
    """A code from the person's secret that is accepted now: the current step, or the next one
    when the current one was used already (the portal takes one step either side)."""
    import time

    import pyotp

    from portal.models import User

    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.email == email.lower()))
    assert user is not None and user.totp_secret, f"{email} has no two-factor secret"
    now = int(time.time()) // 30
    step = max(now - 1, (user.totp_last_step or 0) + 1)
    assert step <= now + 1, "every code of this minute was used; wait for the next step"
    return pyotp.TOTP(user.totp_secret).at(step * 30)


def pass_two_factor(client, response, email: str):
    """After the password: when sign-in asks for the second step, take it as a person would:
    set two-factor up with the secret the page shows (when it is required and not set up), or
    type a current code. Returns the last response; the first one when no step was asked for."""
    import re

    import pyotp

    if response.status_code != 303 or response.headers["Location"] != "/sign-in/two-factor":
        return response
    page = client.get("/sign-in/two-factor")
    shown = re.search(r'id="two-factor-secret">([A-Z2-7 ]+)<', page.text)
    code = pyotp.TOTP(shown.group(1).replace(" ", "")).now() if shown else next_code(email)
    return client.post("/sign-in/two-factor", data={"code": code})
