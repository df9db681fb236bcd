"""The idea portal: create_app() builds the Flask application."""

from __future__ import annotations

import os
import threading
from datetime import date
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import observability
from portal.config import load_config

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The application: configuration, extensions, blueprints, error pages, templates, commands."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("PORTAL_INSTANCE_PATH") or str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    load_config(app, test_config)

    if app.config["TRUSTED_PROXIES"]:
        n = int(app.config["TRUSTED_PROXIES"])
        # Flask's documented way to put middleware in front; mypy sees a method replaced.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n
        )

    # First, so its hooks time and log every request, the rate limiter's refusals included.
    observability.init_app(app)
    register_extensions(app)
    register_request_guards(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_templating(app)
    register_security_headers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    from portal import models  # noqa: F401  (registers the tables)
    from portal.api.core import register as register_api
    from portal.database import configure_database
    from portal.extensions import csrf, db, login_manager, migrate
    from portal.limits import init_app as init_limits

    db.init_app(app)
    configure_database(app)
    # After the request's clock and id and its read or write mark, before anything that reads
    # who is signed in (CSRF, the rate limiter, the private portal's gate): the API's key.
    register_api(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    init_limits(app)

    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    from portal import cache
    from portal.mail import delivery

    login_manager.user_loader(cache.signed_in_person)
    cache.init_app(app)
    delivery.init_app(app)


def register_request_guards(app: Flask) -> None:
    from portal.web import IdConverter, refuse_nul_bytes

    app.url_map.converters["id"] = IdConverter
    app.before_request(refuse_nul_bytes)
    serve_like_gunicorn_under_flask_run(app)


def serve_like_gunicorn_under_flask_run(app: Flask) -> None:
    """Under `flask run`, do what ./gunicorn.conf.py and wsgi.py do for `make run`.

    The first request Werkzeug's development server serves says where it listens: without
    PORTAL_BASE_URL, links follow that address (`flask run --port 8000` mails links to port
    8000). Werkzeug writes the listening socket's own address into SERVER_NAME and SERVER_PORT,
    not the client's Host header, which anyone can forge; other servers fill those keys from
    the Host header, so only Werkzeug's are read. The email outbox is delivered from this
    process, as each gunicorn worker does without Redis.
    """
    from flask import request

    from portal.config import listening_url
    from portal.mail.delivery import start_background_delivery

    decided = False
    lock = threading.Lock()

    def first_request() -> None:
        nonlocal decided
        if decided:
            return
        with lock:
            if decided:
                return
            decided = True
            environ = request.environ
            if not str(environ.get("SERVER_SOFTWARE", "")).startswith("Werkzeug/"):
                return  # gunicorn or the test client
            host, port = str(environ.get("SERVER_NAME", "")), str(environ.get("SERVER_PORT", ""))
            unset = not app.config["BASE_URL_CONFIGURED"] and not app.config["SERVED_AT"]
            if unset and host and port.isdigit():
                scheme = str(environ["wsgi.url_scheme"])
                app.config["SERVED_AT"] = app.config["BASE_URL"] = listening_url(
                    scheme, host, int(port)
                )
            start_background_delivery(app)

    app.before_request(first_request)


def register_blueprints(app: Flask) -> None:
    from portal.account import bp as account_bp
    from portal.admin import bp as admin_bp
    from portal.api import bp as api_bp
    from portal.api import docs_bp as api_docs_bp
    from portal.auth import bp as auth_bp
    from portal.extensions import csrf
    from portal.ideas import bp as ideas_bp
    from portal.main import bp as main_bp
    from portal.organisations import bp as organisations_bp
    from portal.team import bp as team_bp

    for bp in (main_bp, ideas_bp, auth_bp, account_bp, admin_bp, organisations_bp, team_bp):
        app.register_blueprint(bp)
    csrf.exempt(api_bp)  # authenticated by bearer keys alone: no cookie, so nothing to forge
    app.register_blueprint(api_bp)
    app.register_blueprint(api_docs_bp)


def register_error_handlers(app: Flask) -> None:
    from portal.errors import register_error_handlers as register

    register(app)


def register_templating(app: Flask) -> None:
    from portal import permissions, personal
    from portal.forms import csrf_field, form_started_token
    from portal.markdown import plain_excerpt, render_markdown
    from portal.models import NotificationKind, OutboxStatus
    from portal.services.roadmap import timeframe_label
    from portal.services.settings import guidelines_summary
    from portal.web import url_with_query

    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["excerpt"] = plain_excerpt
    app.jinja_env.filters["timeframe"] = timeframe_label
    app.jinja_env.globals["form_started_token"] = form_started_token
    app.jinja_env.globals["csrf_field"] = csrf_field
    app.jinja_env.globals["url_with_query"] = url_with_query
    app.jinja_env.globals["guidelines_summary"] = guidelines_summary
    # The person's own things on a kept page: gaps filled on each request (portal.personal).
    app.jinja_env.globals["personal"] = personal.personal
    app.jinja_env.globals["personal_choice"] = personal.personal_choice
    # Templates compare kinds and statuses by the same names as the code, not bare strings.
    app.jinja_env.globals["NotificationKind"] = NotificationKind
    app.jinja_env.globals["OutboxStatus"] = OutboxStatus

    @app.context_processor
    def inject_globals() -> dict[str, Any]:
        from portal.models.site import site_name

        return {
            "site_name": site_name(),
            "is_signed_in": permissions.is_signed_in,
            "can_triage": permissions.can_triage,
            "speaks_for_team": permissions.speaks_for_team,
            "can_manage_users": permissions.can_manage_users,
            "can_publish_concept": permissions.can_publish_concept,
            "can_see_organisations": permissions.can_see_organisations,
        }

    @app.template_filter("datetime")
    def format_datetime(value: date | None, fmt: str = "%-d %b %Y, %H:%M UTC") -> str:
        return value.strftime(fmt) if value else ""

    @app.template_filter("date")
    def format_date(value: date | None) -> str:
        return value.strftime("%-d %B %Y") if value else ""


def register_security_headers(app: Flask) -> None:
    from portal.security import apply_security_headers

    app.after_request(apply_security_headers)


def register_commands(app: Flask) -> None:
    from portal.cli import register

    register(app)
