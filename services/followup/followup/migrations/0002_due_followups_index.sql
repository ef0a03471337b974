-- The gauges count the follow-ups that fell due and wait for staff every few seconds; the
-- table keeps every completed and cancelled follow-up, so count them through an index.
CREATE INDEX followups_due_open ON followups (due_at) WHERE status = 'due';
