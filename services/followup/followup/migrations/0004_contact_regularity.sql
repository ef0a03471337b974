-- Contact regularity: the per-site policy durations, the `regularity` follow-up kind and one row
-- per client with the gap timer and the cool-off (rebuildable from streams regularity-<id>).

ALTER TABLE followup_policies
    ADD COLUMN max_contact_gap          text NOT NULL DEFAULT 'P10D',
    ADD COLUMN negative_contact_cooloff text NOT NULL DEFAULT 'P14D';

-- Every kind of contract v2 is admitted here, so the kinds other changes add need no second
-- edit of this constraint (IF EXISTS: whichever migration replaces it first wins, both work).
ALTER TABLE followups DROP CONSTRAINT IF EXISTS followups_kind_check;
ALTER TABLE followups ADD CONSTRAINT followups_kind_v2 CHECK (kind IN (
    'checkin', 'no_show_outreach', 'post_closure', 'satisfaction', 'reminder', 'regularity'));

CREATE TABLE contact_regularity (
    id                uuid        PRIMARY KEY,  -- the client's id (the scheduler wants `id`)
    site_id           uuid        NOT NULL,
    counselor_id      uuid,
    last_positive_at  timestamptz,
    last_negative_at  timestamptz,
    cooloff_until     timestamptz,
    due_at            timestamptz,              -- the gap timer; NULL while out of care
    gap_found_at      timestamptz,              -- set while the client is past the gap
    version           integer     NOT NULL
);
-- The scheduler's question (never a scan of all clients): the earliest armed gap timer.
CREATE INDEX contact_regularity_due ON contact_regularity (due_at) WHERE due_at IS NOT NULL;
-- The site's list and gauges: clients past the gap or with a cool-off set.
CREATE INDEX contact_regularity_watch ON contact_regularity (site_id)
    WHERE gap_found_at IS NOT NULL OR cooloff_until IS NOT NULL;
