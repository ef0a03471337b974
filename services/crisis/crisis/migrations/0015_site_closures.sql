-- A site's closures as crisis recorded them from booking's SiteClosuresChanged (crisis's own
-- stream `site-closures-<site_id>`, so `counselctl rebuild` restores them): every span of
-- closed local dates (`from`, `to` both included, `kind`), which schedule restrictions with
-- `days` `open` or `closed` follow. `changed_at`: the envelope time of the event recorded, so
-- an older one arriving later (a redriven dead letter) changes nothing.
CREATE TABLE site_closures (
    site_id uuid PRIMARY KEY,
    closures jsonb NOT NULL,
    changed_at timestamptz NOT NULL,
    version integer NOT NULL,
    updated_at timestamptz NOT NULL
);
