-- Group sessions: one counselor, maybe one room, several clients at the same time. The session
-- claims the counselor's and the room's time (a `slot_claims` row of kind `group_session`, no
-- client); each seat is an ordinary appointment naming its `group_session_id`, which claims
-- only its client's time: the session's claim already holds the counselor and the room.
CREATE TABLE group_sessions (
    id              uuid        PRIMARY KEY,
    site_id         uuid        NOT NULL REFERENCES sites (id),
    counselor_id    uuid        NOT NULL REFERENCES staff (id),
    room_id         uuid        REFERENCES rooms (id),
    modality        text        NOT NULL,
    start_at        timestamptz NOT NULL,
    end_at          timestamptz NOT NULL,
    capacity        integer     NOT NULL CHECK (capacity BETWEEN 2 AND 15),
    status          text        NOT NULL,  -- booked, cancelled
    scheduled_at    timestamptz NOT NULL,
    cancelled_by    text,
    cancel_reason   text,
    cancelled_at    timestamptz,
    version         integer     NOT NULL,
    CHECK (end_at > start_at)
);
CREATE INDEX group_sessions_by_counselor ON group_sessions (counselor_id, start_at);
CREATE INDEX group_sessions_by_start ON group_sessions (site_id, start_at);

ALTER TABLE appointments ADD COLUMN group_session_id uuid;
CREATE INDEX appointments_of_group_session ON appointments (group_session_id)
    WHERE group_session_id IS NOT NULL;

ALTER TABLE slot_claims ADD COLUMN group_session_id uuid;  -- a seat's claim: its client only
ALTER TABLE slot_claims DROP CONSTRAINT slot_claims_owner_kind_check,
    ADD CONSTRAINT slot_claims_owner_kind_check
        CHECK (owner_kind IN ('appointment', 'hold', 'group_session'));

-- The same constraints, same names; a seat no longer counts for its counselor and room (its
-- session's claim does), and still counts for its client.
ALTER TABLE appointments
    DROP CONSTRAINT appointments_counselor_free,
    ADD CONSTRAINT appointments_counselor_free EXCLUDE USING gist (
        counselor_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&
    ) WHERE (status = 'booked' AND group_session_id IS NULL),
    DROP CONSTRAINT appointments_room_free,
    ADD CONSTRAINT appointments_room_free EXCLUDE USING gist (
        room_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&
    ) WHERE (status = 'booked' AND room_id IS NOT NULL AND group_session_id IS NULL);

ALTER TABLE slot_claims
    DROP CONSTRAINT slot_claims_counselor_free,
    ADD CONSTRAINT slot_claims_counselor_free EXCLUDE USING gist (
        counselor_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&
    ) WHERE (group_session_id IS NULL),
    DROP CONSTRAINT slot_claims_room_free,
    ADD CONSTRAINT slot_claims_room_free EXCLUDE USING gist (
        room_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&
    ) WHERE (room_id IS NOT NULL AND group_session_id IS NULL);
