-- Which site each client belongs to (from booking's ClientRegistered): a risk flag naming a
-- client of another site is refused. Identifiers only: no name, no contact detail.
CREATE TABLE clients (
    client_id      uuid        PRIMARY KEY,
    site_id        uuid        NOT NULL,
    registered_at  timestamptz NOT NULL
);

-- A client's active alert is looked up within the flag's site: a flag for site B never joins
-- site A's alert.
DROP INDEX alerts_one_active_per_client;
CREATE UNIQUE INDEX alerts_one_active_per_client ON alerts (site_id, client_id)
    WHERE status IN ('open', 'acknowledged');
