-- crisis: escalation policies, a staff directory learned from booking, risk flags, alerts with
-- their frozen policy, pages, the audit timeline and durable escalation timers.

CREATE TABLE escalation_policies (
    site_id     uuid        PRIMARY KEY,
    levels      jsonb       NOT NULL,   -- [{"staff_ids": [...], "ack_timeout": "PT5M"}, ...]
    repeat      integer     NOT NULL CHECK (repeat >= 0),
    version     integer     NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- Staff ids known per site (from booking's StaffRegistered), to check policies. No contact data:
-- notify keeps that.
CREATE TABLE staff (
    staff_id       uuid        PRIMARY KEY,
    site_id        uuid        NOT NULL,
    role           text        NOT NULL,
    registered_at  timestamptz NOT NULL
);
CREATE INDEX staff_by_site ON staff (site_id);

CREATE TABLE risk_flags (
    flag_id      uuid        PRIMARY KEY,
    client_id    uuid        NOT NULL,
    site_id      uuid        NOT NULL,
    level        text        NOT NULL,
    source       text        NOT NULL,
    flagged_at   timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    alert_id     uuid
);
CREATE INDEX risk_flags_by_client ON risk_flags (client_id, received_at);

CREATE TABLE alerts (
    id               uuid        PRIMARY KEY,
    client_id        uuid        NOT NULL,
    site_id          uuid        NOT NULL,
    level            text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    current_level    integer     NOT NULL,
    cycle            integer     NOT NULL,
    exhausted        boolean     NOT NULL DEFAULT false,
    -- The site's policy as it was when the alert opened: editing the policy never changes it.
    policy_levels    jsonb,
    policy_repeat    integer,
    escalation_due_at timestamptz,
    opened_at        timestamptz NOT NULL,
    acknowledged_at  timestamptz,
    acknowledged_by  uuid,
    resolved_at      timestamptz,
    resolved_by      uuid,
    outcome          text,
    version          integer     NOT NULL,
    updated_at       timestamptz NOT NULL
);
-- One open (or acknowledged) alert per client: a second flag joins it.
CREATE UNIQUE INDEX alerts_one_active_per_client ON alerts (client_id)
    WHERE status IN ('open', 'acknowledged');
CREATE INDEX alerts_by_site ON alerts (site_id, status, opened_at DESC);

CREATE TABLE alert_pages (
    page_id       uuid        PRIMARY KEY,
    alert_id      uuid        NOT NULL REFERENCES alerts (id),
    staff_id      uuid        NOT NULL,
    level         integer     NOT NULL,
    cycle         integer     NOT NULL,
    flag_id       uuid,
    requested_at  timestamptz NOT NULL,
    sent_at       timestamptz,
    failed_at     timestamptz
);
CREATE INDEX alert_pages_by_alert ON alert_pages (alert_id, requested_at);

-- Every step of every alert, written in the transaction that made it. Ids and codes only.
CREATE TABLE alert_timeline (
    alert_id  uuid        NOT NULL REFERENCES alerts (id),
    seq       integer     NOT NULL,
    at        timestamptz NOT NULL,
    kind      text        NOT NULL,
    details   jsonb       NOT NULL DEFAULT '{}',
    PRIMARY KEY (alert_id, seq)
);

-- Durable escalation deadlines: one row per (alert, pass, level), claimed by the DueScheduler.
CREATE TABLE escalation_timers (
    id          uuid        PRIMARY KEY,
    alert_id    uuid        NOT NULL REFERENCES alerts (id),
    cycle       integer     NOT NULL,
    level       integer     NOT NULL,
    due_at      timestamptz NOT NULL,
    status      text        NOT NULL DEFAULT 'scheduled'
                            CHECK (status IN ('scheduled', 'fired', 'cancelled')),
    created_at  timestamptz NOT NULL,
    settled_at  timestamptz,
    UNIQUE (alert_id, cycle, level)
);
CREATE INDEX escalation_timers_due ON escalation_timers (due_at) WHERE status = 'scheduled';
