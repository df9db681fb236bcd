"""The base class of every model: Flask-SQLAlchemy's db.Model, as type checkers can see it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from portal.extensions import Base, db

if TYPE_CHECKING:
    # db.Model is made at run time from Base, so mypy cannot take it for a class; what it adds
    # (a query property and automatic table names) is nothing the portal uses.
    Model = Base
else:
    Model = db.Model

__all__ = ["Model"]
