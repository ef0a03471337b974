"""A client's answer to a check-in form, and what follows from it (pure).

`assess` turns the answers into what the application publishes: the scores, the risk level the
PHQ-9 item-9 rule raises, and whether the client asked to be contacted. The free-text comment
is kept with the answers in followup's database and never leaves it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from counseling_shared.codes import Instrument, RiskLevel
from followup.domain.measures.scoring import Score, score, self_harm_risk, validate

WELLBEING_MIN, WELLBEING_MAX = 1, 5
COMMENT_MAX = 2000


class InvalidCheckinAnswer(ValueError):
    """An answer the form cannot accept. `field` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class CheckinAnswers:
    wellbeing: int | None  # "how are you", 1 (very bad) - 5 (very good); None: a rating form
    wants_contact: bool
    measures: Mapping[Instrument, tuple[int, ...]] = field(default_factory=dict)
    comment: str | None = None  # the client's words: followup's database only


@dataclass(frozen=True)
class Assessment:
    scores: tuple[Score, ...]
    risk_level: RiskLevel | None
    wants_contact: bool


def checkin_answers(
    wellbeing: int,
    wants_contact: bool,
    measures: Mapping[Instrument, Sequence[int]],
    asked: Sequence[Instrument],
    comment: str | None = None,
) -> CheckinAnswers:
    """Validated answers: every instrument asked is answered in full, and nothing else."""
    if not WELLBEING_MIN <= wellbeing <= WELLBEING_MAX:
        raise InvalidCheckinAnswer("wellbeing", f"must be {WELLBEING_MIN}-{WELLBEING_MAX}")
    unexpected = set(measures) - set(asked)
    if unexpected:
        name = sorted(unexpected)[0].value
        raise InvalidCheckinAnswer(name, "this form does not ask it")
    checked: dict[Instrument, tuple[int, ...]] = {}
    for instrument in asked:
        if instrument not in measures:
            raise InvalidCheckinAnswer(instrument.value, "every item needs an answer")
        try:
            checked[instrument] = validate(instrument, measures[instrument])
        except ValueError as exc:
            raise InvalidCheckinAnswer(instrument.value, str(exc)) from None
    text = (comment or "").strip() or None
    if text is not None and len(text) > COMMENT_MAX:
        raise InvalidCheckinAnswer("comment", f"at most {COMMENT_MAX} characters")
    return CheckinAnswers(wellbeing, wants_contact, checked, text)


def satisfaction_answer(rating: int, comment: str | None = None) -> CheckinAnswers:
    """A rating form's answer: 1 (very dissatisfied) - 5 (very satisfied), and a comment."""
    if not WELLBEING_MIN <= rating <= WELLBEING_MAX:
        raise InvalidCheckinAnswer("satisfaction", f"must be {WELLBEING_MIN}-{WELLBEING_MAX}")
    text = (comment or "").strip() or None
    if text is not None and len(text) > COMMENT_MAX:
        raise InvalidCheckinAnswer("comment", f"at most {COMMENT_MAX} characters")
    return CheckinAnswers(None, False, {}, text)


def assess(answers: CheckinAnswers) -> Assessment:
    scores = tuple(score(i, a) for i, a in sorted(answers.measures.items()))
    phq9 = answers.measures.get(Instrument.PHQ9)
    risk = self_harm_risk(phq9) if phq9 is not None else None
    return Assessment(scores, risk, answers.wants_contact)
