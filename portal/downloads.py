"""Files the portal hands out for download, such as CSV exports."""

from __future__ import annotations

from flask import Response


def csv_download(body: str, filename: str) -> Response:
    """A CSV file to save as `filename` (a plain ASCII name chosen by the code).

    Exports hold what only the team or an admin may read, so no cache keeps a copy: not a
    shared one (private), and not the browser's either (no-store), as for the pages.
    """
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
