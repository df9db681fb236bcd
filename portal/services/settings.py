"""Site settings that admins change in the app, with the defaults a new site starts from."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import SiteSetting, User

DEFAULT_GUIDELINES = """\
We build this product together. These are the standards we ask of everyone here, customers and
our own team alike.

## Be a good partner

- **Describe the problem, not just the solution.** Tell us what you are trying to get done and
  what gets in the way. The best ideas start with a clear need.
- **Search before you post.** If someone has already asked for it, vote and add what is different
  about your situation in a comment. One well-supported idea moves faster than five scattered ones.
- **Be kind and specific.** Disagree with ideas, never with people. No insults, harassment or
  discrimination.
- **Keep it on topic.** No advertising, spam or unrelated support requests; support has its own
  channel.
- **Protect privacy.** Do not post personal data, passwords, or anything confidential about your
  company or anyone else's.

## What you can expect from us

- Every idea is read by the product team. Each stage tells you what it means and when you will
  hear from us next.
- When we change an idea's stage we explain why, in public.
- When an idea is closed, we ask the people who wanted it whether the outcome met their need.

## Moderation

Moderators may hide content or suspend accounts that break these guidelines. If that happens to
your content, you will be told why.
"""

DEFAULTS = {
    # Empty: the SITE_NAME of the configuration.
    "site_name": "",
    "guidelines": DEFAULT_GUIDELINES,
    # "on": ideas by people with no approved idea yet wait for a moderator before anyone sees them.
    "pre_moderation": "",
    # When demo data was loaded into this database; empty when it never was.
    "demo_loaded_at": "",
}


def get_setting(key: str) -> str:
    value = db.session.scalar(select(SiteSetting.value).where(SiteSetting.key == key))
    return DEFAULTS[key] if value is None else value


def set_setting(key: str, value: str, *, actor: User | None) -> None:
    if key not in DEFAULTS:
        raise KeyError(key)
    setting = db.session.get(SiteSetting, key)
    if setting is None:
        setting = SiteSetting(key=key, value=value)
        db.session.add(setting)
    setting.value = value
    setting.updated_by_id = actor.id if actor is not None else None
