#!/usr/bin/env bash
# Installs what is missing, starts a throwaway PostgreSQL (and the other servers the tests need),
# builds once and runs `swift test` against them. Stops everything it started, even on failure.
# Extra arguments go to `swift test` (for example: --filter Drift).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

ensure_swift
ensure_debs libpq-dev libcurl4-openssl-dev postgresql pgbouncer

cleanup() { stop_postgres; }
trap cleanup EXIT
start_postgres
export MIGRATOR_TEST_DATABASE_URL="$PG_URL"
export MIGRATOR_TEST_PG_BINDIR="$PG_BINDIR"

log "building (debug, with tests)"
swift build --build-tests
log "running swift test"
swift test --skip-build "$@"
