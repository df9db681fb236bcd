"""Reading the audit log: admins browse, filter and export it; nobody changes it."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, select

from portal.extensions import db
from portal.models import AuditEvent, Idea, Role, User
from portal.permissions import can_manage_users, can_read_audit_log, require

# --- How each action reads ------------------------------------------------------------------
#
# One line per action: a sentence with {actor} (who did it), {target} (what it was done to,
# with its noun: "the idea “Export to Excel”", "stage “Planned”", "Kofi") and any detail key
# ({reason}, {old} ...), each already said in words. A function of the Said stands in for a
# sentence that needs more than that. An action missing here still reads as a sentence
# (see _fallback), and a test lists every action the code records, so a new one is noticed.


class Said(dict[str, str]):
    """An event's parts in words, for str.format_map; a missing detail reads as "—"."""

    def __init__(self, event: AuditEvent, names: Names) -> None:
        # Detail first: a detail called "actor" or "target" never hides who acted on what.
        super().__init__(
            {key: _say(value, key=key, names=names) for key, value in _detail(event).items()}
        )
        self.update(actor=_actor(event), target=_target(event))
        self.event = event
        self.raw = _detail(event)

    def __missing__(self, key: str) -> str:
        return "—"


Sentence = str | Callable[[Said], str]


def _role(value: Any) -> str:
    try:
        return Role(str(value)).label.lower()
    except ValueError:
        return str(value)


def _person(s: Said, key: str) -> str:
    return "nobody" if s.raw.get(key) is None else s[key]


def _count(n: Any, noun: str) -> str:
    n = n if isinstance(n, int) else 0
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _hidden_everything(verb: str) -> Callable[[Said], str]:
    def say(s: Said) -> str:
        counts = [_count(s.raw.get(k), k[:-1]) for k in ("ideas", "comments", "votes")]
        return f"{s['actor']} {verb} everything {s['target']} posted: " + _and(counts) + "."

    return say


def _settings_changed(s: Said) -> str:
    parts = []
    for key in s.raw.get("changed") or []:
        change = s.raw.get(key) or {}
        if key == "guidelines":
            parts.append(
                "rewrote the community guidelines ("
                f"{_say(change.get('old_length'))} → {_say(change.get('new_length'))} characters)"
            )
        elif key == "pre_moderation":
            on_off = {"on": "on", "": "off"}
            parts.append(
                "turned pre-moderation "
                + on_off.get(str(change.get("new", "")), str(change.get("new")))
            )
        else:
            label = SETTING_LABELS.get(key, key.replace("_", " "))
            parts.append(
                f"changed the {label}: {_quoted(change.get('old'))} → {_quoted(change.get('new'))}"
            )
    return f"{s['actor']} " + (_and(parts) if parts else "changed the settings") + "."


def _stage_created(s: Said) -> str:
    settings = s.raw.get("settings") or {}
    described = [_stage_value(k, settings.get(k)) for k in ("closed", "response_days")]
    described += [
        f"moves to {_say(settings.get('moves_to')) or 'nowhere'}",
        f"moves in from {_say(settings.get('moves_from')) or 'nowhere'}",
    ]
    return f"{s['actor']} added {s['target']}: " + "; ".join(described) + "."


def _stage_changed(s: Said) -> str:
    changes = s.raw.get("changes") or {}
    parts = [
        _stage_change(key, pair[0], pair[1])
        for key, pair in changes.items()
        if isinstance(pair, list) and len(pair) == 2
    ]
    return f"{s['actor']} changed {s['target']}: " + ("; ".join(parts) or "no changes") + "."


BOARD_FIELDS = {
    "name": "name",
    "slug": "address",
    "description": "description",
    "audience": "who may see it",
    "organisations": "organisations",
    "domains": "email domains",
    "categories": "categories",
    "stages": "pipeline",
    "posting_open": "posting",
    "voting_open": "voting",
}
BOARD_AUDIENCES = {"public": "everyone", "signed_in": "signed-in people", "private": "private"}


def _board_value(key: str, value: Any) -> str:
    if key == "audience":
        return BOARD_AUDIENCES.get(str(value), str(value))
    if key in ("posting_open", "voting_open"):
        return "open" if value else "closed"
    if key == "description":
        return _quoted(_shortened(str(value or "")))
    if isinstance(value, list):
        empty = {"categories": "every category", "stages": "the shared pipeline"}
        return _say(value) or empty.get(key, "none")
    return _quoted(value) if isinstance(value, str) else _say(value)


def _board_change(key: str, old: Any, new: Any) -> str:
    label = BOARD_FIELDS.get(key, key.replace("_", " "))
    if isinstance(old, list) and isinstance(new, list) and old and new:
        added, removed = [n for n in new if n not in old], [n for n in old if n not in new]
        said = ([f"now also {', '.join(added)}"] if added else []) + (
            [f"no longer {', '.join(removed)}"] if removed else []
        )
        return f"{label}: {', '.join(said)}"
    return f"{label} {_board_value(key, old)} → {_board_value(key, new)}"


def _board_changed(what: str) -> Callable[[Said], str]:
    def sentence(s: Said) -> str:
        changes = s.raw.get("changes") or {}
        parts = [
            _board_change(key, pair[0], pair[1])
            for key, pair in changes.items()
            if isinstance(pair, list) and len(pair) == 2
        ]
        return (
            f"{s['actor']} changed {what.format_map(s)}: " + ("; ".join(parts) or "nothing") + "."
        )

    return sentence


def _board_created(s: Said) -> str:
    settings = s.raw.get("settings") or {}
    described = [
        f"seen by {_board_value('audience', settings.get('audience'))}",
        f"posting {_board_value('posting_open', settings.get('posting_open'))}",
        f"voting {_board_value('voting_open', settings.get('voting_open'))}",
    ]
    return f"{s['actor']} added {s['target']}: " + ", ".join(described) + "."


def _board_reordered(s: Said) -> str:
    where = " to the top, making it the default board" if s.raw.get("first") else ""
    where = where or f" {s['direction']}, to place {s['position']}"
    return f"{s['actor']} moved {s['target']}{where}."


SETTING_LABELS = {
    "site_name": "site name",
    "private_portal": "private-portal setting (“on” is private)",
    "sign_up": "rule for who may create an account",
    "sign_up_domains": "email domains that may sign up",
    "webhook_local_hosts": "hosts webhooks may call on the local network",
}

STAGE_FIELDS = {
    "name": "name",
    "description": "description",
    "closed": "open or closed",
    "voting": "voting",
    "response_days": "response time",
    "position": "position",
    "colour": "colour",
    "moves_to": "moves to",
    "moves_from": "moves in from",
}


def _stage_value(key: str, value: Any) -> str:
    if key == "closed":
        return "closed" if value else "open"
    if key == "voting":
        return "on" if value else "off"
    if key == "response_days":
        return f"answer within {_count(value, 'day')}" if value else "no answer promised"
    if key == "description":
        return _quoted(_shortened(str(value or "")))
    if key == "colour":
        return str(value) if value else "plain grey"
    return _quoted(value) if isinstance(value, str) else _say(value)


def _stage_change(key: str, old: Any, new: Any) -> str:
    label = STAGE_FIELDS.get(key, key.replace("_", " "))
    if key in ("moves_to", "moves_from") and isinstance(old, list) and isinstance(new, list):
        added = [n for n in new if n not in old]
        removed = [n for n in old if n not in new]
        said = ([f"now also {', '.join(added)}"] if added else []) + (
            [f"no longer {', '.join(removed)}"] if removed else []
        )
        return f"{label}: {', '.join(said)}"
    if key == "response_days":
        old_days, new_days = (f"{v} days" if v else "none" for v in (old, new))
        return f"response time {old_days} → {new_days}"
    return f"{label} {_stage_value(key, old)} → {_stage_value(key, new)}"


def _before_after(pair: Any) -> tuple[Any, Any] | None:
    """A detail kept as {"old": …, "new": …} (or "before"/"after"), as a pair."""
    if isinstance(pair, dict):
        for old, new in (("old", "new"), ("before", "after")):
            if old in pair or new in pair:
                return pair.get(old), pair.get(new)
    return None


def _field_changes(changes: dict[str, Any], labels: dict[str, str] | None = None) -> str:
    """Each changed field as "label old → new", in the order kept."""
    parts = []
    for key, pair in changes.items():
        values = _before_after(pair)
        if values is None:
            continue
        label = (labels or {}).get(key, key.replace("_", " "))
        old, new = (_quoted(v) if isinstance(v, str) and v else _say(v) for v in values)
        parts.append(f"{label} {old} → {new}")
    return "; ".join(parts) or "no changes"


def _changed_by(
    verb: str, what: str, labels: dict[str, str] | None = None
) -> Callable[[Said], str]:
    """A sentence for an event whose detail keeps each changed field's old and new value."""

    def sentence(s: Said) -> str:
        changes = s.raw.get("changes")
        if not isinstance(changes, dict):
            changes = {k: v for k, v in s.raw.items() if _before_after(v) is not None}
        return f"{s['actor']} {verb} {what.format_map(s)}: {_field_changes(changes, labels)}."

    return sentence


ORGANISATION_FIELDS = {
    "plan": "plan",
    "segment": "segment",
    "annual_value": "yearly value",
    "value_basis": "given as",
    "renewal_on": "renewal",
}


def _imported(s: Said) -> str:
    created, updated = s.raw.get("created") or 0, s.raw.get("updated") or 0
    text = (
        f"{s['actor']} imported organisations from a CSV file: "
        f"{_count(updated, 'organisation')} updated, {_count(created, 'organisation')} added"
    )
    skipped = s.raw.get("skipped") or 0
    return text + (f", {_count(skipped, 'row')} left out." if skipped else ".")


def _titles(value: Any) -> str:
    titles = [str(v) for v in value] if isinstance(value, list) else []
    return _and([_quoted(t) for t in titles]) if titles else "no ideas"


def _published(s: Said) -> str:
    text = f"{s['actor']} published {s['target']}, shipping {_titles(s.raw.get('shipped'))}"
    if s.raw.get("already_shipped"):
        text += f" ({_titles(s.raw.get('already_shipped'))} had shipped already)"
    return text + "."


def _saved_filter_created(s: Said) -> str:
    shared = ", shared with the team" if s.raw.get("shared") else ""
    return f"{s['actor']} saved the triage filter {s['target']}{shared}."


def _api_key(verb: str) -> Callable[[Said], str]:
    """An API key made or revoked: whose, which (by name and the prefix its lists show), and
    for a new key what it may do and until when."""

    def sentence(s: Said) -> str:
        event = s.event
        who = "An operator, from the command line," if s.raw.get("command_line") else s["actor"]
        own = event.actor_id is not None and event.actor_id == event.target_id
        whose = "their" if own else f"{s['target']}'s"
        kept = s.raw.get("key")
        key: dict[str, Any] = kept if isinstance(kept, dict) else {}
        text = f"{who} {verb} {whose} API key {_quoted(key.get('name'))} ({s['prefix']}…)"
        if "scopes" in s.raw:
            text += f" for {_and([str(v) for v in s.raw.get('scopes') or []] or ['nothing'])}"
            expires = s.raw.get("expires_at")
            text += f", expiring {str(expires)[:16].replace('T', ' ')} UTC" if expires else ""
        return text + "."

    return sentence


def _webhook_audience(audience: Any) -> str:
    """Said when an admin lets a webhook receive what only the team sees."""
    if audience == "team":
        return ", and let it receive everything the team sees (private boards included)"
    if audience == "public":
        return ", and limited it to what visitors see"
    return ""


SENTENCES: dict[str, Sentence] = {
    # Accounts and signing in
    "account.created": "{actor} created an account.",
    "account.email_verified": "{actor} confirmed their email address.",
    "account.password_changed": "{actor} changed their password.",
    "account.password_reset_requested": "{actor} asked for a link to reset their password.",
    "account.password_reset": "{actor} chose a new password with a reset link.",
    "sign_in.succeeded": "{actor} signed in.",
    "sign_in.failed": "Someone failed to sign in as {email}.",
    "sign_in.refused_suspended": "{actor} tried to sign in while suspended, and was refused.",
    "sso.sign_in_failed": "A single sign-on through {provider} failed, and nobody was signed in.",
    "sso.identity_linked": "{actor} connected their account to {provider}.",
    "sso.identity_unlinked": "{actor} disconnected their account from {provider}.",
    "sso.provider_added": "{actor} added the single sign-on provider {target}.",
    "sso.provider_changed": "{actor} changed the single sign-on provider {target}.",
    "sso.provider_deleted": "{actor} deleted the single sign-on provider {target}.",
    "identify.settings_changed": "{actor} changed the identify settings.",
    "identify.secret_rotated": "{actor} made a new identify shared secret.",
    "identify.refused_team": "A sign-in from another product as {target} was refused: "
    "team accounts cannot sign in that way.",
    "identify.organisation_created": "A sign-in from another product created the "
    "organisation {target}.",
    "identify.organisation_updated": "A sign-in from another product updated the "
    "organisation {target}.",
    "sign_out": "{actor} signed out.",
    "two_factor.enabled": "{actor} turned on two-factor sign-in.",
    "two_factor.disabled": "{actor} turned off two-factor sign-in.",
    "two_factor.recovery_codes_regenerated": "{actor} made a new set of recovery codes.",
    "two_factor.recovery_code_used": "{actor} signed in with a recovery code ({left} left).",
    "two_factor.code_failed": "{actor} typed a wrong two-factor code.",
    "two_factor.device_remembered_used": (
        "{actor} signed in on a remembered device, without a code."
    ),
    "two_factor.reset": "{actor} reset {target}'s two-factor sign-in and signed them out.",
    # People
    "user.role_changed": lambda s: (
        f"{s['actor']} changed {s['target']}'s role from {_role(s.raw.get('old'))} "
        f"to {_role(s.raw.get('new'))}."
    ),
    "user.role_kept": lambda s: (
        f"{s['target']} stayed an admin although single sign-on ({s['provider']}) mapped them "
        f"to {_role(s.raw.get('wanted'))}: they are the only admin."
    ),
    "user.suspended": "{actor} suspended {target}: {reason}.",
    "user.unsuspended": "{actor} lifted {target}'s suspension.",
    "user.content_hidden": _hidden_everything("hid"),
    "user.content_restored": _hidden_everything("restored"),
    "user.organisation_changed": lambda s: (
        f"{s['actor']} took {s['target']} out of {s['old']}."
        if s.raw.get("new") is None
        else f"{s['actor']} put {s['target']} in {s['new']}."
        if s.raw.get("old") is None
        else f"{s['actor']} moved {s['target']} from {s['old']} to {s['new']}."
    ),
    "user.erased": lambda s: (
        f"Account #{s.event.target_id} was erased"
        + (
            " by its owner"
            if s.event.actor_id is None
            else f" by {s['actor']}, at the person's request"
        )
        + (", with their ideas and comments removed." if s.raw.get("posts_removed") else ".")
    ),
    "account.data_export_requested": "{actor} asked for a copy of their data.",
    "session.ended": "{actor} ended one of {target}'s signed-in sessions.",
    "session.ended_all": "{actor} ended all of {target}'s signed-in sessions.",
    "session.ended_others": "{actor} ended all their other signed-in sessions.",
    # Organisations
    "organisation.created": "{actor} added the organisation {name}.",
    "organisation.renamed": "{actor} renamed the organisation {old} to {new}.",
    "organisation.domain_added": "{actor} added the domain {domain} to {target}.",
    "organisation.domain_removed": "{actor} removed the domain {domain} from {target}.",
    # Ideas and comments
    "idea.stage_changed": "{actor} moved {target} from {old} to {new}.",
    "idea.merged": lambda s: (
        f"{s['actor']} merged {s['target']} into {s['into']}"
        + (
            f" ({_count(s.raw.get('votes_moved'), 'vote')} moved)."
            if "votes_moved" in s.raw
            else "."
        )
    ),
    "idea.owner_changed": lambda s: (
        f"{s['actor']} changed the owner of {s['target']}: "
        f"{_person(s, 'previous')} → {_person(s, 'owner')}."
        if "previous" in s.raw  # older events kept only the new owner
        else f"{s['actor']} made {_person(s, 'owner')} the owner of {s['target']}."
    ),
    "idea.unmerged": lambda s: (
        f"{s['actor']} unmerged {s['target']} from {s['out_of']}"
        + (
            f" ({_count(s.raw.get('votes_returned'), 'vote')} back)."
            if "votes_returned" in s.raw
            else "."
        )
    ),
    "idea.board_moved": lambda s: (
        f"{s['actor']} moved {s['target']} from the {s['old']} board to the {s['new']} board"
        + (f", into {s['stage']}" if "stage" in s.raw else "")
        + (
            f"; its category {s['category_cleared']} was cleared"
            if "category_cleared" in s.raw
            else ""
        )
        + "."
    ),
    "idea.approved": "{actor} approved {target}.",
    "idea.hidden": "{actor} hid {target}: {reason}.",
    "idea.restored": "{actor} restored {target}.",
    "idea.moderator_edit": "{actor} edited {target}: {reason}.",
    "comment.hidden": "{actor} hid {target}: {reason}.",
    "comment.restored": "{actor} restored {target}.",
    "comment.moderator_edit": "{actor} edited {target}: {reason}. It read: {previous}.",
    "report.dismissed": lambda s: (
        f"{s['actor']} dismissed {_count(s.raw.get('reports'), 'report')} about {s['target']}."
    ),
    # The pipeline and the catalogue
    "stage.created": _stage_created,
    "stage.changed": _stage_changed,
    "stage.retired": "{actor} retired {target}.",
    "stage.reinstated": "{actor} brought {target} back into the pipeline.",
    "category.created": "{actor} added {target}.",
    "category.changed": lambda s: (
        f"{s['actor']} renamed {s['target']}: {s['old']} → {s['name']}."
        if "old" in s.raw
        else f"{s['actor']} changed {s['target']}'s description or place in the list."
    ),
    "category.retired": "{actor} retired {target}.",
    "category.reinstated": "{actor} brought back {target}.",
    # Boards and who may see them
    "board.created": _board_created,
    "board.updated": _board_changed("{target}"),
    "board.audience_changed": _board_changed("who may see {target}"),
    "board.reordered": _board_reordered,
    "board.deleted": "{actor} deleted {target}.",
    # Site settings
    "settings.changed": _settings_changed,
    # Invitations and the members of private boards
    "invite.sent": "{actor} invited {email} to {place}.",
    "invite.revoked": "{actor} withdrew the invitation of {email} to {place}.",
    "invite.accepted": "{actor} accepted the invitation sent to {email} and joined {place}.",
    "board.member_removed": "{actor} took {target} off the private board {board}.",
    # The team's tools: moderation reviews, estimates, priorities, roadmap and releases
    "idea.hide_confirmed": "{actor} confirmed that {target} stays hidden, as {hidden_by} hid it: "
    "{reason}.",
    "comment.hide_confirmed": "{actor} confirmed that {target} stays hidden, as {hidden_by} hid "
    "it: {reason}.",
    "idea.estimates_changed": _changed_by("changed the estimates of", "{target}"),
    "idea.timeframe_set": "{actor} changed the timeframe of {target}: {old} → {new}.",
    "priority.formula_changed": "{actor} changed the priority formula from {old} to {new}.",
    "organisation.details_changed": _changed_by(
        "changed", "{target}'s details", ORGANISATION_FIELDS
    ),
    "organisation.import": _imported,
    "ideas.imported": lambda s: (
        "An operator imported "
        + ", ".join(_count(s.raw.get(k), k[:-1]) for k in ("ideas", "votes", "comments"))
        + f" and {_count(s.raw.get('people'), 'new account')} from "
        + {"canny": "a Canny export", "uservoice": "a UserVoice export"}.get(
            str(s.raw.get("source")), "the portal's own CSV files"
        )
        + " (flask import)."
    ),
    "release.drafted": lambda s: (
        f"{s['actor']} drafted {s['target']} with {_titles(s.raw.get('ideas'))}."
    ),
    "release.edited": lambda s: f"{s['actor']} edited {s['target']}: {s['changed']}.",
    "release.published": _published,
    "release.draft_deleted": "{actor} deleted the draft {target}.",
    "saved_filter.created": _saved_filter_created,
    "saved_filter.updated": _changed_by("changed the saved filter", "{target}"),
    "saved_filter.deleted": "{actor} deleted the saved filter {target}.",
    "vote.added_for_customer": lambda s: (
        f"{s['actor']} added {s['customer']}'s vote for {s['target']}, from {_lower(s['source'])}"
        + (f": {_quoted(s.raw['quote'])}." if s.raw.get("quote") else ".")
    ),
    "vote.added_for_organisation": lambda s: (
        f"{s['actor']} added a vote from {s['organisation']} for {s['target']}, from "
        f"{_lower(s['source'])}" + (f": {_quoted(s.raw['quote'])}." if s.raw.get("quote") else ".")
    ),
    "vote.removed_by_team": "{actor} removed the vote the team added for {voter} on {target}.",
    # API keys
    "api_key.created": _api_key("created"),
    "api_key.revoked": _api_key("revoked"),
    # Webhooks
    "webhook.created": lambda s: (
        f"{s['actor']} added {s['target']}, sending {s['events']} to {s['url']}"
        + (_webhook_audience("team") if s.raw.get("audience") == "team" else "")
        + "."
    ),
    "webhook.updated": lambda s: (
        f"{s['actor']} changed {s['target']}: {s['changed']}"
        + _webhook_audience((s.raw.get("audience") or {}).get("new"))
        + "."
    ),
    "webhook.deleted": "{actor} deleted {target} ({url}).",
    "webhook.enabled": "{actor} enabled {target} again.",
    "webhook.disabled": "The portal disabled {target}: {reason}",
    "webhook.secret_rotated": "{actor} rotated the signing secret of {target}.",
    "webhook.secret_revealed": "{actor} looked at the signing secret of {target}.",
    "webhook.test_sent": "{actor} sent a test event to {target}.",
    "webhook.resent": "{actor} sent delivery #{delivery} ({event}) to {target} again.",
}


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


# What a target is called in a sentence, before its name; people and organisations go by name.
TARGET_NOUNS = {
    "ideas": "the idea ",
    "stages": "stage ",
    "categories": "category ",
    "releases": "the release ",
    "saved_filters": "",
    "boards": "the board ",
    "webhook_endpoints": "the webhook ",
}
QUOTED_TARGETS = {
    "ideas",
    "stages",
    "categories",
    "releases",
    "saved_filters",
    "boards",
    "webhook_endpoints",
}


def describe(event: AuditEvent, names: Names | None = None) -> str:
    """The event as one sentence about named things."""
    said = Said(event, names if names is not None else names_for([event]))
    sentence = SENTENCES.get(event.action)
    if sentence is None:
        return _fallback(said)
    text = sentence(said) if callable(sentence) else sentence.format_map(said)
    if said.raw.get("via"):  # done through the API rather than the site's pages
        text = f"{text.removesuffix('.')}, through {said['via']}."
    return text[0].upper() + text[1:] if text else text


def _fallback(s: Said) -> str:
    """An action nobody wrote a sentence for yet still reads as one, details included."""
    what = s.event.action.replace(".", " ").replace("_", " ")
    text = f"{s['actor']}: {what}"
    if s.event.target_type:
        text += f", {s['target']}"
    details = [f"{key.replace('_', ' ')} {s[key]}" for key in sorted(s.raw)]
    return text + (" (" + "; ".join(details) + ")" if details else "") + "."


def action_label(action: str) -> str:
    """An action as the filter menu offers it: "Stage changed" for stage.changed."""
    text = action.replace(".", " ").replace("_", " ")
    return text[:1].upper() + text[1:]


def _detail(event: AuditEvent) -> dict[str, Any]:
    return event.detail if isinstance(event.detail, dict) else {}


def _actor(event: AuditEvent) -> str:
    if event.actor_name:
        return event.actor_name
    if event.actor is not None:
        return event.actor.display_name
    return "Someone" if event.actor_id is None else "A deleted account"


def _target(event: AuditEvent) -> str:
    kind = event.target_type
    if kind is None:
        return "—"
    name = event.target_name
    if name is None:
        return f"a deleted {_singular(kind)}"
    if kind in QUOTED_TARGETS:
        return f"{TARGET_NOUNS.get(kind, '')}{_quoted(name)}"
    return name


def _singular(kind: str) -> str:
    return {"categories": "category", "users": "account"}.get(kind, kind.rstrip("s"))


def _quoted(value: Any) -> str:
    return "none" if value is None or value == "" else f"“{value}”"


def _shortened(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


@dataclass
class Names:
    """Names looked up for ids that older events kept instead of names."""

    ideas: dict[int, str] = field(default_factory=dict)
    users: dict[int, str] = field(default_factory=dict)


# Detail keys that older events filled with a bare id, and what the id is of.
ID_KEYS = {"into": "ideas", "out_of": "ideas", "owner": "users"}


def _say(value: Any, *, key: str = "", names: Names | None = None) -> str:
    """A detail value in words: records by name, lists joined, numbers with separators."""
    if isinstance(value, dict) and "name" in value:
        name = value.get("name")
        return _quoted(name) if key in ("into", "out_of") else str(name)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and key in ID_KEYS and names is not None:
        found = getattr(names, ID_KEYS[key]).get(value)
        if found is None:
            return "a deleted idea" if ID_KEYS[key] == "ideas" else "a deleted account"
        return _quoted(found) if key in ("into", "out_of") else found
    if isinstance(value, int):
        return f"{value:,}"
    if value is None:
        return "none"
    if isinstance(value, list):
        return ", ".join(_say(v, names=names) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')} {_say(v, names=names)}" for k, v in value.items())
    if key in ("reason", "previous", "email", "domain", "old", "new", "name"):
        return _quoted(value) if key in ("reason", "previous") else str(value)
    return str(value)


def names_for(events: list[AuditEvent]) -> Names:
    """One query per kind of record, whatever the number of events: the ids older events kept."""
    wanted: dict[str, set[int]] = {"ideas": set(), "users": set()}
    for event in events:
        for key, kind in ID_KEYS.items():
            value = _detail(event).get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                wanted[kind].add(value)
    names = Names()
    if wanted["ideas"]:
        rows = db.session.execute(select(Idea.id, Idea.title).where(Idea.id.in_(wanted["ideas"])))
        names.ideas = {idea_id: title for idea_id, title in rows}
    if wanted["users"]:
        rows = db.session.execute(
            select(User.id, User.display_name).where(User.id.in_(wanted["users"]))
        )
        names.users = {user_id: name for user_id, name in rows}
    return names


@dataclass
class Entry:
    """An event and how it reads, for the audit pages."""

    event: AuditEvent
    sentence: str


def entries(events: list[AuditEvent]) -> list[Entry]:
    names = names_for(events)
    return [Entry(event, describe(event, names)) for event in events]


@dataclass
class AuditFilters:
    action: str | None = None
    actor: str = ""  # part of an email address or display name
    since: date | None = None
    until: date | None = None  # inclusive


def actions() -> list[str]:
    return list(
        db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action))
    )


def _query(filters: AuditFilters) -> Select[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if filters.action:
        stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.actor.strip():
        text = filters.actor.strip().lower()
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            AuditEvent.actor_id.in_(
                select(User.id).where(
                    User.email.like(pattern, escape="\\")
                    | User.display_name.ilike(pattern, escape="\\")
                )
            )
        )
    if filters.since:
        stmt = stmt.where(AuditEvent.created_at >= _start_of(filters.since))
    if filters.until and filters.until < date.max:  # no day follows 9999-12-31: no bound
        stmt = stmt.where(AuditEvent.created_at < _start_of(filters.until + timedelta(days=1)))
    return stmt


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def page(
    filters: AuditFilters, *, viewer: User, page_number: int, per_page: int = 50
) -> Pagination:
    """A page of the log; its items are Entries, each event with its sentence."""
    require(can_read_audit_log(viewer))
    result = db.paginate(_query(filters), page=page_number, per_page=per_page, error_out=False)
    result.items = entries(list(result.items))
    return result


def newest(
    filters: AuditFilters, *, viewer: User, before_id: int | None, limit: int
) -> list[Entry]:
    """Events newest first (by id, the order they were written), older than `before_id`: a
    page that stays put while new events are written, for the API."""
    require(can_read_audit_log(viewer))
    stmt = _query(filters).order_by(None).order_by(AuditEvent.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    return entries(list(db.session.scalars(stmt).unique()))


def user_history(user: User, *, viewer: User, limit: int = 20) -> list[Entry]:
    """The latest events that concern one person, newest first, for their admin page."""
    require(can_manage_users(viewer))
    return entries(
        list(
            db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.target_type == "users", AuditEvent.target_id == user.id)
                .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
                .limit(limit)
            )
        )
    )


EXPORT_LIMIT = 100_000


def export_csv(filters: AuditFilters, *, viewer: User) -> str:
    require(can_read_audit_log(viewer))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["time (UTC)", "what happened", "action", "who", "email", "ip", "target"])
    events = list(db.session.scalars(_query(filters).limit(EXPORT_LIMIT)).unique())
    for entry in entries(events):
        event = entry.event
        row = [
            event.created_at.isoformat(),
            entry.sentence,
            event.action,
            _actor(event) if event.actor_id is not None or event.actor_name else "",
            event.actor.email if event.actor else "",
            event.ip or "",
            _target(event) if event.target_type else "",
        ]
        writer.writerow(
            ["'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for v in row]
        )
    return out.getvalue()
