#!/usr/bin/env bash
# Regenerates scripts/startup.order, the symbol ordering file the release link hands to lld (see
# Package.swift): the functions of the migrator binary that a no-op `migrator up` runs (everything
# applied; with and without TLS), then those only an apply runs, so that the code a start touches
# sits together instead of spread over 11 MB of text. Profiles the release binary with callgrind
# against a throwaway PostgreSQL, then relinks it with the new list.
#
#   scripts/startup-order.sh [--scratch-path DIR] [--files N] [--output FILE]
#
# --scratch-path  SwiftPM scratch path of the release build (default .build-release, as bench.sh)
# --files         generated drizzle-kit migrations to apply, then find applied (default 500)
# --output        where to write the list (default scripts/startup.order, the file Package.swift names)
#
# Worth rerunning when the start-up path changes (a new toolchain or dependency, a rewrite of the
# no-op run): the link ignores names that no longer exist (--no-warn-symbol-ordering), so a stale
# list builds fine and only costs RSS. Exits non-zero if it could not profile.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

SCRATCH=.build-release FILES=500 OUTPUT=scripts/startup.order
while [ $# -gt 0 ]; do
    case $1 in
    --scratch-path) SCRATCH=$2; shift 2 ;;
    --files) FILES=$2; shift 2 ;;
    --output) OUTPUT=$2; shift 2 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done

WORK=''
finish() {
    stop_postgres
    [ -n "$WORK" ] && rm -rf "$WORK"
}
trap finish EXIT

ensure_debs libpq-dev libcurl4-openssl-dev postgresql postgresql-client valgrind binutils openssl
ensure_swift

# Package.swift names scripts/startup.order; the first build of a checkout without it needs one.
[ -e scripts/startup.order ] || : >scripts/startup.order
BUILD=(swift build -c release --static-swift-stdlib --product migrator --scratch-path "$SCRATCH")
log "building the release binary"
"${BUILD[@]}" >&2
BIN="$("${BUILD[@]}" --show-bin-path)/migrator"

WORK=$(mktemp -d /tmp/migrator-order.XXXXXX)
# Valgrind 3.19 gives up on the Swift toolchain's DWARF 5; the symbol table is all callgrind needs.
objcopy --strip-debug "$BIN" "$WORK/migrator"

log "generating $FILES migrations"
python3 - "$WORK/drizzle" "$FILES" <<'PY'
import json, os, sys
drizzle, count = sys.argv[1], int(sys.argv[2])
os.makedirs(os.path.join(drizzle, "meta"))
entries = []
for i in range(count):
    t, prev = f"t{i:05d}", f"t{i - 1:05d}"
    statements = [
        f'CREATE TABLE "{t}" (\n\t"id" serial PRIMARY KEY NOT NULL,\n\t"parent_id" integer,\n\t"name" text NOT NULL\n);\n',
        f'CREATE INDEX "{t}_name_idx" ON "{t}" USING btree ("name");',
    ]
    if i > 0:
        statements.append(f'ALTER TABLE "{t}" ADD CONSTRAINT "{t}_parent_fk" FOREIGN KEY ("parent_id") '
                          f'REFERENCES "public"."{prev}"("id");')
    statements.append(f'INSERT INTO "{t}" ("name") VALUES ' + ", ".join(f"('row {j}')" for j in range(20)) + ";")
    tag = f"{i:04d}_order_{t}"
    with open(os.path.join(drizzle, tag + ".sql"), "w") as f:
        f.write("--> statement-breakpoint\n".join(statements))
    entries.append({"idx": i, "version": "7", "when": 1_735_689_600_000 + i * 60_000, "tag": tag, "breakpoints": True})
with open(os.path.join(drizzle, "meta", "_journal.json"), "w") as f:
    json.dump({"version": "7", "dialect": "postgresql", "entries": entries}, f, indent=2)
PY

start_postgres "$(pg_bindir)"
"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d "$PG_URL" -c "CREATE DATABASE startup_order" >/dev/null
DB_URL="postgres://postgres:$PG_PASSWORD@127.0.0.1:$PG_PORT/startup_order"

# profile NAME SSLMODE: one `migrator up` under callgrind, written to $WORK/NAME.callgrind.
profile() {
    log "callgrind: $1 (sslmode=$2)"
    if ! DATABASE_URL="$DB_URL?sslmode=$2" MIGRATIONS_DIR="$WORK/drizzle" valgrind --tool=callgrind \
        --demangle=no --callgrind-out-file="$WORK/$1.callgrind" "$WORK/migrator" up >"$WORK/$1.log" 2>&1; then
        tail -n 20 "$WORK/$1.log" >&2
        die "migrator up failed under callgrind ($1; log above)"
    fi
}
profile apply disable
profile noop disable
# sslmode=prefer logs in over TLS, as against RDS (the test cluster serves TLS).
profile noop-tls prefer
for run in noop noop-tls; do
    grep -q '"event":"plan.ready".*"pending":0' "$WORK/$run.log" || die "the $run run was not a no-op"
done

# The functions of the binary each profile ran, by mangled name: the no-op runs' first, then the
# apply's other functions, each group sorted so that a regenerated list diffs well.
python3 - "$WORK" "$WORK/migrator" "$OUTPUT.tmp" <<'PY'
import os, re, sys
work, binary, output = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3]

def functions(path):
    """Functions of `binary` in a callgrind profile. Names are compressed: "(id) name" defines an id,
    "(id)" refers to it; ob/cob share one table, fn/cfn another."""
    tables, ran, ob, cob = {"ob": {}, "fn": {}}, set(), None, None
    def name(table, value):
        m = re.match(r"\((\d+)\)(?: (.*))?$", value)
        if not m:
            return value
        if m.group(2) is not None:
            tables[table][m.group(1)] = m.group(2)
        return tables[table].get(m.group(1))
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            if key == "ob":
                ob, cob = name("ob", value), None
            elif key == "cob":
                cob = name("ob", value)
            elif key == "fn":
                cob = None
                fn = name("fn", value)
                if ob == binary:
                    ran.add(fn)
            elif key == "cfn":
                fn = name("fn", value)
                if (cob or ob) == binary:
                    ran.add(fn)
                cob = None  # a cob= line names the object of the one call that follows it
    # "name'2" is callgrind's label for a recursion level; "0x..." a function without a symbol.
    return {re.sub(r"'\d+$", "", f) for f in ran if f and not f.startswith("0x")}

start = functions(os.path.join(work, "noop.callgrind")) | functions(os.path.join(work, "noop-tls.callgrind"))
apply = functions(os.path.join(work, "apply.callgrind")) - start
if len(start) < 100:
    sys.exit(f"only {len(start)} functions of {binary} in the no-op profile: callgrind did not see its symbols")
with open(output, "w") as f:
    f.write("# lld --symbol-ordering-file for the release link (Package.swift), written by scripts/startup-order.sh:\n"
            f"# {len(start)} functions a no-op `migrator up` runs, then {len(apply)} only an apply runs.\n")
    for group in (start, apply):
        f.writelines(s + "\n" for s in sorted(group))
print(f"{len(start)} start-up functions, {len(apply)} more when applying")
PY
mv "$OUTPUT.tmp" "$OUTPUT"
log "wrote $OUTPUT"

# SwiftPM does not relink when only the list changed.
rm -f "$BIN"
"${BUILD[@]}" >&2
log "relinked $BIN with the new order"
