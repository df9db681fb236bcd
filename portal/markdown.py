"""Markdown to safe HTML: cmark-gfm, in time linear in the text, with raw HTML shown as text;
then sanitised with nh3."""

from __future__ import annotations

import functools
import re

import nh3
from markupsafe import Markup

from portal import cmark

# What people may write: CommonMark, plus GitHub's tables and ~~strikethrough~~ (one tilde stays
# a tilde). No autolinking of bare addresses, no typographic quotes, no raw HTML.
_OPTIONS = cmark.OPT_DEFAULT | cmark.OPT_STRIKETHROUGH_DOUBLE_TILDE
_TABLES, _STRIKETHROUGH = cmark.extension("table"), cmark.extension("strikethrough")
_URL_SCHEMES = {"http", "https", "mailto"}
_SCHEME = re.compile(rb"[\x00-\x20]*([a-z][a-z0-9+.\-]*):", re.IGNORECASE)

# Block quotes and lists nested deeper than this become plain paragraphs of their words: no one
# writes them on purpose, and an HTML parser (nh3's among them) takes time growing with the
# square of the depth.
_NESTING_MAX = 16
_BLOCK_CONTAINERS = frozenset({cmark.BLOCK_QUOTE, cmark.LIST, cmark.ITEM})
# A table row shorter than its header gets empty cells to fill it: a wide header above many
# one-character lines would be megabytes of HTML. Beyond this many, tables stay text.
_TABLE_FILLER_MAX = 5_000


def _extensions(text: str) -> tuple[int, ...]:
    if _table_filler(text) > _TABLE_FILLER_MAX:
        return (_STRIKETHROUGH,)
    return (_TABLES, _STRIKETHROUGH)


def _table_filler(text: str) -> int:
    """At most how many empty cells tables would add to the text's short rows (an overestimate:
    every line after a delimiter row, up to a blank line, counts as a row of the table)."""
    filler = columns = 0
    for line in text.splitlines():
        if not line.strip():
            columns = 0
        elif "|" in line and "-" in line and not line.strip(" \t>|:-"):
            columns = line.count("|") + 1
        elif columns:
            filler += max(0, columns - max(1, line.count("|") - line.count("\\|") - 1))
    return filler


def _as_written(root: cmark.Node, *, inline: bool) -> None:
    """Raw HTML becomes the text it was written as, so nobody's words silently vanish; a link to
    any scheme but the web's or mail's keeps only its words; deep nesting is laid flat.

    Only block quotes and lists are looked into unless `inline`: a text with no "<" and no "]"
    has no raw HTML and no links, and its paragraphs need no visit.
    """
    html, links, too_deep = [], [], []
    first_child, next_sibling, node_type = cmark.first_child, cmark.next_sibling, cmark.node_type
    opened: list[tuple[cmark.Node, bool]] = []  # the containers we are in, and which nest
    depth, node = 0, first_child(root)
    while True:
        while node:
            kind = node_type(node)
            descend = kind not in cmark.LEAVES and (inline or kind in _BLOCK_CONTAINERS)
            nests = kind in (cmark.BLOCK_QUOTE, cmark.LIST)
            if nests and depth == _NESTING_MAX:
                too_deep.append(node)
                descend = False
            elif kind in (cmark.HTML_INLINE, cmark.HTML_BLOCK):
                html.append((node, kind))
            elif kind == cmark.LINK:
                links.append(node)
            if descend:
                opened.append((node, nests))
                depth += nests
                node = first_child(node)
            else:
                node = next_sibling(node)
        if not opened:
            break
        parent, nests = opened.pop()
        depth -= nests
        node = next_sibling(parent)
    for node, kind in html:
        if kind == cmark.HTML_INLINE:
            cmark.make_text(node)
        else:
            cmark.replace_with_paragraph(node, cmark.literal(node).rstrip(b"\n"))
    for node in links:
        if not _allowed_url(cmark.url(node)):
            cmark.unwrap(node)
    for node in too_deep:
        cmark.replace_with_paragraph(node, cmark.plain_text(node).strip())


def _allowed_url(url: bytes) -> bool:
    scheme = _SCHEME.match(url.replace(b"\t", b"").replace(b"\n", b"").replace(b"\r", b""))
    return scheme is None or scheme.group(1).decode().lower() in _URL_SCHEMES


_TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul", "s",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}, "ol": {"start"}}


@functools.lru_cache(maxsize=4096)
def render_markdown(text: str | None) -> Markup:
    """Safe HTML for a Markdown text; remembered, since the same texts are shown again and again
    (a function of the text alone, so it is never stale)."""
    text = text or ""
    html = cmark.to_html(
        text,
        options=_OPTIONS,
        extensions=_extensions(text),
        rewrite=functools.partial(_as_written, inline="<" in text or "]" in text),
    )
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="nofollow ugc noopener",
    )
    return Markup(clean)  # noqa: S704 - sanitised by nh3 just above


def plain_excerpt(text: str | None, length: int = 180) -> str:
    """The first words of a Markdown text as plain text, for lists and feeds."""
    plain = " ".join(render_markdown(text).striptags().split())
    if len(plain) <= length:
        return plain
    return plain[:length].rsplit(" ", 1)[0].rstrip(",.;:") + "…"
