-- followup's projections: sites, policies, clients, preferences and the follow-ups themselves.
-- All rebuildable from the event store (streams site-*, policy-*, client-*, followup-*).

CREATE TABLE sites (
    site_id     uuid        PRIMARY KEY,
    timezone    text        NOT NULL,
    locale      text        NOT NULL,
    version     integer     NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE followup_policies (
    site_id                 uuid        PRIMARY KEY,
    first_checkin_after     text        NOT NULL,
    short_term_every        text        NOT NULL,
    long_term_every         text        NOT NULL,
    no_show_outreach_after  text        NOT NULL,
    post_closure_checkins   text[]      NOT NULL,
    version                 integer     NOT NULL,
    updated_at              timestamptz NOT NULL
);

CREATE TABLE clients (
    client_id             uuid        PRIMARY KEY,
    site_id               uuid,
    timezone              text,
    locale                text,
    session_id            uuid,
    session_completed_at  timestamptz,
    goal_horizon          text,
    episode_closed_on     date,
    version               integer     NOT NULL
);

CREATE TABLE followup_preferences (
    client_id   uuid        PRIMARY KEY REFERENCES clients (client_id),
    channel     text,
    intensity   text        NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE followups (
    id                   uuid        PRIMARY KEY,
    client_id            uuid        NOT NULL,
    site_id              uuid        NOT NULL,
    kind                 text        NOT NULL
                         CHECK (kind IN ('checkin', 'no_show_outreach', 'post_closure')),
    due_at               timestamptz NOT NULL,
    status               text        NOT NULL
                         CHECK (status IN ('scheduled', 'due', 'completed', 'cancelled')),
    goal_horizon         text,
    session_id           uuid,
    cancel_reason        text,
    outcome              text,
    satisfaction         smallint    CHECK (satisfaction BETWEEN 1 AND 5),
    risk_level           text,
    -- The client's own words: only ever in this database, never on the bus or in logs.
    progress_achieved    text,
    progress_challenges  text,
    progress_next_steps  text,
    completed_at         timestamptz,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    version              integer     NOT NULL
);
-- The scheduler's question: the earliest scheduled follow-up.
CREATE INDEX followups_scheduled_due ON followups (due_at) WHERE status = 'scheduled';
CREATE INDEX followups_by_client ON followups (client_id, status);
