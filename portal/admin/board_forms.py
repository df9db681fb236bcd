"""The form an admin fills in to create or change a board, and the choices it ticks."""

from __future__ import annotations

from collections.abc import Iterable

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, RadioField, StringField, TextAreaField
from wtforms.validators import InputRequired

from portal.forms import text_limit
from portal.models import Board
from portal.models.board import AUDIENCE_LABELS
from portal.services import board_admin
from portal.services.board_admin import BoardDraft
from portal.web import parse_number

# The ticked organisations, categories and stages arrive as lists of ids under these names.
CHOICE_LISTS = ("organisation_ids", "category_ids", "stage_ids")


class BoardForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[InputRequired(message="Give the board a name."), text_limit(60)],
        render_kw={"autocomplete": "off"},
    )
    slug = StringField(
        "Address",
        description="Lower-case letters, digits and hyphens: the board lives at /boards/<address>. "
        "Leave it empty to make one from the name.",
        validators=[text_limit(board_admin.SLUG_MAX)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    description = TextAreaField(
        "Description",
        description="Shown at the top of the board: what belongs here and who it is for. "
        "Markdown works: **bold**, lists and links.",
        validators=[text_limit(board_admin.DESCRIPTION_MAX)],
        render_kw={"rows": 4},
    )
    audience = RadioField(
        "Who may see it",
        choices={a.value: label for a, label in AUDIENCE_LABELS.items()},
        validators=[InputRequired(message="Choose who may see the board.")],
    )
    domains = TextAreaField(
        "Email domains",
        description="People whose confirmed address is at one of these domains see the board. "
        "One per line or separated by commas, such as example.com (without the @).",
        validators=[text_limit(2000)],
        render_kw={"rows": 2, "autocomplete": "off", "spellcheck": "false"},
    )
    posting_open = BooleanField("Customers may post new ideas here")
    voting_open = BooleanField("Customers may vote on its ideas")

    def draft(self, chosen: dict[str, set[int]]) -> BoardDraft:
        return BoardDraft(
            name=self.name.data or "",
            slug=self.slug.data or "",
            description=self.description.data or "",
            audience=self.audience.data or "",
            organisation_ids=frozenset(chosen["organisation_ids"]),
            domains=self.domains.data or "",
            category_ids=frozenset(chosen["category_ids"]),
            stage_ids=frozenset(chosen["stage_ids"]),
            posting_open=bool(self.posting_open.data),
            voting_open=bool(self.voting_open.data),
        )


def board_data(board: Board | None) -> dict[str, object]:
    """A new board's defaults, or the board as it is."""
    if board is None:
        return {"audience": "public", "posting_open": True, "voting_open": True}
    return {
        "name": board.name,
        "slug": board.slug,
        "description": board.description,
        "audience": board.audience,
        "domains": "\n".join(d.domain for d in board.domains),
        "posting_open": board.posting_open,
        "voting_open": board.voting_open,
    }


def board_choices(board: Board | None) -> dict[str, set[int]]:
    """The organisations, categories and stages a board has ticked now."""
    if board is None:
        return {name: set() for name in CHOICE_LISTS}
    return {
        "organisation_ids": {o.id for o in board.organisations},
        "category_ids": {c.id for c in board.categories},
        "stage_ids": {s.id for s in board.stages if not s.is_merged_stage},
    }


def posted_choices(form: MultiDict[str, str]) -> dict[str, set[int]]:
    return {name: _ids(form.getlist(name)) for name in CHOICE_LISTS}


def _ids(values: Iterable[str]) -> set[int]:
    return {n for n in (parse_number(v) for v in values) if n}
