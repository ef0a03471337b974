"""asyncpg implementation of `FollowupStore`: the projection tables of migrations/0001."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from counseling_shared import eventstore
from counseling_shared.codes import (
    Channel,
    FollowUpKind,
    FollowUpOutcome,
    GoalHorizon,
    Intensity,
    RiskLevel,
)
from counseling_shared.eventstore import ConcurrencyConflict, NewEvent
from counseling_shared.scheduler import notify_timer_added, timer_payload
from counseling_shared.tracing import current_trace_headers
from followup.adapters.appointment_store import PostgresAppointmentStore
from followup.adapters.regularity_store import PostgresRegularityStore
from followup.application.ports import ClientBusy
from followup.domain.client_care import ClientCare
from followup.domain.followup import CancelReason, FollowUp, Progress, Status
from followup.domain.policy import DEFAULT_POLICY, FollowUpPolicy, policy_from_text
from followup.domain.preferences import FollowUpPreferences

if TYPE_CHECKING:
    from counseling_shared.db import Connection
    from counseling_shared.unit_of_work import UnitOfWork

TIMER_CHANNEL = "followups_due"


_ROW_COLUMNS = """id, client_id, site_id, kind, due_at, status, goal_horizon, session_id,
    cancel_reason, outcome, satisfaction, risk_level, progress_achieved, progress_challenges,
    progress_next_steps, completed_at, created_at, updated_at, version, trace_headers,
    counselor_id, appointment_start, manage_url"""


_NO_PROGRESS = Progress()  # frozen: one for every row without (a rebuild writes thousands)


def _row_values(followup: FollowUp, trace_headers_json: str | None) -> tuple[object, ...]:
    """A follow-up's row, in `_ROW_COLUMNS`' order (its trace headers as JSON text: the
    statements cast them, so that a rebuild writes back the text it read, undecoded)."""
    progress = followup.progress or _NO_PROGRESS
    return (
        followup.id,
        followup.client_id,
        followup.site_id,
        followup.kind,
        followup.due_at,
        followup.status,
        followup.goal_horizon,
        followup.session_id,
        followup.cancel_reason,
        followup.outcome,
        followup.satisfaction,
        followup.risk_level,
        progress.achieved,
        progress.challenges,
        progress.next_steps,
        followup.completed_at,
        followup.created_at,
        followup.updated_at,
        followup.version,
        # Kept from the first insert only: the trace of the flow that planned it.
        trace_headers_json,
        followup.counselor_id,
        followup.appointment_start,
        followup.manage_url,
    )


_ROW_COLUMN_NAMES = tuple(" ".join(_ROW_COLUMNS.split()).split(", "))


_UPSERT_FOLLOWUP = f"""INSERT INTO followups ({_ROW_COLUMNS})
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                       $17, $18, $19, $20::text::jsonb, $21, $22, $23)
               ON CONFLICT (id) DO UPDATE SET due_at = $5, status = $6, cancel_reason = $9,
                   outcome = $10, satisfaction = $11, risk_level = $12, progress_achieved = $13,
                   progress_challenges = $14, progress_next_steps = $15, completed_at = $16,
                   updated_at = $18, version = $19"""


_CLIENT_COLUMNS = (
    "client_id",
    "site_id",
    "timezone",
    "locale",
    "session_id",
    "session_completed_at",
    "goal_horizon",
    "episode_closed_on",
    "version",
    "counselor_id",
)


def _client_row(client: ClientCare) -> tuple[object, ...]:
    """A client's `clients` row, in `_CLIENT_COLUMNS`' order."""
    return (
        client.client_id,
        client.site_id,
        client.timezone,
        client.locale,
        client.session_id,
        client.session_completed_at,
        client.goal_horizon,
        client.episode_closed_on,
        client.version,
        client.counselor_id,
    )


def _current_trace_json() -> str | None:
    """The current trace's headers as JSON text (None outside a trace)."""
    headers = current_trace_headers()
    return json.dumps(headers) if headers else None


class PostgresFollowupStore(PostgresRegularityStore, PostgresAppointmentStore):
    def __init__(
        self,
        conn: Connection,
        *,
        wake_apart: bool = False,
        kept_traces: Mapping[UUID, str] | None = None,
    ) -> None:
        """`wake_apart`: a scheduled follow-up wakes the schedulers by a statement of its own
        (`notify_timer_added`, no due time), for a caller that collects the wakes and sends
        each channel once (a rebuild's batched writes); otherwise the wake goes with the row.
        `kept_traces` (a rebuild's): a new follow-up row gets the trace headers kept for its
        id (the column's JSON text), none when none was kept, instead of the current trace's
        (the row is written once, with them, rather than updated afterwards)."""
        self.conn = conn
        self._wake_apart = wake_apart
        self._kept_traces = kept_traces
        self._replays_woke = False

    def _trace_headers_json(self, followup: FollowUp) -> str | None:
        if self._kept_traces is not None:
            return self._kept_traces.get(followup.id)
        return _current_trace_json()

    async def site_timezone(self, site_id: UUID) -> str | None:
        zone: str | None = await self.conn.fetchval(
            "SELECT timezone FROM sites WHERE site_id = $1", site_id
        )
        return zone

    async def site_version(self, site_id: UUID) -> int:
        version: int | None = await self.conn.fetchval(
            "SELECT version FROM sites WHERE site_id = $1", site_id
        )
        return version or 0

    async def save_site(
        self, site_id: UUID, timezone: str, locale: str, version: int, *, at: datetime | None = None
    ) -> None:
        """`at` stamps `updated_at` (default: this transaction's `now()`; a rebuild passes the
        time the event was recorded)."""
        await self.conn.execute(
            """INSERT INTO sites (site_id, timezone, locale, version, updated_at)
               VALUES ($1, $2, $3, $4, coalesce($5::timestamptz, now()))
               ON CONFLICT (site_id) DO UPDATE SET timezone = $2, locale = $3, version = $4,
                   updated_at = coalesce($5::timestamptz, now())""",
            site_id,
            timezone,
            locale,
            version,
            at,
        )

    async def policy(self, site_id: UUID) -> tuple[FollowUpPolicy, int]:
        row = await self.conn.fetchrow(
            "SELECT * FROM followup_policies WHERE site_id = $1", site_id
        )
        return policy_from_row(row) if row is not None else (DEFAULT_POLICY, 0)

    async def save_policy(
        self, site_id: UUID, policy: FollowUpPolicy, version: int, *, at: datetime | None = None
    ) -> None:
        text = policy.as_text()
        await self.conn.execute(
            """INSERT INTO followup_policies (site_id, first_checkin_after, short_term_every,
                   long_term_every, no_show_outreach_after, post_closure_checkins, version,
                   updated_at, max_contact_gap, negative_contact_cooloff, measures,
                   emergency_line, satisfaction_survey_after, appointment_reminders,
                   notify_counselor_from_band, review_bands)
               VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8::timestamptz, now()), $9, $10,
                   $11, $12, $13, $14, $15, $16)
               ON CONFLICT (site_id) DO UPDATE SET first_checkin_after = $2,
                   short_term_every = $3, long_term_every = $4, no_show_outreach_after = $5,
                   post_closure_checkins = $6, version = $7,
                   updated_at = coalesce($8::timestamptz, now()),
                   max_contact_gap = $9, negative_contact_cooloff = $10, measures = $11,
                   emergency_line = $12, satisfaction_survey_after = $13,
                   appointment_reminders = $14, notify_counselor_from_band = $15,
                   review_bands = $16""",
            site_id,
            text["first_checkin_after"],
            text["short_term_every"],
            text["long_term_every"],
            text["no_show_outreach_after"],
            text["post_closure_checkins"],
            version,
            at,
            text["max_contact_gap"],
            text["negative_contact_cooloff"],
            text["measures"],
            text["emergency_line"],
            text["satisfaction_survey_after"],
            text["appointment_reminders"],
            text["notify_counselor_from_band"],
            text["review_bands"],
        )

    async def client(
        self, client_id: UUID, *, for_update: bool = False, lock_wait: timedelta | None = None
    ) -> ClientCare | None:
        if for_update:
            await self._lock_client(client_id, lock_wait)
        # Read after the lock, in a statement of its own: under READ COMMITTED a joined
        # `FOR UPDATE OF c` re-checks only the locked row after a lock wait and would keep the
        # stale preferences row of the transaction it waited for.
        row = await self.conn.fetchrow(
            """SELECT c.*, p.channel, p.intensity FROM clients c
               LEFT JOIN followup_preferences p USING (client_id)
               WHERE c.client_id = $1""",
            client_id,
        )
        return client_from_row(row) if row is not None else None

    async def _lock_client(self, client_id: UUID, lock_wait: timedelta | None) -> None:
        if lock_wait is None:
            await self.conn.execute(
                "SELECT 1 FROM clients WHERE client_id = $1 FOR UPDATE", client_id
            )
            return
        # A bounded wait: the caller already holds another lock (a follow-up row), so waiting
        # without bound could deadlock with a transaction that locks the client first.
        previous = await self.conn.fetchval("SELECT current_setting('lock_timeout')")
        await self.conn.execute(
            "SELECT set_config('lock_timeout', $1, true)",
            f"{max(int(lock_wait.total_seconds() * 1000), 1)}ms",
        )
        try:
            await self.conn.execute(
                "SELECT 1 FROM clients WHERE client_id = $1 FOR UPDATE", client_id
            )
        except asyncpg.LockNotAvailableError as exc:
            raise ClientBusy(client_id) from exc
        await self.conn.execute("SELECT set_config('lock_timeout', $1, true)", previous)

    async def save_client(self, client: ClientCare, *, at: datetime | None = None) -> None:
        """`at` stamps a preferences change (default: this transaction's `now()`)."""
        await self.conn.execute(
            f"""INSERT INTO clients ({", ".join(_CLIENT_COLUMNS)})
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
               ON CONFLICT (client_id) DO UPDATE SET site_id = $2, timezone = $3, locale = $4,
                   session_id = $5, session_completed_at = $6, goal_horizon = $7,
                   episode_closed_on = $8, version = $9, counselor_id = $10""",
            *_client_row(client),
        )
        prefs = client.preferences
        await self.conn.execute(
            """INSERT INTO followup_preferences (client_id, channel, intensity, updated_at)
               VALUES ($1, $2, $3, coalesce($4::timestamptz, now()))
               ON CONFLICT (client_id) DO UPDATE SET channel = $2, intensity = $3,
                   updated_at = coalesce($4::timestamptz, now())
               WHERE (followup_preferences.channel, followup_preferences.intensity)
                     IS DISTINCT FROM ($2, $3)""",
            client.client_id,
            prefs.channel,
            prefs.intensity,
            at,
        )

    async def save_replayed_client(self, client: ClientCare, *, preferences_at: datetime) -> None:
        """A rebuild's save into the emptied tables: `save_client`'s two rows as plain inserts
        (one COPY per table a batch, by a rebuild's recorder), once per client, from its final
        state. `preferences_at`: when its preferences last changed, the time `save_client`'s
        upsert leaves (it keeps the row's time while the preferences are the same)."""
        await self.conn.copy_records_to_table(
            "clients", records=(_client_row(client),), columns=_CLIENT_COLUMNS
        )
        prefs = client.preferences
        await self.conn.copy_records_to_table(
            "followup_preferences",
            records=((client.client_id, prefs.channel, prefs.intensity, preferences_at),),
            columns=("client_id", "channel", "intensity", "updated_at"),
        )

    async def followup(self, followup_id: UUID, *, for_update: bool = False) -> FollowUp | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self.conn.fetchrow(f"SELECT * FROM followups WHERE id = $1{lock}", followup_id)
        return followup_from_row(row) if row else None

    async def open_followups(self, client_id: UUID) -> list[FollowUp]:
        rows = await self.conn.fetch(
            """SELECT * FROM followups WHERE client_id = $1 AND status IN ('scheduled', 'due')
               ORDER BY id FOR UPDATE""",
            client_id,
        )
        return [followup_from_row(r) for r in rows]

    async def save_followup(self, followup: FollowUp) -> None:
        scheduled = followup.status is Status.SCHEDULED
        row = _row_values(followup, self._trace_headers_json(followup))
        if self._wake_apart:
            # The caller wakes the schedulers itself: the upsert alone (a rebuild runs it for
            # every follow-up; wrapped to wake, it cost PostgreSQL a CTE per row).
            await self.conn.execute(_UPSERT_FOLLOWUP, *row)
            if scheduled:
                await notify_timer_added(self.conn, TIMER_CHANNEL)
            return
        # The scheduler's wake-up goes with the row (one round trip): a NOTIFY is delivered at
        # commit, and only for a follow-up left scheduled.
        await self.conn.execute(
            f"""WITH saved AS ({_UPSERT_FOLLOWUP} RETURNING 1)
               SELECT pg_notify($24, $25) FROM saved WHERE $26""",
            *row,
            TIMER_CHANNEL,
            timer_payload(followup.due_at),
            scheduled,
        )

    async def save_replayed_followup(self, followup: FollowUp) -> None:
        """A rebuild's save into the emptied table: the row as a plain insert, which a
        rebuild's recorder turns into one COPY per batch (`batched_writes`; needs
        `db.binary_jsonb`). Once per follow-up, from its final state (what the upserts after
        each transaction would leave): a second save of one follow-up would be refused by the
        primary key. The kept trace headers are to be `db.JsonText` (sent as read); the wake
        goes apart, as with `wake_apart`."""
        await self.conn.copy_records_to_table(
            "followups",
            records=(_row_values(followup, self._trace_headers_json(followup)),),
            columns=_ROW_COLUMN_NAMES,
        )
        if followup.status is Status.SCHEDULED and not self._replays_woke:
            # Once: the recorder's wakes are one per channel for the whole rebuild anyway.
            self._replays_woke = True
            await notify_timer_added(self.conn, TIMER_CHANNEL)

    async def add_followup(
        self, uow: UnitOfWork, stream_id: str, events: Sequence[NewEvent], followup: FollowUp
    ) -> bool:
        """A new follow-up's events, its row and its scheduler wake-up in one statement,
        written only when it has no row yet (False: nothing written)."""
        scheduled = followup.status is Status.SCHEDULED
        only_if = "NOT EXISTS (SELECT 1 FROM followups WHERE id = $1)"
        row = await self.conn.fetchrow(
            f"""WITH appended AS ({eventstore.append_statement(27, only_if=only_if)}),
                     saved AS (
                         INSERT INTO followups ({_ROW_COLUMNS})
                         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                                $15, $16, $17, $18, $19, $20::text::jsonb, $21, $22, $23
                         WHERE EXISTS (SELECT 1 FROM appended)
                         ON CONFLICT (id) DO NOTHING
                         RETURNING 1)
                SELECT (SELECT count(*) FROM appended) AS appended,
                       (SELECT count(*) FROM saved) AS saved,
                       (SELECT pg_notify($24, $25) FROM saved WHERE $26) AS woken""",
            *_row_values(followup, _current_trace_json()),
            TIMER_CHANNEL,
            timer_payload(followup.due_at),
            scheduled and not self._wake_apart,
            *eventstore.append_values(stream_id, 0, events),
        )
        assert row is not None
        if row["appended"] == 0:
            return False  # planned before, or its stream begun meanwhile: decided again
        if row["appended"] != len(events) or row["saved"] != 1:
            raise ConcurrencyConflict(stream_id, 0)  # a writer got there meanwhile: retried
        uow.appended(stream_id)
        if scheduled and self._wake_apart:
            await notify_timer_added(self.conn, TIMER_CHANNEL, followup.due_at)
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
        """By due time; `after` continues a page after that (due_at, id)."""
        rows = await self.conn.fetch(
            """SELECT * FROM followups
               WHERE ($1::uuid IS NULL OR client_id = $1)
                 AND ($2::text IS NULL OR status = $2)
                 AND ($3::uuid[] IS NULL OR site_id = ANY($3))
                 AND ($5::timestamptz IS NULL OR (due_at, id) > ($5, $6::uuid))
               ORDER BY due_at, id LIMIT $4""",
            client_id,
            status,
            list(site_ids) if site_ids is not None else None,
            limit,
            after[0] if after else None,
            after[1] if after else None,
        )
        return [followup_from_row(r) for r in rows]


def followup_from_row(row: asyncpg.Record) -> FollowUp:
    has_progress = any(
        row[c] is not None
        for c in ("progress_achieved", "progress_challenges", "progress_next_steps")
    )
    return FollowUp(
        id=row["id"],
        client_id=row["client_id"],
        site_id=row["site_id"],
        kind=FollowUpKind(row["kind"]),
        due_at=row["due_at"],
        status=Status(row["status"]),
        version=row["version"],
        goal_horizon=GoalHorizon(row["goal_horizon"]) if row["goal_horizon"] else None,
        session_id=row["session_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        cancel_reason=CancelReason(row["cancel_reason"]) if row["cancel_reason"] else None,
        outcome=FollowUpOutcome(row["outcome"]) if row["outcome"] else None,
        progress=(
            Progress(
                row["progress_achieved"], row["progress_challenges"], row["progress_next_steps"]
            )
            if has_progress
            else None
        ),
        satisfaction=row["satisfaction"],
        risk_level=RiskLevel(row["risk_level"]) if row["risk_level"] else None,
        completed_at=row["completed_at"],
        counselor_id=row["counselor_id"],
        appointment_start=row["appointment_start"],
        manage_url=row["manage_url"],
    )


def policy_from_row(row: asyncpg.Record) -> tuple[FollowUpPolicy, int]:
    """A `followup_policies` row: the policy and its stream version."""
    policy = policy_from_text(
        {
            "first_checkin_after": row["first_checkin_after"],
            "short_term_every": row["short_term_every"],
            "long_term_every": row["long_term_every"],
            "no_show_outreach_after": row["no_show_outreach_after"],
            "post_closure_checkins": list(row["post_closure_checkins"]),
            "max_contact_gap": row["max_contact_gap"],
            "negative_contact_cooloff": row["negative_contact_cooloff"],
            "measures": row["measures"],
            "emergency_line": row["emergency_line"],
            "satisfaction_survey_after": row["satisfaction_survey_after"],
            "appointment_reminders": list(row["appointment_reminders"]),
            "notify_counselor_from_band": row["notify_counselor_from_band"],
            "review_bands": row["review_bands"],
        }
    )
    return policy, row["version"]


def client_from_row(row: asyncpg.Record) -> ClientCare:
    """A `clients` row joined with its `followup_preferences` (channel, intensity)."""
    return ClientCare(
        client_id=row["client_id"],
        version=row["version"],
        site_id=row["site_id"],
        timezone=row["timezone"],
        locale=row["locale"],
        preferences=FollowUpPreferences(
            Channel(row["channel"]) if row["channel"] else None,
            Intensity(row["intensity"]) if row["intensity"] else Intensity.STANDARD,
        ),
        session_id=row["session_id"],
        session_completed_at=row["session_completed_at"],
        goal_horizon=GoalHorizon(row["goal_horizon"]) if row["goal_horizon"] else None,
        episode_closed_on=row["episode_closed_on"],
        counselor_id=row["counselor_id"],
    )
