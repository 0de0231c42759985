#!/usr/bin/env bash
# Throwaway PostgreSQL server for local runs and tests (trust auth, fsync off, loopback only).
#
#   deploy/postgres/postgres.sh start <dir> [port]   initdb + start + createdb mpx; prints the URL
#                                                    postgresql://postgres@127.0.0.1:<port>/mpx (last stdout line)
#   deploy/postgres/postgres.sh stop <dir>           immediate shutdown, removes the data directory
#   deploy/postgres/postgres.sh status <dir>         exit 0 if the server started from <dir> is running
#   deploy/postgres/postgres.sh bindir               print the directory holding initdb/pg_ctl (installs if needed)
#
# Binaries: PATH, then /usr/lib/postgresql/<newest>/bin; if none, `apt-get install postgresql` (root only).
# initdb/pg_ctl refuse to run as root: as root they run as the `postgres` OS user (runuser), and the
# data directory lives in a mktemp dir owned by that user (path recorded in <dir>/pgdata).
# <dir> holds: pgdata (path of the data dir), port, url, postgres.log (copy/symlink of the server log).
#
# Environment:
#   PG_DATABASE         database created at start (default mpx)
#   POSTGRES_WATCH_PID  if set, a watchdog stops the server once that pid exits (pytest fixture uses it)
set -euo pipefail

PG_DATABASE="${PG_DATABASE:-mpx}"

die() { echo "postgres.sh: $*" >&2; exit 1; }
log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
    local p d
    # PATH first (resolving symlinks such as /usr/local/bin/pg_ctl -> /usr/lib/postgresql/15/bin/pg_ctl)
    if p="$(command -v pg_ctl 2>/dev/null)"; then
        d="$(dirname "$(readlink -f "$p")")"
        if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    done
    return 1
}

install_postgres() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 ||
        die "PostgreSQL server binaries (initdb, pg_ctl) not found; install the 'postgresql' package"
    log "installing PostgreSQL with apt-get"
    # Do not let the package create and start its own 'main' cluster on port 5432.
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
}

bindir() {
    local d
    if d="$(find_bindir)"; then echo "$d"; return 0; fi
    install_postgres
    find_bindir || die "PostgreSQL installed but initdb/pg_ctl still not found"
}

free_port() {
    local py
    for py in python3 python; do
        if command -v "$py" >/dev/null 2>&1; then
            "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
            return
        fi
    done
    local p
    for _ in $(seq 1 50); do
        p=$(( 20000 + RANDOM % 40000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    die "could not find a free port"
}

# as_pg CMD...: run as the postgres OS user when we are root, else as ourselves.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
        fi
    else
        "$@"
    fi
}

# pg_alive PID: the pid is a running (non-zombie) postgres process.
pg_alive() {
    local pid="$1" state
    [ -r "/proc/$pid/cmdline" ] || { kill -0 "$pid" 2>/dev/null; return; }
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'postgres' || return 1
    state="$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)"
    [ -n "$state" ] && [ "$state" != Z ]
}

ensure_pg_user() {
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        log "creating system user postgres"
        useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    fi
}

cmd_start() {
    [ $# -ge 1 ] || die "usage: postgres.sh start <dir> [port]"
    mkdir -p "$1"
    local dir port bin base pgdata sockdir logfile
    dir="$(cd "$1" && pwd)"
    port="${2:-}"
    [ -n "$port" ] || port="$(free_port)"
    bin="$(bindir)"
    ensure_pg_user

    if cmd_status "$dir" 2>/dev/null; then
        die "a server is already running from $dir; use: postgres.sh stop $dir"
    fi

    if [ "$(id -u)" = 0 ]; then
        base="$(mktemp -d "${TMPDIR:-/tmp}/mpx-pg.XXXXXX")"
        chown postgres:postgres "$base"
    else
        base="$dir/pg"
        rm -rf "$base"
        mkdir -p "$base"
    fi
    chmod 700 "$base"
    pgdata="$base/data"
    sockdir="$base"
    logfile="$base/postgres.log"
    echo "$base" >"$dir/pgbase"
    echo "$pgdata" >"$dir/pgdata"
    echo "$port" >"$dir/port"
    ln -sfn "$logfile" "$dir/postgres.log"

    if ! as_pg "$bin/initdb" -D "$pgdata" -U postgres -A trust -E UTF8 --no-locale --no-sync \
            >"$dir/initdb.out" 2>&1; then
        cat "$dir/initdb.out" >&2
        die "initdb failed"
    fi
    as_pg tee -a "$pgdata/postgresql.conf" >/dev/null <<EOF

# --- throwaway test server (deploy/postgres/postgres.sh) ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockdir'
max_connections = 300
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
checkpoint_timeout = 30min
logging_collector = off
log_min_messages = warning
log_min_error_statement = error
EOF
    if ! as_pg "$bin/pg_ctl" -D "$pgdata" -l "$logfile" -w -t 60 start >"$dir/pg_ctl.out" 2>&1; then
        cat "$dir/pg_ctl.out" >&2
        echo "---- tail of $logfile" >&2
        tail -n 40 "$logfile" >&2 2>/dev/null || true
        cmd_stop "$dir" || true
        die "server did not start"
    fi
    head -1 "$pgdata/postmaster.pid" >"$dir/postgres.pid"

    local psql="$bin/psql"
    [ -x "$psql" ] || psql="$(command -v psql || true)"
    [ -n "$psql" ] || { cmd_stop "$dir"; die "psql not found next to $bin/pg_ctl nor on PATH"; }
    if ! "$psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
            -c "CREATE DATABASE \"$PG_DATABASE\"" >"$dir/createdb.out" 2>&1; then
        cat "$dir/createdb.out" >&2
        cmd_stop "$dir"
        die "could not create database $PG_DATABASE"
    fi

    if [ -n "${POSTGRES_WATCH_PID:-}" ]; then
        local pmpid
        pmpid="$(cat "$dir/postgres.pid")"
        (
            trap '' HUP
            while kill -0 "$POSTGRES_WATCH_PID" 2>/dev/null && pg_alive "$pmpid"; do sleep 1; done
            if pg_alive "$pmpid"; then
                kill -QUIT "$pmpid" 2>/dev/null || true   # immediate shutdown
                sleep 3
                rm -rf "$base"
            fi
        ) >/dev/null 2>&1 </dev/null &
        disown || true
    fi

    local url="postgresql://postgres@127.0.0.1:$port/$PG_DATABASE"
    echo "$url" >"$dir/url"
    echo "$url"
}

cmd_stop() {
    [ $# -ge 1 ] || die "usage: postgres.sh stop <dir>"
    local dir="$1" pgdata base bin
    [ -f "$dir/pgdata" ] || { log "nothing started from $dir"; return 0; }
    pgdata="$(cat "$dir/pgdata")"
    base="$(cat "$dir/pgbase" 2>/dev/null || dirname "$pgdata")"
    if [ -f "$pgdata/postmaster.pid" ]; then
        bin="$(find_bindir || true)"
        if [ -n "$bin" ]; then
            as_pg "$bin/pg_ctl" -D "$pgdata" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
        fi
        if [ -f "$dir/postgres.pid" ] && pg_alive "$(cat "$dir/postgres.pid")"; then
            kill -KILL "$(cat "$dir/postgres.pid")" 2>/dev/null || true
        fi
    fi
    # Keep the server log next to the state dir for post-mortems, then drop the data.
    if [ -f "$base/postgres.log" ]; then
        rm -f "$dir/postgres.log"
        cp "$base/postgres.log" "$dir/postgres.log" 2>/dev/null || true
    fi
    case "$base" in
        /|"") ;;
        *) rm -rf "$base" ;;
    esac
    rm -f "$dir/pgdata" "$dir/pgbase" "$dir/postgres.pid"
}

cmd_status() {
    [ $# -ge 1 ] || die "usage: postgres.sh status <dir>"
    [ -f "$1/postgres.pid" ] && pg_alive "$(cat "$1/postgres.pid")"
}

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    status) shift; cmd_status "$@" ;;
    bindir) shift; bindir ;;
    *) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
