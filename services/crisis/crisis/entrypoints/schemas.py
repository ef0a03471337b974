"""Request and response bodies of the crisis API (the OpenAPI document is built from these)."""

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from counseling_shared.codes import AlertOutcome, AlertStatus, RiskLevel, RiskSource
from counseling_shared.http.bodies import RequestBody
from counseling_shared.http.provider_message_id import MessageId
from crisis.domain.policy import MAX_LEVELS, MAX_REPEAT
from crisis.entrypoints.resource_ids import WithId, legacy_id

_SHOWN_EMPTY: dict[str, Any] = {"default": []}
"""A `default_factory`'s default is left out of the OpenAPI document; this shows it."""


_ROUND_ROBIN = (
    "Extension: page ONE of the level's people (its staff ids, then whoever its schedules"
    " have on call) per alert, each new alert of the site the next in turn; someone who cannot"
    " be paged (deactivated, no phone or email) is passed over. Unacknowledged within"
    " `ack_timeout`, escalation goes on to the next level as usual. False: everyone is paged."
)


_CALL_AFTER = (
    "Extension: ISO 8601 duration (PT0S up to this level's `ack_timeout`): how long after a"
    " page of this level its phone call follows (with notify's PAGE_CALLS), carried to notify"
    " as `PageRequested.call_after`. Absent or null: notify's PAGE_CALL_DELAY. An"
    " acknowledgement meanwhile withdraws the call."
)


class PolicyLevelBody(RequestBody):
    staff_ids: list[UUID] = Field(
        default_factory=list,
        json_schema_extra=_SHOWN_EMPTY,
        description="Staff members paged together at this level.",
    )
    schedule_ids: list[UUID] = Field(
        default_factory=list,
        json_schema_extra=_SHOWN_EMPTY,
        description="Schedules of the site (or of a `backup_site_ids` site), resolved to whoever"
        " is on call when the level is paged (at least one staff member or schedule per level).",
    )
    ack_timeout: str = Field(
        description="ISO 8601 duration (PT1S to P1D) this level has to acknowledge.",
        examples=["PT5M"],
    )
    round_robin: bool = Field(default=False, description=_ROUND_ROBIN)
    call_after: str | None = Field(default=None, description=_CALL_AFTER, examples=["PT2M"])


class EscalationPolicyBody(RequestBody):
    levels: list[PolicyLevelBody] = Field(
        min_length=1, max_length=MAX_LEVELS, description="Paged in this order, level 1 first."
    )
    repeat: int = Field(
        default=1,
        ge=0,
        le=MAX_REPEAT,
        description="How many more times the whole chain runs after the first pass: 0 pages"
        " each level once; 1 (the default) runs the chain twice in all.",
    )
    fallback_staff_ids: list[UUID] = Field(
        default_factory=list,
        json_schema_extra=_SHOWN_EMPTY,
        max_length=20,
        description="Paged when the chain is exhausted (nobody acknowledged any level of any"
        " pass); the alert then stays open with `exhausted` true (AlertExhausted).",
    )
    backup_site_ids: list[UUID] = Field(
        default_factory=list,
        json_schema_extra=_SHOWN_EMPTY,
        max_length=20,
        description="Extension (cross-site backup): other sites whose staff and schedules this"
        " policy may name, in any level or the fallback. Only an `admin` key administering"
        " every site listed may list it (422 `backup_site_ids.N` otherwise).",
    )
    ack_expires_after: str | None = Field(
        default=None,
        description="Extension: ISO 8601 duration (PT1M to P30D). An acknowledged alert still"
        " unresolved this long after its acknowledgement opens again (AlertReopened, reason"
        " `ack_expired`): whoever acknowledged it is paged again and escalation resumes from"
        " their level. Absent or null: an acknowledgement holds until the alert is resolved.",
        examples=["PT4H"],
    )


class PolicyLevelOut(BaseModel):
    staff_ids: list[UUID]
    schedule_ids: list[UUID] = Field(default_factory=list)
    ack_timeout: str = Field(description="ISO 8601 duration.")
    round_robin: bool = Field(default=False, description=_ROUND_ROBIN)
    call_after: str | None = Field(default=None, description=_CALL_AFTER)


class EscalationPolicyOut(BaseModel):
    site_id: UUID
    levels: list[PolicyLevelOut]
    repeat: int
    fallback_staff_ids: list[UUID] = Field(default_factory=list)
    backup_site_ids: list[UUID] = Field(
        default_factory=list,
        description="Extension: the other sites whose staff or schedules the policy names"
        " (cross-site backup), those the API key may see.",
    )
    ack_expires_after: str | None = Field(
        default=None, description="ISO 8601 duration; null: acknowledgements hold until resolved."
    )
    version: int = Field(description="Counts the policy's changes, starting at 1.")
    updated_at: datetime
    inactive_staff_ids: list[UUID] = Field(
        default_factory=list,
        description="Staff the policy names whom booking has deactivated since: they are"
        " skipped when their level is paged. Replace them.",
    )
    sms_stopped_staff_ids: list[UUID] = Field(
        default_factory=list,
        description="Staff the policy names who texted STOP to the paging number: no SMS or"
        " messaging page reaches them until they text START; email pages do.",
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What is wrong with the policy as it stands: each deactivated person named,"
        " a level (or the fallback) left with nobody to page, and an empty"
        " `fallback_staff_ids` (nobody more is paged when the chain is exhausted), each person"
        " named who texted STOP (paged by email only). A level with"
        " schedules is never said to page nobody: they are resolved when it is paged.",
    )


class RiskFlagBody(RequestBody):
    client_id: UUID
    site_id: UUID
    level: RiskLevel = Field(description="`moderate` or above opens or joins the client's alert.")
    source: RiskSource


class RiskFlagAccepted(WithId):
    """The recorded flag: `id` is the flag's (GET /risk-flags/{id}), `alert_id` the alert's."""

    legacy_id_field = "flag_id"

    alert_id: UUID | None = Field(
        description="The alert opened or joined; null for a level below moderate."
    )
    flag_id: UUID = Field(
        description="Deprecated: the same as `id` (the RiskFlagged event's flag_id), kept for"
        " older readers.",
        json_schema_extra={"deprecated": True},
    )


class RiskFlagOut(RiskFlagAccepted):
    client_id: UUID
    site_id: UUID
    level: RiskLevel
    source: RiskSource
    flagged_at: datetime


class AcknowledgeBody(RequestBody):
    staff_id: UUID | None = Field(
        default=None,
        description="Who acknowledges: only an admin key names them (acting for that staff"
        " member); a staff key acts as its own staff member.",
    )


class EscalateBody(RequestBody):
    staff_id: UUID | None = Field(
        default=None,
        description="Who escalates (a staff member paged for the alert): only an admin key"
        " names them (acting for that staff member); a staff key acts as its own staff member.",
    )
    level: int | None = Field(
        default=None,
        ge=1,
        le=MAX_LEVELS,
        description="The escalation level the caller saw (`current_level`): once the alert"
        " has moved past it (its deadline passed, or a colleague escalated), nothing more is"
        " escalated and the answer is a 409. Left out: whichever level is current.",
    )
    cycle: int | None = Field(
        default=None,
        ge=0,
        le=MAX_REPEAT,
        description="The pass through the chain the caller saw (`cycle`), with `level`.",
    )


class ResolveBody(RequestBody):
    staff_id: UUID | None = Field(
        default=None,
        description="Who resolves: only an admin key names them (acting for that staff"
        " member); a staff key acts as its own staff member.",
    )
    outcome: AlertOutcome


class FrozenPolicyOut(BaseModel):
    """The site's policy as it was when the alert opened."""

    levels: list[PolicyLevelOut]
    repeat: int
    fallback_staff_ids: list[UUID] = Field(default_factory=list)
    ack_expires_after: str | None = Field(
        default=None, description="ISO 8601 duration; null: acknowledgements hold until resolved."
    )


class PageOut(WithId):
    legacy_id_field = "page_id"

    page_id: UUID = legacy_id("page")
    staff_id: UUID
    level: int = Field(
        description="Escalation level (1-based); one past the last level: the fallback staff."
    )
    cycle: int = Field(description="Pass through the chain (0 = the first).")
    requested_at: datetime
    sent_at: datetime | None = Field(
        default=None, description="First delivery notify reported (NotificationSent)."
    )
    failed_at: datetime | None = None


class TimelineEntryOut(BaseModel):
    """One step of the alert: `seq`, `at`, `kind`, and the ids and coded levels of that step.

    Depending on the kind, among: `flag_id`, `page_id`, `staff_id`, `notification_id`,
    `risk_level`, `previous_risk_level`, `source`, `level` (escalation level, 1-based), `cycle`
    (pass through the chain, 0 = the first), `channel`, `attempts`, `outcome`, `policy_levels`,
    `schedule_id` and `staff_ids` (who a schedule had on call when its level was paged),
    `reason` (why a page was skipped, or why the alert was re-opened), for a round-robin level's
    choice (`round_robin_turn`) the `staff_id` whose turn it was, the level's `turn` at the site
    (counting this one), its `pool` of people, `after_staff_id` (who had the turn before;
    null: nobody yet, or no longer in the level), `everyone_paged` (true: the alert had paged
    everyone in the level who can be paged, so this person is paged again) and `settled` (people
    passed over because they took this turn early, standing in for someone another alert had
    paged; a `page_skipped` with `reason` `already_paged` names each person this alert had
    paged already and passed over, who keeps their place), and for a page's phone
    call (`call_ended`) Twilio's final `outcome` (`completed`, `no_answer`, `busy`, `failed`,
    `canceled`) and `answered_by` (`human`, `machine`, `unknown`, or empty).
    Never free text about the client.
    """

    model_config = ConfigDict(extra="allow")

    seq: int = Field(description="Order of the step within the alert, from 1.")
    at: datetime
    kind: str = Field(
        description="flag_received, opened, no_policy, policy_adopted, level_raised,"
        " oncall_resolved, level_skipped, page_requested, page_skipped (with `reason`), page_sent,"
        " page_failed, call_ended (a page's phone call ended), round_robin_turn (extension:"
        " whose turn a round-robin level paged), escalated,"
        " chain_repeated, acknowledged, resolved, exhausted or reopened (with `reason`"
        " `risk_raised` or `ack_expired`, and the `staff_id` paged again)."
    )


class AlertSummaryOut(BaseModel):
    id: UUID
    client_id: UUID
    site_id: UUID
    level: RiskLevel = Field(description="The alert's risk level (the highest flag's).")
    status: AlertStatus
    current_level: int = Field(description="Escalation level being paged; 0: nobody (no policy).")
    cycle: int = Field(description="Pass through the chain (0 = the first).")
    exhausted: bool = Field(description="Every level of every pass was paged unacknowledged.")
    escalation_due_at: datetime | None = Field(
        description="When the next level is paged unless someone acknowledges."
    )
    ack_expires_at: datetime | None = Field(
        default=None,
        description="Extension: while acknowledged under a policy with `ack_expires_after`,"
        " when the alert opens again unless it is resolved first.",
    )
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: UUID | None
    resolved_at: datetime | None
    resolved_by: UUID | None
    outcome: AlertOutcome | None


class AlertOut(AlertSummaryOut):
    policy: FrozenPolicyOut | None
    pages: list[PageOut]
    timeline: list[TimelineEntryOut]


class StaffPinBody(RequestBody):
    pin: str = Field(
        pattern=r"^[0-9]{6,12}$",
        description="6 to 12 digits the staff member types on the on-call page to see a"
        " client's contact details. Kept only as a scrypt hash.",
        examples=["482913"],
    )


class InboundSmsBody(BaseModel):
    """What the SMS provider posts for a text received on the center's paging number.

    Not a `RequestBody`: fields the provider adds (message ids, timestamps) are ignored rather
    than refused, so a staff member's `ACK` is never lost to a provider's change."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(
        alias="from", min_length=3, max_length=32, description="The sender's phone number."
    )
    text: str = Field(max_length=1600, description="The message as typed.")
    message_id: MessageId = None


class InboundSmsReply(BaseModel):
    reply: str = Field(
        description="The text to send back to the sender (the provider texts it to them);"
        " empty: send nothing (the number is past INBOUND_SMS_PER_NUMBER_LIMIT)."
    )
    replayed: bool = Field(
        default=False,
        description="Extension: true when a text with this `message_id` was acted on already"
        " (a provider's retry, or a replay): nothing was done and `reply` is empty.",
    )
