"""A tiny service built on the backbone the way real ones are: one POST that publishes an event
through the unit of work, one GET, and one consumer that projects the event it published."""

import asyncio
from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, field_validator

from counseling_shared.codes import StaffRole
from counseling_shared.envelope import Envelope
from counseling_shared.events import IntegrationEvent, StaffRegistered
from counseling_shared.http.bodies import RequestBody
from counseling_shared.http.dependencies import Caller
from counseling_shared.http.problems import NotFound
from counseling_shared.jetstream import ConsumerSpec
from counseling_shared.logs import get_logger
from counseling_shared.service import Route, ServiceDefinition, runtime_of
from counseling_shared.settings import ServiceSettings
from counseling_shared.unit_of_work import UnitOfWork, unit_of_work
from tests.shared.integration.support import PROBE_MIGRATIONS

API_KEY = "probe-key"


class StaffIn(RequestBody):
    site_id: UUID = Field(description="The site the staff member works at.")
    name: str = Field(min_length=1, description="Full name.")
    role: StaffRole = Field(description="What they do at the site.")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="Work email for pages.")
    locale: str = Field("en", description="BCP 47 locale.")

    @field_validator("name")
    @classmethod
    def _not_blank(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("must not be blank")
        return name


class StaffOut(BaseModel):
    id: UUID
    site_id: UUID
    role: StaffRole


router = APIRouter()


@router.post("/staff", status_code=201)
async def register_staff(body: StaffIn, request: Request, caller: Caller) -> StaffOut:
    caller.require_site(body.site_id)
    runtime = runtime_of(request)
    staff_id = uuid4()
    async with unit_of_work(runtime.db(), source="booking", clock=runtime.clock) as uow:
        await uow.conn.execute(
            "INSERT INTO staff (id, site_id, role) VALUES ($1, $2, $3)",
            staff_id,
            body.site_id,
            body.role.value,
        )
        # Tests set a delay to hold requests open while others arrive.
        await asyncio.sleep(runtime.definition.state.get("delay", 0.0))
        uow.publish(
            StaffRegistered(
                staff_id=staff_id,
                site_id=body.site_id,
                name=body.name,
                role=body.role,
                email=body.email,
                locale=body.locale,
            ),
            subject=staff_id,
        )
        get_logger("probe.http").info("staff_registered", staff_id=str(staff_id))
    if runtime.definition.state.get("fail_after_commit"):  # tests: the request dies now
        raise RuntimeError("the request died after its commit")
    return StaffOut(id=staff_id, site_id=body.site_id, role=body.role)


@router.get("/staff/{staff_id}")
async def get_staff(staff_id: UUID, request: Request, caller: Caller) -> StaffOut:
    row = await runtime_of(request).db().fetchrow("SELECT * FROM staff WHERE id = $1", staff_id)
    if row is None:
        raise NotFound("staff member", staff_id)
    return StaffOut(id=row["id"], site_id=row["site_id"], role=row["role"])


async def on_staff_registered(uow: UnitOfWork, envelope: Envelope, event: IntegrationEvent) -> None:
    assert isinstance(event, StaffRegistered)
    await uow.conn.execute(
        "INSERT INTO staff_seen (event_id, staff_id) VALUES ($1, $2)", envelope.id, event.staff_id
    )
    get_logger("probe.consumer").info("staff_seen", staff_id=str(event.staff_id))


def probe_definition(
    *, database_url: str, nats_url: str, site_id: UUID, stream: str = "BOOKING", **state: Any
) -> ServiceDefinition:
    settings = ServiceSettings(
        service_name="probe",
        nats_url=nats_url,
        database_url=database_url,
        api_keys=API_KEY,
        otel_exporter_otlp_endpoint=None,
    )
    spec = ConsumerSpec(
        f"probe-staff-{uuid4().hex[:8]}", stream, [f"booking.{site_id}.StaffRegistered"]
    )
    return ServiceDefinition(
        name="probe",
        settings=settings,
        migrations_dir=PROBE_MIGRATIONS,
        routes=[Route(spec, on_staff_registered)],
        routers=[router],
        state=dict(state),
    )
