# shellcheck shell=bash
# Helpers for deploy/tests/test_*.sh: a scenario folder for the fake aws (deploy/tests/fake-aws/aws),
# canned ECS/CloudWatch answers, and assertions. Sourced by deploy/tests/run.sh.

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$TESTS_DIR/../.." && pwd)
FAKE_BIN="$TESTS_DIR/fake-aws"
TASK_ID=0123456789abcdef0123456789abcdef

fail() { echo "FAIL: $*" >&2; exit 1; }
assert_eq() { [ "$1" = "$2" ] || fail "${3:-values differ}: expected '$2', got '$1'"; }
assert_contains() { grep -qF -- "$2" "$1" || { echo "--- $1:" >&2; cat "$1" >&2; fail "'$2' not in $1"; }; }
assert_not_contains() { ! grep -qF -- "$2" "$1" || { echo "--- $1:" >&2; cat "$1" >&2; fail "'$2' unexpectedly in $1"; }; }

# new_scenario ENV: a fresh FAKE_AWS_DIR with the answers every run needs (identity, an existing log
# group, a started task, two pages of migrator log lines). Sets SC, TASK_ARN.
new_scenario() {
    local env=$1
    SC=$(mktemp -d "${TMPDIR:-/tmp}/fake-aws.XXXXXX")
    export FAKE_AWS_DIR=$SC
    TASK_ARN="arn:aws:ecs:us-east-1:123456789012:task/bcos-$env-cluster/$TASK_ID"
    cat >"$SC/sts.get-caller-identity.json" <<'JSON'
{"UserId": "AROAEXAMPLEROLEID0000:ci", "Account": "111122223333", "Arn": "arn:aws:sts::111122223333:assumed-role/bcos-migration-deploy/ci"}
JSON
    cat >"$SC/logs.describe-log-groups.json" <<JSON
{"logGroups": [{"logGroupName": "/ecs/bcos-migrations-$env", "retentionInDays": 30}]}
JSON
    cat >"$SC/ecs.run-task.json" <<JSON
{"tasks": [{"taskArn": "$TASK_ARN", "lastStatus": "PROVISIONING", "desiredStatus": "RUNNING",
            "containers": [{"name": "migrator", "lastStatus": "PENDING"}]}], "failures": []}
JSON
    log_events 0 >"$SC/logs.get-log-events.json"
}

# task_state STATUS [EXIT_CODE|-] [STOPPED_REASON] [STOP_CODE]: one describe-tasks answer.
task_state() {
    python3 -S - "$TASK_ARN" "$@" <<'PY'
import json, sys
arn, status = sys.argv[1], sys.argv[2]
code = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else None
reason = sys.argv[4] if len(sys.argv) > 4 else None
stop_code = sys.argv[5] if len(sys.argv) > 5 else None
c = {"name": "migrator", "lastStatus": status}
t = {"taskArn": arn, "lastStatus": status, "desiredStatus": "STOPPED" if status == "STOPPED" else "RUNNING",
     "containers": [c]}
if code is not None:
    c["exitCode"] = int(code)
    t["startedAt"] = "2026-11-25T15:00:01.000000+00:00"
if status == "RUNNING":
    t["startedAt"] = "2026-11-25T15:00:01.000000+00:00"
if reason:
    t["stoppedReason"] = reason
if stop_code:
    t["stopCode"] = stop_code
print(json.dumps({"tasks": [t], "failures": []}))
PY
}

# log_events EXIT_CODE: a get-log-events page with migrator's JSON lines and one plain line.
log_events() {
    python3 -S - "$1" <<'PY'
import json, sys
code = int(sys.argv[1])
lines = [
    {"timestamp": "2026-11-25T15:00:02.100Z", "level": "info", "message": "starting", "event": "run.started",
     "database": "app@db.example.internal:5432/app"},
    {"timestamp": "2026-11-25T15:00:02.300Z", "level": "info", "message": "applied 0001_init", "event": "migration.applied",
     "migration": "0001_init", "index": 1, "duration_ms": 12},
]
if code:
    lines.append({"timestamp": "2026-11-25T15:00:02.400Z", "level": "error", "message": "migration failed",
                  "event": "migration.failed", "migration": "0002_users", "sqlstate": "42P01"})
lines.append({"timestamp": "2026-11-25T15:00:02.500Z", "level": "info", "message": "finished",
              "event": "run.finished", "exit_code": code, "applied": 1})
events = [{"timestamp": 1764082802100 + i, "message": json.dumps(l), "ingestionTime": 1764082803000}
          for i, l in enumerate(lines)]
events.append({"timestamp": 1764082802600, "message": "a line that is not JSON", "ingestionTime": 1764082803000})
print(json.dumps({"events": events, "nextForwardToken": "f/00000000000000000000000000000000000000000000000000000001",
                  "nextBackwardToken": "b/00000000000000000000000000000000000000000000000000000000"}))
PY
}

# run_task ARGS...: runs scripts/run-migration-task.sh with the fake aws first on PATH, fast polling.
# Sets RC; stdout in $SC/out, stderr in $SC/err.
# shellcheck disable=SC2034  # RC is read by the tests
run_task() {
    RC=0
    env -u AWS_REGION -u AWS_DEFAULT_REGION -u AWS_ACCOUNT_ID -u GITHUB_ACTIONS PATH="$FAKE_BIN:$PATH" \
        MIGRATION_POLL_INTERVAL="${MIGRATION_POLL_INTERVAL:-0.05}" MIGRATION_TIMEOUT="${MIGRATION_TIMEOUT:-20}" \
        MIGRATION_LOG_WAIT="${MIGRATION_LOG_WAIT:-0}" \
        "$REPO_DIR/scripts/run-migration-task.sh" "$@" >"$SC/out" 2>"$SC/err" || RC=$?
}

# calls SERVICE OP: how many times the fake aws was asked SERVICE OP.
calls() {
    [ -f "$SC/calls.jsonl" ] || { echo 0; return; }
    python3 -S - "$SC/calls.jsonl" "$1" "$2" <<'PY'
import json, sys
print(sum(1 for l in open(sys.argv[1]) if (json.loads(l)["service"], json.loads(l)["op"]) == (sys.argv[2], sys.argv[3])))
PY
}

# call_json SERVICE OP EXPR: a Python expression over the last such call `c` ({"params", "files", ...}).
call_json() {
    python3 -S - "$SC/calls.jsonl" "$1" "$2" "$3" <<'PY'
import json, sys
c = [json.loads(l) for l in open(sys.argv[1]) if (json.loads(l)["service"], json.loads(l)["op"]) == (sys.argv[2], sys.argv[3])][-1]
v = eval(sys.argv[4], {"c": c, "json": json})
print(json.dumps(v) if isinstance(v, (dict, list)) else v)
PY
}
