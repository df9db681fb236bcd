"""Site settings that admins change in the app, with the defaults a new site starts from."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.extensions import db
from portal.models import SiteSetting, User
from portal.models.site import forget_site_name, site_name
from portal.permissions import can_configure_site, require
from portal.services import audit
from portal.services.errors import InvalidInput
from portal.services.text import clean_line, without_control_characters

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
    # The priority score's weights as JSON (portal.services.scoring); empty: its defaults.
    "priority_weights": "",
    # How the roadmap speaks of time: "now_next_later" or "quarters" (portal.services.roadmap).
    "roadmap_timeframes": "now_next_later",
    # "on": only signed-in people see the portal (portal.services.invites).
    "private_portal": "",
    # Who may create an account: "anyone", or "invited" (invitations and sign_up_domains).
    "sign_up": "anyone",
    # With sign_up "invited": email domains whose people may sign up too, space-separated.
    "sign_up_domains": "",
    # Hosts webhooks may call although they are inside the network, space-separated, such as
    # "localhost 127.0.0.1:8080" (portal.mail.netguard); empty: none.
    "webhook_local_hosts": "",
    # Who must sign in with a two-factor code besides admins (always): "admins", "team" (product
    # managers too) or "everyone" (portal.services.two_factor).
    "two_factor_required": "admins",
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


# --- What admins change on the settings page ----------------------------------------------

SITE_NAME_MAX = 60
GUIDELINES_MAX = 20_000


def clean_site_name(raw: str) -> str:
    name = clean_line(raw)
    if not 1 <= len(name) <= SITE_NAME_MAX:
        raise InvalidInput(
            f"Give the site a name of 1 to {SITE_NAME_MAX} characters.", field="site_name"
        )
    return name


def update_general(*, actor: User, ip: str | None, name: str, pre_moderation: bool) -> list[str]:
    """Save the site name and whether pre-moderation is on; returns the keys that changed."""
    require(can_configure_site(actor))
    wanted = {"site_name": clean_site_name(name), "pre_moderation": "on" if pre_moderation else ""}
    current = {"site_name": site_name(), "pre_moderation": get_setting("pre_moderation")}
    changed = save_changed(wanted, current, actor=actor, ip=ip)
    if "site_name" in changed:
        forget_site_name()
    return changed


def save_changed(
    wanted: dict[str, str], current: dict[str, str], *, actor: User, ip: str | None
) -> list[str]:
    """Save the settings whose wanted value differs from the current one, as one audit entry
    naming each change; returns the keys that changed."""
    changed = [key for key in wanted if wanted[key] != current[key]]
    for key in changed:
        set_setting(key, wanted[key], actor=actor)
    if changed:
        audit.record(
            "settings.changed",
            actor=actor,
            ip=ip,
            changed=changed,
            **{key: {"old": current[key], "new": wanted[key]} for key in changed},
        )
    return changed


def update_guidelines(text: str, *, actor: User, ip: str | None) -> bool:
    """Replace the community guidelines (Markdown); returns whether they changed."""
    require(can_configure_site(actor))
    text = without_control_characters(text or "").strip()
    if not text:
        raise InvalidInput(
            "Write the community guidelines; they cannot be empty.", field="guidelines"
        )
    if len(text) > GUIDELINES_MAX:
        raise InvalidInput(
            f"Keep the guidelines under {GUIDELINES_MAX:,} characters.", field="guidelines"
        )
    old = get_setting("guidelines")
    if text == old:
        return False
    set_setting("guidelines", text, actor=actor)
    # The text itself is public on /guidelines; the log notes the change, not every word.
    audit.record(
        "settings.changed",
        actor=actor,
        ip=ip,
        changed=["guidelines"],
        guidelines={"old_length": len(old), "new_length": len(text)},
    )
    return True


_LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d+[.)])\s+(.*)$")
_BOLD_LEAD = re.compile(r"^\*\*(.+?)\*\*")
_MARKUP = re.compile(r"[*_`#>\[\]]|\]\([^)]*\)")


def _plain(text: str) -> str:
    return " ".join(_MARKUP.sub("", text).split())


def guidelines_summary(*, items: int = 6, length: int = 300) -> list[str]:
    """The guidelines in a few phrases, from what admins wrote: the first list's points (their
    bold lead-ins where they have them), or else the first paragraph. For the sign-up page."""
    text = get_setting("guidelines")
    points: list[str] = []
    paragraph: list[str] = []
    paragraph_done = False
    for line in text.splitlines():
        item = _LIST_ITEM.match(line)
        if item:
            bold = _BOLD_LEAD.match(item.group(1))
            points.append(_plain(bold.group(1) if bold else item.group(1)))
        elif points and not line.strip():
            break  # the end of the first list
        elif not line.strip():
            paragraph_done = paragraph_done or bool(paragraph)
        elif not points and not paragraph_done and not line.lstrip().startswith("#"):
            paragraph.append(line)
    points = [p for p in points if p][:items]
    if points:
        return points
    first = _plain(" ".join(paragraph))
    if len(first) > length:
        first = first[:length].rsplit(" ", 1)[0] + "…"
    return [first] if first else []
