#!/usr/bin/env bash
# First start of the compose PostgreSQL only (docker-entrypoint-initdb.d): a role and a database per node, each
# node's password from secrets/postgres.env (written by secrets.sh, the same as in that node's DATABASE_URL).
set -euo pipefail
for name in 621227 330203 monitor; do
    var="DB_PASSWORD_${name^^}"
    psql -v ON_ERROR_STOP=1 -U postgres -d postgres -v name="mpx_$name" -v password="${!var}" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
SQL
done
