"""Times the search service uncached on a benchmark data set: the median of a number of runs.

    PYTHONPATH=$PWD .venv/bin/python bench/search_timing.py \
        --database-url sqlite:///$PWD/instance/bench/portal-100000.sqlite3 \
        --manifest instance/bench/manifest.json --words export,zapier

Each run is one search as the search page makes it (20 a page, in a request of its own, so
the boards are read afresh as on the site), for a visitor and for signed-in customers inside
and outside the private board's organisation. With --whole-page it also times the whole page
through the app with the cache off.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from sqlalchemy import select


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--manifest", required=True, type=Path)
    parser.add_argument("--words", default="export")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--page", type=int, default=1, help="result page to fetch")
    parser.add_argument("--whole-page", action="store_true", help="also time the page itself")
    args = parser.parse_args()

    from portal import create_app
    from portal.extensions import db
    from portal.models import User
    from portal.services import sessions as signed_in
    from portal.services.search import search_ideas

    manifest = json.loads(args.manifest.read_text())
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": args.database_url, "CACHE_ENABLED": False, "REQUEST_LOG": "off"}
    )
    people = {
        "member": manifest["private_board"]["members"][0]["email"],
        "outsider": manifest["private_board"]["outsiders"][0]["email"],
    }
    ids, keys = {}, {}
    with app.app_context():
        for label, email in people.items():
            ids[label] = db.session.scalar(select(User.id).where(User.email == email))
            keys[label] = signed_in.start_session(
                db.session.get(User, ids[label]), remember=False, ip=None, user_agent="timing"
            )
        db.session.commit()

    for word in args.words.split(","):
        for label in ("visitor", "member", "outsider"):
            times = []
            total = 0
            for _ in range(args.runs + 2):
                with app.test_request_context():
                    viewer = db.session.get(User, ids[label]) if label in ids else None
                    started = time.perf_counter()
                    page = search_ideas(word, viewer=viewer, limit=20, offset=(args.page - 1) * 20)
                    times.append(time.perf_counter() - started)
                    total = page.total
                    db.session.remove()
            median = statistics.median(times[2:]) * 1000
            print(f"{word:<14} {label:<9} total={total:<7} service median {median:7.2f} ms")
            if args.whole_page:
                client = app.test_client()
                if label in keys:
                    with client.session_transaction() as session:
                        session["_user_id"] = keys[label]
                path = f"/search?q={word}&page={args.page}"
                times = []
                for _ in range(args.runs + 2):
                    started = time.perf_counter()
                    assert client.get(path).status_code == 200
                    times.append(time.perf_counter() - started)
                median = statistics.median(times[2:]) * 1000
                print(f"{'':<14} {label:<9} {'':<13} whole page median {median:7.2f} ms")


if __name__ == "__main__":
    main()
