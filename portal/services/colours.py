"""Stage colours: a colour admins choose is kept only if text on it reads (WCAG contrast)."""

from __future__ import annotations

import re

from portal.services.errors import InvalidInput

# The two text colours a badge may carry: the themes' dark text and white. A stage's badge has
# the stage colour behind it in the light and the dark theme alike, so one check covers both.
DARK_TEXT = "#1b1f24"
LIGHT_TEXT = "#ffffff"
MIN_CONTRAST = 4.5  # WCAG 2 AA for normal text
_HEX = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")


def normalise(value: str) -> str:
    """'#ABC', 'abc' or '#aabbcc' as '#aabbcc'; InvalidInput for anything else."""
    match = _HEX.fullmatch((value or "").strip())
    if match is None:
        raise InvalidInput(
            "Write the colour as a hex code such as #bfdbfe, or leave it empty.", field="colour"
        )
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return "#" + digits


def luminance(colour: str) -> float:
    """WCAG relative luminance of a '#rrggbb' colour."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_on(colour: str) -> str:
    """The text colour that reads best on `colour`."""
    return DARK_TEXT if contrast(colour, DARK_TEXT) >= contrast(colour, LIGHT_TEXT) else LIGHT_TEXT


def checked_stage_colour(value: str | None) -> str | None:
    """A stage colour as stored: normalised, or None for the plain badge; InvalidInput when
    neither dark nor white text on it reaches 4.5:1."""
    if not (value or "").strip():
        return None
    colour = normalise(value or "")
    best = contrast(colour, text_on(colour))
    if best < MIN_CONTRAST:
        raise InvalidInput(
            f"Text on {colour} would be hard to read (contrast {best:.1f}:1; it needs "
            f"{MIN_CONTRAST}:1). Choose a lighter or a darker shade.",
            field="colour",
        )
    return colour
