-- The trace that scheduled a follow-up (W3C `traceparent`/`tracestate`), so the FollowUpDue its
-- timer fires continues that flow's trace instead of starting a new one. Not in any event: a
-- rebuild carries it over by id.
ALTER TABLE followups ADD COLUMN trace_headers jsonb;
