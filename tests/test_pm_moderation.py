"""Product managers moderate their own product: they hide an idea or a comment at once, with the
same reasons and audit as admins, and an admin confirms the hide or restores it (issue 16)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Comment, HideReview, Idea, Notification, Report
from portal.services import moderation

from .conftest import sign_in_client
from .helpers import database_snapshot, page_text
from .test_moderation import assert_audited, comment_on, report


@pytest.fixture
def pm(app, make_user):
    return make_user("product_manager", display_name="Pia Product")


@pytest.fixture
def admin_client(app, make_user):
    admin = make_user("admin", display_name="Ada Admin")
    other = app.test_client()
    sign_in_client(other, admin)
    other.user = admin
    return other


@pytest.fixture
def pm_client(client, pm):
    sign_in_client(client, pm)
    return client


@pytest.fixture
def rude(make_idea, make_user):
    """An idea with a rude comment on it, by two customers."""
    author = make_user(display_name="Cleo Customer")
    idea = make_idea("Dark mode for the dashboard", author=author)
    commenter = make_user(display_name="Rex Rude")
    comment = comment_on(idea, commenter, "This is a stupid idea and you are all idiots.")
    return idea, comment


def hide_path(item) -> str:
    kind = "comments" if isinstance(item, Comment) else "ideas"
    return f"/admin/moderation/{kind}/{item.id}/hide"


def reviews() -> list[HideReview]:
    db.session.expire_all()
    return list(db.session.scalars(select(HideReview).order_by(HideReview.id)).unique())


@pytest.mark.parametrize("kind", ["idea", "comment"])
def test_a_product_manager_hides_at_once_and_an_admin_reviews_it(pm_client, pm, rude, kind):
    idea, comment = rude
    item = idea if kind == "idea" else comment
    page = pm_client.get(hide_path(item) + f"?next=/ideas/{idea.id}")
    assert page.status_code == 200
    assert "An admin then reviews your decision" in page_text(page)
    assert "Administration" not in page.get_data(as_text=True)  # no admin menu for a PM

    response = pm_client.post(
        hide_path(item), data={"reason": "Insults: see our guidelines", "next": f"/ideas/{idea.id}"}
    )

    assert response.status_code == 303
    assert response.headers["Location"] == f"/ideas/{idea.id}"
    db.session.expire_all()
    assert db.session.get(type(item), item.id).hidden_at is not None
    [review] = reviews()
    assert (review.target, review.hidden_by_id) == (f"{kind}:{item.id}", pm.id)
    assert review.reason == "Insults: see our guidelines"
    assert_audited(
        f"{kind}.hidden",
        actor=pm,
        target=item,
        reason="Insults: see our guidelines",
        awaiting_review=True,
    )
    told = db.session.scalars(
        select(Notification.message).where(Notification.user_id == item.author_id)
    ).all()
    assert any("Reason: Insults: see our guidelines" in m for m in told)
    followed = pm_client.get(f"/ideas/{idea.id}")
    assert "An admin will confirm it or restore it." in page_text(followed)


def test_a_comment_hidden_by_a_product_manager_leaves_the_count(pm_client, rude):
    idea, comment = rude
    pm_client.post(hide_path(comment), data={"reason": "Insults: see our guidelines"})
    db.session.expire_all()
    assert db.session.get(Idea, idea.id).comment_count == 0


def test_the_admin_queue_lists_a_product_managers_hides_apart(
    pm_client, pm, admin_client, rude, make_user
):
    _, comment = rude
    report(make_user(), comment, reason="abusive")
    pm_client.post(hide_path(comment), data={"reason": "Insults: see our guidelines"})

    page = page_text(admin_client.get("/admin/moderation"))
    waiting = page.split("Hidden by a product manager, awaiting review")[1].split(
        "Waiting for approval"
    )[0]
    assert "<strong>Pia Product</strong> hid this comment" in waiting
    assert "Reason: Insults: see our guidelines" in waiting
    assert "you are all idiots" in waiting
    assert "you are all idiots" not in page.split("Recently hidden")[1]
    # The reporters' report is answered by the PM's hide, as by an admin's.
    assert db.session.scalars(select(Report.resolved_by_id)).all() == [pm.id]


@pytest.mark.parametrize("kind", ["idea", "comment"])
def test_an_admin_confirms_a_hide(pm_client, pm, admin_client, rude, kind):
    idea, comment = rude
    item = idea if kind == "idea" else comment
    pm_client.post(hide_path(item), data={"reason": "Insults: see our guidelines"})

    path = f"/admin/moderation/{kind}s/{item.id}/confirm-hide"
    response = admin_client.post(path)

    assert response.status_code == 303
    assert reviews() == []
    assert db.session.get(type(item), item.id).hidden_at is not None
    assert_audited(
        f"{kind}.hide_confirmed",
        actor=admin_client.user,
        target=item,
        hidden_by="Pia Product",
        reason="Insults: see our guidelines",
    )
    assert "The hide is confirmed" in page_text(admin_client.get("/admin/moderation"))
    # Confirming twice says so, and changes nothing.
    again = admin_client.post(path, follow_redirects=True)
    assert f"That {kind} is not waiting for review any more." in page_text(again)


@pytest.mark.parametrize("kind", ["idea", "comment"])
def test_an_admin_restores_what_a_product_manager_hid(pm_client, admin_client, rude, kind):
    idea, comment = rude
    item = idea if kind == "idea" else comment
    pm_client.post(hide_path(item), data={"reason": "Insults: see our guidelines"})

    response = admin_client.post(f"/admin/moderation/{kind}s/{item.id}/restore")

    assert response.status_code == 303
    assert reviews() == []
    assert db.session.get(type(item), item.id).hidden_at is None
    assert_audited(
        f"{kind}.restored", actor=admin_client.user, target=item, hidden_by="Pia Product"
    )
    assert db.session.get(Idea, idea.id).comment_count == 1


def test_an_admins_own_hide_settles_a_pending_review(pm_client, admin_client, rude):
    idea, _ = rude
    pm_client.post(hide_path(idea), data={"reason": "Insults: see our guidelines"})
    admin_client.post(hide_path(idea), data={"reason": "Off-topic: see our guidelines"})
    assert reviews() == []
    assert db.session.get(Idea, idea.id).hidden_reason == "Off-topic: see our guidelines"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/moderation"),
        ("POST", "/admin/moderation/ideas/{idea}/restore"),
        ("POST", "/admin/moderation/comments/{comment}/restore"),
        ("POST", "/admin/moderation/ideas/{idea}/confirm-hide"),
        ("POST", "/admin/moderation/ideas/{idea}/edit"),
        ("POST", "/admin/moderation/ideas/{idea}/dismiss"),
        ("POST", "/admin/users/{author}/suspend"),
    ],
)
def test_a_product_manager_cannot_review_restore_edit_or_suspend(
    pm_client, admin_client, rude, method, path
):
    idea, comment = rude
    admin_client.post(hide_path(comment), data={"reason": "Insults: see our guidelines"})
    url = path.format(idea=idea.id, comment=comment.id, author=idea.author_id)
    before = database_snapshot()
    response = pm_client.open(url, method=method, data={"reason": "Spam, again and again"})
    assert response.status_code == 403
    assert database_snapshot() == before


def test_a_product_manager_cannot_rehide_what_is_already_hidden(pm_client, admin_client, rude):
    idea, _ = rude
    admin_client.post(hide_path(idea), data={"reason": "Off-topic: see our guidelines"})
    before = database_snapshot()
    response = pm_client.post(hide_path(idea), data={"reason": "Insults: see our guidelines"})
    assert response.status_code == 400
    assert "This idea is already hidden; an admin decides what happens next." in page_text(response)
    assert database_snapshot() == before


def test_ideas_awaiting_approval_are_not_a_product_managers_to_reject(pm_client, make_idea, stages):
    idea = make_idea("Held back")
    idea.awaiting_approval = True
    idea.hidden_at = idea.created_at
    db.session.commit()
    assert pm_client.get(hide_path(idea)).status_code == 404
    assert pm_client.post(hide_path(idea), data={"reason": "Spam, plainly"}).status_code == 404


def test_the_idea_page_offers_a_product_manager_hide_and_nothing_more(pm_client, rude):
    idea, comment = rude
    page = pm_client.get(f"/ideas/{idea.id}").get_data(as_text=True)
    assert f'href="/admin/moderation/ideas/{idea.id}/hide?next=' in page
    assert f'href="/admin/moderation/comments/{comment.id}/hide?next=' in page
    assert "Edit as moderator" not in page
    assert "/restore" not in page


def test_hiding_checks_the_reason_for_product_managers_too(pm_client, rude):
    idea, _ = rude
    before = database_snapshot()
    response = pm_client.post(hide_path(idea), data={"reason": "No"})
    assert response.status_code == 400
    assert re.search(r">\s*No</textarea>", response.get_data(as_text=True))  # kept to correct
    assert database_snapshot() == before


def test_the_service_refuses_customers(make_user, rude):
    idea, _ = rude
    from portal.permissions import PermissionDenied

    with pytest.raises(PermissionDenied):
        moderation.hide(idea, reason="Spam, plainly", actor=make_user(), ip=None)
