"""In-memory stand-ins for the unit tests: a store that subclasses the port, and a unit of work
that records appends and publications instead of writing to PostgreSQL."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from counseling_shared.clock import ControllableClock
from counseling_shared.events import IntegrationEvent
from counseling_shared.eventstore import ConcurrencyConflict, NewEvent, RecordedEvent
from counseling_shared.unit_of_work import UnitOfWork
from followup.application.ports import FollowupStore
from followup.domain.appointments import Appointment, AppointmentStatus
from followup.domain.client_care import ClientCare
from followup.domain.followup import FollowUp, Status
from followup.domain.policy import DEFAULT_POLICY, FollowUpPolicy
from followup.domain.regularity import Regularity


class InMemoryFollowupStore(FollowupStore):
    def __init__(self) -> None:
        self.sites: dict[UUID, tuple[str, str, int]] = {}
        self.policies: dict[UUID, tuple[FollowUpPolicy, int]] = {}
        self.clients: dict[UUID, ClientCare] = {}
        self.followups: dict[UUID, FollowUp] = {}
        self.regularities: dict[UUID, Regularity] = {}
        self.appointments: dict[UUID, Appointment] = {}
        self.timer_wakeups = 0

    async def appointment(self, appointment_id: UUID) -> Appointment | None:
        return self.appointments.get(appointment_id)

    async def booked_appointments(self, client_id: UUID, after: datetime) -> list[Appointment]:
        return sorted(
            (
                a
                for a in self.appointments.values()
                if a.client_id == client_id
                and a.status is AppointmentStatus.BOOKED
                and a.start > after
            ),
            key=lambda a: (a.start, a.appointment_id),
        )

    async def save_appointment(self, state: Appointment) -> None:
        self.appointments[state.appointment_id] = state

    async def site_timezone(self, site_id: UUID) -> str | None:
        return self.sites[site_id][0] if site_id in self.sites else None

    async def site_version(self, site_id: UUID) -> int:
        return self.sites[site_id][2] if site_id in self.sites else 0

    async def save_site(self, site_id: UUID, timezone: str, locale: str, version: int) -> None:
        self.sites[site_id] = (timezone, locale, version)

    async def policy(self, site_id: UUID) -> tuple[FollowUpPolicy, int]:
        return self.policies.get(site_id, (DEFAULT_POLICY, 0))

    async def save_policy(self, site_id: UUID, policy: FollowUpPolicy, version: int) -> None:
        self.policies[site_id] = (policy, version)

    async def client(
        self, client_id: UUID, *, for_update: bool = False, lock_wait: timedelta | None = None
    ) -> ClientCare | None:
        return self.clients.get(client_id)

    async def save_client(self, client: ClientCare) -> None:
        self.clients[client.client_id] = client

    async def regularity(self, client_id: UUID, *, for_update: bool = False) -> Regularity | None:
        return self.regularities.get(client_id)

    async def save_regularity(self, state: Regularity) -> None:
        self.regularities[state.client_id] = state

    async def followup(self, followup_id: UUID, *, for_update: bool = False) -> FollowUp | None:
        return self.followups.get(followup_id)

    async def open_followups(self, client_id: UUID) -> list[FollowUp]:
        return sorted(
            (f for f in self.followups.values() if f.client_id == client_id and f.status.is_open),
            key=lambda f: f.id,
        )

    async def save_followup(self, followup: FollowUp) -> None:
        self.followups[followup.id] = followup
        if followup.status is Status.SCHEDULED:
            self.timer_wakeups += 1

    async def add_followup(
        self, uow: UnitOfWork, stream_id: str, events: Sequence[NewEvent], followup: FollowUp
    ) -> bool:
        if followup.id in self.followups:
            return False
        await uow.append(stream_id, 0, events)
        await self.save_followup(followup)
        return True

    async def list_followups(
        self,
        *,
        client_id: UUID | None = None,
        status: Status | None = None,
        site_ids: Sequence[UUID] | None = None,
        limit: int = 500,
        after: tuple[datetime, UUID] | None = None,
    ) -> list[FollowUp]:
        found = [
            f
            for f in self.followups.values()
            if (client_id is None or f.client_id == client_id)
            and (status is None or f.status is status)
            and (site_ids is None or f.site_id in site_ids)
            and (after is None or (f.due_at, f.id) > after)
        ]
        return sorted(found, key=lambda f: (f.due_at, f.id))[:limit]

    def of_client(self, client_id: UUID, status: Status | None = None) -> list[FollowUp]:
        return sorted(
            (
                f
                for f in self.followups.values()
                if f.client_id == client_id and (status is None or f.status is status)
            ),
            key=lambda f: (f.due_at, f.id),
        )


class RecordingUnitOfWork(UnitOfWork):
    """Appends go to a dict of streams (with the same optimistic check); nothing is flushed."""

    def __init__(self, clock: ControllableClock, streams: dict[str, list[NewEvent]]) -> None:
        super().__init__(cast(Any, None), source="followup", clock=clock)
        self.streams = streams

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[NewEvent]
    ) -> list[RecordedEvent]:
        stored = self.streams.setdefault(stream_id, [])
        if len(stored) != expected_version:
            raise ConcurrencyConflict(stream_id, expected_version)
        stored.extend(events)
        return []

    def events(self) -> list[IntegrationEvent]:
        from counseling_shared.envelope import REGISTRY

        return [REGISTRY.parse(e) for e in self.published]
