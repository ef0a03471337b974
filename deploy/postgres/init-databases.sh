#!/bin/sh
# Per service: one database and two login roles. `<service>_owner` owns the database and runs
# the migrations (MIGRATION_DATABASE_URL); `<service>` is the runtime role (DATABASE_URL), which
# the owner grants DML on its tables after each migration, without UPDATE or DELETE on the
# append-only ones (events, audit). Neither can enter another service's database.
# Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d/);
# passwords come from the environment (see docker-compose.yml). To run it by hand against
# another server: PGHOST=... PGPORT=... POSTGRES_USER=postgres BOOKING_DB_PASSWORD=...
# BOOKING_OWNER_DB_PASSWORD=... sh init-databases.sh
set -eu

create_service_database() {
    # psql variables (:"name" identifier, :'literal' string) quote the values safely.
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
        -v name="$1" -v password="$2" -v owner="$1_owner" -v owner_password="$3" <<'SQL'
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password';
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"owner";
-- Only its two roles may connect: a service can never read another service's database.
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"name" TO :"name";
SQL
}

create_service_database booking "$BOOKING_DB_PASSWORD" "$BOOKING_OWNER_DB_PASSWORD"
create_service_database followup "$FOLLOWUP_DB_PASSWORD" "$FOLLOWUP_OWNER_DB_PASSWORD"
create_service_database notify "$NOTIFY_DB_PASSWORD" "$NOTIFY_OWNER_DB_PASSWORD"
create_service_database crisis "$CRISIS_DB_PASSWORD" "$CRISIS_OWNER_DB_PASSWORD"
