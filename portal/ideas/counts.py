"""What a vote's JSON answer says: every count of the idea that a page shows, in its words."""

from __future__ import annotations

from typing import Any

from flask import get_template_attribute

from portal.models import Idea
from portal.services import idea_lists, votes


def vote_answer(idea: Idea, user: Any, *, voted: bool | None = None) -> dict[str, Any]:
    """The idea's counts after a vote, for vote.js to update the whole page.

    `live` holds the text of each element marked data-live="<name>" data-idea="<id>", made by
    the same macros (templates/ideas/_counts.html) as the page, so the words never differ.
    `voted`: whether the person's vote counts now, when the caller knows it already.
    """
    people, organisations = idea_lists.supporter_summary(idea)
    if voted is None:
        voted = votes.has_voted(idea, user)

    def text(name: str, *args: object) -> str:
        return str(get_template_attribute("ideas/_counts.html", name)(*args))

    return {
        "idea_id": idea.id,
        "voted": voted,
        "vote_count": idea.vote_count,
        "organisations": organisations,
        "live": {
            "supporters": text("supporters", people, organisations),
            "organisations": text("organisations", organisations),
            "you-voted": text("you_voted", voted),
        },
    }
