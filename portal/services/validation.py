"""Checking what people type into ideas and comments: one set of rules for everyone who writes."""

from __future__ import annotations

from dataclasses import dataclass

from portal.models import Category
from portal.services import catalog
from portal.services.errors import InvalidInput
from portal.services.text import clean_line, visible_length, without_control_characters

TITLE_MIN, TITLE_MAX = 5, 120
TEXT_MAX = 20_000
BODY_MAX = 10_000


@dataclass(frozen=True)
class IdeaText:
    """An idea's title, problem and solution, checked and tidied."""

    title: str
    problem: str
    solution: str

    def differs_from(self, title: str, problem: str, solution: str) -> bool:
        return (self.title, self.problem, self.solution) != (title, problem, solution)


def clean_idea_text(title: str, problem: str, solution: str) -> IdeaText:
    """The text of an idea as it will be stored; InvalidInput names the field that is wrong."""
    title = clean_line(title)
    problem = without_control_characters(problem or "").strip()
    solution = without_control_characters(solution or "").strip()
    if not TITLE_MIN <= len(title) <= TITLE_MAX or not visible_length(title):
        raise InvalidInput(
            f"Give the idea a title of {TITLE_MIN} to {TITLE_MAX} characters.", field="title"
        )
    if not problem:
        raise InvalidInput("Describe the problem this idea solves for you.", field="problem")
    for name, text in (("problem", problem), ("solution", solution)):
        if len(text) > TEXT_MAX:
            raise InvalidInput(f"Keep this under {TEXT_MAX:,} characters.", field=name)
    return IdeaText(title=title, problem=problem, solution=solution)


def clean_category(
    category_id: int | str | None, *, current: Category | None = None
) -> Category | None:
    """The category an author chose: an active one, or `current` (the idea's own) even if retired.

    None only while there are no categories to choose from.
    """
    categories = catalog.active_categories()
    if current is not None and current not in categories:
        categories = [*categories, current]
    if category_id in (None, "", 0):
        if categories:
            raise InvalidInput("Choose the category that fits best.", field="category_id")
        return None
    category = next((c for c in categories if str(c.id) == str(category_id)), None)
    if category is None:
        raise InvalidInput("Choose one of the listed categories.", field="category_id")
    return category


def clean_comment_body(body: str) -> str:
    """A comment's text as it will be stored; InvalidInput if it is empty or too long."""
    body = without_control_characters(body or "").strip()
    if not body:
        raise InvalidInput("Write something before posting.", field="body")
    if len(body) > BODY_MAX:
        raise InvalidInput(f"Keep comments under {BODY_MAX:,} characters.", field="body")
    return body
