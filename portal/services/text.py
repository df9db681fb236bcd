"""Cleaning text people type: control characters have no place in ideas or comments, and names
and titles hold only what a reader can see."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# C0 controls except tab, newline and carriage return, plus DEL: invisible, and forbidden in
# XML, so one stray escape character would break every feed that quotes the text.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Characters that show nothing yet change what a line seems to say: zero-width spaces and
# joiners, the soft hyphen, the combining grapheme joiner, Hangul fillers, variation selectors,
# tag characters; the bidirectional marks, embeddings, overrides and isolates that can make
# "Priya \u202eMP\u202c" read backwards; and noncharacters.
_INVISIBLE = re.compile(
    "["
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\ufdd0-\ufdef\ufff0-\ufffb\ufffe\uffff"
    "\U000e0000-\U000e007f\U000e0100-\U000e01ef"
    "]"
)


def without_control_characters(text: str) -> str:
    return _CONTROL.sub("", text)


# Joiners and variation selectors that do show: U+200C/U+200D between letters shape Persian and
# Indic words (می‌خواهم), U+200D joins emoji (👩‍💻), and a variation selector after a symbol
# picks its emoji or text form (❤️). Anywhere else they only hide things.
_JOINERS = frozenset("\u200c\u200d")
_SELECTOR = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def _shows(c: str) -> bool:
    return unicodedata.category(c)[0] in "LMNS"


def _joined(before: str, after: str) -> bool:
    """A joiner between these two shapes something: both show, and they are not both Latin
    (or Greek) letters, where it changes nothing a reader sees and only makes two names that
    look alike differ."""
    return _shows(before) and _shows(after) and max(ord(before), ord(after)) >= 0x0370


def _selectable(c: str) -> bool:
    """A variation selector after this character picks a form of it: a symbol or digit (❤️,
    keycaps) or an ideograph (CJK variants), not a letter of an alphabet."""
    return unicodedata.category(c)[0] in "SN" or (ord(c) >= 0x2E80 and _shows(c))


def _without_invisible(text: str) -> str:
    kept: list[str] = []
    for i, c in enumerate(text):
        if c in _JOINERS:
            if kept and i + 1 < len(text) and _joined(kept[-1], text[i + 1]):
                kept.append(c)
            continue
        if _SELECTOR.match(c):
            if kept and _selectable(kept[-1]):
                kept.append(c)
            continue
        if not _INVISIBLE.match(c):
            kept.append(c)
    return "".join(kept)


def clean_line(text: str | None) -> str:
    """A name or title as it is stored: in NFKC form (fullwidth and other compatibility forms
    become plain letters), without control, invisible or bidirectional characters, and with its
    spaces collapsed to single ones. Every one-line name and title people type goes through it.
    Joiners and variation selectors stay only where they shape what is shown (_JOINERS).
    """
    text = unicodedata.normalize("NFKC", without_control_characters(text or ""))
    return " ".join(_without_invisible(text).split())


def visible_length(text: str) -> int:
    """How many characters of text a reader sees: not spaces, and not combining marks alone."""
    return sum(
        1 for c in text if not c.isspace() and unicodedata.category(c) not in ("Mn", "Me", "Cf")
    )


# Letters from other scripts, and digits, that pass for Latin letters in a name (after NFKC
# and case folding), each above the letter it passes for.
_LOOKALIKES = str.maketrans(
    "авеёһіїјкмнорстухѕԁɡӏαβεηικνορτυχı013457@$|",  # noqa: RUF001
    "abeehiijkmhopctyxsdglabenikvoptuxioieastasl",
)


def skeleton(text: str) -> str:
    """What a line looks like, for comparing: NFKC, case-folded, accents dropped, letters that
    look Latin made Latin, and words run together in camel case ("AlexAdmin") split apart."""
    line = _INVISIBLE.sub("", clean_line(text))  # "Ad\u200dmin" reads as "Admin"
    split = "".join(
        f" {c}" if i and line[i - 1].islower() and c.isupper() else c for i, c in enumerate(line)
    )
    text = unicodedata.normalize("NFKD", split.casefold().translate(_LOOKALIKES))
    return "".join(c for c in text if not unicodedata.combining(c))


def and_list(items: Iterable[str], *, most: int | None = None) -> str:
    """Names as a sentence says them: "A", "A and B", "A, B and C"; past `most`, "A, B and 3
    more"."""
    names = list(items)
    if most is not None and len(names) > most:
        return ", ".join(names[:most]) + f" and {len(names) - most} more"
    if len(names) > 1:
        return ", ".join(names[:-1]) + " and " + names[-1]
    return names[0] if names else ""
