"""Email: composing messages, the outbox that delivers them, and mailing notifications.

It sits below portal.services and above portal.models, and imports neither the services nor
any blueprint. Its modules, each importing only those listed before it:
- preferences: what each person wants by email, and the signed links in a message;
- compose: a message from its templates, and what each notification says;
- transport: handing a message to the SMTP server (or to an .eml file);
- outbox: queueing a message with its cause, claiming, delivering and retrying it;
- delivery: who delivers and when (after each commit; RQ worker, thread or inline);
- notify: outbox rows for notifications, at once or in the daily digest.
"""
