-- Tables of a pretend service, so the backbone's tests can project, schedule and serve.

-- One row per handled event, and no unique key: a double application shows as two rows.
CREATE TABLE sessions_seen (
    consumer        text        NOT NULL,
    event_id        uuid        NOT NULL,
    appointment_id  uuid        NOT NULL,
    seen_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staff (
    id       uuid PRIMARY KEY,
    site_id  uuid NOT NULL,
    role     text NOT NULL
);

CREATE TABLE staff_seen (
    event_id  uuid NOT NULL,
    staff_id  uuid NOT NULL
);

-- Durable timers; `batch` keeps each test's timers apart from the others'.
CREATE TABLE reminders (
    id      uuid        PRIMARY KEY,
    batch   uuid        NOT NULL,
    due_at  timestamptz NOT NULL,
    status  text        NOT NULL DEFAULT 'scheduled',
    broken  boolean     NOT NULL DEFAULT false,
    -- The trace that scheduled the timer, continued when it fires.
    trace_headers jsonb
);

CREATE TABLE reminder_firings (
    reminder_id  uuid        NOT NULL,
    scheduler    text        NOT NULL,
    fired_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
