"""Handing one message over: to the SMTP server, or with none configured to an .eml file."""

from __future__ import annotations

import logging
import secrets
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import current_app

log = logging.getLogger(__name__)


def outbox_folder() -> Path:
    """Where messages go without a mail server (the offline demo, and the tests)."""
    return Path(current_app.instance_path) / "mail" / "outbox"


def transport_send(msg: EmailMessage) -> None:
    """Hand one message to the SMTP server, or with none configured write it as an .eml file."""
    cfg = current_app.config
    if not cfg["MAIL_SERVER"]:
        folder = outbox_folder()
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}.eml"
        (folder / name).write_bytes(bytes(msg))
        log.info("email to %s written to %s", msg["To"], folder / name)
        return
    security = cfg["MAIL_SECURITY"]
    context = ssl.create_default_context()
    smtp_class = smtplib.SMTP_SSL if security == "tls" else smtplib.SMTP
    kwargs: dict[str, Any] = {"context": context} if security == "tls" else {}
    timeout = cfg["MAIL_TIMEOUT_SECONDS"]
    with smtp_class(cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"]), timeout=timeout, **kwargs) as smtp:
        if security == "starttls":
            smtp.starttls(context=context)
        if cfg["MAIL_USERNAME"]:
            smtp.login(str(cfg["MAIL_USERNAME"]), str(cfg["MAIL_PASSWORD"] or ""))
        smtp.send_message(msg)
