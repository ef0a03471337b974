-- Round-robin escalation levels: per site and level position, how many turns the level gave
-- and who had the last one, so the next alert pages the next person. Written under the site's
-- round-robin lock (adapters/round_robin.py) in the transaction that pages.
CREATE TABLE round_robin_turns (
    site_id uuid NOT NULL,
    level integer NOT NULL,
    turns bigint NOT NULL,
    last_staff_id uuid NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (site_id, level)
);
