"""Marking matched words in search results: safe HTML from the database's marked-up copy.

The database marks matches between two private-use characters; the text around them is
escaped here, and only then do the markers become <mark>, so user text never becomes markup.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# Private-use characters that delimit matches in the database's highlighted text; they are
# turned into <mark> only after the text around them has been escaped.
MARK_START = "\ue000"
MARK_END = "\ue001"

EXCERPT_CHARS = 200
EXCERPT_LEAD_CHARS = 60


def _spans(marked: str | None, original: str) -> list[tuple[int, int]]:
    """Where the matches are in `original`, read from the database's marked-up copy.

    If the marked copy is not exactly `original` plus markers (say the text itself held a
    marker character), nothing is marked rather than something wrong.
    """
    if not marked:
        return []
    spans: list[tuple[int, int]] = []
    plain: list[str] = []
    length = 0
    start = None
    for piece in re.split(f"([{MARK_START}{MARK_END}])", marked):
        if piece == MARK_START and start is None:
            start = length
        elif piece == MARK_END and start is not None:
            if length > start:
                spans.append((start, length))
            start = None
        else:
            plain.append(piece)
            length += len(piece)
    if start is not None or "".join(plain) != original:
        return []
    return spans


def _render(
    text: str, spans: list[tuple[int, int]], begin: int = 0, end: int | None = None
) -> Markup:
    end = len(text) if end is None else end
    out = Markup()
    position = begin
    for start, stop in spans:
        start, stop = max(start, begin), min(stop, end)
        if start >= stop:
            continue
        out += escape(text[position:start]) + Markup("<mark>") + escape(text[start:stop])
        out += Markup("</mark>")
        position = stop
    return out + escape(text[position:end])


def render_marked(marked: str | None, original: str) -> Markup:
    return _render(original, _spans(marked, original))


def excerpt(
    marked_problem: str | None, problem: str, marked_solution: str | None, solution: str
) -> Markup:
    """A short piece of the problem or solution around the first match, matches marked."""
    text, spans = problem, _spans(marked_problem, problem)
    if not spans:
        solution_spans = _spans(marked_solution, solution)
        if solution_spans:
            text, spans = solution, solution_spans
    # Runs of whitespace (paragraphs, indents) read as one space in a one-line excerpt.
    text, spans = _collapse_whitespace(text, spans)
    if len(text) <= EXCERPT_CHARS:
        return _render(text, spans)

    begin = 0
    if spans and spans[0][0] > EXCERPT_LEAD_CHARS:
        begin = spans[0][0] - EXCERPT_LEAD_CHARS
        space = text.find(" ", begin, spans[0][0])
        begin = space + 1 if space != -1 else begin
    end = min(len(text), begin + EXCERPT_CHARS)
    if end < len(text):
        space = text.rfind(" ", begin, end)
        end = space if space > begin else end
        # Never cut a marked word in two.
        for start, stop in spans:
            if start < end < stop:
                end = stop
    out = _render(text, spans, begin, end)
    if begin > 0:
        out = Markup("…") + out
    if end < len(text):
        out += Markup("…")
    return out


def _collapse_whitespace(
    text: str, spans: list[tuple[int, int]]
) -> tuple[str, list[tuple[int, int]]]:
    # Map each kept character's old offset to its new one, then move the spans across.
    kept: list[str] = []
    new_offset = [0] * (len(text) + 1)
    previous_space = True  # also drops leading whitespace
    for i, char in enumerate(text):
        new_offset[i] = len(kept)
        if char.isspace():
            if not previous_space:
                kept.append(" ")
            previous_space = True
        else:
            kept.append(char)
            previous_space = False
    new_offset[len(text)] = len(kept)
    collapsed = "".join(kept).rstrip()
    return collapsed, [
        (new_offset[start], min(new_offset[stop], len(collapsed))) for start, stop in spans
    ]
