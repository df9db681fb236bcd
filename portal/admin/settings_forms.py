"""Forms on the admin settings pages: the site, its guidelines, categories and organisations."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, FileField, RadioField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from portal.models.organisation import VALUE_BASES
from portal.services.catalog import CATEGORY_DESCRIPTION_MAX, CATEGORY_NAME_MAX
from portal.services.organisation_import import IMPORT_MAX_BYTES
from portal.services.organisations import ORGANISATION_NAME_MAX, PLAN_MAX, SEGMENT_MAX
from portal.services.settings import GUIDELINES_MAX, SITE_NAME_MAX
from portal.services.two_factor import REQUIRED_CHOICES

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


class CustomerValueForm(FlaskForm):
    """What the team knows of a customer; the service checks every field (clean_customer_value)."""

    plan = StringField(
        "Plan",
        description="Optional: the plan they are on, such as Business.",
        validators=[Length(max=PLAN_MAX)],
        render_kw={"maxlength": PLAN_MAX},
    )
    segment = StringField(
        "Segment",
        description="Optional: such as Enterprise or SMB.",
        validators=[Length(max=SEGMENT_MAX)],
        render_kw={"maxlength": SEGMENT_MAX},
    )
    value = StringField(
        "Value",
        description="Optional: what they pay, in whole units or with cents, such as 1,250.50.",
        validators=[Length(max=40)],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    value_basis = RadioField(
        "The value is",
        choices=VALUE_BASES,
        validators=[Optional()],
        validate_choice=False,  # the service says what is wrong, in words
    )
    renewal_on = StringField(
        "Renewal date",
        description="Optional: when their contract next renews.",
        render_kw={"type": "date"},  # the service checks the date (parse_renewal)
    )


class OrganisationImportForm(FlaskForm):
    csv_file = FileField(
        "CSV file",
        description="One organisation a row. Columns (the first row names them): name or domain, "
        "plan, mrr or arr, renewal (year-month-day), segment. An empty cell leaves that value "
        "as it is.",
    )
    csv_text = TextAreaField(
        "Or paste the CSV here",
        validators=[Length(max=IMPORT_MAX_BYTES)],
        render_kw={"rows": 6, "spellcheck": "false"},
    )
    create_missing = BooleanField("Create the organisations that are not found")


class PortalAccessForm(FlaskForm):
    """Who may see the portal, and who may create an account (portal.services.invites)."""

    private = BooleanField(
        "Only signed-in people can see this portal",
        description="Visitors who are not signed in see only the sign-in page, sign-up (when "
        "they may), password reset and invitation pages. Feeds are switched off for them.",
    )
    sign_up = RadioField(
        "Who may create an account",
        choices={
            "anyone": "Anyone",
            "invited": "Only invited people, and people with an email address at these domains",
        },
        default="anyone",
        validate_choice=False,  # the service says what is wrong, in words
    )
    sign_up_domains = TextAreaField(
        "Domains that may sign up",
        description="Optional, with “only invited people”: domains such as acme.com, one a line "
        "or separated by spaces. Everyone else needs an invitation.",
        validators=[Length(max=4000)],
        render_kw={"rows": 3, "autocapitalize": "none", "spellcheck": "false"},
    )


class TwoFactorRequiredForm(FlaskForm):
    required = RadioField(
        "Who must sign in with a code from an authenticator app",
        description="Admins always must. Whoever it newly applies to and has not set it up is "
        "signed out, and sets it up when they next sign in.",
        choices=REQUIRED_CHOICES,
        default="admins",
        validate_choice=False,  # the service says what is wrong, in words
    )
