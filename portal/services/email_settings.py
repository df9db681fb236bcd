"""A person's email settings: their choices per kind, and acting on the links in a message."""

from __future__ import annotations

from portal.mail.preferences import (
    ALL,
    DELIVERIES,
    KINDS,
    OFF,
    outcome_link,
    save_preference,
    unsubscribe_link,
)
from portal.models import Idea, User
from portal.services.errors import InvalidInput, InvalidToken


def set_preferences(user: User, choices: dict[str, str]) -> None:
    """Save the person's delivery for each kind named; InvalidInput for anything unknown."""
    for kind, delivery in choices.items():
        if kind not in KINDS:
            raise InvalidInput("That is not a kind of email we send.")
        if delivery not in DELIVERIES:
            raise InvalidInput("Choose at once, daily or off.", field=kind)
        save_preference(user, kind, delivery)


def read_unsubscribe_token(token: str) -> tuple[User, str]:
    """The person and kind (or ALL) a link from a message turns off."""
    found = unsubscribe_link(token)
    if found is None:
        raise InvalidToken(
            "This unsubscribe link is not valid. Change your email settings instead."
        )
    return found


def unsubscribe(user: User, kind: str) -> None:
    for each in KINDS if kind == ALL else (kind,):
        save_preference(user, each, OFF)


def read_outcome_token(token: str) -> tuple[User, Idea, str]:
    """The person, idea and answer a "did it meet your need?" link stands for."""
    found = outcome_link(token)
    if found is None:
        raise InvalidToken("This link is not valid. Open the idea to answer.")
    return found
