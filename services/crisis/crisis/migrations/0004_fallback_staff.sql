-- crisis: the policy's fallback staff (paged when the chain is exhausted), on the site's policy
-- and on the copy each alert froze.
ALTER TABLE escalation_policies
    ADD COLUMN fallback_staff_ids uuid[] NOT NULL DEFAULT '{}';
ALTER TABLE alerts
    ADD COLUMN policy_fallback_staff_ids uuid[];
-- The escalation auditor looks for open alerts that have nothing scheduled.
CREATE INDEX alerts_open_by_site ON alerts (site_id) WHERE status = 'open';
