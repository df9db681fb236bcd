"""Checks on the whole pipeline: no stage traps an idea, none is out of reach.

Pure functions over the stages and the moves between them, so the admin pages, the service that
saves a stage and the tests all judge a pipeline the same way. Merged is left out of both rules:
ideas reach it by merging (its own action, from any open stage), never by a move, and a merge
needs a duplicate, so it is no way out for an idea in an open stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from portal.models import NEW_SLUG, Stage

# How many stages a message suggests, so that it stays a sentence and not a list.
SUGGESTED = 3


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the pipeline, said the way the admin should read it."""

    kind: str  # "trap" (an open stage with no way to close) or "unreachable"
    stage_id: int
    stage_name: str
    message: str


def _quoted(names: list[str]) -> str:
    """“A”, “B” or “C”: a short list of stage names for a sentence."""
    quoted = [f"“{n}”" for n in names]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _reachable(start: Iterable[int], moves: Mapping[int, set[int]]) -> set[int]:
    seen = set(start)
    todo = list(seen)
    while todo:
        for nxt in moves.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def problems(stages: list[Stage], transitions: Mapping[int, set[int]]) -> list[Problem]:
    """What is wrong with this pipeline, in pipeline order: traps first, then unreachable stages.

    Only stages in use count (retired ones are out of the pipeline), and only moves between them.
    """
    live = [s for s in stages if not s.retired]
    by_id = {s.id: s for s in live}
    movable = {s.id for s in live if not s.is_merged_stage}
    moves = {
        s.id: {t for t in transitions.get(s.id, set()) if t in movable and t != s.id}
        for s in live
        if not s.is_merged_stage
    }
    backwards: dict[int, set[int]] = {}
    for from_id, to_ids in moves.items():
        for to_id in to_ids:
            backwards.setdefault(to_id, set()).add(from_id)
    closed = [s.id for s in live if s.is_closed and not s.is_merged_stage]
    can_close = _reachable(closed, backwards)
    found: list[Problem] = []
    for stage in live:
        if stage.is_closed or stage.is_merged_stage or stage.id in can_close:
            continue
        closed_names = [by_id[i].name for i in closed]
        advice = (
            f"allow a move from it to {_quoted(closed_names[:SUGGESTED])}, "
            "or to a stage that leads there."
            if closed_names
            else "add a closed stage (such as Shipped or Declined) and allow a move to it."
        )
        found.append(
            Problem(
                "trap",
                stage.id,
                stage.name,
                f"Ideas in “{stage.name}” could never close: {advice}",
            )
        )
    start = next((s for s in live if s.slug == NEW_SLUG), None)
    if start is None:
        return found
    reached = _reachable([start.id], moves)
    for stage in live:
        if stage.id in reached or stage.is_merged_stage:
            continue
        sources = [s.name for s in live if s.id in reached and not s.is_closed]
        found.append(
            Problem(
                "unreachable",
                stage.id,
                stage.name,
                f"No idea can ever reach “{stage.name}”: nothing leads to it from "
                f"“{start.name}”. Allow a move into it from "
                f"{_quoted(sources[:SUGGESTED]) or 'an open stage'}.",
            )
        )
    return found


def new_traps(before: list[Problem], after: list[Problem]) -> list[Problem]:
    """The traps a change would create: refused, because ideas in them would lose their way out
    while their followers are still promised an answer. Traps that were there already are left
    to the admin to mend one step at a time (the stages page lists them)."""
    old = {p.stage_id for p in before if p.kind == "trap"}
    return [p for p in after if p.kind == "trap" and p.stage_id not in old]
