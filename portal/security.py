"""HTTP response headers that make every page harder to attack."""

from __future__ import annotations

from flask import Response, current_app, g

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


# Every response's headers, unless the response set its own. Pages, exports and JSON answers
# can hold a signed-in person's data, so no cache may keep them unless they say otherwise
# themselves: the pages and feeds portal/cache.py keeps (revalidated, per cookie, private when
# signed in) and static files (send_file) set their own Cache-Control.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
    ("Cache-Control", "no-store"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def allow_form_action(origins: list[str]) -> None:
    """This page's forms may lead to these origins too (a single sign-on button POSTs here and
    is redirected to the provider; browsers check form-action on that redirect)."""
    g.form_action_origins = sorted({*g.get("form_action_origins", ()), *origins})


def apply_security_headers(response: Response) -> Response:
    """Add each header the response lacks, with one pass over the headers it has.

    (Werkzeug's setdefault looks through every header of the response for each name.) HTTPS
    is read at each request: under `flask run` the address is learnt from the first one.
    """
    headers = response.headers
    present = {name.lower() for name, _value in headers.items()}
    wanted = SECURITY_HEADERS
    extra = g.get("form_action_origins") if "content-security-policy" not in present else None
    if extra:
        policy = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'", "form-action 'self' " + " ".join(extra)
        )
        headers["Content-Security-Policy"] = policy
        present.add("content-security-policy")
    if current_app.config["BASE_URL"].startswith("https://"):
        wanted = (*SECURITY_HEADERS, HSTS)
    headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
    return response
