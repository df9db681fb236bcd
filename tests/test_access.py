"""Who may reach what: the role-by-route matrix, IDOR and mass assignment, the admin people pages.

The matrix below is the list of every route the app has. A new route makes
test_every_route_is_in_the_matrix fail until someone writes down what each role gets from it.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    AuditEvent,
    Board,
    BoardMember,
    Category,
    DataExport,
    ExternalIdentity,
    Idea,
    Invite,
    Notification,
    Organisation,
    OrganisationDomain,
    OutboxMessage,
    OutboxStatus,
    Release,
    ReleaseIdea,
    Role,
    SavedFilter,
    SsoProvider,
    User,
    UserSession,
    WebhookDelivery,
    WebhookEndpoint,
)

from .conftest import DEFAULT_PASSWORD, sign_in_client
from .helpers import database_snapshot, page_text

ROLES = ("anonymous", "customer", "product_manager", "admin")
METHODS = ("GET", "POST")


@dataclass(frozen=True)
class Outcome:
    status: int
    # For redirects: the path (a format string over the URL's values) the Location points to.
    location: str | None = None
    # True only where the request is allowed to write, and then it must write something.
    changes: bool = False


PAGE = Outcome(200)
BAD_REQUEST = Outcome(400)
FORBIDDEN = Outcome(403)
NOT_ALLOWED = Outcome(405)
NOT_FOUND = Outcome(404)
SIGN_IN = Outcome(302, "/sign-in")
HOME = Outcome(302, "/")
# Signed out, pressing Vote, Follow or Post on an idea: sign-in, saying what it is for, and
# then back on the idea (portal.intent), not back to the POST-only address.
SIGN_IN_TO_ACT = Outcome(303, "/sign-in")


def everyone(outcome: Outcome) -> dict[str, Outcome]:
    return dict.fromkeys(ROLES, outcome)


def signed_in(outcome: Outcome) -> dict[str, Outcome]:
    """Anonymous visitors are sent to sign in; every signed-in role gets outcome."""
    return {"anonymous": SIGN_IN, "customer": outcome, "product_manager": outcome, "admin": outcome}


def admins(outcome: Outcome) -> dict[str, Outcome]:
    return {
        "anonymous": SIGN_IN,
        "customer": FORBIDDEN,
        "product_manager": FORBIDDEN,
        "admin": outcome,
    }


def team(outcome: Outcome) -> dict[str, Outcome]:
    """Product managers and admins get outcome; customers are refused."""
    return {
        "anonymous": SIGN_IN,
        "customer": FORBIDDEN,
        "product_manager": outcome,
        "admin": outcome,
    }


def visitors(anonymous: Outcome, signed_in_roles: Outcome) -> dict[str, Outcome]:
    """Pages for people who are not signed in; signed-in people get signed_in_roles."""
    return {
        "anonymous": anonymous,
        "customer": signed_in_roles,
        "product_manager": signed_in_roles,
        "admin": signed_in_roles,
    }


@dataclass(frozen=True)
class Route:
    get: dict[str, Outcome]
    post: dict[str, Outcome]
    data: dict[str, str] = field(default_factory=dict)  # the form a POST sends
    user: str = "target"  # which person <user_id> names: "target" or "suspended"
    # Which comment <comment_id> names: the target's ("customer"), a product manager's ("team")
    # or a hidden one of the target's ("hidden").
    comment: str = "customer"
    # Which idea <idea_id> names: the target's ("idea"), a hidden one ("hidden_idea") or one
    # waiting for pre-moderation ("pending_idea"), all by the target.
    idea: str = "idea"

    def outcome(self, method: str, role: str) -> Outcome:
        return {"GET": self.get, "POST": self.post}[method][role]


NEW_PASSWORD = "another long passphrase 42"

# <idea_id> is an idea the target posted; <comment_id> a comment on it; <notification_id> one of
# the target's notifications. The acting person is never their author or owner.
BACK_TO_IDEA = Outcome(303, "/ideas/{idea_id}", changes=True)
BACK_TO_NOTIFICATIONS = Outcome(303, "/notifications")  # nothing of the actor's to mark read
TO_MODERATION = Outcome(303, "/admin/moderation", changes=True)
HIDE_BY_TEAM = {
    **team(TO_MODERATION),
    "product_manager": Outcome(303, "/team/triage", changes=True),
}
TO_ORGANISATION = Outcome(303, "/admin/settings/organisations/{organisation_id}", changes=True)
TO_BOARD_PEOPLE = Outcome(303, "/admin/boards/{board_id}/people", changes=True)
TO_WEBHOOK = Outcome(303, "/admin/webhooks/{endpoint_id}", changes=True)

MATRIX: dict[str, Route] = {
    "main.home": Route(get=everyone(PAGE), post=everyone(NOT_ALLOWED)),
    # For load balancers: no sign-in. /metrics is off by default (METRICS_ENABLED): a 404.
    "observability.healthz": Route(get=everyone(PAGE), post=everyone(NOT_ALLOWED)),
    "observability.metrics": Route(get=everyone(Outcome(404)), post=everyone(NOT_ALLOWED)),
    "main.guidelines": Route(get=everyone(PAGE), post=everyone(NOT_ALLOWED)),
    "auth.sign_in": Route(
        get=visitors(PAGE, HOME),
        post=visitors(Outcome(302, "/", changes=True), HOME),
        data={"email": "target@example.com", "password": DEFAULT_PASSWORD},
    ),
    "auth.sign_out": Route(
        # Already signed out (another tab): nothing to do, straight home.
        get=everyone(NOT_ALLOWED),
        post={**signed_in(Outcome(302, "/", changes=True)), "anonymous": HOME},
    ),
    "auth.sign_up": Route(
        get=visitors(PAGE, HOME),
        post=visitors(Outcome(303, "/sign-up/check-email", changes=True), HOME),
        data={
            "email": "newcomer@example.com",
            "display_name": "Newcomer",
            "password": "a long enough passphrase",
            "accept_guidelines": "y",
        },
    ),
    "auth.check_email": Route(get=everyone(PAGE), post=everyone(NOT_ALLOWED)),
    "auth.verify_email": Route(get=everyone(BAD_REQUEST), post=everyone(BAD_REQUEST)),
    "auth.resend_confirmation": Route(
        get=everyone(PAGE),
        # The typed address goes into the outbox whoever has it, the same work either way;
        # the email is composed (or skipped, as here) off the request path.
        post=everyone(Outcome(303, "/sign-in", changes=True)),
        data={"email": "nobody@example.com"},
    ),
    "auth.forgot_password": Route(
        get=everyone(PAGE),
        # The typed address goes into the outbox whoever has it, the same work either way;
        # the email is composed (or skipped, as here) off the request path.
        post=everyone(Outcome(303, "/sign-in", changes=True)),
        data={"email": "nobody@example.com"},
    ),
    "auth.reset_password": Route(
        get=everyone(BAD_REQUEST),
        post=everyone(BAD_REQUEST),
        data={"password": NEW_PASSWORD},
    ),
    # The second step of signing in: with no password typed first, back to sign-in.
    "auth.two_factor": Route(
        get=visitors(Outcome(303, "/sign-in"), HOME),
        post=visitors(Outcome(303, "/sign-in"), HOME),
        data={"code": "123456"},
    ),
    # Single sign-on: <slug> names a provider whose discovery address does not answer, so
    # starting says so on the sign-in page, and a callback is refused (and audited).
    "auth.sso_start": Route(
        get=everyone(NOT_ALLOWED), post=visitors(Outcome(303, "/sign-in"), HOME)
    ),
    "auth.sso_callback": Route(
        get=everyone(Outcome(303, "/sign-in", changes=True)), post=everyone(NOT_ALLOWED)
    ),
    "auth.sso_connect": Route(
        get=everyone(NOT_ALLOWED),
        post={
            **signed_in(Outcome(303, "/account/sign-in-methods")),
            "anonymous": Outcome(302, "/sign-in"),
        },
    ),
    # No token: refused (logged, not audited: anyone can send nonsense).
    "auth.identify_sign_in": Route(get=everyone(BAD_REQUEST), post=everyone(BAD_REQUEST)),
    "account.sign_in_methods": Route(get=signed_in(PAGE), post=everyone(NOT_ALLOWED)),
    # <identity_id> is the target's: anyone else's is as if it did not exist.
    "account.disconnect_provider": Route(get=everyone(NOT_ALLOWED), post=signed_in(NOT_FOUND)),
    "account.profile": Route(get=signed_in(PAGE), post=everyone(NOT_ALLOWED)),
    # Setting two-factor up: a wrong code is refused and recorded in the audit log.
    "account.two_factor": Route(
        get=signed_in(PAGE),
        post=signed_in(Outcome(400, changes=True)),
        data={"code": "000000"},
    ),
    "account.new_recovery_codes": Route(
        get=everyone(NOT_ALLOWED), post=signed_in(Outcome(303, "/account/two-factor"))
    ),
    # Nobody in the matrix has two-factor on: nothing to turn off.
    "account.two_factor_off": Route(
        get=everyone(NOT_ALLOWED),
        post=signed_in(BAD_REQUEST),
        data={"password": DEFAULT_PASSWORD, "code": "000000"},
    ),
    "account.change_display_name": Route(
        get=everyone(NOT_ALLOWED),
        post=signed_in(Outcome(303, "/account", changes=True)),
        data={"display_name": "Renamed Person"},
    ),
    "account.change_password": Route(
        get=everyone(NOT_ALLOWED),
        post=signed_in(Outcome(303, "/account", changes=True)),
        data={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    ),
    # Making a key answers with its token on the page itself (200), never by a redirect.
    "account.api_keys": Route(
        get=signed_in(PAGE),
        post=signed_in(Outcome(200, changes=True)),
        data={"name": "Matrix key", "scopes": "read"},
    ),
    # <credential_id> is the target's key: anyone else's is as if it did not exist, even to admins.
    "account.revoke_api_key": Route(get=everyone(NOT_ALLOWED), post=signed_in(NOT_FOUND)),
    # <session_id> is the target's session: to anyone else it is as if it did not exist.
    "account.end_session": Route(get=everyone(NOT_ALLOWED), post=signed_in(NOT_FOUND)),
    "account.end_other_sessions": Route(
        get=everyone(NOT_ALLOWED), post=signed_in(Outcome(303, "/account", changes=True))
    ),
    # The acting admin is the only admin, who may not erase themselves.
    "account.delete_account": Route(
        get=signed_in(PAGE),
        post={**signed_in(Outcome(303, "/", changes=True)), "admin": BAD_REQUEST},
        data={"confirmation": DEFAULT_PASSWORD},
    ),
    "account.my_data": Route(
        get=signed_in(PAGE), post=signed_in(Outcome(303, "/account/my-data", changes=True))
    ),
    # <export_id> is the target's ready copy: anyone else gets 404, admins included.
    "account.download_my_data": Route(get=signed_in(NOT_FOUND), post=everyone(NOT_ALLOWED)),
    "admin.users_list": Route(get=admins(PAGE), post=everyone(NOT_ALLOWED)),
    "admin.erase_user": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(Outcome(303, "/admin/users/{user_id}", changes=True)),
        data={"confirm": "y"},
    ),
    "admin.end_session": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(Outcome(303, "/admin/users/{user_id}", changes=True)),
    ),
    "admin.end_all_sessions": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(Outcome(303, "/admin/users/{user_id}", changes=True)),
    ),
    "admin.user_detail": Route(get=admins(PAGE), post=everyone(NOT_ALLOWED)),
    "admin.change_role": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(Outcome(303, "/admin/users/{user_id}", changes=True)),
        data={"role": "product_manager"},
    ),
    # The target has no two-factor to reset: back to their page, saying so.
    "admin.reset_two_factor": Route(
        get=admins(Outcome(303, "/admin/users/{user_id}")),
        post=admins(Outcome(303, "/admin/users/{user_id}")),
    ),
    "admin.suspend": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(Outcome(303, "/admin/users/{user_id}", changes=True)),
        data={"reason": "Posting the same advert everywhere"},
    ),
    "admin.unsuspend": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(Outcome(303, "/admin/users/{user_id}", changes=True)),
        user="suspended",
    ),
    "admin.restore_content": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(Outcome(303, "/admin/users/{user_id}", changes=True)),
    ),
    "admin.stages": Route(get=admins(PAGE), post=everyone(NOT_ALLOWED)),
    "admin.audit_events": Route(get=admins(PAGE), post=everyone(NOT_ALLOWED)),
    "admin.audit_csv": Route(get=admins(PAGE), post=everyone(NOT_ALLOWED)),
    "admin.new_stage": Route(
        get=admins(PAGE),
        post=admins(Outcome(303, "/admin/stages", changes=True)),
        # Closed: a stage with no way on is refused unless it is closed (test_pipeline_checks).
        data={
            "name": "Beta",
            "description": "Ready to try in beta.",
            "position": "35",
            "is_closed": "y",
        },
    ),
    "admin.edit_stage": Route(
        get=admins(PAGE),
        post=admins(Outcome(303, "/admin/stages", changes=True)),
        data={
            "name": "Being studied",
            "description": "We are studying it.",
            "position": "1",
            "is_closed": "y",
        },
    ),
    "admin.retire_stage": Route(
        get=everyone(NOT_ALLOWED), post=admins(Outcome(303, "/admin/stages", changes=True))
    ),
    "admin.reinstate_stage": Route(
        get=everyone(NOT_ALLOWED), post=admins(Outcome(303, "/admin/stages", changes=True))
    ),
    "admin.boards_list": Route(get=admins(PAGE), post=everyone(NOT_ALLOWED)),
    "admin.new_board": Route(
        get=admins(PAGE),
        post=admins(Outcome(303, "/admin/boards", changes=True)),
        data={"name": "Partners", "audience": "private", "posting_open": "y"},
    ),
    # The matrix board is private, names nobody and holds no ideas (see the content fixture):
    # renaming it lets nobody new in, so it saves without the review of who would see it.
    "admin.edit_board": Route(
        get=admins(PAGE),
        post=admins(Outcome(303, "/admin/boards", changes=True)),
        data={"name": "Matrix board, renamed", "slug": "matrix", "audience": "private"},
    ),
    "admin.move_board": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(Outcome(303, "/admin/boards", changes=True)),
        data={"direction": "up"},
    ),
    "admin.delete_board": Route(
        get=admins(PAGE), post=admins(Outcome(303, "/admin/boards", changes=True))
    ),
    "admin.set_organisation": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(Outcome(303, "/admin/users/{user_id}", changes=True)),
        data={"organisation_id": "{organisation_id}"},
    ),
    "admin.settings": Route(
        get=admins(PAGE),
        post=admins(Outcome(303, "/admin/settings", changes=True)),
        data={"site_name": "Acme Ideas", "pre_moderation": "y"},
    ),
    "admin.roadmap_settings": Route(
        get=admins(PAGE),
        post=admins(Outcome(303, "/admin/settings/roadmap", changes=True)),
        data={"scheme": "quarters"},
    ),
    "admin.save_two_factor_required": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(Outcome(303, "/admin/settings", changes=True)),
        data={"required": "team"},
    ),
    "admin.save_guidelines": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(Outcome(303, "/admin/settings", changes=True)),
        data={"guidelines": "## Be kind\n\nNo spam and no insults, please."},
    ),
    "admin.categories": Route(get=admins(PAGE), post=everyone(NOT_ALLOWED)),
    "admin.new_category": Route(
        get=admins(PAGE),
        post=admins(Outcome(303, "/admin/settings/categories", changes=True)),
        data={"name": "Integrations", "description": "Other tools.", "position": "5"},
    ),
    "admin.edit_category": Route(
        get=admins(PAGE),
        post=admins(Outcome(303, "/admin/settings/categories", changes=True)),
        data={"name": "Reports and exports", "position": "2"},
    ),
    # The matrix's category is retired (so the submit form asks for none): retiring it again
    # changes nothing, reinstating it does.
    "admin.retire_category": Route(
        get=everyone(NOT_ALLOWED), post=admins(Outcome(303, "/admin/settings/categories"))
    ),
    "admin.reinstate_category": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(Outcome(303, "/admin/settings/categories", changes=True)),
    ),
    "admin.organisations_list": Route(get=admins(PAGE), post=everyone(NOT_ALLOWED)),
    "admin.new_organisation": Route(
        get=admins(PAGE),
        post=admins(Outcome(303, "/admin/settings/organisations", changes=True)),
        data={"name": "Globex", "domains": "globex.example"},
    ),
    "admin.edit_organisation": Route(
        get=admins(PAGE),
        post=admins(TO_ORGANISATION),
        data={"name": "Acme Partners Ltd"},
    ),
    "admin.add_organisation_domain": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(TO_ORGANISATION),
        data={"domain": "partners.example"},
    ),
    # Needs the matrix organisation to own acme-partners.example (see the content fixture).
    "admin.remove_organisation_domain": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(TO_ORGANISATION),
        data={"domain": "acme-partners.example"},
    ),
    "admin.save_customer_value": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(TO_ORGANISATION),
        data={"plan": "Business", "value": "1200", "value_basis": "mrr"},
    ),
    "admin.import_organisations": Route(
        get=admins(PAGE), post=admins(PAGE), data={"csv_text": "name,plan\nAcme Partners,Gold\n"}
    ),
    "admin.apply_organisation_import": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(Outcome(303, "/admin/settings/organisations", changes=True)),
        data={"csv_text": "name,plan\nAcme Partners,Gold\n"},
    ),
    # Invitations and private boards (the matrix's board is private; the target is a member
    # and has a pending invitation).
    "admin.board_people": Route(get=admins(PAGE), post=everyone(NOT_ALLOWED)),
    "admin.invite_to_board": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(TO_BOARD_PEOPLE),
        data={"emails": "new.person@example.com\nanother.person@example.com"},
    ),
    "admin.revoke_invite": Route(get=everyone(NOT_ALLOWED), post=admins(TO_BOARD_PEOPLE)),
    "admin.remove_board_member": Route(get=everyone(NOT_ALLOWED), post=admins(TO_BOARD_PEOPLE)),
    "admin.portal_invites": Route(
        get=admins(PAGE),
        post=admins(Outcome(303, "/admin/invites", changes=True)),
        data={"emails": "new.person@example.com"},
    ),
    "admin.access_settings": Route(
        get=admins(PAGE),
        post=admins(Outcome(303, "/admin/settings/access", changes=True)),
        data={"sign_up": "invited", "sign_up_domains": "acme-partners.example"},
    ),
    # An unknown link: a page saying so, for everyone.
    "auth.invite": Route(get=everyone(NOT_FOUND), post=everyone(NOT_FOUND)),
    "organisations.index": Route(get=team(PAGE), post=everyone(NOT_ALLOWED)),
    "organisations.detail": Route(get=team(PAGE), post=everyone(NOT_ALLOWED)),
    "main.ideas_feed": Route(get=everyone(PAGE), post=everyone(NOT_ALLOWED)),
    "main.shipped_feed": Route(get=everyone(PAGE), post=everyone(NOT_ALLOWED)),
    "main.roadmap": Route(get=everyone(PAGE), post=everyone(NOT_ALLOWED)),
    "main.board": Route(get=everyone(PAGE), post=everyone(NOT_ALLOWED)),
    "main.board_feed": Route(get=everyone(PAGE), post=everyone(NOT_ALLOWED)),
    "main.shipped": Route(get=everyone(PAGE), post=everyone(NOT_ALLOWED)),
    "main.stage_colours": Route(get=everyone(PAGE), post=everyone(NOT_ALLOWED)),
    # <release_id> is a draft linking the other idea: customers cannot tell it exists.
    "main.release": Route(
        get={"anonymous": NOT_FOUND, "customer": NOT_FOUND, "product_manager": PAGE, "admin": PAGE},
        post=everyone(NOT_ALLOWED),
    ),
    "team.releases_list": Route(get=team(PAGE), post=everyone(NOT_ALLOWED)),
    "team.release_new": Route(
        get=team(PAGE),
        post=team(Outcome(303, "/team/releases/{new_release_id}", changes=True)),
        data={"title": "Matrix release", "note": "A note for the matrix release."},
    ),
    "team.release_edit": Route(
        get=team(PAGE),
        post=team(Outcome(303, "/team/releases/{release_id}", changes=True)),
        data={
            "title": "Renamed matrix draft",
            "note": "The note of the draft, rewritten.",
            "idea_ids": "{other_idea_id}",
        },
    ),
    "team.release_publish": Route(
        get=everyone(NOT_ALLOWED),
        post=team(Outcome(303, "/shipped/releases/{release_id}", changes=True)),
    ),
    "team.release_delete": Route(
        get=everyone(NOT_ALLOWED),
        post=team(Outcome(303, "/team/releases", changes=True)),
    ),
    "team.queue": Route(get=team(PAGE), post=everyone(NOT_ALLOWED)),
    "team.dashboard": Route(get=team(PAGE), post=everyone(NOT_ALLOWED)),
    "team.priority": Route(get=team(PAGE), post=everyone(NOT_ALLOWED)),
    "team.priority_csv": Route(get=team(PAGE), post=everyone(NOT_ALLOWED)),
    "team.save_row_estimates": Route(
        get=everyone(NOT_ALLOWED),
        post=team(Outcome(303, "/team/priority", changes=True)),
        data={"impact": "4", "effort": "2", "back": "stage=new"},
    ),
    "team.priority_formula": Route(
        get=team(PAGE),
        post=team(Outcome(303, "/team/priority", changes=True)),
        data={
            "votes": "1",
            "value": "2",
            "impact": "2",
            "effort": "2",
            "age": "0.5",
            "satisfaction": "1",
        },
    ),
    "team.move_selected": Route(
        get=everyone(NOT_ALLOWED),
        post=team(Outcome(303, "/team/triage", changes=True)),
        data={
            "idea_ids": "{other_idea_id}",
            "stage_id": "{stage_id}",
            "note": "Several of these are now under review.",
        },
    ),
    "team.queue_csv": Route(get=team(PAGE), post=everyone(NOT_ALLOWED)),
    "team.save_filter": Route(
        get=everyone(NOT_ALLOWED),
        post=team(Outcome(303, "/team/triage", changes=True)),
        data={"name": "Everything new"},
    ),
    "team.saved_filters_page": Route(get=team(PAGE), post=everyone(NOT_ALLOWED)),
    # <filter_id> is a filter the team member saved and shared: nobody else changes it.
    "team.update_filter": Route(
        get=everyone(NOT_ALLOWED), post=team(Outcome(404)), data={"name": "Taken over"}
    ),
    "team.delete_filter": Route(get=everyone(NOT_ALLOWED), post=team(Outcome(404))),
    # Triage mode: the first idea needing an answer is the other idea; skipping one opens the next.
    "ideas.next_idea": Route(
        get=team(Outcome(303, "/team/triage/ideas/{other_idea_id}")), post=everyone(NOT_ALLOWED)
    ),
    "ideas.triage_idea": Route(get=team(PAGE), post=everyone(NOT_ALLOWED)),
    "ideas.skip_idea": Route(
        get=everyone(NOT_ALLOWED), post=team(Outcome(303, "/team/triage/ideas/{other_idea_id}"))
    ),
    "ideas.assign_to_me": Route(
        get=everyone(NOT_ALLOWED),
        post=team(Outcome(303, "/team/triage/ideas/{idea_id}", changes=True)),
    ),
    "ideas.new_team_vote": Route(get=team(PAGE), post=everyone(NOT_ALLOWED)),
    "ideas.add_team_vote": Route(
        get=everyone(NOT_ALLOWED),
        post=team(Outcome(303, "/ideas/{idea_id}", changes=True)),
        data={"organisation_id": "{organisation_id}", "source": "meeting"},
    ),
    # No vote with that id was added by the team: nothing to remove, back to the idea.
    "ideas.remove_team_vote": Route(
        get=everyone(NOT_ALLOWED),
        post=team(Outcome(303, "/ideas/{idea_id}")),
        data={"vote_id": "999999"},
    ),
    "main.idea_feed": Route(get=everyone(PAGE), post=everyone(NOT_ALLOWED)),
    "ideas.new": Route(
        get=signed_in(PAGE),
        post=signed_in(Outcome(303, "/ideas/{new_idea_id}", changes=True)),
        data={
            "title": "A brand new idea",
            "problem": "Something gets in the way.",
            "confirmed": "1",
            "board": "ideas",  # the team may also post on the private Matrix board
        },
    ),
    "ideas.similar": Route(get=everyone(PAGE), post=everyone(NOT_ALLOWED)),
    "ideas.search": Route(get=everyone(PAGE), post=everyone(NOT_ALLOWED)),
    "ideas.detail": Route(get=everyone(PAGE), post=everyone(NOT_ALLOWED)),
    "ideas.edit": Route(
        # Only the author, and only until the team answers (see tests/test_ideas.py).
        get=signed_in(FORBIDDEN),
        post=signed_in(FORBIDDEN),
        data={"title": "Edited by somebody else", "problem": "Changed by somebody else"},
    ),
    "ideas.vote": Route(
        get=everyone(NOT_ALLOWED),
        post={**signed_in(BACK_TO_IDEA), "anonymous": SIGN_IN_TO_ACT},
        data={"action": "vote"},
    ),
    "ideas.follow": Route(
        get=everyone(NOT_ALLOWED),
        post={**signed_in(BACK_TO_IDEA), "anonymous": SIGN_IN_TO_ACT},
        data={"action": "follow"},
    ),
    "ideas.comment": Route(
        get=everyone(NOT_ALLOWED),
        post={**signed_in(BACK_TO_IDEA), "anonymous": SIGN_IN_TO_ACT},
        data={"body": "A comment from the role matrix"},
    ),
    # Only keeps the text in the visitor's session while they sign in: no row changes.
    "ideas.keep_comment_draft": Route(
        get=everyone(NOT_ALLOWED),
        post=visitors(SIGN_IN_TO_ACT, Outcome(303, "/ideas/{idea_id}")),
        data={"body": "Typed before signing in"},
    ),
    "ideas.edit_comment": Route(
        get=signed_in(FORBIDDEN), post=signed_in(FORBIDDEN), data={"body": "Defaced"}
    ),
    # GET is the confirmation page: only the author's (see tests/test_comments.py).
    "ideas.delete_comment": Route(get=signed_in(FORBIDDEN), post=signed_in(FORBIDDEN)),
    "ideas.mark_official": Route(
        get=everyone(NOT_ALLOWED), post=team(BACK_TO_IDEA), comment="team"
    ),
    "ideas.move": Route(
        get=everyone(NOT_ALLOWED),
        post=team(BACK_TO_IDEA),
        data={"stage_id": "{stage_id}", "note": "We are looking into this with a few of you."},
    ),
    # GET: choosing the idea to keep; POST: the merge, from the confirm page.
    "ideas.merge": Route(
        get=team(PAGE),
        post=team(Outcome(303, "/ideas/{other_idea_id}", changes=True)),
        data={"target_id": "{other_idea_id}", "note": "The same need as the other idea here."},
    ),
    "ideas.confirm_merge": Route(get=team(PAGE), post=everyone(NOT_ALLOWED)),
    # The matrix has one board, so there is nowhere to move to: the form says so
    # (tests/test_board_moves.py moves ideas between boards).
    "ideas.move_board": Route(
        get=team(PAGE), post=team(BAD_REQUEST), data={"board_id": "1", "note": "Moved."}
    ),
    # The matrix's idea is not merged: nothing to unmerge (tests/test_merging.py does it).
    "ideas.unmerge": Route(
        get=team(Outcome(404)),
        post=team(Outcome(404)),
        data={"note": "These are different needs after all, so they stand apart."},
    ),
    "ideas.set_owner": Route(
        get=everyone(NOT_ALLOWED),
        post=team(Outcome(303, "/ideas/{idea_id}", changes=True)),
        data={"owner_id": "{team_member_id}"},
    ),
    "ideas.set_estimates": Route(
        get=everyone(NOT_ALLOWED),
        post=team(Outcome(303, "/ideas/{idea_id}", changes=True)),
        data={"impact": "4", "effort": "2"},
    ),
    "ideas.set_timeframe": Route(
        get=everyone(NOT_ALLOWED),
        post=team(Outcome(303, "/ideas/{idea_id}", changes=True)),
        data={"timeframe": "next"},
    ),
    "ideas.add_note": Route(
        get=everyone(NOT_ALLOWED),
        post=team(Outcome(303, "/ideas/{idea_id}", changes=True)),
        data={"body": "Globex needs this before their renewal."},
    ),
    # The matrix's idea is still New: nobody is asked about its outcome yet.
    "ideas.answer_outcome": Route(
        get=everyone(NOT_ALLOWED), post=signed_in(FORBIDDEN), data={"answer": "yes"}
    ),
    "ideas.notifications_page": Route(get=signed_in(PAGE), post=everyone(NOT_ALLOWED)),
    # Someone else's notification: as if it did not exist.
    "ideas.open_notification": Route(get=signed_in(Outcome(404)), post=everyone(NOT_ALLOWED)),
    "ideas.read_notification": Route(
        get=everyone(NOT_ALLOWED), post=signed_in(BACK_TO_NOTIFICATIONS)
    ),
    "ideas.read_all_notifications": Route(
        get=everyone(NOT_ALLOWED), post=signed_in(BACK_TO_NOTIFICATIONS)
    ),
    "ideas.mine": Route(get=signed_in(PAGE), post=everyone(NOT_ALLOWED)),
    "account.email_preferences": Route(
        get=signed_in(PAGE),
        post=signed_in(Outcome(303, "/account/email", changes=True)),
        data={"comment": "off", "stage_change": "daily"},
    ),
    # Signed links from emails: a made-up token is refused, whoever follows it.
    "account.email_unsubscribe": Route(get=everyone(BAD_REQUEST), post=everyone(BAD_REQUEST)),
    "account.email_outcome": Route(get=everyone(BAD_REQUEST), post=everyone(BAD_REQUEST)),
    "admin.outbox": Route(get=admins(PAGE), post=everyone(NOT_ALLOWED)),
    "admin.outbox_message": Route(get=admins(PAGE), post=everyone(NOT_ALLOWED)),
    "admin.webhooks_list": Route(get=admins(PAGE), post=everyone(NOT_ALLOWED)),
    "admin.webhook_local_hosts": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(Outcome(303, "/admin/webhooks", changes=True)),
        data={"local_hosts": "127.0.0.1 localhost"},
    ),
    "admin.new_webhook": Route(
        get=admins(PAGE),
        post=admins(Outcome(303, "/admin/webhooks/{new_endpoint_id}", changes=True)),
        data={"url": "http://127.0.0.1:9/new", "format": "slack", "events": "idea.created"},
    ),
    "admin.webhook_endpoint": Route(
        get=admins(PAGE),
        post=admins(TO_WEBHOOK),
        data={
            "url": "http://127.0.0.1:9/hook",
            "description": "Renamed by the matrix",
            "format": "standard",
            "events": "idea.moved",
            "enabled": "y",
        },
    ),
    # The secret is shown on the page answering the POST, and the audit log notes who saw it.
    "admin.reveal_webhook_secret": Route(
        get=everyone(NOT_ALLOWED), post=admins(Outcome(200, changes=True))
    ),
    "admin.rotate_webhook_secret": Route(get=everyone(NOT_ALLOWED), post=admins(TO_WEBHOOK)),
    "admin.test_webhook": Route(get=everyone(NOT_ALLOWED), post=admins(TO_WEBHOOK)),
    # Enabled already: nothing to do.
    "admin.enable_webhook": Route(
        get=everyone(NOT_ALLOWED), post=admins(Outcome(303, "/admin/webhooks/{endpoint_id}"))
    ),
    # GET asks for confirmation (the address, the deliveries logged); only the POST deletes.
    "admin.delete_webhook": Route(
        get=admins(PAGE), post=admins(Outcome(303, "/admin/webhooks", changes=True))
    ),
    "admin.resend_webhook_delivery": Route(get=everyone(NOT_ALLOWED), post=admins(TO_WEBHOOK)),
    "admin.sso_providers": Route(get=admins(PAGE), post=everyone(NOT_ALLOWED)),
    "admin.new_sso_provider": Route(
        get=admins(PAGE),
        post=admins(Outcome(303, "/admin/sso", changes=True)),
        data={
            "name": "Matrix login",
            "slug": "matrix",
            "discovery_url": "https://id.example.com/.well-known/openid-configuration",
            "client_id": "matrix",
            "client_secret": "matrix-secret",
            "scopes": "openid email",
            "enabled": "y",
        },
    ),
    "admin.edit_sso_provider": Route(
        get=admins(PAGE),
        post=admins(Outcome(303, "/admin/sso", changes=True)),
        data={
            "name": "Renamed login",
            "slug": "ideas",
            "discovery_url": "https://id.example.com/.well-known/openid-configuration",
            "client_id": "matrix",
            "scopes": "openid email",
            "enabled": "y",
        },
    ),
    "admin.delete_sso_provider": Route(
        get=admins(PAGE), post=admins(Outcome(303, "/admin/sso", changes=True))
    ),
    "admin.identify_settings": Route(
        get=everyone(NOT_ALLOWED),
        post=admins(Outcome(303, "/admin/sso", changes=True)),
        data={"algorithm": "HS256"},
    ),
    # The new secret is shown on the page answering the POST.
    "admin.identify_secret": Route(
        get=everyone(NOT_ALLOWED), post=admins(Outcome(200, changes=True))
    ),
    "admin.retry_message": Route(
        get=everyone(NOT_ALLOWED), post=admins(Outcome(303, "/admin/outbox", changes=True))
    ),
    "ideas.report_idea": Route(
        get=signed_in(PAGE), post=signed_in(BACK_TO_IDEA), data={"reason": "spam"}
    ),
    "ideas.report_comment": Route(
        get=signed_in(PAGE),
        post=signed_in(BACK_TO_IDEA),
        data={"reason": "other", "detail": "It names a colleague of mine."},
    ),
    "admin.moderation_queue": Route(get=admins(PAGE), post=everyone(NOT_ALLOWED)),
    # Product managers hide too, pending an admin's review, and go back to their own pages.
    "admin.hide_idea": Route(get=team(PAGE), post=HIDE_BY_TEAM, data={"reason": "Advertising"}),
    "admin.hide_comment": Route(get=team(PAGE), post=HIDE_BY_TEAM, data={"reason": "Advertising"}),
    # Nothing awaits review here: the admin is told so, and nothing changes.
    "admin.confirm_idea_hide": Route(
        get=everyone(NOT_ALLOWED), post=admins(Outcome(303, "/admin/moderation"))
    ),
    "admin.confirm_comment_hide": Route(
        get=everyone(NOT_ALLOWED), post=admins(Outcome(303, "/admin/moderation"))
    ),
    "admin.restore_idea": Route(
        get=everyone(NOT_ALLOWED), post=admins(TO_MODERATION), idea="hidden_idea"
    ),
    "admin.restore_comment": Route(
        get=everyone(NOT_ALLOWED), post=admins(TO_MODERATION), comment="hidden"
    ),
    "admin.approve_idea": Route(
        get=everyone(NOT_ALLOWED), post=admins(TO_MODERATION), idea="pending_idea"
    ),
    "admin.dismiss_idea_reports": Route(get=everyone(NOT_ALLOWED), post=admins(TO_MODERATION)),
    "admin.dismiss_comment_reports": Route(get=everyone(NOT_ALLOWED), post=admins(TO_MODERATION)),
    "admin.edit_idea": Route(
        get=admins(PAGE),
        post=admins(BACK_TO_IDEA),
        data={
            "title": "The target's idea, tidied",
            "problem": "Without the phone number.",
            "note": "Removed personal data.",
        },
    ),
    "admin.edit_comment": Route(
        get=admins(PAGE),
        post=admins(BACK_TO_IDEA),
        data={"body": "By the target, tidied", "note": "Removed personal data."},
    ),
}


def url_values(rule, people: dict[str, User], content: dict, route: Route) -> dict[str, object]:
    samples = {
        "user_id": people[route.user].id,
        "token": "not-a-real-token",
        "idea_id": content[route.idea],
        "target_id": content["other_idea"],
        "comment_id": content[f"{route.comment}_comment"],
        "notification_id": content["notification"],
        "organisation_id": content["organisation"],
        "stage_id": content["stage"],
        "category_id": content["category"],
        "message_id": content["outbox_message"],
        "release_id": content["release"],
        "filter_id": content["saved_filter"],
        "board_id": content["board"],
        "slug": "ideas",  # the default board, public
        "invite_id": content["invite"],
        "credential_id": content["api_key"],
        "endpoint_id": content["webhook_endpoint"],
        "delivery_id": content["webhook_delivery"],
        "session_id": content["session"],
        "export_id": content["data_export"],
        "identity_id": content["identity"],
        "provider_id": content["sso_provider"],
    }
    return {name: samples[name] for name in rule.arguments}


def newest_idea_id() -> int | None:
    return db.session.scalar(select(func.max(Idea.id)))


@pytest.fixture
def people(make_user) -> dict[str, User]:
    return {
        "target": make_user("customer", email="target@example.com", display_name="Target Person"),
        "suspended": make_user(
            "customer", display_name="Suspended Person", suspended_reason="Posting spam"
        ),
    }


@pytest.fixture
def content(people, make_user, make_idea, stages) -> dict[str, int]:
    """An idea by the target, a comment on it by the target and one by the team; the team's
    comment gives the target (who follows their idea) a notification."""
    from portal.models.types import utcnow
    from portal.services import api_keys, comments, reports, settings

    idea = make_idea("The target's idea", author=people["target"])
    other_idea = make_idea("Another idea with the same need")
    customer_comment = comments.add_comment(idea, author=people["target"], body="By the target")
    organisation = Organisation(
        name="Acme Partners", domains=[OrganisationDomain(domain="acme-partners.example")]
    )
    # Retired, so the submit form asks for no category and ideas.new still succeeds.
    category = Category(name="Matrix category", retired=True)
    db.session.add_all([organisation, category])
    team_member = make_user("product_manager", display_name="Team Person")
    team_comment = comments.add_comment(idea, author=team_member, body="By the team")
    hidden_comment = comments.add_comment(idea, author=people["target"], body="Hidden, by target")
    hidden_comment.hidden_at, hidden_comment.hidden_reason = utcnow(), "Advertising"
    hidden_idea = make_idea("A hidden idea of the target's", author=people["target"])
    hidden_idea.hidden_at, hidden_idea.hidden_reason = utcnow(), "Advertising"
    pending_idea = make_idea("An idea waiting for approval", author=people["target"])
    pending_idea.hidden_at, pending_idea.awaiting_approval = utcnow(), True
    # An email that gave up, for admins to send again.
    failed_email = OutboxMessage(
        kind="signup_existing",
        to_address="target@example.com",
        status=OutboxStatus.FAILED,
        attempts=6,
        body="Subject: Hello\n\nSomeone tried to sign up with your address.\n",
        last_error="ConnectionRefusedError: [Errno 111] Connection refused",
    )
    db.session.add(failed_email)
    release = Release(
        title="Matrix draft", note="The note of the draft, long enough.", author_id=None
    )
    db.session.add(release)
    db.session.flush()
    db.session.add(ReleaseIdea(release_id=release.id, idea_id=other_idea.id))
    # Open reports on the target's idea and comment, for the moderators to dismiss.
    for item in (idea, customer_comment):
        reports.report(
            team_member,
            reason="spam",
            idea=idea,
            comment=item if item is customer_comment else None,
        )
    saved_filter = SavedFilter(
        owner_id=team_member.id, name="Unassigned, late", query="owner=unassigned", shared=True
    )
    db.session.add(saved_filter)
    # A private board after the default one, holding no ideas; the target was invited to it,
    # and another invitation waits.
    board = Board(name="Matrix board", slug="matrix-board", audience="private", position=1)
    db.session.add(board)
    db.session.flush()
    db.session.add(BoardMember(board_id=board.id, user_id=people["target"].id))
    invite = Invite(
        board_id=board.id,
        email="invited@example.com",
        token_hash="0" * 64,
        expires_at=utcnow() + timedelta(days=14),
    )
    db.session.add(invite)
    api_key, _token = api_keys.create_key(people["target"], name="Target's key", scopes=["read"])
    # A webhook to a closed port on this machine (allowed for local use), with a delivery
    # that failed, for admins to send again.
    settings.set_setting("webhook_local_hosts", "127.0.0.1", actor=None)
    endpoint = WebhookEndpoint(
        url="http://127.0.0.1:9/hook", events=["idea.created"], secret="whsec_QUFBQQ=="
    )
    db.session.add(endpoint)
    db.session.flush()
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        message_id="msg_matrix",
        event_type="webhook.test",
        payload={"message": "Hello"},
        status=OutboxStatus.FAILED,
        attempts=5,
    )
    db.session.add(delivery)
    session = UserSession(
        key_hash="1" * 64, user_id=people["target"].id, expires_at=utcnow() + timedelta(days=1)
    )
    db.session.add(session)
    data_export = DataExport(
        user_id=people["target"].id,
        status=OutboxStatus.SENT,
        archive=b"PK",
        size=2,
        ready_at=utcnow(),
        expires_at=utcnow() + timedelta(days=7),
    )
    db.session.add(data_export)
    # A single sign-on provider whose discovery address does not answer (a closed port), with
    # the slug the matrix puts in every <slug>, and an identity of the target's through it.
    provider = SsoProvider(
        slug="ideas",
        name="Matrix ID",
        discovery_url="http://127.0.0.1:9/.well-known/openid-configuration",
        client_id="matrix",
        client_secret="matrix-secret",
    )
    identity = ExternalIdentity(
        provider="ideas", subject="target-sub", user_id=people["target"].id, email="t@x.org"
    )
    db.session.add_all([provider, identity])
    db.session.commit()
    notification = db.session.scalar(
        select(Notification).where(Notification.user_id == people["target"].id)
    )
    return {
        "idea": idea.id,
        "customer_comment": customer_comment.id,
        "team_comment": team_comment.id,
        "notification": notification.id,
        "organisation": organisation.id,
        "other_idea": other_idea.id,
        "stage": stages["under_review"].id,
        "team_member": team_member.id,
        "hidden_comment": hidden_comment.id,
        "hidden_idea": hidden_idea.id,
        "pending_idea": pending_idea.id,
        "category": category.id,
        "outbox_message": failed_email.id,
        "release": release.id,
        "saved_filter": saved_filter.id,
        "board": board.id,
        "invite": invite.id,
        "api_key": api_key.id,
        "webhook_endpoint": endpoint.id,
        "webhook_delivery": delivery.id,
        "session": session.id,
        "data_export": data_export.id,
        "identity": identity.id,
        "sso_provider": provider.id,
    }


def _rules_by_endpoint(app) -> dict[str, list]:
    rules: dict[str, list] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            rules.setdefault(rule.endpoint, []).append(rule)
    return rules


def test_every_route_is_in_the_matrix(app):
    rules = _rules_by_endpoint(app)
    missing = sorted(set(rules) - set(MATRIX) - set(API_MATRIX))
    assert not missing, f"add these endpoints to MATRIX in tests/test_access.py: {missing}"
    listed = set(MATRIX) | set(API_MATRIX)
    assert sorted(listed - set(rules)) == [], "MATRIX lists endpoints the app no longer has"
    for endpoint, endpoint_rules in rules.items():
        if endpoint in API_MATRIX:
            assert len(endpoint_rules) == 1, f"{endpoint} has several URLs; test each"
            assert endpoint_rules[0].methods - {"HEAD", "OPTIONS"} == {API_MATRIX[endpoint][0]}
            continue
        assert len(endpoint_rules) == 1, f"{endpoint} has several URLs; test each"
        rule = endpoint_rules[0]
        untested = rule.methods - {"GET", "HEAD", "OPTIONS", "POST"}
        assert not untested, f"{endpoint} accepts {untested}: extend METHODS and MATRIX"
        route = MATRIX[endpoint]
        for method in METHODS:
            table_says_405 = {route.outcome(method, role).status for role in ROLES} == {405}
            assert table_says_405 == (method not in rule.methods), (endpoint, method)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_each_role_gets_exactly_what_it_may_from_each_route(
    app, client, make_user, people, content, endpoint, role
):
    if role != "anonymous":
        sign_in_client(client, make_user(role, display_name=f"Acting {role}"))
    rule = _rules_by_endpoint(app)[endpoint][0]
    route = MATRIX[endpoint]
    values = url_values(rule, people, content, route)
    with app.test_request_context():
        from flask import url_for

        url = url_for(endpoint, **values)

    for method in METHODS:  # GET first: the POST of sign-in or sign-out changes who is signed in
        expected = route.outcome(method, role)
        before = database_snapshot()
        placeholders = {
            "organisation_id": content["organisation"],
            "other_idea_id": content["other_idea"],
            "stage_id": content["stage"],
            "team_member_id": content["team_member"],
        }
        data = {k: v.format(**placeholders) for k, v in route.data.items()}
        response = client.open(url, method=method, data=data if method == "POST" else None)
        after = database_snapshot()
        where = f"{method} {url} as {role}"

        assert response.status_code == expected.status, where
        if expected.location is not None:
            location = urlsplit(response.headers["Location"])
            known = {
                "idea_id": content["idea"],
                "new_idea_id": newest_idea_id(),
                "new_release_id": db.session.scalar(select(func.max(Release.id))),
                "new_endpoint_id": db.session.scalar(select(func.max(WebhookEndpoint.id))),
                "endpoint_id": content["webhook_endpoint"],
                "other_idea_id": content["other_idea"],
                "board_id": content["board"],
                **values,
            }
            expected_path = expected.location.format(**known)
            assert location.path == expected_path, where
            if expected is SIGN_IN:
                assert parse_qs(location.query)["next"] == [url], where
        else:
            assert "Location" not in response.headers, where
        if expected.status == 403:
            assert "You can't do that here" in page_text(response), where
        if expected.changes:
            assert after != before, f"{where} was allowed but changed nothing"
        else:
            assert after == before, f"{where} changed the database"


# ---------------------------------------------------------------------------------------------
# Callers that ask for JSON get status codes, not a sign-in page.


@pytest.mark.parametrize("path", ["/account", "/admin/users"])
def test_anonymous_json_caller_gets_401(client, path):
    response = client.get(path, headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.is_json
    assert response.get_json() == {"error": "authentication required"}


@pytest.mark.parametrize("role", ["customer", "product_manager"])
def test_json_caller_without_permission_gets_403(client, login_as, make_user, role):
    login_as(role)
    other = make_user("customer")
    response = client.get("/admin/users", headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert response.get_json() == {"error": "forbidden"}

    response = client.post(
        f"/admin/users/{other.id}/role",
        data={"role": "admin"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 403
    assert response.get_json() == {"error": "forbidden"}
    assert db.session.get(User, other.id).role == "customer"


def test_browser_asking_for_html_and_json_is_sent_to_sign_in(client):
    response = client.get("/account", headers={"Accept": "text/html,application/json;q=0.9"})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sign-in"


# ---------------------------------------------------------------------------------------------
# IDOR: changing an id in the URL gets nobody anywhere.


def _audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


@pytest.mark.parametrize("role", ["customer", "product_manager"])
def test_non_admin_cannot_change_anyones_role_by_url(client, login_as, make_user, role):
    me = login_as(role)
    other = make_user("customer")
    before = database_snapshot()

    for user_id, new_role in ((other.id, "admin"), (me.id, "admin"), (other.id, "product_manager")):
        response = client.post(f"/admin/users/{user_id}/role", data={"role": new_role})
        assert response.status_code == 403

    assert database_snapshot() == before
    assert db.session.get(User, me.id).role == role
    assert db.session.get(User, other.id).role == "customer"


@pytest.mark.parametrize("role", ["customer", "product_manager"])
def test_non_admin_cannot_suspend_or_reinstate_anyone_by_url(client, login_as, make_user, role):
    login_as(role)
    active = make_user("customer")
    suspended = make_user("customer", suspended_reason="Posting spam")
    before = database_snapshot()

    assert (
        client.post(f"/admin/users/{active.id}/suspend", data={"reason": "Because"}).status_code
        == 403
    )
    assert client.post(f"/admin/users/{suspended.id}/unsuspend").status_code == 403

    assert database_snapshot() == before
    assert not db.session.get(User, active.id).is_suspended
    assert db.session.get(User, suspended.id).is_suspended


def test_admin_pages_for_unknown_person_are_404(client, login_as):
    login_as("admin")
    assert client.get("/admin/users/999999").status_code == 404
    assert client.post("/admin/users/999999/role", data={"role": "admin"}).status_code == 404
    assert (
        client.post("/admin/users/999999/suspend", data={"reason": "Spam posts"}).status_code == 404
    )
    assert client.post("/admin/users/999999/unsuspend").status_code == 404


# ---------------------------------------------------------------------------------------------
# Mass assignment: extra form fields change nothing the form does not offer.


def _user_row(user_id: int) -> dict:
    db.session.expire_all()
    user = db.session.get(User, user_id)
    return {c.key: getattr(user, c.key) for c in User.__table__.columns}


def test_display_name_form_changes_only_the_display_name(client, login_as, make_organisation):
    org = make_organisation("Other Org")
    me = login_as("customer", verified=False)
    before = _user_row(me.id)

    response = client.post(
        "/account/display-name",
        data={
            "display_name": "New Name",
            "role": "admin",
            "email": "hijack@example.com",
            "id": "1",
            "organisation_id": str(org.id),
            "email_verified_at": "2020-01-01T00:00:00",
            "suspended_at": "",
            "password_hash": "x",
        },
    )

    assert response.status_code == 303
    after = _user_row(me.id)
    assert after.pop("display_name") == "New Name"
    before.pop("display_name")
    assert after == before


def test_sign_up_ignores_role_verification_and_organisation_fields(
    client, make_organisation, make_user
):
    acme = make_organisation("Acme", domains=("acme-corp.com",))
    other = make_organisation("Other Org", domains=("other-corp.com",))
    existing = make_user("customer")

    response = client.post(
        "/sign-up",
        data={
            "email": "new.person@acme-corp.com",
            "display_name": "New Person",
            "password": "a long enough passphrase",
            "accept_guidelines": "y",
            "role": "admin",
            "id": str(existing.id),
            "organisation_id": str(other.id),
            "email_verified_at": "2020-01-01T00:00:00",
        },
    )

    assert response.status_code == 303
    created = db.session.scalar(select(User).where(User.email == "new.person@acme-corp.com"))
    assert created is not None
    assert created.id != existing.id
    assert created.role == Role.CUSTOMER.value
    assert created.email_verified_at is None
    assert created.organisation_id == acme.id
    assert db.session.get(User, existing.id).email == existing.email


def test_role_form_changes_only_the_role(client, login_as, make_user):
    login_as("admin")
    target = make_user("customer", display_name="Target Person")
    before = _user_row(target.id)

    response = client.post(
        f"/admin/users/{target.id}/role",
        data={
            "role": "product_manager",
            "display_name": "Hacked",
            "email": "hacked@example.com",
            "suspended_at": "2020-01-01T00:00:00",
        },
    )

    assert response.status_code == 303
    after = _user_row(target.id)
    assert after.pop("role") == "product_manager"
    before.pop("role")
    assert after == before


def test_unknown_role_is_refused_and_nothing_changes(client, login_as, make_user):
    login_as("admin")
    target = make_user("customer")
    before = database_snapshot()
    response = client.post(f"/admin/users/{target.id}/role", data={"role": "superuser"})
    assert response.status_code == 400
    assert b"Not a valid choice" in response.data
    assert database_snapshot() == before


# ---------------------------------------------------------------------------------------------
# The admin people list: search, filters, paging.

ROW_NAME = re.compile(r'<td><a href="/admin/users/\d+">([^<]*)</a></td>')


def listed_names(response) -> list[str]:
    assert response.status_code == 200, response.data[:500]
    return [html.unescape(name) for name in ROW_NAME.findall(response.get_data(as_text=True))]


@pytest.fixture
def admin(login_as) -> User:
    return login_as("admin", display_name="Ada Admin", email="ada@example.com")


def test_admin_finds_people_by_name_fragment_ignoring_case(client, admin, make_user):
    make_user(display_name="Zoe Quarrington", email="zq@example.com")
    make_user(display_name="Bob Smith", email="bob@example.com")
    assert listed_names(client.get("/admin/users", query_string={"q": "qUARR"})) == [
        "Zoe Quarrington"
    ]
    assert listed_names(client.get("/admin/users", query_string={"q": "  smith "})) == ["Bob Smith"]


def test_admin_finds_people_by_email_fragment_ignoring_case(client, admin, make_user):
    make_user(display_name="Zoe Quarrington", email="zq@example.com")
    make_user(display_name="Bob Smith", email="bob.s@example.com")
    assert listed_names(client.get("/admin/users", query_string={"q": "BOB.S@EXAM"})) == [
        "Bob Smith"
    ]
    assert sorted(listed_names(client.get("/admin/users", query_string={"q": "@EXAMPLE.com"}))) == [
        "Ada Admin",
        "Bob Smith",
        "Zoe Quarrington",
    ]


def test_percent_underscore_and_backslash_in_search_are_literal(client, admin, make_user):
    make_user(display_name="Discount 100% Off", email="pct@example.com")
    make_user(display_name="snake_case fan", email="snake@example.com")
    make_user(display_name="Back\\slash", email="bs@example.com")
    make_user(display_name="Plain Name", email="plain@example.com")

    def search(q: str) -> list[str]:
        return listed_names(client.get("/admin/users", query_string={"q": q}))

    assert search("%") == ["Discount 100% Off"]
    assert search("0%") == ["Discount 100% Off"]
    assert search("_") == ["snake_case fan"]
    assert search("e_c") == ["snake_case fan"]
    assert search("\\") == ["Back\\slash"]
    assert search("k\\s") == ["Back\\slash"]
    assert search("%%") == []
    assert search("P_ain") == []


def test_admin_filters_people_by_role_and_status(client, admin, make_user):
    make_user("customer", display_name="Cathy Customer")
    make_user("product_manager", display_name="Pat Manager")
    make_user("product_manager", display_name="Sid Suspended", suspended_reason="Spamming")
    make_user("customer", display_name="Sam Suspended", suspended_reason="Spamming")

    def names(**query) -> list[str]:
        return sorted(listed_names(client.get("/admin/users", query_string=query)))

    assert names(role="product_manager") == ["Pat Manager", "Sid Suspended"]
    assert names(role="admin") == ["Ada Admin"]
    assert names(status="suspended") == ["Sam Suspended", "Sid Suspended"]
    assert names(status="active") == ["Ada Admin", "Cathy Customer", "Pat Manager"]
    assert names(role="customer", status="suspended") == ["Sam Suspended"]
    assert names(role="customer", status="active", q="cathy") == ["Cathy Customer"]


def test_admin_pages_through_people_25_at_a_time(client, admin, make_user):
    for n in range(26):
        make_user(display_name=f"Member {n:02d}")

    first = client.get("/admin/users")
    second = client.get("/admin/users", query_string={"page": "2"})
    beyond = client.get("/admin/users", query_string={"page": "3"})

    first_names, second_names = listed_names(first), listed_names(second)
    assert len(first_names) == 25
    assert len(second_names) == 2
    assert set(first_names).isdisjoint(second_names)
    assert set(first_names) | set(second_names) == {"Ada Admin"} | {
        f"Member {n:02d}" for n in range(26)
    }
    assert b"27 people" in first.data
    assert b"Page 1 of 2" in first.data
    assert b'rel="next" href="/admin/users?page=2"' in first.data
    assert b"Page 2 of 2" in second.data
    assert listed_names(beyond) == []


def test_paging_keeps_the_search(client, admin, make_user):
    for n in range(26):
        make_user("product_manager", display_name=f"Manager {n:02d}")
    response = client.get("/admin/users", query_string={"role": "product_manager"})
    assert len(listed_names(response)) == 25
    assert "page=2" in response.get_data(as_text=True)
    assert "role=product_manager" in response.get_data(as_text=True)


@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5", "99999999999", "100001", " 1"])
def test_junk_page_number_is_a_clean_400(client, admin, page):
    response = client.get("/admin/users", query_string={"page": page})
    assert response.status_code == 400
    assert "The “page” in the address must be a whole number from 1 to 100,000." in page_text(
        response
    )


def test_an_empty_page_number_is_the_first_page(client, admin):
    """As for every parameter, empty is the same as absent (a form sends its empty fields)."""
    assert client.get("/admin/users?page=").status_code == 200


# ---------------------------------------------------------------------------------------------
# Roles and suspension, with their audit rows.


def _audit(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_admin_changes_a_role_and_it_is_audited(client, admin, make_user):
    target = make_user("customer", display_name="Target Person")

    response = client.post(f"/admin/users/{target.id}/role", data={"role": "product_manager"})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/users/{target.id}"
    assert db.session.get(User, target.id).role == "product_manager"
    [event] = _audit("user.role_changed")
    assert event.actor_id == admin.id
    assert (event.target_type, event.target_id) == ("users", target.id)
    assert event.detail == {"old": "customer", "new": "product_manager"}
    assert event.ip == "127.0.0.1"

    page = client.get(response.headers["Location"])
    assert b"Target Person is now product manager." in page.data
    assert "Ada Admin changed Target Person's role from customer to product manager." in (
        html.unescape(page.get_data(as_text=True))
    )


def test_setting_the_same_role_again_writes_no_audit_row(client, admin, make_user):
    target = make_user("product_manager")
    response = client.post(f"/admin/users/{target.id}/role", data={"role": "product_manager"})
    assert response.status_code == 303
    assert _audit("user.role_changed") == []


def test_admin_cannot_change_their_own_role(client, admin):
    before = database_snapshot()
    response = client.post(f"/admin/users/{admin.id}/role", data={"role": "customer"})
    assert response.status_code == 403
    assert database_snapshot() == before
    assert db.session.get(User, admin.id).role == "admin"
    page = client.get(f"/admin/users/{admin.id}")
    assert b"You cannot change your own role." in page.data
    assert f'action="/admin/users/{admin.id}/role"'.encode() not in page.data


def test_admin_cannot_suspend_themselves(client, admin):
    before = database_snapshot()
    response = client.post(f"/admin/users/{admin.id}/suspend", data={"reason": "Testing myself"})
    assert response.status_code == 403
    assert database_snapshot() == before
    assert client.get("/account").status_code == 200
    page = client.get(f"/admin/users/{admin.id}")
    assert b"You cannot suspend yourself." in page.data


def test_one_admin_can_change_another_admins_role(client, admin, make_user):
    other_admin = make_user("admin")
    response = client.post(f"/admin/users/{other_admin.id}/role", data={"role": "customer"})
    assert response.status_code == 303
    assert db.session.get(User, other_admin.id).role == "customer"


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "Give a reason."),
        ("abc", "Field must be between 5 and 500 characters long."),
        ("       ", "Give the person a reason of at least 5 characters."),
        ("x" * 501, "Field must be between 5 and 500 characters long."),
    ],
)
def test_suspension_needs_a_reason(app, client, admin, make_user, reason, message):
    target = make_user("customer")
    target_client = app.test_client()
    sign_in_client(target_client, target)
    before = database_snapshot()

    response = client.post(f"/admin/users/{target.id}/suspend", data={"reason": reason})

    assert response.status_code == 400
    assert message in html.unescape(response.get_data(as_text=True))
    assert database_snapshot() == before
    assert target_client.get("/account").status_code == 200


def test_suspend_then_reinstate(app, client, admin, make_user):
    target = make_user("customer", display_name="Target Person", email="target@example.com")
    target_client = app.test_client()
    sign_in_client(target_client, target)
    sign_in_client(app.test_client(), target)  # a second device
    assert target_client.get("/account").status_code == 200

    response = client.post(
        f"/admin/users/{target.id}/suspend", data={"reason": "  Posting adverts  "}
    )

    assert response.status_code == 303
    suspended = db.session.get(User, target.id)
    assert suspended.suspended_at is not None
    assert suspended.suspension_reason == "Posting adverts"
    sessions_left = db.session.scalar(
        select(func.count()).select_from(UserSession).where(UserSession.user_id == target.id)
    )
    assert sessions_left == 0
    [event] = _audit("user.suspended")
    assert (event.actor_id, event.target_id) == (admin.id, target.id)
    assert event.detail == {"reason": "Posting adverts"}
    page = client.get(f"/admin/users/{target.id}")
    assert b"Target Person is suspended and signed out everywhere." in page.data
    assert b"Posting adverts" in page.data
    assert b"Reinstate" in page.data

    # The suspended person's very next request is signed out, and signing in says why.
    response = target_client.get("/account")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    response = target_client.post(
        "/sign-in", data={"email": "target@example.com", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200
    assert b"This account is suspended" in response.data
    assert b"Posting adverts" in response.data

    response = client.post(f"/admin/users/{target.id}/unsuspend")

    assert response.status_code == 303
    reinstated = db.session.get(User, target.id)
    assert reinstated.suspended_at is None
    assert reinstated.suspension_reason is None
    [event] = _audit("user.unsuspended")
    assert (event.actor_id, event.target_id) == (admin.id, target.id)
    assert b"Target Person can sign in again." in client.get(f"/admin/users/{target.id}").data

    response = target_client.post(
        "/sign-in", data={"email": "target@example.com", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302
    assert target_client.get("/account").status_code == 200


def test_reinstating_someone_not_suspended_writes_nothing(client, admin, make_user):
    target = make_user("customer")
    before = _audit_count()
    assert client.post(f"/admin/users/{target.id}/unsuspend").status_code == 303
    assert _audit_count() == before


def test_suspended_admin_loses_admin_pages_at_once(app, client, admin, make_user):
    other_admin = make_user("admin")
    other_client = app.test_client()
    sign_in_client(other_client, other_admin)
    assert other_client.get("/admin/users").status_code == 200

    client.post(f"/admin/users/{other_admin.id}/suspend", data={"reason": "Account compromised"})

    response = other_client.get("/admin/users")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    response = other_client.post(f"/admin/users/{admin.id}/role", data={"role": "customer"})
    assert response.status_code == 302
    assert db.session.get(User, admin.id).role == "admin"


def test_admin_sees_a_persons_account_history(client, admin, make_user):
    target = make_user("customer", display_name="Target Person")
    client.post(f"/admin/users/{target.id}/role", data={"role": "product_manager"})
    client.post(f"/admin/users/{target.id}/suspend", data={"reason": "Posting adverts"})
    client.post(f"/admin/users/{target.id}/unsuspend")

    page = html.unescape(client.get(f"/admin/users/{target.id}").get_data(as_text=True))
    lifted, suspended = "Ada Admin lifted Target", "Ada Admin suspended Target Person: “Posting"
    assert page.index(lifted) < page.index(suspended)
    assert page.index(suspended) < page.index("Ada Admin changed Target Person's role")
    actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["user.role_changed", "user.suspended", "user.unsuspended"]


# ---------------------------------------------------------------------------------------------
# The JSON API (/api/v1): who may call what. Callers are a visitor, a customer signed in with a
# browser session and no key (a cookie never authenticates the API: always as the visitor),
# and API keys: a customer's read key and write key, a product manager's write and team key,
# and an admin's key with every scope.

API_CALLERS = ("anonymous", "cookie", "read", "write", "team", "admin")


def api_statuses(
    anonymous: int, read: int, write: int, team: int, admin: int | None = None
) -> dict[str, int]:
    """What each caller gets; an admin's key (every scope) gets what the team's does unless
    told otherwise."""
    return {
        "anonymous": anonymous,
        "cookie": anonymous,
        "read": read,
        "write": write,
        "team": team,
        "admin": team if admin is None else admin,
    }


OPEN_READ = api_statuses(200, 200, 200, 200)
KEYED_READ = api_statuses(401, 200, 200, 200)
WRITE = api_statuses(401, 403, 200, 200)
TEAM_ONLY = api_statuses(401, 403, 403, 200)

# endpoint: (method, the body it sends, what each caller gets). <idea_id> is the target's idea.
API_MATRIX: dict[str, tuple[str, dict | None, dict[str, int]]] = {
    "api.openapi": ("GET", None, OPEN_READ),
    "api_docs.docs": ("GET", None, OPEN_READ),
    "api.list_ideas": ("GET", None, OPEN_READ),
    "api.get_idea": ("GET", None, OPEN_READ),
    "api.create_idea": (
        "POST",
        {"title": "An idea sent through the API", "problem": "Typed by a script."},
        api_statuses(401, 403, 201, 201),
    ),
    # Only its author (the target) edits an idea, as on the site.
    "api.edit_idea": (
        "PATCH",
        {"title": "Retitled through the API"},
        api_statuses(401, 403, 403, 403),
    ),
    "api.cast_vote": ("PUT", None, WRITE),
    "api.withdraw_vote": ("DELETE", None, WRITE),
    "api.follow_idea": ("PUT", None, WRITE),
    "api.unfollow_idea": ("DELETE", None, WRITE),
    "api.list_comments": ("GET", None, OPEN_READ),
    "api.create_comment": (
        "POST",
        {"body": "A comment sent through the API."},
        api_statuses(401, 403, 201, 201),
    ),
    # <comment_id> is the target's comment: only they correct or delete it.
    "api.edit_comment": ("PATCH", {"body": "Corrected."}, api_statuses(401, 403, 403, 403)),
    "api.delete_comment": ("DELETE", None, api_statuses(401, 403, 403, 403)),
    "api.list_stages": ("GET", None, OPEN_READ),
    "api.list_moves": ("GET", None, OPEN_READ),
    "api.create_move": (
        "POST",
        {"stage": "planned", "note": "Planned for the spring."},
        api_statuses(401, 403, 403, 201),
    ),
    "api.list_categories": ("GET", None, OPEN_READ),
    "api.list_boards": ("GET", None, OPEN_READ),
    "api.get_roadmap": ("GET", None, OPEN_READ),
    "api.me": ("GET", None, KEYED_READ),
    "api.list_organisations": ("GET", None, TEAM_ONLY),
    "api.get_organisation": ("GET", None, TEAM_ONLY),
    "api.list_people": ("GET", None, TEAM_ONLY),
    "api.get_person": ("GET", None, TEAM_ONLY),
    "api.vote_on_behalf": (
        "POST",
        {"email": "buyer@example.com", "source": "sales_call"},
        api_statuses(401, 403, 403, 201),
    ),
    "api.get_outcome": ("GET", None, OPEN_READ),
    "api.list_audit_events": ("GET", None, api_statuses(401, 403, 403, 403, admin=200)),
    # The idea is not shipped: nobody is asked yet, so nobody may answer.
    "api.answer_outcome": ("PUT", {"answer": "yes"}, api_statuses(401, 403, 403, 403)),
}
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# Undoing what was never done (no vote to withdraw, no follow to end) succeeds and changes nothing.
_IDEMPOTENT = {"api.withdraw_vote", "api.unfollow_idea"}


@pytest.fixture
def api_content(people, make_user, make_idea) -> dict[str, int]:
    """What the API's rows name: the target's idea and comment, and an organisation (lighter
    than `content`, which the pages' rows need)."""
    from portal.services import comments

    idea = make_idea("The target's idea", author=people["target"])
    comment = comments.add_comment(idea, author=people["target"], body="By the target")
    organisation = Organisation(name="Acme Partners")
    db.session.add(organisation)
    db.session.commit()
    return {"idea": idea.id, "customer_comment": comment.id, "organisation": organisation.id}


@pytest.mark.parametrize("caller", API_CALLERS)
@pytest.mark.parametrize("endpoint", sorted(API_MATRIX))
def test_each_api_caller_gets_exactly_what_it_may(
    app, client, make_user, people, api_content, endpoint, caller
):
    content = api_content
    from portal.services import api_keys

    headers: dict[str, str] = {}
    if caller == "cookie":
        sign_in_client(client, make_user("customer", display_name="Browser Person"))
    elif caller != "anonymous":
        role = {"team": "product_manager", "admin": "admin"}.get(caller, "customer")
        person = make_user(role)
        scopes = {"team": ["write", "team"], "admin": ["write", "team", "admin"]}.get(
            caller, [caller]
        )
        _key, token = api_keys.create_key(person, name="matrix", scopes=scopes)
        db.session.commit()
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v1/me", headers=headers).status_code == 200  # its first use
    make_user("customer", email="buyer@example.com")  # whose vote the team adds
    method, body, statuses = API_MATRIX[endpoint]
    rule = _rules_by_endpoint(app)[endpoint][0]
    values = {
        "idea_id": content["idea"],
        "organisation_id": content["organisation"],
        "person_id": people["target"].id,
        "comment_id": content["customer_comment"],
    }
    with app.test_request_context():
        from flask import url_for

        url = url_for(endpoint, **{k: v for k, v in values.items() if k in rule.arguments})
    before = database_snapshot()
    response = client.open(url, method=method, json=body, headers=headers)
    after = database_snapshot()
    where = f"{method} {url} as {caller}"
    assert response.status_code == statuses[caller], (where, response.data[:300])
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json", where
    if method in _WRITES and response.status_code < 300 and endpoint not in _IDEMPOTENT:
        assert after != before, f"{where} was allowed but changed nothing"
    else:
        assert after == before, f"{where} changed the database"
    assert "Set-Cookie" not in response.headers or endpoint == "api_docs.docs", where
