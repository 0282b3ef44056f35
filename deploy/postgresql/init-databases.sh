#!/bin/sh
# Run once by the postgres image on an empty data directory (docker-entrypoint-initdb.d):
# the ledger's database and role, and Temporal's role (its schema tool creates its two
# databases, `temporal` and `temporal_visibility`).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v dozvil_password="$DOZVIL_DB_PASSWORD" -v temporal_password="$TEMPORAL_DB_PASSWORD" <<'SQL'
CREATE ROLE dozvil LOGIN PASSWORD :'dozvil_password';
CREATE DATABASE dozvil OWNER dozvil;
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_password';
SQL
