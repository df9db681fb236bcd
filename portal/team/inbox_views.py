"""The triage inbox around its list: the views as tabs with counts, and saved filters.

A view of the open ideas is its query string (portal.services.triage.view_query): the list at
/team/triage shows it, a saved filter keeps it, and triage mode (portal.ideas.triage_views)
carries it from idea to idea.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from flask import abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.extensions import db
from portal.forms import handle_submission
from portal.models import SavedFilter
from portal.permissions import can_edit_saved_filter, can_triage
from portal.services import catalog, saved_filters, triage
from portal.team import bp
from portal.team.forms import SavedFilterForm, TriageActionForm
from portal.web import client_ip, role_required


def current_query() -> str:
    return triage.view_query(request.args)


def current_view() -> triage.InboxView:
    slugs = {s.slug for s in catalog.stages()}
    return triage.parse_view(request.args, viewer_id=current_user.id, stage_slugs=slugs)


def _parse(query: str, slugs: set[str]) -> triage.InboxView:
    return triage.parse_view(dict(parse_qsl(query)), viewer_id=current_user.id, stage_slugs=slugs)


def list_url(query: str) -> str:
    return url_for("team.queue") + (f"?{query}" if query else "")


@dataclass(frozen=True)
class Tab:
    label: str
    query: str
    count: int
    saved: SavedFilter | None = None

    @property
    def url(self) -> str:
        return list_url(self.query)


def tabs() -> list[Tab]:
    """The built-in views and the person's saved filters, each with how many ideas it holds."""
    slugs = {s.slug for s in catalog.stages()}
    saved = saved_filters.visible_filters(current_user)
    views: list[tuple[str, str, SavedFilter | None]] = [
        (label, query, None) for label, query in triage.BUILT_IN_VIEWS
    ]
    views += [(f.name, f.query, f) for f in saved]
    counts = triage.count_views([_parse(q, slugs) for _, q, _ in views], viewer=current_user)
    return [Tab(label, q, n, f) for (label, q, f), n in zip(views, counts, strict=True)]


def inbox_context(*, save_form: SavedFilterForm | None = None) -> dict[str, Any]:
    """What the triage list shows around its ideas: the tabs, and saving the filters."""
    known = tabs()
    query = current_query()

    def triage_url(idea_id: int, at: int) -> str:
        """An idea of the list opened in triage mode, knowing its place in the view."""
        return (
            url_for("ideas.triage_idea", idea_id=idea_id)
            + "?"
            + "&".join(p for p in (query, f"at={at}") if p)
        )

    return {
        # One tab is the current one, even if a saved filter repeats a built-in view.
        "current_tab": next((i for i, t in enumerate(known) if t.query == query), None),
        "triage_url": triage_url,
        "next_url": url_for("ideas.next_idea") + (f"?{query}" if query else ""),
        "tabs": known,
        "view_query": query,
        "view_name": triage.view_label(query, [t.saved for t in known if t.saved]),
        "save_form": save_form or SavedFilterForm(formdata=None),
    }


# --- Saved filters --------------------------------------------------------------------------


def _own_filter(filter_id: int) -> SavedFilter:
    saved = db.get_or_404(SavedFilter, filter_id)
    if not can_edit_saved_filter(current_user, saved):
        abort(404)  # someone else's filter, shared or not, is not this person's to change
    return saved


@bp.route("/triage/filters")
@role_required(can_triage)
def saved_filters_page() -> ResponseReturnValue:
    return _render_filters_page()


def _render_filters_page(
    *, editing: SavedFilter | None = None, form: SavedFilterForm | None = None, status: int = 200
) -> ResponseReturnValue:
    known = [t for t in tabs() if t.saved is not None]
    return render_template(
        "team/saved_filters.html",
        mine=[t for t in known if t.saved and t.saved.owner_id == current_user.id],
        shared=[t for t in known if t.saved and t.saved.owner_id != current_user.id],
        editing=editing,
        form=form,
        action_form=TriageActionForm(),
    ), status


@bp.route("/triage/filters/<id:filter_id>", methods=["POST"])
@role_required(can_triage)
def update_filter(filter_id: int) -> ResponseReturnValue:
    saved = _own_filter(filter_id)
    form = SavedFilterForm()
    done = handle_submission(
        form,
        lambda: saved_filters.update_filter(
            saved, name=form.name.data, shared=form.shared.data, actor=current_user, ip=client_ip()
        ),
        success="Saved.",
        redirect_to=url_for("team.saved_filters_page"),
    )
    return done or _render_filters_page(editing=saved, form=form, status=400)


@bp.route("/triage/filters/<id:filter_id>/delete", methods=["POST"])
@role_required(can_triage)
def delete_filter(filter_id: int) -> ResponseReturnValue:
    saved = _own_filter(filter_id)
    name = saved.name
    done = handle_submission(
        TriageActionForm(),
        lambda: saved_filters.delete_filter(saved, actor=current_user, ip=client_ip()),
        success=f"Deleted the filter “{name}”. The ideas it showed are untouched.",
        redirect_to=url_for("team.saved_filters_page"),
    )
    if done is None:
        abort(400)
    return done
