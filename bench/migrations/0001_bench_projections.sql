-- The projections the consumer benchmark writes: one row per SessionCompleted.
CREATE TABLE bench_sessions (
    event_id        uuid        NOT NULL,
    appointment_id  uuid        NOT NULL,
    client_id       uuid        NOT NULL,
    completed_at    timestamptz NOT NULL
);

-- The same rows written directly, for the raw limit.
CREATE TABLE bench_sessions_raw (LIKE bench_sessions);
