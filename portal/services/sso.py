"""Single sign-on with OpenID Connect: providers, the round trip, and linking identities.

Providers come from two places: PORTAL_OIDC_PROVIDERS (read-only here) and the admins' page
(table sso_providers). The round trip is Authlib's: authorization code with PKCE (S256), state
and nonce kept in the signed session, the ID token's signature checked against the provider's
published keys (JWKS) and its iss, aud, exp, iat and nonce checked. The portal's own two-factor
step does not apply to these sign-ins: the provider is trusted for second factors (docs/sso.md).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App
from flask import current_app
from joserfc.errors import JoseError
from sqlalchemy import select

from portal.extensions import db
from portal.models import ExternalIdentity, Role, SsoProvider, User
from portal.models.types import utcnow
from portal.permissions import is_admin, require
from portal.services import accounts, audit, invites, users
from portal.services.errors import AccountSuspended, DomainError, InvalidFields, InvalidInput

DEFAULT_SCOPES = "openid email profile"
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
ROLE_ORDER = (Role.CUSTOMER, Role.PRODUCT_MANAGER, Role.ADMIN)
IDENTIFY = "identify"  # the provider name of identities made by identify (portal.services.identify)


class SsoRefused(DomainError):
    """The provider's answer signs nobody in; the message says why, in plain words."""


@dataclass(frozen=True)
class Provider:
    slug: str
    name: str
    discovery_url: str
    client_id: str
    client_secret: str
    scopes: str = DEFAULT_SCOPES
    role_claim: str = ""
    role_mapping: dict[str, str] = field(default_factory=dict)
    forced_domains: tuple[str, ...] = ()
    enabled: bool = True
    from_environment: bool = False
    id: int | None = None


# --- Reading the settings ------------------------------------------------------------------


def parse_role_mapping(text: str) -> dict[str, str]:
    """Lines like "portal-admins = admin" as {claim value: role}; InvalidInput names a bad one."""
    mapping: dict[str, str] = {}
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        value, equals, role = line.rpartition("=")
        value, role = value.strip(), role.strip()
        if not equals or not value or role not in {r.value for r in Role}:
            raise InvalidInput(
                f"Line {number} of the role mapping should read like “portal-admins = admin”, "
                "with one of customer, product_manager or admin after the =.",
                field="role_mapping",
            )
        mapping[value] = role
    return mapping


def parse_domains(text: str) -> tuple[str, ...]:
    from portal.services.organisations import clean_domain

    found: list[str] = []
    for raw in re.split(r"[\s,]+", text or ""):
        if raw:
            try:
                domain = clean_domain(raw)
            except InvalidInput as exc:
                raise InvalidInput(exc.message, field="forced_domains") from None
            if domain not in found:
                found.append(domain)
    return tuple(found)


def _from_row(row: SsoProvider) -> Provider:
    return Provider(
        slug=row.slug,
        name=row.name,
        discovery_url=row.discovery_url,
        client_id=row.client_id,
        client_secret=row.client_secret,
        scopes=row.scopes or DEFAULT_SCOPES,
        role_claim=row.role_claim,
        role_mapping=parse_role_mapping(row.role_mapping),
        forced_domains=parse_domains(row.forced_domains),
        enabled=row.enabled,
        id=row.id,
    )


def environment_providers() -> list[Provider]:
    found = []
    for item in current_app.config.get("OIDC_PROVIDERS") or []:
        found.append(
            Provider(
                slug=str(item["slug"]),
                name=str(item.get("name") or item["slug"]),
                discovery_url=str(item["discovery_url"]),
                client_id=str(item["client_id"]),
                client_secret=str(item.get("client_secret", "")),
                scopes=str(item.get("scopes") or DEFAULT_SCOPES),
                role_claim=str(item.get("role_claim") or ""),
                role_mapping=parse_role_mapping(str(item.get("role_mapping") or "")),
                forced_domains=parse_domains(str(item.get("forced_domains") or "")),
                from_environment=True,
            )
        )
    return found


def all_providers() -> list[Provider]:
    """Every provider, enabled or not: the environment's first, then the admins' by name."""
    env = environment_providers()
    taken = {p.slug for p in env}
    rows = db.session.scalars(select(SsoProvider).order_by(SsoProvider.name)).all()
    return env + [_from_row(r) for r in rows if r.slug not in taken]


def session_began(method: str | None) -> str:
    """How a signed-in session began (user_sessions.method), as the session lists say it."""
    if not method:
        return ""
    if method.startswith("sso:"):
        slug = method.removeprefix("sso:")
        found = next((p for p in all_providers() if p.slug == slug), None)
        return f"with {found.name if found else slug}"
    return {
        "password": "with the password",
        "email link": "with a confirmation link",
        "invite": "with an invitation",
        "identify": "from the company's product (an identify link)",
    }.get(method, f"with {method}")


def providers() -> list[Provider]:
    """The providers people may sign in with now, in the order of their buttons."""
    return [p for p in all_providers() if p.enabled]


def provider(slug: str) -> Provider | None:
    return next((p for p in providers() if p.slug == slug), None)


def forced_provider_for(email: str) -> Provider | None:
    """The provider that is the only way in for this address's domain, if one is."""
    domain = (email or "").strip().rpartition("@")[2].lower()
    if not domain:
        return None
    return next((p for p in providers() if domain in p.forced_domains), None)


def forced_message(found: Provider) -> str:
    return (
        f"People with this email address sign in with {found.name}, not with a password. "
        f"Use the “Sign in with {found.name}” button."
    )


def check_password_allowed(email: str) -> None:
    """InvalidInput when the address's domain must sign in through its provider."""
    found = forced_provider_for(email)
    if found is not None:
        raise InvalidInput(forced_message(found), field="email")


# --- The round trip ----------------------------------------------------------------------

_metadata_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def discovery(found: Provider) -> dict[str, Any]:
    """The provider's discovery document, fetched with a timeout and kept for a few minutes."""
    now = time.monotonic()
    cached = _metadata_cache.get(found.discovery_url)
    if cached and cached[0] > now:
        return cached[1]
    try:
        response = requests.get(
            found.discovery_url, timeout=current_app.config["OIDC_HTTP_TIMEOUT_SECONDS"]
        )
        response.raise_for_status()
        metadata = response.json()
    except (requests.RequestException, ValueError) as exc:
        current_app.logger.warning("sso discovery failed for %s: %s", found.slug, exc)
        raise SsoRefused(
            f"{found.name} did not answer just now, so nobody can sign in with it. "
            "Try again in a minute, or sign in another way."
        ) from None
    if not isinstance(metadata, dict) or "authorization_endpoint" not in metadata:
        raise SsoRefused(f"{found.name} is not set up correctly. Tell an admin.")
    ttl = current_app.config["OIDC_METADATA_CACHE_SECONDS"]
    _metadata_cache[found.discovery_url] = (now + ttl, metadata)
    return metadata


def forget_discovery() -> None:
    _metadata_cache.clear()


def form_origins(found: Provider) -> list[str]:
    """Where its button's POST may be redirected: the origin of the discovery address and, once
    known, of the authorization endpoint (for the page's form-action policy)."""
    urls = [found.discovery_url]
    cached = _metadata_cache.get(found.discovery_url)
    if cached:
        urls.append(str(cached[1].get("authorization_endpoint", "")))
    origins = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return origins


def _client(found: Provider) -> FlaskOAuth2App:
    metadata = {k: v for k, v in discovery(found).items() if k != "jwks"}
    return FlaskOAuth2App(
        FlaskIntegration(f"sso-{found.slug}"),
        name=f"sso-{found.slug}",
        client_id=found.client_id,
        client_secret=found.client_secret,
        client_kwargs={
            "scope": found.scopes,
            "code_challenge_method": "S256",
            "default_timeout": current_app.config["OIDC_HTTP_TIMEOUT_SECONDS"],
        },
        **metadata,
    )


def authorize_url(found: Provider, redirect_uri: str) -> str:
    """Where to send the browser; the state, nonce and PKCE verifier wait in the session."""
    client = _client(found)
    made = client.create_authorization_url(redirect_uri)
    client.save_authorize_data(redirect_uri=redirect_uri, **made)
    return str(made["url"])


def id_token_claims(found: Provider, token: dict[str, Any], nonce: str) -> dict[str, Any]:
    """Check an ID token the provider issued (signature by its JWKS, iss, aud, exp, iat, nonce)
    and return its claims; SsoRefused if anything is wrong."""
    client = _client(found)
    try:
        claims = client.parse_id_token(token, nonce=nonce, claims_options=_claims_options(found))
    except (JoseError, OAuthError, ValueError, requests.RequestException) as exc:
        raise SsoRefused(_FAILED.format(name=found.name), field=type(exc).__name__) from None
    if claims is None:
        raise SsoRefused(_FAILED.format(name=found.name), field="missing id_token")
    return dict(claims)


def _claims_options(found: Provider) -> dict[str, Any]:
    return {
        "iss": {"essential": True, "value": discovery(found).get("issuer")},
        "aud": {"essential": True, "value": found.client_id},
        "exp": {"essential": True},
        "iat": {"essential": True},
    }


_FAILED = (
    "Signing in with {name} did not work, so you are not signed in. Try again, or sign in "
    "another way."
)


def finish(found: Provider) -> dict[str, Any]:
    """The checked ID token's claims, from the provider's answer to this request (code and
    state in the query); SsoRefused for a refusal, a mismatched state or a bad token."""
    client = _client(found)
    try:
        token = client.authorize_access_token(claims_options=_claims_options(found))
    except OAuthError as exc:
        if exc.error == "access_denied":
            raise SsoRefused(
                f"You cancelled signing in with {found.name}, so you are not signed in.",
                field="access_denied",
            ) from None
        raise SsoRefused(_FAILED.format(name=found.name), field=exc.error or "oauth") from None
    except (JoseError, ValueError, requests.RequestException) as exc:
        raise SsoRefused(_FAILED.format(name=found.name), field=type(exc).__name__) from None
    userinfo = token.get("userinfo")
    if not userinfo or not userinfo.get("sub"):
        raise SsoRefused(_FAILED.format(name=found.name), field="missing id_token")
    return dict(userinfo)


# --- Who the answer signs in -------------------------------------------------------------


@dataclass(frozen=True)
class PendingLink:
    """An account already uses the provider's address: linked once its password is typed."""

    provider: str
    subject: str
    email: str


def identity(provider_slug: str, subject: str) -> ExternalIdentity | None:
    return db.session.scalar(
        select(ExternalIdentity).where(
            ExternalIdentity.provider == provider_slug, ExternalIdentity.subject == subject
        )
    )


def identities_of(user: User) -> list[ExternalIdentity]:
    return list(
        db.session.scalars(
            select(ExternalIdentity)
            .where(ExternalIdentity.user_id == user.id)
            .order_by(ExternalIdentity.created_at)
        )
    )


def link(
    user: User, *, provider_slug: str, subject: str, email: str, ip: str | None, how: str
) -> ExternalIdentity:
    row = ExternalIdentity(
        provider=provider_slug,
        subject=subject[:255],
        user_id=user.id,
        email=email[:254],
        last_used_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "sso.identity_linked", actor=user, ip=ip, target=user, provider=provider_slug, how=how
    )
    return row


def _verified(claims: dict[str, Any]) -> bool:
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _refuse_suspended(user: User, ip: str | None) -> None:
    if user.is_suspended:
        audit.record("sign_in.refused_suspended", actor=user, ip=ip, target=user)
        raise AccountSuspended(user.suspension_reason)


def display_name_from(claims: dict[str, Any], email: str) -> str:
    """The first of name, preferred_username and the address's local part that is a valid
    display name; "New member" if none is."""
    for candidate in (claims.get("name"), claims.get("preferred_username"), email.split("@")[0]):
        if isinstance(candidate, str) and candidate.strip():
            try:
                return accounts.clean_display_name(candidate)
            except InvalidInput:
                continue
    return "New member"


def sign_in(
    found: Provider, claims: dict[str, Any], *, ip: str | None, carried_invite: str | None
) -> User | PendingLink:
    """The account these checked claims sign in (made on first sight if it may be), or a
    PendingLink when an account has the address already. Raises SsoRefused or
    AccountSuspended."""
    subject = str(claims["sub"])
    via = f"single sign-on ({found.name})"
    known = identity(found.slug, subject)
    if known is not None:
        user = db.session.get_one(User, known.user_id)
        _refuse_suspended(user, ip)
        known.last_used_at = utcnow()
    else:
        raw_email = claims.get("email")
        if not isinstance(raw_email, str) or not raw_email:
            raise SsoRefused(
                f"{found.name} did not tell us your email address, so we cannot make or find "
                "your account. Ask your administrator to share it with this portal."
            )
        if not _verified(claims):
            raise SsoRefused(
                f"{found.name} says your email address {raw_email} is not confirmed yet. "
                f"Confirm it with {found.name} first, then sign in again."
            )
        try:
            email = accounts.normalise_email(raw_email)
        except InvalidInput as exc:
            raise SsoRefused(exc.message) from None
        existing = accounts.find_user_by_email(email)
        forced = forced_provider_for(email)
        if existing is not None and (forced is None or forced.slug != found.slug):
            return PendingLink(found.slug, subject, email)
        if existing is not None:
            # The domain signs in only through this provider, which vouches for the address:
            # its owner has no password way left to prove it, so the link is made now.
            user = existing
            _refuse_suspended(user, ip)
            link(user, provider_slug=found.slug, subject=subject, email=email, ip=ip, how="domain")
        else:
            try:
                invites.check_sign_up_allowed(email, carried_token=carried_invite)
            except InvalidInput as exc:
                raise SsoRefused(exc.message) from None
            user = accounts.create_user(
                email=email,
                display_name=display_name_from(claims, email),
                password=None,
                verified=True,
            )
            audit.record("account.created", actor=user, ip=ip, target=user, via=via)
            link(user, provider_slug=found.slug, subject=subject, email=email, ip=ip, how="new")
            if carried_invite:
                invites.join_on_sign_up(user, carried_invite, ip=ip)
    apply_role(found, user, claims, ip=ip)
    audit.record("sign_in.succeeded", actor=user, ip=ip, target=user, via=via)
    return user


def mapped_role(found: Provider, claims: dict[str, Any]) -> Role | None:
    """The highest role the claim maps to (customer when none does); None without a claim."""
    if not found.role_claim:
        return None
    value = claims.get(found.role_claim)
    values = value if isinstance(value, list) else [value] if value is not None else []
    roles = {Role(found.role_mapping[str(v)]) for v in values if str(v) in found.role_mapping}
    return max(roles, key=ROLE_ORDER.index, default=Role.CUSTOMER)


def apply_role(found: Provider, user: User, claims: dict[str, Any], *, ip: str | None) -> None:
    role = mapped_role(found, claims)
    if role is not None:
        users.set_role_by_provider(user, role.value, provider=found.slug, ip=ip)


def complete_pending_link(user: User, pending: dict[str, Any], *, ip: str | None) -> str | None:
    """After a password sign-in: link the waiting identity if it is for this account; the
    provider's name when linked."""
    found = provider(str(pending.get("provider", "")))
    if (
        found is None
        or pending.get("email") != user.email
        or float(pending.get("until", 0)) < time.time()
        or identity(found.slug, str(pending.get("subject"))) is not None
    ):
        return None
    link(
        user,
        provider_slug=found.slug,
        subject=str(pending["subject"]),
        email=user.email,
        ip=ip,
        how="password",
    )
    return found.name


def connect(found: Provider, user: User, claims: dict[str, Any], *, ip: str | None) -> None:
    """A signed-in person links a provider from their account page."""
    subject = str(claims["sub"])
    known = identity(found.slug, subject)
    if known is not None:
        if known.user_id == user.id:
            return
        raise SsoRefused(f"That {found.name} account is already connected to another account here.")
    if any(i.provider == found.slug for i in identities_of(user)):
        raise SsoRefused(f"Your account is already connected to {found.name}.")
    email = str(claims.get("email") or "")
    link(user, provider_slug=found.slug, subject=subject, email=email, ip=ip, how="account page")


def ways_in_without(user: User, row: ExternalIdentity) -> bool:
    """Whether the person could still sign in after disconnecting this identity."""
    others = [i for i in identities_of(user) if i.id != row.id and i.provider != IDENTIFY]
    password_ok = accounts.has_password(user) and forced_provider_for(user.email) is None
    return bool(others) or password_ok


def disconnect(user: User, row: ExternalIdentity, *, ip: str | None) -> None:
    if row.user_id != user.id:
        raise InvalidInput("That sign-in is not connected to your account.")
    if not ways_in_without(user, row):
        raise InvalidInput(
            "This is your only way to sign in, so it stays connected. Choose a password first "
            "(use “Forgot your password?” on the sign-in page), or connect another provider."
        )
    db.session.delete(row)
    audit.record("sso.identity_unlinked", actor=user, ip=ip, target=user, provider=row.provider)


# --- The admins' page ----------------------------------------------------------------------

NAME_MAX = 60


@dataclass
class ProviderFields:
    name: str
    slug: str
    discovery_url: str
    client_id: str
    client_secret: str  # blank keeps the saved one
    scopes: str
    role_claim: str
    role_mapping: str
    forced_domains: str
    enabled: bool


def _clean(fields: ProviderFields, row: SsoProvider | None) -> ProviderFields:
    problems: dict[str, str] = {}
    name = fields.name.strip()
    if not 2 <= len(name) <= NAME_MAX:
        problems["name"] = f"Give the button a name of 2 to {NAME_MAX} characters."
    slug = fields.slug.strip().lower()
    if not SLUG_PATTERN.match(slug):
        problems["slug"] = (
            "Use lower-case letters, digits and hyphens for the short name, such as “acme”."
        )
    elif slug == IDENTIFY or any(p.slug == slug for p in environment_providers()):
        problems["slug"] = "That short name is taken: choose another."
    else:
        clash = db.session.scalar(select(SsoProvider).where(SsoProvider.slug == slug))
        if clash is not None and clash is not row:
            problems["slug"] = "That short name is taken: choose another."
    url = fields.discovery_url.strip()
    allowed_http = current_app.config.get("TESTING") or current_app.debug
    if not (
        url.endswith("/.well-known/openid-configuration")
        and (url.startswith("https://") or (allowed_http and url.startswith("http://")))
    ):
        problems["discovery_url"] = (
            "Give the discovery address, such as "
            "https://login.example.com/.well-known/openid-configuration."
        )
    if not fields.client_id.strip():
        problems["client_id"] = "Give the client id the provider gave you."
    if row is None and not fields.client_secret.strip():
        problems["client_secret"] = "Give the client secret the provider gave you."  # noqa: S105
    scopes = " ".join(fields.scopes.split()) or DEFAULT_SCOPES
    if "openid" not in scopes.split():
        problems["scopes"] = "The scopes must include “openid”."
    for name_, check in (("role_mapping", parse_role_mapping), ("forced_domains", parse_domains)):
        try:
            check(getattr(fields, name_))
        except InvalidInput as exc:
            problems[name_] = exc.message
    if problems:
        raise InvalidFields(problems)
    return ProviderFields(
        name=name,
        slug=slug,
        discovery_url=url,
        client_id=fields.client_id.strip(),
        client_secret=fields.client_secret.strip(),
        scopes=scopes,
        role_claim=fields.role_claim.strip(),
        role_mapping="\n".join(
            f"{k} = {v}" for k, v in parse_role_mapping(fields.role_mapping).items()
        ),
        forced_domains=" ".join(parse_domains(fields.forced_domains)),
        enabled=fields.enabled,
    )


def _shown(row: SsoProvider) -> dict[str, Any]:
    """What the audit keeps of a provider: everything but its secret."""
    return {
        "slug": row.slug,
        "discovery_url": row.discovery_url,
        "client_id": row.client_id,
        "scopes": row.scopes,
        "role_claim": row.role_claim,
        "role_mapping": row.role_mapping,
        "forced_domains": row.forced_domains,
        "enabled": row.enabled,
    }


def create_provider(fields: ProviderFields, *, actor: User, ip: str | None) -> SsoProvider:
    require(is_admin(actor))
    clean = _clean(fields, None)
    row = SsoProvider(**vars(clean))
    db.session.add(row)
    db.session.flush()
    audit.record("sso.provider_added", actor=actor, ip=ip, target=row, **_shown(row))
    return row


def update_provider(
    row: SsoProvider, fields: ProviderFields, *, actor: User, ip: str | None
) -> None:
    require(is_admin(actor))
    clean = _clean(fields, row)
    before = _shown(row)
    for key, value in vars(clean).items():
        if key == "client_secret" and not value:
            continue  # blank keeps the saved secret
        setattr(row, key, value)
    after = _shown(row)
    changed = [k for k in after if after[k] != before[k]]
    if clean.client_secret:
        changed.append("client_secret")
    if changed:
        audit.record("sso.provider_changed", actor=actor, ip=ip, target=row, changed=changed)
    forget_discovery()


def delete_provider(row: SsoProvider, *, actor: User, ip: str | None) -> int:
    """Delete a provider and the identities linked through it; how many there were."""
    require(is_admin(actor))
    linked = db.session.scalars(
        select(ExternalIdentity).where(ExternalIdentity.provider == row.slug)
    ).all()
    for identity_row in linked:
        db.session.delete(identity_row)
    audit.record(
        "sso.provider_deleted",
        actor=actor,
        ip=ip,
        target=row,
        slug=row.slug,
        identities=len(linked),
    )
    db.session.delete(row)
    return len(linked)


def linked_count(slug: str) -> int:
    return len(
        db.session.scalars(
            select(ExternalIdentity.id).where(ExternalIdentity.provider == slug)
        ).all()
    )
