"""What a signed-out person meant to do when sent to sign in: vote, follow or comment.

For someone signed out, an idea's Vote and Follow buttons lead to sign-in (or sign-up) with
?intent=vote&idea=5. That page says what will happen ("Sign in to vote for “X”") and carries
the intent in its form, whose button says it too ("Sign in and vote"). Only that form's POST,
CSRF-protected and pressed by the person, carries the intent out: a GET never acts, and no
address alone makes anyone vote. Sign-up keeps the intent in the session (signed by the app's
key, so nobody edits it) until the emailed link is opened in the same browser; in another
browser the link still lands on the idea. A comment typed while signed out is kept as a draft
in the session and put back in the comment box: it is posted only when the person presses Post.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, ParamSpec

from flask import flash, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.extensions import db
from portal.models import Idea, User
from portal.permissions import can_comment, is_signed_in
from portal.services import ideas, votes
from portal.services.errors import DomainError
from portal.web import parse_number, wants_json

P = ParamSpec("P")

ACTIONS = ("vote", "follow", "comment")
_INTENT, _DRAFT = "intent", "comment_draft"
SESSION_KEYS = (_INTENT, _DRAFT)  # what signing in keeps from the signed-out session
DRAFT_MAX = 10_000  # a comment's own limit


@dataclass(frozen=True)
class Intent:
    action: str
    idea: Idea

    @property
    def what(self) -> str:
        """What the person is signing in to do, for a heading: "vote for “Dark mode”"."""
        title = f"“{self.idea.title}”"
        return {
            "vote": f"vote for {title}",
            "follow": f"follow {title}",
            "comment": f"post your comment on {title}",
        }[self.action]

    @property
    def button(self) -> str:
        """The verb the sign-in button adds: "Sign in and vote"."""
        return {"vote": "vote", "follow": "follow", "comment": "comment"}[self.action]

    @property
    def args(self) -> dict[str, Any]:
        """The query string that offers this intent on the sign-in and sign-up pages."""
        return {"intent": self.action, "idea": self.idea.id}


def offered(action: str | None, idea_id: str | int | None) -> Intent | None:
    """The intent named by a page's ?intent= and ?idea= (or the form fields they filled), if it
    names an action and an idea the person asking may see; None otherwise."""
    if action not in ACTIONS:
        return None
    number = parse_number(str(idea_id)) if idea_id is not None else None
    if not number:
        return None
    try:
        idea = ideas.get_idea(number, viewer=current_user)
    except ideas.IdeaNotFound:
        return None
    return Intent(action, idea)


def landing(intent: Intent) -> str:
    anchor = "conversation" if intent.action == "comment" else None
    return url_for("ideas.detail", idea_id=intent.idea.id, _anchor=anchor)


def keep_draft(idea: Idea, body: str) -> None:
    """Keep a comment typed while signed out, to put back in the box after signing in."""
    session[_DRAFT] = {"idea": idea.id, "body": body[:DRAFT_MAX]}


def draft_for(idea: Idea) -> str | None:
    """The kept draft for this idea, if any (it stays until posted or replaced)."""
    draft = session.get(_DRAFT)
    if isinstance(draft, dict) and draft.get("idea") == idea.id:
        body = draft.get("body")
        return body if isinstance(body, str) else None
    return None


def drop_draft(idea: Idea) -> None:
    if draft_for(idea) is not None:
        session.pop(_DRAFT, None)


def has_draft() -> bool:
    return _DRAFT in session


def remember(intent: Intent) -> None:
    """Keep an intent confirmed by a POST (sign-up) until the account is confirmed."""
    session[_INTENT] = {"action": intent.action, "idea": intent.idea.id}


def remembered(*, keep: bool = False) -> Intent | None:
    """Take the remembered intent out of the session (it is carried out at most once), or
    with keep=True only look at it."""
    kept = session.get(_INTENT) if keep else session.pop(_INTENT, None)
    if not isinstance(kept, dict):
        return None
    return offered(kept.get("action"), kept.get("idea"))


def kept_session() -> dict[str, Any]:
    """What signing in carries over from the signed-out session (see SESSION_KEYS)."""
    return {key: session[key] for key in SESSION_KEYS if key in session}


def carry_out(intent: Intent, user: User) -> str:
    """Do what the person signed in to do, say so, and return the idea page to land on.

    Commits. A vote the idea no longer takes (closed since) is explained, not an error page.
    """
    idea = intent.idea
    title = f"“{idea.title}”"
    if intent.action == "vote":
        try:
            votes.cast_vote(idea, user)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash(f"Your vote for {title} is counted, and you follow it.", "success")
    elif intent.action == "follow":
        votes.follow(idea, user)
        db.session.commit()
        flash(f"You follow {title} and will be notified of changes.", "success")
    elif draft_for(idea) is not None:
        if can_comment(user, idea):
            flash("Your comment is in the box below: check it and post it.", "success")
        else:
            flash(
                "Your comment is kept here as a draft: you can post it once your email "
                "address is confirmed.",
                "success",
            )
    return landing(intent)


def sign_in_first(
    action: str, *, when: Callable[[], bool] = lambda: True
) -> Callable[[Callable[P, ResponseReturnValue]], Callable[P, ResponseReturnValue]]:
    """For a POST on an idea by someone signed out (their session ended while the page was
    open): sign-in, saying what they were doing, instead of the bare sign-in page. A typed
    comment is kept as a draft. Placed above login_required, which still answers the rest
    (JSON callers get 401); when() limits it to the requests that mean the action (a vote,
    not its withdrawal)."""

    def decorator(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            if is_signed_in(current_user) or wants_json() or not when():
                return view(*args, **kwargs)
            found = offered(action, kwargs.get("idea_id"))  # type: ignore[arg-type]
            if found is None:
                return view(*args, **kwargs)
            if action == "comment" and request.form.get("body", "").strip():
                keep_draft(found.idea, request.form["body"])
            return redirect(url_for("auth.sign_in", next=landing(found), **found.args), code=303)

        return wrapped

    return decorator
