"""Ideas: submitting, editing and finding one, and the team's promise of an answer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from portal import visibility
from portal.extensions import db
from portal.models import Board, Idea, IdeaRevision, Stage, User
from portal.models.types import utcnow
from portal.permissions import (
    can_edit_idea,
    can_publish_concept,
    can_submit_idea,
    require,
    speaks_for_team,
)
from portal.services import abuse, board_pages, boards, catalog, trending, votes, webhooks
from portal.services.premoderation import needs_approval
from portal.services.validation import IdeaText, clean_category, clean_idea_text


class IdeaNotFound(Exception):
    pass


def _check_links(author: User, text: IdeaText) -> None:
    abuse.check_links(author, text.title, text.problem, text.solution, field="problem")


def submit_idea(
    *,
    author: User,
    title: str,
    problem: str,
    solution: str = "",
    category_id: int | str | None = None,
    as_concept: bool = False,
    board: Board | None = None,
) -> Idea:
    """Post an idea to a board (the first one unless named). Its author votes for it and
    follows it."""
    require(can_submit_idea(author))
    if as_concept:
        require(can_publish_concept(author))
    board = board or boards.default_board()
    require(boards.can_post_to(author, board))
    text = clean_idea_text(title, problem, solution)
    category = clean_category(category_id)
    board_pages.check_category(board, category)
    _check_links(author, text)
    abuse.check_idea_not_repeated(author, text.title, text.problem)
    now = utcnow()
    stage = catalog.initial_stage()
    # With pre-moderation on, a newcomer's idea waits, seen only by them and the team.
    held = not as_concept and needs_approval(author)
    idea = Idea(
        title=text.title,
        problem=text.problem,
        solution=text.solution,
        category=category,
        author_id=author.id,
        board=board,
        stage=stage,
        is_team_concept=as_concept,
        created_at=now,
        last_activity_at=now,
        # The team's own concept needs no answer from the team.
        first_response_at=now if as_concept else None,
        trending_score=trending.weight_at(trending.IDEA_WEIGHT, now),
        awaiting_approval=held,
    )
    if not as_concept:
        promise_next_answer(idea, stage, since=now)
    db.session.add(idea)
    db.session.flush()
    votes.follow(idea, author)  # their own idea: withdrawing their vote keeps them informed
    votes.cast_vote(idea, author)
    if held:
        idea.hidden_at = now  # after the author's own vote: nobody votes on hidden ideas
    webhooks.idea_created(idea)
    return idea


def edit_idea(
    idea: Idea,
    *,
    actor: User,
    title: str,
    problem: str,
    solution: str,
    category_id: int | str | None = None,
) -> None:
    """The author corrects their idea; the previous text is kept for the team."""
    require(can_edit_idea(actor, idea))
    text = clean_idea_text(title, problem, solution)
    # The idea's own category stays a valid choice even if it was retired since.
    category = clean_category(category_id, current=idea.category)
    if category != idea.category:  # a new choice must be one of its board's categories
        board_pages.check_category(idea.board, category)
    _check_links(actor, text)
    if not text.differs_from(idea.title, idea.problem, idea.solution) and category == idea.category:
        return
    db.session.add(
        IdeaRevision(
            idea_id=idea.id, title=idea.title, problem=idea.problem, solution=idea.solution
        )
    )
    idea.title, idea.problem, idea.solution = text.title, text.problem, text.solution
    idea.category = category
    idea.edited_at = utcnow()


def revisions(idea: Idea) -> list[IdeaRevision]:
    return list(
        db.session.scalars(
            select(IdeaRevision)
            .where(IdeaRevision.idea_id == idea.id)
            .order_by(IdeaRevision.created_at.desc(), IdeaRevision.id.desc())
        )
    )


def get_idea(idea_id: int, *, viewer: Any) -> Idea:
    """The idea if this person may see it; IdeaNotFound otherwise (hidden looks like missing)."""
    idea = db.session.get(Idea, idea_id)
    if idea is None or not visibility.can_see_idea(viewer, idea):
        raise IdeaNotFound
    return idea


def touch(idea: Idea, *, weight: float = 0.0) -> None:
    """Record activity on an idea: its 'recently updated' time and its trending score."""
    now = utcnow()
    values: dict[str, Any] = {"last_activity_at": now}
    if weight:
        values["trending_score"] = Idea.trending_score + trending.weight_at(weight, now)
    db.session.execute(update(Idea).where(Idea.id == idea.id).values(**values))


def promise_next_answer(idea: Idea, stage: Stage, *, since: datetime) -> None:
    """Set when customers can expect the team's next word: the stage's commitment from now."""
    days = stage.response_days
    idea.response_due_at = None if days is None or stage.is_closed else since + timedelta(days=days)


def record_team_response(idea: Idea, actor: User) -> None:
    """The team has answered: the author can no longer edit, and the next answer is due later."""
    if not speaks_for_team(actor):
        return
    now = utcnow()
    if idea.first_response_at is None:
        idea.first_response_at = now
    promise_next_answer(idea, idea.stage, since=now)
