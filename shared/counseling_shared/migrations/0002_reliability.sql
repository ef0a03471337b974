-- Reliability: handler failures counted by the consumer itself (JetStream never drops a message
-- on its own), outbox rows that can never be published, and indexes the pruner walks.

-- One row per message whose handler failed at least once: how many times. Written in the
-- batch's transaction after the failed message's savepoint was rolled back, so an
-- infrastructure failure (the batch never commits) is never counted as a handler failure.
CREATE TABLE inbox_failures (
    consumer   text        NOT NULL,
    event_id   uuid        NOT NULL,
    failures   integer     NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX inbox_failures_failed_at ON inbox_failures (failed_at);

-- An outbox row that can never be published (too large for the server, no stream for its
-- subject) is moved here with its reason, so the rows after it keep flowing.
CREATE TABLE outbox_dead_letters (
    position     bigint      PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    stream       text        NOT NULL,
    subject      text        NOT NULL,
    payload      bytea       NOT NULL,
    headers      jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL,
    reason       text        NOT NULL,
    detail       text        NOT NULL,
    dead_at      timestamptz NOT NULL DEFAULT now(),
    reviewed_at  timestamptz
);

-- The pruner deletes old rows in small batches, oldest first.
CREATE INDEX inbox_received_at ON inbox (received_at);
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

-- The aggregate an outbox row is about (the envelope's `subject`): the relay never lets a later
-- event of one aggregate reach the stream before an earlier one (NULL on older rows).
ALTER TABLE outbox ADD COLUMN aggregate text;

-- An operator's "seen, leave it" on a dead letter that is rightly refused: the pruner deletes it
-- later, like a redriven one.
ALTER TABLE dead_letters ADD COLUMN reviewed_at timestamptz;
