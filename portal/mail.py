"""Outgoing email: composing messages and putting them in the outbox.

Nothing is sent from here. queue_email() stores the message in the outbox table in the same
transaction as whatever caused it, so a crash never loses or duplicates it; portal.outbox
delivers it after the commit (see there for how).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import urlsplit

from flask import current_app, render_template
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import OutboxMessage, User
from portal.services.settings import site_name as configured_site_name

# Messages carrying one-time links: their stored text is cleared once sent through SMTP.
SECRET_KINDS = frozenset({"verify_email", "reset_password"})


def external_url(endpoint: str, **values) -> str:
    """An absolute link on the configured BASE_URL, whatever Host the request came with."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path.rstrip("/") or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def compose(
    to: str, subject: str, template: str, *, unsubscribe_url: str | None = None, **context
) -> EmailMessage:
    """A message with a plain-text and an HTML part, both from templates under email/."""
    site_name = configured_site_name()
    context = {
        "site_name": site_name,
        "home_url": external_url("main.home"),
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": external_url("account.email_preferences"),
        **context,
    }
    msg = EmailMessage()
    msg["Subject"] = f"{subject} · {site_name}"
    msg["From"] = current_app.config["MAIL_SENDER"]
    msg["To"] = to
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=urlsplit(current_app.config["BASE_URL"]).hostname)
    if unsubscribe_url:
        # RFC 8058: mail clients offer a one-click unsubscribe that POSTs to this address.
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(render_template(f"email/{template}.txt", **context))
    msg.add_alternative(render_template(f"email/{template}.html", **context), subtype="html")
    return msg


def queue_email(
    to: str, subject: str, template: str, *, user: User | None = None, **context
) -> OutboxMessage:
    """Compose a message now and put it in the outbox, in the current transaction."""
    msg = compose(to, subject, template, user=user, **context)
    if user is not None and user.id is None:
        db.session.flush()  # a new account: its id ties the message to it
    row = OutboxMessage(
        kind=template,
        to_address=to,
        user_id=user.id if user is not None else None,
        subject=str(msg["Subject"]),
        body=msg.as_string(),
        message_id=str(msg["Message-ID"]),
    )
    db.session.add(row)
    outbox_changed()
    return row


def outbox_changed(session: Session | None = None) -> None:
    """Note that this transaction adds to the outbox, so delivery is started after commit."""
    (session or db.session()).info["portal.outbox_changed"] = True


@event.listens_for(Session, "after_commit")
def _deliver_after_commit(session: Session) -> None:
    if session.info.pop("portal.outbox_changed", False):
        from portal import outbox

        outbox.kick()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop("portal.outbox_changed", None)
