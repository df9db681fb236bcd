"""Names and titles say what they show: no invisible or bidirectional tricks, and no customer
who passes for the team (the team badge is the one sign of who works here)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Role, User
from portal.services import accounts, validation
from portal.services.errors import InvalidInput

from .helpers import page_text

STAFF_MESSAGE = "Names can't include words like “admin” or “team” that suggest you work here"
TOO_SHORT = "Enter a display name of at least 2 characters."


def sign_up(client, email: str, display_name: str):
    return client.post(
        "/sign-up",
        data={
            "email": email,
            "display_name": display_name,
            "password": "a long enough passphrase",
            "accept_guidelines": "y",
        },
    )


def stored_name(email: str) -> str | None:
    return db.session.scalar(select(User.display_name).where(User.email == email))


# Invisible characters, bidirectional controls, compatibility forms ---------------------


@pytest.mark.parametrize(
    "typed",
    [
        "\u200b\u200b\u200b",  # zero-width spaces
        "\u200d\u2060\ufeff\u00ad",  # joiner, word joiner, BOM, soft hyphen
        "\u3164\u3164",  # Hangul fillers, which look like spaces
        "A\u200b",  # one visible letter
        "\u202e\u202c",
    ],
)
def test_a_name_of_invisible_characters_is_refused(client, typed):
    response = sign_up(client, "ghost@example.com", typed)

    assert response.status_code == 200
    assert TOO_SHORT in page_text(response)
    assert stored_name("ghost@example.com") is None


def test_bidi_overrides_and_zero_width_characters_are_stripped_from_names(client):
    response = sign_up(client, "priya@example.com", "Priya \u202eMP\u202c Ra\u200bman\u2066")

    assert response.status_code == 303
    assert stored_name("priya@example.com") == "Priya MP Raman"


def test_fullwidth_letters_are_stored_as_plain_ones(client):
    sign_up(
        client, "wide@example.com", "\uff30\uff52\uff49\uff59\uff41 \uff32\uff41\uff4d\uff41\uff4e"
    )

    assert stored_name("wide@example.com") == "Priya Raman"


def test_changing_the_display_name_cleans_it_the_same_way(client, login_as):
    user = login_as(display_name="Old Name")

    response = client.post("/account/display-name", data={"display_name": "\u200b\u200c\u200d"})
    assert response.status_code == 400
    assert TOO_SHORT in page_text(response)

    response = client.post("/account/display-name", data={"display_name": "Jo \u202eeoj\u202c"})
    assert response.status_code == 303
    assert db.session.get(User, user.id).display_name == "Jo eoj"


# Passing for the team ------------------------------------------------------------------

STAFF_LIKE = [
    "Alex Admin",
    "Priya (Product team)",
    "Moderator Sam",
    "Support",
    "Official",
    "Staff",
    "ADMIN",
    "AlexAdmin",
    "Alex Adm1n",
    "\uff21\uff4c\uff45\uff58 \uff21\uff44\uff4d\uff49\uff4e",  # fullwidth
    "Alex \u0410dmin",  # Cyrillic capital A
    "Jo \u0405upport",  # Cyrillic capital DZE
    "Ádmín Jo",
    "Jo, Product Manager",
    "Idea Portal",  # the site's own name (SITE_NAME)
    "Idea Portal Team",
]


@pytest.mark.parametrize("typed", STAFF_LIKE)
def test_a_customer_cannot_sign_up_with_a_name_that_claims_a_staff_role(client, typed):
    response = sign_up(client, "pretender@example.com", typed)

    assert response.status_code == 200
    text = page_text(response)
    assert STAFF_MESSAGE in text
    assert "the team badge shows who does." in text
    assert 'value="pretender@example.com"' in text  # what was typed stays
    assert stored_name("pretender@example.com") is None


@pytest.mark.parametrize("typed", ["Alex Admin", "Priya (Product team)", "Moderator Sam"])
def test_a_customer_cannot_rename_themselves_as_staff(client, login_as, typed):
    user = login_as(display_name="Plain Name")

    response = client.post("/account/display-name", data={"display_name": typed})

    assert response.status_code == 400
    assert STAFF_MESSAGE in page_text(response)
    assert db.session.get(User, user.id).display_name == "Plain Name"


@pytest.mark.parametrize("role", ["product_manager", "admin"])
def test_the_team_may_use_staff_words_in_their_names(client, login_as, role):
    user = login_as(role, display_name="Priya Raman")

    response = client.post("/account/display-name", data={"display_name": "Priya (Product team)"})

    assert response.status_code == 303
    assert db.session.get(User, user.id).display_name == "Priya (Product team)"


def test_team_accounts_may_be_created_with_staff_words_and_customer_ones_not(app):
    admin = accounts.create_user(
        email="alex@portal.example",
        display_name="Alex Admin",
        password="a long enough passphrase",
        role=Role.ADMIN,
    )
    assert admin.display_name == "Alex Admin"
    with pytest.raises(InvalidInput) as refused:
        accounts.create_user(
            email="sam@example.com", display_name="Moderator Sam", password="a long passphrase"
        )
    assert refused.value.field == "display_name"


@pytest.mark.parametrize(
    "typed", ["Badminton Club", "Tim Stafford", "Supporters Guild", "Teamwork Tom", "Ana Souza"]
)
def test_ordinary_names_that_merely_contain_staff_letters_are_fine(client, typed):
    assert sign_up(client, "ordinary@example.com", typed).status_code == 303
    assert stored_name("ordinary@example.com") == typed


# Idea titles ---------------------------------------------------------------------------


def test_titles_lose_invisible_and_bidi_characters(app):
    text = validation.clean_idea_text(
        "\u202eExport\u202c re\u200bports to\u00a0\uff25\uff58\uff43\uff45\uff4c\u2069\ufeff",
        "A problem.",
        "",
    )

    assert text.title == "Export reports to Excel"


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        # A zero-width non-joiner is part of how Persian is written; emoji are built with ZWJ
        # and a variation selector picks the emoji form of a heart.
        ("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 export", None),
        ("\U0001f469\u200d\U0001f4bb Export for developers", None),
        ("\u2764\ufe0f Export reports", None),
        ("\u0915\u094d\u200d\u0937 export report", None),
        # Between Latin letters, or doubled, or at an edge, they only hide things.
        ("Ex\u200dport reports", "Export reports"),
        ("\u200dExport\u200c\u200c reports\ufe0f\ufe0f", "Export reports"),
    ],
)
def test_joiners_stay_only_where_they_shape_what_is_shown(app, typed, kept):
    text = validation.clean_idea_text(typed, "A problem.", "")

    assert text.title == (kept or typed)


def test_a_joiner_hides_no_staff_word_in_a_name(client):
    response = sign_up(client, "joiner@example.com", "Alex Ad\u200dmin")

    assert STAFF_MESSAGE in page_text(response)
    assert stored_name("joiner@example.com") is None


@pytest.mark.parametrize("title", ["\u200b" * 10, "\u202e\u202c" * 5, "\u3164" * 8])
def test_a_title_with_nothing_visible_is_refused(app, title):
    with pytest.raises(InvalidInput) as refused:
        validation.clean_idea_text(title, "A problem worth solving.", "")

    assert refused.value.field == "title"


def test_posting_an_idea_with_an_invisible_title_keeps_what_was_typed(
    client, login_as, stages, make_category
):
    login_as()
    category = make_category()

    response = client.post(
        "/ideas/new",
        data={
            "title": "\u200b" * 12,
            "problem": "Our finance team copies numbers by hand.",
            "category_id": str(category.id),
        },
    )

    assert response.status_code == 400
    assert "Give the idea a title of 5 to 120 characters." in page_text(response)
    assert "Our finance team copies numbers by hand." in page_text(response)
