"""Cleaning text people type: control characters have no place in ideas or comments."""

from __future__ import annotations

import re

# C0 controls except tab, newline and carriage return, plus DEL: invisible, and forbidden in
# XML, so one stray escape character would break every feed that quotes the text.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def without_control_characters(text: str) -> str:
    return _CONTROL.sub("", text)
