"""The trending score: recent votes and comments, weighted, decaying with age.

    trending_score = sum over events e of  weight(e) * 2 ** ((time(e) - EPOCH) / HALF_LIFE)

Weights: posting the idea 3, a vote 1, a comment 2. Because every event's weight grows with
the time it happens, an event loses half its pull relative to new ones every HALF_LIFE (five
days), which is the same order as decaying every event by 2 ** (-age / HALF_LIFE) at read time,
but costs one `score = score + w` in SQL per event instead of recomputing all ideas per request.
A withdrawn vote subtracts exactly what it added (from the time it was cast).

The exponent grows by 73 a year; doubles hold up to 2 ** 1023, so the scores stay exact to the
sort for more than a decade after EPOCH.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
HALF_LIFE = timedelta(days=5)

IDEA_WEIGHT = 3.0
VOTE_WEIGHT = 1.0
COMMENT_WEIGHT = 2.0


def weight_at(weight: float, when: datetime) -> float:
    return weight * 2.0 ** ((when - EPOCH) / HALF_LIFE)
