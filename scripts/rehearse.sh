#!/usr/bin/env bash
# The newcomer's first command: installs what is missing, builds migrator, starts a throwaway
# PostgreSQL on loopback, measures migrations/ with `migrator analyze` (a table of locks and rewrites,
# rolled back), applies it (JSON logs, as in CloudWatch), runs it a second time
# (nothing to do), shows `migrator status`, and removes the database server again.
#
#   scripts/rehearse.sh                 # against a throwaway PostgreSQL
#   DATABASE_URL=postgres://... scripts/rehearse.sh   # against your own local database instead
#   MIGRATIONS_DIR=path/to/drizzle scripts/rehearse.sh  # your own drizzle-kit folder
#   scripts/rehearse.sh --image         # the same with the Docker image (`docker build` + `docker run`);
#                                       # needs a Docker engine and RDS_CA_BUNDLE_SHA256 (README, Deploy to ECS)
#   scripts/rehearse.sh --layout 1.0    # the folder converted to Drizzle 1.0's layout first, as
#                                       # `drizzle-kit up` converts it (scripts/lib/drizzle-kit-up.py)
#   scripts/rehearse.sh --layout upgrade  # the journal folder applied, then its 1.0 conversion:
#                                       # the 0.x table is upgraded as Drizzle 1.0 upgrades it
# Every layout ends by showing the tracking table (docs/drizzle-1.0.md explains its columns).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

image_mode=false
layout=journal
usage="usage: scripts/rehearse.sh [--image] [--layout journal|1.0|upgrade]"
while [ $# -gt 0 ]; do
    case "$1" in
        --image) image_mode=true ;;
        --layout)
            [ $# -ge 2 ] || die "$usage"
            layout=$2
            shift
            ;;
        *) die "$usage" ;;
    esac
    shift
done
case "$layout" in journal | 1.0 | upgrade) ;; *) die "$usage" ;; esac
if $image_mode && [ "$layout" != journal ]; then
    die "--layout $layout converts the folder on this machine; with --image, build from a 1.0 folder instead (MIGRATIONS_DIR)"
fi

if $image_mode; then
    if ! docker info >/dev/null 2>&1; then
        die "--image needs a running Docker engine; without one, scripts/image-rehearsal.sh rehearses the image with debootstrap and podman"
    fi
    : "${RDS_CA_BUNDLE_SHA256:?set RDS_CA_BUNDLE_SHA256, the pinned checksum of the RDS CA bundle (README, Deploy to ECS)}"
    ensure_debs postgresql openssl
    log "building the image migrator:rehearsal"
    docker build --build-arg RDS_CA_BUNDLE_SHA256 --build-arg MIGRATIONS_DIR="${MIGRATIONS_DIR:-migrations}" \
        -t migrator:rehearsal .
    # The image's own folder (/app/migrations) is what it applies; the throwaway server listens on
    # 127.0.0.1, which the container reaches through the host network.
    migrator() { docker run --rm --network host -e DATABASE_URL -e MIGRATOR_LOG_FORMAT -e LOG_LEVEL migrator:rehearsal "$@"; }
    unset MIGRATIONS_DIR
else
    ensure_swift
    ensure_debs libpq-dev libcurl4-openssl-dev postgresql pkg-config openssl
    log "building migrator (debug)"
    swift build --product migrator
    bin=$(swift build --product migrator --show-bin-path)/migrator
    migrator() { "$bin" "$@"; }
    export MIGRATIONS_DIR="${MIGRATIONS_DIR:-migrations}"
fi

if [ -z "${DATABASE_URL:-}" ]; then
    trap stop_postgres EXIT
    start_postgres
    psql -X -q "$PG_URL" -c "CREATE DATABASE rehearsal"
    DATABASE_URL="${PG_URL%/postgres}/rehearsal"
fi
export DATABASE_URL

log "migrator analyze: what each pending file does to the tables, measured and rolled back (docs/analyze.md)"
MIGRATOR_LOG_FORMAT=text LOG_LEVEL=warning migrator analyze || log "migrator analyze exited with $?"

status=0
if [ "$layout" != journal ]; then
    journal_dir=$MIGRATIONS_DIR
    converted=$(mktemp -d)/migrations
    python3 scripts/lib/drizzle-kit-up.py "$journal_dir" "$converted"
    log "converted $journal_dir to Drizzle 1.0's layout (as drizzle-kit up does) in $converted:"
    ls "$converted"
    if [ "$layout" = upgrade ]; then
        log "migrator up on the journal folder: Drizzle 0.x's table"
        MIGRATOR_LOG_FORMAT=text migrator up
        log "the 0.x table"
        psql -X "$DATABASE_URL" -c 'SELECT * FROM drizzle.__drizzle_migrations ORDER BY id'
    fi
    export MIGRATIONS_DIR=$converted
fi
log "migrator up (JSON logs, one line per event)"
migrator up || status=$?
log "migrator up exited with $status"
[ "$status" -eq 0 ] || exit "$status"

log "migrator up again: nothing to apply"
MIGRATOR_LOG_FORMAT=text migrator up

log "migrator status"
LOG_LEVEL=warning migrator status

log "the tracking table (layout: $layout)"
psql -X "$DATABASE_URL" -c 'SELECT * FROM drizzle.__drizzle_migrations ORDER BY id'
