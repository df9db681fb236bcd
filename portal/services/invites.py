"""Invitations: emailed, single-use, expiring links into a private board or a private portal,
the members they make, and who may create an account when the portal is private.

Only a token's SHA-256 is stored; the token itself is only ever in the email. Who sees a
board is decided in portal.visibility: a BoardMember row is what an accepted invitation adds.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from portal import visibility
from portal.database import rows_affected
from portal.extensions import db
from portal.mail.compose import external_url
from portal.mail.outbox import queue_email
from portal.models import Board, BoardMember, Invite, Organisation, SiteSetting, User
from portal.models.types import utcnow
from portal.permissions import can_configure_site, require
from portal.services import audit
from portal.services.accounts import normalise_email
from portal.services.errors import InvalidInput, InvalidToken
from portal.services.settings import DEFAULTS, get_setting, save_changed

INVITE_DAYS = 14
INVITE_TEMPLATE = "invite"
# One form's worth: enough for a customer's whole team, few enough that a slip sends no flood.
MAX_ADDRESSES = 100


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_addresses(text: str) -> list[str]:
    """The addresses in what an admin typed (one a line; commas and spaces work too), each
    validated and lower-cased, each once, in the order typed. InvalidInput names the bad ones."""
    found: list[str] = []
    bad: list[str] = []
    for raw in re.split(r"[\s,;]+", text or ""):
        raw = raw.strip().strip("<>")
        if not raw:
            continue
        try:
            email = normalise_email(raw)
        except InvalidInput:
            bad.append(raw)
            continue
        if email not in found:
            found.append(email)
    if bad:
        listed = ", ".join(f"“{b[:80]}”" for b in bad[:5]) + (" and others" if len(bad) > 5 else "")
        raise InvalidInput(
            f"These are not email addresses: {listed}. Correct them and send again; "
            "nobody was invited yet.",
            field="emails",
        )
    if not found:
        raise InvalidInput("Enter at least one email address, one a line.", field="emails")
    if len(found) > MAX_ADDRESSES:
        raise InvalidInput(
            f"Invite at most {MAX_ADDRESSES} people at once; you entered {len(found)}.",
            field="emails",
        )
    return found


def _pending(board_id: int | None, email: str) -> Invite | None:
    """The invitation to this place for this address that still waits to be used, if any."""
    board_clause = Invite.board_id.is_(None) if board_id is None else Invite.board_id == board_id
    return db.session.scalar(
        select(Invite)
        .where(
            board_clause,
            Invite.email == email,
            Invite.used_at.is_(None),
            Invite.revoked_at.is_(None),
        )
        .order_by(Invite.id.desc())
        .limit(1)
    )


def send_invites(board: Board | None, text: str, *, actor: User, ip: str | None) -> list[Invite]:
    """Invite each address in `text` to a private board (or, with no board, to the portal).

    Each address gets one invitation and one email; inviting an address again replaces its
    pending invitation's link (the old link stops working) and gives it 14 days afresh.
    """
    require(can_configure_site(actor))
    if board is not None and not board.is_private:
        raise InvalidInput(
            f"“{board.name}” is not private: everyone it is open to sees it already. "
            "Make it private first if only invited people should.",
            field="emails",
        )
    invites: list[Invite] = []
    now = utcnow()
    for email in parse_addresses(text):
        token = secrets.token_urlsafe(32)
        invite = _pending(board.id if board else None, email)
        if invite is None:
            invite = Invite(board_id=board.id if board else None, email=email)
            db.session.add(invite)
        invite.token_hash = token_hash(token)
        invite.created_by_id = actor.id
        invite.created_at = now
        invite.expires_at = now + timedelta(days=INVITE_DAYS)
        db.session.flush()
        _queue_invite_email(invite, board, token, actor)
        audit.record(
            "invite.sent",
            actor=actor,
            ip=ip,
            target=board,
            email=email,
            place=board.name if board else "the portal",
        )
        invites.append(invite)
    return invites


def _queue_invite_email(invite: Invite, board: Board | None, token: str, actor: User) -> None:
    place = f"“{board.name}”" if board else None
    queue_email(
        invite.email,
        f"{actor.display_name} invited you to {place}"
        if place
        else f"{actor.display_name} invited you to join",
        INVITE_TEMPLATE,
        inviter=actor.display_name,
        board=board,
        invite_url=external_url("auth.invite", token=token),
        days=INVITE_DAYS,
        expires_at=invite.expires_at,
    )


def revoke_invite(invite: Invite, *, actor: User, ip: str | None) -> bool:
    """Withdraw an invitation not yet used; its link stops working. False if it was used or
    withdrawn already."""
    require(can_configure_site(actor))
    done = rows_affected(
        update(Invite)
        .where(Invite.id == invite.id, Invite.used_at.is_(None), Invite.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(invite)
    if done:
        audit.record(
            "invite.revoked",
            actor=actor,
            ip=ip,
            target=invite.board,
            email=invite.email,
            place=invite.board.name if invite.board else "the portal",
        )
    return bool(done)


# --- Opening a link ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadInvite:
    """Why a link no longer works, in words, and who to ask for a new one."""

    title: str
    message: str


UNKNOWN_LINK = (
    "This invitation link is not one we know. Check that the whole link was copied from the "
    "email; if it was, ask the person who invited you for a new one."
)


def invite_for_token(token: str) -> Invite:
    invite = db.session.scalar(select(Invite).where(Invite.token_hash == token_hash(token)))
    if invite is None:
        raise InvalidToken(UNKNOWN_LINK)
    return invite


def inviter_name(invite: Invite) -> str:
    inviter = db.session.get(User, invite.created_by_id) if invite.created_by_id else None
    return inviter.display_name if inviter is not None else "the team"


def why_dead(invite: Invite, *, now: datetime | None = None) -> DeadInvite | None:
    """None while the link works; otherwise what happened to it."""
    now = now or utcnow()
    ask = f"If you still need to get in, ask {inviter_name(invite)} for a new invitation."
    if invite.revoked_at is not None:
        return DeadInvite(
            "This invitation was withdrawn",
            f"{inviter_name(invite)} withdrew this invitation on "
            f"{invite.revoked_at:%-d %B %Y}, so the link no longer works. {ask}",
        )
    if invite.used_at is not None:
        return DeadInvite(
            "This invitation has been used",
            f"This link was used on {invite.used_at:%-d %B %Y}, and each invitation works "
            f"once. If that was you, sign in with the account you used. {ask}",
        )
    if invite.expires_at <= now:
        return DeadInvite(
            "This invitation has expired",
            f"Invitations work for {INVITE_DAYS} days, and this one ran out on "
            f"{invite.expires_at:%-d %B %Y}. {ask}",
        )
    return None


def usable_invite(token: str) -> Invite | None:
    """The invitation for this token if it can still be used; None otherwise."""
    try:
        invite = invite_for_token(token)
    except InvalidToken:
        return None
    return None if why_dead(invite) else invite


def accept_invite(token: str, *, user: User, ip: str | None) -> Invite:
    """Use a link, once: a board invitation makes the person a member; a portal invitation
    only lets them in. Of two requests racing with one link, one wins."""
    invite = invite_for_token(token)
    dead = why_dead(invite)
    if dead is not None:
        raise InvalidToken(dead.message)
    now = utcnow()
    used = rows_affected(
        update(Invite)
        .where(
            Invite.id == invite.id,
            Invite.used_at.is_(None),
            Invite.revoked_at.is_(None),
            Invite.expires_at > now,
        )
        .values(used_at=now, used_by_id=user.id)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(invite)
    if used != 1:
        dead = why_dead(invite)
        raise InvalidToken(dead.message if dead else UNKNOWN_LINK)
    if invite.board_id is not None:
        member = db.session.get(BoardMember, (invite.board_id, user.id))
        if member is None:
            db.session.add(
                BoardMember(board_id=invite.board_id, user_id=user.id, invite_id=invite.id)
            )
            db.session.flush()
        visibility.forget()
    audit.record(
        "invite.accepted",
        actor=user,
        ip=ip,
        target=invite.board,
        email=invite.email,
        place=invite.board.name if invite.board else "the portal",
    )
    return invite


# --- Members ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRow:
    user: User
    organisation: str | None
    joined_at: datetime
    invite_email: str | None


def join_on_sign_up(user: User, token: str | None, *, ip: str | None) -> Invite | None:
    """A newcomer who opened an invitation and created their account with the very address it
    was sent to: that link proved they read its mail, so the address counts as confirmed and
    the invitation is used at once, with no second email to open. None when the account was
    made with another address (they confirm it as anyone does, then open the link again)."""
    invite = usable_invite(token) if token else None
    if invite is None or invite.email != user.email:
        return None
    user.email_verified_at = utcnow()
    audit.record("account.email_verified", actor=user, ip=ip, target=user)
    return accept_invite(token or "", user=user, ip=ip)


def members(board: Board) -> list[MemberRow]:
    """The people who joined a board by invitation, with where they came from; one query."""
    rows = db.session.execute(
        select(User, Organisation.name, BoardMember.added_at, Invite.email)
        .join(BoardMember, BoardMember.user_id == User.id)
        .outerjoin(Organisation, Organisation.id == User.organisation_id)
        .outerjoin(Invite, Invite.id == BoardMember.invite_id)
        .where(BoardMember.board_id == board.id)
        .order_by(User.display_name, User.id)
    )
    return [MemberRow(user, org, added, email) for user, org, added, email in rows]


def pending_invites(board: Board | None) -> list[Invite]:
    """Invitations not yet used or withdrawn, newest first; expired ones too, marked by the page."""
    board_clause = Invite.board_id.is_(None) if board is None else Invite.board_id == board.id
    return list(
        db.session.scalars(
            select(Invite)
            .where(board_clause, Invite.used_at.is_(None), Invite.revoked_at.is_(None))
            .order_by(Invite.created_at.desc(), Invite.id.desc())
        )
    )


def remove_member(board: Board, user: User, *, actor: User, ip: str | None) -> bool:
    """Take someone off a board's members; they stop seeing it at once (unless the board's
    organisations or domains still include them). False if they were not a member."""
    require(can_configure_site(actor))
    done = rows_affected(
        delete(BoardMember)
        .where(BoardMember.board_id == board.id, BoardMember.user_id == user.id)
        .execution_options(synchronize_session=False)
    )
    if done:
        visibility.forget()
        audit.record("board.member_removed", actor=actor, ip=ip, target=user, board=board.name)
    return bool(done)


# --- A private portal -------------------------------------------------------------------------

SIGN_UP_ANYONE, SIGN_UP_INVITED = "anyone", "invited"


@dataclass(frozen=True)
class PortalAccess:
    private: bool
    sign_up: str  # SIGN_UP_ANYONE or SIGN_UP_INVITED
    domains: tuple[str, ...]  # with sign_up invited: addresses here may sign up too

    @property
    def open_sign_up(self) -> bool:
        return self.sign_up == SIGN_UP_ANYONE


_ACCESS_KEYS = ("private_portal", "sign_up", "sign_up_domains")


def portal_access() -> PortalAccess:
    """The portal's access settings, in one query (a visitor's every request asks)."""
    saved: dict[str, str] = {
        key: value
        for key, value in db.session.execute(
            select(SiteSetting.key, SiteSetting.value).where(SiteSetting.key.in_(_ACCESS_KEYS))
        )
    }
    value = {key: saved.get(key, DEFAULTS[key]) for key in _ACCESS_KEYS}
    sign_up = value["sign_up"]
    return PortalAccess(
        private=value["private_portal"] == "on",
        sign_up=sign_up if sign_up in (SIGN_UP_ANYONE, SIGN_UP_INVITED) else SIGN_UP_ANYONE,
        domains=tuple(value["sign_up_domains"].split()),
    )


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def parse_domains(text: str) -> list[str]:
    found: list[str] = []
    bad: list[str] = []
    for raw in re.split(r"[\s,;]+", (text or "").lower()):
        domain = raw.strip().lstrip("@").rstrip(".")
        if not domain:
            continue
        if not _DOMAIN.match(domain):
            bad.append(raw)
        elif domain not in found:
            found.append(domain)
    if bad:
        raise InvalidInput(
            "These are not email domains: "
            + ", ".join(f"“{b[:80]}”" for b in bad[:5])
            + ". Write them like acme.com, without the part before the @.",
            field="sign_up_domains",
        )
    return found


def update_portal_access(
    *, actor: User, ip: str | None, private: bool, sign_up: str, domains_text: str
) -> list[str]:
    """Save who may see the portal and who may create an account; returns the keys changed."""
    require(can_configure_site(actor))
    if sign_up not in (SIGN_UP_ANYONE, SIGN_UP_INVITED):
        raise InvalidInput("Choose who may create an account.", field="sign_up")
    wanted = {
        "private_portal": "on" if private else "",
        "sign_up": sign_up,
        "sign_up_domains": " ".join(parse_domains(domains_text)),
    }
    current = {key: get_setting(key) for key in wanted}
    return save_changed(wanted, current, actor=actor, ip=ip)


def invited_address(email: str) -> bool:
    """Whether a working invitation (to the portal or any board) was sent to this address."""
    return (
        db.session.scalar(
            select(Invite.id)
            .where(
                Invite.email == email,
                Invite.used_at.is_(None),
                Invite.revoked_at.is_(None),
                Invite.expires_at > utcnow(),
            )
            .limit(1)
        )
        is not None
    )


SIGN_UP_REFUSED = (
    "This portal is open by invitation only, and we have no invitation for this address. "
    "If you were invited, use the link in the invitation email, or sign up with the address "
    "it was sent to; otherwise ask your contact on the team to invite you."
)


def check_sign_up_allowed(email: str, *, carried_token: str | None) -> None:
    """InvalidInput unless this address may create an account: sign-up is open, or it holds
    an invitation (by address, or the link opened in this browser), or its domain is allowed."""
    access = portal_access()
    if access.open_sign_up:
        return
    address = normalise_email(email)
    if carried_token and usable_invite(carried_token) is not None:
        return
    if address.rpartition("@")[2] in access.domains or invited_address(address):
        return
    raise InvalidInput(SIGN_UP_REFUSED, field="email")
