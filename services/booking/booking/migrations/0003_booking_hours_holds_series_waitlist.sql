-- Integrations on the booking side: working hours, site booking rules (buffer, missed-session
-- fee), slot holds, recurring series and the waitlist.

-- Every booked appointment and every live hold claims its counselor, room and client for its
-- `[start, end)`: one table, one set of exclusion constraints, so a hold blocks a slot exactly
-- as an appointment does (and two concurrent claims cannot both win).
CREATE TABLE slot_claims (
    owner_id      uuid        PRIMARY KEY,   -- the appointment's or the hold's id
    owner_kind    text        NOT NULL CHECK (owner_kind IN ('appointment', 'hold')),
    site_id       uuid        NOT NULL,
    counselor_id  uuid        NOT NULL,
    room_id       uuid,
    client_id     uuid,
    start_at      timestamptz NOT NULL,
    end_at        timestamptz NOT NULL,
    CHECK (end_at > start_at),
    CONSTRAINT slot_claims_counselor_free EXCLUDE USING gist (
        counselor_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&
    ),
    CONSTRAINT slot_claims_room_free EXCLUDE USING gist (
        room_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&
    ),
    CONSTRAINT slot_claims_client_free EXCLUDE USING gist (
        client_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&
    )
);
CREATE INDEX slot_claims_by_site ON slot_claims (site_id, start_at);

INSERT INTO slot_claims (owner_id, owner_kind, site_id, counselor_id, room_id, client_id,
                         start_at, end_at)
SELECT id, 'appointment', site_id, counselor_id, room_id, client_id, start_at, end_at
FROM appointments WHERE status = 'booked';

-- A missed session's fee, when the site sets one (late client cancellation or no-show).
ALTER TABLE appointments ADD COLUMN fee_amount numeric(12, 2);
ALTER TABLE appointments ADD COLUMN fee_currency text;

CREATE TABLE working_hours (
    staff_id    uuid        PRIMARY KEY REFERENCES staff (id),
    site_id     uuid        NOT NULL REFERENCES sites (id),
    weekly      jsonb       NOT NULL,  -- [{"weekday": 1-7, "from": "09:00", "to": "17:00"}]
    exceptions  jsonb       NOT NULL,  -- [{"date": "2030-12-24", "off": true} | {…, from, to}]
    set_at      timestamptz NOT NULL,
    version     integer     NOT NULL
);
CREATE INDEX working_hours_by_site ON working_hours (site_id);

CREATE TABLE site_booking_rules (
    site_id          uuid        PRIMARY KEY REFERENCES sites (id),
    buffer_minutes   integer     NOT NULL,
    fee_amount       numeric(12, 2),
    fee_currency     text,
    set_at           timestamptz NOT NULL,
    version          integer     NOT NULL
);

-- A hold's `due_at` is its expiry: the durable timer releases it then.
CREATE TABLE holds (
    id              uuid        PRIMARY KEY,
    site_id         uuid        NOT NULL REFERENCES sites (id),
    counselor_id    uuid        NOT NULL REFERENCES staff (id),
    client_id       uuid        REFERENCES clients (id),
    room_id         uuid        REFERENCES rooms (id),
    modality        text        NOT NULL,
    start_at        timestamptz NOT NULL,
    end_at          timestamptz NOT NULL,
    placed_at       timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    status          text        NOT NULL,  -- held, booked, expired
    appointment_id  uuid,
    released_at     timestamptz,
    version         integer     NOT NULL
);
CREATE INDEX holds_due ON holds (due_at) WHERE status = 'held';

CREATE TABLE appointment_series (
    id                uuid        PRIMARY KEY,
    site_id           uuid        NOT NULL REFERENCES sites (id),
    counselor_id      uuid        NOT NULL REFERENCES staff (id),
    client_id         uuid        NOT NULL REFERENCES clients (id),
    room_id           uuid        REFERENCES rooms (id),
    modality          text        NOT NULL,
    rrule             text        NOT NULL,
    timezone          text        NOT NULL,
    duration_minutes  integer     NOT NULL,
    booked_at         timestamptz NOT NULL,
    cancelled_from    date,
    version           integer     NOT NULL
);

CREATE TABLE series_appointments (
    appointment_id  uuid        PRIMARY KEY,
    series_id       uuid        NOT NULL REFERENCES appointment_series (id),
    occurrence      integer     NOT NULL,
    UNIQUE (series_id, occurrence)
);

CREATE TABLE waitlist_entries (
    id            uuid        PRIMARY KEY,
    site_id       uuid        NOT NULL REFERENCES sites (id),
    client_id     uuid        NOT NULL REFERENCES clients (id),
    counselor_id  uuid        REFERENCES staff (id),
    modality      text,
    earliest      timestamptz,
    latest        timestamptz,
    weekdays      integer[],
    joined_at     timestamptz NOT NULL,
    status        text        NOT NULL,  -- waiting, booked
    version       integer     NOT NULL
);
CREATE INDEX waitlist_waiting ON waitlist_entries (site_id, joined_at) WHERE status = 'waiting';

-- One offer of a freed slot to one entry; the slot is held by `hold_id` until it expires.
CREATE TABLE waitlist_offers (
    id              uuid        PRIMARY KEY,
    entry_id        uuid        NOT NULL REFERENCES waitlist_entries (id),
    site_id         uuid        NOT NULL REFERENCES sites (id),
    client_id       uuid        NOT NULL,
    hold_id         uuid        NOT NULL REFERENCES holds (id),
    counselor_id    uuid        NOT NULL,
    start_at        timestamptz NOT NULL,
    end_at          timestamptz NOT NULL,
    offered_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    status          text        NOT NULL,  -- open, accepted, expired
    appointment_id  uuid,
    version         integer     NOT NULL
);
CREATE UNIQUE INDEX waitlist_offer_of_hold ON waitlist_offers (hold_id);
CREATE INDEX waitlist_offers_of_slot ON waitlist_offers (counselor_id, start_at);
