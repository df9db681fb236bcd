"""Outgoing email: composed from templates, sent only once the transaction that asked commits.

With no MAIL_SERVER configured, each message is written as an .eml file under
instance/mail/outbox/ so the portal works offline.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app, render_template
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.services.settings import site_name as configured_site_name

log = logging.getLogger(__name__)


def external_url(endpoint: str, **values) -> str:
    """An absolute link on the configured BASE_URL, whatever Host the request came with."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path.rstrip("/") or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def queue_email(to: str, subject: str, template: str, **context) -> EmailMessage:
    """Compose a message now and send it when the current transaction commits."""
    site_name = configured_site_name()
    context = {"site_name": site_name, "home_url": external_url("main.home"), **context}
    msg = EmailMessage()
    msg["Subject"] = f"{subject} · {site_name}"
    msg["From"] = current_app.config["MAIL_SENDER"]
    msg["To"] = to
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=urlsplit(current_app.config["BASE_URL"]).hostname)
    msg.set_content(render_template(f"email/{template}.txt", **context))
    msg.add_alternative(render_template(f"email/{template}.html", **context), subtype="html")
    db.session.info.setdefault("portal.pending_mail", []).append(msg)
    return msg


def deliver(msg: EmailMessage) -> None:
    cfg = current_app.config
    if not cfg["MAIL_SERVER"]:
        outbox = Path(current_app.instance_path) / "mail" / "outbox"
        outbox.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}.eml"
        (outbox / name).write_bytes(bytes(msg))
        log.info("email to %s written to %s", msg["To"], outbox / name)
        return
    security = cfg["MAIL_SECURITY"]
    context = ssl.create_default_context()
    smtp_class = smtplib.SMTP_SSL if security == "tls" else smtplib.SMTP
    kwargs = {"context": context} if security == "tls" else {}
    with smtp_class(cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"]), timeout=30, **kwargs) as smtp:
        if security == "starttls":
            smtp.starttls(context=context)
        if cfg["MAIL_USERNAME"]:
            smtp.login(str(cfg["MAIL_USERNAME"]), str(cfg["MAIL_PASSWORD"] or ""))
        smtp.send_message(msg)


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    for msg in session.info.pop("portal.pending_mail", []):
        try:
            deliver(msg)
        except (OSError, smtplib.SMTPException):
            # The change the person made is saved; a lost notification must not undo it.
            log.exception("could not deliver email to %s", msg["To"])


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop("portal.pending_mail", None)
