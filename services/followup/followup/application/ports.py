"""What the application needs from storage. The asyncpg adapter and the unit tests' in-memory
store both implement `FollowupStore`; the event store itself is reached through the unit of work.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from counseling_shared.eventstore import NewEvent
from counseling_shared.unit_of_work import UnitOfWork
from followup.domain.appointments import Appointment
from followup.domain.client_care import ClientCare
from followup.domain.followup import FollowUp, Status
from followup.domain.measures.answers import CheckinAnswers
from followup.domain.measures.scoring import RecordedScore, Score
from followup.domain.policy import FollowUpPolicy
from followup.domain.regularity import Regularity


class ClientBusy(Exception):
    """The client stayed locked by another transaction longer than the caller would wait."""

    def __init__(self, client_id: UUID) -> None:
        super().__init__(f"client {client_id} is locked by another change")
        self.client_id = client_id


class RegularityStore(Protocol):
    """Contact regularity per client (the gap timer and the cool-off)."""

    async def regularity(self, client_id: UUID, *, for_update: bool = False) -> Regularity | None:
        """Callers hold the client's lock (or, for the gap timer, this row's) already."""

    async def save_regularity(self, state: Regularity) -> None:
        """Upsert the row; wakes the gap scheduler when its timer was armed or moved."""


class AppointmentStore(Protocol):
    """The client's appointments as booking reported them (read under the client's lock)."""

    async def appointment(self, appointment_id: UUID) -> Appointment | None: ...

    async def booked_appointments(self, client_id: UUID, after: datetime) -> list[Appointment]:
        """The client's booked appointments starting after `after`, by start."""

    async def save_appointment(self, state: Appointment) -> None: ...


class FollowupStore(RegularityStore, AppointmentStore, Protocol):
    """Projections of followup, read and written inside the caller's transaction."""

    async def site_timezone(self, site_id: UUID) -> str | None:
        """The site's IANA zone, when booking told us about the site."""

    async def site_version(self, site_id: UUID) -> int: ...

    async def save_site(self, site_id: UUID, timezone: str, locale: str, version: int) -> None: ...

    async def policy(self, site_id: UUID) -> tuple[FollowUpPolicy, int]:
        """The site's policy and its stream version (defaults and 0 when none was set)."""

    async def save_policy(self, site_id: UUID, policy: FollowUpPolicy, version: int) -> None: ...

    async def client(
        self, client_id: UUID, *, for_update: bool = False, lock_wait: timedelta | None = None
    ) -> ClientCare | None:
        """`for_update` locks the client first and then reads its fresh state, so one client's
        changes are serialised. The client lock is always taken before any follow-up lock of
        that client; a caller already holding a follow-up lock passes `lock_wait` and gets
        `ClientBusy` rather than waiting longer."""

    async def save_client(self, client: ClientCare) -> None: ...

    async def followup(self, followup_id: UUID, *, for_update: bool = False) -> FollowUp | None: ...

    async def open_followups(self, client_id: UUID) -> list[FollowUp]:
        """The client's scheduled and due follow-ups, locked, in id order."""

    async def save_followup(self, followup: FollowUp) -> None:
        """Upsert the projection row; wakes the schedulers when a timer was added or moved."""

    async def add_followup(
        self, uow: UnitOfWork, stream_id: str, events: Sequence[NewEvent], followup: FollowUp
    ) -> bool:
        """A new follow-up: its events appended to its new stream and its row saved (as
        `save_followup`), unless it has a row already; False then, and nothing written."""

    async def list_followups(
        self,
        *,
        client_id: UUID | None = None,
        status: Status | None = None,
        site_ids: Sequence[UUID] | None = None,
        limit: int = 500,
        after: tuple[datetime, UUID] | None = None,
    ) -> list[FollowUp]: ...


class MeasureStore(Protocol):
    """Check-in answers and the scores they make, inside the caller's transaction."""

    async def save_response(
        self,
        followup: FollowUp,
        link_id: UUID,
        answers: CheckinAnswers,
        submitted_at: datetime,
    ) -> bool:
        """Keep the answers; False (nothing written) when the follow-up was already answered."""

    async def save_score(self, followup: FollowUp, score: Score, recorded_at: datetime) -> None: ...

    async def scores_of(self, client_id: UUID) -> list[RecordedScore]:
        """The client's scores, oldest first."""


class ResponseLinkMaker(Protocol):
    """Makes the signed link a client answers a follow-up with."""

    def url_for(self, followup: FollowUp, now: datetime) -> str | None:
        """The link, or None for a kind that asks the client nothing."""
