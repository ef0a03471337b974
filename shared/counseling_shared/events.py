"""The public event catalog: every integration event of the contract, in one place.

Producers and consumers share these definitions. Each class is the `data` of a CloudEvents
envelope; `event_type` is the CloudEvents `type` and `schema_version` its `dataschemaversion`.
Only identifiers and coded values live here: no client names, contact details or clinical text.
"""

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from counseling_shared.codes import (
    AlertOutcome,
    AlertReopenReason,
    CancelledBy,
    Channel,
    ClosureReason,
    FollowUpKind,
    FollowUpOutcome,
    GoalHorizon,
    Instrument,
    MeasureBand,
    Modality,
    NotificationChannel,
    RiskLevel,
    RiskSource,
    SeriesSeatCancelCause,
    StaffRole,
)


class IntegrationEvent(BaseModel):
    """Base of every public event. Subclasses are immutable and named in the past tense."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.event_type = cls.__name__


def _always_in_data(*names: str) -> Callable[[dict[str, Any]], None]:
    """Publish `names` as required (their value may be null). The contract lists them without
    `?` and `wrap` always writes them; a default of None keeps decoding events written before
    a field existed (e.g. a version 1 PageRequested without `ack_url`)."""

    def require(schema: dict[str, Any]) -> None:
        listed = schema.setdefault("required", [])
        listed += [name for name in names if name not in listed]

    return require


# --- booking -------------------------------------------------------------------------------


class SiteRegistered(IntegrationEvent):
    """A counseling site joined the center."""

    site_id: UUID
    name: str = Field(description="The site's public name, shown in messages to clients.")
    timezone: str = Field(description="IANA time zone of the site.")
    locale: str = Field(description="BCP 47 default locale of the site.")


class StaffRegistered(IntegrationEvent):
    """A staff member joined a site.

    Carries contact details so paging works while booking is down.
    """

    model_config = ConfigDict(json_schema_extra=_always_in_data("phone"))

    staff_id: UUID
    site_id: UUID
    name: str
    role: StaffRole
    email: str
    phone: str | None = None
    locale: str


class ClientRegistered(IntegrationEvent):
    """A client was registered. No name and no contact details: those stay in booking."""

    client_id: UUID
    site_id: UUID
    locale: str
    timezone: str
    preferred_channel: Channel


class ClientContactChanged(IntegrationEvent):
    """A client's contact details were corrected in booking.

    Carries only the coded values other services keep (zone, locale, preferred channel): the
    corrected name, email or phone stay in booking.
    """

    client_id: UUID
    site_id: UUID
    preferred_channel: Channel
    locale: str
    timezone: str


class StaffDeactivated(IntegrationEvent):
    """A staff member left (or was suspended): nobody pages or messages them from now on."""

    staff_id: UUID
    site_id: UUID


class AppointmentBooked(IntegrationEvent):
    """A session was booked for a client with a counselor (in a room when in person)."""

    appointment_id: UUID
    site_id: UUID
    client_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    start: AwareDatetime
    end: AwareDatetime
    modality: Modality
    series_id: UUID | None = Field(
        default=None,
        description="Extension: set when a series command booked (or cancelled) this occurrence;"
        " its summary (`AppointmentSeriesBooked`, `AppointmentSeriesCancelled`) follows."
        " Absent for a single appointment and for an occurrence moved or cancelled alone.",
    )
    group_session_id: UUID | None = Field(
        default=None,
        description="Extension: set when this appointment is a client's seat in a group session"
        " (`GroupSessionScheduled`); absent or null for a one-to-one session.",
    )
    group_series_id: UUID | None = Field(
        default=None,
        description="Extension: set when a recurring group's seat command took (or gave up) this"
        " seat, or the group series' cancellation cancelled it; the client's summary"
        " (`GroupSessionSeriesSeatTaken`, `GroupSessionSeriesSeatCancelled`) follows. Absent"
        " for a seat taken or cancelled alone, whatever group it is in.",
    )
    manage_url: str | None = Field(
        default=None,
        description="Extension: the client's signed link to confirm or cancel this session"
        " (valid until its start; a reschedule sends a new one). Booked and rescheduled only;"
        " never in a webhook's body.",
    )


class AppointmentRescheduled(AppointmentBooked):
    """A booked session moved to another time (or room); `start`/`end` are the new ones."""

    previous_start: AwareDatetime | None = None


class FeeDue(BaseModel):
    """What a missed session costs the client under the site's `missed_session_fee`."""

    model_config = ConfigDict(frozen=True)

    amount: Decimal = Field(description="Decimal amount, e.g. `40.00` (a string in JSON).")
    currency: str = Field(description="ISO 4217 code, e.g. `EUR`.")


class AppointmentCancelled(AppointmentBooked):
    """A booked session was cancelled; `late` when inside the site's late-cancellation window.
    `fee_due` when the client cancelled late and the site charges a missed-session fee."""

    cancelled_by: CancelledBy
    late: bool
    fee_due: FeeDue | None = None


class SeriesOccurrence(BaseModel):
    """One occurrence of a recurring series, as its own `AppointmentBooked` names it."""

    model_config = ConfigDict(frozen=True)

    appointment_id: UUID
    start: AwareDatetime
    end: AwareDatetime


class SkippedOccurrence(BaseModel):
    """A date of a series' rule left out because the site is closed that day (extension: a
    series booked with `skip_closed`). Dates and codes only: no closure label."""

    model_config = ConfigDict(frozen=True)

    start: AwareDatetime = Field(description="The start the rule gave that date.")
    reason: str = Field(description="Why it was left out: `site_closed`.")
    closed_on: date = Field(description="The closed local date of the site it fell on.")
    closure_kind: str = Field(description="`public_holiday`, `training` or `closure`.")


class AppointmentSeriesBooked(IntegrationEvent):
    """A recurring series was booked (extension): every occurrence, in order. Each also has its
    own `AppointmentBooked` (with this `series_id`), published before this summary in the same
    transaction: a consumer that wants one message per series acts on this event alone."""

    series_id: UUID
    site_id: UUID
    client_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    modality: Modality
    occurrences: list[SeriesOccurrence]
    skipped_occurrences: list[SkippedOccurrence] = Field(
        default_factory=list,
        description="Extension: the rule's dates left out because the site is closed then "
        "(`skip_closed`), in order; none booked. Empty when nothing was left out.",
    )


class AppointmentSeriesCancelled(IntegrationEvent):
    """A recurring series was cancelled from `cancelled_from` (the site's date) on
    (extension): the occurrences cancelled now, in order, each also with its own
    `AppointmentCancelled` (with this `series_id`) published before this summary."""

    series_id: UUID
    site_id: UUID
    client_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    modality: Modality
    cancelled_from: date
    cancelled_by: CancelledBy
    occurrences: list[SeriesOccurrence]


class ClosedSpan(BaseModel):
    """Dates a site is closed, both included, in the site's zone (one day: `from` = `to`)."""

    model_config = ConfigDict(frozen=True, serialize_by_alias=True, validate_by_name=True)

    from_: date = Field(alias="from", description="First closed local date.")
    to: date = Field(description="Last closed local date (included).")
    kind: str = Field(description="`public_holiday`, `training` or `closure`.")


class SiteClosuresChanged(IntegrationEvent):
    """Extension: a site's list of closures was replaced (every span, in order; empty when
    none is left). No sessions are bookable on those local dates; sessions already booked
    on them stay booked until the center decides. Dates and codes only: no labels."""

    site_id: UUID
    closures: list[ClosedSpan]


class AppointmentConfirmed(IntegrationEvent):
    """Extension: the client confirmed they will come to a booked session (from the signed
    link in a reminder). Ids and times only."""

    appointment_id: UUID
    site_id: UUID
    client_id: UUID
    counselor_id: UUID
    start: AwareDatetime
    confirmed_at: AwareDatetime


class GroupSessionScheduled(IntegrationEvent):
    """Extension: a group session was scheduled: one counselor (in a room when in person) for up
    to `capacity` clients at once. It holds the counselor's and the room's time. Each client's
    seat is an appointment of its own (`AppointmentBooked` with this `group_session_id`); this
    event names no client."""

    group_session_id: UUID
    site_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    modality: Modality
    start: AwareDatetime
    end: AwareDatetime
    capacity: int = Field(description="Seats, 2 to 15.")


class GroupSessionRescheduled(GroupSessionScheduled):
    """Extension: a group session moved (`start`/`end` are the new ones); each booked seat
    moved with it (`AppointmentRescheduled` with this `group_session_id`)."""

    previous_start: AwareDatetime


class GroupSessionCancelled(GroupSessionScheduled):
    """Extension: a group session was cancelled; each booked seat was cancelled with it
    (`AppointmentCancelled` with this `group_session_id`). The reason stays in booking."""

    cancelled_by: CancelledBy
    cancelled_at: AwareDatetime


class GroupSessionCapacityChanged(GroupSessionScheduled):
    """Extension: a group session's seats changed (`capacity` is the new number, never below
    the seats taken). Raised seats are offered to the group's waitlist (`WaitlistOfferMade`
    with this `group_session_id`)."""

    previous_capacity: int = Field(description="Seats before the change.")
    changed_at: AwareDatetime


class GroupSessionSeriesScheduled(IntegrationEvent):
    """Extension: a recurring group session was scheduled: each occurrence is a group session
    of its own (`GroupSessionScheduled` first, one each), listed in order."""

    group_series_id: UUID
    site_id: UUID
    counselor_id: UUID
    rrule: str = Field(description="The recurrence rule (RFC 5545 subset), as given.")
    capacity: int = Field(description="Seats of each occurrence, 2 to 15.")
    group_session_ids: list[UUID]
    skipped_occurrences: list[SkippedOccurrence] = Field(
        default_factory=list,
        description="The rule's dates left out because the site is closed then "
        "(`skip_closed`), in order; none scheduled. Empty when nothing was left out.",
    )


class GroupSessionSeriesCancelled(IntegrationEvent):
    """Extension: a recurring group session was cancelled from `from_date` (the site's local
    date): each occurrence listed was cancelled with its seats (`GroupSessionCancelled`
    first, one each). The reason stays in booking."""

    group_series_id: UUID
    site_id: UUID
    counselor_id: UUID
    from_date: date
    cancelled_by: CancelledBy
    group_session_ids: list[UUID]


class GroupSeriesSeat(BaseModel):
    """One occurrence's seat of a client in a recurring group, as its own `AppointmentBooked`
    names it."""

    model_config = ConfigDict(frozen=True)

    appointment_id: UUID
    group_session_id: UUID
    start: AwareDatetime
    end: AwareDatetime


class GroupSessionSeriesSeatTaken(IntegrationEvent):
    """Extension: a client was seated in a recurring group's occurrences ahead: the seats taken
    now, in order. Each also has its own `AppointmentBooked` (with this `group_series_id`),
    published before this summary in the same transaction: a consumer that wants one message
    per seat in the series acts on this event alone."""

    group_series_id: UUID
    site_id: UUID
    client_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    modality: Modality
    occurrences: list[GroupSeriesSeat]


class GroupSessionSeriesSeatCancelled(IntegrationEvent):
    """Extension: a client's seats in a recurring group were cancelled from `cancelled_from`
    (the site's date) on, because the client left the series (`cause` `left`) or the series
    was cancelled (`series_cancelled`, one per seated client, before
    `GroupSessionSeriesCancelled`): the seats cancelled now, in order, each also with its own
    `AppointmentCancelled` (with this `group_series_id`) published before this summary."""

    group_series_id: UUID
    site_id: UUID
    client_id: UUID
    counselor_id: UUID
    room_id: UUID | None
    modality: Modality
    cancelled_from: date
    cancelled_by: CancelledBy
    cause: SeriesSeatCancelCause
    occurrences: list[GroupSeriesSeat]


class HoldPlaced(IntegrationEvent):
    """A slot is held (for an integration finishing a booking, or for a waitlist offer)
    until `expires_at`; nobody else can book it meanwhile."""

    hold_id: UUID
    site_id: UUID
    counselor_id: UUID
    start: AwareDatetime
    end: AwareDatetime
    expires_at: AwareDatetime | None = None


class HoldReleased(IntegrationEvent):
    """A hold ended: it `expired` (the slot is free again) or was `booked`."""

    hold_id: UUID
    site_id: UUID
    counselor_id: UUID
    start: AwareDatetime
    end: AwareDatetime
    reason: str | None = Field(default=None, description="`expired` or `booked`.")


class WaitlistOfferMade(IntegrationEvent):
    """A freed slot is offered to a waitlisted client until `expires_at`; notify sends the
    signed `accept_url` to the client in their locale."""

    offer_id: UUID
    client_id: UUID
    site_id: UUID
    appointment_start: AwareDatetime
    accept_url: str
    expires_at: AwareDatetime
    counselor_id: UUID | None = None
    appointment_end: AwareDatetime | None = None
    group_session_id: UUID | None = Field(
        default=None,
        description="Extension: set when the offer is a seat in this group session (from the "
        "group's own waitlist); absent or null for a one-to-one slot.",
    )


class WaitlistEntryWithdrawn(IntegrationEvent):
    """Extension: a client left the waitlist (the front desk withdrew the entry, or the
    client did from an offer's page). An open offer of the entry was released and its slot
    offered to the next client. Ids and a code only."""

    entry_id: UUID
    client_id: UUID
    site_id: UUID
    reason: str = Field(description="`client_request`, `booked_elsewhere` or `other`.")
    withdrawn_at: AwareDatetime
    group_session_id: UUID | None = Field(
        default=None, description="Set when the entry waited for a seat in this group session."
    )


class SessionCompleted(IntegrationEvent):
    """A session took place. Carries the goal horizon and risk level, never the goals."""

    appointment_id: UUID
    site_id: UUID
    client_id: UUID
    counselor_id: UUID
    completed_at: AwareDatetime
    goal_horizon: GoalHorizon
    risk_level: RiskLevel
    group_session_id: UUID | None = Field(
        default=None, description="Extension: set for a client's seat in a group session."
    )


class SessionMissed(IntegrationEvent):
    """The client did not come to a booked session (no-show). `fee_due` when the site
    charges a missed-session fee."""

    appointment_id: UUID
    site_id: UUID
    client_id: UUID
    counselor_id: UUID
    start: AwareDatetime
    fee_due: FeeDue | None = None
    group_session_id: UUID | None = Field(
        default=None, description="Extension: set for a client's seat in a group session."
    )


class CareEpisodeClosed(IntegrationEvent):
    """A client's episode of care ended; `referred` when they were referred elsewhere."""

    client_id: UUID
    site_id: UUID
    reason: ClosureReason
    effective_on: date
    referred: bool


class RiskFlagged(IntegrationEvent):
    """Emitted by booking, followup or crisis (an integration's flag) when a risk is recorded."""

    flag_id: UUID
    client_id: UUID
    site_id: UUID
    level: RiskLevel
    source: RiskSource
    flagged_at: AwareDatetime


# --- followup ------------------------------------------------------------------------------


class FollowUpScheduled(IntegrationEvent):
    """A follow-up (check-in, no-show outreach, post-closure) was planned for `due_at`."""

    followup_id: UUID
    client_id: UUID
    site_id: UUID
    kind: FollowUpKind
    due_at: AwareDatetime


class FollowUpDue(FollowUpScheduled):
    """A follow-up's time has come: reach out to the client now."""

    channel: Channel | None = Field(
        default=None, description="The client's follow-up channel preference, when set."
    )
    appointment_start: AwareDatetime | None = Field(
        default=None,
        description="Kind `reminder`: the start of the appointment it reminds of.",
    )
    response_url: str | None = Field(
        default=None,
        description="A signed, single-use link to the client's answer form (kinds that ask the"
        " client); it carries no client detail, only a signed token.",
    )
    manage_url: str | None = Field(
        default=None,
        description="Extension, kind `reminder`: booking's signed link for the client to"
        " confirm or cancel the appointment (its `AppointmentBooked`'s `manage_url`).",
    )
    appointment_id: UUID | None = Field(
        default=None,
        description="Extension, kind `reminder`: the appointment it reminds of (notify maps a"
        " client's C/X reply to it).",
    )


class FollowUpCancelled(FollowUpScheduled):
    """A planned follow-up will not happen (re-planned, episode closed, paused)."""

    pass


class FollowUpCompleted(IntegrationEvent):
    """The outcome of a follow-up was recorded: by staff, or `responded` by the client's answer."""

    followup_id: UUID
    client_id: UUID
    site_id: UUID
    outcome: FollowUpOutcome


class ContactGapDetected(IntegrationEvent):
    """A client in care had no positive contact for the site's `max_contact_gap`: a
    `regularity` outreach was planned and the counselor is told."""

    model_config = ConfigDict(json_schema_extra=_always_in_data("last_positive_contact_at"))

    client_id: UUID
    site_id: UUID
    counselor_id: UUID | None = Field(
        default=None, description="The counselor of the client's latest completed session."
    )
    last_positive_contact_at: AwareDatetime | None = Field(
        default=None, description="The last positive contact (None: none recorded yet)."
    )


class NegativeContactRecorded(IntegrationEvent):
    """A negative contact (a follow-up declined, a low satisfaction or check-in answer) started
    a cool-off: no outreach reaches the client until `cooloff_until`. The site's supervisors
    are told; crisis paths are never held."""

    client_id: UUID
    site_id: UUID
    counselor_id: UUID | None = None
    cooloff_until: AwareDatetime | None = None


class MeasureRecorded(IntegrationEvent):
    """A client answered a standardised questionnaire: its total score and published band."""

    client_id: UUID
    site_id: UUID
    followup_id: UUID
    instrument: Instrument
    score: int = Field(ge=0)
    band: MeasureBand
    # Extension: the counselor of the client's latest session, as on CallbackRequested, so a
    # score the site's policy asks them to review reaches them (notify's `elevated_score`).
    counselor_id: UUID | None = None
    counselor_review: bool | None = Field(
        default=None,
        description="Whether the site's follow-up policy (`review_bands` for this instrument,"
        " else `notify_counselor_from_band`) asks the counselor to review this score. Absent"
        " (events from before the field): a band of `moderate` or above is reviewed.",
    )


class CallbackRequested(IntegrationEvent):
    """A client asked, through a check-in form, to be contacted by the center."""

    client_id: UUID
    site_id: UUID
    counselor_id: UUID | None = None
    followup_id: UUID


# --- crisis --------------------------------------------------------------------------------


class AlertRaised(IntegrationEvent):
    """A crisis alert opened for a client; escalation level 1 is paged at once."""

    alert_id: UUID
    client_id: UUID
    site_id: UUID
    level: RiskLevel = Field(description="The alert's risk level.")
    current_level: int = Field(description="The escalation level being paged (1-based).")


class AlertEscalated(AlertRaised):
    """Nobody acknowledged in time (or, an extension, a paged staff member who could not
    take it escalated now): the alert moved to the next escalation level."""

    pass


class AlertAcknowledged(AlertRaised):
    """A staff member took the alert; escalation stops."""

    staff_id: UUID | None = None


class AlertResolved(AlertRaised):
    """The alert was closed with an outcome."""

    staff_id: UUID | None = None
    outcome: AlertOutcome | None = None


class AlertReopened(AlertRaised):
    """An acknowledged alert is open again and escalation resumes: a risk flag raised its
    `level` (`risk_raised`), or the acknowledgement lapsed unresolved after the policy's
    `ack_expires_after` (`ack_expired`). The staff member who had acknowledged it is paged at
    once (a `PageRequested`) and has the level's `ack_timeout` to acknowledge again."""

    staff_id: UUID = Field(description="Who had acknowledged the alert: they are paged again.")
    reason: AlertReopenReason


class AlertExhausted(AlertRaised):
    """Every level of every pass was paged without an acknowledgement. The alert stays open;
    the policy's fallback staff (if any) were paged."""

    pass


class PageRequested(IntegrationEvent):
    """Page one staff member about an alert. The text shows only the link and the alert id."""

    model_config = ConfigDict(json_schema_extra=_always_in_data("ack_url"))

    alert_id: UUID
    page_id: UUID
    staff_id: UUID
    site_id: UUID
    level: int = Field(description="The escalation level this page belongs to (1-based).")
    risk_level: RiskLevel | None = None
    alert_url: str | None = Field(default=None, description="Link to the alert for on-call staff.")
    ack_url: str | None = Field(
        default=None,
        description="A link signed for this page and staff member (valid for PAGE_LINK_TTL):"
        " opens the on-call page, which acknowledges as them without a sign-in.",
    )
    reply_code: str | None = Field(
        default=None,
        description="The staff member may text `ACK <reply_code>` back to acknowledge.",
    )
    requested_at: datetime | None = None
    fallback: bool = Field(
        default=False,
        description="true: the chain was exhausted and this pages one of the policy's fallback"
        " staff (`level` is then one past the last level), so the page's texts say so.",
    )
    call_after: timedelta | None = Field(
        default=None,
        description="Extension: how long after `requested_at` the page's phone call follows"
        " (ISO 8601 duration; the level's `call_after` in the escalation policy). Absent or"
        " null: notify's PAGE_CALL_DELAY.",
    )


class StaffSmsOptOutChanged(IntegrationEvent):
    """A staff member texted STOP (or START) from their phone to the paging number: SMS and
    messaging to that phone stop (or resume); pages go on by email. No number travels: notify
    finds the phone in its own copy of the staff's contacts."""

    staff_id: UUID
    site_id: UUID
    opted_out: bool = Field(description="true after STOP, false after START.")


class ShiftSwapRequested(IntegrationEvent):
    """Extension. An on-call staff member offered part of their own shifts of a schedule
    (`[start, end)`) to colleagues (`offered_to`); the first to take it replaces them."""

    swap_request_id: UUID
    schedule_id: UUID
    site_id: UUID
    requester_id: UUID = Field(description="Whose shifts are offered.")
    offered_to: list[UUID] = Field(description="The staff who may take it.")
    start: AwareDatetime
    end: AwareDatetime


class ShiftSwapTaken(ShiftSwapRequested):
    """Extension. A colleague took the request: the schedule has an override (`override_id`)
    in which `taken_by` replaces the requester for `[start, end)`."""

    taken_by: UUID
    override_id: UUID


class ShiftSwapCancelled(ShiftSwapRequested):
    """Extension. The requester (or an admin) withdrew the request while it was open."""

    pass


class ShiftSwapExpired(ShiftSwapRequested):
    """Extension. Nobody took the request before its `start`: the requester stays on call."""

    pass


# --- notify --------------------------------------------------------------------------------


class NotificationSent(IntegrationEvent):
    """A message (email, SMS, messaging) was handed to its provider."""

    notification_id: UUID
    recipient_id: UUID
    site_id: UUID
    channel: NotificationChannel
    template: str
    cause_event_id: UUID
    attempts: int
    page_id: UUID | None = None


class NotificationFailed(NotificationSent):
    """A message could not be delivered after its attempts."""

    pass
