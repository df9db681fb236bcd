"""A person's copy of their data: asked for, prepared by the delivery worker, emailed, and
downloaded by them only, until it expires."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select

from portal.extensions import db
from portal.mail import delivery
from portal.models import DataExport, ExternalIdentity, OutboxStatus, SavedFilter
from portal.models.types import utcnow
from portal.services import api_keys, comments, my_data, votes

from .conftest import sign_in_client
from .helpers import link_in, page_text


def _ask(client) -> None:
    response = client.post("/account/my-data")
    assert response.status_code == 303


def test_a_person_gets_everything_in_a_zip_by_a_link_only_they_can_open(
    app, client, make_user, make_idea, outbox
):
    person = make_user(display_name="Priya <b>Patel</b>")
    idea = make_idea("Dark mode for reports", author=person)
    other_idea = make_idea("Faster exports")
    votes.cast_vote(other_idea, person)
    comments.add_comment(idea, author=person, body="Also for the dashboard.")
    _key, token = api_keys.create_key(person, name="Weekly script", scopes=["read"])
    db.session.add(SavedFilter(owner_id=person.id, name="Mine", query="owner=me"))
    db.session.add(
        ExternalIdentity(provider="corp", subject="p-1", user_id=person.id, email=person.email)
    )
    person.totp_secret = "JBSWY3DPEHPK3PXP"
    db.session.commit()
    sign_in_client(client, person)

    assert "Ask for a copy of my data" in page_text(client.get("/account/my-data"))
    _ask(client)  # tests deliver inline, after the request: the worker's round
    delivery.deliver_due()  # nothing left to do

    export = db.session.scalars(select(DataExport)).one()
    assert export.status == OutboxStatus.SENT and export.archive
    (message,) = outbox.to(person.email)
    link = link_in(message, "/account/my-data")
    page = page_text(client.get(urlsplit(link).path))
    assert "Ready until" in page
    response = client.get(f"/account/my-data/{export.id}/download")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert sorted(archive.namelist()) == ["data.html", "data.json"]
    data = json.loads(archive.read("data.json"))
    assert data["format"] == "portal-data-export" and data["version"] == 1
    sections = data["sections"]
    assert list(sections) == list(my_data.SECTIONS)
    assert sections["profile"][0]["email"] == person.email
    assert "password_hash" not in sections["profile"][0]
    assert [i["title"] for i in sections["ideas"]] == ["Dark mode for reports"]
    assert [c["body"] for c in sections["comments"]] == ["Also for the dashboard."]
    assert [v["idea_id"] for v in sections["votes"]] == [idea.id, other_idea.id]
    assert sections["api_keys"][0]["name"] == "Weekly script"
    assert "token_hash" not in sections["api_keys"][0]
    assert token not in archive.read("data.json").decode()
    assert sections["saved_filters"][0]["query"] == "owner=me"
    assert sections["sessions"][0]["user_agent"] == "pytest"
    assert "key_hash" not in sections["sessions"][0]
    assert "totp_secret" not in sections["profile"][0]
    assert [i["provider"] for i in sections["linked_sign_ins"]] == ["corp"]
    assert any(e["action"] == "account.data_export_requested" for e in sections["audit_entries"])
    html = archive.read("data.html").decode()
    assert "Dark mode for reports" in html
    assert "Single sign-on identities" in html and "JBSWY3DPEHPK3PXP" not in html
    assert "Priya &lt;b&gt;Patel&lt;/b&gt;" in html  # escaped
    assert "http://" not in html and "https://" not in html  # nothing to fetch

    # Anyone else, admins included, gets 404.
    other = app.test_client()
    sign_in_client(other, make_user("admin"))
    assert other.get(f"/account/my-data/{export.id}/download").status_code == 404
    assert app.test_client().get(f"/account/my-data/{export.id}/download").status_code == 302


def test_one_at_a_time_and_a_few_a_day(app, client, login_as):
    person = login_as()
    waiting = DataExport(user_id=person.id)
    db.session.add(waiting)
    db.session.commit()
    assert "Being prepared" in page_text(client.get("/account/my-data"))
    client.post("/account/my-data")
    assert "being prepared" in page_text(client.get("/account/my-data"))
    assert db.session.query(DataExport).count() == 1
    my_data.prepare(waiting.id)
    for _ in range(my_data.PER_DAY - 1):
        _ask(client)
    client.post("/account/my-data")
    assert f"{my_data.PER_DAY} times a day" in page_text(client.get("/account/my-data"))
    assert db.session.query(DataExport).count() == my_data.PER_DAY


def test_an_expired_copy_cannot_be_downloaded_and_its_archive_is_purged(
    app, client, login_as, runner
):
    login_as()
    _ask(client)
    delivery.deliver_due()
    export = db.session.scalars(select(DataExport)).one()
    export.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get(f"/account/my-data/{export.id}/download").status_code == 404
    assert "Expired" in page_text(client.get("/account/my-data"))
    result = runner.invoke(args=["sessions", "purge"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get_one(DataExport, export.id).archive is None


def test_outbox_send_prepares_waiting_copies(app, login_as, runner):
    db.session.add(DataExport(user_id=login_as().id))
    db.session.commit()
    result = runner.invoke(args=["outbox", "send"])
    assert "prepared 1 data export(s)" in result.output
