"""Stage colours: admins choose them, and a colour that text cannot be read on is refused."""

import pytest

from portal.extensions import db
from portal.models import Stage
from portal.services import catalog, colours
from portal.services.errors import InvalidInput

from .conftest import sign_in_client


@pytest.fixture
def admin(client, make_user):
    user = make_user("admin")
    sign_in_client(client, user)
    return user


def stage_form(stage: Stage, **changes: str) -> dict[str, str | list[str]]:
    """The stage's form as the edit page fills it in: its moves too, or it would trap ideas."""
    return {
        "targets": [str(t) for t in catalog.transitions().get(stage.id, set())],
        "name": stage.name,
        "description": stage.description,
        "position": str(stage.position),
        "response_days": str(stage.response_days or ""),
        "voting_allowed": "y",
        **changes,
    }


def test_contrast_follows_wcag():
    assert colours.contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert colours.contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert colours.text_on("#fde68a") == colours.DARK_TEXT
    assert colours.text_on("#1d4ed8") == colours.LIGHT_TEXT


@pytest.mark.parametrize(
    ("written", "stored"),
    [("#BFDBFE", "#bfdbfe"), ("bfdbfe", "#bfdbfe"), ("#abc", "#aabbcc"), ("", None), ("  ", None)],
)
def test_colours_are_stored_normalised(written, stored):
    assert colours.checked_stage_colour(written) == stored


@pytest.mark.parametrize("unreadable", ["#808080", "#7a7a7a", "#848484"])
def test_a_colour_neither_dark_nor_white_text_reads_on_is_refused(unreadable):
    with pytest.raises(InvalidInput, match="hard to read") as refused:
        colours.checked_stage_colour(unreadable)
    assert refused.value.field == "colour"


@pytest.mark.parametrize("nonsense", ["blue", "#12345", "#ggghhh", "url(x)", "#fff; color: red"])
def test_anything_but_a_hex_colour_is_refused(nonsense):
    with pytest.raises(InvalidInput, match="hex code"):
        colours.checked_stage_colour(nonsense)


def test_default_stages_have_readable_colours(stages):
    for stage in stages.values():
        assert stage.colour, stage.slug
        assert colours.contrast(stage.colour, colours.text_on(stage.colour)) >= 4.5


def test_admin_sets_a_colour_and_it_styles_the_badges(client, admin, stages):
    planned = stages["planned"]
    response = client.post(
        f"/admin/stages/{planned.id}", data=stage_form(planned, colour="#A7F3D0")
    )
    assert response.status_code == 303
    assert db.session.get(Stage, planned.id).colour == "#a7f3d0"
    css = client.get("/stage-colours.css")
    assert css.mimetype == "text/css"
    assert f".stage-colour-{planned.id} {{ background: #a7f3d0; color: #1b1f24; }}" in css.text
    again = client.get("/stage-colours.css", headers={"If-None-Match": css.headers["ETag"]})
    assert again.status_code == 304


def test_admin_is_told_why_a_low_contrast_colour_is_refused_and_keeps_the_form(
    client, admin, stages
):
    planned = stages["planned"]
    before = planned.colour
    response = client.post(
        f"/admin/stages/{planned.id}", data=stage_form(planned, colour="#808080")
    )
    assert response.status_code == 400
    assert "hard to read" in response.text
    assert 'value="#808080"' in response.text
    db.session.expire_all()
    assert db.session.get(Stage, planned.id).colour == before


def test_an_empty_colour_gives_the_plain_badge(admin, stages):
    planned = stages["planned"]
    catalog.save_stage(
        planned,
        actor=admin,
        ip=None,
        name=planned.name,
        description=planned.description,
        is_closed=False,
        voting_allowed=True,
        response_days=planned.response_days,
        position=planned.position,
        target_ids=catalog.transitions()[planned.id],
        colour="",
    )
    assert planned.colour is None
    assert all(stage_id != planned.id for stage_id, _ in catalog.stage_colours())
