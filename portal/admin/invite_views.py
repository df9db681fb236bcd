"""Admin: the people of a private board, invitations to it or to the portal, and who gets in."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from portal import limits
from portal.admin import bp
from portal.admin.forms import ActionForm
from portal.admin.invite_forms import InviteForm
from portal.admin.settings_forms import PortalAccessForm
from portal.extensions import db, limiter
from portal.forms import apply_domain_error, handle_submission
from portal.models import Board, Invite, User
from portal.models.types import utcnow
from portal.permissions import can_configure_site
from portal.services import invites
from portal.services.errors import DomainError
from portal.services.invites import portal_access
from portal.web import client_ip, role_required

_INVITE_LIMIT = limiter.limit(
    lambda: current_app.config["LIMIT_INVITES"],
    key_func=limits.per_person,
    methods=["POST"],
    deduct_when=lambda _response: bool(g.get("rate_limit_counted")),
)


def _people_page(
    board: Board, form: InviteForm | None = None, status: int = 200
) -> tuple[str, int]:
    return render_template(
        "admin/board_people.html",
        board=board,
        members=invites.members(board),
        pending=invites.pending_invites(board),
        form=form or InviteForm(formdata=None),
        action_form=ActionForm(),
        now=utcnow(),
    ), status


@bp.route("/boards/<id:board_id>/people")
@role_required(can_configure_site)
def board_people(board_id: int) -> ResponseReturnValue:
    return _people_page(db.get_or_404(Board, board_id))


def _send(board: Board | None, form: InviteForm, back: str) -> BaseResponse | None:
    """Send the invitations typed in the form; None when the page should show its errors,
    with everything typed still there."""
    if not form.validate_on_submit():
        return None
    try:
        sent = invites.send_invites(board, form.emails.data, actor=current_user, ip=client_ip())
    except DomainError as exc:
        db.session.rollback()
        apply_domain_error(form, exc)
        return None
    limits.counted()
    db.session.commit()
    who = sent[0].email if len(sent) == 1 else f"{len(sent)} people"
    flash(
        f"Invitation sent to {who}. Each link works once, for {invites.INVITE_DAYS} days.",
        "success",
    )
    return redirect(back, code=303)


@bp.route("/boards/<id:board_id>/invites", methods=["POST"])
@role_required(can_configure_site)
@_INVITE_LIMIT
def invite_to_board(board_id: int) -> ResponseReturnValue:
    board = db.get_or_404(Board, board_id)
    form = InviteForm()
    done = _send(board, form, url_for("admin.board_people", board_id=board.id))
    return done or _people_page(board, form, status=400)


@bp.route("/invites", methods=["GET", "POST"])
@role_required(can_configure_site)
@_INVITE_LIMIT
def portal_invites() -> ResponseReturnValue:
    form = InviteForm() if request.method == "POST" else InviteForm(formdata=None)
    if request.method == "POST":
        done = _send(None, form, url_for("admin.portal_invites"))
        if done is not None:
            return done
    return render_template(
        "admin/portal_invites.html",
        form=form,
        pending=invites.pending_invites(None),
        access=portal_access(),
        action_form=ActionForm(),
        now=utcnow(),
    ), (400 if request.method == "POST" else 200)


@bp.route("/invites/<id:invite_id>/revoke", methods=["POST"])
@role_required(can_configure_site)
def revoke_invite(invite_id: int) -> BaseResponse:
    invite = db.get_or_404(Invite, invite_id)
    if ActionForm().validate_on_submit():
        if invites.revoke_invite(invite, actor=current_user, ip=client_ip()):
            db.session.commit()
            flash(
                f"The invitation to {invite.email} is withdrawn; its link no longer works.",
                "success",
            )
        else:
            flash(f"The invitation to {invite.email} was already used or withdrawn.", "info")
    if invite.board_id is None:
        return redirect(url_for("admin.portal_invites"), code=303)
    return redirect(url_for("admin.board_people", board_id=invite.board_id), code=303)


@bp.route("/boards/<id:board_id>/members/<id:user_id>/remove", methods=["POST"])
@role_required(can_configure_site)
def remove_board_member(board_id: int, user_id: int) -> BaseResponse:
    board = db.get_or_404(Board, board_id)
    user = db.get_or_404(User, user_id)
    if ActionForm().validate_on_submit():
        if invites.remove_member(board, user, actor=current_user, ip=client_ip()):
            db.session.commit()
            flash(f"{user.display_name} is no longer a member of “{board.name}”.", "success")
        else:
            flash(f"{user.display_name} was not a member of “{board.name}”.", "info")
    return redirect(url_for("admin.board_people", board_id=board.id), code=303)


@bp.route("/settings/access", methods=["GET", "POST"])
@role_required(can_configure_site)
def access_settings() -> ResponseReturnValue:
    if request.method == "POST":
        form = PortalAccessForm()
    else:
        access = portal_access()
        form = PortalAccessForm(
            formdata=None,
            data={
                "private": access.private,
                "sign_up": access.sign_up,
                "sign_up_domains": "\n".join(access.domains),
            },
        )
    done = handle_submission(
        form,
        lambda: invites.update_portal_access(
            actor=current_user,
            ip=client_ip(),
            private=form.private.data,
            sign_up=form.sign_up.data or "",
            domains_text=form.sign_up_domains.data or "",
        ),
        success="Saved: who may see the portal and who may create an account.",
        redirect_to=url_for("admin.access_settings"),
    )
    status = 400 if request.method == "POST" else 200
    return done or (render_template("admin/settings/access.html", form=form), status)
