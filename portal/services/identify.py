"""Identify: a customer's own product signs a short JWT saying who its user is, and the portal
signs that person in (or makes their customer account). docs/sso.md shows how to sign one.

The key is the admins': an HS256 secret the portal makes (shown once; rotate to replace) or an
RS256 public key they paste. The algorithm is pinned to the one configured, so "none" and
algorithm confusion (an HS256 token "signed" with the public key) are refused. A token lives at
most ten minutes and works once (its jti is kept until it expires). Identify never signs in a
product manager or an admin: a leaked secret must not give the team's powers.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import (
    IdentifyTokenUse,
    Organisation,
    OrganisationDomain,
    Role,
    SiteSetting,
    User,
    Vote,
)
from portal.models.types import utcnow
from portal.permissions import is_admin, require
from portal.services import accounts, audit, organisations, sso, votes
from portal.services.errors import AccountSuspended, DomainError, InvalidInput

MAX_LIFETIME = 600  # seconds
LEEWAY = 30
ALGORITHMS = ("HS256", "RS256")
_ENABLED, _ALG, _SECRET, _PUBLIC_KEY = (
    "identify.enabled",
    "identify.algorithm",
    "identify.secret",
    "identify.public_key",
)


class IdentifyRefused(DomainError):
    def __init__(self, message: str, *, field: str | None = None, team_account: User | None = None):
        super().__init__(message, field=field)
        self.team_account = team_account


@dataclass(frozen=True)
class Settings:
    enabled: bool
    algorithm: str
    has_secret: bool
    public_key: str


def _get(key: str) -> str:
    row = db.session.get(SiteSetting, key)
    return row.value if row is not None else ""


def _put(key: str, value: str, actor: User) -> None:
    row = db.session.get(SiteSetting, key)
    if row is None:
        db.session.add(SiteSetting(key=key, value=value, updated_by_id=actor.id))
    else:
        row.value = value
        row.updated_by_id = actor.id


def settings() -> Settings:
    algorithm = _get(_ALG) or "HS256"
    return Settings(
        enabled=_get(_ENABLED) == "1",
        algorithm=algorithm if algorithm in ALGORITHMS else "HS256",
        has_secret=bool(_get(_SECRET)),
        public_key=_get(_PUBLIC_KEY),
    )


def save_settings(
    *, enabled: bool, algorithm: str, public_key: str, actor: User, ip: str | None
) -> None:
    require(is_admin(actor))
    if algorithm not in ALGORITHMS:
        raise InvalidInput("Choose HS256 or RS256.", field="algorithm")
    public_key = public_key.strip()
    if algorithm == "RS256":
        try:
            RSAKey.import_key(public_key)
        except (JoseError, ValueError, TypeError):
            raise InvalidInput(
                "Paste the RSA public key in PEM form, from “-----BEGIN PUBLIC KEY-----” to "
                "“-----END PUBLIC KEY-----”.",
                field="public_key",
            ) from None
    if enabled and algorithm == "HS256" and not _get(_SECRET):
        raise InvalidInput(
            "Make a shared secret first (the button below), then enable identify.",
            field="enabled",
        )
    _put(_ENABLED, "1" if enabled else "0", actor)
    _put(_ALG, algorithm, actor)
    _put(_PUBLIC_KEY, public_key, actor)
    audit.record(
        "identify.settings_changed",
        actor=actor,
        ip=ip,
        enabled=enabled,
        algorithm=algorithm,
        public_key_set=bool(public_key),
    )


def rotate_secret(*, actor: User, ip: str | None) -> str:
    """A new HS256 secret, returned to be shown once; the old one stops working at once."""
    require(is_admin(actor))
    secret = secrets.token_urlsafe(48)
    _put(_SECRET, secret, actor)
    audit.record("identify.secret_rotated", actor=actor, ip=ip)
    return secret


def _key() -> OctKey | RSAKey:
    current = settings()
    if current.algorithm == "HS256":
        return OctKey.import_key(_get(_SECRET))
    return RSAKey.import_key(current.public_key)


_BAD = "This sign-in link did not work: it is invalid, has expired or was used already."


def peek_token(token: str) -> dict[str, Any]:
    """The claims of a good identify token not used yet, leaving it unused (the page that
    carries it on in a POST: a link checker or prefetch opening the link spends nothing)."""
    claims = _decoded(token)
    used = db.session.get(IdentifyTokenUse, str(claims["jti"])[:255])
    if used is not None:
        raise IdentifyRefused(_BAD, field="replayed")
    return claims


def check_token(token: str) -> dict[str, Any]:
    """The claims of a good identify token, marking its jti used; IdentifyRefused otherwise."""
    claims = _decoded(token)
    jti = str(claims["jti"])[:255]
    db.session.execute(delete(IdentifyTokenUse).where(IdentifyTokenUse.expires_at <= utcnow()))
    try:
        with db.session.begin_nested():
            db.session.add(
                IdentifyTokenUse(
                    jti=jti,
                    expires_at=datetime.fromtimestamp(claims["exp"], UTC)
                    + timedelta(seconds=LEEWAY),
                )
            )
    except IntegrityError:
        raise IdentifyRefused(_BAD, field="replayed") from None
    return claims


def _decoded(token: str) -> dict[str, Any]:
    """The claims of a token signed with the configured key and algorithm, inside its
    lifetime, naming a person; IdentifyRefused otherwise."""
    current = settings()
    if not current.enabled or (current.algorithm == "HS256" and not current.has_secret):
        raise IdentifyRefused("Signing in from another product is not switched on here.")
    try:
        decoded = jwt.decode(token, _key(), algorithms=[current.algorithm])
        jwt.JWTClaimsRegistry(
            leeway=LEEWAY,
            exp={"essential": True},
            sub={"essential": True},
            email={"essential": True},
            jti={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise IdentifyRefused(_BAD, field=type(exc).__name__) from None
    claims = decoded.claims
    now = time.time()
    exp = claims["exp"]
    iat = claims.get("iat")
    if not isinstance(exp, int | float) or exp - now > MAX_LIFETIME + LEEWAY:
        raise IdentifyRefused(_BAD, field="lifetime")
    if isinstance(iat, int | float) and exp - iat > MAX_LIFETIME:
        raise IdentifyRefused(_BAD, field="lifetime")
    return claims


def sign_in(claims: dict[str, Any], *, ip: str | None) -> User:
    """The customer these claims name, made if new; never a team account."""
    subject = str(claims["sub"])
    try:
        email = accounts.normalise_email(str(claims["email"]))
    except InvalidInput as exc:
        raise IdentifyRefused(exc.message) from None
    forced = sso.forced_provider_for(email)
    if forced is not None:  # the domain's provider is its only way in, this included
        raise IdentifyRefused(sso.forced_message(forced), field="forced domain")
    known = sso.identity(sso.IDENTIFY, subject)
    user = db.session.get(User, known.user_id) if known else accounts.find_user_by_email(email)
    if user is not None and user.role != Role.CUSTOMER.value:
        raise IdentifyRefused(
            "Team accounts cannot sign in from another product. Sign in here with your "
            "password or your company's single sign-on.",
            team_account=user,
        )
    if user is not None and user.is_suspended:
        audit.record("sign_in.refused_suspended", actor=user, ip=ip, target=user)
        raise AccountSuspended(user.suspension_reason)
    if user is None:
        user = accounts.create_user(
            email=email,
            display_name=sso.display_name_from(claims, email),
            password=None,
            verified=True,
        )
        audit.record("account.created", actor=user, ip=ip, target=user, via="identify")
    if known is None:
        sso.link(
            user, provider_slug=sso.IDENTIFY, subject=subject, email=email, ip=ip, how="identify"
        )
    else:
        known.last_used_at = utcnow()
    organisation = claims.get("organisation")
    if isinstance(organisation, dict):
        _place_in_organisation(user, organisation, ip=ip)
    audit.record("sign_in.succeeded", actor=user, ip=ip, target=user, via="identify")
    return user


def _place_in_organisation(user: User, given: dict[str, Any], *, ip: str | None) -> None:
    """Create or update the named organisation (by domain, else name) and put the person in."""
    name = str(given.get("name") or "").strip()
    if not name:
        return
    domain_raw = str(given.get("domain") or "").strip()
    domain = organisations.clean_domain(domain_raw) if domain_raw else None
    found = None
    if domain:
        found = db.session.scalar(
            select(Organisation)
            .join(OrganisationDomain)
            .where(func.lower(OrganisationDomain.domain) == domain)
        )
    if found is None:
        found = db.session.scalar(
            select(Organisation).where(func.lower(Organisation.name) == name.lower())
        )
    if found is None:
        found = Organisation(name=name[: organisations.ORGANISATION_NAME_MAX])
        db.session.add(found)
        db.session.flush()
        audit.record("identify.organisation_created", actor=None, ip=ip, target=found)
        if domain:
            found.domains.append(OrganisationDomain(domain=domain))
    value = given.get("annual_value")
    try:
        wanted = organisations.clean_customer_value(
            plan=str(given.get("plan", found.plan) or ""),
            segment=str(given.get("segment", found.segment) or ""),
            amount=str(value) if value is not None else None,
            basis="arr" if value is not None else None,
            renewal=None,
        )
    except InvalidInput as exc:
        raise IdentifyRefused(f"The organisation in the link is not right: {exc.message}") from None
    changed = []
    for attr in ("plan", "segment"):
        if getattr(found, attr) != getattr(wanted, attr):
            setattr(found, attr, getattr(wanted, attr))
            changed.append(attr)
    if value is not None and found.annual_value != wanted.annual_value:
        found.annual_value, found.value_basis = wanted.annual_value, wanted.value_basis
        changed.append("annual_value")
    if changed:
        audit.record(
            "identify.organisation_updated", actor=None, ip=ip, target=found, changed=changed
        )
    if user.organisation_id != found.id:
        user.organisation = found
        db.session.flush()
        votes.recount_organisations(select(Vote.idea_id).where(Vote.user_id == user.id))
