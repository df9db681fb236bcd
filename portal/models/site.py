"""Settings that admins edit in the app, such as the community guidelines."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, g, has_request_context
from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import Model
from portal.models.types import UTCDateTime, utcnow


class SiteSetting(Model):
    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


_SITE_NAME_CACHE = "_portal_site_name"


def site_name() -> str:
    """The name the site goes by: the admins' setting, or SITE_NAME from the configuration.

    Every page's title and every email shows it, so a request reads it once and keeps it on
    flask.g. Outside a request (commands, the mail worker, tests) it is read afresh each time.
    It lives here, beside its row, because pages, services and mail all need it.
    """
    in_request = has_request_context()
    if in_request and _SITE_NAME_CACHE in g:
        return str(g.get(_SITE_NAME_CACHE))
    try:
        name = db.session.scalar(select(SiteSetting.value).where(SiteSetting.key == "site_name"))
    except SQLAlchemyError:
        # The error page for a lost database still needs a title; it must not fail in turn.
        return str(current_app.config["SITE_NAME"])
    name = name or current_app.config["SITE_NAME"]
    if in_request:
        setattr(g, _SITE_NAME_CACHE, name)
    return str(name)


def forget_site_name() -> None:
    """After the admins rename the site, this request shows the new name."""
    if has_request_context():
        g.pop(_SITE_NAME_CACHE, None)
