-- notify's projections. Client contact details are never stored here: they are asked from
-- booking at send time. Staff contact details come from StaffRegistered, so pages work while
-- booking is down.

CREATE TABLE sites (
    site_id   uuid PRIMARY KEY,
    name      text NOT NULL,
    timezone  text NOT NULL,
    locale    text NOT NULL
);

CREATE TABLE staff_contacts (
    staff_id  uuid PRIMARY KEY,
    site_id   uuid NOT NULL,
    name      text NOT NULL,
    role      text NOT NULL,
    email     text NOT NULL,
    phone     text,
    locale    text NOT NULL
);

-- Coded values only (ClientRegistered carries no name and no contact details).
CREATE TABLE clients (
    client_id          uuid PRIMARY KEY,
    site_id            uuid NOT NULL,
    locale             text NOT NULL,
    timezone           text NOT NULL,
    preferred_channel  text NOT NULL
);

CREATE TABLE recipient_preferences (
    recipient_id  uuid PRIMARY KEY,
    quiet_start   time,
    quiet_end     time,
    channel       text CHECK (channel IN ('email', 'sms', 'messaging', 'phone')),
    updated_at    timestamptz NOT NULL,
    version       integer NOT NULL,
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);

CREATE TABLE notifications (
    id                 uuid PRIMARY KEY,
    recipient_id       uuid NOT NULL,
    recipient_kind     text NOT NULL CHECK (recipient_kind IN ('client', 'staff')),
    site_id            uuid NOT NULL,
    lane               text NOT NULL CHECK (lane IN ('crisis', 'bulk')),
    channel            text NOT NULL CHECK (channel IN ('email', 'sms', 'messaging')),
    requested_channel  text,
    template           text NOT NULL,
    -- identifiers, coded values and instants for the template; never client data
    params             jsonb NOT NULL DEFAULT '{}',
    status             text NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts           integer NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz NOT NULL,
    hold_reason        text,
    last_error         text,
    sent_at            timestamptz,
    failed_at          timestamptz,
    cause_event_id     uuid NOT NULL,
    correlation_id     uuid,
    page_id            uuid,
    created_at         timestamptz NOT NULL,
    version            integer NOT NULL,
    -- the lease of the worker delivering it; an expired lease is claimed again
    claimed_until      timestamptz,
    -- W3C trace context of the event that asked for it, so the trace reaches the send
    trace_headers      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX notifications_due ON notifications (lane, next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_recipient ON notifications (recipient_id, created_at);
CREATE INDEX notifications_page ON notifications (page_id) WHERE page_id IS NOT NULL;

CREATE TABLE notification_attempts (
    notification_id  uuid NOT NULL REFERENCES notifications (id),
    number           integer NOT NULL,
    at               timestamptz NOT NULL,
    channel          text NOT NULL,
    outcome          text NOT NULL
                     CHECK (outcome IN ('sent', 'transient_failure', 'permanent_failure')),
    error_code       text,
    PRIMARY KEY (notification_id, number)
);
