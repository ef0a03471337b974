-- Booking's projections: one row per aggregate, rebuilt from `events` by folding each stream.
-- `version` is the aggregate's stream version when the row was written.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE sites (
    id                        uuid        PRIMARY KEY,
    name                      text        NOT NULL,
    timezone                  text        NOT NULL,
    locale                    text        NOT NULL,
    late_cancellation_window  text        NOT NULL,
    registered_at             timestamptz NOT NULL,
    version                   integer     NOT NULL
);

CREATE TABLE staff (
    id             uuid        PRIMARY KEY,
    site_id        uuid        NOT NULL REFERENCES sites (id),
    name           text        NOT NULL,
    role           text        NOT NULL,
    email          text        NOT NULL,
    phone          text,
    locale         text        NOT NULL,
    registered_at  timestamptz NOT NULL,
    version        integer     NOT NULL
);
CREATE INDEX staff_by_site ON staff (site_id, registered_at);

CREATE TABLE rooms (
    id             uuid        PRIMARY KEY,
    site_id        uuid        NOT NULL REFERENCES sites (id),
    name           text        NOT NULL,
    registered_at  timestamptz NOT NULL,
    version        integer     NOT NULL
);
CREATE INDEX rooms_by_site ON rooms (site_id, registered_at);

CREATE TABLE clients (
    id                    uuid        PRIMARY KEY,
    site_id               uuid        NOT NULL REFERENCES sites (id),
    name                  text        NOT NULL,
    email                 text,
    phone                 text,
    locale                text        NOT NULL,
    timezone              text        NOT NULL,
    preferred_channel     text        NOT NULL,
    registered_at         timestamptz NOT NULL,
    episode_number        integer     NOT NULL,
    episode_status        text        NOT NULL,
    episode_opened_at     timestamptz NOT NULL,
    episode_closed_at     timestamptz,
    closure_reason        text,
    closure_effective_on  date,
    referral_to           text,
    referral_contact      text,
    version               integer     NOT NULL
);
CREATE INDEX clients_by_site ON clients (site_id, registered_at);

CREATE TABLE appointments (
    id                uuid        PRIMARY KEY,
    site_id           uuid        NOT NULL REFERENCES sites (id),
    client_id         uuid        NOT NULL REFERENCES clients (id),
    counselor_id      uuid        NOT NULL REFERENCES staff (id),
    room_id           uuid        REFERENCES rooms (id),
    modality          text        NOT NULL,
    start_at          timestamptz NOT NULL,
    end_at            timestamptz NOT NULL,
    status            text        NOT NULL,
    booked_at         timestamptz NOT NULL,
    cancelled_by      text,
    late              boolean,
    cancel_reason     text,
    cancelled_at      timestamptz,
    missed_at         timestamptz,
    completed_at      timestamptz,
    goal_horizon      text,
    goals             jsonb,
    next_steps        text,
    risk_level        text,
    risk_flag_id      uuid,
    version           integer     NOT NULL,
    CHECK (end_at > start_at),
    -- No double booking, whoever writes: half-open ranges, so back-to-back sessions fit.
    CONSTRAINT appointments_counselor_free EXCLUDE USING gist (
        counselor_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&
    ) WHERE (status = 'booked'),
    CONSTRAINT appointments_room_free EXCLUDE USING gist (
        room_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&
    ) WHERE (status = 'booked'),
    CONSTRAINT appointments_client_free EXCLUDE USING gist (
        client_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&
    ) WHERE (status = 'booked')
);
CREATE INDEX appointments_by_counselor ON appointments (counselor_id, start_at);
CREATE INDEX appointments_by_client ON appointments (client_id, start_at);
CREATE INDEX appointments_by_start ON appointments (start_at);
