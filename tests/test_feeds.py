"""Atom feeds: new ideas, and one idea's updates from the team. Public, valid, inert."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from html.parser import HTMLParser
from xml.dom import minidom

import pytest

from portal.extensions import db
from portal.models import Idea, StageChange
from portal.models.types import utcnow
from portal.services import catalog, comments
from portal.services.settings import set_setting

ATOM = "{http://www.w3.org/2005/Atom}"
BASE = "http://portal.test"


def parse(response) -> ET.Element:
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    root = ET.fromstring(response.get_data())  # noqa: S314 - our own output, under test
    assert root.tag == f"{ATOM}feed"
    return root


def entries(feed: ET.Element) -> list[ET.Element]:
    return feed.findall(f"{ATOM}entry")


def entry_titles(feed: ET.Element) -> list[str]:
    return [e.findtext(f"{ATOM}title") for e in entries(feed)]


def every_link(feed: ET.Element) -> list[str]:
    return [el.get("href") for el in feed.iter(f"{ATOM}link")] + [
        el.text for el in feed.iter(f"{ATOM}id")
    ]


def add_idea(title: str, *, author, created_at: datetime, hidden: bool = False, **fields) -> Idea:
    """An idea row put in directly, so its time can be set."""
    idea = Idea(
        title=title,
        problem=fields.pop("problem", "A problem."),
        solution="",
        stage=catalog.initial_stage(),
        author=author,
        created_at=created_at,
        last_activity_at=created_at,
        hidden_at=utcnow() if hidden else None,
        **fields,
    )
    db.session.add(idea)
    db.session.commit()
    return idea


def add_stage_change(idea, stages, to: str, note: str, *, at: datetime, actor=None):
    change = StageChange(
        idea_id=idea.id,
        from_stage_id=idea.stage_id,
        to_stage_id=stages[to].id,
        note=note,
        actor_id=actor.id if actor else None,
        created_at=at,
    )
    idea.stage = stages[to]
    db.session.add(change)
    db.session.commit()
    return change


def add_comment(idea, author, body: str, *, at: datetime | None = None):
    comment = comments.add_comment(idea, author=author, body=body)
    if at is not None:
        comment.created_at = at
    db.session.commit()
    return comment


# ---------------------------------------------------------------------------------------------
# The feed of new ideas


def test_new_ideas_feed_lists_visible_ideas_newest_first(client, stages, make_user):
    author = make_user(display_name="Ada Author")
    now = utcnow()
    add_idea("Oldest idea", author=author, created_at=now - timedelta(days=3))
    add_idea("Newest idea", author=author, created_at=now - timedelta(hours=1))
    add_idea("Middle idea", author=author, created_at=now - timedelta(days=1))
    add_idea("Hidden idea 4242", author=author, created_at=now, hidden=True)

    response = client.get("/feeds/ideas.atom")

    feed = parse(response)
    assert entry_titles(feed) == ["Newest idea", "Middle idea", "Oldest idea"]
    assert "Hidden idea 4242" not in response.get_data(as_text=True)
    first = entries(feed)[0]
    assert first.findtext(f"{ATOM}author/{ATOM}name") == "Ada Author"
    assert "A problem." in first.findtext(f"{ATOM}content")
    assert first.find(f"{ATOM}content").get("type") == "html"
    # The feed's own time is that of its newest entry, in a zone-qualified form.
    updated = datetime.fromisoformat(feed.findtext(f"{ATOM}updated"))
    assert updated.utcoffset() == timedelta(0)
    assert updated == datetime.fromisoformat(first.findtext(f"{ATOM}updated"))


def test_new_ideas_feed_holds_the_newest_fifty(client, stages, make_user):
    author = make_user()
    start = utcnow() - timedelta(days=60)
    for n in range(52):
        add_idea(f"Idea number {n:02d}", author=author, created_at=start + timedelta(hours=n))

    titles = entry_titles(parse(client.get("/feeds/ideas.atom")))

    assert len(titles) == 50
    assert titles[0] == "Idea number 51"
    assert titles[-1] == "Idea number 02"


def test_empty_new_ideas_feed_is_still_valid(client, stages):
    feed = parse(client.get("/feeds/ideas.atom"))
    assert entries(feed) == []
    assert feed.findtext(f"{ATOM}updated")


def test_new_ideas_feed_is_public_to_anonymous_readers(client, make_idea):
    make_idea("Public idea for feed readers")
    assert entry_titles(parse(client.get("/feeds/ideas.atom"))) == ["Public idea for feed readers"]


def test_hidden_ideas_stay_out_of_the_feed_even_for_the_team(client, login_as, make_idea):
    idea = make_idea("Secret hidden idea 77")
    idea.hidden_at = utcnow()
    db.session.commit()
    login_as("admin")
    response = client.get("/feeds/ideas.atom")
    assert entries(parse(response)) == []
    assert "Secret hidden idea 77" not in response.get_data(as_text=True)


@pytest.mark.parametrize("host", ["evil.example", "portal.test:8080", "localhost"])
def test_feed_links_use_the_configured_base_url_whatever_the_host(client, make_idea, host):
    idea = make_idea("Linked idea")
    for url in ("/feeds/ideas.atom", f"/ideas/{idea.id}/feed.atom"):
        feed = parse(client.get(url, headers={"Host": host}))
        links = every_link(feed)
        assert links, url
        for link in links:
            assert link.startswith(BASE + "/"), (url, link)
        assert host not in client.get(url, headers={"Host": host}).get_data(as_text=True)
    feed = parse(client.get("/feeds/ideas.atom", headers={"Host": host}))
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == f"{BASE}/feeds/ideas.atom"
    assert entries(feed)[0].find(f"{ATOM}link").get("href") == f"{BASE}/ideas/{idea.id}"


# ---------------------------------------------------------------------------------------------
# One idea's updates


@pytest.fixture
def followed(make_user, make_idea, stages):
    """An idea with stage changes, team and customer comments, at known times."""
    now = utcnow()
    pm = make_user("product_manager", display_name="Pam Manager")
    customer = make_user(display_name="Cus Tomer")
    idea = make_idea("Dark mode for reports", author=customer)
    add_stage_change(
        idea, stages, "under_review", "We are **looking** into it.", at=now - timedelta(days=5)
    )
    add_comment(idea, pm, "Team comment, two days ago.", at=now - timedelta(days=2))
    add_comment(idea, customer, "Customer comment, one day ago.", at=now - timedelta(days=1))
    add_stage_change(
        idea, stages, "planned", "On the roadmap now.", at=now - timedelta(hours=1), actor=pm
    )
    return {"idea": idea, "pm": pm, "customer": customer}


def test_idea_feed_lists_stage_changes_and_team_comments_newest_first(client, followed):
    idea = followed["idea"]

    feed = parse(client.get(f"/ideas/{idea.id}/feed.atom"))

    items = entries(feed)
    assert [e.findtext(f"{ATOM}title") for e in items] == [
        "Planned: Dark mode for reports",
        "The team replied: Dark mode for reports",
        "Under review: Dark mode for reports",
    ]
    contents = [e.findtext(f"{ATOM}content") for e in items]
    assert "On the roadmap now." in contents[0]
    assert "Team comment, two days ago." in contents[1]
    assert "<strong>looking</strong>" in contents[2]  # the note's Markdown, as HTML
    assert [e.findtext(f"{ATOM}author/{ATOM}name") for e in items] == [
        "Pam Manager",
        "Pam Manager",
        "The team",
    ]
    times = [datetime.fromisoformat(e.findtext(f"{ATOM}updated")) for e in items]
    assert times == sorted(times, reverse=True)
    assert feed.findtext(f"{ATOM}title").startswith("Updates on “Dark mode for reports”")
    ids = [e.findtext(f"{ATOM}id") for e in items]
    assert len(set(ids)) == 3


def test_customer_comments_stay_out_of_the_idea_feed(client, followed):
    body = client.get(f"/ideas/{followed['idea'].id}/feed.atom").get_data(as_text=True)
    assert "Customer comment" not in body
    assert "Cus Tomer" not in body


def test_official_response_is_labelled_in_the_idea_feed(client, followed):
    idea = followed["idea"]
    comment = add_comment(idea, followed["pm"], "This is our answer.")
    comments.mark_official(comment, actor=followed["pm"])
    db.session.commit()

    titles = entry_titles(parse(client.get(f"/ideas/{idea.id}/feed.atom")))

    assert "Official response: Dark mode for reports" in titles


def test_hidden_and_deleted_team_comments_stay_out_of_the_idea_feed(client, followed):
    idea, pm = followed["idea"], followed["pm"]
    hidden = add_comment(idea, pm, "Hidden team words 111")
    deleted = add_comment(idea, pm, "Deleted team words 222")
    hidden.hidden_at = utcnow()
    comments.delete_comment(deleted, actor=pm)
    db.session.commit()

    body = client.get(f"/ideas/{idea.id}/feed.atom").get_data(as_text=True)

    assert "Hidden team words 111" not in body
    assert "Deleted team words 222" not in body
    assert len(entries(parse(client.get(f"/ideas/{idea.id}/feed.atom")))) == 3


def test_feed_of_an_idea_without_updates_is_empty_but_valid(client, make_idea):
    idea = make_idea("Quiet idea")
    feed = parse(client.get(f"/ideas/{idea.id}/feed.atom"))
    assert entries(feed) == []
    assert datetime.fromisoformat(feed.findtext(f"{ATOM}updated")) == idea.created_at


@pytest.mark.parametrize("viewer", ["anonymous", "author", "admin"])
def test_feed_of_a_hidden_idea_is_404_for_everyone(client, login_as, followed, viewer):
    from .conftest import sign_in_client

    idea = followed["idea"]
    idea.hidden_at = utcnow()
    db.session.commit()
    if viewer == "author":
        sign_in_client(client, followed["customer"])
    elif viewer == "admin":
        login_as("admin")

    response = client.get(f"/ideas/{idea.id}/feed.atom")

    assert response.status_code == 404
    assert "On the roadmap now." not in response.get_data(as_text=True)


def test_feed_of_an_unknown_idea_is_404(client, stages):
    assert client.get("/ideas/999999/feed.atom").status_code == 404


def test_feed_never_changes_state_by_post(client, make_idea):
    idea = make_idea()
    assert client.post("/feeds/ideas.atom").status_code == 405
    assert client.post(f"/ideas/{idea.id}/feed.atom").status_code == 405


# ---------------------------------------------------------------------------------------------
# Hostile text stays text


XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(2)">',
    "<svg onload=alert(3)>",
    "[click](javascript:alert(4))",
    "]]></content><script>alert(5)</script>",
    "&amp; &lt;script&gt; &#60;script&#62;",
]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def assert_inert_html(fragment: str) -> None:
    parser = _Tags()
    parser.feed(fragment)
    for tag, attrs in parser.tags:
        assert tag not in ("script", "img", "svg", "iframe", "object"), fragment
        for name, value in attrs:
            assert not name.startswith("on"), fragment
            assert not (value or "").strip().lower().startswith(("javascript:", "data:")), fragment


def assert_no_raw_markup(xml_text: str) -> None:
    lowered = xml_text.lower()
    for needle in ("<script", "<img", "<svg", "<![cdata["):
        assert needle not in lowered, needle


@pytest.mark.parametrize("payload", XSS)
def test_hostile_titles_and_bodies_are_escaped_in_feeds(
    client, make_user, make_idea, stages, payload
):
    pm = make_user("product_manager", display_name=f"PM {payload}"[:80])
    author = make_user(display_name="Author " + payload[:40])
    idea = make_idea(f"Title {payload}"[:120], author=author, problem=payload, solution=payload)
    add_stage_change(idea, stages, "under_review", payload, at=utcnow(), actor=pm)
    add_comment(idea, pm, payload)

    for url in ("/feeds/ideas.atom", f"/ideas/{idea.id}/feed.atom"):
        response = client.get(url)
        xml_text = response.get_data(as_text=True)
        assert_no_raw_markup(xml_text)
        feed = parse(response)
        assert entries(feed), url
        for entry in entries(feed):
            assert payload[:20] in entry.findtext(f"{ATOM}title")  # shown as written
            # The content element holds HTML as escaped text; that HTML is itself inert.
            content = entry.findtext(f"{ATOM}content")
            assert content.startswith("<p>"), content
            assert_inert_html(content)


def test_control_characters_in_an_idea_never_break_the_feeds(client, make_idea):
    idea = make_idea("Press the escape \x1b key", problem="A bell \x07 and a null-ish \x01 here.")
    for url in ("/feeds/ideas.atom", f"/ideas/{idea.id}/feed.atom"):
        parse(client.get(url))


# ---------------------------------------------------------------------------------------------
# Pages point feed readers at the feeds


def alternate_links(response) -> list[str]:
    body = response.get_data(as_text=True)
    return [
        re.search(r'href="([^"]+)"', tag).group(1)
        for tag in re.findall(r"<link [^>]*>", body)
        if 'rel="alternate"' in tag and 'type="application/atom+xml"' in tag
    ]


def test_home_page_announces_the_new_ideas_feed(client, stages):
    links = alternate_links(client.get("/"))
    assert len(links) == 1
    assert links[0].endswith("/feeds/ideas.atom")
    assert client.get(links[0].removeprefix(BASE)).status_code == 200


def test_idea_page_announces_its_own_feed(client, make_idea):
    idea = make_idea()
    response = client.get(f"/ideas/{idea.id}")
    links = alternate_links(response)
    assert len(links) == 1
    assert links[0].endswith(f"/ideas/{idea.id}/feed.atom")
    assert client.get(links[0].removeprefix(BASE)).status_code == 200
    assert f'href="{links[0]}"' in response.get_data(as_text=True)  # also a visible link


def test_no_stage_changes_are_read_from_another_idea(client, followed, make_idea, stages):
    other = make_idea("Other idea")
    feed = parse(client.get(f"/ideas/{other.id}/feed.atom"))
    assert entries(feed) == []


# ---------------------------------------------------------------------------------------------
# Characters XML forbids never reach a feed

# Outside XML 1.0's Char production: C0 controls but tab, newline and return; U+FFFE, U+FFFF.
# PostgreSQL refuses NUL in text, so only SQLite stores it.
FORBIDDEN_IN_XML = "\ufffe\uffff" + "".join(chr(c) for c in range(1, 32) if chr(c) not in "\t\n\r")
ALLOWED_ODDITY = "\u0085"  # NEL: allowed in XML 1.0, and kept


def forbidden_characters() -> str:
    return ("\x00" if db.engine.dialect.name == "sqlite" else "") + FORBIDDEN_IN_XML


def words(content: str) -> str:
    """Markdown turned into HTML: CommonMark shows a NUL as U+FFFD, and that is XML's to keep."""
    return content.replace("\N{REPLACEMENT CHARACTER}", "")


def assert_no_forbidden_characters(xml_text: str) -> None:
    found = sorted({hex(ord(ch)) for ch in xml_text if ch in forbidden_characters()})
    assert not found, found


@pytest.fixture
def hostile(make_user, make_category, stages):
    """An idea and everything around it, written with every character XML forbids."""
    bad = forbidden_characters() + ALLOWED_ODDITY
    pm = make_user("product_manager", display_name=f"Pam{bad}Manager")
    author = make_user(display_name=f"Ada{bad}Author")
    category = make_category(name=f"Report{bad}ing")
    stages["planned"].name = f"Plan{bad}ned"
    set_setting("site_name", f"Our{bad}Portal", actor=None)
    db.session.commit()
    idea = add_idea(
        f"Dark{bad}mode",
        author=author,
        created_at=utcnow() - timedelta(days=2),
        problem=f"Reports{bad}glare at night.",
        category_id=category.id,
    )
    add_stage_change(idea, stages, "planned", f"On the{bad}roadmap.", at=utcnow(), actor=pm)
    add_comment(idea, pm, f"We{bad}agree.", at=utcnow() - timedelta(hours=1))
    add_stage_change(
        idea, stages, "shipped", f"Released{bad}today.", at=utcnow() - timedelta(minutes=1)
    )
    return idea


def test_characters_xml_forbids_never_break_the_feeds(client, hostile):
    clean = ALLOWED_ODDITY  # what is left between the words
    for url in ("/feeds/ideas.atom", f"/ideas/{hostile.id}/feed.atom", "/feeds/shipped.atom"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_no_forbidden_characters(response.get_data(as_text=True))
        feed = parse(response)  # a real XML parser, over the bytes
        minidom.parseString(response.get_data())  # noqa: S318 - our own output, under test
        assert feed.findtext(f"{ATOM}title").endswith(f"Our{clean}Portal"), url
        assert entries(feed), url
        for entry in entries(feed):
            assert f"Dark{clean}mode" in entry.findtext(f"{ATOM}title"), url

    new_ideas = entries(parse(client.get("/feeds/ideas.atom")))
    assert new_ideas[0].findtext(f"{ATOM}author/{ATOM}name") == f"Ada{clean}Author"
    assert f"Reports{clean}glare at night." in words(new_ideas[0].findtext(f"{ATOM}content"))

    updates = entries(parse(client.get(f"/ideas/{hostile.id}/feed.atom")))
    titles = [e.findtext(f"{ATOM}title") for e in updates]
    assert f"Plan{clean}ned: Dark{clean}mode" in titles
    contents = words(" ".join(e.findtext(f"{ATOM}content") for e in updates))
    assert f"On the{clean}roadmap." in contents
    assert f"We{clean}agree." in contents
    assert f"Pam{clean}Manager" in [e.findtext(f"{ATOM}author/{ATOM}name") for e in updates]

    shipped = entries(parse(client.get("/feeds/shipped.atom")))
    assert f"Released{clean}today." in words(shipped[0].findtext(f"{ATOM}content"))


@pytest.mark.parametrize("config_overrides", [{"SITE_NAME": "Idea\ud800Portal\udfff"}])
def test_a_lone_surrogate_in_the_configured_site_name_never_breaks_the_feeds(client, stages):
    response = client.get("/feeds/ideas.atom")
    assert parse(response).findtext(f"{ATOM}title") == "New ideas · IdeaPortal"
