#!/bin/sh
# One database and one login role per service, each role owning its database and no other.
# Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d/);
# passwords come from the environment (see docker-compose.yml). To run it by hand against
# another server: PGHOST=... PGPORT=... POSTGRES_USER=postgres BOOKING_DB_PASSWORD=... sh init-databases.sh
set -eu

create_service_database() {
    # psql variables (:"name" identifier, :'literal' string) quote the values safely.
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
        -v name="$1" -v password="$2" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
-- Only the owner may connect: a service can never read another service's database.
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
}

create_service_database booking "$BOOKING_DB_PASSWORD"
create_service_database followup "$FOLLOWUP_DB_PASSWORD"
create_service_database notify "$NOTIFY_DB_PASSWORD"
create_service_database crisis "$CRISIS_DB_PASSWORD"
