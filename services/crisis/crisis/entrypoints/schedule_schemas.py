"""Request and response bodies of the schedule routes."""

from datetime import UTC, datetime
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from counseling_shared.http.bodies import CalendarDate, Instant, RequestBody
from crisis.domain.schedules.edits import ApplyFrom
from crisis.domain.schedules.restrictions import RestrictionDays
from crisis.domain.schedules.rotation import RotationKind
from crisis.domain.schedules.schedule import MAX_LAYERS, MAX_NAME_LENGTH, MAX_PARTICIPANTS
from crisis.entrypoints.resource_ids import WithId, legacy_id

_CLOCK = r"^\d\d:\d\d$"


class RotationBody(RequestBody):
    kind: RotationKind
    every: str | None = Field(
        default=None,
        description="Custom rotations: the turn length as an ISO 8601 duration of whole"
        " minutes, PT1H to P90D (e.g. P3D, PT12H), counted in local wall-clock time.",
        examples=["PT12H"],
    )
    handoff: str = Field(
        pattern=_CLOCK, description="Local wall-clock time of each handoff, HH:MM."
    )
    handoff_weekday: int | None = Field(
        default=None, ge=1, le=7, description="Weekly rotations: 1 = Monday … 7 = Sunday."
    )
    start_on: CalendarDate = Field(
        description="The first turn starts at the first handoff on or after."
    )


class RestrictionBody(RequestBody):
    model_config = ConfigDict(populate_by_name=True)

    weekdays: list[int] = Field(min_length=1, description="1 = Monday … 7 = Sunday.")
    from_: str = Field(alias="from", pattern=_CLOCK, description="Local HH:MM.")
    to: str = Field(pattern=_CLOCK, description="Local HH:MM; at or before `from`: next day.")
    days: RestrictionDays = Field(
        default=RestrictionDays.ANY,
        description="Extension: the days a window starts on, by the site's closures (booking's"
        " `PUT /sites/{id}/closures`, the site's local dates): `open` days only, `closed` days"
        " only (a holiday layer), or `any` (closures ignored). A window belongs to the day its"
        " start falls on in the site's zone (the schedule's zone while the site's is unknown);"
        " a night window thus belongs to the day it starts on.",
    )


class LayerBody(RequestBody):
    rotation: RotationBody
    participants: list[UUID] = Field(
        min_length=1, max_length=MAX_PARTICIPANTS, description="Staff ids, in turn order."
    )
    restrictions: list[RestrictionBody] = Field(
        default_factory=list,
        json_schema_extra={"default": []},  # a factory's default is not shown otherwise
        description="The layer applies only inside these windows.",
    )


class ScheduleBody(RequestBody):
    site_id: UUID
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    timezone: str | None = Field(
        default=None, description="IANA zone; absent: the site's.", examples=["Europe/Paris"]
    )
    layers: list[LayerBody] = Field(
        min_length=1, max_length=MAX_LAYERS, description="A later layer wins where it has someone."
    )


class ScheduleEdit(ScheduleBody):
    """PUT's body: POST's, and an optional `apply_from` (extension beyond the contract)."""

    apply_from: ApplyFrom | Instant = Field(
        default=ApplyFrom.NOW,
        description="`now`: the new layers apply at once. `next_handoff`: at each layer that"
        " changes (layers matched by position), whoever is on call there keeps the shift until"
        " that layer's next handoff; the new layer applies from then on. Extension: an RFC"
        " 3339 instant (in the future, at most a year ahead): until then the old layers stand"
        " at every layer that changes (shown as `running_layers` until that instant); from"
        " then on the new ones apply.",
        examples=["next_handoff", "2027-01-04T08:00:00+01:00"],
    )

    @field_validator("apply_from", mode="wrap")
    @classmethod
    def _one_of_three(
        cls, value: object, handler: ValidatorFunctionWrapHandler
    ) -> ApplyFrom | datetime:
        """One error naming `apply_from` (not one per form tried), and an instant in UTC."""
        try:
            parsed: ApplyFrom | datetime = handler(value)
        except ValidationError:
            raise ValueError(
                "`now`, `next_handoff`, or an RFC 3339 instant with an offset"
            ) from None
        return parsed.astimezone(UTC) if isinstance(parsed, datetime) else parsed


class RunningLayerOut(BaseModel):
    layer: int = Field(description="1-based position, as shifts name it.")
    until: datetime = Field(description="The new layer at this position applies from here.")
    timezone: str
    running: LayerBody | None = Field(description="What answers until then; null: nobody.")


class OverrideOut(WithId):
    legacy_id_field = "override_id"

    override_id: UUID = legacy_id("override")
    staff_id: UUID
    replaces: UUID | None = Field(description="Absent: the staff member is added.")
    start: datetime
    end: datetime


class OverrideAccepted(OverrideOut):
    warnings: list[str] = Field(
        default_factory=list,
        description="Stretches of `[start, end)` where the override changes nothing, and why:"
        " someone an earlier override put in the replaced person's place stands in there"
        " (replace them instead), the added person is on call already, or the replaced person"
        " is not on call at any time of it. Overrides apply in the order entered, each to"
        " whoever is on call at that instant. Empty: it takes effect throughout.",
    )


class ScheduleOut(WithId):
    legacy_id_field = "schedule_id"

    schedule_id: UUID = legacy_id("schedule")
    site_id: UUID
    name: str
    timezone: str
    layers: list[LayerBody]
    running_layers: list[RunningLayerOut] = Field(
        default_factory=list,
        description="Layers a PUT with `apply_from` `next_handoff` keeps until their next"
        " handoff (only those still running).",
    )
    overrides: list[OverrideOut]
    version: int
    created_at: datetime
    updated_at: datetime


class OnCallOut(BaseModel):
    at: datetime
    staff_ids: list[UUID]


class ShiftOut(BaseModel):
    staff_id: UUID
    start: datetime
    end: datetime
    layer: int | None = Field(description="1-based layer; null for someone an override added.")
    override_id: UUID | None = None


class OverrideBody(RequestBody):
    staff_id: UUID
    replaces: UUID | None = Field(default=None, description="Absent: adds `staff_id`.")
    start: Instant
    end: Instant


class CalendarUrlOut(BaseModel):
    url: str
    expires_at: datetime
