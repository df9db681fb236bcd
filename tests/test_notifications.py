"""Following ideas, the notifications followers get, and the "My ideas" page."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Comment, Follow, Idea, Notification, NotificationKind
from portal.models.types import utcnow
from portal.services import comments, moderation, notifications, votes

from .conftest import sign_in_client
from .helpers import page_text

UNREAD = re.compile(r'<span class="count">(\d+)<span class="visually-hidden"> unread</span>')


def unread_in_header(client) -> int:
    """The number beside "Notifications" in the header; 0 when there is none."""
    response = client.get("/")
    assert response.status_code == 200
    assert 'href="/notifications"' in response.text
    match = UNREAD.search(response.text)
    return int(match.group(1)) if match else 0


def notes_for(user_id: int) -> list[Notification]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Notification).where(Notification.user_id == user_id).order_by(Notification.id)
        ).unique()
    )


def is_following(idea_id: int, user_id: int) -> bool:
    return db.session.get(Follow, (idea_id, user_id)) is not None


def add_comment(idea: Idea, author, body: str, parent=None):
    comment = comments.add_comment(
        db.session.get(Idea, idea.id),
        author=author,
        body=body,
        parent_id=parent.id if parent is not None else None,
    )
    db.session.commit()
    return comment


@pytest.fixture
def idea(make_idea, make_user):
    return make_idea(
        "Export reports to Excel", author=make_user("customer", display_name="Ida Author")
    )


# ---------------------------------------------------------------------------------------------
# Following


def test_customer_follows_and_unfollows_an_idea(client, login_as, idea):
    me = login_as("customer")
    page = client.get(f"/ideas/{idea.id}").text
    assert 'name="action" value="follow"' in page

    response = client.post(f"/ideas/{idea.id}/follow", data={"action": "follow"})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/ideas/{idea.id}"
    assert is_following(idea.id, me.id)
    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "You follow this idea and will be notified of changes." in page
    assert "Following ✓" in page
    assert 'name="action" value="unfollow"' in page

    # Following twice is following once.
    assert client.post(f"/ideas/{idea.id}/follow", data={"action": "follow"}).status_code == 303
    assert (
        db.session.scalar(select(func.count()).select_from(Follow).where(Follow.user_id == me.id))
        == 1
    )

    response = client.post(f"/ideas/{idea.id}/follow", data={"action": "unfollow"})

    assert response.status_code == 303
    assert not is_following(idea.id, me.id)
    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "You no longer follow this idea." in page
    assert 'name="action" value="follow"' in page


def test_unfollowing_keeps_the_vote(client, make_user, idea):
    sign_in_client(client, idea.author)
    client.post(f"/ideas/{idea.id}/follow", data={"action": "unfollow"})
    assert not is_following(idea.id, idea.author_id)
    assert db.session.get(Idea, idea.id).vote_count == 1


@pytest.mark.parametrize("action", ["", "subscribe", "FOLLOW"])
def test_unknown_follow_action_is_400(client, login_as, idea, action):
    me = login_as("customer")
    assert client.post(f"/ideas/{idea.id}/follow", data={"action": action}).status_code == 400
    assert not is_following(idea.id, me.id)


def test_follow_returns_to_a_local_next_only(client, login_as, idea):
    login_as("customer")
    response = client.post(
        f"/ideas/{idea.id}/follow", data={"action": "follow", "next": "/my-ideas"}
    )
    assert response.headers["Location"] == "/my-ideas"
    response = client.post(
        f"/ideas/{idea.id}/follow", data={"action": "follow", "next": "https://evil.example/x"}
    )
    assert urlsplit(response.headers["Location"]).netloc == ""
    assert "evil" not in response.headers["Location"]


def test_anonymous_visitors_see_no_follow_button_and_cannot_follow(client, idea):
    page = client.get(f"/ideas/{idea.id}").text
    assert f'action="/ideas/{idea.id}/follow"' not in page
    assert f"intent=follow&amp;idea={idea.id}" in page  # a link to sign in and follow
    response = client.post(f"/ideas/{idea.id}/follow", data={"action": "follow"})
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    assert db.session.scalar(select(func.count()).select_from(Follow)) == 1  # the author


def test_customers_cannot_follow_hidden_ideas(client, login_as, idea):
    idea.hidden_at = utcnow()
    db.session.commit()
    me = login_as("customer")
    assert client.post(f"/ideas/{idea.id}/follow", data={"action": "follow"}).status_code == 404
    assert not is_following(idea.id, me.id)


def test_voting_and_commenting_follow_the_idea(make_user, idea):
    voter, commenter = make_user(), make_user()
    votes.cast_vote(db.session.get(Idea, idea.id), voter)
    db.session.commit()
    add_comment(idea, commenter, "Me too")
    assert is_following(idea.id, voter.id)
    assert is_following(idea.id, commenter.id)


# ---------------------------------------------------------------------------------------------
# Who hears about a comment


def test_a_comment_notifies_every_follower_but_its_author(client, make_user, idea):
    voter = make_user(display_name="Val Voter")
    bystander = make_user(display_name="Bea Bystander")
    commenter = make_user(display_name="Cora Commenter")
    votes.cast_vote(db.session.get(Idea, idea.id), voter)
    db.session.commit()

    sign_in_client(client, commenter)
    response = client.post(f"/ideas/{idea.id}/comments", data={"body": "We need this too"})
    assert response.status_code == 303
    comment_id = int(response.headers["Location"].rsplit("-", 1)[1])

    for person in (idea.author, voter):
        [note] = notes_for(person.id)
        assert (note.kind, note.idea_id, note.comment_id, note.actor_id) == (
            "comment",
            idea.id,
            comment_id,
            commenter.id,
        )
        assert note.read_at is None
    assert notes_for(commenter.id) == []
    assert notes_for(bystander.id) == []

    # The commenter now follows, and hears about the reply; the replier does not.
    add_comment(idea, idea.author, "Thanks!")
    kinds = {p.id: [n.kind for n in notes_for(p.id)] for p in (idea.author, voter, commenter)}
    assert kinds == {
        idea.author.id: ["comment"],
        voter.id: ["comment", "comment"],
        commenter.id: ["comment"],
    }


def test_a_reply_notifies_followers_as_a_reply(make_user, idea):
    commenter, replier = make_user(), make_user()
    top = add_comment(idea, commenter, "Top comment")
    add_comment(idea, replier, "A reply", parent=top)
    assert [n.kind for n in notes_for(commenter.id)] == ["reply"]
    assert [n.kind for n in notes_for(idea.author_id)] == ["comment", "reply"]
    assert notes_for(replier.id) == []


def test_unfollowers_hear_nothing(make_user, idea):
    votes.unfollow(db.session.get(Idea, idea.id), idea.author)
    db.session.commit()
    add_comment(idea, make_user(), "Anyone there?")
    assert notes_for(idea.author_id) == []


def test_nothing_is_sent_about_a_hidden_idea(make_user, idea):
    idea = db.session.get(Idea, idea.id)
    idea.hidden_at = utcnow()
    db.session.commit()
    notifications.notify_followers(idea, NotificationKind.COMMENT, actor=make_user())
    db.session.commit()
    assert notes_for(idea.author_id) == []


# ---------------------------------------------------------------------------------------------
# Reading notifications


@pytest.fixture
def two_notes(make_user, idea):
    """The idea's author has two unread notifications, from two commenters."""
    add_comment(idea, make_user(display_name="Cora Commenter"), "First comment")
    add_comment(idea, make_user(display_name="Dan Debater"), "Second comment")
    return notes_for(idea.author_id)


def test_header_shows_the_unread_count(client, idea, two_notes):
    sign_in_client(client, idea.author)
    assert unread_in_header(client) == 2


def test_anonymous_visitors_have_no_notifications_link(client, idea):
    assert 'href="/notifications"' not in client.get("/").text


def test_notifications_page_lists_what_happened(client, idea, two_notes):
    sign_in_client(client, idea.author)
    response = client.get("/notifications")
    assert response.status_code == 200
    page = page_text(response)
    assert "Cora Commenter commented." in page
    assert "Dan Debater commented." in page
    assert page.index("Dan Debater") < page.index("Cora Commenter")  # newest first
    assert page.count(">New</span>") == 2
    for note in two_notes:
        assert f'href="/notifications/{note.id}"' in response.text
        assert f'action="/notifications/{note.id}/read"' in response.text


def test_marking_one_notification_read(client, idea, two_notes):
    sign_in_client(client, idea.author)
    first, second = two_notes

    response = client.post(f"/notifications/{first.id}/read")

    assert response.status_code == 303
    assert response.headers["Location"] == "/notifications"
    read = {n.id: n.read_at is not None for n in notes_for(idea.author_id)}
    assert read == {first.id: True, second.id: False}
    assert unread_in_header(client) == 1
    page = client.get("/notifications").text
    assert f'action="/notifications/{first.id}/read"' not in page
    assert f'action="/notifications/{second.id}/read"' in page


def test_marking_read_can_return_to_the_idea(client, idea, two_notes):
    sign_in_client(client, idea.author)
    response = client.post(
        f"/notifications/{two_notes[0].id}/read", data={"next": f"/ideas/{idea.id}"}
    )
    assert response.headers["Location"] == f"/ideas/{idea.id}"


def test_marking_all_notifications_read(client, idea, two_notes):
    sign_in_client(client, idea.author)

    response = client.post("/notifications/read-all")

    assert response.status_code == 303
    assert response.headers["Location"] == "/notifications"
    assert all(n.read_at is not None for n in notes_for(idea.author_id))
    page = page_text(client.get("/notifications"))
    assert "Marked 2 notifications as read." in page
    assert ">New</span>" not in page
    assert unread_in_header(client) == 0


def test_nobody_can_mark_someone_elses_notification_read(client, login_as, idea, two_notes):
    login_as("admin")
    assert client.post(f"/notifications/{two_notes[0].id}/read").status_code == 303
    assert client.post("/notifications/read-all").status_code == 303
    assert all(n.read_at is None for n in notes_for(idea.author_id))
    # And nobody sees them.
    assert "Cora Commenter" not in page_text(client.get("/notifications"))


def test_marking_read_by_get_is_impossible(client, idea, two_notes):
    sign_in_client(client, idea.author)
    assert client.get(f"/notifications/{two_notes[0].id}/read").status_code == 405
    assert client.get("/notifications/read-all").status_code == 405
    assert all(n.read_at is None for n in notes_for(idea.author_id))


def test_notifications_about_a_hidden_idea_are_not_shown(
    client, make_user, make_idea, idea, two_notes
):
    other = make_idea("Dark mode for the dashboard", author=idea.author)
    add_comment(other, make_user(display_name="Sam Someone"), "On the visible idea")
    hidden = db.session.get(Idea, idea.id)
    hidden.hidden_at = utcnow()
    db.session.commit()
    sign_in_client(client, idea.author)

    assert unread_in_header(client) == 1
    page = page_text(client.get("/notifications"))
    assert "Export reports to Excel" not in page
    assert "Dark mode for the dashboard" in page
    assert "Sam Someone commented." in page


def test_empty_notifications_page(client, login_as, stages):
    login_as("customer")
    response = client.get("/notifications")
    assert response.status_code == 200
    assert "Nothing yet." in page_text(response)


def test_official_response_notification_reads_as_such(client, make_user, idea):
    pm = make_user("product_manager", display_name="Pam Product")
    answer = add_comment(idea, pm, "Our answer")
    comments.mark_official(db.session.get(type(answer), answer.id), actor=pm)
    db.session.commit()
    sign_in_client(client, idea.author)
    page = page_text(client.get("/notifications"))
    assert "The team gave an official response." in page


@pytest.mark.parametrize("payload", ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"])
def test_idea_titles_and_names_in_notifications_are_escaped(client, make_user, make_idea, payload):
    author = make_user()
    idea = make_idea(f"Title {payload}", author=author)
    add_comment(idea, make_user(display_name=f"Name {payload}"), "Hello")
    sign_in_client(client, author)
    body = client.get("/notifications").get_data(as_text=True)
    assert payload not in body
    assert str(escape(f"Name {payload} commented.")) in body
    assert str(escape(f"Title {payload}")) in body


# ---------------------------------------------------------------------------------------------
# Opening notifications, and reading them by idea


def test_opening_a_notification_marks_it_read_and_leads_to_its_comment(client, idea, two_notes):
    sign_in_client(client, idea.author)
    first, second = two_notes
    assert unread_in_header(client) == 2

    response = client.get(f"/notifications/{first.id}")

    assert response.status_code == 303
    assert response.headers["Location"] == f"/ideas/{idea.id}#comment-{first.comment_id}"
    read = {n.id: n.read_at is not None for n in notes_for(idea.author_id)}
    assert read == {first.id: True, second.id: False}
    assert unread_in_header(client) == 1
    # Opening it again changes nothing and still leads there.
    again = client.get(f"/notifications/{first.id}")
    assert again.headers["Location"] == response.headers["Location"]
    assert unread_in_header(client) == 1


def test_nobody_can_open_someone_elses_notification(client, login_as, idea, two_notes):
    login_as("customer")
    assert client.get(f"/notifications/{two_notes[0].id}").status_code == 404
    assert all(n.read_at is None for n in notes_for(idea.author_id))


def test_viewing_an_idea_marks_its_news_read(client, make_user, make_idea, idea, two_notes):
    other = make_idea("Dark mode for the dashboard", author=idea.author)
    add_comment(other, make_user(display_name="Sam Someone"), "On the other idea")
    sign_in_client(client, idea.author)
    assert unread_in_header(client) == 3

    page = client.get(f"/ideas/{idea.id}")

    assert page.status_code == 200
    # The page itself already counts only the other idea's news.
    match = UNREAD.search(page.text)
    assert match is not None and match.group(1) == "1"
    unread = [n.idea_id for n in notes_for(idea.author_id) if n.read_at is None]
    assert unread == [other.id]


def test_viewing_an_idea_without_news_writes_nothing(client, login_as, idea, two_notes):
    from .helpers import database_snapshot

    login_as("customer")
    before = database_snapshot()
    assert client.get(f"/ideas/{idea.id}").status_code == 200
    assert database_snapshot() == before


def test_notifications_are_grouped_by_idea_newest_first(
    client, make_user, make_idea, idea, two_notes
):
    other = make_idea("Dark mode for the dashboard", author=idea.author)
    add_comment(other, make_user(display_name="Sam Someone"), "On the other idea")
    sign_in_client(client, idea.author)

    page = page_text(client.get("/notifications"))

    # The idea with the newest news comes first, with its own events under it.
    assert page.count("Export reports to Excel") == 1
    assert page.index("Dark mode for the dashboard") < page.index("Sam Someone commented.")
    assert page.index("Sam Someone commented.") < page.index("Export reports to Excel")
    assert page.index("Export reports to Excel") < page.index("Dan Debater commented.")
    assert page.index("Dan Debater commented.") < page.index("Cora Commenter commented.")
    assert "2 new" in page and "1 new" in page


def test_the_unread_filter_shows_only_unread_news(client, idea, two_notes):
    sign_in_client(client, idea.author)
    first, _second = two_notes
    client.post(f"/notifications/{first.id}/read")

    everything = page_text(client.get("/notifications"))
    unread = page_text(client.get("/notifications?unread=1"))

    assert "Cora Commenter commented." in everything and "Dan Debater commented." in everything
    assert "Dan Debater commented." in unread
    assert "Cora Commenter commented." not in unread
    assert "Unread (1)" in unread
    client.post(f"/notifications/{_second.id}/read")
    assert "You have read everything." in page_text(client.get("/notifications?unread=1"))


def test_marking_all_read_from_the_unread_tab_returns_there(client, idea, two_notes):
    sign_in_client(client, idea.author)
    page = client.get("/notifications?unread=1").text
    assert 'name="next" value="/notifications?unread=1"' in page
    response = client.post("/notifications/read-all", data={"next": "/notifications?unread=1"})
    assert response.headers["Location"] == "/notifications?unread=1"


def test_a_deleted_comment_leads_to_the_idea_not_to_a_gone_anchor(client, idea, two_notes):
    first, second = two_notes
    comment = db.session.get(Comment, first.comment_id)
    comments.delete_comment(comment, actor=comment.author)
    db.session.commit()
    sign_in_client(client, idea.author)

    response = client.get("/notifications")

    page = page_text(response)
    assert page.count("The comment has since been removed.") == 1
    assert f"#comment-{first.comment_id}" not in response.text
    opened = client.get(f"/notifications/{first.id}")
    assert opened.headers["Location"] == f"/ideas/{idea.id}"
    kept = client.get(f"/notifications/{second.id}")
    assert kept.headers["Location"] == f"/ideas/{idea.id}#comment-{second.comment_id}"


def test_a_reply_in_a_hidden_thread_leads_to_the_idea(client, make_user, idea):
    """The reply is visible, but its thread is hidden: the page has no #comment for it."""
    top = add_comment(idea, make_user(display_name="Tom Top"), "Buy cheap watches")
    reply = add_comment(idea, make_user(display_name="Rita Replier"), "Not here", parent=top)
    moderator = make_user("admin")
    moderation.hide(db.session.get(Comment, top.id), reason="Advertising", actor=moderator, ip=None)
    db.session.commit()
    [note] = [n for n in notes_for(idea.author_id) if n.comment_id == reply.id]
    sign_in_client(client, idea.author)

    page = page_text(client.get("/notifications"))

    assert "Rita Replier replied in a conversation." in page
    assert "The comment has since been removed." in page
    assert client.get(f"/notifications/{note.id}").headers["Location"] == f"/ideas/{idea.id}"


def test_an_author_opens_the_notice_about_their_hidden_comment(client, make_user, idea):
    """Authors still see their own hidden comment, so the notice leads to it."""
    writer = make_user(display_name="Wes Writer")
    comment = add_comment(idea, writer, "Buy cheap watches")
    moderation.hide(
        db.session.get(Comment, comment.id), reason="Advertising", actor=make_user("admin"), ip=None
    )
    db.session.commit()
    [notice] = [n for n in notes_for(writer.id) if n.kind == NotificationKind.MODERATION]
    sign_in_client(client, writer)
    opened = client.get(f"/notifications/{notice.id}")
    assert opened.headers["Location"] == f"/ideas/{idea.id}#comment-{comment.id}"
    assert f'id="comment-{comment.id}"' in client.get(f"/ideas/{idea.id}").text


# ---------------------------------------------------------------------------------------------
# My ideas


def _section(page: str, heading: str) -> str:
    start = page.index(heading)
    end = page.find("</section>", start)
    return page[start:end]


def test_my_ideas_lists_what_i_submitted_voted_for_and_follow(client, make_user, make_idea):
    me = make_user()
    other = make_user()
    make_idea("An idea of mine", author=me)
    voted = make_idea("An idea I voted for", author=other)
    followed = make_idea("An idea I only follow", author=other)
    make_idea("Somebody else's idea", author=other)
    withdrawn = make_idea("An idea I unvoted", author=other)
    hidden = make_idea("A hidden idea I voted for", author=other)
    for target in (voted, withdrawn, hidden):
        votes.cast_vote(db.session.get(Idea, target.id), me)
    votes.follow(db.session.get(Idea, followed.id), me)
    db.session.commit()
    votes.withdraw_vote(db.session.get(Idea, withdrawn.id), me)
    votes.unfollow(db.session.get(Idea, withdrawn.id), me)
    db.session.get(Idea, hidden.id).hidden_at = utcnow()
    db.session.commit()
    sign_in_client(client, me)

    response = client.get("/my-ideas")

    assert response.status_code == 200
    page = page_text(response)
    submitted = _section(page, "Ideas I submitted")
    voted_for = _section(page, "Ideas I voted for")
    following = _section(page, "Ideas I follow")
    assert "An idea of mine" in submitted
    assert "An idea I voted for" not in submitted
    assert "An idea of mine" in voted_for and "An idea I voted for" in voted_for
    assert "An idea I only follow" not in voted_for
    for title in ("An idea of mine", "An idea I voted for", "An idea I only follow"):
        assert title in following
    for absent in ("Somebody else's idea", "An idea I unvoted", "A hidden idea I voted for"):
        assert absent not in page


def test_my_ideas_is_empty_for_a_newcomer(client, login_as, stages):
    login_as("customer")
    page = page_text(client.get("/my-ideas"))
    assert "You have not shared an idea yet." in page
    assert "You have not voted yet." in page
    assert "You do not follow any idea yet." in page
