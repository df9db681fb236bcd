"""Identify: a customer's product signs a short JWT and sends its user here signed in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Organisation, User, UserSession
from portal.services import identify


@pytest.fixture
def admin(make_user):
    return make_user("admin")


@pytest.fixture
def shared_secret(app, admin) -> str:
    secret = identify.rotate_secret(actor=admin, ip=None)
    identify.save_settings(enabled=True, algorithm="HS256", public_key="", actor=admin, ip=None)
    db.session.commit()
    return secret


@pytest.fixture
def rsa_key(app, admin) -> RSAKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    identify.save_settings(
        enabled=True, algorithm="RS256", public_key=pem.decode(), actor=admin, ip=None
    )
    db.session.commit()
    return RSAKey.import_key(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def claims(**extra) -> dict:
    now = int(time.time())
    return {
        "sub": "cust-42",
        "email": "mia@customer.example",
        "name": "Mia Wong",
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_hex(8),
        **extra,
    }


def hs256(secret: str, **extra) -> str:
    return jwt.encode({"alg": "HS256"}, claims(**extra), OctKey.import_key(secret))


def go(client, token: str, method: str = "GET", next_path: str = "/ideas"):
    """As a browser: a product's POST, or its link, whose page carries the token on in a POST."""
    if method == "POST":
        return client.post("/identify", data={"token": token, "next": next_path})
    page = client.get("/identify", query_string={"token": token, "next": next_path})
    if page.status_code != 200:
        return page
    assert page.headers["Cache-Control"] == "no-store"
    form = re.search(
        r'<form method="post" action="/identify" data-autosubmit>(.*?)</form>',
        page.get_data(as_text=True),
        re.S,
    )
    assert form, page.get_data(as_text=True)
    fields = dict(re.findall(r'name="(token|next)" value="([^"]*)"', form.group(1)))
    assert fields == {"token": token, "next": next_path}
    return client.post("/identify", data=fields)


def test_opening_the_link_spends_nothing_until_the_page_posts_it(client, shared_secret):
    """A link checker or prefetch opening the link neither signs in nor uses the token up."""
    token = hs256(shared_secret)
    for _ in range(2):
        page = client.get("/identify", query_string={"token": token})
        assert page.status_code == 200 and "Continue to" in page.get_data(as_text=True)
    assert client.get("/account").status_code != 200
    assert db.session.scalar(select(User).where(User.email == "mia@customer.example")) is None
    assert go(client, token).status_code == 302
    assert client.get("/account").status_code == 200


def test_a_product_posts_the_token_from_its_own_site_without_a_csrf_token(
    app, client, shared_secret
):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = client.post("/identify", data={"token": hs256(shared_secret), "next": "/"})
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert response.status_code == 302
    assert client.get("/account").status_code == 200


def test_a_good_hs256_token_signs_in_and_creates_the_customer(client, shared_secret):
    response = go(client, hs256(shared_secret))
    assert response.status_code == 302 and response.headers["Location"].endswith("/ideas")
    user = db.session.scalar(select(User).where(User.email == "mia@customer.example"))
    assert user.role == "customer" and user.display_name == "Mia Wong"
    session_row = db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))
    assert session_row.method == "identify"
    assert client.get("/account").status_code == 200


def test_a_good_rs256_token_by_post(client, rsa_key):
    token = jwt.encode({"alg": "RS256"}, claims(), rsa_key)
    assert go(client, token, "POST").status_code == 302
    assert client.get("/account").status_code == 200


def refused(client, token: str) -> None:
    response = go(client, token)
    assert response.status_code == 400, response.headers.get("Location")
    assert "Could not sign you in" in response.get_data(as_text=True)
    assert client.get("/account").status_code != 200


def test_expired_token(client, shared_secret):
    refused(client, hs256(shared_secret, iat=int(time.time()) - 900, exp=int(time.time()) - 300))


def test_too_long_lived_token(client, shared_secret):
    refused(client, hs256(shared_secret, exp=int(time.time()) + 3600))
    refused(client, hs256(shared_secret, iat=int(time.time()), exp=int(time.time()) + 601))


def test_a_replayed_token_is_refused(client, shared_secret):
    token = hs256(shared_secret)
    assert go(client, token).status_code == 302
    client.post("/sign-out")
    refused(client, token)


def test_wrong_key(client, shared_secret):
    refused(client, hs256("another secret that is long enough to be a key " * 2))


def part(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_alg_none_is_refused(client, shared_secret):
    refused(client, f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims())}.")


def test_alg_confusion_is_refused(client, rsa_key):
    """An HS256 token "signed" with the public key, when RS256 is configured."""
    pem = identify.settings().public_key.encode()
    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    refused(client, f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}")


def test_missing_email_or_jti_is_refused(client, shared_secret):
    token = jwt.encode(
        {"alg": "HS256"},
        {k: v for k, v in claims().items() if k != "jti"},
        OctKey.import_key(shared_secret),
    )
    refused(client, token)
    token = jwt.encode(
        {"alg": "HS256"},
        {k: v for k, v in claims().items() if k != "email"},
        OctKey.import_key(shared_secret),
    )
    refused(client, token)


@pytest.mark.parametrize("role", ["product_manager", "admin"])
def test_team_accounts_are_refused(client, shared_secret, make_user, role):
    make_user(role, email="boss@customer.example")
    refused(client, hs256(shared_secret, email="boss@customer.example", sub="boss"))
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "identify.refused_team"))


def test_disabled_identify_refuses(client, shared_secret, admin):
    identify.save_settings(enabled=False, algorithm="HS256", public_key="", actor=admin, ip=None)
    db.session.commit()
    refused(client, hs256(shared_secret))


def test_the_organisation_is_created_with_its_attributes(client, shared_secret):
    token = hs256(
        shared_secret,
        organisation={
            "name": "Customer Inc",
            "domain": "customer.example",
            "plan": "Enterprise",
            "segment": "Mid-market",
            "annual_value": 48000,
        },
    )
    assert go(client, token).status_code == 302
    org = db.session.scalar(select(Organisation).where(Organisation.name == "Customer Inc"))
    assert org.plan == "Enterprise" and org.segment == "Mid-market"
    assert org.annual_value == 48000 and [d.domain for d in org.domains] == ["customer.example"]
    user = db.session.scalar(select(User).where(User.email == "mia@customer.example"))
    assert user.organisation_id == org.id

    # A later token updates it.
    client.post("/sign-out")
    token = hs256(shared_secret, organisation={"name": "Customer Inc", "plan": "Growth"})
    assert go(client, token).status_code == 302
    db.session.refresh(org)
    assert org.plan == "Growth" and org.annual_value == 48000


def test_admin_page_reveals_the_secret_once(client, login_as):
    login_as("admin")
    response = client.post("/admin/sso/identify/secret")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    secret = identify._get("identify.secret")
    assert secret in response.get_data(as_text=True)
    assert secret not in client.get("/admin/sso").get_data(as_text=True)
    response = client.post(
        "/admin/sso/identify", data={"enabled": "y", "algorithm": "RS256", "public_key": "nope"}
    )
    assert response.status_code == 400 and "PEM" in response.get_data(as_text=True)
    response = client.post("/admin/sso/identify", data={"enabled": "y", "algorithm": "HS256"})
    assert response.status_code == 303 and identify.settings().enabled
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action.like("identify.%"))
    ).all()
    assert secret not in str([e.detail for e in events])


def test_a_domain_that_must_use_its_provider_is_refused(client, shared_secret):
    from portal.models import SsoProvider

    db.session.add(
        SsoProvider(
            slug="corp",
            name="Corp login",
            discovery_url="https://id.example.com/.well-known/openid-configuration",
            client_id="c",
            client_secret="s",
            forced_domains="customer.example",
        )
    )
    db.session.commit()
    refused(client, hs256(shared_secret))
