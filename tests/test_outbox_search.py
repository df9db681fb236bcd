"""The admins' outbox page finds messages by recipient, keeps its other filters, and pages."""

from __future__ import annotations

import re

import pytest

from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus

from .helpers import page_text


def message(to: str, *, kind: str = "notification", status=OutboxStatus.SENT, subject="Hello"):
    row = OutboxMessage(kind=kind, to_address=to, status=status, subject=subject, attempts=1)
    db.session.add(row)
    return row


@pytest.fixture
def admin(login_as):
    return login_as("admin")


def listed(response) -> list[str]:
    """The recipients in the page's tables, in order."""
    return re.findall(r"<td>([^<@]+@[^<]+)</td>", page_text(response))


def test_admin_finds_messages_by_part_of_the_recipient_ignoring_case(client, admin):
    message("priya@acme.example", subject="For Priya")
    message("Sam@Globex.example", subject="For Sam")
    message("priya@acme.example", status=OutboxStatus.FAILED, subject="Priya gave up")
    message("sam@globex.example", status=OutboxStatus.FAILED, subject="Sam gave up")
    db.session.commit()

    response = client.get("/admin/outbox", query_string={"q": "GLOBEX"})

    assert response.status_code == 200
    page = page_text(response)
    assert "For Sam" in page and "Sam gave up" in page  # the list and the failures narrow
    assert "Priya" not in page
    assert 'value="GLOBEX"' in page  # the search stays in its box
    assert "1 message matching the search" in page


def test_percent_and_underscore_in_the_search_are_literal(client, admin):
    message("a_b@example.com")
    message("axb@example.com")
    db.session.commit()
    assert listed(client.get("/admin/outbox", query_string={"q": "a_b"})) == ["a_b@example.com"]
    assert listed(client.get("/admin/outbox", query_string={"q": "%"})) == []


def test_status_and_kind_narrow_the_search_together(client, admin):
    message("priya@acme.example", kind="notification", status=OutboxStatus.SENT)
    message("priya@acme.example", kind="digest", status=OutboxStatus.SENT, subject="Digest")
    message("priya@acme.example", kind="digest", status=OutboxStatus.SKIPPED, subject="Never sent")
    message("sam@globex.example", kind="digest", status=OutboxStatus.SENT)
    db.session.commit()

    response = client.get(
        "/admin/outbox", query_string={"q": "acme", "status": "sent", "kind": "digest"}
    )

    page = page_text(response)
    assert "Digest" in page and "Never sent" not in page
    assert listed(response) == ["priya@acme.example"]
    assert re.search(r"<option selected value=\"sent\"|value=\"sent\" selected", page)
    assert re.search(r"<option selected value=\"digest\"|value=\"digest\" selected", page)


def test_pages_keep_the_search(client, admin):
    for n in range(55):
        message(f"person{n}@acme.example")
    message("someone@globex.example")
    db.session.commit()

    first = client.get("/admin/outbox", query_string={"q": "acme"})
    page = page_text(first)
    assert "55 messages matching the search, 50 a page" in page
    assert len(listed(first)) == 50
    [next_link] = re.findall(r'<a rel="next" href="([^"]+)"', page)
    assert "q=acme" in next_link and "page=2" in next_link

    second = client.get(next_link)
    assert len(listed(second)) == 5
    assert all(address.endswith("@acme.example") for address in listed(second))


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"status": "nonsense"}, 200),
        ({"kind": "<script>"}, 200),
        ({"q": "x" * 500}, 200),
        ({"page": "junk"}, 400),  # as every paged list: a clean 400, never a 500
    ],
)
def test_junk_filters_are_ignored_or_refused_cleanly(client, admin, query, status):
    message("priya@acme.example")
    db.session.commit()
    response = client.get("/admin/outbox", query_string=query)
    assert response.status_code == status
    if status == 200:
        assert "<script>" not in response.get_data(as_text=True).split("<main", 1)[1]


def test_nothing_found_says_so(client, admin):
    message("priya@acme.example")
    db.session.commit()
    page = page_text(client.get("/admin/outbox", query_string={"q": "nobody"}))
    assert "No message matches" in page
    assert "No message matching the search gave up" in page
