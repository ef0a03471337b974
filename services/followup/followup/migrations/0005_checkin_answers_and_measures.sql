-- The client's side of follow-up (contract v2): which instruments a site asks, the answers a
-- client gave through a signed check-in link, and the scores they make.

ALTER TABLE followup_policies
    ADD COLUMN measures        jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN emergency_line  text,
    ADD COLUMN satisfaction_survey_after text,
    ADD COLUMN appointment_reminders text[] NOT NULL DEFAULT '{P1D,PT2H}';

-- Contract v2 kinds. The same constraint (name and list) as the contact-regularity migration,
-- so whichever of the two runs first, the other replaces it with an identical one.
ALTER TABLE followups DROP CONSTRAINT IF EXISTS followups_kind_check;
ALTER TABLE followups DROP CONSTRAINT IF EXISTS followups_kind_v2;
ALTER TABLE followups ADD CONSTRAINT followups_kind_v2 CHECK (kind IN (
    'checkin', 'no_show_outreach', 'post_closure', 'satisfaction', 'reminder', 'regularity'));
-- The counselor of the session a follow-up is about (satisfaction per counselor).
ALTER TABLE followups ADD COLUMN counselor_id uuid;
-- A reminder's appointment: none is sent once it has started.
ALTER TABLE followups ADD COLUMN appointment_start timestamptz;
CREATE INDEX followups_satisfaction ON followups (site_id, completed_at)
    WHERE kind = 'satisfaction' AND satisfaction IS NOT NULL;

-- The counselor of the session anchoring the client's care: told when the client asks for a call.
ALTER TABLE clients ADD COLUMN counselor_id uuid;

-- One row per answered follow-up: its primary key is what makes a link single-use.
CREATE TABLE checkin_responses (
    followup_id    uuid        PRIMARY KEY,
    client_id      uuid        NOT NULL,
    site_id        uuid        NOT NULL,
    link_id        uuid        NOT NULL,
    wellbeing      smallint    CHECK (wellbeing BETWEEN 1 AND 5),  -- NULL: a satisfaction form
    wants_contact  boolean,
    answers        jsonb       NOT NULL,  -- {"phq9": [0, 1, ...]}: item answers 0-3
    -- The client's own words: only ever in this database, never on the bus or in logs.
    comment        text,
    submitted_at   timestamptz NOT NULL
);

CREATE TABLE measures (
    followup_id  uuid        NOT NULL,
    instrument   text        NOT NULL CHECK (instrument IN ('phq9', 'gad7')),
    client_id    uuid        NOT NULL,
    site_id      uuid        NOT NULL,
    score        smallint    NOT NULL CHECK (score >= 0),
    band         text        NOT NULL,
    recorded_at  timestamptz NOT NULL,
    PRIMARY KEY (followup_id, instrument)
);
CREATE INDEX measures_by_client ON measures (client_id, recorded_at);
