"""flask commands: users, demo data, sessions, email digests, the outbox and its worker."""

from __future__ import annotations

import sys

import click
from flask import Flask

from portal.config import base_url_warning
from portal.demo import demo_accounts, demo_password, load_demo
from portal.extensions import db
from portal.import_command import import_command
from portal.mail.delivery import delivery_mode, run_worker
from portal.mail.notify import queue_digests
from portal.mail.outbox import deliver_due
from portal.models import Role
from portal.services import accounts, users
from portal.services.errors import InvalidInput
from portal.services.sessions import purge_expired_sessions

ROLE_CHOICE = click.Choice([r.value for r in Role])


def register(app: Flask) -> None:
    app.cli.add_command(user_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(sessions_cli)
    app.cli.add_command(digest_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(worker)
    app.cli.add_command(import_command)


@click.group("user", help="Create users and change their roles.")
def user_cli() -> None:
    pass


@user_cli.command("create")
@click.argument("email")
@click.option("--name", "display_name", help="Display name (defaults to the email's local part).")
@click.option("--role", type=ROLE_CHOICE, default=Role.CUSTOMER.value, show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(email: str, display_name: str | None, role: str, password_stdin: bool) -> None:
    """Create a confirmed account. The password is prompted for unless --password-stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = accounts.create_user(
            email=email,
            display_name=display_name or email.partition("@")[0],
            password=password,
            role=Role(role),
            verified=True,
            accepted_guidelines=True,
        )
    except InvalidInput as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"Created {user.email} ({Role(user.role).label}).")


@user_cli.command("set-role")
@click.argument("email")
@click.argument("role", type=ROLE_CHOICE)
def set_role(email: str, role: str) -> None:
    """Change a person's role."""
    user = accounts.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No account uses {email}.")
    users.set_role_by_operator(user, role)
    db.session.commit()
    click.echo(f"{user.email} is now {Role(role).label.lower()}.")


@click.group("demo", help="Demo data for trying the portal out.")
def demo_cli() -> None:
    pass


@demo_cli.command("load")
@click.option("--quiet", is_flag=True, help="Only print the accounts, not progress.")
def demo_load(quiet: bool) -> None:
    """Load demo organisations, people and ideas, once; then print the demo accounts."""

    created = load_demo()
    if created:
        db.session.commit()
    if not quiet:
        click.echo("Demo data loaded." if created else "Demo data was already loaded.")
    click.echo(f"\nDemo accounts (password for all: {demo_password()}):")
    for email, label in demo_accounts():
        click.echo(f"  {label:<16} {email}")


@click.group("sessions", help="Signed-in sessions.")
def sessions_cli() -> None:
    pass


@sessions_cli.command("purge")
def purge_sessions() -> None:
    """Delete sessions that have expired (run it daily from cron)."""

    removed = purge_expired_sessions()
    db.session.commit()
    click.echo(f"Removed {removed} expired session{'' if removed == 1 else 's'}.")


@click.group("digest", help="Daily digest emails.")
def digest_cli() -> None:
    pass


@digest_cli.command("send")
def send_digests() -> None:
    """Queue today's digest for everyone with daily notifications, and send (run from cron)."""

    made = queue_digests()
    db.session.commit()
    sent = deliver_due() if delivery_mode() != "rq" else 0
    click.echo(
        f"Queued {made} digest{'' if made == 1 else 's'}"
        + (f"; sent {sent} message{'' if sent == 1 else 's'}." if sent else ".")
    )


@click.group("outbox", help="The outbox of email waiting to be sent.")
def outbox_cli() -> None:
    pass


@outbox_cli.command("send")
def send_outbox() -> None:
    """Send every message that is due now (for cron, or after a mail server outage)."""

    click.echo(f"Sent {deliver_due()} message(s).")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty (for tests).")
def worker(burst: bool) -> None:
    """Deliver email in the background with RQ; needs REDIS_URL."""
    from flask import current_app

    if not current_app.config["REDIS_URL"]:
        raise click.ClickException(
            "The worker needs Redis: set REDIS_URL. Without it, app servers deliver email "
            "themselves in a background thread."
        )
    # The worker outlives this app context, so it takes the app itself, not the proxy.
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # typed as Flask
    if warning := base_url_warning(app):
        app.logger.warning(warning)  # it writes the links of every email
    run_worker(app, burst=burst)
