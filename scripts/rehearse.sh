#!/usr/bin/env bash
# The newcomer's first command: installs what is missing, builds migrator, starts a throwaway
# PostgreSQL on loopback, applies migrations/ (JSON logs, as in CloudWatch), runs it a second time
# (nothing to do), shows `migrator status`, and removes the database server again.
#
#   scripts/rehearse.sh                 # against a throwaway PostgreSQL
#   DATABASE_URL=postgres://... scripts/rehearse.sh   # against your own local database instead
#   MIGRATIONS_DIR=path/to/drizzle scripts/rehearse.sh  # your own drizzle-kit folder
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

ensure_swift
ensure_debs libpq-dev libcurl4-openssl-dev postgresql pkg-config

log "building migrator (debug)"
swift build --product migrator
bin=$(swift build --product migrator --show-bin-path)/migrator

if [ -z "${DATABASE_URL:-}" ]; then
    trap stop_postgres EXIT
    start_postgres
    psql -X -q "$PG_URL" -c "CREATE DATABASE rehearsal"
    DATABASE_URL="${PG_URL%/postgres}/rehearsal"
fi
export DATABASE_URL MIGRATIONS_DIR="${MIGRATIONS_DIR:-migrations}"

status=0
log "migrator up (JSON logs, one line per event)"
"$bin" up || status=$?
log "migrator up exited with $status"
[ "$status" -eq 0 ] || exit "$status"

log "migrator up again: nothing to apply"
"$bin" up --log-format text

log "migrator status"
"$bin" status --log-level warning
