"""Checking what people type into ideas and comments: one set of rules for everyone who writes."""

from __future__ import annotations

from dataclasses import dataclass

from portal.models import Category
from portal.services import catalog
from portal.services.errors import InvalidFields, InvalidInput
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


def long_text(text: str | None) -> str:
    """Text of several lines as it is stored and counted: without control characters, with
    one kind of line break (browsers send CRLF, and count a line break as one character),
    and without spaces around it."""
    return without_control_characters((text or "").replace("\r\n", "\n")).strip()


def too_long(length: int, limit: int, what: str = "This") -> str:
    """The refusal of text over its limit: how long it is, and that it is kept to shorten.

    Text is never cut to fit: a person would lose what they wrote without knowing.
    """
    return (
        f"{what} has {length:,} characters; the limit is {limit:,}. "
        "Shorten it and send it again: what you wrote is still here."
    )


def title_problem(title: str | None) -> str | None:
    """What is wrong with an idea's title, or None."""
    title = clean_line(title)
    if not visible_length(title) or len(title) < TITLE_MIN:
        return f"Give the idea a title of {TITLE_MIN} to {TITLE_MAX} characters."
    if len(title) > TITLE_MAX:
        return too_long(len(title), TITLE_MAX, "The title") + (
            " The details belong in the problem below."
        )
    return None


def text_problem(text: str | None, *, limit: int, missing: str | None = None) -> str | None:
    """What is wrong with a long text, or None: empty where it is needed, or over its limit."""
    text = long_text(text)
    if not text:
        return missing
    if len(text) > limit:
        return too_long(len(text), limit)
    return None


PROBLEM_MISSING = "Describe the problem this idea solves for you."
COMMENT_MISSING = "Write something before posting."


def clean_idea_text(title: str, problem: str, solution: str) -> IdeaText:
    """The text of an idea as it will be stored.

    InvalidFields names every field that is wrong, so all are shown at once.
    """
    found = {
        "title": title_problem(title),
        "problem": text_problem(problem, limit=TEXT_MAX, missing=PROBLEM_MISSING),
        "solution": text_problem(solution, limit=TEXT_MAX),
    }
    problems = {name: message for name, message in found.items() if message}
    if problems:
        raise InvalidFields(problems)
    return IdeaText(
        title=clean_line(title), problem=long_text(problem), solution=long_text(solution)
    )


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
    problem = text_problem(body, limit=BODY_MAX, missing=COMMENT_MISSING)
    if problem:
        raise InvalidInput(problem, field="body")
    return long_text(body)
