#!/usr/bin/env bash
# Runs one migration as an ECS Fargate task and exits with its exit code: what the deploy pipeline
# runs between "image pushed" and "deploy the application" (docs/deploy-ecs.md). The composite
# action beside this file (action.yml) runs it as its step's top process; scripts/run-migration-task.sh
# runs it from a shell.
#
#   run-migration-task.sh ENV --image IMAGE [--subnets a,b] [--security-groups sg] [--cluster NAME]
#                         [--iam-auth-url URL] [-- MIGRATOR ARGS...]
#
# ENV is staging or production (any ENV with a TASK_DEFINITIONS_DIR/ENV.json works). The steps:
#   1. register ENV.json with the image (and the account id) filled in: the file holds no secret,
#      the container fetches DATABASE_URL from Secrets Manager itself. --iam-auth-url URL (a
#      postgres:// URL without a password) switches the task to RDS IAM authentication instead:
#      DATABASE_SECRET_ID is dropped, DATABASE_URL=URL and MIGRATOR_IAM_AUTH=true are set;
#   2. make sure the log group exists (created with LOG_RETENTION_DAYS when missing; skipped with
#      MIGRATION_ENSURE_LOG_GROUP=false, as the action does: the CloudFormation stack owns it);
#   3. run-task on bcos-ENV-cluster, awsvpc with the given subnets and security groups and
#      assignPublicIp=DISABLED; arguments after `--` replace the container's command (`up`);
#   4. poll describe-tasks until the task is STOPPED, printing its CloudWatch log lines (migrator's
#      JSON events, made readable) as they arrive, up to MIGRATION_TIMEOUT seconds; on timeout, or
#      when this script gets SIGINT/SIGTERM (a cancelled or timed-out CI job), stop the task;
#   5. print the rest of the log, write a summary (GITHUB_STEP_SUMMARY) and outputs (GITHUB_OUTPUT)
#      when those are set;
#   6. exit with the container's exit code.
#
# Exit codes: the task's own (0 ok, 1 migration failed, 2 configuration, 3 database unreachable,
# 4 lock wait, 5 drift, 6 secret, 130/143 stopped); 64 usage error; 69 the task did not start or
# stopped without an exit code (its stoppedReason is printed); 70 an AWS call failed; 124 the task
# did not stop within MIGRATION_TIMEOUT; 130/143 when this script itself is interrupted.
#
# Environment (flags win): MIGRATOR_IMAGE, SUBNETS, SECURITY_GROUPS (comma-separated), CLUSTER,
# IAM_AUTH_DATABASE_URL, MIGRATION_TIMEOUT (seconds, default 1800), MIGRATION_POLL_INTERVAL
# (seconds, default 5), MIGRATION_LOG_WAIT (seconds to wait for the rest of the log after the stop,
# default 30), LOG_RETENTION_DAYS (default 30), MIGRATION_ENSURE_LOG_GROUP (default true),
# AWS_ACCOUNT_ID (default: sts get-caller-identity, only asked when the task definition still
# holds the 123456789012 placeholder), STOP_ON_TIMEOUT (default true), TASK_DEFINITIONS_DIR
# (default: ./task-definitions), MIGRATOR_JSON_TOOL (jq or python3; default jq when installed:
# only formats the log lines), GITHUB_STEP_SUMMARY / GITHUB_OUTPUT (set by GitHub Actions).
# Needs: aws (CLI v1 or v2) and python3 (standard library only: run as `python3 -S`).
set -euo pipefail

PLACEHOLDER_ACCOUNT=123456789012
export AWS_PAGER=""

EX_USAGE=64
EX_NOTASK=69
EX_AWS=70
EX_TIMEOUT=124

log() { printf '%s run-migration-task: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
gh_error() { [ "${GITHUB_ACTIONS:-}" = "true" ] && printf '::error title=migration::%s\n' "$*" >&2; return 0; }
fail() {
    local code=$1
    shift
    log "error: $*"
    gh_error "$*"
    exit "$code"
}
usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit "$EX_USAGE"
}

# jget EXPR: evaluates a Python expression over the JSON document `d` read from stdin and prints
# the result (nothing for a missing key; JSON for lists and objects).
jget() {
    python3 -S -c '
import json, sys
d = json.load(sys.stdin)
try:
    v = eval(sys.argv[1], {"d": d})
except (KeyError, IndexError, TypeError, StopIteration):
    v = None
if v is None:
    sys.exit(0)
print(json.dumps(v) if isinstance(v, (dict, list)) else v)
' "$1"
}

# ---------------------------------------------------------------- arguments
ENV_NAME=""
IMAGE=${MIGRATOR_IMAGE:-}
SUBNETS=${SUBNETS:-}
SECURITY_GROUPS=${SECURITY_GROUPS:-}
CLUSTER=${CLUSTER:-}
IAM_AUTH_URL=${IAM_AUTH_DATABASE_URL:-}
COMMAND_OVERRIDE=()
while [ $# -gt 0 ]; do
    case $1 in
        --image) IMAGE=${2:?--image needs a value}; shift 2 ;;
        --image=*) IMAGE=${1#*=}; shift ;;
        --subnets) SUBNETS=${2:?--subnets needs a value}; shift 2 ;;
        --subnets=*) SUBNETS=${1#*=}; shift ;;
        --security-groups) SECURITY_GROUPS=${2:?--security-groups needs a value}; shift 2 ;;
        --security-groups=*) SECURITY_GROUPS=${1#*=}; shift ;;
        --cluster) CLUSTER=${2:?--cluster needs a value}; shift 2 ;;
        --cluster=*) CLUSTER=${1#*=}; shift ;;
        --iam-auth-url) IAM_AUTH_URL=${2:?--iam-auth-url needs a value}; shift 2 ;;
        --iam-auth-url=*) IAM_AUTH_URL=${1#*=}; shift ;;
        -h | --help) usage ;;
        --) shift; COMMAND_OVERRIDE=("$@"); break ;;
        -*) log "unknown option: $1"; usage ;;
        *)
            [ -z "$ENV_NAME" ] || { log "unexpected argument: $1"; usage; }
            ENV_NAME=$1
            shift
            ;;
    esac
done

TIMEOUT=${MIGRATION_TIMEOUT:-1800}
POLL=${MIGRATION_POLL_INTERVAL:-5}
LOG_WAIT=${MIGRATION_LOG_WAIT:-30}
RETENTION=${LOG_RETENTION_DAYS:-30}
STOP_ON_TIMEOUT=${STOP_ON_TIMEOUT:-true}
ENSURE_LOG_GROUP=${MIGRATION_ENSURE_LOG_GROUP:-true}
TD_DIR=${TASK_DEFINITIONS_DIR:-task-definitions}

[ -n "$ENV_NAME" ] || { log "missing ENV (staging or production)"; usage; }
[[ $ENV_NAME =~ ^[a-z0-9-]+$ ]] || fail $EX_USAGE "ENV must be lower-case letters, digits and dashes: $ENV_NAME"
TD_FILE="$TD_DIR/$ENV_NAME.json"
[ -f "$TD_FILE" ] || fail $EX_USAGE "no task definition for '$ENV_NAME': $TD_FILE does not exist"
[ -n "$IMAGE" ] || fail $EX_USAGE "no image: pass --image or set MIGRATOR_IMAGE (the pushed image, ideally by digest)"
[ -n "$SUBNETS" ] || fail $EX_USAGE "no subnets: pass --subnets or set SUBNETS (comma-separated private subnet ids)"
[ -n "$SECURITY_GROUPS" ] || fail $EX_USAGE "no security groups: pass --security-groups or set SECURITY_GROUPS"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || fail $EX_USAGE "MIGRATION_TIMEOUT must be whole seconds: $TIMEOUT"
[[ $POLL =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail $EX_USAGE "MIGRATION_POLL_INTERVAL must be seconds: $POLL"
[[ $LOG_WAIT =~ ^[0-9]+$ ]] || fail $EX_USAGE "MIGRATION_LOG_WAIT must be whole seconds: $LOG_WAIT"
if [ -n "$IAM_AUTH_URL" ]; then
    # a URL that carries a password would put it into the task definition, readable by anyone who can
    # describe it: refused without echoing it
    python3 -S -c 'import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
sys.exit(0 if p.scheme in ("postgres", "postgresql") and p.hostname and p.username and p.password is None else 1)' "$IAM_AUTH_URL" ||
        fail $EX_USAGE "--iam-auth-url must be postgres://USER@HOST:PORT/DB without a password (the token replaces it)"
fi
command -v aws >/dev/null || fail $EX_USAGE "the aws CLI is not installed"
command -v python3 >/dev/null || fail $EX_USAGE "python3 is not installed"
CLUSTER=${CLUSTER:-bcos-$ENV_NAME-cluster}

JSON_TOOL=${MIGRATOR_JSON_TOOL:-}
if [ -z "$JSON_TOOL" ]; then
    if command -v jq >/dev/null; then JSON_TOOL=jq; else JSON_TOOL=python3; fi
fi

RUN_START=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/run-migration-task.XXXXXX")
TASK_ARN=""
TASK_STOPPED=false
CHILD=""
# shellcheck disable=SC2317  # called by the trap
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

# The task definition file is the single source of the region (awslogs-region): every call goes
# there, and a shell configured for another region is an error rather than a task in the wrong place.
TD_JSON=$(cat "$TD_FILE")
CONTAINER=migrator
REGION=$(jget "next(c for c in d['containerDefinitions'] if c['name']=='$CONTAINER')['logConfiguration']['options']['awslogs-region']" <<<"$TD_JSON")
LOG_GROUP=$(jget "next(c for c in d['containerDefinitions'] if c['name']=='$CONTAINER')['logConfiguration']['options']['awslogs-group']" <<<"$TD_JSON")
STREAM_PREFIX=$(jget "next(c for c in d['containerDefinitions'] if c['name']=='$CONTAINER')['logConfiguration']['options']['awslogs-stream-prefix']" <<<"$TD_JSON")
if [ -z "$REGION" ] || [ -z "$LOG_GROUP" ] || [ -z "$STREAM_PREFIX" ]; then
    fail $EX_USAGE "$TD_FILE: container '$CONTAINER' needs awslogs-region, awslogs-group and awslogs-stream-prefix"
fi
for var in AWS_REGION AWS_DEFAULT_REGION; do
    if [ -n "${!var:-}" ] && [ "${!var}" != "$REGION" ]; then
        fail $EX_USAGE "$var=${!var} but $TD_FILE is for $REGION: unset it or edit the task definition"
    fi
done

# aws_json OUTFILE ARGS...: one AWS CLI call, JSON to OUTFILE, its error text kept for messages.
# The call runs in the background and is waited for: bash runs a trap only after the foreground
# command ends, but `wait` returns as soon as a trapped signal arrives, so a cancel is handled at
# once instead of after a slow AWS call.
aws_json() {
    local out=$1
    shift
    aws --region "$REGION" --output json "$@" >"$out" 2>"$WORK/aws.err" &
    CHILD=$!
    wait "$CHILD"
}
# pause SECONDS: sleep that a trapped signal interrupts (see aws_json)
pause() {
    sleep "$1" &
    CHILD=$!
    wait "$CHILD" || true
}
aws_err() { tr '\n' ' ' <"$WORK/aws.err" | sed 's/ *$//'; }

# ---------------------------------------------------------------- 1. register the task definition
ACCOUNT=${AWS_ACCOUNT_ID:-}
if [ -z "$ACCOUNT" ] && grep -q "$PLACEHOLDER_ACCOUNT" <<<"$TD_JSON"; then
    aws_json "$WORK/identity.json" sts get-caller-identity || fail $EX_AWS "sts get-caller-identity failed: $(aws_err)"
    ACCOUNT=$(jget "d['Account']" <"$WORK/identity.json")
fi
IAM_AUTH_URL="$IAM_AUTH_URL" python3 -S - "$TD_FILE" "$IMAGE" "$PLACEHOLDER_ACCOUNT" "${ACCOUNT:-$PLACEHOLDER_ACCOUNT}" "$CONTAINER" >"$WORK/taskdef.json" <<'PY'
import json, os, sys
path, image, placeholder, account, container = sys.argv[1:]
iam_url = os.environ.get("IAM_AUTH_URL", "")
td = json.load(open(path))
for key in ("executionRoleArn", "taskRoleArn"):
    if key in td:
        td[key] = td[key].replace(":" + placeholder + ":", ":" + account + ":")
names = [c["name"] for c in td["containerDefinitions"]]
if container not in names:
    sys.exit(f"{path}: no container named {container!r} (found {names})")
for c in td["containerDefinitions"]:
    if c["name"] == container:
        c["image"] = image
        if iam_url:
            env = [e for e in c.get("environment", [])
                   if e["name"] not in ("DATABASE_SECRET_ID", "DATABASE_URL", "MIGRATOR_IAM_AUTH")]
            c["environment"] = env + [{"name": "DATABASE_URL", "value": iam_url},
                                      {"name": "MIGRATOR_IAM_AUTH", "value": "true"}]
json.dump(td, sys.stdout, indent=2)
PY
FAMILY=$(jget "d['family']" <"$WORK/taskdef.json")
log "registering $FAMILY (image $IMAGE${IAM_AUTH_URL:+, RDS IAM authentication})"
aws_json "$WORK/registered.json" ecs register-task-definition --cli-input-json "file://$WORK/taskdef.json" ||
    fail $EX_AWS "register-task-definition failed: $(aws_err)"
TD_ARN=$(jget "d['taskDefinition']['taskDefinitionArn']" <"$WORK/registered.json")
[ -n "$TD_ARN" ] || fail $EX_AWS "register-task-definition returned no taskDefinitionArn"
log "registered $TD_ARN"

# ---------------------------------------------------------------- 2. the log group
if [ "$ENSURE_LOG_GROUP" != true ]; then
    :
elif aws_json "$WORK/groups.json" logs describe-log-groups --log-group-name-prefix "$LOG_GROUP"; then
    if [ -z "$(jget "next((g['logGroupName'] for g in d.get('logGroups', []) if g['logGroupName']=='$LOG_GROUP'), None)" <"$WORK/groups.json")" ]; then
        log "creating log group $LOG_GROUP (retention $RETENTION days)"
        if aws_json "$WORK/create.json" logs create-log-group --log-group-name "$LOG_GROUP"; then
            aws_json "$WORK/retention.json" logs put-retention-policy --log-group-name "$LOG_GROUP" \
                --retention-in-days "$RETENTION" || log "warning: put-retention-policy failed: $(aws_err)"
        else
            log "warning: create-log-group failed (the task cannot start without it): $(aws_err)"
        fi
    fi
else
    log "warning: describe-log-groups failed, assuming $LOG_GROUP exists: $(aws_err)"
fi

# ---------------------------------------------------------------- 3. run the task
python3 -S - "$SUBNETS" "$SECURITY_GROUPS" >"$WORK/network.json" <<'PY'
import json, sys
split = lambda s: [x.strip() for x in s.split(",") if x.strip()]
print(json.dumps({"awsvpcConfiguration": {"subnets": split(sys.argv[1]),
                                          "securityGroups": split(sys.argv[2]),
                                          "assignPublicIp": "DISABLED"}}))
PY
run_args=(ecs run-task --cluster "$CLUSTER" --task-definition "$TD_ARN" --launch-type FARGATE --count 1
    --started-by "${MIGRATION_STARTED_BY:-run-migration-task}" --network-configuration "file://$WORK/network.json")
if [ ${#COMMAND_OVERRIDE[@]} -gt 0 ]; then
    python3 -S - "$CONTAINER" "${COMMAND_OVERRIDE[@]}" >"$WORK/overrides.json" <<'PY'
import json, sys
print(json.dumps({"containerOverrides": [{"name": sys.argv[1], "command": sys.argv[2:]}]}))
PY
    run_args+=(--overrides "file://$WORK/overrides.json")
    log "command override: migrator ${COMMAND_OVERRIDE[*]}"
fi
log "running $FAMILY on $CLUSTER (subnets $SUBNETS, security groups $SECURITY_GROUPS, no public IP)"
aws_json "$WORK/run.json" "${run_args[@]}" || fail $EX_AWS "run-task failed: $(aws_err)"
FAILURES=$(jget "'; '.join(f\"{f.get('arn', '?')}: {f.get('reason', '?')}\" + (f\" ({f['detail']})\" if f.get('detail') else '') for f in d.get('failures', []))" <"$WORK/run.json")
TASK_ARN=$(jget "d['tasks'][0]['taskArn']" <"$WORK/run.json")
if [ -z "$TASK_ARN" ]; then
    fail $EX_NOTASK "run-task started no task${FAILURES:+: $FAILURES}"
fi
TASK_ID=${TASK_ARN##*/}
log "started task $TASK_ID"

stop_task() {
    local reason=$1
    [ -n "$TASK_ARN" ] && [ "$TASK_STOPPED" = false ] || return 0
    log "stopping task $TASK_ID: $reason"
    # in the foreground: nothing may interrupt the one call that matters now
    aws --region "$REGION" --output json ecs stop-task --cluster "$CLUSTER" --task "$TASK_ARN" --reason "$reason" \
        >"$WORK/stop.json" 2>"$WORK/aws.err" || log "warning: stop-task failed: $(aws_err)"
    TASK_STOPPED=true
}
# shellcheck disable=SC2317  # called by the traps
on_signal() {
    local code=$1
    # a second signal (the runner follows SIGINT with SIGTERM) must not cut the stop-task call short
    trap '' INT TERM
    if [ -n "$CHILD" ]; then kill "$CHILD" 2>/dev/null || true; fi
    stop_task "deploy cancelled (run-migration-task.sh got signal $((code - 128)))"
    write_summary "$code" "cancelled: the task was stopped"
    fail "$code" "cancelled: migration task $TASK_ID stopped"
}
# ---------------------------------------------------------------- the logs, as they arrive
STREAM="$STREAM_PREFIX/$CONTAINER/$TASK_ID"
LOG_TOKEN=""
LOG_LINES=0
FINISHED_LINE=""
[ "${GITHUB_ACTIONS:-}" = "true" ] || log "log stream $LOG_GROUP $STREAM"

# print_events FILE: one get-log-events page, each migrator JSON line as
# "timestamp LEVEL event message key=value ...", anything else as it is. The `_aws` metrics block
# of run.finished is left out.
print_events() {
    if [ "$JSON_TOOL" = jq ]; then
        jq -r '
          def fields: to_entries
            | map(select(.key | IN("timestamp", "level", "event", "message", "_aws") | not))
            | map(" \(.key)=\(if (.value | type) == "string" then .value else (.value | tojson) end)")
            | join("");
          .events[]? | .message as $m | ($m | fromjson? // null) as $j
          | if ($j | type) == "object"
            then "\($j.timestamp // "-") \(($j.level // "-") | ascii_upcase) \($j.event // "-") \($j.message // "")\($j | fields)"
            else $m end' "$1"
    else
        python3 -S - "$1" <<'PY'
import json, sys
for e in json.load(open(sys.argv[1])).get("events", []):
    m = e.get("message", "")
    try:
        j = json.loads(m)
    except ValueError:
        j = None
    if not isinstance(j, dict):
        print(m)
        continue
    rest = "".join(
        f" {k}={v if isinstance(v, str) else json.dumps(v, separators=(',', ':'))}"
        for k, v in j.items() if k not in ("timestamp", "level", "event", "message", "_aws"))
    print(f"{j.get('timestamp', '-')} {str(j.get('level', '-')).upper()} {j.get('event', '-')} {j.get('message', '')}{rest}")
PY
    fi
}

# read_new_logs: prints the events that arrived since the last call (every page of them). A stream
# that does not exist yet is not an error: it appears when the container starts writing.
read_new_logs() {
    local n next
    while :; do
        local args=(logs get-log-events --log-group-name "$LOG_GROUP" --log-stream-name "$STREAM" --start-from-head)
        [ -n "$LOG_TOKEN" ] && args+=(--next-token "$LOG_TOKEN")
        aws_json "$WORK/events.json" "${args[@]}" || return 0
        n=$(jget "len(d.get('events', []))" <"$WORK/events.json")
        if [ "$n" -gt 0 ]; then
            print_events "$WORK/events.json"
            LOG_LINES=$((LOG_LINES + n))
            local fin
            fin=$(jget "next((e['message'] for e in reversed(d['events']) if '\"run.finished\"' in e['message']), None)" <"$WORK/events.json")
            [ -n "$fin" ] && FINISHED_LINE=$fin
        fi
        next=$(jget "d.get('nextForwardToken')" <"$WORK/events.json")
        [ -n "$next" ] && [ "$next" != "$LOG_TOKEN" ] && [ "$n" -gt 0 ] || return 0
        LOG_TOKEN=$next
    done
}

# read_rest_of_logs: after the stop, until run.finished is in (the stream fills a few seconds
# after the task stops) or MIGRATION_LOG_WAIT has passed
read_rest_of_logs() {
    local waited=0
    while :; do
        read_new_logs
        [ -z "$FINISHED_LINE" ] || return 0
        if [ "$waited" -ge "$LOG_WAIT" ]; then
            [ "$LOG_LINES" -gt 0 ] || log "no log events in $LOG_GROUP $STREAM after ${LOG_WAIT}s $(aws_err)"
            return 0
        fi
        pause 2
        waited=$((waited + 2))
    done
}

# ---------------------------------------------------------------- summary and outputs
log_url() {
    python3 -S -c 'import sys, urllib.parse as u
enc = lambda s: u.quote(u.quote(s, safe=""), safe="").replace("%", "$")
r, g, s = sys.argv[1:]
print(f"https://{r}.console.aws.amazon.com/cloudwatch/home?region={r}#logsV2:log-groups/log-group/{enc(g)}/log-events/{enc(s)}")' \
        "$REGION" "$LOG_GROUP" "$STREAM"
}

# write_summary EXIT_CODE MEANING: the step summary and the step outputs (GitHub Actions only)
write_summary() {
    local code=$1 meaning=$2 url applied pending duration finished='{}'
    url=$(log_url)
    [ -n "$FINISHED_LINE" ] && finished=$FINISHED_LINE
    applied=$(jget "d.get('applied', d.get('MigrationsApplied', ''))" <<<"$finished")
    pending=$(jget "d.get('pending', d.get('MigrationsPending', ''))" <<<"$finished")
    duration=$((SECONDS - RUN_START))
    if [ -n "${GITHUB_OUTPUT:-}" ]; then
        {
            echo "exit-code=$code"
            echo "task-arn=$TASK_ARN"
            echo "task-definition-arn=$TD_ARN"
            echo "applied=$applied"
            echo "pending=$pending"
            echo "duration-seconds=$duration"
            echo "log-url=$url"
        } >>"$GITHUB_OUTPUT"
    fi
    if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
        {
            echo "### Migration on $ENV_NAME: exit $code ($meaning)"
            echo
            echo "| | |"
            echo "| --- | --- |"
            echo "| Applied | ${applied:-unknown} |"
            echo "| Pending | ${pending:-unknown} |"
            echo "| Duration | ${duration} s |"
            echo "| Exit code | $code |"
            echo "| Task | \`$TASK_ID\` ($FAMILY on $CLUSTER) |"
            echo "| Log | [$LOG_GROUP]($url) |"
        } >>"$GITHUB_STEP_SUMMARY"
    fi
}

# ---------------------------------------------------------------- 4. wait for STOPPED, streaming
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
[ "${GITHUB_ACTIONS:-}" = "true" ] && echo "::group::migration log ($LOG_GROUP $STREAM)"
START=$SECONDS
LAST_STATUS=""
while :; do
    if aws_json "$WORK/task.json" ecs describe-tasks --cluster "$CLUSTER" --tasks "$TASK_ARN"; then
        STATUS=$(jget "d['tasks'][0]['lastStatus']" <"$WORK/task.json")
        if [ -n "$STATUS" ] && [ "$STATUS" != "$LAST_STATUS" ]; then
            log "task $TASK_ID: $STATUS ($((SECONDS - START)) s)"
            LAST_STATUS=$STATUS
        fi
        [ "$STATUS" = STOPPED ] && break
        case $STATUS in RUNNING | DEACTIVATING | STOPPING) read_new_logs ;; esac
    else
        log "warning: describe-tasks failed, retrying: $(aws_err)"
    fi
    if [ $((SECONDS - START)) -ge "$TIMEOUT" ]; then
        log "task $TASK_ID did not stop within $TIMEOUT s (MIGRATION_TIMEOUT)"
        if [ "$STOP_ON_TIMEOUT" = true ]; then
            stop_task "migration exceeded MIGRATION_TIMEOUT=${TIMEOUT}s"
        else
            log "STOP_ON_TIMEOUT=$STOP_ON_TIMEOUT: leaving the task running"
        fi
        TASK_STOPPED=true
        read_new_logs
        [ "${GITHUB_ACTIONS:-}" = "true" ] && echo "::endgroup::"
        write_summary $EX_TIMEOUT "timed out after ${TIMEOUT}s"
        fail $EX_TIMEOUT "migration task $TASK_ID did not finish within ${TIMEOUT}s; deploy stopped"
    fi
    pause "$POLL"
done
TASK_STOPPED=true
trap - INT TERM

# ---------------------------------------------------------------- 5./6. the rest of the log, exit code
EXIT_CODE=$(jget "next(c for c in d['tasks'][0]['containers'] if c['name']=='$CONTAINER').get('exitCode')" <"$WORK/task.json")
STOPPED_REASON=$(jget "d['tasks'][0].get('stoppedReason')" <"$WORK/task.json")
STOP_CODE=$(jget "d['tasks'][0].get('stopCode')" <"$WORK/task.json")
CONTAINER_REASON=$(jget "next(c for c in d['tasks'][0]['containers'] if c['name']=='$CONTAINER').get('reason')" <"$WORK/task.json")
STARTED_AT=$(jget "d['tasks'][0].get('startedAt')" <"$WORK/task.json")

if [ -n "$STARTED_AT" ] || [ -n "$EXIT_CODE" ]; then
    read_rest_of_logs
else
    log "the task never started, so it has no log"
fi
[ "${GITHUB_ACTIONS:-}" = "true" ] && echo "::endgroup::"

if [ -z "$EXIT_CODE" ]; then
    write_summary $EX_NOTASK "the task did not run: ${STOPPED_REASON:-no stoppedReason}"
    fail $EX_NOTASK "migration task $TASK_ID stopped without an exit code: ${STOPPED_REASON:-no stoppedReason}${STOP_CODE:+ (stopCode $STOP_CODE)}${CONTAINER_REASON:+; container: $CONTAINER_REASON}"
fi
case $EXIT_CODE in
    0) MEANING="success" ;;
    1) MEANING="a migration failed; that file was rolled back, earlier files stay applied" ;;
    2) MEANING="usage or configuration error" ;;
    3) MEANING="the database could not be reached or refused the login" ;;
    4) MEANING="a lock could not be taken within the lock wait" ;;
    5) MEANING="drift between the recorded history and the migrations folder" ;;
    6) MEANING="the database secret could not be read" ;;
    130 | 143) MEANING="stopped by a signal; the running file was rolled back${STOPPED_REASON:+ ($STOPPED_REASON)}" ;;
    137) MEANING="killed (SIGKILL): out of memory or stopTimeout exceeded${STOPPED_REASON:+ ($STOPPED_REASON)}" ;;
    *) MEANING="unexpected exit code${STOPPED_REASON:+ ($STOPPED_REASON)}" ;;
esac
write_summary "$EXIT_CODE" "$MEANING"
if [ "$EXIT_CODE" -eq 0 ]; then
    log "migration task $TASK_ID exited 0: $MEANING"
else
    log "migration task $TASK_ID exited $EXIT_CODE: $MEANING; deploy stopped"
    gh_error "migration task $TASK_ID exited $EXIT_CODE: $MEANING"
fi
exit "$EXIT_CODE"
