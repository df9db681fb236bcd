"""The benchmark's baseline: a bare Flask app that returns a fixed page.

Served by the same gunicorn settings as the portal, it measures what the server, the load
generator and the machine cost on their own, so the portal's pages can be read as a share of it.
The page is about as large as the portal's home page, so both move the same bytes.
"""

from flask import Flask

app = Flask(__name__)

PAGE = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Baseline</title></head><body>"
    + "<p>A fixed page for the benchmark's baseline.</p>" * 500
    + "</body></html>"
)


@app.get("/")
def page() -> str:
    return PAGE
