-- Signed webhooks (Standard Webhooks): per-site subscriptions to chosen event types, one
-- delivery per (subscription, event), and every attempt of each delivery.

CREATE TABLE webhook_subscriptions (
    id               uuid        PRIMARY KEY,
    site_id          uuid        NOT NULL,
    url              text        NOT NULL,
    event_types      text[]      NOT NULL,
    -- The signing secret (`whsec_…`): notify signs with it, so it is kept as given out.
    secret           text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('active', 'disabled')),
    disabled_reason  text,
    disabled_at      timestamptz,
    created_by       text        NOT NULL,
    created_at       timestamptz NOT NULL,
    -- A worker delivering this subscription's head delivery owns it until then.
    claimed_until    timestamptz
);
CREATE INDEX webhook_subscriptions_by_site ON webhook_subscriptions (site_id)
    WHERE status = 'active';

-- `queue_position` orders a subscription's deliveries: the order notify consumed the events
-- in (stream order), and a replay goes to the back of the queue. Only the oldest pending
-- delivery of a subscription is ever attempted, so a receiver sees them in that order.
CREATE SEQUENCE webhook_queue_position;

CREATE TABLE webhook_deliveries (
    id                uuid        PRIMARY KEY,
    subscription_id   uuid        NOT NULL REFERENCES webhook_subscriptions (id),
    event_id          uuid        NOT NULL,
    event_type        text        NOT NULL,
    body              text        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts          integer     NOT NULL DEFAULT 0,
    last_status_code  integer,
    last_error        text,
    queue_position    bigint      NOT NULL DEFAULT nextval('webhook_queue_position'),
    queued_at         timestamptz NOT NULL,
    next_attempt_at   timestamptz NOT NULL,
    delivered_at      timestamptz,
    failed_at         timestamptz,
    replays           integer     NOT NULL DEFAULT 0,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (subscription_id, queue_position)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_subscription
    ON webhook_deliveries (subscription_id, queued_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    delivery_id   uuid        NOT NULL REFERENCES webhook_deliveries (id),
    number        integer     NOT NULL,
    at            timestamptz NOT NULL,
    status_code   integer,
    error         text,
    duration_ms   integer     NOT NULL,
    PRIMARY KEY (delivery_id, number)
);
CREATE INDEX webhook_attempts_by_time ON webhook_attempts (at);
