"""What the portal hands out besides pages, CSV exports first, is kept by no cache.

The exports hold what only the team or an admin may read (the triage queue, the priorities,
the audit log). Pages said no-store and the exports said nothing, so a browser or a proxy
could keep them.
"""

from __future__ import annotations

import pytest

EXPORTS = [
    pytest.param("/team/triage.csv", "product_manager", "triage-queue.csv", id="triage-queue"),
    pytest.param("/team/priority.csv", "product_manager", "priority.csv", id="priority"),
    pytest.param("/admin/audit.csv", "admin", "audit-log.csv", id="audit-log"),
]


@pytest.mark.parametrize(("path", "role", "filename"), EXPORTS)
def test_a_csv_export_is_a_private_download_no_cache_keeps(
    client, login_as, stages, make_idea, path, role, filename
):
    make_idea()
    login_as(role)

    response = client.get(path)

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{filename}"'
    directives = {d.strip() for d in response.headers["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= directives
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_json_answer_is_kept_by_no_cache(client, login_as, make_idea):
    # The vote button's answer says whether this person voted: no cache may keep it either.
    idea = make_idea()
    login_as("customer")

    response = client.post(
        f"/ideas/{idea.id}/vote", data={"action": "vote"}, headers={"Accept": "application/json"}
    )

    assert response.status_code == 200
    assert response.is_json and response.json["voted"] is True
    assert response.headers["Cache-Control"] == "no-store"


def test_static_files_and_kept_pages_still_say_how_to_cache_them(client, make_idea):
    make_idea()
    with client.get("/static/css/portal.css") as stylesheet:
        assert "no-store" not in stylesheet.headers["Cache-Control"]
    assert client.get("/").headers["Cache-Control"] == "no-cache"
