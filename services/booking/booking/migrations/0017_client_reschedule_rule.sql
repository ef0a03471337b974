-- A site may let clients move their own session from their reminder's link
-- (`client_reschedule`, off by default so existing sites are unchanged), to a new time within
-- `client_reschedule_days` days.
ALTER TABLE site_booking_rules
    ADD COLUMN client_reschedule boolean NOT NULL DEFAULT false,
    ADD COLUMN client_reschedule_days integer NOT NULL DEFAULT 14
        CHECK (client_reschedule_days BETWEEN 1 AND 60);
