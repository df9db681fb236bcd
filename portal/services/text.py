"""Cleaning text people type: control characters have no place in ideas or comments, and names
and titles hold only what a reader can see."""

from __future__ import annotations

import re
import unicodedata

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


def clean_line(text: str | None) -> str:
    """A name or title as it is stored: in NFKC form (fullwidth and other compatibility forms
    become plain letters), without control, invisible or bidirectional characters, and with its
    spaces collapsed to single ones. Every one-line name and title people type goes through it.
    """
    text = unicodedata.normalize("NFKC", without_control_characters(text or ""))
    return " ".join(_INVISIBLE.sub("", text).split())


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
    line = clean_line(text)
    split = "".join(
        f" {c}" if i and line[i - 1].islower() and c.isupper() else c for i, c in enumerate(line)
    )
    text = unicodedata.normalize("NFKD", split.casefold().translate(_LOOKALIKES))
    return "".join(c for c in text if not unicodedata.combining(c))
