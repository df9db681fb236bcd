"""The forms of the admins' single sign-on page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, RadioField, StringField, TextAreaField

from portal.services import sso


class ProviderForm(FlaskForm):
    name = StringField(
        "Name on the button",
        description="People see “Sign in with …” followed by this, such as “Acme login”.",
        render_kw={"autocomplete": "off"},
    )
    slug = StringField(
        "Short name",
        description="Lower-case letters, digits and hyphens, such as “acme”. It is part of the "
        "address the provider sends people back to, so changing it later needs the provider "
        "changed too.",
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    discovery_url = StringField(
        "Discovery address",
        description="Ends in /.well-known/openid-configuration.",
        render_kw={"autocomplete": "off", "spellcheck": "false", "inputmode": "url"},
    )
    client_id = StringField("Client id", render_kw={"autocomplete": "off", "spellcheck": "false"})
    client_secret = PasswordField(
        "Client secret",
        description="Never shown again once saved. When editing, leave it empty to keep the "
        "saved one.",
        render_kw={"autocomplete": "new-password"},
    )
    scopes = StringField(
        "Scopes",
        default=sso.DEFAULT_SCOPES,
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    role_claim = StringField(
        "Role claim (optional)",
        description="The ID token claim naming the person's groups, such as “groups”. When set, "
        "each sign-in sets the person's role from the mapping below (customer when nothing "
        "matches). Leave empty to leave roles alone.",
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    role_mapping = TextAreaField(
        "Role mapping",
        description="One per line: a claim value = a role (customer, product_manager or "
        "admin), such as “portal-admins = admin”. The highest matching role wins.",
        render_kw={"rows": 3, "spellcheck": "false"},
    )
    forced_domains = StringField(
        "Only way in for these email domains (optional)",
        description="Separated by spaces, such as “acme.com acme.co.uk”. People at these "
        "domains cannot sign in, sign up or reset a password with a password here.",
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    enabled = BooleanField("Enabled: show its button", default=True)

    def fields(self) -> sso.ProviderFields:
        return sso.ProviderFields(
            name=self.name.data or "",
            slug=self.slug.data or "",
            discovery_url=self.discovery_url.data or "",
            client_id=self.client_id.data or "",
            client_secret=self.client_secret.data or "",
            scopes=self.scopes.data or "",
            role_claim=self.role_claim.data or "",
            role_mapping=self.role_mapping.data or "",
            forced_domains=self.forced_domains.data or "",
            enabled=bool(self.enabled.data),
        )


class IdentifyForm(FlaskForm):
    enabled = BooleanField("Enabled: accept identify links")
    algorithm = RadioField(
        "How tokens are signed",
        choices={
            "HS256": "HS256: a shared secret made here",
            "RS256": "RS256: your product's RSA key (paste its public key below)",
        },
        default="HS256",
        validate_choice=False,
    )
    public_key = TextAreaField(
        "RSA public key (for RS256)",
        description="In PEM form, from -----BEGIN PUBLIC KEY----- to -----END PUBLIC KEY-----.",
        render_kw={"rows": 5, "spellcheck": "false"},
    )
