"""The team writes releases: drafts, previews, publishing; customers read them on /shipped."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.extensions import db
from portal.forms import apply_domain_error, handle_submission
from portal.models import Release
from portal.permissions import can_triage
from portal.services import releases
from portal.services.errors import DomainError
from portal.team import bp
from portal.team.release_forms import ActionOnlyForm, ReleaseForm
from portal.web import client_ip, parse_number, role_required


def _release_or_404(release_id: int) -> Release:
    try:
        return releases.get_release(release_id, viewer=current_user)
    except releases.ReleaseNotFound:
        abort(404)


def _ticked() -> list[int]:
    return [n for n in (parse_number(v) for v in request.form.getlist("idea_ids")) if n]


@bp.route("/releases")
@role_required(can_triage)
def releases_list() -> ResponseReturnValue:
    drafts, published = releases.drafts_and_recent(viewer=current_user)
    counts = releases.ideas_of([r.id for r in drafts + published])
    return render_template("team/releases.html", drafts=drafts, published=published, counts=counts)


def _form_page(
    release: Release | None,
    form: ReleaseForm,
    idea_ids: list[int],
    *,
    previewing: bool = False,
    status: int = 200,
) -> ResponseReturnValue:
    """The release form with what was typed and ticked, search results, and the preview."""
    chosen = releases.picked(idea_ids, viewer=current_user)
    query = form.q.data or ""
    results = (
        releases.search_ideas(query, viewer=current_user, exclude=[i.id for i in chosen])
        if query.strip()
        else []
    )
    shipped = releases.shipped_stage()
    warnings = {i.id: releases.shipping_problem(i, shipped) for i in chosen}
    return render_template(
        "team/release_form.html",
        release=release,
        form=form,
        chosen=chosen,
        results=results,
        searched=bool(query.strip()),
        warnings=warnings,
        audience=releases.audience([i.id for i in chosen], actor=current_user),
        publish_problems=releases.publish_problems(release)
        if release is not None and not release.is_published
        else [],
        action_form=ActionOnlyForm(),
        preview=previewing or release is not None,
    ), status


def _post(release: Release | None) -> ResponseReturnValue:
    form = ReleaseForm()
    ids = _ticked()
    action = request.form.get("action")
    if action in ("search", "preview"):
        # Nothing is saved: the page again, with the search's results or the preview.
        return _form_page(release, form, ids, previewing=action == "preview")
    done = handle_submission(
        form,
        lambda: releases.save_draft(
            release,
            actor=current_user,
            ip=client_ip(),
            title=form.title.data or "",
            note=form.note.data or "",
            idea_ids=ids,
        ),
        success="Release saved."
        if release is not None and release.is_published
        else "Draft saved. Customers see nothing until you publish it.",
        redirect_to=lambda saved: url_for("team.release_edit", release_id=saved.id),
    )
    if done:
        return done
    if release is not None:
        db.session.refresh(release)
    return _form_page(release, form, ids, status=400)


@bp.route("/releases/new", methods=["GET", "POST"])
@role_required(can_triage)
def release_new() -> ResponseReturnValue:
    if request.method == "POST":
        return _post(None)
    return _form_page(None, ReleaseForm(formdata=None), [])


@bp.route("/releases/<id:release_id>", methods=["GET", "POST"])
@role_required(can_triage)
def release_edit(release_id: int) -> ResponseReturnValue:
    release = _release_or_404(release_id)
    if request.method == "POST":
        return _post(release)
    form = ReleaseForm(formdata=None, data={"title": release.title, "note": release.note})
    ids = [i.id for i in releases.ideas_of([release.id])[release.id]]
    return _form_page(release, form, ids)


@bp.route("/releases/<id:release_id>/publish", methods=["POST"])
@role_required(can_triage)
def release_publish(release_id: int) -> ResponseReturnValue:
    release = _release_or_404(release_id)
    form = ActionOnlyForm()
    if form.validate_on_submit():
        try:
            result = releases.publish(release, actor=current_user, ip=client_ip())
        except DomainError as exc:
            db.session.rollback()
            apply_domain_error(form, exc)
        else:
            db.session.commit()
            moved = len(result.moved)
            flash(
                f"Published. {moved} idea{'' if moved == 1 else 's'} moved to Shipped, and "
                "everyone following them is told once, with your note.",
                "success",
            )
            return redirect(url_for("main.release", release_id=release.id), code=303)
    db.session.refresh(release)
    for message in form.form_errors or [e for errors in form.errors.values() for e in errors]:
        flash(message, "error")
    return redirect(url_for("team.release_edit", release_id=release.id), code=303)


@bp.route("/releases/<id:release_id>/delete", methods=["POST"])
@role_required(can_triage)
def release_delete(release_id: int) -> ResponseReturnValue:
    release = _release_or_404(release_id)
    form = ActionOnlyForm()
    done = handle_submission(
        form,
        lambda: releases.delete_draft(release, actor=current_user, ip=client_ip()),
        success=f"The draft “{release.title}” is deleted.",
        redirect_to=url_for("team.releases_list"),
    )
    if done:
        return done
    for message in form.form_errors:
        flash(message, "error")
    return redirect(url_for("team.release_edit", release_id=release.id), code=303)
