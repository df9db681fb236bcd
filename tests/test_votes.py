"""Voting: idempotent, closed where it should be, exact under concurrency; organisations."""

from __future__ import annotations

import html
import re
import threading
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Follow, Idea, User, Vote
from portal.models.types import utcnow
from portal.services import moderation, trending, users, votes

from .conftest import DEFAULT_PASSWORD, sign_in_client
from .helpers import organisation_backing, page_text


def vote_rows(idea_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Vote).where(Vote.idea_id == idea_id))


def vote_count(idea_id: int) -> int:
    db.session.expire_all()
    return db.session.get(Idea, idea_id).vote_count


def follows(idea_id: int, user_id: int) -> bool:
    return (
        db.session.scalar(
            select(Follow.user_id).where(Follow.idea_id == idea_id, Follow.user_id == user_id)
        )
        is not None
    )


def assert_count_matches_rows(idea_id: int, expected: int) -> None:
    assert (vote_count(idea_id), vote_rows(idea_id)) == (expected, expected)


def vote(client, idea_id: int, action: str = "vote", **extra):
    return client.post(f"/ideas/{idea_id}/vote", data={"action": action, **extra})


# ---------------------------------------------------------------------------------------------
# Voting and withdrawing


def test_customer_votes_and_follows_the_idea(client, login_as, make_idea):
    idea = make_idea("Export reports to Excel")
    me = login_as("customer")
    assert not follows(idea.id, me.id)

    response = vote(client, idea.id)

    assert response.status_code == 303
    assert response.headers["Location"] == f"/ideas/{idea.id}"
    assert_count_matches_rows(idea.id, 2)
    assert follows(idea.id, me.id)
    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "Supported by 2 people." in page
    assert 'name="action" value="unvote"' in page
    assert "Following ✓" in page


def test_voting_twice_counts_once(client, login_as, make_idea):
    idea = make_idea()
    login_as("customer")
    assert vote(client, idea.id).status_code == 303
    assert vote(client, idea.id).status_code == 303
    assert_count_matches_rows(idea.id, 2)


def test_withdrawing_a_vote_takes_it_back_once(client, login_as, make_idea):
    idea = make_idea()
    me = login_as("customer")
    vote(client, idea.id)

    assert vote(client, idea.id, "unvote").status_code == 303
    assert_count_matches_rows(idea.id, 1)
    assert vote(client, idea.id, "unvote").status_code == 303
    assert_count_matches_rows(idea.id, 1)
    assert 'name="action" value="vote"' in client.get(f"/ideas/{idea.id}").text
    assert not follows(idea.id, me.id)  # the follow came with the vote, and went with it


def test_withdrawing_a_vote_keeps_a_follow_chosen_before_it(client, login_as, make_idea):
    idea = make_idea()
    me = login_as("customer")
    client.post(f"/ideas/{idea.id}/follow", data={"action": "follow"})
    vote(client, idea.id)
    vote(client, idea.id, "unvote")
    assert follows(idea.id, me.id)


def test_following_after_voting_makes_the_follow_chosen(client, login_as, make_idea):
    idea = make_idea()
    me = login_as("customer")
    vote(client, idea.id)
    client.post(f"/ideas/{idea.id}/follow", data={"action": "follow"})
    vote(client, idea.id, "unvote")
    assert follows(idea.id, me.id)
    assert_count_matches_rows(idea.id, 1)


def test_commenting_after_voting_keeps_the_follow_when_the_vote_goes(client, login_as, make_idea):
    idea = make_idea()
    me = login_as("customer")
    vote(client, idea.id)
    client.post(f"/ideas/{idea.id}/comments", data={"body": "We need this every Monday."})
    vote(client, idea.id, "unvote")
    assert follows(idea.id, me.id)


def test_voting_again_after_withdrawing_follows_again(client, login_as, make_idea):
    idea = make_idea()
    me = login_as("customer")
    vote(client, idea.id)
    vote(client, idea.id, "unvote")
    vote(client, idea.id)
    assert follows(idea.id, me.id)
    vote(client, idea.id, "unvote")
    assert not follows(idea.id, me.id)


def test_author_can_withdraw_their_own_vote(client, make_user, make_idea):
    from .conftest import sign_in_client

    author = make_user()
    idea = make_idea(author=author)
    sign_in_client(client, author)
    assert vote(client, idea.id, "unvote").status_code == 303
    assert_count_matches_rows(idea.id, 0)
    assert follows(idea.id, author.id)  # their own idea: they still hear of it


@pytest.mark.parametrize("action", ["", "upvote", "delete", "VOTE"])
def test_unknown_vote_action_is_400(client, login_as, make_idea, action):
    idea = make_idea()
    login_as("customer")
    assert vote(client, idea.id, action).status_code == 400
    assert_count_matches_rows(idea.id, 1)


def test_vote_for_unknown_idea_is_404(client, login_as, stages):
    login_as("customer")
    assert vote(client, 999999).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Vote)) == 0


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/?sort=top#idea-{id}", "/?sort=top#idea-{id}"),
        ("/my-ideas", "/my-ideas"),
    ],
)
def test_vote_returns_to_the_local_page_it_was_cast_on(
    client, login_as, make_idea, next_url, expected
):
    idea = make_idea()
    login_as("customer")
    response = vote(client, idea.id, next=next_url.format(id=idea.id))
    assert response.status_code == 303
    assert response.headers["Location"] == expected.format(id=idea.id)


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"],
)
def test_vote_never_redirects_off_site(client, login_as, make_idea, next_url):
    idea = make_idea()
    login_as("customer")
    response = vote(client, idea.id, next=next_url)
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.scheme == "" and location.netloc == ""
    assert location.path.startswith("/") and "evil" not in response.headers["Location"]
    assert_count_matches_rows(idea.id, 2)


def test_vote_buttons_on_the_home_page_come_back_to_the_card(client, login_as, make_idea):
    idea = make_idea()
    login_as("customer")
    page = client.get("/", query_string={"sort": "top"}).text
    assert f'name="next" value="/?sort=top#idea-{idea.id}"' in page
    response = vote(client, idea.id, next=f"/?sort=top#idea-{idea.id}")
    assert response.headers["Location"] == f"/?sort=top#idea-{idea.id}"


@pytest.mark.parametrize("slug", ["shipped", "declined", "merged"])
def test_voting_is_closed_on_closed_ideas(client, login_as, make_user, make_idea, slug):
    idea = make_idea(stage=slug)
    voter = make_user()
    votes_before = vote_count(idea.id)
    me = login_as("customer")

    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "Voting is closed on this idea" in page
    assert f'action="/ideas/{idea.id}/vote"' not in page

    response = vote(client, idea.id)
    assert response.status_code == 303
    page = page_text(client.get(response.headers["Location"]))
    assert "Voting is closed on this idea. The votes it had still count." in page
    assert_count_matches_rows(idea.id, votes_before)
    assert not follows(idea.id, me.id)

    with pytest.raises(votes.VotingClosed):
        votes.cast_vote(db.session.get(Idea, idea.id), voter)
    db.session.rollback()


def test_votes_on_a_closed_idea_cannot_be_withdrawn(client, make_user, make_idea):
    from .conftest import sign_in_client

    author = make_user()
    idea = make_idea(author=author, stage="shipped")
    sign_in_client(client, author)
    response = vote(client, idea.id, "unvote")
    assert response.status_code == 303
    assert "Voting is closed" in page_text(client.get(response.headers["Location"]))
    assert_count_matches_rows(idea.id, 1)


def test_customers_cannot_vote_on_hidden_ideas(client, login_as, make_idea):
    idea = make_idea()
    idea.hidden_at = utcnow()
    db.session.commit()
    login_as("customer")
    assert vote(client, idea.id).status_code == 404
    assert_count_matches_rows(idea.id, 1)


@pytest.mark.parametrize("role", ["product_manager", "admin"])
def test_voting_is_closed_on_hidden_ideas_for_the_team_too(client, login_as, make_idea, role):
    idea = make_idea()
    idea.hidden_at = utcnow()
    db.session.commit()
    login_as(role)
    response = vote(client, idea.id)
    assert response.status_code == 303
    assert "Voting is closed on this idea." in page_text(client.get(response.headers["Location"]))
    assert_count_matches_rows(idea.id, 1)


def test_anonymous_vote_link_leads_to_sign_in_and_back(client, make_user, make_idea):
    idea = make_idea()
    make_user(email="voter@example.com")

    page = client.get(f"/ideas/{idea.id}").text
    assert f'action="/ideas/{idea.id}/vote"' not in page
    link = html.unescape(
        page.split('class="vote__button" href="', 1)[1].split('"', 1)[0]
    )  # the vote button is a sign-in link
    assert urlsplit(link).path == "/sign-in"
    assert parse_qs(urlsplit(link).query)["next"] == [f"/ideas/{idea.id}"]

    sign_in_page = client.get(link)
    assert sign_in_page.status_code == 200
    response = client.post(
        link,
        data={
            "email": "voter@example.com",
            "password": DEFAULT_PASSWORD,
            "next": f"/ideas/{idea.id}",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/ideas/{idea.id}"
    assert f'action="/ideas/{idea.id}/vote"' in client.get(f"/ideas/{idea.id}").text


def test_anonymous_vote_post_goes_to_sign_in_and_changes_nothing(client, make_idea):
    # A page left open after the session ended: sign-in says what for, and leads back to the
    # idea (not to the address that only takes a POST).
    idea = make_idea()
    response = vote(client, idea.id)
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/sign-in"
    query = parse_qs(location.query)
    assert query["next"] == [f"/ideas/{idea.id}"]
    assert (query["intent"], query["idea"]) == (["vote"], [str(idea.id)])
    assert_count_matches_rows(idea.id, 1)


def test_voting_by_get_is_impossible(client, login_as, make_idea):
    idea = make_idea()
    login_as("customer")
    assert client.get(f"/ideas/{idea.id}/vote?action=vote").status_code == 405
    assert_count_matches_rows(idea.id, 1)


def test_suspended_person_cannot_vote(client, make_user, make_idea):
    from .conftest import sign_in_client

    idea = make_idea()
    person = make_user()
    sign_in_client(client, person)
    person.suspended_at = utcnow()
    person.suspension_reason = "Spam"
    db.session.commit()
    response = vote(client, idea.id)
    assert response.status_code == 303  # signed out at once: sign-in, where they are refused
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    assert_count_matches_rows(idea.id, 1)


# ---------------------------------------------------------------------------------------------
# Trending


def score(idea_id: int) -> float:
    db.session.expire_all()
    return db.session.get(Idea, idea_id).trending_score


def test_trending_score_rises_with_a_vote_and_returns_when_it_is_withdrawn(
    client, login_as, make_idea
):
    idea = make_idea()
    login_as("customer")
    start = score(idea.id)
    assert start > 0

    vote(client, idea.id)
    raised = score(idea.id)
    assert raised > start

    vote(client, idea.id, "unvote")
    assert score(idea.id) == pytest.approx(start, rel=1e-9)
    assert score(idea.id) < raised


def test_a_vote_lifts_an_idea_above_an_equal_one(client, login_as, make_idea):
    first = make_idea("The first idea")
    second = make_idea("The second idea")  # a moment newer, so it leads at first
    login_as("customer")
    page = client.get("/").text
    assert page.index(f'id="idea-{second.id}"') < page.index(f'id="idea-{first.id}"')
    vote(client, first.id)
    page = client.get("/").text
    assert page.index(f'id="idea-{first.id}"') < page.index(f'id="idea-{second.id}"')


# ---------------------------------------------------------------------------------------------
# Supporters and their organisations


def test_supporters_are_counted_with_distinct_organisations(
    client, login_as, make_user, make_organisation, make_idea
):
    acme, globex, initech = (make_organisation(n) for n in ("Acme", "Globex", "Initech"))
    author = make_user(organisation=acme)
    idea = make_idea(author=author)
    for voter in (
        make_user(organisation=acme),
        make_user(organisation=globex),
        make_user(organisation=globex),
        make_user(organisation=None),
    ):
        votes.cast_vote(idea, voter)
    make_user(organisation=initech)  # not a voter
    db.session.commit()
    login_as("customer")

    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "Supported by 5 people from 2 organisations." in page
    card = page_text(client.get("/"))
    assert "2 organisations" in card


def test_supporters_without_organisations_are_people_only(client, make_user, make_idea):
    idea = make_idea(author=make_user())
    votes.cast_vote(idea, make_user())
    db.session.commit()
    page = page_text(client.get(f"/ideas/{idea.id}"))
    assert "Supported by 2 people." in page
    assert "organisation" not in page.split('class="supporters"')[1].split("</p>")[0]


def test_one_organisation_is_singular(client, make_user, make_organisation, make_idea):
    acme = make_organisation("Acme")
    idea = make_idea(author=make_user(organisation=acme))
    votes.cast_vote(idea, make_user(organisation=acme))
    db.session.commit()
    assert "Supported by 2 people from 1 organisation." in page_text(
        client.get(f"/ideas/{idea.id}")
    )


def test_withdrawn_votes_leave_the_organisation_count(
    client, make_user, make_organisation, make_idea
):
    acme, globex = make_organisation("Acme"), make_organisation("Globex")
    idea = make_idea(author=make_user(organisation=acme))
    leaver = make_user(organisation=globex)
    votes.cast_vote(idea, leaver)
    db.session.commit()
    votes.withdraw_vote(db.session.get(Idea, idea.id), leaver)
    db.session.commit()
    assert "Supported by 1 person from 1 organisation." in page_text(
        client.get(f"/ideas/{idea.id}")
    )


def test_organisation_counts_are_kept_beside_the_votes(
    client, login_as, make_user, make_organisation, make_idea
):
    acme, globex = make_organisation("Acme"), make_organisation("Globex")
    idea = make_idea(author=make_user(organisation=acme))
    first, second = make_user(organisation=globex), make_user(organisation=globex)
    for voter in (first, second, make_user(organisation=acme), make_user()):
        votes.cast_vote(idea, voter)
    db.session.commit()
    kept, recounted = organisation_backing()
    assert kept == recounted == {(idea.id, acme.id): 2, (idea.id, globex.id): 2}

    votes.withdraw_vote(db.session.get(Idea, idea.id), first)
    db.session.commit()
    kept, recounted = organisation_backing()
    assert kept == recounted == {(idea.id, acme.id): 2, (idea.id, globex.id): 1}

    votes.withdraw_vote(db.session.get(Idea, idea.id), second)
    db.session.commit()
    kept, recounted = organisation_backing()
    assert kept == recounted == {(idea.id, acme.id): 2}  # no row left at zero


def test_moving_a_voter_to_another_organisation_moves_their_support(
    client, login_as, make_user, make_organisation, make_idea
):
    from portal.services import organisations

    acme, globex = make_organisation("Acme"), make_organisation("Globex")
    ideas = [make_idea(author=make_user()) for _ in range(2)]
    mover = make_user(organisation=acme)
    for idea in ideas:
        votes.cast_vote(idea, mover)
    db.session.commit()
    admin = make_user("admin")

    organisations.set_organisation(mover, globex.id, actor=admin, ip=None)
    db.session.commit()
    kept, recounted = organisation_backing()
    assert kept == recounted == {(ideas[0].id, globex.id): 1, (ideas[1].id, globex.id): 1}

    organisations.set_organisation(db.session.get(User, mover.id), None, actor=admin, ip=None)
    db.session.commit()
    assert organisation_backing() == ({}, {})


def test_a_merge_moves_organisation_support_with_the_votes(
    client, login_as, make_user, make_organisation, make_idea
):
    from portal.services import pipeline

    acme, globex = make_organisation("Acme"), make_organisation("Globex")
    source = make_idea(author=make_user(organisation=acme))
    target = make_idea(author=make_user(organisation=globex))
    both = make_user(organisation=acme)
    for idea in (source, target):
        votes.cast_vote(idea, both)
    db.session.commit()

    pipeline.merge_ideas(
        source,
        target,
        actor=make_user("product_manager"),
        note="The same need as the idea we kept.",
        ip=None,
    )
    db.session.commit()
    kept, recounted = organisation_backing()
    # The source's author's vote moved; the person who voted for both counts once.
    assert kept == recounted == {(target.id, acme.id): 2, (target.id, globex.id): 1}


# ---------------------------------------------------------------------------------------------
# Votes hidden with a person's posts (suspending a spammer): counted nowhere until restored


def counts(idea_id: int) -> tuple[int, float]:
    db.session.expire_all()
    idea = db.session.get(Idea, idea_id)
    return idea.vote_count, idea.trending_score


def hide_all_by(user: User, admin: User) -> None:
    users.suspend(user, "Posting adverts", actor=admin, ip=None, hide_content=True)
    db.session.commit()


@pytest.fixture
def reinstated_spammer(make_user, make_organisation, make_idea):
    """A person in Acme whose votes for `idea` and `other` were hidden with their posts, and who
    was reinstated without their posts being restored; and what the ideas counted before."""
    admin = make_user("admin")
    acme = make_organisation("Acme")
    person = make_user(organisation=acme)
    idea, other = make_idea("Export reports to Excel"), make_idea("Dark mode")
    never = {idea.id: counts(idea.id), other.id: counts(other.id)}
    votes.cast_vote(idea, person)
    votes.cast_vote(other, person)
    db.session.commit()
    hide_all_by(person, admin)
    users.unsuspend(person, actor=admin, ip=None)
    db.session.commit()
    return SimpleNamespace(
        admin=admin, person=person, acme=acme.id, idea=idea.id, other=other.id, never=never
    )


def test_a_hidden_vote_is_no_vote_to_the_voter_either(client, reinstated_spammer):
    w = reinstated_spammer
    sign_in_client(client, w.person)
    assert not votes.has_voted(db.session.get(Idea, w.idea), w.person)
    page = client.get(f"/ideas/{w.idea}").text
    assert 'value="unvote"' not in page and 'value="vote"' in page
    mine = client.get("/my-ideas").text
    voted = mine[mine.index('id="voted-title"') : mine.index('id="following-title"')]
    assert "Export reports to Excel" not in voted and "You have not voted yet." in voted


def test_voting_again_after_reinstatement_counts_the_vote_anew_once(client, reinstated_spammer):
    w = reinstated_spammer
    assert counts(w.idea)[0] == w.never[w.idea][0]
    sign_in_client(client, w.person)

    assert vote(client, w.idea).status_code == 303
    assert vote(client, w.idea).status_code == 303  # twice is still once

    cast_at = db.session.scalar(
        select(Vote.created_at).where(Vote.idea_id == w.idea, Vote.user_id == w.person.id)
    )
    assert counts(w.idea)[0] == w.never[w.idea][0] + 1 == vote_rows(w.idea)
    assert counts(w.idea)[1] == pytest.approx(
        w.never[w.idea][1] + trending.weight_at(trending.VOTE_WEIGHT, cast_at), rel=1e-12
    )
    kept, recounted = organisation_backing()
    assert kept == recounted and kept[(w.idea, w.acme)] == 1 and (w.other, w.acme) not in kept

    # Restoring later brings back only the vote still hidden; the new one is not counted twice.
    restored = moderation.restore_everything_by(w.person, actor=w.admin, ip=None)
    db.session.commit()
    assert restored.votes == 1
    assert counts(w.idea)[0] == vote_rows(w.idea) == w.never[w.idea][0] + 1
    assert counts(w.other)[0] == vote_rows(w.other) == w.never[w.other][0] + 1


def test_withdrawing_a_hidden_vote_removes_it_and_changes_no_count(client, reinstated_spammer):
    w = reinstated_spammer
    sign_in_client(client, w.person)
    before = counts(w.idea)

    assert vote(client, w.idea, "unvote").status_code == 303

    assert counts(w.idea) == before
    assert vote_rows(w.idea) == before[0]
    # Withdrawn means withdrawn: restoring their posts does not bring it back.
    restored = moderation.restore_everything_by(w.person, actor=w.admin, ip=None)
    db.session.commit()
    assert restored.votes == 1  # the other idea's
    assert counts(w.idea) == before


def test_a_merge_carries_hidden_votes_hidden_and_restoring_counts_them_there(
    make_user, make_organisation, make_idea
):
    from portal.services import pipeline

    admin, pm = make_user("admin"), make_user("product_manager")
    acme = make_organisation("Acme")
    spammer = make_user(organisation=acme)
    source, target = make_idea("Excel export"), make_idea("Export reports to Excel")
    votes.cast_vote(source, spammer)
    db.session.commit()
    hide_all_by(spammer, admin)

    pipeline.merge_ideas(
        db.session.get(Idea, source.id),
        db.session.get(Idea, target.id),
        actor=pm,
        note="The same need as the idea we kept.",
        ip=None,
    )
    db.session.commit()
    merged = counts(target.id)
    assert merged[0] == 2  # the two authors; the spammer's vote moved, hidden
    assert vote_rows(target.id) == 3
    kept, recounted = organisation_backing()
    assert kept == recounted and (target.id, acme.id) not in kept

    moderation.restore_everything_by(spammer, actor=admin, ip=None)
    db.session.commit()
    cast_at = db.session.scalar(select(Vote.created_at).where(Vote.user_id == spammer.id))
    assert counts(target.id)[0] == 3
    assert counts(target.id)[1] == pytest.approx(
        merged[1] + trending.weight_at(trending.VOTE_WEIGHT, cast_at), rel=1e-12
    )
    kept, recounted = organisation_backing()
    assert kept == recounted and kept[(target.id, acme.id)] == 1


# ---------------------------------------------------------------------------------------------
# Concurrency: real threads, each with its own application context and connection.


def _run_at_once(app, jobs) -> list[BaseException]:
    """Start every job at the same moment, each in a thread with its own app context."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job):
        try:
            barrier.wait(timeout=30)
            with app.app_context():
                job()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a voting thread hung"
    return errors


def _cast(idea_id: int, user_id: int):
    def job():
        idea = db.session.get(Idea, idea_id)
        user = db.session.get(User, user_id)
        votes.cast_vote(idea, user)
        db.session.commit()

    return job


def test_fifty_people_voting_at_once_give_fifty_votes(app, make_user, make_idea):
    author = make_user()
    idea = make_idea(author=author)
    withdrawn = votes.withdraw_vote(idea, author)  # start from zero, so the total is exactly 50
    db.session.commit()
    assert withdrawn
    voter_ids = [make_user().id for _ in range(50)]
    jobs = [_cast(idea.id, user_id) for user_id in voter_ids]
    idea_id = idea.id
    # Nothing may be loaded after this: on SQLite the test's own transaction would hold the lock.
    db.session.commit()

    errors = _run_at_once(app, jobs)

    assert errors == []
    assert_count_matches_rows(idea_id, 50)
    followers = db.session.scalar(
        select(func.count()).select_from(Follow).where(Follow.idea_id == idea_id)
    )
    assert followers == 51  # the 50 voters and the author


def test_one_person_sending_twenty_votes_at_once_gives_one(app, make_user, make_idea):
    idea_id, voter_id = make_idea().id, make_user().id
    db.session.commit()

    errors = _run_at_once(app, [_cast(idea_id, voter_id) for _ in range(20)])

    assert errors == []
    assert_count_matches_rows(idea_id, 2)  # the author's and this one
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(Vote)
            .where(Vote.idea_id == idea_id, Vote.user_id == voter_id)
        )
        == 1
    )
    assert follows(idea_id, voter_id)


def test_votes_and_withdrawals_at_once_keep_the_count_equal_to_the_rows(app, make_user, make_idea):
    idea_id = make_idea().id
    stayers = [make_user().id for _ in range(10)]
    leavers = [make_user().id for _ in range(10)]
    for user_id in leavers:
        votes.cast_vote(db.session.get(Idea, idea_id), db.session.get(User, user_id))
    db.session.commit()
    assert_count_matches_rows(idea_id, 11)
    db.session.commit()

    def withdraw(user_id: int):
        def job():
            votes.withdraw_vote(db.session.get(Idea, idea_id), db.session.get(User, user_id))
            db.session.commit()

        return job

    jobs = [_cast(idea_id, u) for u in stayers] + [withdraw(u) for u in leavers]
    jobs += [_cast(idea_id, u) for u in stayers]  # and each stayer twice
    errors = _run_at_once(app, jobs)

    assert errors == []
    assert_count_matches_rows(idea_id, 11)


def test_people_of_one_organisation_voting_at_once_are_all_counted(
    app, make_user, make_organisation, make_idea
):
    acme, globex = make_organisation("Acme"), make_organisation("Globex")
    orgs = acme.id, globex.id
    idea_id = make_idea().id
    voters = [make_user(organisation=(acme, globex)[n % 2]).id for n in range(20)]
    # Nothing may be loaded after this: on SQLite the test's own transaction would hold the lock.
    db.session.commit()

    assert _run_at_once(app, [_cast(idea_id, user_id) for user_id in voters]) == []
    kept, recounted = organisation_backing()
    assert kept == recounted
    assert kept[(idea_id, orgs[0])] == kept[(idea_id, orgs[1])] == 10


# ---------------------------------------------------------------------------------------------
# Every count on the page after a vote with JavaScript (issue 15, point 10)


def live_text(page: str, name: str, idea_id: int) -> str:
    """The text of the element a page marks data-live="name" for the idea ('' if hidden)."""
    pattern = rf'<[a-z]+ [^>]*data-live="{name}" data-idea="{idea_id}"(?P<hidden> hidden)?>'
    match = re.search(pattern + r"(?P<text>[^<]*)<", page)
    assert match, f"no data-live={name} for idea {idea_id}"
    return "" if match.group("hidden") else match.group("text")


def test_a_json_vote_answers_every_count_the_pages_show(
    client, make_idea, make_user, make_organisation
):
    acme = make_organisation("Acme")
    idea = make_idea("Export reports to Excel")  # its author voted: 1 person, no organisation
    me = make_user(organisation=acme)
    sign_in_client(client, me)
    before = client.get(f"/ideas/{idea.id}").get_data(as_text=True)
    assert live_text(before, "supporters", idea.id) == "Supported by 1 person."

    answer = client.post(
        f"/ideas/{idea.id}/vote", data={"action": "vote"}, headers={"Accept": "application/json"}
    ).get_json()

    assert answer["idea_id"] == idea.id and answer["vote_count"] == 2
    live = answer["live"]
    assert live["supporters"] == "Supported by 2 people from 1 organisation."
    assert live["organisations"] == "1 organisation"
    assert live["you-voted"] == "You voted"
    # The words are the pages' own: what a reload would show, element for element.
    detail = client.get(f"/ideas/{idea.id}").get_data(as_text=True)
    assert live_text(detail, "supporters", idea.id) == live["supporters"]
    home = client.get("/").get_data(as_text=True)
    assert live_text(home, "organisations", idea.id) == live["organisations"]
    assert live_text(home, "you-voted", idea.id) == live["you-voted"]

    withdrawn = client.post(
        f"/ideas/{idea.id}/vote", data={"action": "unvote"}, headers={"Accept": "application/json"}
    ).get_json()
    assert withdrawn["live"] == {
        "supporters": "Supported by 1 person.",
        "organisations": "",
        "you-voted": "",
    }
    home = client.get("/").get_data(as_text=True)
    assert live_text(home, "organisations", idea.id) == ""
    assert live_text(home, "you-voted", idea.id) == ""


# ---------------------------------------------------------------------------------------------
# Voting from search results, the roadmap and similar ideas (issue 15, point 14)


def vote_form(page: str, idea_id: int) -> str:
    match = re.search(
        rf'<form method="post" action="/ideas/{idea_id}/vote" class="vote" data-idea="{idea_id}">'
        r".*?</form>",
        page,
        re.S,
    )
    assert match, f"no vote form for idea {idea_id}"
    return match.group(0)


def test_search_results_have_vote_buttons_that_come_back_to_the_results(
    client, login_as, make_idea
):
    idea = make_idea("Dark mode for the dashboard")
    login_as("customer")
    page = client.get("/search?q=dark").get_data(as_text=True)
    form = vote_form(page, idea.id)
    assert 'name="next" value="/search?q=dark#idea-' in form
    assert f'id="idea-{idea.id}"' in page

    response = vote(client, idea.id, next=f"/search?q=dark#idea-{idea.id}")

    assert response.headers["Location"] == f"/search?q=dark#idea-{idea.id}"
    assert vote_count(idea.id) == 2
    again = client.get("/search?q=dark").get_data(as_text=True)
    assert 'aria-pressed="true"' in vote_form(again, idea.id)


def test_the_roadmap_has_vote_buttons(client, login_as, make_idea):
    idea = make_idea("Single sign-on", stage="planned")
    login_as("customer")
    page = client.get("/roadmap").get_data(as_text=True)
    form = vote_form(page, idea.id)
    assert f'name="next" value="/roadmap#idea-{idea.id}"' in form
    assert 'aria-pressed="false"' in form
    assert vote(client, idea.id, next=f"/roadmap#idea-{idea.id}").headers["Location"] == (
        f"/roadmap#idea-{idea.id}"
    )
    assert 'aria-pressed="true"' in vote_form(
        client.get("/roadmap").get_data(as_text=True), idea.id
    )


def test_similar_ideas_while_typing_can_be_voted_for(client, login_as, make_idea):
    idea = make_idea("Export reports to Excel")
    me = login_as("customer")
    votes.cast_vote(idea, me)
    db.session.commit()

    fragment = client.get("/ideas/similar?title=Excel export").get_data(as_text=True)

    # Shown inside the new-idea form, where a form cannot be: a button for vote.js.
    assert "<form" not in fragment
    assert f'data-vote-url="/ideas/{idea.id}/vote"' in fragment
    assert 'data-action="unvote"' in fragment and 'aria-pressed="true"' in fragment


def test_similar_ideas_in_the_confirm_step_can_be_voted_for(client, login_as, make_idea):
    idea = make_idea("Export reports to Excel")
    login_as("customer")
    page = client.post(
        "/ideas/new",
        data={"title": "Excel export of reports", "problem": "Copying by hand."},
    ).get_data(as_text=True)
    assert "Is it one of these?" in page
    form = vote_form(page, idea.id)  # before the new idea's form, not inside it
    assert page.index(form) < page.index('<form method="post" action="/ideas/new"')
    assert vote(client, idea.id).headers["Location"] == f"/ideas/{idea.id}"
