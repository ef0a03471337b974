-- A waitlist for a full group session: an entry, its offers, the hold keeping an offered seat
-- and a seat freed outside the offer window name the group (`group_session_id`; NULL for the
-- ordinary waitlist). A seat's hold claims only its client: the session's claim already holds
-- the counselor and the room, and the constraints on those skip a claim naming a group.
ALTER TABLE waitlist_entries ADD COLUMN group_session_id uuid;
ALTER TABLE waitlist_offers ADD COLUMN group_session_id uuid;
ALTER TABLE holds ADD COLUMN group_session_id uuid;
ALTER TABLE waitlist_deferred_slots ADD COLUMN group_session_id uuid;

-- A group's waiting clients in joining order; a client waits once per group.
CREATE UNIQUE INDEX waitlist_waiting_for_group ON waitlist_entries (group_session_id, client_id)
    WHERE status = 'waiting' AND group_session_id IS NOT NULL;
-- The seats held for a group's open offers, counted under the session's row lock.
CREATE INDEX holds_of_group_session ON holds (group_session_id)
    WHERE status = 'held' AND group_session_id IS NOT NULL;

-- An admin scheduled (or moved) the group onto a day its site is closed, on purpose
-- (`allow_closed_site`): its seats are taken and offered that day too.
ALTER TABLE group_sessions ADD COLUMN on_closed_day boolean NOT NULL DEFAULT false;

-- A recurring group session: its occurrences are ordinary group sessions, listed in order.
CREATE TABLE group_session_series (
    id                 uuid        PRIMARY KEY,
    site_id            uuid        NOT NULL REFERENCES sites (id),
    counselor_id       uuid        NOT NULL REFERENCES staff (id),
    room_id            uuid        REFERENCES rooms (id),
    modality           text        NOT NULL,
    capacity           integer     NOT NULL,
    rrule              text        NOT NULL,
    timezone           text        NOT NULL,
    duration_minutes   integer     NOT NULL,
    scheduled_at       timestamptz NOT NULL,
    group_session_ids  uuid[]      NOT NULL,
    cancelled_from     date,
    version            integer     NOT NULL
);
