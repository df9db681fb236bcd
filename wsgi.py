"""The WSGI entry point for gunicorn: `gunicorn wsgi:app`."""

from portal import create_app
from portal.config import base_url_warning
from portal.mail.delivery import deliver_in_each_server_process

app = create_app()
if warning := base_url_warning(app):
    app.logger.warning(warning)
# Without Redis, each server process delivers the email outbox in a thread of its own.
deliver_in_each_server_process(app)
