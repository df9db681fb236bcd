"""Single sign-on through a real OpenID Connect provider on loopback, and identify links."""

from __future__ import annotations

import base64
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    AuditEvent,
    ExternalIdentity,
    Role,
    SsoProvider,
    User,
    UserSession,
)
from portal.services import sso

from .conftest import DEFAULT_PASSWORD, sign_in_client
from .helpers import enrol_two_factor, next_code, page_text
from .servers import oidc_provider


@pytest.fixture(scope="module")
def provider_url():
    with oidc_provider() as url:
        yield url


@pytest.fixture
def provider(app, provider_url):
    sso.forget_discovery()
    row = SsoProvider(
        slug="mock",
        name="Mock ID",
        discovery_url=f"{provider_url}/.well-known/openid-configuration",
        client_id="portal-client",
        client_secret="portal-secret",
        scopes="openid email profile",
    )
    db.session.add(row)
    db.session.commit()
    return row


def person(provider_url: str, **claims) -> str:
    """A person at the provider with these claims; their subject."""
    sub = "sub-" + secrets.token_hex(6)
    body = {"email_verified": True, "name": "Ada Lovelace", **claims}
    requests.put(f"{provider_url}/users/{sub}", json=body, timeout=5).raise_for_status()
    return sub


def start(client, slug: str = "mock", **form) -> str:
    response = client.post(f"/sign-in/sso/{slug}", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def at_provider(authorize_url: str, sub: str, action: str = "allow") -> str:
    """The person signs in on the provider's page; the address it sends the browser back to."""
    data = {"sub": sub} if action == "allow" else {"action": "deny"}
    response = requests.post(authorize_url, data=data, allow_redirects=False, timeout=5)
    assert response.status_code in (302, 303), response.text
    return response.headers["Location"]


def back(client, location: str):
    parts = urlsplit(location)
    return client.get(f"{parts.path}?{parts.query}")


def sso_sign_in(client, provider_url: str, sub: str, **form):
    return back(client, at_provider(start(client, **form), sub))


def signed_in_as(client) -> str | None:
    page = client.get("/account")
    return None if page.status_code != 200 else page.get_data(as_text=True)


def test_first_sign_in_creates_the_account_in_its_organisation(
    client, provider, provider_url, make_organisation
):
    acme = make_organisation("Acme", domains=("acme.example",))
    sub = person(provider_url, email="ada@acme.example")
    response = sso_sign_in(client, provider_url, sub, next="/ideas")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/ideas")
    user = db.session.scalar(select(User).where(User.email == "ada@acme.example"))
    assert user is not None and user.display_name == "Ada Lovelace"
    assert user.organisation_id == acme.id and user.email_verified_at is not None
    assert user.role == "customer"
    identity = db.session.scalar(select(ExternalIdentity).where(ExternalIdentity.subject == sub))
    assert identity is not None and identity.user_id == user.id and identity.provider == "mock"
    row = db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))
    assert row is not None and row.method == "sso:mock"
    assert signed_in_as(client) is not None

    # The second time, the same account; no new one.
    client.post("/sign-out")
    assert signed_in_as(client) is None
    assert sso_sign_in(client, provider_url, sub).status_code == 302
    assert (
        db.session.scalar(select(func.count(User.id)).where(User.email.like("%acme.example"))) == 1
    )
    assert signed_in_as(client) is not None


def test_sign_out_ends_the_sso_session(client, provider, provider_url):
    sub = person(provider_url, email="grace@example.org")
    sso_sign_in(client, provider_url, sub)
    user = db.session.scalar(select(User).where(User.email == "grace@example.org"))
    assert (
        db.session.scalar(
            select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id)
        )
        == 1
    )
    client.post("/sign-out")
    assert (
        db.session.scalar(
            select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id)
        )
        == 0
    )
    assert signed_in_as(client) is None


def test_an_unverified_email_is_refused(client, provider, provider_url):
    sub = person(provider_url, email="eve@example.org", email_verified=False)
    response = sso_sign_in(client, provider_url, sub)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "is not confirmed yet" in page
    assert db.session.scalar(select(User).where(User.email == "eve@example.org")) is None
    assert signed_in_as(client) is None
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "sso.sign_in_failed"))


def test_an_existing_account_is_linked_only_after_its_password(
    client, provider, provider_url, make_user
):
    owner = make_user(email="kofi@example.org")
    sub = person(provider_url, email="kofi@example.org")
    response = sso_sign_in(client, provider_url, sub, next="/ideas")
    assert response.status_code == 303
    assert signed_in_as(client) is None
    assert (
        db.session.scalar(select(ExternalIdentity).where(ExternalIdentity.subject == sub)) is None
    )
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "already exists" in page and "connect your account to Mock ID" in page

    # A wrong password links nothing.
    client.post("/sign-in", data={"email": "kofi@example.org", "password": "wrong password!"})
    assert (
        db.session.scalar(select(ExternalIdentity).where(ExternalIdentity.subject == sub)) is None
    )
    response = client.post(
        "/sign-in", data={"email": "kofi@example.org", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302
    linked = db.session.scalar(select(ExternalIdentity).where(ExternalIdentity.subject == sub))
    assert linked is not None and linked.user_id == owner.id
    assert "now connected to Mock ID" in client.get("/").get_data(as_text=True)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "sso.identity_linked"))

    # From now on the button alone signs them in.
    client.post("/sign-out")
    assert sso_sign_in(client, provider_url, sub).status_code == 302
    assert signed_in_as(client) is not None


def test_linking_waits_for_the_second_step_of_a_password_sign_in(
    client, provider, provider_url, make_user
):
    owner = make_user(email="tess@example.org")
    enrol_two_factor(owner)
    sub = person(provider_url, email="tess@example.org")
    assert sso_sign_in(client, provider_url, sub).status_code == 303  # asked for the password
    response = client.post(
        "/sign-in", data={"email": "tess@example.org", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/sign-in/two-factor"
    assert (
        db.session.scalar(select(ExternalIdentity).where(ExternalIdentity.subject == sub)) is None
    ), "the password alone must not connect the identity"
    response = client.post("/sign-in/two-factor", data={"code": next_code("tess@example.org")})
    assert response.status_code == 302
    linked = db.session.scalar(select(ExternalIdentity).where(ExternalIdentity.subject == sub))
    assert linked is not None and linked.user_id == owner.id
    assert "now connected to Mock ID" in client.get("/").get_data(as_text=True)


def test_an_admin_sees_how_a_person_signs_in(app, client, provider, provider_url, make_user):
    sub = person(provider_url, email="gus@example.org")
    sso_sign_in(client, provider_url, sub)
    user = db.session.scalar(select(User).where(User.email == "gus@example.org"))
    admin = app.test_client()
    sign_in_client(admin, make_user("admin"))
    page = page_text(admin.get(f"/admin/users/{user.id}"))
    assert "Password: none chosen" in page
    assert "Mock ID as gus@example.org" in page and "last used" in page
    assert "Signed in with Mock ID" in page  # the session list says how it began


def test_role_claims_are_mapped_at_every_sign_in(client, provider, provider_url, make_user):
    make_user("admin")  # so the demotion below does not leave the site without an admin
    provider.role_claim = "groups"
    provider.role_mapping = "portal-admins = admin\nportal-pm = product_manager"
    db.session.commit()
    sub = person(provider_url, email="lin@example.org", groups=["staff", "portal-pm"])
    sso_sign_in(client, provider_url, sub)
    user = db.session.scalar(select(User).where(User.email == "lin@example.org"))
    assert user.role == Role.PRODUCT_MANAGER.value
    client.post("/sign-out")

    requests.put(
        f"{provider_url}/users/{sub}",
        json={
            "email": "lin@example.org",
            "email_verified": True,
            "groups": ["portal-pm", "portal-admins"],
        },
        timeout=5,
    ).raise_for_status()
    sso_sign_in(client, provider_url, sub)
    db.session.refresh(user)
    assert user.role == Role.ADMIN.value
    client.post("/sign-out")

    requests.put(
        f"{provider_url}/users/{sub}",
        json={"email": "lin@example.org", "email_verified": True, "groups": []},
        timeout=5,
    ).raise_for_status()
    sso_sign_in(client, provider_url, sub)
    db.session.refresh(user)
    assert user.role == Role.CUSTOMER.value
    changes = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "user.role_changed")
    ).all()
    assert [c.detail.get("via") for c in changes] == ["sso", "sso", "sso"]


def test_a_role_claim_never_demotes_the_last_admin(client, provider, provider_url):
    provider.role_claim = "groups"
    provider.role_mapping = "portal-admins = admin"
    db.session.commit()
    sub = person(provider_url, email="solo@example.org", groups=["portal-admins"])
    sso_sign_in(client, provider_url, sub)
    user = db.session.scalar(select(User).where(User.email == "solo@example.org"))
    assert user.role == Role.ADMIN.value
    client.post("/sign-out")
    requests.put(
        f"{provider_url}/users/{sub}",
        json={"email": "solo@example.org", "email_verified": True, "groups": []},
        timeout=5,
    ).raise_for_status()
    sso_sign_in(client, provider_url, sub)
    db.session.refresh(user)
    assert user.role == Role.ADMIN.value and signed_in_as(client) is not None
    kept = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.role_kept"))
    assert [e.detail["wanted"] for e in kept] == ["customer"]


def test_without_a_role_claim_roles_are_left_alone(client, provider, provider_url, make_user):
    sub = person(provider_url, email="pm@example.org", groups=["portal-admins"])
    sso_sign_in(client, provider_url, sub)
    user = db.session.scalar(select(User).where(User.email == "pm@example.org"))
    assert user.role == "customer"


def test_a_forced_domain_refuses_passwords(client, provider, provider_url, make_user):
    provider.forced_domains = "forced.example"
    db.session.commit()
    make_user(email="old@forced.example")
    response = client.post(
        "/sign-in", data={"email": "old@forced.example", "password": DEFAULT_PASSWORD}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "sign in with Mock ID" in page
    assert "Sign in with Mock ID</button>" in page
    assert signed_in_as(client) is None

    response = client.post("/password/forgot", data={"email": "OLD@forced.example"})
    assert response.status_code == 200 and "sign in with Mock ID" in response.get_data(as_text=True)

    response = client.post(
        "/sign-up",
        data={
            "email": "new@forced.example",
            "display_name": "New Person",
            "password": "a long enough passphrase",
            "accept_guidelines": "y",
        },
    )
    assert response.status_code == 200 and "sign in with Mock ID" in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == "new@forced.example")) is None

    # The provider itself signs the existing person in, linking the account at once.
    sub = person(provider_url, email="old@forced.example")
    assert sso_sign_in(client, provider_url, sub).status_code == 302
    assert signed_in_as(client) is not None


def test_a_denied_sign_in_signs_nobody_in(client, provider, provider_url):
    location = at_provider(start(client), "", action="deny")
    response = back(client, location)
    assert response.status_code == 303
    assert "cancelled" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert signed_in_as(client) is None


def test_a_wrong_state_is_refused(client, provider, provider_url):
    sub = person(provider_url, email="st@example.org")
    location = at_provider(start(client), sub)
    parts = urlsplit(location)
    query = parse_qs(parts.query)
    response = client.get(parts.path, query_string={"code": query["code"][0], "state": "forged"})
    assert response.status_code == 303
    assert signed_in_as(client) is None
    assert db.session.scalar(select(User).where(User.email == "st@example.org")) is None


def test_a_wrong_nonce_is_refused(client, provider, provider_url):
    sub = person(provider_url, email="nonce@example.org")
    location = at_provider(start(client), sub)
    with client.session_transaction() as sess:
        for key, value in sess.items():
            if key.startswith("_state_sso-mock_"):
                value["data"]["nonce"] = "not-the-one-sent"
                sess[key] = value
    response = back(client, location)
    assert response.status_code == 303
    assert signed_in_as(client) is None
    assert db.session.scalar(select(User).where(User.email == "nonce@example.org")) is None


def _real_token(provider_url: str, sub: str, nonce: str) -> dict:
    """An ID token the provider really issued, through the code flow, outside the portal."""
    from authlib.integrations.requests_client import OAuth2Session

    metadata = requests.get(f"{provider_url}/.well-known/openid-configuration", timeout=5).json()
    with OAuth2Session(
        "portal-client", "portal-secret", scope="openid email profile",
        redirect_uri="http://portal.test/cb",
    ) as session:  # fmt: skip
        url, _state = session.create_authorization_url(
            metadata["authorization_endpoint"], nonce=nonce
        )
        code = parse_qs(urlsplit(at_provider(url, sub)).query)["code"][0]
        return dict(session.fetch_token(metadata["token_endpoint"], code=code))


def test_a_tampered_id_token_is_refused(app, provider, provider_url):
    sub = person(provider_url, email="tamper@example.org")
    found = sso.provider("mock")
    with app.test_request_context():
        token = _real_token(provider_url, sub, "n-1")
        assert sso.id_token_claims(found, token, "n-1")["sub"] == sub  # the real one passes
        head, body, signature = token["id_token"].split(".")
        raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
        raw[10] ^= 0x01
        flipped = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
        with pytest.raises(sso.SsoRefused):
            sso.id_token_claims(found, {**token, "id_token": f"{head}.{body}.{flipped}"}, "n-1")
        with pytest.raises(sso.SsoRefused):  # and the right token with another nonce
            sso.id_token_claims(found, token, "n-2")


def test_a_suspended_person_is_refused(client, provider, provider_url, make_user):
    sub = person(provider_url, email="sus@example.org")
    sso_sign_in(client, provider_url, sub)
    client.post("/sign-out")
    user = db.session.scalar(select(User).where(User.email == "sus@example.org"))
    user.suspended_at = user.created_at
    user.suspension_reason = "Spam"
    db.session.commit()
    response = sso_sign_in(client, provider_url, sub)
    assert response.status_code == 303
    assert "suspended" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert signed_in_as(client) is None


def test_environment_providers_show_a_button(app, client, provider_url):
    app.config["OIDC_PROVIDERS"] = [
        {
            "slug": "corp",
            "name": "Corp login",
            "discovery_url": f"{provider_url}/.well-known/openid-configuration",
            "client_id": "c",
            "client_secret": "s",
        }
    ]
    page = client.get("/sign-in").get_data(as_text=True)
    assert "Sign in with Corp login" in page
    sub = person(provider_url, email="env@example.org")
    assert sso_sign_in(client, provider_url, sub, slug="corp").status_code == 302


def test_connect_and_disconnect_from_the_account_page(client, provider, provider_url, make_user):
    from .conftest import sign_in_client

    user = make_user(email="conn@example.org")
    sign_in_client(client, user)
    sub = person(provider_url, email="other-address@example.org")
    response = client.post("/account/sign-in-methods/mock/connect")
    assert response.status_code == 303
    done = back(client, at_provider(response.headers["Location"], sub))
    assert done.status_code == 303
    row = db.session.scalar(select(ExternalIdentity).where(ExternalIdentity.subject == sub))
    assert row is not None and row.user_id == user.id
    row_id = row.id
    response = client.post(f"/account/sign-in-methods/{row_id}/disconnect")
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(ExternalIdentity, row_id) is None


def test_disconnecting_the_only_way_in_is_refused(client, provider, provider_url):
    sub = person(provider_url, email="only@example.org")
    sso_sign_in(client, provider_url, sub)
    row = db.session.scalar(select(ExternalIdentity).where(ExternalIdentity.subject == sub))
    response = client.post(f"/account/sign-in-methods/{row.id}/disconnect")
    assert response.status_code == 303
    assert "only way to sign in" in client.get("/account/sign-in-methods").get_data(as_text=True)
    assert db.session.get(ExternalIdentity, row.id) is not None


def test_admins_add_edit_and_delete_providers(client, login_as, provider_url):
    login_as("admin")
    response = client.post(
        "/admin/sso/new",
        data={
            "name": "Okta",
            "slug": "okta",
            "discovery_url": f"{provider_url}/.well-known/openid-configuration",
            "client_id": "abc",
            "client_secret": "very-secret-value",
            "scopes": "openid email profile",
            "role_mapping": "admins = admin",
            "forced_domains": "okta.example",
            "enabled": "y",
        },
    )
    assert response.status_code == 303
    row = db.session.scalar(select(SsoProvider).where(SsoProvider.slug == "okta"))
    assert row.client_secret == "very-secret-value"
    page = client.get(f"/admin/sso/{row.id}").get_data(as_text=True)
    assert "very-secret-value" not in page
    client.post(
        f"/admin/sso/{row.id}",
        data={
            "name": "Okta SSO",
            "slug": "okta",
            "discovery_url": row.discovery_url,
            "client_id": "abc",
            "client_secret": "",
            "scopes": "openid email",
        },
    )
    db.session.refresh(row)
    assert row.name == "Okta SSO" and row.client_secret == "very-secret-value" and not row.enabled
    bad = client.post(f"/admin/sso/{row.id}", data={"name": "x", "slug": "Bad Slug"})
    assert bad.status_code == 400 and "Bad Slug" in bad.get_data(as_text=True)
    row_id = row.id
    assert client.get(f"/admin/sso/{row_id}/delete").status_code == 200
    assert client.post(f"/admin/sso/{row_id}/delete").status_code == 303
    db.session.expire_all()
    assert db.session.get(SsoProvider, row_id) is None
    details = [
        e.detail
        for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("sso.provider%"))
        )
    ]
    assert len(details) == 3
    assert "very-secret-value" not in str(details)


def test_the_sign_in_page_lets_its_buttons_lead_to_the_provider(client, provider, provider_url):
    """Browsers check form-action on the redirect after a POST: the provider must be allowed."""
    policy = client.get("/sign-in").headers["Content-Security-Policy"]
    assert f"form-action 'self' {provider_url}" in policy
    assert "form-action 'self';" in client.get("/").headers["Content-Security-Policy"]
