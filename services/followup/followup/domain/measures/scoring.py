"""Scoring of PHQ-9 and GAD-7: totals, published severity bands and the PHQ-9 item-9 rule.

Both instruments answer each item 0-3 ("not at all" … "nearly every day"); the total is the sum.
Bands as published by their authors (Kroenke, Spitzer & Williams 2001 for PHQ-9; Spitzer et al.
2006 for GAD-7): PHQ-9 0-4 minimal, 5-9 mild, 10-14 moderate, 15-19 moderately severe, 20-27
severe; GAD-7 0-4 minimal, 5-9 mild, 10-14 moderate, 15-21 severe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from counseling_shared.codes import Instrument, MeasureBand, RiskLevel

ITEM_MIN, ITEM_MAX = 0, 3

ITEM_COUNT: dict[Instrument, int] = {Instrument.PHQ9: 9, Instrument.GAD7: 7}

# (lowest score of the band, band), in ascending order.
BANDS: dict[Instrument, tuple[tuple[int, MeasureBand], ...]] = {
    Instrument.PHQ9: (
        (0, MeasureBand.MINIMAL),
        (5, MeasureBand.MILD),
        (10, MeasureBand.MODERATE),
        (15, MeasureBand.MODERATELY_SEVERE),
        (20, MeasureBand.SEVERE),
    ),
    Instrument.GAD7: (
        (0, MeasureBand.MINIMAL),
        (5, MeasureBand.MILD),
        (10, MeasureBand.MODERATE),
        (15, MeasureBand.SEVERE),
    ),
}

SELF_HARM_ITEM = 9
"""PHQ-9 item 9 (1-based): thoughts of being better off dead or of hurting oneself."""


class InvalidAnswers(ValueError):
    """Answers that do not fit the instrument (count or range). `item` is 1-based, or None."""

    def __init__(self, instrument: Instrument, message: str, item: int | None = None) -> None:
        super().__init__(f"{instrument.value}: {message}")
        self.instrument = instrument
        self.item = item


@dataclass(frozen=True)
class Score:
    instrument: Instrument
    total: int
    band: MeasureBand

    @property
    def max_total(self) -> int:
        return max_score(self.instrument)


@dataclass(frozen=True)
class RecordedScore:
    """A score as kept for a client's progress: which follow-up asked it, and when."""

    followup_id: UUID
    instrument: Instrument
    total: int
    band: MeasureBand
    recorded_at: datetime


def max_score(instrument: Instrument) -> int:
    return ITEM_COUNT[instrument] * ITEM_MAX


def band_of(instrument: Instrument, total: int) -> MeasureBand:
    if not 0 <= total <= max_score(instrument):
        raise InvalidAnswers(instrument, f"a total of {total} is outside 0-{max_score(instrument)}")
    found = BANDS[instrument][0][1]
    for lowest, band in BANDS[instrument]:
        if total >= lowest:
            found = band
    return found


def validate(instrument: Instrument, answers: Sequence[int]) -> tuple[int, ...]:
    """The answers as a tuple; raises `InvalidAnswers` unless every item is answered 0-3."""
    if len(answers) != ITEM_COUNT[instrument]:
        raise InvalidAnswers(
            instrument, f"{ITEM_COUNT[instrument]} answers are needed, got {len(answers)}"
        )
    for item, value in enumerate(answers, start=1):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidAnswers(instrument, f"item {item} is not a whole number", item)
        if not ITEM_MIN <= value <= ITEM_MAX:
            raise InvalidAnswers(instrument, f"item {item} must be 0-3, got {value}", item)
    return tuple(answers)


def score(instrument: Instrument, answers: Sequence[int]) -> Score:
    total = sum(validate(instrument, answers))
    return Score(instrument, total, band_of(instrument, total))


def self_harm_risk(phq9_answers: Sequence[int]) -> RiskLevel | None:
    """The contract's crisis rule: PHQ-9 item 9 answered 1 is `moderate`, 2 or 3 `high`;
    0 raises nothing."""
    item9 = validate(Instrument.PHQ9, phq9_answers)[SELF_HARM_ITEM - 1]
    if item9 == 0:
        return None
    return RiskLevel.MODERATE if item9 == 1 else RiskLevel.HIGH
