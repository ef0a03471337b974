-- A site's closures (public holidays, training days, a move): one row per site holding its
-- whole list (`SiteClosuresSet` replaces it), as `[{from, to, kind, label}]` with local dates.
CREATE TABLE site_closures (
    site_id    uuid        PRIMARY KEY REFERENCES sites (id),
    closures   jsonb       NOT NULL,
    set_at     timestamptz NOT NULL,
    version    integer     NOT NULL
);
