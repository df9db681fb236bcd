"""The conversation on an idea: comments, replies, editing and deleting, the official response."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Comment, Follow, Idea, Notification
from portal.models.types import utcnow
from portal.services import comments, votes

from .conftest import sign_in_client
from .helpers import XSS, assert_inert, page_text


def post_comment(client, idea_id: int, body: str, parent_id: int | str | None = None):
    data = {"body": body}
    if parent_id is not None:
        data["parent_id"] = str(parent_id)
    return client.post(f"/ideas/{idea_id}/comments", data=data)


def posted_comment(response) -> Comment:
    """The comment a successful post redirected to."""
    assert response.status_code == 303, response.data[:300]
    match = re.fullmatch(r"/ideas/(\d+)#comment-(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    comment = db.session.get(Comment, int(match.group(2)))
    assert comment.idea_id == int(match.group(1))
    return comment


def comment_count(idea_id: int) -> int:
    db.session.expire_all()
    return db.session.get(Idea, idea_id).comment_count


def live_comments(idea_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Comment)
        .where(Comment.idea_id == idea_id, Comment.deleted_at.is_(None))
    )


def assert_count_is_right(idea_id: int, expected: int) -> None:
    assert (comment_count(idea_id), live_comments(idea_id)) == (expected, expected)


def comment_html(page: str, comment_id: int) -> str:
    """The <article> of one comment on an idea page."""
    start = page.index(f'id="comment-{comment_id}"')
    return page[start : page.index("</article>", start)]


@pytest.fixture
def idea(make_idea, make_user):
    return make_idea(
        "Export reports to Excel", author=make_user("customer", display_name="Ida Author")
    )


def add(idea, author, body: str, parent: Comment | None = None) -> Comment:
    comment = comments.add_comment(
        db.session.get(Idea, idea.id),
        author=author,
        body=body,
        parent_id=parent.id if parent else None,
    )
    db.session.commit()
    return comment


# ---------------------------------------------------------------------------------------------
# Posting


def test_customer_comments_and_follows_the_idea(client, login_as, idea):
    me = login_as("customer", display_name="Cora Commenter")

    comment = posted_comment(post_comment(client, idea.id, "We need this for **audits**."))

    assert (comment.author_id, comment.parent_id) == (me.id, None)
    assert comment.body == "We need this for **audits**."
    assert_count_is_right(idea.id, 1)
    assert db.session.get(Follow, (idea.id, me.id)) is not None
    page = client.get(f"/ideas/{idea.id}").get_data(as_text=True)
    assert "Conversation (1)" in page
    article = comment_html(page, comment.id)
    assert "Cora Commenter" in article
    assert "<strong>audits</strong>" in article
    assert "Your comment is posted." in page


@pytest.mark.parametrize("body", ["", "   \n\t  ", "x" * 10_001])
def test_empty_or_oversized_comment_is_refused(client, login_as, idea, body):
    login_as("customer")
    response = post_comment(client, idea.id, body)
    assert response.status_code == 400
    assert_count_is_right(idea.id, 0)
    if body.strip():
        assert body in page_text(response)  # what was typed is kept
    else:
        assert "Write something before posting." in page_text(response)


def test_anonymous_visitor_is_asked_to_sign_in_to_comment(client, idea):
    page = client.get(f"/ideas/{idea.id}").text
    assert "Sign in to comment" in page
    # The signed-out box only keeps the text while they sign in (portal.intent).
    assert f'action="/ideas/{idea.id}/comments"' not in page
    assert f'action="/ideas/{idea.id}/comments/draft"' in page
    response = post_comment(client, idea.id, "Drive-by comment")
    assert response.status_code == 303
    assert_count_is_right(idea.id, 0)


def test_comment_on_unknown_idea_is_404(client, login_as, stages):
    login_as("customer")
    assert post_comment(client, 999999, "Hello there").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Comment)) == 0


def test_customers_cannot_comment_on_hidden_ideas(client, login_as, idea):
    idea.hidden_at = utcnow()
    db.session.commit()
    login_as("customer")
    assert post_comment(client, idea.id, "Hello there").status_code == 404
    assert_count_is_right(idea.id, 0)


def test_nobody_comments_on_a_hidden_idea(client, login_as, idea):
    idea.hidden_at = utcnow()
    db.session.commit()
    login_as("product_manager")
    assert post_comment(client, idea.id, "Hello there").status_code == 403
    assert_count_is_right(idea.id, 0)


# ---------------------------------------------------------------------------------------------
# Replies: one level deep


def test_replies_stay_one_level_deep(client, login_as, make_user, idea):
    top = add(idea, make_user(display_name="Top Poster"), "The first comment")
    login_as("customer")

    reply = posted_comment(post_comment(client, idea.id, "A reply", parent_id=top.id))
    reply_to_reply = posted_comment(
        post_comment(client, idea.id, "A reply to the reply", parent_id=reply.id)
    )

    assert reply.parent_id == top.id
    assert reply_to_reply.parent_id == top.id
    assert_count_is_right(idea.id, 3)
    page = client.get(f"/ideas/{idea.id}").get_data(as_text=True)
    thread = page[page.index(f'id="comment-{top.id}"') :]
    replies = thread[thread.index('class="replies"') :]
    assert replies.index(f'id="comment-{reply.id}"') < replies.index(
        f'id="comment-{reply_to_reply.id}"'
    )
    assert f'name="parent_id" value="{top.id}"' in page
    assert f'name="parent_id" value="{reply.id}"' not in page  # reply forms sit on threads


def test_reply_to_a_comment_of_another_idea_is_refused(client, login_as, make_idea, idea):
    other_idea = make_idea("Dark mode for the dashboard")
    elsewhere = add(other_idea, other_idea.author, "Elsewhere")
    login_as("customer")
    response = post_comment(client, idea.id, "Sneaky reply 5511", parent_id=elsewhere.id)
    assert response.status_code == 400
    page = page_text(response)
    assert "The comment you replied to is no longer there." in page
    assert "Sneaky reply 5511" in page
    assert_count_is_right(idea.id, 0)
    assert_count_is_right(other_idea.id, 1)


def test_reply_to_a_deleted_comment_is_refused(client, login_as, make_user, idea):
    author = make_user()
    top = add(idea, author, "Soon gone")
    comments.delete_comment(db.session.get(Comment, top.id), actor=author)
    db.session.commit()
    login_as("customer")
    response = post_comment(client, idea.id, "Too late", parent_id=top.id)
    assert response.status_code == 400
    assert_count_is_right(idea.id, 0)


@pytest.mark.parametrize("parent_id", ["abc", "-1", "99999999999999999999", "1 OR 1=1"])
def test_junk_parent_id_never_causes_500(client, login_as, idea, parent_id):
    login_as("customer")
    response = post_comment(client, idea.id, "Hello there", parent_id=parent_id)
    # Posted as a comment of its own: a reply needs a parent that exists.
    assert response.status_code == 303
    assert posted_comment(response).parent_id is None


# ---------------------------------------------------------------------------------------------
# Editing


def test_author_edits_a_comment_within_fifteen_minutes(client, login_as, idea, monkeypatch):
    me = login_as("customer")
    comment = add(idea, me, "Frist!")
    page = client.get(f"/ideas/{idea.id}").get_data(as_text=True)
    assert f'href="/comments/{comment.id}/edit"' in comment_html(page, comment.id)

    later = utcnow() + timedelta(minutes=14)
    monkeypatch.setattr("portal.ideas.page.utcnow", lambda: later)
    monkeypatch.setattr("portal.services.comments.utcnow", lambda: later)
    form = client.get(f"/comments/{comment.id}/edit")
    assert form.status_code == 200
    assert "Frist!" in page_text(form)

    response = client.post(f"/comments/{comment.id}/edit", data={"body": "First!"})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/ideas/{idea.id}#comment-{comment.id}"
    comment = db.session.get(Comment, comment.id)
    assert comment.body == "First!"
    assert comment.edited_at == later
    article = comment_html(client.get(f"/ideas/{idea.id}").get_data(as_text=True), comment.id)
    assert "First!" in article and "(edited)" in article
    assert_count_is_right(idea.id, 1)


def test_unchanged_comment_is_not_marked_edited(client, login_as, idea):
    me = login_as("customer")
    comment = add(idea, me, "Same words")
    assert (
        client.post(f"/comments/{comment.id}/edit", data={"body": "Same words"}).status_code == 303
    )
    assert db.session.get(Comment, comment.id).edited_at is None


def test_empty_edit_is_refused(client, login_as, idea):
    me = login_as("customer")
    comment = add(idea, me, "Keep me")
    response = client.post(f"/comments/{comment.id}/edit", data={"body": "   "})
    assert response.status_code == 400
    assert db.session.get(Comment, comment.id).body == "Keep me"


def test_comment_cannot_be_edited_after_fifteen_minutes(client, login_as, idea, monkeypatch):
    me = login_as("customer")
    comment = add(idea, me, "Original words")
    later = utcnow() + timedelta(minutes=16)
    monkeypatch.setattr("portal.ideas.page.utcnow", lambda: later)
    monkeypatch.setattr("portal.services.comments.utcnow", lambda: later)

    page = client.get(f"/ideas/{idea.id}").get_data(as_text=True)
    assert f'href="/comments/{comment.id}/edit"' not in page
    assert client.get(f"/comments/{comment.id}/edit").status_code == 403
    response = client.post(f"/comments/{comment.id}/edit", data={"body": "Rewritten history"})

    assert response.status_code == 403
    assert "You can't do that here" in page_text(response)
    comment = db.session.get(Comment, comment.id)
    assert (comment.body, comment.edited_at) == ("Original words", None)


@pytest.mark.parametrize("role", ["customer", "product_manager", "admin"])
def test_nobody_else_can_edit_or_delete_a_comment(client, login_as, make_user, idea, role):
    comment = add(idea, make_user(), "Mine, not yours")
    login_as(role)
    page = client.get(f"/ideas/{idea.id}").get_data(as_text=True)
    article = comment_html(page, comment.id)
    assert f'"/comments/{comment.id}/edit"' not in article and "/delete" not in article

    assert client.get(f"/comments/{comment.id}/edit").status_code == 403
    assert client.post(f"/comments/{comment.id}/edit", data={"body": "Defaced"}).status_code == 403
    assert client.post(f"/comments/{comment.id}/delete").status_code == 403

    comment = db.session.get(Comment, comment.id)
    assert (comment.body, comment.edited_at, comment.deleted_at) == ("Mine, not yours", None, None)
    assert_count_is_right(idea.id, 1)


def test_unknown_comment_is_404(client, login_as, stages):
    login_as("customer")
    assert client.get("/comments/999999/edit").status_code == 404
    assert client.post("/comments/999999/delete").status_code == 404
    assert client.post("/comments/999999/official").status_code == 404


# ---------------------------------------------------------------------------------------------
# Deleting


def test_deleted_comment_without_replies_disappears(client, login_as, make_user, idea):
    me = login_as("customer")
    keep = add(idea, make_user(), "Another comment")
    comment = add(idea, me, "Regrettable words 7070")

    response = client.post(f"/comments/{comment.id}/delete")

    assert response.status_code == 303
    assert response.headers["Location"] == f"/ideas/{idea.id}#conversation"
    assert db.session.get(Comment, comment.id).deleted_at is not None
    assert_count_is_right(idea.id, 1)
    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "Regrettable words 7070" not in page
    assert f'id="comment-{comment.id}"' not in page
    assert "This comment was deleted by its author." not in page
    assert f'id="comment-{keep.id}"' in page
    assert "Conversation (1)" in page


def test_deleted_comment_with_replies_leaves_a_placeholder(client, login_as, make_user, idea):
    me = login_as("customer")
    comment = add(idea, me, "Regrettable words 7070")
    reply = add(idea, make_user(), "A reply that stays", parent=comment)

    assert client.post(f"/comments/{comment.id}/delete").status_code == 303

    assert_count_is_right(idea.id, 1)
    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "Regrettable words 7070" not in page
    assert "This comment was deleted by its author." in page
    assert "A reply that stays" in page
    assert f'name="parent_id" value="{comment.id}"' not in page  # no replying to the placeholder
    assert "Conversation (1)" in page

    # Deleted once is deleted: a second request finds nothing and counts nothing twice.
    assert client.post(f"/comments/{comment.id}/delete").status_code == 404
    assert_count_is_right(idea.id, 1)
    assert db.session.get(Comment, reply.id).deleted_at is None


def test_deleting_the_last_reply_removes_the_placeholder_too(client, make_user, idea):
    first, second = make_user(), make_user()
    comment = add(idea, first, "Regrettable words 7070")
    reply = add(idea, second, "A reply", parent=comment)
    sign_in_client(client, first)
    client.post(f"/comments/{comment.id}/delete")
    sign_in_client(client, second)
    client.post(f"/comments/{reply.id}/delete")

    assert_count_is_right(idea.id, 0)
    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "This comment was deleted by its author." not in page
    assert "Conversation (0)" in page


def test_comment_count_follows_posts_and_deletes(client, login_as, make_user, idea):
    me = login_as("customer")
    other = make_user()
    a = add(idea, me, "Comment A")
    b = add(idea, other, "Comment B")
    a_reply = add(idea, other, "Reply to A", parent=a)
    add(idea, me, "Reply to B", parent=b)
    assert_count_is_right(idea.id, 4)
    client.post(f"/comments/{a.id}/delete")
    assert_count_is_right(idea.id, 3)
    sign_in_client(client, other)
    client.post(f"/comments/{a_reply.id}/delete")
    client.post(f"/comments/{a_reply.id}/delete")
    assert_count_is_right(idea.id, 2)
    assert "2 comments" in page_text(client.get("/"))


def test_deleting_asks_first_on_a_page_that_deletes_nothing(client, login_as, idea):
    me = login_as("customer")
    comment = add(idea, me, "Still here 4242")
    page = client.get(f"/ideas/{idea.id}").get_data(as_text=True)
    article = comment_html(page, comment.id)
    # The comment's Delete leads to the question; it is not itself a button that deletes.
    assert f'<a href="/comments/{comment.id}/delete"' in article

    response = client.get(f"/comments/{comment.id}/delete")

    assert response.status_code == 200
    text = page_text(response)
    assert "Delete this comment?" in text and "It can't be undone." in text
    assert "Still here 4242" in text  # which comment, in its own words
    confirm = response.get_data(as_text=True)
    assert f'action="/comments/{comment.id}/delete"' in confirm
    assert f'href="/ideas/{idea.id}#comment-{comment.id}">Keep it</a>' in confirm
    assert db.session.get(Comment, comment.id).deleted_at is None


def test_nobody_else_sees_the_delete_question(client, login_as, make_user, idea):
    comment = add(idea, make_user(), "Not yours")
    login_as("customer")
    assert client.get(f"/comments/{comment.id}/delete").status_code == 403


# ---------------------------------------------------------------------------------------------
# Hidden comments


def test_hidden_comment_is_shown_to_the_team_and_its_author_only(app, client, make_user, idea):
    comment = add(idea, make_user(), "Spam spam spam 3131")
    comment.hidden_at = utcnow()
    comment.hidden_reason = "Advertising"
    db.session.commit()

    author = app.test_client()
    sign_in_client(author, comment.author)
    page = page_text(author.get(f"/ideas/{idea.id}"))
    assert "Spam spam spam 3131" in page
    assert "Hidden by moderators" in page and "Reason: Advertising" in page

    for viewer in (None, make_user("customer")):
        other = app.test_client()
        if viewer is not None:
            sign_in_client(other, viewer)
        assert "Spam spam spam 3131" not in page_text(other.get(f"/ideas/{idea.id}"))

    team = app.test_client()
    sign_in_client(team, make_user("product_manager"))
    page = page_text(team.get(f"/ideas/{idea.id}"))
    assert "Spam spam spam 3131" in page
    assert "Hidden by moderators" in page

    sign_in_client(client, comment.author)
    assert client.get(f"/comments/{comment.id}/edit").status_code == 404


# ---------------------------------------------------------------------------------------------
# The team's voice: badge and official response


@pytest.mark.parametrize("role", ["product_manager", "admin"])
def test_team_comment_shows_a_team_badge(client, make_user, idea, role):
    team = add(idea, make_user(role, display_name="Tess Team"), "We are looking at it")
    customer = add(idea, make_user("customer"), "Thanks!")
    page = client.get(f"/ideas/{idea.id}").get_data(as_text=True)
    assert '<span class="badge badge--team">Team</span>' in comment_html(page, team.id)
    assert "badge--team" not in comment_html(page, customer.id)


def test_product_manager_marks_the_official_response(client, login_as, make_user, idea):
    follower = make_user()
    votes.follow(db.session.get(Idea, idea.id), follower)
    db.session.commit()
    first = add(idea, make_user("product_manager", display_name="Pam Product"), "First answer")
    second = add(idea, make_user("admin", display_name="Adam Admin"), "Better answer 4545")
    me = login_as("product_manager")
    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "Mark as official response" in page
    assert "Official response from" not in page

    response = client.post(f"/comments/{first.id}/official")

    assert response.status_code == 303
    assert response.headers["Location"] == f"/ideas/{idea.id}"
    assert db.session.get(Comment, first.id).is_official is True
    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "Marked as the official response." in page
    assert "Official response from Pam Product" in page
    assert page.index("Official response from Pam Product") < page.index("The problem")
    official_notes = db.session.scalars(
        select(Notification.user_id).where(Notification.kind == "official_response")
    ).all()
    assert follower.id in official_notes and me.id not in official_notes

    # Only one official response at a time.
    assert client.post(f"/comments/{second.id}/official").status_code == 303
    officials = db.session.scalars(
        select(Comment.id).where(Comment.idea_id == idea.id, Comment.is_official.is_(True))
    ).all()
    assert officials == [second.id]
    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "Official response from Adam Admin" in page
    assert "Official response from Pam Product" not in page
    assert page.index("Better answer 4545") < page.index("The problem")


def test_customer_cannot_mark_an_official_response(client, login_as, make_user, idea):
    team = add(idea, make_user("product_manager"), "Our answer")
    login_as("customer")
    assert "Mark as official response" not in page_text(client.get(f"/ideas/{idea.id}"))
    response = client.post(f"/comments/{team.id}/official")
    assert response.status_code == 403
    assert db.session.get(Comment, team.id).is_official is False
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.kind == "official_response")
        )
        == 0
    )


def test_a_customers_comment_cannot_be_the_official_response(client, login_as, make_user, idea):
    customer = add(idea, make_user("customer"), "Customer words")
    login_as("product_manager")
    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "Mark as official response" not in page

    response = client.post(f"/comments/{customer.id}/official")

    assert response.status_code == 303
    assert db.session.get(Comment, customer.id).is_official is False
    page = page_text(client.get(response.headers["Location"]))
    assert "Only a comment by the team can be the official response." in page
    assert "Official response from" not in page


def test_deleted_official_response_is_no_longer_shown(client, make_user, idea):
    pm = make_user("product_manager", display_name="Pam Product")
    answer = add(idea, pm, "Our answer 8181")
    comments.mark_official(db.session.get(Comment, answer.id), actor=pm)
    db.session.commit()
    sign_in_client(client, pm)
    assert client.post(f"/comments/{answer.id}/delete").status_code == 303
    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "Official response from" not in page
    assert "Our answer 8181" not in page


def test_a_team_comment_ends_the_authors_editing(client, make_user, idea):
    assert idea.first_response_at is None
    add(idea, make_user("product_manager"), "Thanks, we are on it")
    assert db.session.get(Idea, idea.id).first_response_at is not None


# ---------------------------------------------------------------------------------------------
# Stored XSS in comments


@pytest.mark.parametrize("payload", XSS)
def test_comment_markdown_renders_inert(client, login_as, idea, payload):
    me = login_as("customer")
    comment = posted_comment(post_comment(client, idea.id, f"Look: {payload}"))
    detail = client.get(f"/ideas/{idea.id}")
    assert detail.status_code == 200
    assert_inert(detail.get_data(as_text=True))
    assert "Look:" in comment_html(detail.get_data(as_text=True), comment.id)
    edit = client.get(f"/comments/{comment.id}/edit")
    assert edit.status_code == 200
    assert_inert(edit.get_data(as_text=True))
    assert me.id == comment.author_id


# ---------------------------------------------------------------------------------------------
# A fixed number of queries, whatever the length of the conversation


def test_idea_page_query_count_does_not_grow_with_comments(
    client, login_as, make_user, make_organisation, idea, count_queries
):
    viewer = login_as("customer")
    orgs = [make_organisation(f"Org {n}") for n in range(3)]
    people = [make_user(organisation=org) for org in orgs] + [
        make_user("product_manager"),
        make_user(),
        viewer,
    ]
    threads: list[Comment] = []
    made = 0

    def add_comments(n: int) -> None:
        nonlocal made
        for _ in range(n):
            author = people[made % len(people)]
            parent = threads[made % len(threads)] if threads and made % 3 == 2 else None
            comment = add(idea, author, f"Comment number {made}", parent=parent)
            if parent is None:
                threads.append(comment)
            votes.cast_vote(db.session.get(Idea, idea.id), author)
            made += 1
        db.session.commit()

    add_comments(2)
    client.get(f"/ideas/{idea.id}")  # anything done once per session is done now
    with count_queries() as few:
        response = client.get(f"/ideas/{idea.id}")
    assert "Conversation (2)" in page_text(response)

    add_comments(28)
    team_comment = next(c for c in threads if c.author_id == people[3].id)
    comments.mark_official(db.session.get(Comment, team_comment.id), actor=people[3])
    db.session.commit()
    # The viewer commented, so follows: the first look reads the news of the new comments.
    client.get(f"/ideas/{idea.id}")
    with count_queries() as many:
        response = client.get(f"/ideas/{idea.id}")
    page = page_text(response)
    assert "Conversation (30)" in page
    assert "Official response from" in page
    assert "Comment number 29" in page

    assert many.count == few.count, many.statements


# ---------------------------------------------------------------------------------------------
# Limits: refused whole with the text kept, never cut


def test_a_comment_over_its_limit_is_refused_with_the_text_kept(client, login_as, idea):
    login_as("customer")
    body = "Long story. " + "z" * 10_000

    response = post_comment(client, idea.id, body)

    assert response.status_code == 400
    assert "This has 10,012 characters; the limit is 10,000." in page_text(response)
    page = response.get_data(as_text=True)
    assert body in page  # all of it, to shorten by hand
    assert "maxlength" not in page.split('<form method="post"', 1)[1]
    assert 'id="body-count">Up to 10,000 characters.' in page
    assert live_comments(idea.id) == 0


def test_comment_boxes_show_their_limit_and_cut_nothing(client, login_as, make_user, idea):
    login_as("customer")
    add(idea, make_user(), "A comment to reply to")
    page = client.get(f"/ideas/{idea.id}").get_data(as_text=True)
    conversation = page[page.index('id="conversation"') :]
    assert "maxlength" not in conversation
    assert conversation.count('data-limit="10000"') == 2  # the reply and the new comment
    assert "Up to 10,000 characters." in conversation
