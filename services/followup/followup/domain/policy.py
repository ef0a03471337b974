"""A site's follow-up policy: when check-ins, outreach and post-closure calls fall due."""

from dataclasses import dataclass, field

from followup.domain.durations import CalendarDuration, parse_duration


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

    def as_text(self) -> dict[str, str | list[str]]:
        return {
            "first_checkin_after": self.first_checkin_after.isoformat(),
            "short_term_every": self.short_term_every.isoformat(),
            "long_term_every": self.long_term_every.isoformat(),
            "no_show_outreach_after": self.no_show_outreach_after.isoformat(),
            "post_closure_checkins": [d.isoformat() for d in self.post_closure_checkins],
            "max_contact_gap": self.max_contact_gap.isoformat(),
            "negative_contact_cooloff": self.negative_contact_cooloff.isoformat(),
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


def policy_from_text(values: dict[str, str | list[str]]) -> FollowUpPolicy:
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
        post_closure_checkins=tuple(
            positive_duration(f"post_closure_checkins.{i}", text) for i, text in enumerate(checkins)
        ),
    )
