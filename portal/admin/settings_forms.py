"""Forms on the admin settings pages: the site, its guidelines, categories and organisations."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from portal.services.catalog import CATEGORY_DESCRIPTION_MAX, CATEGORY_NAME_MAX
from portal.services.organisations import ORGANISATION_NAME_MAX
from portal.services.settings import GUIDELINES_MAX, SITE_NAME_MAX

PRE_MODERATION_HINT = (
    "When on, ideas by people who have no approved idea yet wait in the moderation queue, "
    "visible only to their author and the team, until approved."
)


class GeneralSettingsForm(FlaskForm):
    site_name = StringField(
        "Site name",
        description="Shown in every page title, at the top of every page and in every email.",
        validators=[
            InputRequired(message="Give the site a name."),
            Length(max=SITE_NAME_MAX, message=f"Use at most {SITE_NAME_MAX} characters."),
        ],
        render_kw={"maxlength": SITE_NAME_MAX},
    )
    pre_moderation = BooleanField("Pre-moderation", description=PRE_MODERATION_HINT)


class GuidelinesForm(FlaskForm):
    guidelines = TextAreaField(
        "Community guidelines",
        description="Markdown: ## for headings, - for lists, **bold**. "
        "Everyone accepts these when they sign up.",
        validators=[
            InputRequired(message="Write the community guidelines; they cannot be empty."),
            Length(
                max=GUIDELINES_MAX,
                message=f"Keep the guidelines under {GUIDELINES_MAX:,} characters.",
            ),
        ],
        render_kw={"rows": 18, "maxlength": GUIDELINES_MAX},
    )


class CategoryForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[
            InputRequired(message="Give the category a name."),
            Length(max=CATEGORY_NAME_MAX),
        ],
        render_kw={"maxlength": CATEGORY_NAME_MAX},
    )
    description = TextAreaField(
        "Description",
        description="Optional: what belongs in this category.",
        validators=[Length(max=CATEGORY_DESCRIPTION_MAX)],
        render_kw={"rows": 3, "maxlength": CATEGORY_DESCRIPTION_MAX},
    )
    position = StringField(
        "Position in the list",
        description="Lower numbers come first; categories with the same number go by name.",
        validators=[InputRequired(message="Give a position."), Length(max=3)],
        render_kw={"inputmode": "numeric"},
    )


class OrganisationNameForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[
            InputRequired(message="Give the organisation a name."),
            Length(max=ORGANISATION_NAME_MAX),
        ],
        render_kw={"maxlength": ORGANISATION_NAME_MAX},
    )


class NewOrganisationForm(OrganisationNameForm):
    domains = TextAreaField(
        "Email domains",
        description="Optional: domains such as acme.com, separated by spaces, commas or new "
        "lines. People who sign up with an address at one of them join the organisation.",
        validators=[Length(max=2000)],
        render_kw={"rows": 2},
    )

    def domain_list(self) -> list[str]:
        return (self.domains.data or "").replace(",", " ").replace(";", " ").split()


class DomainForm(FlaskForm):
    domain = StringField(
        "Email domain",
        description="Such as acme.com. People who sign up with an address there join the "
        "organisation; people who already have accounts are placed from their admin page.",
        validators=[InputRequired(message="Enter a domain name."), Length(max=253)],
        render_kw={"maxlength": 253, "autocapitalize": "none", "spellcheck": "false"},
    )
