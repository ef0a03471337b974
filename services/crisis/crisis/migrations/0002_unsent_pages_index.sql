-- The crisis_pages_unsent gauge looks for pages with neither a delivery nor a failure every few
-- seconds; almost every page gets one, so a partial index keeps that look small for years.
CREATE INDEX alert_pages_unsent ON alert_pages (requested_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;
