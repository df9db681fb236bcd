"""Closing the loop: the people who asked for an idea judge whether its outcome met their need."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from portal import visibility
from portal.extensions import db
from portal.models import (
    OUTCOME_ANSWERS,
    Follow,
    Idea,
    NotificationKind,
    OutcomeAnswer,
    Stage,
    User,
)
from portal.models.types import utcnow
from portal.permissions import can_read_verdicts, is_signed_in, require
from portal.services import inbox, webhooks
from portal.services.errors import InvalidInput
from portal.services.validation import long_text, too_long

ASKED_STAGES = ("shipped", "declined")
ANSWERS = OUTCOME_ANSWERS
COMMENT_MAX = 2_000


def is_asked(idea: Idea) -> bool:
    return idea.stage.slug in ASKED_STAGES and idea.hidden_at is None


def can_answer(user: Any, idea: Idea) -> bool:
    """Followers of a shipped or declined idea (authors and voters follow automatically)."""
    if not is_signed_in(user) or not is_asked(idea) or not visibility.can_see_idea(user, idea):
        return False
    return (
        db.session.scalar(
            select(Follow.user_id).where(Follow.idea_id == idea.id, Follow.user_id == user.id)
        )
        is not None
    )


def answer_outcome(idea: Idea, user: User, *, answer: str, comment: str = "") -> OutcomeAnswer:
    """Record or change a person's verdict; one per person per idea."""
    require(can_answer(user, idea))
    if answer not in ANSWERS:
        raise InvalidInput("Choose Yes, Partly or No.")
    comment = long_text(comment)
    if len(comment) > COMMENT_MAX:
        raise InvalidInput(too_long(len(comment), COMMENT_MAX), field="comment")
    row = own_answer(idea, user)
    if row is None:
        row = OutcomeAnswer(idea_id=idea.id, user_id=user.id, answer=answer, comment=comment)
        db.session.add(row)
    else:
        row.answer, row.comment, row.updated_at = answer, comment, utcnow()
    # The question is answered: it no longer waits in the person's notifications.
    inbox.mark_read_about(user, idea, kind=NotificationKind.OUTCOME_QUESTION)
    webhooks.outcome_answered(idea, answer=answer, comment=comment)
    return row


def own_answer(idea: Idea, user: Any) -> OutcomeAnswer | None:
    if not is_signed_in(user):
        return None
    return db.session.scalar(
        select(OutcomeAnswer).where(
            OutcomeAnswer.idea_id == idea.id, OutcomeAnswer.user_id == user.id
        )
    )


@dataclass
class Verdicts:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ANSWERS, 0))
    answers: list[OutcomeAnswer] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def share(self, answer: str) -> int:
        return round(100 * self.counts[answer] / self.total) if self.total else 0


def verdicts(idea: Idea, *, viewer: User) -> Verdicts:
    """What the followers answered, for the team."""
    require(can_read_verdicts(viewer))
    result = Verdicts()
    result.answers = list(
        db.session.scalars(
            select(OutcomeAnswer)
            .where(OutcomeAnswer.idea_id == idea.id)
            .order_by(OutcomeAnswer.updated_at.desc())
        ).unique()
    )
    for row in result.answers:
        result.counts[row.answer] += 1
    return result


def satisfaction() -> Verdicts:
    """Answers over every closed idea, for the team's dashboard."""
    result = Verdicts()
    rows = db.session.execute(
        select(OutcomeAnswer.answer, func.count(OutcomeAnswer.id))
        .join(Idea, Idea.id == OutcomeAnswer.idea_id)
        .join(Stage, Stage.id == Idea.stage_id)
        .where(Stage.slug.in_(ASKED_STAGES))
        .group_by(OutcomeAnswer.answer)
    )
    for answer, count in rows:
        result.counts[answer] = count
    return result
