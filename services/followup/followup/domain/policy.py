"""A site's follow-up policy: when check-ins, outreach and post-closure calls fall due."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from counseling_shared.codes import FollowUpKind, Instrument, MeasureBand
from followup.domain.durations import CalendarDuration, parse_duration
from followup.domain.measures.scoring import BANDS

ASKING_KINDS = frozenset(
    {
        FollowUpKind.CHECKIN,
        FollowUpKind.NO_SHOW_OUTREACH,
        FollowUpKind.POST_CLOSURE,
        FollowUpKind.SATISFACTION,
    }
)
"""Follow-up kinds whose `FollowUpDue` carries a link to the client's answer form."""

# Bands a site may choose as the lowest that emails the counselor (`notify_counselor_from_band`),
# in order of severity; below `moderate` a score is not a probable disorder, so not offered.
REVIEW_BANDS = (MeasureBand.MODERATE, MeasureBand.MODERATELY_SEVERE, MeasureBand.SEVERE)
_SEVERITY = {band: rank for rank, band in enumerate(MeasureBand)}


def review_bands_of(instrument: Instrument) -> tuple[MeasureBand, ...]:
    """The bands a site may choose for one instrument in `review_bands`: its own published
    bands from `moderate` up (GAD-7 has no `moderately_severe`, so it is not offered there)."""
    own = (band for _, band in BANDS[instrument])
    return tuple(band for band in own if _SEVERITY[band] >= _SEVERITY[MeasureBand.MODERATE])


class InvalidPolicy(ValueError):
    """A policy field that is not a positive ISO 8601 duration. `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _d(text: str) -> CalendarDuration:
    return parse_duration(text)


@dataclass(frozen=True)
class FollowUpPolicy:
    """Durations a site tunes (contract defaults); tests shrink them to seconds."""

    first_checkin_after: CalendarDuration = field(default_factory=lambda: _d("P7D"))
    short_term_every: CalendarDuration = field(default_factory=lambda: _d("P7D"))
    long_term_every: CalendarDuration = field(default_factory=lambda: _d("P1M"))
    no_show_outreach_after: CalendarDuration = field(default_factory=lambda: _d("PT24H"))
    post_closure_checkins: tuple[CalendarDuration, ...] = field(
        default_factory=lambda: (_d("P14D"), _d("P1M"), _d("P3M"))
    )
    # Contact regularity (elapsed time): see domain/regularity.py.
    max_contact_gap: CalendarDuration = field(default_factory=lambda: _d("P10D"))
    negative_contact_cooloff: CalendarDuration = field(default_factory=lambda: _d("P14D"))
    # Which instruments the answer form of each kind asks (contract v2 `measures`).
    measures: Mapping[FollowUpKind, tuple[Instrument, ...]] = field(default_factory=dict)
    # The center's emergency line, shown on the answer form (not a client detail).
    emergency_line: str | None = None
    # A rating request this long after each completed session (None: no survey).
    satisfaction_survey_after: CalendarDuration | None = None
    # Reminders this long before each booked appointment.
    appointment_reminders: tuple[CalendarDuration, ...] = field(
        default_factory=lambda: (_d("P1D"), _d("PT2H"))
    )
    # The lowest band of a check-in score that emails the client's counselor (None: never).
    # The default keeps what every site had before the field: moderate (a total of 10) and up.
    notify_counselor_from_band: MeasureBand | None = MeasureBand.MODERATE
    # Per instrument, the same floor (None: never); an instrument absent here takes
    # `notify_counselor_from_band`. Each band is one of that instrument's own.
    review_bands: Mapping[Instrument, MeasureBand | None] = field(default_factory=dict)

    def instruments_for(self, kind: FollowUpKind) -> tuple[Instrument, ...]:
        return tuple(self.measures.get(kind, ()))

    def review_floor(self, instrument: Instrument | None) -> MeasureBand | None:
        """The lowest band of `instrument` that is emailed to the counselor (None: never)."""
        if instrument is not None and instrument in self.review_bands:
            return self.review_bands[instrument]
        return self.notify_counselor_from_band

    def counselor_reviews(self, band: MeasureBand, instrument: Instrument | None = None) -> bool:
        """Whether a score of `instrument` in `band` is emailed to the counselor under this
        policy. By rank, so under the site-wide `moderately_severe` GAD-7 (no such band) is
        told from its next band up, `severe`. Never consulted for item 9's risk flag."""
        floor = self.review_floor(instrument)
        return floor is not None and _SEVERITY[band] >= _SEVERITY[floor]

    def as_text(self) -> dict[str, Any]:
        return {
            "first_checkin_after": self.first_checkin_after.isoformat(),
            "short_term_every": self.short_term_every.isoformat(),
            "long_term_every": self.long_term_every.isoformat(),
            "no_show_outreach_after": self.no_show_outreach_after.isoformat(),
            "post_closure_checkins": [d.isoformat() for d in self.post_closure_checkins],
            "max_contact_gap": self.max_contact_gap.isoformat(),
            "negative_contact_cooloff": self.negative_contact_cooloff.isoformat(),
            "measures": {k.value: [i.value for i in v] for k, v in sorted(self.measures.items())},
            "emergency_line": self.emergency_line,
            "satisfaction_survey_after": (
                self.satisfaction_survey_after.isoformat()
                if self.satisfaction_survey_after
                else None
            ),
            "appointment_reminders": [d.isoformat() for d in self.appointment_reminders],
            "notify_counselor_from_band": (
                self.notify_counselor_from_band.value if self.notify_counselor_from_band else None
            ),
            "review_bands": {
                i.value: band.value if band else None
                for i, band in sorted(self.review_bands.items())
            },
        }


DEFAULT_POLICY = FollowUpPolicy()
DEFAULT_REGULARITY = {"max_contact_gap": "P10D", "negative_contact_cooloff": "P14D"}


def positive_duration(field_name: str, text: str) -> CalendarDuration:
    """Parse one policy duration; raise `InvalidPolicy` naming the field."""
    try:
        duration = parse_duration(text)
    except ValueError as exc:
        raise InvalidPolicy(field_name, str(exc)) from None
    if not duration.is_positive:
        raise InvalidPolicy(field_name, "must be longer than zero")
    return duration


def measures_from_text(values: Mapping[str, Any]) -> dict[FollowUpKind, tuple[Instrument, ...]]:
    """`{"checkin": ["phq9"]}` as codes; raises `InvalidPolicy` naming a bad kind or instrument."""
    measures: dict[FollowUpKind, tuple[Instrument, ...]] = {}
    for kind_text, names in values.items():
        try:
            kind = FollowUpKind(kind_text)
        except ValueError:
            raise InvalidPolicy("measures", f"{kind_text!r} is not a follow-up kind") from None
        if kind not in ASKING_KINDS or kind is FollowUpKind.SATISFACTION:
            raise InvalidPolicy("measures", f"{kind_text!r} follow-ups ask no questions")
        try:
            instruments = tuple(dict.fromkeys(Instrument(n) for n in names))
        except ValueError:
            allowed = ", ".join(i.value for i in Instrument)
            raise InvalidPolicy("measures", f"instruments are {allowed}") from None
        if instruments:
            measures[kind] = instruments
    return measures


def review_band_from_text(values: Mapping[str, Any]) -> MeasureBand | None:
    """`notify_counselor_from_band`: absent (a policy set before the field) is `moderate`, as
    every site had; an explicit None is never."""
    text = values.get("notify_counselor_from_band", MeasureBand.MODERATE.value)
    if text is None:
        return None
    try:
        band = MeasureBand(text)
    except ValueError:
        band = None
    if band not in REVIEW_BANDS:
        allowed = ", ".join(b.value for b in REVIEW_BANDS)
        raise InvalidPolicy("notify_counselor_from_band", f"must be one of {allowed} or null")
    return band


def review_bands_from_text(values: Mapping[str, Any]) -> dict[Instrument, MeasureBand | None]:
    """`review_bands`, e.g. `{"phq9": "moderately_severe", "gad7": null}`; raises
    `InvalidPolicy` naming the entry (`review_bands.gad7`) whose instrument is unknown or whose
    band is not one of that instrument's own from `moderate` up."""
    bands: dict[Instrument, MeasureBand | None] = {}
    for name, text in values.items():
        where = f"review_bands.{name}"
        try:
            instrument = Instrument(name)
        except ValueError:
            allowed = ", ".join(i.value for i in Instrument)
            raise InvalidPolicy(where, f"not an instrument; instruments are {allowed}") from None
        if text is None:
            bands[instrument] = None
            continue
        own = review_bands_of(instrument)
        band = next((b for b in own if b.value == text), None)
        if band is None:
            allowed = ", ".join(b.value for b in own)
            raise InvalidPolicy(where, f"must be one of {allowed} or null")
        bands[instrument] = band
    return bands


def policy_from_text(values: Mapping[str, Any]) -> FollowUpPolicy:
    """Build a policy from its text form (as stored and as sent over HTTP). The regularity
    fields came later: a policy recorded without them takes their defaults."""
    checkins = values["post_closure_checkins"]
    assert isinstance(checkins, list)
    scalar = {}
    for name in (
        "first_checkin_after",
        "short_term_every",
        "long_term_every",
        "no_show_outreach_after",
    ):
        text = values[name]
        assert isinstance(text, str)
        scalar[name] = positive_duration(name, text)
    for name in ("max_contact_gap", "negative_contact_cooloff"):
        text = values.get(name, DEFAULT_REGULARITY[name])
        assert isinstance(text, str)
        scalar[name] = positive_duration(name, text)
    return FollowUpPolicy(
        **scalar,
        measures=measures_from_text(values.get("measures") or {}),
        emergency_line=values.get("emergency_line") or None,
        satisfaction_survey_after=(
            positive_duration("satisfaction_survey_after", values["satisfaction_survey_after"])
            if values.get("satisfaction_survey_after")
            else None
        ),
        appointment_reminders=tuple(
            positive_duration(f"appointment_reminders.{i}", text)
            for i, text in enumerate(values.get("appointment_reminders", ["P1D", "PT2H"]))
        ),
        notify_counselor_from_band=review_band_from_text(values),
        review_bands=review_bands_from_text(values.get("review_bands") or {}),
        post_closure_checkins=tuple(
            positive_duration(f"post_closure_checkins.{i}", text) for i, text in enumerate(checkins)
        ),
    )
