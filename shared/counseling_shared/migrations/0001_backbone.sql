-- Backbone tables every service database has: event store, outbox, inbox, dead letters,
-- idempotency keys. Applied before the service's own migrations.

CREATE TABLE events (
    position     bigserial   PRIMARY KEY,
    id           uuid        NOT NULL UNIQUE,
    stream_id    text        NOT NULL,
    version      integer     NOT NULL CHECK (version > 0),
    type         text        NOT NULL,
    data         jsonb       NOT NULL,
    metadata     jsonb       NOT NULL DEFAULT '{}',
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    -- The writing transaction, so "read all" can follow commit order (docs/architecture.md, Read-all in commit order).
    txid         xid8        NOT NULL DEFAULT pg_current_xact_id(),
    UNIQUE (stream_id, version)
);
CREATE INDEX events_commit_order ON events (txid, position);

CREATE TABLE outbox (
    position      bigserial   PRIMARY KEY,
    event_id      uuid        NOT NULL UNIQUE,
    stream        text        NOT NULL,
    subject       text        NOT NULL,
    payload       bytea       NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (position) WHERE published_at IS NULL;

CREATE TABLE inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE dead_letters (
    id            bigserial   PRIMARY KEY,
    consumer      text        NOT NULL,
    stream        text        NOT NULL,
    stream_seq    bigint      NOT NULL,
    subject       text        NOT NULL,
    event_id      uuid,
    event_type    text,
    reason        text        NOT NULL,
    detail        text        NOT NULL,
    deliveries    integer     NOT NULL,
    payload       bytea       NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    redriven_at   timestamptz,
    UNIQUE (consumer, stream, stream_seq)
);

CREATE TABLE idempotency_keys (
    principal      text        NOT NULL,
    key            text        NOT NULL,
    method         text        NOT NULL,
    path           text        NOT NULL,
    request_hash   text        NOT NULL,
    status_code    integer,
    response_body  bytea,
    content_type   text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);
