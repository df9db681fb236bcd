"""Opening an invitation link: explained to visitors, accepted by a signed-in person."""

from __future__ import annotations

from flask import flash, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.routing import BuildError

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


def _board_url(invite: Invite) -> str:
    if invite.board is None:
        return url_for("main.home")
    try:
        return url_for("main.board", slug=invite.board.slug)
    except BuildError:  # boards have no page of their own in this version
        return url_for("main.home")


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
        return redirect(_board_url(found), code=303)
    return render_template(
        "auth/invite.html", invite=found, dead=None, error=None, inviter=inviter, form=form
    )
