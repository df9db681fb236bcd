"""flask commands: users, demo data, sessions, email digests, the outbox and its worker."""

from __future__ import annotations

import sys
from datetime import timedelta

import click
from flask import Flask

from portal.config import base_url_warning
from portal.demo import demo_accounts, demo_password, load_demo
from portal.extensions import db
from portal.import_command import import_command
from portal.mail import delivery
from portal.mail import webhooks as webhook_delivery
from portal.mail.delivery import delivery_mode, run_worker
from portal.mail.notify import queue_digests
from portal.mail.outbox import deliver_due
from portal.models import Role, User
from portal.models.types import utcnow
from portal.services import accounts, api_keys, my_data, two_factor, users
from portal.services.errors import DomainError, InvalidInput
from portal.services.sessions import purge_expired_sessions

ROLE_CHOICE = click.Choice([r.value for r in Role])


def register(app: Flask) -> None:
    app.cli.add_command(user_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(sessions_cli)
    app.cli.add_command(digest_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(worker)
    app.cli.add_command(api_key_cli)
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


@user_cli.command("reset-two-factor")
@click.argument("email")
def reset_two_factor(email: str) -> None:
    """Clear a person's two-factor sign-in (a lost phone, and no admin to reset it)."""
    user = accounts.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No account uses {email}.")
    two_factor.reset(user, actor=None, ip=None)
    db.session.commit()
    click.echo(f"{user.email} signs in with their password and sets two-factor up again.")


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
    click.echo(
        "Admins sign in with a code from an authenticator app too: the first sign-in sets it up."
    )


@click.group("sessions", help="Signed-in sessions.")
def sessions_cli() -> None:
    pass


@sessions_cli.command("purge")
def purge_sessions() -> None:
    """Delete sessions that have expired (run it daily from cron)."""

    removed = purge_expired_sessions()
    my_data.purge_expired_exports()
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


@click.group("outbox", help="The outbox of email and webhook deliveries waiting to be sent.")
def outbox_cli() -> None:
    pass


@outbox_cli.command("send")
def send_outbox() -> None:
    """Send every email and webhook delivery that is due now (for cron, or after an outage)."""

    prepared = delivery.other_work()  # data exports, whose emails then go out below
    sent = deliver_due()
    delivered = webhook_delivery.deliver_due()
    click.echo(
        f"Sent {sent} message(s) and {delivered} webhook delivery(ies); "
        f"prepared {prepared} data export(s)."
    )


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


@click.group("api-key", help="API keys: make, list and revoke a person's keys.")
def api_key_cli() -> None:
    pass


def _person(email: str) -> User:
    user = accounts.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No account uses {email}.")
    return user


@api_key_cli.command("create")
@click.argument("email")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help=f"What the key may do: {', '.join(api_keys.SCOPES)} (repeat for several).",
)
@click.option("--name", default="Command line", show_default=True, help="What the key is for.")
@click.option("--expires-in-days", type=click.IntRange(1, 36_500), help="Default: no expiry.")
def create_api_key(
    email: str, scopes: tuple[str, ...], name: str, expires_in_days: int | None
) -> None:
    """Make a key for a person and print only its token, for a script to read.

    The token is shown this once; everything else goes to standard error.
    """
    user = _person(email)
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    try:
        key, token = api_keys.create_key(
            user, name=name, scopes=scopes, expires_at=expires_at, actor=None
        )
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(
        f"Made the key “{key.name}” ({key.prefix}…) for {user.email}: "
        f"{', '.join(key.scope_list)}. This is the only time its token is shown.",
        err=True,
    )
    click.echo(token)


@api_key_cli.command("list")
@click.argument("email")
def list_api_keys(email: str) -> None:
    """A person's keys, newest first: prefix, scopes, state and name."""
    user = _person(email)
    keys = api_keys.keys_of(user)
    if not keys:
        click.echo(f"{user.email} has no API keys.", err=True)
    now = utcnow()
    for key in keys:
        state = (
            "revoked"
            if key.revoked_at
            else "expired"
            if key.expired(now)
            else f"last used {key.last_used_at:%Y-%m-%d %H:%M}"
            if key.last_used_at
            else "never used"
        )
        click.echo(f"{key.prefix}\t{','.join(key.scope_list)}\t{state}\t{key.name}")


@api_key_cli.command("revoke")
@click.argument("prefix")
def revoke_api_key(prefix: str) -> None:
    """Revoke the one key whose shown prefix starts with PREFIX."""
    found = api_keys.keys_by_prefix(prefix)
    if not found:
        raise click.ClickException(f"No API key starts with {prefix}.")
    if len(found) > 1:
        raise click.ClickException(
            f"{len(found)} keys start with {prefix}: give more of the prefix "
            "(see `flask api-key list EMAIL`)."
        )
    key = found[0]
    try:
        api_keys.revoke_key(key, actor=None)
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"Revoked “{key.name}” ({key.prefix}…) of {key.user.email}.")
