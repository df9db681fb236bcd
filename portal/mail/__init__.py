"""Email and webhooks: composing messages, the outbox that delivers them, mailing notifications,
and delivering webhook events by the same workers.

It sits below portal.services and above portal.models, and imports neither the services nor
any blueprint. Its modules, each importing only those listed before it:
- preferences: what each person wants by email, and the signed links in a message;
- compose: a message from its templates, and what each notification says;
- transport: handing a message to the SMTP server (or to an .eml file);
- leases: claiming a queued row under a lease, and retrying it with back-off (email, webhooks);
- netguard: calling an admin's URL without reaching inside the network (SSRF);
- outbox: queueing a message with its cause, claiming, delivering and retrying it;
- webhooks: signing, posting and logging webhook deliveries; disabling failing endpoints;
- delivery: who delivers and when (after each commit; RQ worker, thread or inline);
- notify: outbox rows for notifications, at once or in the daily digest.
"""
