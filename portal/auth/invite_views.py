"""Opening an invitation link: explained to visitors, accepted by a signed-in person."""

from __future__ import annotations

from flask import flash, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.auth import bp
from portal.auth.forms import ConfirmForm
from portal.extensions import db
from portal.models import Invite
from portal.permissions import is_signed_in
from portal.services import invites
from portal.services.errors import InvalidToken
from portal.web import client_ip

# The link opened in this browser, so sign-up lets its holder create an account in a portal
# open by invitation only (portal.services.invites.check_sign_up_allowed).
INVITE_TOKEN = "invite_token"  # noqa: S105 (a session key's name, not a secret)


def invite_landing(invite: Invite) -> str:
    """Where a used invitation leads: its board's page, or the home page of the portal."""
    if invite.board is None:
        return url_for("main.home")
    return url_for("main.board", slug=invite.board.slug)


@bp.route("/invites/<token>", methods=["GET", "POST"])
def invite(token: str) -> ResponseReturnValue:
    try:
        found = invites.invite_for_token(token)
    except InvalidToken as exc:
        return render_template("auth/invite.html", invite=None, dead=None, error=exc.message), 404
    dead = invites.why_dead(found)
    if dead is not None:
        session.pop(INVITE_TOKEN, None)
        return render_template("auth/invite.html", invite=found, dead=dead, error=None), 410
    inviter = invites.inviter_name(found)
    if not is_signed_in(current_user):
        session[INVITE_TOKEN] = token
        return render_template(
            "auth/invite.html", invite=found, dead=None, error=None, inviter=inviter, form=None
        )
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            invites.accept_invite(token, user=current_user, ip=client_ip())
        except InvalidToken as exc:
            db.session.rollback()
            return render_template(
                "auth/invite.html", invite=None, dead=None, error=exc.message
            ), 410
        db.session.commit()
        session.pop(INVITE_TOKEN, None)
        place = f"“{found.board.name}”" if found.board else "the portal"
        flash(f"Welcome to {place}, {current_user.display_name}.", "success")
        return redirect(invite_landing(found), code=303)
    return render_template(
        "auth/invite.html", invite=found, dead=None, error=None, inviter=inviter, form=form
    )
