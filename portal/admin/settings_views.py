"""Admin settings: the site's name, guidelines and pre-moderation, categories, organisations."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from portal.admin import bp
from portal.admin.forms import ActionForm
from portal.admin.settings_forms import (
    CategoryForm,
    CustomerValueForm,
    DomainForm,
    GeneralSettingsForm,
    GuidelinesForm,
    NewOrganisationForm,
    OrganisationImportForm,
    OrganisationNameForm,
    TwoFactorRequiredForm,
)
from portal.extensions import db
from portal.forms import handle_submission
from portal.models import Category, Organisation
from portal.permissions import can_configure_site, can_manage_users
from portal.services import catalog, organisation_import, organisations, two_factor
from portal.services import settings as site_settings
from portal.services.errors import InvalidInput
from portal.web import client_ip, parse_number, role_required

# --- The site -------------------------------------------------------------------------------


def _settings_page(
    general_form: GeneralSettingsForm | None = None,
    guidelines_form: GuidelinesForm | None = None,
    two_factor_form: TwoFactorRequiredForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    if general_form is None:
        general_form = GeneralSettingsForm(
            formdata=None,
            data={
                "site_name": site_settings.site_name(),
                "pre_moderation": site_settings.get_setting("pre_moderation") == "on",
            },
        )
    if guidelines_form is None:
        guidelines_form = GuidelinesForm(
            formdata=None, data={"guidelines": site_settings.get_setting("guidelines")}
        )
    if two_factor_form is None:
        two_factor_form = TwoFactorRequiredForm(
            formdata=None, data={"required": two_factor.required_level()}
        )
    return render_template(
        "admin/settings/index.html",
        general_form=general_form,
        guidelines_form=guidelines_form,
        two_factor_form=two_factor_form,
    ), status


@bp.route("/settings", methods=["GET", "POST"])
@role_required(can_configure_site)
def settings() -> ResponseReturnValue:
    if request.method == "GET":
        return _settings_page()
    form = GeneralSettingsForm()
    done = handle_submission(
        form,
        lambda: site_settings.update_general(
            actor=current_user,
            ip=client_ip(),
            name=form.site_name.data,
            pre_moderation=form.pre_moderation.data,
        ),
        success="Settings saved.",
        redirect_to=url_for("admin.settings"),
    )
    return done or _settings_page(general_form=form, status=400)


@bp.route("/settings/guidelines", methods=["POST"])
@role_required(can_configure_site)
def save_guidelines() -> ResponseReturnValue:
    form = GuidelinesForm()
    done = handle_submission(
        form,
        lambda: site_settings.update_guidelines(
            form.guidelines.data, actor=current_user, ip=client_ip()
        ),
        success="The community guidelines are saved.",
        redirect_to=url_for("admin.settings", _anchor="guidelines-section"),
    )
    return done or _settings_page(guidelines_form=form, status=400)


@bp.route("/settings/two-factor", methods=["POST"])
@role_required(can_configure_site)
def save_two_factor_required() -> ResponseReturnValue:
    form = TwoFactorRequiredForm()
    done = handle_submission(
        form,
        lambda: two_factor.set_required_level(
            form.required.data or "", actor=current_user, ip=client_ip()
        ),
        success="Saved: who must use two-factor sign-in.",
        redirect_to=url_for("admin.settings", _anchor="two-factor-section"),
    )
    return done or _settings_page(two_factor_form=form, status=400)


# --- Categories -----------------------------------------------------------------------------


@bp.route("/settings/categories")
@role_required(can_configure_site)
def categories() -> str:
    return render_template(
        "admin/settings/categories.html",
        categories=catalog.all_categories(),
        usage=catalog.category_usage(),
        action_form=ActionForm(),
    )


def _save_category(category: Category | None) -> ResponseReturnValue:
    if request.method == "POST":
        form = CategoryForm()
    elif category is None:
        form = CategoryForm(formdata=None, data={"position": str(catalog.next_category_position())})
    else:
        form = CategoryForm(
            formdata=None,
            data={
                "name": category.name,
                "description": category.description,
                "position": str(category.position),
            },
        )

    def act() -> Category:
        position = parse_number((form.position.data or "").strip())
        if position is None:
            raise InvalidInput("Write the position as a whole number.", field="position")
        return catalog.save_category(
            category,
            actor=current_user,
            ip=client_ip(),
            name=form.name.data,
            description=form.description.data,
            position=position,
        )

    done = handle_submission(
        form, act, success="Category saved.", redirect_to=url_for("admin.categories")
    )
    status = 400 if request.method == "POST" else 200
    return done or (
        render_template("admin/settings/category_form.html", category=category, form=form),
        status,
    )


@bp.route("/settings/categories/new", methods=["GET", "POST"])
@role_required(can_configure_site)
def new_category() -> ResponseReturnValue:
    return _save_category(None)


@bp.route("/settings/categories/<id:category_id>", methods=["GET", "POST"])
@role_required(can_configure_site)
def edit_category(category_id: int) -> ResponseReturnValue:
    return _save_category(db.get_or_404(Category, category_id))


@bp.route("/settings/categories/<id:category_id>/retire", methods=["POST"])
@role_required(can_configure_site)
def retire_category(category_id: int) -> BaseResponse:
    category = db.get_or_404(Category, category_id)
    return handle_submission(
        ActionForm(),
        lambda: catalog.retire_category(category, actor=current_user, ip=client_ip()),
        success=f"{category.name} is retired: it is no longer offered for new ideas, "
        "and the ideas in it keep it.",
        redirect_to=url_for("admin.categories"),
    ) or abort(400)


@bp.route("/settings/categories/<id:category_id>/reinstate", methods=["POST"])
@role_required(can_configure_site)
def reinstate_category(category_id: int) -> BaseResponse:
    category = db.get_or_404(Category, category_id)
    return handle_submission(
        ActionForm(),
        lambda: catalog.reinstate_category(category, actor=current_user, ip=client_ip()),
        success=f"{category.name} is offered for new ideas again.",
        redirect_to=url_for("admin.categories"),
    ) or abort(400)


# --- Organisations and their email domains --------------------------------------------------


@bp.route("/settings/organisations")
@role_required(can_manage_users)
def organisations_list() -> str:
    return render_template(
        "admin/settings/organisations.html",
        rows=organisations.overview(viewer=current_user),
    )


@bp.route("/settings/organisations/new", methods=["GET", "POST"])
@role_required(can_manage_users)
def new_organisation() -> ResponseReturnValue:
    form = NewOrganisationForm()
    done = handle_submission(
        form,
        lambda: organisations.create_organisation(
            actor=current_user, ip=client_ip(), name=form.name.data, domains=form.domain_list()
        ),
        success=f"{' '.join((form.name.data or '').split())} is added.",
        redirect_to=url_for("admin.organisations_list"),
    )
    status = 400 if request.method == "POST" else 200
    return done or (render_template("admin/settings/organisation_new.html", form=form), status)


def _organisation_page(
    organisation: Organisation,
    *,
    name_form: OrganisationNameForm | None = None,
    domain_form: DomainForm | None = None,
    value_form: CustomerValueForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    if value_form is None:
        value_form = CustomerValueForm(
            formdata=None,
            data={
                "plan": organisation.plan,
                "segment": organisation.segment,
                "value": organisations.amount_as_given(organisation),
                "value_basis": organisation.value_basis or "arr",
                "renewal_on": organisation.renewal_on.isoformat()
                if organisation.renewal_on
                else "",
            },
        )
    return render_template(
        "admin/settings/organisation.html",
        organisation=organisation,
        value_form=value_form,
        name_form=name_form
        or OrganisationNameForm(formdata=None, data={"name": organisation.name}),
        domain_form=domain_form or DomainForm(formdata=None),
        action_form=ActionForm(),
    ), status


@bp.route("/settings/organisations/<id:organisation_id>", methods=["GET", "POST"])
@role_required(can_manage_users)
def edit_organisation(organisation_id: int) -> ResponseReturnValue:
    organisation = db.get_or_404(Organisation, organisation_id)
    if request.method == "GET":
        return _organisation_page(organisation)
    form = OrganisationNameForm()
    done = handle_submission(
        form,
        lambda: organisations.rename_organisation(
            organisation, form.name.data, actor=current_user, ip=client_ip()
        ),
        success="The organisation's name is saved.",
        redirect_to=url_for("admin.edit_organisation", organisation_id=organisation_id),
    )
    return done or _organisation_page(organisation, name_form=form, status=400)


@bp.route("/settings/organisations/<id:organisation_id>/domains", methods=["POST"])
@role_required(can_manage_users)
def add_organisation_domain(organisation_id: int) -> ResponseReturnValue:
    organisation = db.get_or_404(Organisation, organisation_id)
    form = DomainForm()
    done = handle_submission(
        form,
        lambda: organisations.add_domain(
            organisation, form.domain.data, actor=current_user, ip=client_ip()
        ),
        success="Domain added: people who sign up with it join the organisation.",
        redirect_to=url_for("admin.edit_organisation", organisation_id=organisation_id),
    )
    return done or _organisation_page(organisation, domain_form=form, status=400)


@bp.route("/settings/organisations/<id:organisation_id>/domains/remove", methods=["POST"])
@role_required(can_manage_users)
def remove_organisation_domain(organisation_id: int) -> BaseResponse:
    organisation = db.get_or_404(Organisation, organisation_id)
    form = DomainForm()
    back = url_for("admin.edit_organisation", organisation_id=organisation_id)
    done = handle_submission(
        form,
        lambda: organisations.remove_domain(
            organisation, form.domain.data, actor=current_user, ip=client_ip()
        ),
        success="Domain removed. People already in the organisation stay in it.",
        redirect_to=back,
    )
    if done:
        return done
    for message in [*form.form_errors, *form.domain.errors]:
        flash(message, "error")
    return redirect(back, code=303)


@bp.route("/settings/organisations/<id:organisation_id>/details", methods=["POST"])
@role_required(can_manage_users)
def save_customer_value(organisation_id: int) -> ResponseReturnValue:
    organisation = db.get_or_404(Organisation, organisation_id)
    form = CustomerValueForm()
    done = handle_submission(
        form,
        lambda: organisations.set_customer_value(
            organisation,
            actor=current_user,
            ip=client_ip(),
            plan=form.plan.data,
            segment=form.segment.data,
            amount=form.value.data,
            basis=form.value_basis.data,
            renewal=form.renewal_on.data,
        ),
        success="Plan, value, renewal and segment saved.",
        redirect_to=url_for(
            "admin.edit_organisation", organisation_id=organisation_id, _anchor="details-title"
        ),
    )
    return done or _organisation_page(organisation, value_form=form, status=400)


# --- Importing organisations' details from a CSV --------------------------------------------


def _import_page(
    form: OrganisationImportForm, status: int = 200, **context: object
) -> tuple[str, int]:
    return render_template("admin/settings/organisation_import.html", form=form, **context), status


def _uploaded_text(form: OrganisationImportForm) -> str | None:
    """The CSV from the file chosen or the text pasted; None (with the form's error) if neither
    can be read."""
    upload = request.files.get(form.csv_file.name)
    if upload is not None and upload.filename:
        raw = upload.read(organisation_import.IMPORT_MAX_BYTES + 1)
        if len(raw) > organisation_import.IMPORT_MAX_BYTES:
            form.csv_file.errors = ["The file is over 1,000 kB; split it into smaller files."]
            return None
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError:
                continue
        form.csv_file.errors = ["This file is not text; save it from the spreadsheet as CSV."]
        return None
    text = form.csv_text.data or ""
    if not text.strip():
        form.csv_file.errors = ["Choose a CSV file, or paste its text below."]
        return None
    return text


@bp.route("/settings/organisations/import", methods=["GET", "POST"])
@role_required(can_manage_users)
def import_organisations() -> ResponseReturnValue:
    """The first step: read the file and show, row by row, what importing it would do."""
    form = OrganisationImportForm()
    if request.method == "GET":
        return _import_page(OrganisationImportForm(formdata=None))
    if not form.validate_on_submit():
        return _import_page(form, 400)
    text = _uploaded_text(form)
    if text is None:
        return _import_page(form, 400)
    preview = organisation_import.read_import(text, viewer=current_user)
    # The same form carries the text to the second step, so nothing is uploaded twice.
    form.csv_text.data = text
    return _import_page(form, 200 if preview.can_apply else 400, preview=preview)


@bp.route("/settings/organisations/import/apply", methods=["POST"])
@role_required(can_manage_users)
def apply_organisation_import() -> ResponseReturnValue:
    form = OrganisationImportForm()
    text = form.csv_text.data or ""

    def act() -> organisation_import.ImportResult:
        return organisation_import.apply_import(
            text, actor=current_user, ip=client_ip(), create_missing=form.create_missing.data
        )

    def message(result: organisation_import.ImportResult) -> str:
        parts = [f"{len(result.updated)} updated", f"{len(result.created)} created"]
        if result.skipped:
            parts.append(f"{result.skipped} left out")
        return "Imported: " + ", ".join(parts) + "."

    if form.validate_on_submit():
        try:
            result = act()
        except InvalidInput as exc:
            db.session.rollback()
            form.form_errors.append(exc.message)
        else:
            db.session.commit()
            flash(message(result), "success")
            return redirect(url_for("admin.organisations_list"), code=303)
    preview = organisation_import.read_import(text, viewer=current_user)
    return _import_page(form, 400, preview=preview)
