#!/usr/bin/env bash
# Writes deploy/compose/secrets/*.env once: the PostgreSQL passwords and, per node, its DATABASE_URL, payload keys,
# person-hash secret, admin and metrics tokens (43 random characters each; README "Production configuration").
# Existing files are kept (rerunning never replaces a key that encrypts data already). Not committed (.gitignore).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
mkdir -p secrets
chmod 700 secrets
umask 077
token() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
# An AES-256 payload key as `mpx keys new-payload-key` prints it: id:base64url(32 random bytes)
payload_key() { python3 -c 'import base64, datetime, secrets
print(datetime.date.today().strftime("p%Y%m%d") + ":" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="))'; }

if [ ! -f secrets/postgres.env ]; then
    {
        echo "POSTGRES_PASSWORD=$(token)"
        for name in 621227 330203 MONITOR; do echo "DB_PASSWORD_$name=$(token)"; done
    } > secrets/postgres.env
fi
# shellcheck disable=SC1091
source secrets/postgres.env

for name in 621227 330203 monitor; do
    file="secrets/node-$name.env"
    [ "$name" = monitor ] && file=secrets/monitor.env
    [ -f "$file" ] && continue
    var="DB_PASSWORD_${name^^}"
    {
        echo "DATABASE_URL=postgresql+asyncpg://mpx_$name:${!var}@postgres:5432/mpx_$name"
        echo "MPX_METRICS_TOKEN=$(token)"
        echo "MPX_ADMIN_TOKEN=$(token)"
        if [ "$name" != monitor ]; then
            echo "MPX_PAYLOAD_KEYS=$(payload_key)"
            echo "MPX_PERSON_KEY_SECRET=$(token)"
        fi
    } > "$file"
    echo "wrote deploy/compose/$file"
done
