"""Admin pages for people: search, role changes, suspension."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from portal.admin import bp
from portal.admin.forms import (
    ActionForm,
    EraseForm,
    OrganisationForm,
    RoleForm,
    StageForm,
    SuspendForm,
    UserSearchForm,
    button_action,
)
from portal.downloads import csv_download
from portal.extensions import db
from portal.forms import handle_submission
from portal.models import Stage, User
from portal.permissions import (
    can_change_role,
    can_configure_stages,
    can_manage_users,
    can_read_audit_log,
    can_suspend,
)
from portal.services import (
    accounts,
    audit_log,
    catalog,
    erase,
    moderation,
    organisations,
    sessions,
    sso,
    two_factor,
    users,
)
from portal.services.errors import InvalidInput
from portal.web import client_ip, date_arg, number_arg, parse_number, role_required

PER_PAGE = 25


def _page_arg() -> int:
    return number_arg("page", maximum=100_000) or 1


@bp.route("/users")
@role_required(can_manage_users)
def users_list() -> str:
    form = UserSearchForm(request.args)
    form.validate()
    status = form.status.data
    page = users.search_users(
        actor=current_user,
        text=(form.q.data or "")[:100],
        role=form.role.data or None,
        suspended={"active": False, "suspended": True}.get(status),
        page_number=_page_arg(),
        per_page=PER_PAGE,
    )
    return render_template("admin/users.html", form=form, page=page)


def _get_user(user_id: int) -> User:
    return db.get_or_404(User, user_id)


def _organisation_form(user: User, formdata: MultiDict[str, str] | None = None) -> OrganisationForm:
    form = OrganisationForm(
        formdata=formdata, data={"organisation_id": str(user.organisation_id or "")}
    )
    names = organisations.organisation_names()
    form.organisation_id.choices = {"": "No organisation"} | {str(i): n for i, n in names}
    return form


def _render_user(
    user: User,
    *,
    role_form: RoleForm | None = None,
    suspend_form: SuspendForm | None = None,
    organisation_form: OrganisationForm | None = None,
    erase_form: EraseForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    history = audit_log.user_history(user, viewer=current_user)
    return (
        render_template(
            "admin/user.html",
            user=user,
            role_form=role_form if role_form is not None else RoleForm(role=user.role),
            suspend_form=suspend_form if suspend_form is not None else SuspendForm(formdata=None),
            action_form=ActionForm(),
            organisation_form=organisation_form or _organisation_form(user),
            history=history,
            can_change_role=can_change_role(current_user, user),
            can_suspend=can_suspend(current_user, user),
            hidden_with_account=moderation.hidden_with_account(user),
            erase_form=erase_form if erase_form is not None else EraseForm(formdata=None),
            is_erased=erase.is_erased(user),
            sessions=sessions.active_sessions(user),
            browser_summary=sessions.browser_summary,
            session_began=sso.session_began,
            end_url=lambda s: url_for("admin.end_session", user_id=user.id, session_id=s.id),
            two_factor_required=two_factor.is_required(user),
            identities=sso.identities_of(user),
            provider_names={p.slug: p.name for p in sso.all_providers()},
            has_password=accounts.has_password(user),
        ),
        status,
    )


@bp.route("/users/<id:user_id>")
@role_required(can_manage_users)
def user_detail(user_id: int) -> tuple[str, int]:
    return _render_user(_get_user(user_id))


@bp.route("/users/<id:user_id>/role", methods=["POST"])
@role_required(can_manage_users)
def change_role(user_id: int) -> ResponseReturnValue:
    user = _get_user(user_id)
    form = RoleForm()
    done = handle_submission(
        form,
        lambda: users.change_role(user, form.role.data, actor=current_user, ip=client_ip()),
        success=f"{user.display_name} is now {RoleForm.role_label(form.role.data)}.",
        redirect_to=url_for("admin.user_detail", user_id=user.id),
    )
    return done or _render_user(user, role_form=form, status=400)


@bp.route("/users/<id:user_id>/suspend", methods=["POST"])
@role_required(can_manage_users)
def suspend(user_id: int) -> ResponseReturnValue:
    user = _get_user(user_id)
    form = SuspendForm()
    done = handle_submission(
        form,
        lambda: users.suspend(
            user,
            form.reason.data,
            actor=current_user,
            ip=client_ip(),
            hide_content=form.hide_content.data,
        ),
        success=f"{user.display_name} is suspended and signed out everywhere."
        + (
            " Everything they posted is hidden, and their votes count nowhere."
            if form.hide_content.data
            else ""
        ),
        redirect_to=url_for("admin.user_detail", user_id=user.id),
    )
    return done or _render_user(user, suspend_form=form, status=400)


@bp.route("/users/<id:user_id>/unsuspend", methods=["POST"])
@role_required(can_manage_users)
def unsuspend(user_id: int) -> BaseResponse:
    user = _get_user(user_id)
    if ActionForm().validate_on_submit():
        users.unsuspend(user, actor=current_user, ip=client_ip())
        db.session.commit()
        flash(f"{user.display_name} can sign in again.", "success")
        return redirect(url_for("admin.user_detail", user_id=user.id), code=303)
    abort(400)


@bp.route("/users/<id:user_id>/restore-content", methods=["POST"])
@role_required(can_manage_users)
def restore_content(user_id: int) -> BaseResponse:
    """Bring back what "hide all their posts" hid, and count their votes again."""
    user = _get_user(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    restored = moderation.restore_everything_by(user, actor=current_user, ip=client_ip())
    db.session.commit()
    flash(
        f"{user.display_name}'s posts and votes are back: "
        f"{_counted(restored.ideas, 'idea')}, {_counted(restored.comments, 'comment')} "
        f"and {_counted(restored.votes, 'vote')}.",
        "success",
    )
    return redirect(url_for("admin.user_detail", user_id=user.id), code=303)


@bp.route("/users/<id:user_id>/erase", methods=["POST"])
@role_required(can_manage_users)
def erase_user(user_id: int) -> ResponseReturnValue:
    """Erase an account at the person's request (see portal.services.erase)."""
    user = _get_user(user_id)
    form = EraseForm()
    done = handle_submission(
        form,
        lambda: erase.erase_on_request(
            user, actor=current_user, remove_posts=form.remove_posts.data, ip=client_ip()
        ),
        success=f"Account #{user.id} is erased.",
        redirect_to=url_for("admin.user_detail", user_id=user.id),
    )
    return done or _render_user(user, erase_form=form, status=400)


@bp.route("/users/<id:user_id>/sessions/<id:session_id>/end", methods=["POST"])
@role_required(can_manage_users)
def end_session(user_id: int, session_id: int) -> BaseResponse:
    user = _get_user(user_id)
    return button_action(
        lambda: sessions.end_one_for(user, session_id, actor=current_user, ip=client_ip()),
        f"That session of {user.display_name} is ended: that browser is signed out.",
        back=url_for("admin.user_detail", user_id=user.id),
    )


@bp.route("/users/<id:user_id>/sessions/end-all", methods=["POST"])
@role_required(can_manage_users)
def end_all_sessions(user_id: int) -> BaseResponse:
    user = _get_user(user_id)
    return button_action(
        lambda: sessions.end_all_for(user, actor=current_user, ip=client_ip()),
        f"{user.display_name} is signed out everywhere.",
        back=url_for("admin.user_detail", user_id=user.id),
    )


@bp.route("/users/<id:user_id>/two-factor/reset", methods=["GET", "POST"])
@role_required(can_manage_users)
def reset_two_factor(user_id: int) -> ResponseReturnValue:
    """Asks first (the GET page); the POST clears their two-factor and ends their sessions."""
    user = _get_user(user_id)
    form = ActionForm()
    if not user.two_factor_on and user.totp_secret is None:
        flash(f"{user.display_name} has no two-factor sign-in to reset.", "error")
        return redirect(url_for("admin.user_detail", user_id=user.id), code=303)
    if form.validate_on_submit():
        two_factor.reset(user, actor=current_user, ip=client_ip())
        db.session.commit()
        flash(
            f"{user.display_name}'s two-factor sign-in is reset and they are signed out "
            "everywhere. We emailed them.",
            "success",
        )
        return redirect(url_for("admin.user_detail", user_id=user.id), code=303)
    return render_template("admin/two_factor_reset.html", user=user, action_form=form)


def _counted(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


@bp.route("/users/<id:user_id>/organisation", methods=["POST"])
@role_required(can_manage_users)
def set_organisation(user_id: int) -> ResponseReturnValue:
    user = _get_user(user_id)
    form = _organisation_form(user, formdata=request.form)
    value = form.organisation_id.data
    done = handle_submission(
        form,
        lambda: organisations.set_organisation(
            user,
            # Junk is id 0, which never exists: a form error, not "no organisation".
            (parse_number(value) or 0) if value else None,
            actor=current_user,
            ip=client_ip(),
        ),
        success=f"{user.display_name}'s organisation is saved.",
        redirect_to=url_for("admin.user_detail", user_id=user.id),
    )
    return done or _render_user(user, organisation_form=form, status=400)


# --- The pipeline ---------------------------------------------------------------------------


@bp.route("/stages")
@role_required(can_configure_stages)
def stages() -> str:
    all_stages = catalog.stages()
    names = {s.id: s.name for s in all_stages}
    return render_template(
        "admin/stages.html",
        stages=all_stages,
        usage=catalog.stage_usage(),
        targets={
            stage_id: sorted(names[t] for t in to_ids)
            for stage_id, to_ids in catalog.transitions().items()
        },
        problems=catalog.pipeline_problems(),
        action_form=ActionForm(),
    )


def _ids(name: str) -> set[int]:
    return {n for n in (parse_number(v) for v in request.form.getlist(name)) if n}


def _stage_page(stage: Stage | None, form: StageForm, status: int = 200) -> tuple[str, int]:
    all_stages = catalog.stages()
    moves = catalog.transitions()
    chosen: set[int]
    sources: set[int]
    if request.method == "POST":
        chosen, sources = _ids("targets"), _ids("sources")
    elif stage is not None:
        chosen = moves.get(stage.id, set())
        sources = {from_id for from_id, to_ids in moves.items() if stage.id in to_ids}
    else:
        chosen = {s.id for s in all_stages if not s.is_merged_stage and not s.retired}
        sources = set()
    problems = (
        [p for p in catalog.pipeline_problems() if p.stage_id == stage.id]
        if stage is not None and request.method == "GET"
        else []
    )
    return render_template(
        "admin/stage_form.html",
        stage=stage,
        form=form,
        all_stages=all_stages,
        chosen=chosen,
        sources=sources,
        problems=problems,
    ), status


def _stage_form(stage: Stage | None) -> StageForm:
    """The posted form, or a new stage's defaults, or the stage as it is."""
    if request.method == "POST":
        return StageForm()
    if stage is None:
        return StageForm(data={"voting_allowed": True, "position": "50"})
    return StageForm(
        data={
            "name": stage.name,
            "description": stage.description,
            "is_closed": stage.is_closed,
            "voting_allowed": stage.voting_allowed,
            "response_days": str(stage.response_days or ""),
            "position": str(stage.position),
            "colour": stage.colour or "",
        }
    )


def _save_stage(stage: Stage | None) -> ResponseReturnValue:
    form = _stage_form(stage)

    def act() -> Stage:
        days_raw = (form.response_days.data or "").strip()
        days = parse_number(days_raw) if days_raw else None
        if days_raw and days is None:
            raise InvalidInput("Write the commitment as a number of days.", field="response_days")
        position = parse_number((form.position.data or "").strip())
        if position is None:
            raise InvalidInput("Write the position as a whole number.", field="position")
        return catalog.save_stage(
            stage,
            actor=current_user,
            ip=client_ip(),
            name=form.name.data,
            description=form.description.data,
            is_closed=form.is_closed.data,
            voting_allowed=form.voting_allowed.data,
            response_days=days,
            position=position,
            target_ids=_ids("targets"),
            colour=form.colour.data,
            # Only a form that showed the incoming moves may change them.
            source_ids=_ids("sources") if "sources_shown" in request.form else None,
        )

    done = handle_submission(form, act, success="Stage saved.", redirect_to=url_for("admin.stages"))
    if done:
        _flash_pipeline_problems()
        return done
    return _stage_page(stage, form, 400 if request.method == "POST" else 200)


def _flash_pipeline_problems() -> None:
    """After a change that was allowed, say what the pipeline still lacks (the stages page lists
    it too), so that a step of a longer edit is never mistaken for a finished pipeline."""
    problems = catalog.pipeline_problems()
    if problems:
        flash(
            "The pipeline still needs mending: "
            + (problems[0].message if len(problems) == 1 else f"{len(problems)} problems, below."),
            "info",
        )


@bp.route("/stages/new", methods=["GET", "POST"])
@role_required(can_configure_stages)
def new_stage() -> ResponseReturnValue:
    return _save_stage(None)


@bp.route("/stages/<id:stage_id>", methods=["GET", "POST"])
@role_required(can_configure_stages)
def edit_stage(stage_id: int) -> ResponseReturnValue:
    return _save_stage(db.get_or_404(Stage, stage_id))


def _stage_action(
    stage: Stage, form: ActionForm, action: Callable[[], None], success: str
) -> BaseResponse:
    """Retire or reinstate: done, or refused with the reason at the top of the stages page."""
    done = handle_submission(form, action, success=success, redirect_to=url_for("admin.stages"))
    if done:
        _flash_pipeline_problems()
        return done
    for message in form.form_errors:
        flash(message, "error")
    return redirect(url_for("admin.stages"), code=303)


@bp.route("/stages/<id:stage_id>/retire", methods=["POST"])
@role_required(can_configure_stages)
def retire_stage(stage_id: int) -> BaseResponse:
    stage = db.get_or_404(Stage, stage_id)
    return _stage_action(
        stage,
        ActionForm(),
        lambda: catalog.retire_stage(stage, actor=current_user, ip=client_ip()),
        f"{stage.name} is retired. Its history stays on the ideas that passed through.",
    )


@bp.route("/stages/<id:stage_id>/reinstate", methods=["POST"])
@role_required(can_configure_stages)
def reinstate_stage(stage_id: int) -> BaseResponse:
    stage = db.get_or_404(Stage, stage_id)
    return _stage_action(
        stage,
        ActionForm(),
        lambda: catalog.reinstate_stage(stage, actor=current_user, ip=client_ip()),
        f"{stage.name} is back in the pipeline.",
    )


# --- The audit log (read only) --------------------------------------------------------------


def _audit_filters() -> audit_log.AuditFilters:
    action = request.args.get("action", "")
    return audit_log.AuditFilters(
        action=action if action in audit_log.actions() else None,
        actor=request.args.get("actor", "")[:100],
        since=date_arg("since"),
        until=date_arg("until"),
    )


@bp.route("/audit")
@role_required(can_read_audit_log)
def audit_events() -> str:
    filters = _audit_filters()
    return render_template(
        "admin/audit.html",
        filters=filters,
        actions=audit_log.actions(),
        action_label=audit_log.action_label,
        page=audit_log.page(filters, viewer=current_user, page_number=_page_arg()),
    )


@bp.route("/audit.csv")
@role_required(can_read_audit_log)
def audit_csv() -> Response:
    body = audit_log.export_csv(_audit_filters(), viewer=current_user)
    return csv_download(body, "audit-log.csv")
