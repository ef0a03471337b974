"""A fetched batch of booking events handled with a few statements (issue #12).

`BatchStore` is a `FollowupStore` for one run of messages: `load_sites` and `load` read and
lock, in a few statements, everything the handlers of those messages read (their sites and
policies, clients, open follow-ups, named follow-ups, named appointments and contact
regularity); the handlers
then read and write in memory, and `write` sends every write at once: the events in one
statement, then each row statement of the per-message store once as an `executemany`,
parents before children (or `take` hands over what was written so far, for the caller to
write while the handlers go on).

The handlers are the per-message ones, unchanged, so the rows and events are the same ones.
Each client's statements keep their order within each statement text, and each upsert is
keyed by its own aggregate (the regrouping argument of `counseling_shared.batched_writes`).
A read of something not loaded raises `NotLoaded`: the batch is then rolled back and replayed
message by message by the inbox, never answered from a stale read.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from counseling_shared import eventstore
from counseling_shared.batched_writes import Recorded, RecordedWrites, run
from counseling_shared.eventstore import ConcurrencyConflict, NewEvent, RecordedEvent
from counseling_shared.unit_of_work import UnitOfWork
from followup.adapters.appointment_store import appointment_from_row
from followup.adapters.postgres_store import (
    PostgresFollowupStore,
    client_from_row,
    followup_from_row,
    policy_from_row,
)
from followup.adapters.regularity_store import regularity_from_row
from followup.domain.appointments import Appointment, AppointmentStatus
from followup.domain.client_care import ClientCare
from followup.domain.followup import FollowUp, Status
from followup.domain.policy import DEFAULT_POLICY, FollowUpPolicy
from followup.domain.regularity import Regularity

if TYPE_CHECKING:
    from counseling_shared.db import Connection

_OPEN = (Status.SCHEDULED, Status.DUE)
# Parents before the rows that reference them; the wakes last (they are sent at commit).
_TABLE_ORDER = (
    "INTO clients",
    "INTO followup_preferences",
    "INTO contact_regularity",
    "INTO followups",
    "INTO appointments",
    "pg_notify",
)


class NotLoaded(LookupError):
    """A handler read something the batch did not load: replay the batch message by message."""


class _Writes(RecordedWrites):
    """The per-message store's statements, kept as they are (wakes too: a `pg_notify` per
    timer, as the per-message path sends them; PostgreSQL folds identical ones at commit)."""

    async def execute(self, sql: str, *args: Any) -> str:
        self._calls.setdefault(sql, []).append(args)
        self.recorded += 1
        return ""


def _table_rank(sql: str) -> int:
    return next((i for i, table in enumerate(_TABLE_ORDER) if table in sql), len(_TABLE_ORDER))


class BatchUnitOfWork(UnitOfWork):
    """The batch's unit of work for its handlers: appends are kept for `BatchStore.write`;
    events are published under the message being handled (`caused_by`)."""

    def __init__(self, outer: UnitOfWork) -> None:
        super().__init__(outer.conn, source=outer.source, clock=outer.clock)
        self.appends: list[tuple[str, int, list[NewEvent]]] = []

    async def append(
        self, stream_id: str, expected_version: int, events: Sequence[NewEvent]
    ) -> list[RecordedEvent]:
        """Kept, written by `BatchStore.write` (followup's handlers use no recorded event)."""
        if events:
            self.appends.append((stream_id, expected_version, list(events)))
        self.appended(stream_id)
        return []


class BatchStore(PostgresFollowupStore):
    """Reads from what `load` loaded; writes kept until `write`."""

    def __init__(self, conn: Connection) -> None:
        self._writes = _Writes()
        super().__init__(self._writes.connection)
        self._conn = conn
        self._client_ids: set[UUID] = set()
        self._clients: dict[UUID, ClientCare] = {}
        self._regularity: dict[UUID, Regularity] = {}
        self._regularity_ids: set[UUID] = set()  # looked up (found or not)
        self._followups: dict[UUID, FollowUp] = {}
        # Each client's follow-ups' ids, so `open_followups` does not scan the whole batch's.
        self._of_client: dict[UUID, set[UUID]] = {}
        self._followup_ids: set[UUID] = set()  # looked up (found or not)
        self._open_ids: set[UUID] = set()  # the clients whose open follow-ups were read
        self._site_ids: set[UUID] = set()
        self._zones: dict[UUID, str | None] = {}
        self._policies: dict[UUID, tuple[FollowUpPolicy, int]] = {}
        self._appointments: dict[UUID, Appointment] = {}
        self._appointment_ids: set[UUID] = set()  # looked up (found or not)
        self._booked_of: set[UUID] = set()  # the clients whose booked appointments were read

    async def load_sites(self, site_ids: Collection[UUID]) -> None:
        """The sites' zones and policies, in one statement (not locked: the per-message
        handlers read them without a lock too). First, so that the caller can derive the
        follow-up ids a policy gives (the reminders') before `load`."""
        sites = sorted(set(site_ids))
        for row in await self._conn.fetch(
            """SELECT x.wanted, s.timezone AS site_timezone, p.*
               FROM unnest($1::uuid[]) AS x(wanted)
               LEFT JOIN sites s ON s.site_id = x.wanted
               LEFT JOIN followup_policies p ON p.site_id = x.wanted""",
            sites,
        ):
            self._zones[row["wanted"]] = row["site_timezone"]
            if row["site_id"] is not None:
                self._policies[row["wanted"]] = policy_from_row(row)
        self._site_ids.update(sites)

    async def load(
        self,
        client_ids: Collection[UUID],
        followup_ids: Collection[UUID] = (),
        *,
        open_of: Collection[UUID] | None = None,
        regularity: bool = True,
        appointment_ids: Collection[UUID] = (),
        booked_of: Collection[UUID] = (),
    ) -> None:
        """Lock the clients (in id order, as one statement) and read what their handlers read:
        their rows, the open follow-ups (locked, as `open_followups`) of `open_of` (default:
        every client), `followup_ids`, `appointment_ids` and the booked appointments of
        `booked_of` (under the clients' locks), and
        (unless no handler of the run reads it: `regularity`) their contact regularity."""
        clients = sorted(set(client_ids))
        ids = sorted(set(followup_ids))
        # A client booked far ahead has many open reminders: read only where a handler asks.
        with_open = clients if open_of is None else sorted(set(open_of))
        conn = self._conn
        await conn.execute(
            "SELECT 1 FROM clients WHERE client_id = ANY($1::uuid[]) ORDER BY client_id FOR UPDATE",
            clients,
        )
        # Read after the lock, in statements of their own (see `PostgresFollowupStore.client`).
        for row in await conn.fetch(
            """SELECT c.*, p.channel, p.intensity FROM clients c
               LEFT JOIN followup_preferences p USING (client_id)
               WHERE c.client_id = ANY($1::uuid[])""",
            clients,
        ):
            self._clients[row["client_id"]] = client_from_row(row)
        for row in await conn.fetch(
            """SELECT * FROM followups
               WHERE (client_id = ANY($1::uuid[]) AND status IN ('scheduled', 'due'))
                  OR id = ANY($2::uuid[])
               ORDER BY id FOR UPDATE""",
            with_open,
            ids,
        ):
            self._keep_followup(followup_from_row(row))
        self._open_ids.update(with_open)
        if regularity:
            for row in await conn.fetch(
                "SELECT * FROM contact_regularity WHERE id = ANY($1::uuid[])", clients
            ):
                self._regularity[row["id"]] = regularity_from_row(row)
            self._regularity_ids.update(clients)
        booked = sorted(set(booked_of))
        if appointment_ids or booked:
            wanted = sorted(set(appointment_ids))
            for row in await conn.fetch(
                """SELECT * FROM appointments WHERE appointment_id = ANY($1::uuid[])
                      OR (client_id = ANY($2::uuid[]) AND status = 'booked')""",
                wanted,
                booked,
            ):
                self._appointments[row["appointment_id"]] = appointment_from_row(row)
                self._appointment_ids.add(row["appointment_id"])
            self._appointment_ids.update(wanted)
            self._booked_of.update(booked)
        self._client_ids.update(clients)
        self._followup_ids.update(ids)

    async def write(self, uow: BatchUnitOfWork) -> None:
        """The batch's events in one statement, then each row statement once."""
        await self.take(uow).write(self._conn)

    def take(self, uow: BatchUnitOfWork) -> Writes:
        """What the handlers wrote since the last `take`, forgotten here: written later by
        `Writes.write` while the handlers go on (they read what `load` loaded, never these)."""
        appends, uow.appends = uow.appends, []
        calls = self._writes.take()
        return Writes(appends, {sql: calls[sql] for sql in sorted(calls, key=_table_rank)})

    # Reads: what `load` loaded, as the handlers' own writes left it.

    def _client_loaded(self, client_id: UUID) -> None:
        if client_id not in self._client_ids:
            raise NotLoaded(f"client {client_id}")

    def _site_loaded(self, site_id: UUID) -> None:
        if site_id not in self._site_ids:
            raise NotLoaded(f"site {site_id}")

    async def site_timezone(self, site_id: UUID) -> str | None:
        self._site_loaded(site_id)
        return self._zones.get(site_id)

    async def policy(self, site_id: UUID) -> tuple[FollowUpPolicy, int]:
        self._site_loaded(site_id)
        return self._policies.get(site_id, (DEFAULT_POLICY, 0))

    async def client(
        self, client_id: UUID, *, for_update: bool = False, lock_wait: timedelta | None = None
    ) -> ClientCare | None:
        self._client_loaded(client_id)  # locked by `load`
        return self._clients.get(client_id)

    async def regularity(self, client_id: UUID, *, for_update: bool = False) -> Regularity | None:
        if client_id not in self._regularity_ids:
            raise NotLoaded(f"contact regularity {client_id}")
        return self._regularity.get(client_id)

    async def followup(self, followup_id: UUID, *, for_update: bool = False) -> FollowUp | None:
        found = self._followups.get(followup_id)
        if found is None and followup_id not in self._followup_ids:
            raise NotLoaded(f"follow-up {followup_id}")
        return found

    async def open_followups(self, client_id: UUID) -> list[FollowUp]:
        if client_id not in self._open_ids:
            raise NotLoaded(f"open follow-ups of {client_id}")
        found = (self._followups[i] for i in self._of_client.get(client_id, ()))
        return sorted((f for f in found if f.status in _OPEN), key=lambda f: f.id)

    async def appointment(self, appointment_id: UUID) -> Appointment | None:
        if appointment_id not in self._appointment_ids:
            raise NotLoaded(f"appointment {appointment_id}")
        return self._appointments.get(appointment_id)

    async def booked_appointments(self, client_id: UUID, after: datetime) -> list[Appointment]:
        if client_id not in self._booked_of:
            raise NotLoaded(f"booked appointments of {client_id}")
        return sorted(
            (
                a
                for a in self._appointments.values()
                if a.client_id == client_id
                and a.status is AppointmentStatus.BOOKED
                and a.start > after
            ),
            key=lambda a: (a.start, a.appointment_id),
        )

    def _keep_followup(self, followup: FollowUp) -> None:
        self._followups[followup.id] = followup
        self._of_client.setdefault(followup.client_id, set()).add(followup.id)

    # Writes: kept in memory for the reads above, and recorded for `write`.

    async def save_client(self, client: ClientCare, **kwargs: Any) -> None:
        self._clients[client.client_id] = client
        self._client_ids.add(client.client_id)
        await super().save_client(client, **kwargs)

    async def save_regularity(self, state: Regularity) -> None:
        self._regularity[state.client_id] = state
        self._regularity_ids.add(state.client_id)
        await super().save_regularity(state)

    async def save_followup(self, followup: FollowUp) -> None:
        self._keep_followup(followup)
        self._followup_ids.add(followup.id)
        await super().save_followup(followup)

    async def add_followup(
        self, uow: UnitOfWork, stream_id: str, events: Sequence[NewEvent], followup: FollowUp
    ) -> bool:
        """As the per-message store: nothing written when the follow-up has a row (a new id
        the batch did not look up is a fresh uuid4; if it had a stream, `write`'s insert of
        its first event conflicts and the batch is replayed message by message)."""
        if followup.id in self._followups:
            return False
        await uow.append(stream_id, 0, events)
        await self.save_followup(followup)
        return True

    async def save_appointment(self, state: Appointment) -> None:
        self._appointments[state.appointment_id] = state
        self._appointment_ids.add(state.appointment_id)
        await super().save_appointment(state)

    async def save_site(self, *args: Any, **kwargs: Any) -> None:
        raise NotLoaded("a site is written message by message")

    async def save_policy(self, *args: Any, **kwargs: Any) -> None:
        raise NotLoaded("a policy is written message by message")


@dataclass(frozen=True)
class Writes:
    """Some messages' writes: their events, then each row statement's calls (parents first)."""

    appends: list[tuple[str, int, list[NewEvent]]]
    calls: Recorded

    async def write(self, conn: Connection) -> None:
        """The events in one statement, then each row statement once as an `executemany`."""
        await _append_all(conn, self.appends)
        await run(conn, self.calls)


async def _append_all(conn: Connection, appends: list[tuple[str, int, list[NewEvent]]]) -> None:
    """Every kept append in one insert, in their order. Each append continues its stream from
    the version the batch read under the client's lock; an event whose (stream, version) is
    taken means a writer got there meanwhile: `ConcurrencyConflict`, and the batch is replayed
    message by message."""
    if not appends:
        return
    columns: list[list[Any]] = [[] for _ in range(6)]
    for stream_id, expected_version, events in appends:
        values = eventstore.append_values(stream_id, expected_version, events)
        for column, added in zip(columns, values[:6], strict=True):
            column.extend(added)
    # The data and metadata as two JSON arrays: one `json.dumps` each instead of one per
    # value (what a `jsonb[]` costs here, about half of the statement's time in this process).
    written = await conn.fetch(
        """INSERT INTO events (id, stream_id, version, type, data, metadata)
           SELECT e.id, e.stream_id, e.version, e.type, d.value, m.value
           FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[])
                    WITH ORDINALITY AS e(id, stream_id, version, type, n)
           JOIN jsonb_array_elements($5::text::jsonb) WITH ORDINALITY AS d(value, n) USING (n)
           JOIN jsonb_array_elements($6::text::jsonb) WITH ORDINALITY AS m(value, n) USING (n)
           ORDER BY e.n
           ON CONFLICT (stream_id, version) DO NOTHING
           RETURNING id""",
        *columns[:4],
        json.dumps(columns[4]),
        json.dumps(columns[5]),
    )
    if len(written) != len(columns[0]):
        kept = {r["id"] for r in written}
        for stream_id, expected_version, events in appends:
            if any(e.id not in kept for e in events):
                raise ConcurrencyConflict(stream_id, expected_version)
