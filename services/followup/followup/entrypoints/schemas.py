"""Wire schemas of followup's HTTP API (contract: followup)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, Field

from counseling_shared.codes import (
    Channel,
    FollowUpKind,
    FollowUpOutcome,
    GoalHorizon,
    Instrument,
    Intensity,
    RiskLevel,
)
from counseling_shared.http.bodies import RequestBody
from followup.domain.client_care import ClientCare
from followup.domain.followup import CancelReason, FollowUp, Progress, Status
from followup.domain.policy import DEFAULT_POLICY, FollowUpPolicy, positive_duration

# Longest policy duration a request may set. Far longer ones (`P9000Y`) were accepted, then
# every plan made from them fell past year 9999 and failed followup's event handler.
LONGEST_DURATION_DAYS = 3660  # ten years and a week


def _canonical_duration(text: str) -> str:
    # The field name is added by pydantic's error location.
    try:
        duration = positive_duration("duration", text)
    except ValueError as exc:
        raise ValueError(str(exc).removeprefix("duration: ")) from None
    # A mean year and month: P10Y, P120M and P3650D are all within it.
    days = duration.years * 365.25 + duration.months * 365.25 / 12 + duration.days
    if days + duration.exact_part / timedelta(days=1) > LONGEST_DURATION_DAYS:
        raise ValueError("must be at most ten years (P10Y)")
    return duration.isoformat()


Duration = Annotated[
    str,
    AfterValidator(_canonical_duration),
    Field(
        description="ISO 8601 duration, e.g. P7D, PT30S, P1M (longer than zero).", examples=["P7D"]
    ),
]
_DEFAULT = DEFAULT_POLICY.as_text()

# The bands a site may pick as the lowest that emails the counselor (domain/policy.REVIEW_BANDS).
ReviewBand = Literal["moderate", "moderately_severe", "severe"]


def _shown_default(field: str) -> dict[str, Any]:
    """A `default_factory` (a fresh list or dict per request) leaves the default out of the
    OpenAPI document; this puts the same value there."""
    return {"default": copy.deepcopy(_DEFAULT[field])}


class PolicyIn(RequestBody):
    """A site's follow-up policy. Omitted fields take the contract's defaults."""

    first_checkin_after: Duration = Field(default=str(_DEFAULT["first_checkin_after"]))
    short_term_every: Duration = Field(default=str(_DEFAULT["short_term_every"]))
    long_term_every: Duration = Field(default=str(_DEFAULT["long_term_every"]))
    no_show_outreach_after: Duration = Field(default=str(_DEFAULT["no_show_outreach_after"]))
    post_closure_checkins: list[Duration] = Field(
        default_factory=lambda: list(_DEFAULT["post_closure_checkins"]),
        json_schema_extra=_shown_default("post_closure_checkins"),
        max_length=24,
        description="Check-ins after an episode closes, each counted from `effective_on`.",
    )
    max_contact_gap: Duration = Field(
        default=str(_DEFAULT["max_contact_gap"]),
        description="Longest time a client in care may go without a positive contact (elapsed).",
    )
    negative_contact_cooloff: Duration = Field(
        default=str(_DEFAULT["negative_contact_cooloff"]),
        description="Pause in outreach to the client after a negative contact (elapsed).",
    )
    measures: dict[FollowUpKind, list[Instrument]] = Field(
        default_factory=dict,
        json_schema_extra=_shown_default("measures"),
        description="Which instruments the client's answer form asks, per follow-up kind, e.g."
        ' `{"checkin": ["phq9"]}`.',
        examples=[{"checkin": ["phq9", "gad7"]}],
    )
    emergency_line: str | None = Field(
        default=None,
        max_length=40,
        pattern=r"^[0-9+()\- ]{2,40}$",
        description="The center's emergency number, shown on the answer form (at once when a"
        " client reports thoughts of self-harm).",
    )
    satisfaction_survey_after: Duration | None = Field(
        default=None,
        description="Ask the client for a 1-5 rating this long after each completed session"
        " (e.g. `PT3H`); absent: no survey.",
    )
    appointment_reminders: list[Duration] = Field(
        default_factory=lambda: list(_DEFAULT["appointment_reminders"]),
        json_schema_extra=_shown_default("appointment_reminders"),
        max_length=6,
        description="Remind the client this long before each booked appointment (empty: none).",
    )
    notify_counselor_from_band: ReviewBand | None = Field(
        default="moderate",
        description="The lowest band of a check-in's PHQ-9 or GAD-7 score that emails the"
        " client's counselor (notify's `elevated_score`); null: never (the site reviews every"
        " score in sessions). GAD-7 has no `moderately_severe`: from there, its `severe`."
        " An instrument named in `review_bands` takes its own band instead.",
    )
    # Keys are checked by the policy (domain), so an unknown one is named `review_bands.<key>`.
    review_bands: dict[str, ReviewBand | None] = Field(
        default_factory=dict,
        json_schema_extra={
            **_shown_default("review_bands"),
            "propertyNames": {"enum": [i.value for i in Instrument]},
        },
        description="Extension: per instrument, the lowest band of its score that emails the"
        " client's counselor, or null for never; an instrument left out takes"
        " `notify_counselor_from_band`. Each band must be one of that instrument's own from"
        " `moderate` up (GAD-7: `moderate` or `severe`). PHQ-9 item 9's risk flag does not"
        " depend on it.",
        examples=[{"phq9": "moderately_severe", "gad7": "moderate"}],
    )


class PolicyOut(BaseModel):
    site_id: UUID
    first_checkin_after: str
    short_term_every: str
    long_term_every: str
    no_show_outreach_after: str
    post_closure_checkins: list[str]
    max_contact_gap: str
    negative_contact_cooloff: str
    measures: dict[FollowUpKind, list[Instrument]]
    emergency_line: str | None
    satisfaction_survey_after: str | None
    appointment_reminders: list[str]
    notify_counselor_from_band: ReviewBand | None
    review_bands: dict[Instrument, ReviewBand | None] = Field(
        description="Extension: per instrument, the lowest band that emails the counselor"
        " (null: never); instruments not named take `notify_counselor_from_band`."
    )
    is_default: bool = Field(description="True while the site has not set a policy.")

    @classmethod
    def of(cls, site_id: UUID, policy: FollowUpPolicy, is_default: bool) -> PolicyOut:
        return cls.model_validate(
            {"site_id": site_id, "is_default": is_default, **policy.as_text()}
        )


class ProgressIn(RequestBody):
    """The client's progress in their words. Stays in followup's database, never on the bus."""

    achieved: str | None = Field(default=None, max_length=4000)
    challenges: str | None = Field(default=None, max_length=4000)
    next_steps: str | None = Field(default=None, max_length=4000)


class CompleteIn(RequestBody):
    outcome: FollowUpOutcome
    progress: ProgressIn | None = None
    satisfaction: int | None = Field(default=None, ge=1, le=5)
    risk_level: RiskLevel | None = Field(
        default=None, description="`moderate` or above raises RiskFlagged."
    )


class FollowUpOut(BaseModel):
    id: UUID
    client_id: UUID
    site_id: UUID
    kind: FollowUpKind
    due_at: datetime
    status: Status
    goal_horizon: GoalHorizon | None = None
    session_id: UUID | None = Field(
        default=None, description="The completed or missed appointment that planned it."
    )
    cancel_reason: CancelReason | None = None
    outcome: FollowUpOutcome | None = None
    progress: ProgressIn | None = None
    satisfaction: int | None = None
    risk_level: RiskLevel | None = None
    completed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, f: FollowUp) -> FollowUpOut:
        progress = ProgressIn(**f.progress.__dict__) if f.progress else None
        return cls(
            id=f.id,
            client_id=f.client_id,
            site_id=f.site_id,
            kind=f.kind,
            due_at=f.due_at,
            status=f.status,
            goal_horizon=f.goal_horizon,
            session_id=f.session_id,
            cancel_reason=f.cancel_reason,
            outcome=f.outcome,
            progress=progress,
            satisfaction=f.satisfaction,
            risk_level=f.risk_level,
            completed_at=f.completed_at,
            created_at=f.created_at,
            updated_at=f.updated_at,
        )


def progress_of(body: CompleteIn) -> Progress | None:
    if body.progress is None:
        return None
    return Progress(body.progress.achieved, body.progress.challenges, body.progress.next_steps)


class PreferencesIn(RequestBody):
    channel: Channel | None = Field(default=None, description="Preferred follow-up channel.")
    intensity: Intensity = Field(
        description="`light` doubles check-in intervals; `paused` stops follow-ups."
    )


class PreferencesOut(BaseModel):
    client_id: UUID
    site_id: UUID | None
    channel: Channel | None
    intensity: Intensity

    @classmethod
    def of(cls, client: ClientCare) -> PreferencesOut:
        return cls(
            client_id=client.client_id,
            site_id=client.site_id,
            channel=client.preferences.channel,
            intensity=client.preferences.intensity,
        )
