-- crisis: an acknowledged alert opens again (a flag raised its risk, or the policy's
-- `ack_expires_after` passed). `reopens` counts the re-openings: a timer of an earlier round of
-- the same step is told apart from the running one. A timer is now either a level's ack
-- deadline (`escalation`) or an acknowledgement's expiry (`ack_expiry`). Columns are added
-- last, so a rebuild's `SELECT *` copy of the timers keeps them.
ALTER TABLE escalation_timers
    ADD COLUMN round integer NOT NULL DEFAULT 0,
    ADD COLUMN kind text NOT NULL DEFAULT 'escalation'
        CHECK (kind IN ('escalation', 'ack_expiry'));
ALTER TABLE escalation_timers DROP CONSTRAINT escalation_timers_alert_id_cycle_level_key;
ALTER TABLE escalation_timers
    ADD CONSTRAINT escalation_timers_alert_round_step_key UNIQUE (alert_id, round, kind, cycle, level);

ALTER TABLE alerts
    ADD COLUMN reopens integer NOT NULL DEFAULT 0,
    ADD COLUMN reopened_at timestamptz,
    ADD COLUMN ack_expires_at timestamptz,
    ADD COLUMN policy_ack_expires_after text;
-- The age gauge of acknowledged alerts, and the auditor's look for ones without a timer.
CREATE INDEX alerts_acknowledged ON alerts (acknowledged_at) WHERE status = 'acknowledged';

ALTER TABLE escalation_policies ADD COLUMN ack_expires_after text;
