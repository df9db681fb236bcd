def test_a_posted_idea_is_listed_and_shown(client, make_idea, login_as):
    idea = make_idea("Dark mode for the dashboard")
    home = client.get("/")
    assert home.status_code == 200
    assert "Dark mode for the dashboard" in home.text
    page = client.get(f"/ideas/{idea.id}")
    assert page.status_code == 200
    assert "Supported by 1 person" in page.text
    login_as("customer")
    assert client.get("/").status_code == 200
    assert client.get(f"/ideas/{idea.id}").status_code == 200
    assert client.get("/my-ideas").status_code == 200
    assert client.get("/notifications").status_code == 200


def test_my_ideas_shows_each_ideas_latest_change(client, login_as, make_idea, make_user, stages):
    from datetime import timedelta

    from portal.extensions import db
    from portal.models import StageChange
    from portal.services import comments

    me = login_as("customer")
    posted = make_idea("Only posted so far", author=me)
    discussed = make_idea("Someone commented here", author=me)
    moved = make_idea("The team moved this one", author=me)
    comments.add_comment(discussed, author=make_user(), body="Me too")
    db.session.add(
        StageChange(
            idea_id=moved.id,
            from_stage_id=stages["new"].id,
            to_stage_id=stages["planned"].id,
            note="On the roadmap for next quarter.",
            created_at=moved.created_at + timedelta(minutes=5),
        )
    )
    db.session.commit()

    page = client.get("/my-ideas").text
    # Each of my ideas is in all three lists: submitted, voted for (automatically) and followed.
    assert page.count("latest: Posted") == 3
    assert "latest: New comment" in page
    assert "latest: Moved to Planned" in page
    assert posted.title in page
