"""The home page and the community guidelines."""

from flask import render_template

from portal.main import bp
from portal.markdown import render_markdown
from portal.services.settings import get_setting


@bp.route("/")
def home():
    return render_template("main/home.html")


@bp.route("/guidelines")
def guidelines():
    return render_template(
        "main/guidelines.html", guidelines=render_markdown(get_setting("guidelines"))
    )
