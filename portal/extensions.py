"""Flask extensions, created here and configured in create_app()."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

if TYPE_CHECKING:
    from redis import Redis

# Stable constraint names, so migrations can alter and drop them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# One limiter serves every app in the process, and Flask-Limiter takes a setting from an app's
# config only where this constructor left it unset, and then only at the first init_app. So the
# portal's fixed choices are made here, and what each app sets for itself (its storage, and the
# prefix of its counters there) goes where every init_app reads it: see portal.limits.init_app.
limiter = Limiter(
    key_func=get_remote_address,
    key_prefix="portal",
    # Check every limit of a route, so Retry-After names the longest wait, not the first.
    fail_on_first_breach=False,
)


@functools.cache
def redis_client(url: str) -> Redis:
    """One Redis client, and so one connection pool, per process and URL."""
    from redis import Redis

    return Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
