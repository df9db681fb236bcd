"""The API's operations. Each goes through the same services as the site's pages, so every rule
(permissions, visibility, validation, rate limits, audit, notifications, emails) holds alike."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Response
from sqlalchemy import select

from portal import limits
from portal.api import core, schemas
from portal.api.core import ApiError, acting_user, caller, operation, viewer
from portal.cache import touching
from portal.extensions import db
from portal.mail.compose import external_url
from portal.models import Board, Category, Follow, Idea, Stage, StageChange, User
from portal.models import Comment as CommentRow
from portal.models import OutcomeAnswer as OutcomeAnswerRow
from portal.permissions import can_read_verdicts, can_submit_idea, can_triage, is_signed_in, require
from portal.services import (
    audit_log,
    boards,
    catalog,
    comments,
    idea_lists,
    ideas,
    on_behalf,
    organisations,
    outcomes,
    pipeline,
    votes,
)
from portal.services import roadmap as roadmap_service
from portal.services.search import search_ideas
from portal.web import client_ip

IDEAS = "Ideas"
CONVERSATION = "Votes, follows and comments"
CATALOGUE = "Stages, categories and boards"
ACCOUNT = "Account"

NOT_FOUND = (404,)
WRITE_ERRORS = (404, 409, 422, 429)


# --- Turning rows into answers ---------------------------------------------------------------


def person_ref(user: Any) -> schemas.PersonRef | None:
    return schemas.PersonRef(id=user.id, name=user.display_name) if user is not None else None


def stage_ref(stage: Stage) -> schemas.StageRef:
    return schemas.StageRef(slug=stage.slug, name=stage.name, is_closed=stage.is_closed)


def idea_models(rows: list[Idea]) -> list[schemas.Idea]:
    who = viewer()
    signed_in = is_signed_in(who)
    ids = [idea.id for idea in rows]
    # The authors in one query: lists load ideas without them, and reading idea.author would
    # be a query for each.
    wanted = {idea.author_id for idea in rows if idea.author_id is not None}
    found = db.session.scalars(select(User).where(User.id.in_(wanted))) if wanted else ()
    authors = {user.id: user for user in found}
    voted = idea_lists.voted_ids(who, ids) if signed_in else set()
    following: set[int] = set()
    if signed_in and ids:
        following = set(
            db.session.scalars(
                select(Follow.idea_id).where(Follow.user_id == who.id, Follow.idea_id.in_(ids))
            )
        )
    return [
        schemas.Idea(
            id=idea.id,
            title=idea.title,
            problem=idea.problem,
            solution=idea.solution,
            url=external_url("ideas.detail", idea_id=idea.id),
            stage=stage_ref(idea.stage),
            category=schemas.CategoryRef(id=idea.category.id, name=idea.category.name)
            if idea.category
            else None,
            board=schemas.BoardRef(slug=idea.board.slug, name=idea.board.name),
            author=person_ref(authors.get(idea.author_id)) if idea.author_id else None,
            is_team_concept=idea.is_team_concept,
            vote_count=idea.vote_count,
            comment_count=idea.comment_count,
            voting_open=idea.voting_open,
            created_at=idea.created_at,
            edited_at=idea.edited_at,
            last_activity_at=idea.last_activity_at,
            timeframe=idea.timeframe,
            merged_into=idea.merged_into_id,
            hidden=idea.hidden_at is not None,
            voted=(idea.id in voted) if signed_in else None,
            following=(idea.id in following) if signed_in else None,
        )
        for idea in rows
    ]


def idea_model(idea: Idea) -> schemas.Idea:
    return idea_models([idea])[0]


def find_idea(idea_id: int) -> Idea:
    """The idea if the key's person may see it; 404 otherwise, exactly as for a missing one."""
    try:
        return ideas.get_idea(idea_id, viewer=viewer())
    except ideas.IdeaNotFound:
        raise ApiError(404, "There is no such idea, or this key may not see it.") from None


def _board_by_slug(slug: str, *, in_query: bool) -> Board:
    """The board this key's person may see; a query parameter naming another is a bad request
    (400), a body field a field that is not valid (422)."""
    board = boards.board_by_slug(slug, viewer=viewer())
    if board is None:
        raise ApiError(
            400 if in_query else 422,
            f"There is no board '{slug}'.",
            errors=[core.FieldProblem(field="board", message="No such board.")],
            kind="invalid-parameters" if in_query else "invalid-fields",
        )
    return board


# --- Ideas -----------------------------------------------------------------------------------


def _number_cursor(cursor: str | None, *, maximum: int = 100_000) -> int:
    """The number a cursor of ours holds: an offset into a list, or the last id on a page."""
    if cursor is None:
        return 0
    try:
        number = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        number = -1
    if not 0 <= number <= maximum:
        raise ApiError(400, "This cursor is not one the API gave.", kind="invalid-cursor")
    return number


def _id_after(cursor: str | None) -> int:
    return _number_cursor(cursor, maximum=2**31 - 1)


def _encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


@operation(
    "GET",
    "/ideas",
    summary="List ideas",
    tag=IDEAS,
    scope=None,
    query=schemas.IdeaListQuery,
    response=schemas.IdeaList,
    errors=(400,),
)
def list_ideas(query: schemas.IdeaListQuery) -> schemas.IdeaList:
    """The ideas the key's person may see (anyone's public ones without a key), sorted and
    filtered as on the site, a page at a time: pass `next_cursor` back as `cursor`. With `q`,
    the ideas matching every word, best match first, and how many match (`sort`, `stage`,
    `category` and the personal filters then do not apply; `board` does)."""
    board = _board_by_slug(query.board, in_query=True) if query.board else None
    if query.q is not None:
        offset = _number_cursor(query.cursor)
        found = search_ideas(
            query.q,
            viewer=viewer(),
            limit=query.limit,
            offset=offset,
            board_id=board.id if board else None,
        )
        rows = [hit.idea for hit in found.hits]
        more = offset + len(rows) < found.total and bool(rows)
        return schemas.IdeaList(
            data=idea_models(rows),
            next_cursor=_encode_offset(offset + len(rows)) if more else None,
            total=found.total,
        )
    slugs = {stage.slug for stage in catalog.stages()}
    if query.stage not in {"open", "closed", "all"} | slugs:
        raise ApiError(
            400,
            f"There is no stage '{query.stage}'.",
            errors=[core.FieldProblem(field="stage", message="open, closed, all or a slug.")],
            kind="invalid-parameters",
        )
    filters = idea_lists.IdeaFilters(
        sort=query.sort,
        stage=query.stage,
        category_id=query.category,
        mine=query.mine,
        voted=query.voted,
        following=query.following,
        board_id=board.id if board else None,
    )
    try:
        page = idea_lists.list_ideas(
            filters, viewer=viewer(), after=query.cursor, per_page=query.limit
        )
    except ValueError:
        raise ApiError(
            400, "This cursor is not one the API gave for this sort.", kind="invalid-cursor"
        ) from None
    return schemas.IdeaList(data=idea_models(page.ideas), next_cursor=page.next_cursor)


@operation(
    "GET",
    "/ideas/{idea_id}",
    summary="Get an idea",
    tag=IDEAS,
    scope=None,
    response=schemas.Idea,
    errors=NOT_FOUND,
)
def get_idea(idea_id: int) -> schemas.Idea:
    """One idea, if the key's person may see it."""
    return idea_model(find_idea(idea_id))


@operation(
    "POST",
    "/ideas",
    summary="Submit an idea",
    tag=IDEAS,
    scope="write",
    body=schemas.NewIdea,
    response=schemas.Idea,
    status=201,
    errors=(403, 409, 422, 429),
    limit=limits.per_person_limit("LIMIT_IDEAS", new_accounts="LIMIT_IDEAS_NEW_ACCOUNT"),
)
def create_idea(body: schemas.NewIdea) -> Response:
    """Post an idea as the key's person, who votes for it and follows it. As on the site, a
    newcomer's first idea may wait for a moderator (`hidden` is then true)."""
    author = acting_user()
    require(can_submit_idea(author))
    board = _board_by_slug(body.board, in_query=False) if body.board else None
    idea = ideas.submit_idea(
        author=author,
        title=body.title,
        problem=body.problem,
        solution=body.solution,
        category_id=body.category_id,
        board=board,
    )
    db.session.commit()
    limits.counted()
    response = core.json_response(idea_model(idea), 201)
    response.headers["Location"] = external_url("api.get_idea", idea_id=idea.id)
    return response


@operation(
    "PATCH",
    "/ideas/{idea_id}",
    summary="Edit an idea",
    tag=IDEAS,
    scope="write",
    body=schemas.IdeaChanges,
    response=schemas.Idea,
    errors=(403, 404, 409, 412, 422),
)
def edit_idea(idea_id: int, body: schemas.IdeaChanges) -> schemas.Idea:
    """Change an idea's text or category, as its author (or the team) may on the site; the
    earlier text is kept. Send `If-Match` with the ETag you read to refuse a lost update."""
    idea = find_idea(idea_id)
    core.check_if_match(lambda: idea_model(idea))
    sent = body.model_fields_set
    ideas.edit_idea(
        idea,
        actor=acting_user(),
        title=body.title if "title" in sent and body.title is not None else idea.title,
        problem=body.problem if "problem" in sent and body.problem is not None else idea.problem,
        solution=body.solution
        if "solution" in sent and body.solution is not None
        else idea.solution,
        category_id=body.category_id if "category_id" in sent else idea.category_id,
    )
    db.session.commit()
    return idea_model(idea)


# --- Votes and follows -----------------------------------------------------------------------


def _vote_state(idea: Idea) -> schemas.VoteState:
    """The idea's count and the person's vote as they are now (the commit expired both)."""
    db.session.refresh(idea)
    return schemas.VoteState(
        idea_id=idea.id,
        voted=bool(idea_lists.voted_ids(acting_user(), [idea.id])),
        vote_count=idea.vote_count,
    )


@operation(
    "PUT",
    "/ideas/{idea_id}/vote",
    summary="Vote for an idea",
    tag=CONVERSATION,
    scope="write",
    response=schemas.VoteState,
    errors=(403, 404, 409, 429),
    limit=limits.per_person_limit("LIMIT_VOTES"),
)
def cast_vote(idea_id: int) -> schemas.VoteState:
    """The key's person votes for the idea (and follows it). Voting twice changes nothing."""
    idea = find_idea(idea_id)
    with touching(idea.id):
        if votes.cast_vote(idea, acting_user()):
            limits.counted()
        db.session.commit()
    return _vote_state(idea)


@operation(
    "DELETE",
    "/ideas/{idea_id}/vote",
    summary="Withdraw a vote",
    tag=CONVERSATION,
    scope="write",
    response=schemas.VoteState,
    errors=(403, 404, 409),
)
def withdraw_vote(idea_id: int) -> schemas.VoteState:
    """The key's person withdraws their vote; withdrawing none changes nothing."""
    idea = find_idea(idea_id)
    with touching(idea.id):
        votes.withdraw_vote(idea, acting_user())
        db.session.commit()
    return _vote_state(idea)


def _follow_state(idea_id: int, following: bool) -> schemas.FollowState:
    return schemas.FollowState(idea_id=idea_id, following=following)


@operation(
    "PUT",
    "/ideas/{idea_id}/follow",
    summary="Follow an idea",
    tag=CONVERSATION,
    scope="write",
    response=schemas.FollowState,
    errors=(403, 404),
)
def follow_idea(idea_id: int) -> schemas.FollowState:
    """The key's person is notified of the idea's news from now on."""
    idea = find_idea(idea_id)
    require(is_signed_in(acting_user()))
    with touching(idea.id):
        votes.follow(idea, acting_user())
        db.session.commit()
    return _follow_state(idea_id, True)


@operation(
    "DELETE",
    "/ideas/{idea_id}/follow",
    summary="Stop following an idea",
    tag=CONVERSATION,
    scope="write",
    response=schemas.FollowState,
    errors=(403, 404),
)
def unfollow_idea(idea_id: int) -> schemas.FollowState:
    """No more news of the idea for the key's person."""
    idea = find_idea(idea_id)
    with touching(idea.id):
        votes.unfollow(idea, acting_user())
        db.session.commit()
    return _follow_state(idea_id, False)


# --- Comments --------------------------------------------------------------------------------


def comment_model(comment: CommentRow) -> schemas.Comment:
    return schemas.Comment(
        id=comment.id,
        idea_id=comment.idea_id,
        parent_id=comment.parent_id,
        author=person_ref(comment.author),
        body=comment.body,
        is_official=comment.is_official,
        created_at=comment.created_at,
        edited_at=comment.edited_at,
    )


@operation(
    "GET",
    "/ideas/{idea_id}/comments",
    summary="List an idea's comments",
    tag=CONVERSATION,
    scope=None,
    query=schemas.PageQuery,
    response=schemas.CommentList,
    errors=(400, 404),
)
def list_comments(idea_id: int, query: schemas.PageQuery) -> schemas.CommentList:
    """The conversation, oldest first, each reply after the comment it answers; deleted and
    hidden comments are left out as on the site."""
    idea = find_idea(idea_id)
    _official, threads = comments.conversation(idea, viewer=viewer())
    flat = [
        comment
        for thread in threads
        for comment in (thread.comment, *thread.replies)
        if comment.deleted_at is None
    ]
    offset = _number_cursor(query.cursor)
    page = flat[offset : offset + query.limit]
    more = offset + len(page) < len(flat)
    return schemas.CommentList(
        data=[comment_model(c) for c in page],
        next_cursor=_encode_offset(offset + len(page)) if more else None,
    )


@operation(
    "POST",
    "/ideas/{idea_id}/comments",
    summary="Comment on an idea",
    tag=CONVERSATION,
    scope="write",
    body=schemas.NewComment,
    response=schemas.Comment,
    status=201,
    errors=(403, 404, 409, 422, 429),
    limit=limits.per_person_limit("LIMIT_COMMENTS", new_accounts="LIMIT_COMMENTS_NEW_ACCOUNT"),
)
def create_comment(idea_id: int, body: schemas.NewComment) -> schemas.Comment:
    """Add a comment (or a reply, with `parent_id`) as the key's person; the idea's followers
    are notified as they are for a comment on the site."""
    idea = find_idea(idea_id)
    with touching(idea.id):
        comment = comments.add_comment(
            idea, author=acting_user(), body=body.body, parent_id=body.parent_id
        )
        db.session.commit()
    limits.counted()
    return comment_model(comment)


def find_comment(comment_id: int) -> CommentRow:
    """A comment still in the conversation, on an idea the key's person may see; 404 else."""
    comment = db.session.get(CommentRow, comment_id)
    if comment is not None and comment.hidden_at is None and comment.deleted_at is None:
        find_idea(comment.idea_id)
        return comment
    raise ApiError(404, "There is no such comment, or this key may not see it.")


@operation(
    "PATCH",
    "/comments/{comment_id}",
    summary="Correct a comment",
    tag=CONVERSATION,
    scope="write",
    body=schemas.CommentChanges,
    response=schemas.Comment,
    errors=(403, 404, 422),
)
def edit_comment(comment_id: int, body: schemas.CommentChanges) -> schemas.Comment:
    """Its author corrects a comment, within the short while the site allows."""
    comment = find_comment(comment_id)
    with touching(comment.idea_id):
        comments.edit_comment(comment, actor=acting_user(), body=body.body)
        db.session.commit()
    return comment_model(comment)


@operation(
    "DELETE",
    "/comments/{comment_id}",
    summary="Delete a comment",
    tag=CONVERSATION,
    scope="write",
    errors=(403, 404),
    status=204,
)
def delete_comment(comment_id: int) -> None:
    """Its author deletes a comment; where it has replies, a placeholder keeps the thread."""
    comment = find_comment(comment_id)
    with touching(comment.idea_id):
        comments.delete_comment(comment, actor=acting_user())
        db.session.commit()


# --- Stages, moves, categories, boards -------------------------------------------------------


@operation(
    "GET",
    "/stages",
    summary="List the stages",
    tag=CATALOGUE,
    scope=None,
    response=schemas.StageList,
)
def list_stages() -> schemas.StageList:
    """The stages an idea goes through, in order, each with what it means for customers and
    how soon they hear back."""
    return schemas.StageList(
        data=[
            schemas.Stage(
                slug=s.slug,
                name=s.name,
                description=s.description,
                is_closed=s.is_closed,
                voting_allowed=s.voting_allowed,
                response_days=s.response_days,
                position=s.position,
            )
            for s in catalog.stages()
        ]
    )


def move_model(change: StageChange) -> schemas.Move:
    return schemas.Move(
        id=change.id,
        idea_id=change.idea_id,
        from_stage=stage_ref(change.from_stage) if change.from_stage else None,
        to_stage=stage_ref(change.to_stage),
        note=change.note,
        actor=person_ref(change.actor),
        created_at=change.created_at,
    )


@operation(
    "GET",
    "/ideas/{idea_id}/moves",
    summary="List an idea's moves",
    tag=CATALOGUE,
    scope=None,
    response=schemas.MoveList,
    errors=NOT_FOUND,
)
def list_moves(idea_id: int) -> schemas.MoveList:
    """Every stage the idea went through, oldest first, with the note its followers got."""
    idea = find_idea(idea_id)
    rows = db.session.scalars(
        select(StageChange)
        .where(StageChange.idea_id == idea.id)
        .order_by(StageChange.created_at, StageChange.id)
    )
    return schemas.MoveList(data=[move_model(row) for row in rows])


@operation(
    "POST",
    "/ideas/{idea_id}/moves",
    summary="Move an idea to another stage",
    tag=CATALOGUE,
    scope="team",
    body=schemas.NewMove,
    response=schemas.Move,
    status=201,
    errors=(403, 404, 409, 422),
)
def create_move(idea_id: int, body: schemas.NewMove) -> schemas.Move:
    """Move the idea, with the public note that every follower is sent (and, into a closing
    stage, the question whether it met their need). Only the pipeline's allowed moves."""
    idea = find_idea(idea_id)
    stage = catalog.stage_by_slug(body.stage)
    if stage is None or stage.retired:
        raise ApiError(
            422,
            f"There is no stage '{body.stage}'.",
            errors=[core.FieldProblem(field="stage", message="No such stage.")],
            kind="invalid-fields",
        )
    pipeline.move_stage(idea, stage, actor=acting_user(), note=body.note, ip=client_ip())
    db.session.commit()
    change = db.session.scalars(
        select(StageChange)
        .where(StageChange.idea_id == idea_id)
        .order_by(StageChange.id.desc())
        .limit(1)
    ).one()
    return move_model(change)


@operation(
    "GET",
    "/categories",
    summary="List the categories",
    tag=CATALOGUE,
    scope=None,
    response=schemas.CategoryList,
)
def list_categories() -> schemas.CategoryList:
    """The categories new ideas may be filed under."""
    rows: list[Category] = catalog.active_categories()
    return schemas.CategoryList(
        data=[schemas.Category(id=c.id, name=c.name, description=c.description) for c in rows]
    )


@operation(
    "GET",
    "/boards",
    summary="List the boards",
    tag=CATALOGUE,
    scope=None,
    response=schemas.BoardList,
)
def list_boards() -> schemas.BoardList:
    """The boards the key's person may see."""
    rows = boards.visible_boards(viewer())
    return schemas.BoardList(
        data=[
            schemas.Board(
                slug=b.slug,
                name=b.name,
                description=b.description,
                audience=b.audience,
                posting_open=b.posting_open,
                voting_open=b.voting_open,
            )
            for b in rows
        ]
    )


@operation(
    "GET",
    "/roadmap",
    summary="The roadmap",
    tag=IDEAS,
    scope=None,
    response=schemas.Roadmap,
)
def get_roadmap() -> schemas.Roadmap:
    """What the team plans and builds, by stage, as the roadmap page shows it."""
    columns = roadmap_service.roadmap(viewer())
    stages = {stage.slug: stage for stage in catalog.stages()}
    return schemas.Roadmap(
        columns=[
            schemas.RoadmapColumn(stage=stage_ref(stages[slug]), ideas=idea_models(rows))
            for slug, rows in columns.items()
            if slug in stages
        ]
    )


# --- Account ---------------------------------------------------------------------------------


@operation("GET", "/me", summary="Who this key is", tag=ACCOUNT, response=schemas.Me)
def me() -> schemas.Me:
    """The key's person and what the key may do now (never more than their role allows)."""
    user = acting_user()
    return schemas.Me(
        id=user.id,
        name=user.display_name,
        email=user.email,
        role=user.role,
        scopes=sorted(caller().scopes, key=core.SCOPES.index),
    )


# --- The team's side: organisations, people, votes on behalf ---------------------------------

TEAM = "The team's side"


def _organisation_model(row: organisations.OrganisationRow) -> schemas.Organisation:
    org = row.organisation
    return schemas.Organisation(
        id=org.id,
        name=org.name,
        domains=[d.domain for d in org.domains],
        plan=org.plan,
        segment=org.segment,
        annual_value=org.annual_value,
        members=row.members,
        ideas=row.ideas,
        votes=row.votes,
        created_at=org.created_at,
    )


@operation(
    "GET",
    "/organisations",
    summary="List organisations",
    tag=TEAM,
    scope="team",
    response=schemas.OrganisationList,
)
def list_organisations() -> schemas.OrganisationList:
    """Every customer organisation, with its domains, people, ideas and votes."""
    rows = organisations.overview(viewer=acting_user())
    return schemas.OrganisationList(data=[_organisation_model(row) for row in rows])


@operation(
    "GET",
    "/organisations/{organisation_id}",
    summary="Get an organisation",
    tag=TEAM,
    scope="team",
    response=schemas.Organisation,
    errors=NOT_FOUND,
)
def get_organisation(organisation_id: int) -> schemas.Organisation:
    """One organisation, with its domains, people, ideas and votes."""
    for row in organisations.overview(viewer=acting_user()):
        if row.organisation.id == organisation_id:
            return _organisation_model(row)
    raise ApiError(404, "There is no such organisation.")


def person_model(user: User) -> schemas.Person:
    org = user.organisation
    return schemas.Person(
        id=user.id,
        name=user.display_name,
        email=user.email,
        role=user.role,
        organisation=schemas.OrganisationRef(id=org.id, name=org.name) if org else None,
        created_at=user.created_at,
        suspended=user.suspended_at is not None,
        email_verified=user.email_verified_at is not None,
    )


@operation(
    "GET",
    "/people",
    summary="List people",
    tag=TEAM,
    scope="team",
    query=schemas.PeopleQuery,
    response=schemas.PersonList,
    errors=(400,),
)
def list_people(query: schemas.PeopleQuery) -> schemas.PersonList:
    """Everyone with an account, oldest first (or the one with `email`)."""
    require(can_triage(acting_user()))
    after = _id_after(query.cursor)
    stmt = select(User).where(User.id > after).order_by(User.id).limit(query.limit + 1)
    if query.email is not None:
        stmt = stmt.where(User.email == query.email.strip().lower())
    rows = list(db.session.scalars(stmt).unique())
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return schemas.PersonList(
        data=[person_model(user) for user in rows],
        next_cursor=_encode_offset(rows[-1].id) if more else None,
    )


@operation(
    "GET",
    "/people/{person_id}",
    summary="Get a person",
    tag=TEAM,
    scope="team",
    response=schemas.Person,
    errors=NOT_FOUND,
)
def get_person(person_id: int) -> schemas.Person:
    """One person with an account."""
    require(can_triage(acting_user()))
    user = db.session.get(User, person_id)
    if user is None:
        raise ApiError(404, "There is no such person.")
    return person_model(user)


@operation(
    "POST",
    "/ideas/{idea_id}/votes-on-behalf",
    summary="Add a customer's vote on their behalf",
    tag=TEAM,
    scope="team",
    body=schemas.VoteOnBehalf,
    response=schemas.VoteState,
    status=201,
    errors=(404, 409, 422),
)
def vote_on_behalf(idea_id: int, body: schemas.VoteOnBehalf) -> schemas.VoteState:
    """A customer asked for the idea in a call, a ticket or a meeting: their vote is counted,
    they follow the idea and are told, and the team sees where it came from."""
    idea = find_idea(idea_id)
    person = db.session.scalar(select(User).where(User.email == body.email.strip().lower()))
    if person is None:
        raise ApiError(
            422,
            f"Nobody has an account with the address {body.email}.",
            errors=[core.FieldProblem(field="email", message="No such person.")],
            kind="invalid-fields",
        )
    with touching(idea.id):
        on_behalf.add_vote_for_person(
            idea, person, source=body.source, quote=body.quote, actor=acting_user(), ip=client_ip()
        )
        db.session.commit()
    db.session.refresh(idea)
    return schemas.VoteState(idea_id=idea.id, voted=True, vote_count=idea.vote_count)


# --- Outcomes --------------------------------------------------------------------------------


def _answer_model(row: OutcomeAnswerRow | None) -> schemas.OutcomeAnswer | None:
    if row is None:
        return None
    return schemas.OutcomeAnswer(
        idea_id=row.idea_id, answer=row.answer, comment=row.comment, answered_at=row.updated_at
    )


def _outcome(idea: Idea) -> schemas.Outcome:
    who = viewer()
    counts = None
    if can_read_verdicts(who) and "team" in caller().scopes:
        counts = outcomes.verdicts(idea, viewer=who).counts
    return schemas.Outcome(
        idea_id=idea.id,
        asked=outcomes.is_asked(idea),
        own_answer=_answer_model(outcomes.own_answer(idea, who)),
        counts=counts,
    )


@operation(
    "GET",
    "/ideas/{idea_id}/outcome",
    summary="What the people who asked said",
    tag=CONVERSATION,
    scope=None,
    response=schemas.Outcome,
    errors=NOT_FOUND,
)
def get_outcome(idea_id: int) -> schemas.Outcome:
    """Whether the people who asked are being asked if the outcome met their need, the key's
    person's own answer, and (team keys) the answers by kind."""
    return _outcome(find_idea(idea_id))


@operation(
    "PUT",
    "/ideas/{idea_id}/outcome",
    summary="Say whether the outcome met your need",
    tag=CONVERSATION,
    scope="write",
    body=schemas.NewOutcomeAnswer,
    response=schemas.Outcome,
    errors=(403, 404, 422),
)
def answer_outcome(idea_id: int, body: schemas.NewOutcomeAnswer) -> schemas.Outcome:
    """Once an idea is shipped or declined, each of its followers may answer yes, partly or no
    (and change their answer); the team reads the answers."""
    idea = find_idea(idea_id)
    outcomes.answer_outcome(idea, acting_user(), answer=body.answer, comment=body.comment)
    db.session.commit()
    return _outcome(idea)


# --- Administration --------------------------------------------------------------------------


@operation(
    "GET",
    "/audit-events",
    summary="Read the audit log",
    tag="Administration",
    scope="admin",
    query=schemas.AuditQuery,
    response=schemas.AuditEventList,
    errors=(400,),
)
def list_audit_events(query: schemas.AuditQuery) -> schemas.AuditEventList:
    """Who did what and when, newest first, each event with its sentence: for a security
    system to keep. Pass `next_cursor` back as `cursor` for older events."""
    before = _id_after(query.cursor) if query.cursor else None
    rows = audit_log.newest(
        audit_log.AuditFilters(action=query.action),
        viewer=acting_user(),
        before_id=before,
        limit=query.limit + 1,
    )
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return schemas.AuditEventList(
        data=[
            schemas.AuditEvent(
                id=entry.event.id,
                created_at=entry.event.created_at,
                action=entry.event.action,
                sentence=entry.sentence,
                actor=schemas.PersonRef(id=entry.event.actor_id, name=entry.event.actor_name or "")
                if entry.event.actor_id is not None
                else None,
                target_type=entry.event.target_type,
                target_id=entry.event.target_id,
                ip=entry.event.ip,
            )
            for entry in rows
        ],
        next_cursor=_encode_offset(rows[-1].event.id) if more else None,
    )
