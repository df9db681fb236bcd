"""Markdown to safe HTML: no raw HTML from the source, then sanitised with nh3."""

from __future__ import annotations

import functools

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

from portal.services.text import without_control_characters

# "js-default" turns off raw HTML and validates link targets (no javascript: or data: URLs).
_md = (
    MarkdownIt("js-default", {"linkify": False, "typographer": False})
    .enable("table")
    .enable("strikethrough")
)

_TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul", "s",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}, "ol": {"start"}}


@functools.lru_cache(maxsize=4096)
def render_markdown(text: str | None) -> Markup:
    """Safe HTML for a Markdown text; remembered, since the same texts are shown again and again
    (a function of the text alone, so it is never stale)."""
    html = _md.render(text or "")
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow ugc noopener",
    )
    return Markup(clean)  # noqa: S704 - sanitised by nh3 just above


def plain_excerpt(text: str | None, length: int = 180) -> str:
    """The first words of a Markdown text as plain text, for lists and feeds."""
    plain = " ".join(render_markdown(text).striptags().split())
    if len(plain) <= length:
        return plain
    return plain[:length].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


def xml_safe(value: object) -> str:
    """Feed text without the control characters XML forbids (older rows may hold some)."""
    cleaned = without_control_characters(str(value))
    return Markup(cleaned) if isinstance(value, Markup) else cleaned  # noqa: S704 - was Markup
