-- A site's lowest review band per instrument (policy `review_bands`, e.g. {"phq9":
-- "moderately_severe", "gad7": null}; null: never). An instrument it does not name takes
-- `notify_counselor_from_band`, so policies set before it ('{}') behave as before.
ALTER TABLE followup_policies ADD COLUMN review_bands jsonb NOT NULL DEFAULT '{}';
