"""The public roadmap, the record of what shipped, and its feed."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import Idea, StageChange
from portal.models.types import utcnow
from portal.services import pipeline, votes

ATOM = "{http://www.w3.org/2005/Atom}"
NOTE = "We are sizing this with three customers and will report back next month."


# --- Helpers -------------------------------------------------------------------------------


@pytest.fixture
def pm(make_user):
    return make_user("product_manager")


@pytest.fixture
def add_votes(make_user):
    def add(idea: Idea, n: int) -> None:
        """n more people vote for the idea (its author already has)."""
        for _ in range(n):
            votes.cast_vote(idea, make_user())
        db.session.commit()

    return add


@pytest.fixture
def move(stages, pm):
    def do(idea: Idea, slug: str, note: str = NOTE, *, days_ago: float = 0) -> StageChange:
        """Move an idea as the team would, the move dated days_ago."""
        idea = db.session.get(Idea, idea.id)
        pipeline.move_stage(idea, stages[slug], actor=pm, note=note, ip=None)
        db.session.flush()
        change = db.session.scalars(
            select(StageChange)
            .where(StageChange.idea_id == idea.id)
            .order_by(StageChange.id.desc())
            .limit(1)
        ).one()
        if days_ago:
            db.session.execute(
                update(StageChange)
                .where(StageChange.id == change.id)
                .values(created_at=utcnow() - timedelta(days=days_ago))
            )
        db.session.commit()
        return change

    return do


def hide(idea: Idea) -> None:
    db.session.get(Idea, idea.id).hidden_at = utcnow()
    db.session.commit()


def page_of(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def linked_titles(fragment: str) -> list[str]:
    return [
        html.unescape(title)
        for title in re.findall(r'<a href="/ideas/\d+">(.*?)</a>', fragment, re.S)
    ]


def column(page: str, slug: str) -> list[str]:
    """The idea titles in one roadmap column, top to bottom."""
    start = page.index(f'id="col-{slug}"')
    return linked_titles(page[start : page.index("</section>", start)])


def roadmap_columns(client) -> dict[str, list[str]]:
    page = page_of(client, "/roadmap")
    return {slug: column(page, slug) for slug in ("planned", "in_progress", "shipped")}


def shipped_items(client) -> list[tuple[str, str]]:
    """(title, release note as HTML) for each item on /shipped, top to bottom."""
    page = page_of(client, "/shipped")
    items = []
    for item in re.split(r'<li class="card release" id="[^"]+">', page)[1:]:
        item = item[: item.index("</li>\n")] if "<ul" not in item else item
        title = linked_titles(item)[0]
        note = re.search(r'<div class="prose user-content">(.*?)</div>', item, re.S).group(1)
        note = note.strip()
        items.append((title, note))
    return items


def shipped_feed(client) -> ET.Element:
    response = client.get("/feeds/shipped.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    root = ET.fromstring(response.get_data())  # noqa: S314 - our own output, under test
    assert root.tag == f"{ATOM}feed"
    return root


def feed_entries(root: ET.Element) -> list[dict[str, str]]:
    return [
        {
            "title": entry.findtext(f"{ATOM}title"),
            "content": entry.findtext(f"{ATOM}content"),
            "updated": entry.findtext(f"{ATOM}updated"),
            "link": entry.find(f"{ATOM}link").get("href"),
            "id": entry.findtext(f"{ATOM}id"),
        }
        for entry in root.findall(f"{ATOM}entry")
    ]


# --- The roadmap ---------------------------------------------------------------------------


def test_roadmap_shows_planned_and_in_progress_ideas_most_voted_first(
    client, make_idea, add_votes, move
):
    few = make_idea("Planned with one vote", stage="planned")
    many = make_idea("Planned with five votes", stage="planned")
    some = make_idea("Planned with three votes", stage="planned")
    tie = make_idea("Planned later with three votes")
    move(tie, "planned")
    building = make_idea("Being built with four votes", stage="in_progress")
    also_building = make_idea("Being built with two votes")
    move(also_building, "under_review")
    move(also_building, "in_progress")
    for idea, extra in ((many, 4), (some, 2), (tie, 2), (building, 3), (also_building, 1)):
        add_votes(idea, extra)
    make_idea("Still new")
    make_idea("Under review now", stage="under_review")
    declined = make_idea("Declined for good", stage="planned")
    move(declined, "declined")
    assert few.vote_count == 1

    page = page_of(client, "/roadmap")
    assert column(page, "planned") == [
        "Planned with five votes",
        "Planned later with three votes",  # a tie: the newer idea first
        "Planned with three votes",
        "Planned with one vote",
    ]
    assert column(page, "in_progress") == [
        "Being built with four votes",
        "Being built with two votes",
    ]
    assert column(page, "shipped") == []
    assert column(page, "under_review") == ["Under review now"]
    for elsewhere in ("Still new", "Declined for good"):
        assert elsewhere not in page
    assert re.search(r"Planned <span class=\"meta\">\(4\)</span>", page)
    assert re.search(r"In progress <span class=\"meta\">\(2\)</span>", page)
    assert '<span class="vote__count">5</span>' in page  # in the vote buttons
    assert '<span class="vote__count">1</span>' in page


def test_empty_roadmap_says_so(client, stages):
    page = page_of(client, "/roadmap")
    for stage in ("under review", "planned", "in progress"):
        assert f"No ideas are {stage} right now." in page
    assert "Nothing shipped in the last 90 days." in page
    assert "Nothing has shipped yet." in page_of(client, "/shipped")
    assert feed_entries(shipped_feed(client)) == []


def test_recently_shipped_covers_the_last_ninety_days_and_shipped_page_everything(
    client, make_idea, move
):
    for title, days_ago in (
        ("Shipped 100 days ago", 100),
        ("Shipped ten days ago", 10),
        ("Shipped 89 days ago", 89),
        ("Shipped 91 days ago", 91),
        ("Shipped today", 0),
    ):
        move(make_idea(title, stage="in_progress"), "shipped", days_ago=days_ago)

    assert roadmap_columns(client) == {
        "planned": [],
        "in_progress": [],
        "shipped": ["Shipped today", "Shipped ten days ago", "Shipped 89 days ago"],
    }
    assert [title for title, _ in shipped_items(client)] == [
        "Shipped today",
        "Shipped ten days ago",
        "Shipped 89 days ago",
        "Shipped 91 days ago",
        "Shipped 100 days ago",
    ]
    assert [e["title"] for e in feed_entries(shipped_feed(client))] == [
        "Shipped: Shipped today",
        "Shipped: Shipped ten days ago",
        "Shipped: Shipped 89 days ago",
        "Shipped: Shipped 91 days ago",
        "Shipped: Shipped 100 days ago",
    ]


def test_shipped_page_shows_the_note_of_the_move_to_shipped(client, make_idea, move):
    idea = make_idea("Export reports to Excel")
    move(idea, "planned", "Planned for the spring, after the billing work.", days_ago=30)
    move(idea, "in_progress", "The team started building the export this week.", days_ago=20)
    move(idea, "shipped", "Export to Excel is in version 4.2, released today.", days_ago=5)

    ((title, note),) = shipped_items(client)
    assert title == "Export reports to Excel"
    assert note == "<p>Export to Excel is in version 4.2, released today.</p>"
    page = page_of(client, "/shipped")
    assert "Planned for the spring" not in page
    assert "started building" not in page
    shipped_on = (utcnow() - timedelta(days=5)).date().isoformat()
    assert f'<time datetime="{shipped_on}' in page


def test_reshipped_idea_shows_once_with_its_latest_release_note(client, make_idea, move):
    idea = make_idea("Dark mode", stage="in_progress")
    move(idea, "shipped", "Dark mode is in version 3, released today.", days_ago=60)
    move(idea, "in_progress", "Reopened: the contrast fails accessibility checks.", days_ago=40)
    move(idea, "shipped", "Dark mode with better contrast is in version 3.1.", days_ago=2)
    other = make_idea("Keyboard shortcuts", stage="in_progress")
    move(other, "shipped", "Keyboard shortcuts arrived in version 3.0.5 today.", days_ago=30)

    assert shipped_items(client) == [
        ("Dark mode", "<p>Dark mode with better contrast is in version 3.1.</p>"),
        ("Keyboard shortcuts", "<p>Keyboard shortcuts arrived in version 3.0.5 today.</p>"),
    ]
    assert roadmap_columns(client)["shipped"] == ["Dark mode", "Keyboard shortcuts"]
    entries = feed_entries(shipped_feed(client))
    assert [e["title"] for e in entries] == ["Shipped: Dark mode", "Shipped: Keyboard shortcuts"]
    assert "better contrast" in entries[0]["content"]
    assert "released today" not in entries[0]["content"]


def test_reopened_idea_leaves_shipped_and_returns_to_the_roadmap(client, make_idea, move):
    idea = make_idea("Dark mode", stage="in_progress")
    move(idea, "shipped", "Dark mode is in version 3, released today.", days_ago=10)
    move(idea, "in_progress", "Reopened: the contrast fails accessibility checks.")

    assert roadmap_columns(client) == {"planned": [], "in_progress": ["Dark mode"], "shipped": []}
    assert shipped_items(client) == []
    assert feed_entries(shipped_feed(client)) == []


def test_hidden_ideas_appear_nowhere(client, make_idea, move):
    visible = {
        "planned": make_idea("Visible planned idea", stage="planned"),
        "in_progress": make_idea("Visible idea in progress", stage="in_progress"),
        "shipped": make_idea("Visible shipped idea", stage="in_progress"),
    }
    hidden = {
        "planned": make_idea("Hidden planned idea", stage="planned"),
        "in_progress": make_idea("Hidden idea in progress", stage="in_progress"),
        "shipped": make_idea("Hidden shipped idea", stage="in_progress"),
        "old": make_idea("Hidden long shipped idea", stage="in_progress"),
    }
    move(visible["shipped"], "shipped", "Visible idea released in version 9 today.", days_ago=3)
    move(hidden["shipped"], "shipped", "Hidden idea released in version 9 today.", days_ago=3)
    move(hidden["old"], "shipped", "Hidden idea released in version 1 long ago.", days_ago=200)
    for idea in hidden.values():
        hide(idea)

    assert roadmap_columns(client) == {
        "planned": ["Visible planned idea"],
        "in_progress": ["Visible idea in progress"],
        "shipped": ["Visible shipped idea"],
    }
    assert [title for title, _ in shipped_items(client)] == ["Visible shipped idea"]
    feed = client.get("/feeds/shipped.atom").get_data(as_text=True)
    for path_text in (page_of(client, "/roadmap"), page_of(client, "/shipped"), feed):
        assert "Hidden" not in path_text
    assert [e["title"] for e in feed_entries(shipped_feed(client))] == [
        "Shipped: Visible shipped idea"
    ]


def test_roadmap_is_public(client, make_idea, move):
    make_idea("Visible planned idea", stage="planned")
    move(make_idea("Visible shipped idea", stage="in_progress"), "shipped", days_ago=1)
    assert column(page_of(client, "/roadmap"), "planned") == ["Visible planned idea"]
    assert [title for title, _ in shipped_items(client)] == ["Visible shipped idea"]


# --- Release notes are safe ----------------------------------------------------------------


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.found.append((tag, dict(attrs)))


def elements(fragment: str) -> list[tuple[str, dict[str, str | None]]]:
    """The real elements of an HTML fragment (escaped text is not an element)."""
    parser = _Elements()
    parser.feed(fragment)
    parser.close()
    return parser.found


def assert_inert(fragment: str) -> None:
    for tag, attrs in elements(fragment):
        assert tag in {"p", "strong", "em", "a"}, tag
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        if tag == "a":
            assert (attrs.get("href") or "").startswith(("https:", "http:")), attrs


HOSTILE_NOTE = (
    "**Bold** news: see [the release](https://example.com/4.2) and "
    "[click](javascript:alert(1)) or [data](data:text/html;base64,PHNjcmlwdD4=).\n\n"
    '<script>alert("note")</script> <img src=x onerror=alert(1)> '
    '<svg onload=alert(1)></svg> <a href="javascript:alert(2)">raw link</a>'
)


def test_release_notes_render_as_sanitised_markdown(client, make_idea, move):
    move(make_idea("Export reports to Excel", stage="in_progress"), "shipped", HOSTILE_NOTE)
    ((_, note),) = shipped_items(client)
    assert "<strong>Bold</strong>" in note
    assert re.search(r'<a href="https://example.com/4.2"[^>]*>the release</a>', note)
    assert_inert(note)
    assert [attrs["href"] for tag, attrs in elements(note) if tag == "a"] == [
        "https://example.com/4.2"
    ]
    assert "&lt;script&gt;" in note  # shown as text, never run
    page = page_of(client, "/shipped")
    assert "<script>alert" not in page
    for tag, attrs in elements(page):
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        assert tag not in ("svg", "iframe", "object")
        assert not (attrs.get("href") or attrs.get("src") or "").startswith(("javascript", "data"))


def test_shipped_feed_is_valid_atom_with_escaped_html_content(client, make_idea, move):
    first = make_idea("Fish & <chips> export", stage="in_progress")
    move(first, "shipped", HOSTILE_NOTE, days_ago=4)
    second = make_idea("Keyboard shortcuts", stage="in_progress")
    move(second, "shipped", "Shortcuts are in *version 3.0.5*, released today.", days_ago=1)

    root = shipped_feed(client)
    assert root.findtext(f"{ATOM}title").startswith("What shipped")
    entries = feed_entries(root)
    assert [e["title"] for e in entries] == [
        "Shipped: Keyboard shortcuts",
        "Shipped: Fish & <chips> export",
    ]
    assert entries[0]["link"] == f"http://portal.test/ideas/{second.id}"
    assert entries[1]["link"] == f"http://portal.test/ideas/{first.id}"
    assert len({e["id"] for e in entries}) == 2
    assert "<em>version 3.0.5</em>" in entries[0]["content"]
    updated = [datetime.fromisoformat(e["updated"]) for e in entries]
    assert updated[0] > updated[1]
    assert abs(updated[1] - (utcnow() - timedelta(days=4))) < timedelta(minutes=5)
    assert datetime.fromisoformat(root.findtext(f"{ATOM}updated")) == updated[0]
    content = entries[1]["content"]  # the HTML a feed reader would display
    assert "<strong>Bold</strong>" in content
    assert "<script" not in content and "<img" not in content and "<svg" not in content
    assert_inert(content)


# --- Fixed cost ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/roadmap", "/shipped", "/feeds/shipped.atom"])
def test_roadmap_pages_run_a_fixed_number_of_queries(
    client,
    make_idea,
    make_user,
    make_category,
    make_organisation,
    add_votes,
    move,
    count_queries,
    path,
):
    measured = []
    made = 0
    for total in (3, 15):
        for i in range(made, total):
            author = make_user(organisation=make_organisation(f"Organisation {i}"))
            idea = make_idea(
                f"Idea number {i}",
                author=author,
                category=make_category(f"Area {i}"),
                stage=("planned", "in_progress", "in_progress")[i % 3],
            )
            add_votes(idea, 1)
            if i % 3 == 2:
                move(idea, "shipped", f"Idea number {i} shipped in release {i}.", days_ago=i)
        made = total
        client.get(path)  # warm up
        with count_queries() as queries:
            response = client.get(path)
        assert response.status_code == 200
        shown = {int(n) for n in re.findall(r"Idea number (\d+)", response.get_data(as_text=True))}
        expected = set(range(total)) if path == "/roadmap" else set(range(2, total, 3))
        assert shown == expected
        measured.append(queries.count)
    assert measured[0] == measured[1], f"3 ideas: {measured[0]} queries, 15: {measured[1]}"
