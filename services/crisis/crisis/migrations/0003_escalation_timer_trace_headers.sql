-- The trace that scheduled an escalation deadline (W3C `traceparent`/`tracestate`), so the page
-- its timer fires continues the flow's trace (the flag, then each escalation) instead of starting
-- a new one. Added last, so a rebuild's `SELECT *` copy of the timers keeps it.
ALTER TABLE escalation_timers ADD COLUMN trace_headers jsonb;
