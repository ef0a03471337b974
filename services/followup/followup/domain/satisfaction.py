"""Satisfaction ratings summarised per site and per counselor (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

RATINGS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class RatingSummary:
    count: int
    mean: float | None  # None when nobody answered
    distribution: dict[int, int]  # every rating 1-5, zeros included


@dataclass(frozen=True)
class SatisfactionSummary:
    overall: RatingSummary
    per_counselor: dict[UUID | None, RatingSummary]  # None: sessions without a known counselor


def summarise_ratings(ratings: Iterable[int]) -> RatingSummary:
    distribution = dict.fromkeys(RATINGS, 0)
    for rating in ratings:
        if rating not in distribution:
            raise ValueError(f"a rating is 1-5, got {rating}")
        distribution[rating] += 1
    count = sum(distribution.values())
    total = sum(r * n for r, n in distribution.items())
    return RatingSummary(count, round(total / count, 2) if count else None, distribution)


def summarise(answers: Iterable[tuple[UUID | None, int]]) -> SatisfactionSummary:
    by_counselor: dict[UUID | None, list[int]] = {}
    every: list[int] = []
    for counselor_id, rating in answers:
        by_counselor.setdefault(counselor_id, []).append(rating)
        every.append(rating)
    return SatisfactionSummary(
        summarise_ratings(every),
        {c: summarise_ratings(r) for c, r in by_counselor.items()},
    )
