"""SQL statements and in-process time per request for the main pages.

A quick check, not the load benchmark (that is `make bench`, issue 8): run it against a
database with demo data to see what each page costs.

    DATABASE_URL=sqlite:///instance/portal.sqlite3 .venv/bin/python bench/page_costs.py
"""

from __future__ import annotations

import time

from sqlalchemy import event

from portal import create_app
from portal.extensions import db

PATHS = ["/", "/?sort=top", "/ideas/1", "/search?q=export", "/feeds/ideas.atom"]
ROUNDS = 50


def main() -> None:
    app = create_app()
    statements = [0]
    with app.app_context():
        event.listen(
            db.engine,
            "before_cursor_execute",
            lambda *_args: statements.__setitem__(0, statements[0] + 1),
        )
    client = app.test_client()
    print(f"{'path':24} {'SQL':>4} {'ms/request':>11}")
    for path in PATHS:
        statements[0] = 0
        client.get(path)
        count = statements[0]
        start = time.perf_counter()
        for _ in range(ROUNDS):
            client.get(path)
        elapsed = (time.perf_counter() - start) / ROUNDS * 1000
        print(f"{path:24} {count:>4} {elapsed:>11.1f}")


if __name__ == "__main__":
    main()
