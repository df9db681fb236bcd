"""What on a kept page is one person's own, filled in on each request (portal/cache.py).

A page for someone signed in is rendered once and kept with *gaps* where it shows what is theirs
alone: their name, their unread count, their CSRF token, whether they voted for each idea shown.
Each request fills the gaps for whoever asks, from one cheap indexed query or two, so one kept
copy can serve everyone of the same role who sees the same boards (cached(shared=True)), and a
vote or a new notification never makes a person's whole page afresh.

Templates mark the gaps:
- `{{ personal("name") }}` is the person's name (kinds in VALUES);
- `{% call(yes) personal_choice("voted", idea.id, voted) %}…{% endcall %}` renders its body for
  this person's answer (`voted` when rendered directly); while a page is rendered to be kept,
  both bodies are kept and each request shows the one that is true for the person asking.

A gap is a marker with a random nonce of its render, which nothing a person types can forge;
a page rendered outside gaps() (not kept, or for a visitor) has no markers at all.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from portal.permissions import is_signed_in
from portal.services import idea_lists, inbox

_GAPS = "portal_personal_gaps"
_CSRF_FIELD = "csrf_token"  # Flask-WTF's WTF_CSRF_FIELD_NAME: generate_csrf() keeps it in g
KEPT = b"\x00gaps\n"  # a kept page with gaps starts so; no HTML page starts with NUL

# A slot: ("value", kind) or ("choice", kind, key, parts if yes, parts if no); parts alternate
# text and slot numbers.
Parts = list[Any]


@dataclass
class Gaps:
    """The gaps of one page being rendered to be kept."""

    nonce: str = field(default_factory=lambda: secrets.token_hex(12))
    slots: list[list[Any]] = field(default_factory=list)

    def marker(self, slot: list[Any]) -> Markup:
        self.slots.append(slot)
        # Safe: private-use characters, a hex nonce and a number.
        return Markup(f"\ue000{self.nonce}{len(self.slots) - 1}\ue001")  # noqa: S704

    def _split(self, text: str) -> Parts:
        pieces = re.split(f"\ue000{self.nonce}(\\d+)\ue001", text)
        return [p if i % 2 == 0 else int(p) for i, p in enumerate(pieces)]

    def kept(self, body: bytes) -> bytes:
        """The rendered page as it is kept: as it is when it has no gaps."""
        if not self.slots:
            return body
        slots = [
            [*s[:3], self._split(s[3]), self._split(s[4])] if s[0] == "choice" else s
            for s in self.slots
        ]
        return KEPT + json.dumps({"parts": self._split(body.decode()), "slots": slots}).encode()


@contextlib.contextmanager
def gaps() -> Iterator[Gaps]:
    """Render with gaps where the person's own things go (the CSRF token among them)."""
    kept = Gaps()
    setattr(g, _GAPS, kept)
    csrf_before = g.pop(_CSRF_FIELD, None)
    setattr(g, _CSRF_FIELD, str(kept.marker(["value", "csrf"])))
    try:
        yield kept
    finally:
        g.pop(_GAPS, None)
        g.pop(_CSRF_FIELD, None)
        if csrf_before is not None:
            setattr(g, _CSRF_FIELD, csrf_before)


def _rendering() -> Gaps | None:
    kept = g.get(_GAPS)
    return kept if isinstance(kept, Gaps) else None


# --- What the templates call -----------------------------------------------------------------


# How a value of one person is kept between their requests (set by portal.cache: per person,
# under the numbers of the tags whose writes change it), or computed each time.
Remember = Callable[[str, tuple[str, ...], Callable[[], Any]], Any]


def _computed(_name: str, _tags: tuple[str, ...], compute: Callable[[], Any]) -> Any:
    return compute()


remember: Remember = _computed


def _unread() -> int:
    if "portal_unread" not in g:
        g.portal_unread = (
            remember(
                f"unread:{current_user.id}",
                ("notifications",),
                lambda: inbox.unread_count(current_user),
            )
            if is_signed_in(current_user)
            else 0
        )
    return int(g.portal_unread)


def _voted(ids: list[Any]) -> set[Any]:
    every = remember(
        f"voted:{current_user.id}",
        (f"voter:{current_user.id}",),
        lambda: idea_lists.all_voted_ids(current_user),
    )
    return set(ids) & every


# A session's CSRF secret -> its token, signed once: signing anew on every request costs as much
# as the rest of filling a page in, and a token without a time limit never runs out.
_SIGNED: dict[tuple[object, str], str] = {}


def _csrf() -> str:
    config = current_app.config
    secret = session.get(_CSRF_FIELD)
    if config["WTF_CSRF_TIME_LIMIT"] is not None or not isinstance(secret, str):
        return generate_csrf()
    # Under the key it is signed with, too (another app in this process has its own).
    signed_with = (config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key, secret)
    token = _SIGNED.get(signed_with)
    if token is None:
        token = generate_csrf()
        if len(_SIGNED) >= 20_000:
            _SIGNED.clear()
        _SIGNED[signed_with] = token
    return token


VALUES: dict[str, Callable[[], object]] = {
    "csrf": _csrf,
    "name": lambda: current_user.display_name,
    "unread": _unread,
}

# Each kind of choice, for the keys a page asks about: the keys whose answer is yes.
CHOICES: dict[str, Callable[[list[Any]], set[Any]]] = {
    "voted": _voted,
    "unread": lambda keys: set(keys) if _unread() else set(),
}


def personal(kind: str) -> Markup | str:
    """This person's own value of a kind (a gap, while the page is rendered to be kept)."""
    kept = _rendering()
    if kept is not None:
        return kept.marker(["value", kind])
    return str(VALUES[kind]())


def personal_choice(
    kind: str, key: Any, direct: bool | None = None, *, caller: Callable[[bool], str]
) -> Markup:
    """The call block's body for this person's answer (both bodies, while kept). `direct` is
    the answer when the caller knows it already; otherwise it is asked for."""
    kept = _rendering()
    if kept is None:
        answer = key in CHOICES[kind]([key]) if direct is None else direct
        return Markup(caller(answer))  # noqa: S704 (a call block's body: rendered, escaped)
    return kept.marker(["choice", kind, key, str(caller(True)), str(caller(False))])


# --- Filling a kept page in ------------------------------------------------------------------


# Kept pages as read, by their bytes: a page served again and again is parsed once.
_PARSED: OrderedDict[bytes, dict[str, Any]] = OrderedDict()
_PARSED_SIZE = 64
_parsed_lock = threading.Lock()


def _parsed(stored: bytes) -> dict[str, Any]:
    with _parsed_lock:
        page = _PARSED.get(stored)
        if page is not None:
            _PARSED.move_to_end(stored)
            return page
    page = json.loads(stored[len(KEPT) :])
    with _parsed_lock:
        _PARSED[stored] = page
        while len(_PARSED) > _PARSED_SIZE:
            _PARSED.popitem(last=False)
    return page


def fill(stored: bytes) -> tuple[bytes, str]:
    """A kept page with the person asking's own things in its gaps, and what sets this person's
    copy apart, for its ETag: what filled the gaps, but the CSRF token's own session secret for
    the token (signed anew on every request, it would change the page every second)."""
    if not stored.startswith(KEPT):
        return stored, str(session.get(_CSRF_FIELD, ""))
    page = _parsed(stored)
    slots: list[list[Any]] = page["slots"]
    values: dict[str, str] = {}
    keys: dict[str, list[Any]] = {}
    for slot in slots:
        if slot[0] == "value":
            values.setdefault(slot[1], "")
        else:
            keys.setdefault(slot[1], []).append(slot[2])
    for kind in values:
        values[kind] = str(escape(VALUES[kind]()))
    answers = {kind: CHOICES[kind](wanted) for kind, wanted in keys.items()}

    def text(parts: Parts) -> Iterator[str]:
        for i, part in enumerate(parts):
            if i % 2 == 0:
                yield part
                continue
            slot = slots[part]
            if slot[0] == "value":
                yield values[slot[1]]
            else:
                yield from text(slot[3] if slot[2] in answers[slot[1]] else slot[4])

    body = "".join(text(page["parts"])).encode()
    secret = str(session.get(_CSRF_FIELD, ""))  # made by generate_csrf() if it was not there
    shown = {k: v for k, v in values.items() if k != "csrf"}
    chosen = {kind: sorted(map(str, keys)) for kind, keys in answers.items()}
    return body, json.dumps([secret, shown, chosen], sort_keys=True)
