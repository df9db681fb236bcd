"""Column types shared by the models."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database.

    PostgreSQL keeps the zone; SQLite has none, so values are stored as naive UTC and given
    their zone back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_told_time: ContextVar[datetime | None] = ContextVar("portal_told_time", default=None)


def utcnow() -> datetime:
    """Now, as a timezone-aware UTC datetime (the default of every timestamp column)."""
    told = _told_time.get()
    return told if told is not None else datetime.now(UTC)


@contextmanager
def clock_at(when: datetime) -> Iterator[None]:
    """Within the block, utcnow() is `when`: the demo data tells its history through the
    services, so every timestamp, promise and trending score is what it would have been."""
    token = _told_time.set(when)
    try:
        yield
    finally:
        _told_time.reset(token)
