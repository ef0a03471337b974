-- A series booked with `skip_closed` keeps the dates of its rule it left out because the site
-- was closed then (`start`, `closed_on`, `closure_kind`, `reason` `site_closed`), in order.
-- Series booked before (or without skipping) left none out.
ALTER TABLE appointment_series
    ADD COLUMN skipped_occurrences jsonb NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE group_session_series
    ADD COLUMN skipped_occurrences jsonb NOT NULL DEFAULT '[]'::jsonb;
