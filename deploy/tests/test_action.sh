# shellcheck shell=bash
# Tests of the composite action (deploy/github/actions/run-migration/action.yml) as the runner runs
# it: its step's `run` script, with the step's env and the inputs filled in, written to a file and
# started as `bash --noprofile --norc -e -o pipefail FILE` (GitHub's bash step). Cancelling signals
# only that top process, as the runner does. Each test_* runs in its own subshell (deploy/tests/run.sh).

ACTION_DIR="$REPO_DIR/deploy/github/actions/run-migration"

# start_action [INPUT=VALUE...]: starts the step in the background with the fake aws; sets STEP_PID.
# stdout in $SC/out, stderr in $SC/err, GITHUB_OUTPUT in $SC/outputs, GITHUB_STEP_SUMMARY in $SC/summary.
start_action() {
    "$DEPLOY_PYTHON" - "$ACTION_DIR/action.yml" "$SC/step.sh" "$SC/step.env" "$ACTION_DIR" "$@" <<'PY'
import os, re, shlex, sys
import yaml
action_file, script, env_file, action_path, *pairs = sys.argv[1:]
action = yaml.safe_load(open(action_file))
inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
for p in pairs:
    k, _, v = p.partition("=")
    assert k in inputs, f"no input {k}"
    inputs[k] = v
missing = [k for k, v in action["inputs"].items() if v.get("required") and not inputs[k]]
assert not missing, f"required inputs missing: {missing}"
step = action["runs"]["steps"][0]
def expand(text):
    def one(m):
        expr = m.group(1).strip()
        if expr == "github.action_path":
            return action_path
        if expr.startswith("inputs."):
            return inputs[expr[len("inputs."):]]
        raise SystemExit(f"unsupported expression {expr}")
    return re.sub(r"\$\{\{(.*?)\}\}", one, str(text))
assert step["shell"] == "bash"
text = expand(step["run"])
if os.environ.get("STEP_WITHOUT_EXEC"):  # the control case: the step as it would be without `exec`
    assert "\nexec " in "\n" + text
    text = re.sub(r"(?m)^exec ", "", text)
open(script, "w").write(text)
with open(env_file, "w") as f:
    for k, v in step["env"].items():
        f.write(f"{k}={shlex.quote(expand(v))}\n")
PY
    : >"$SC/outputs"
    : >"$SC/summary"
    (
        set -a
        # shellcheck disable=SC1091
        . "$SC/step.env"
        set +a
        cd "$REPO_DIR" || exit
        # A background job of a script starts with SIGINT ignored (and bash cannot trap a signal ignored
        # at start); the runner starts steps with default dispositions, so restore them first.
        exec env -u AWS_REGION -u AWS_DEFAULT_REGION PATH="$FAKE_BIN:$PATH" GITHUB_ACTIONS=true \
            GITHUB_OUTPUT="$SC/outputs" GITHUB_STEP_SUMMARY="$SC/summary" AWS_ACCOUNT_ID=123456789012 \
            MIGRATION_POLL_INTERVAL=0.1 MIGRATION_LOG_WAIT=2 \
            python3 -S -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGQUIT, signal.SIG_DFL)
os.setpgid(0, 0)  # a process group of its own, so a test can clean up what a broken step leaves behind
os.execvp(sys.argv[1], sys.argv[1:])' bash --noprofile --norc -e -o pipefail "$SC/step.sh" >"$SC/out" 2>"$SC/err"
    ) &
    STEP_PID=$!
}

# wait_for FILE TEXT SECONDS: until TEXT is in FILE
wait_for() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "--- $1:" >&2
    cat "$1" >&2
    fail "'$2' did not appear in $1 within $3 s"
}

# step_exit: waits for the step; sets RC
step_exit() {
    RC=0
    wait "$STEP_PID" || RC=$?
}

# shellcheck disable=SC2054  # the commas are inside values (subnet lists)
action_inputs=(environment=staging image=111122223333.dkr.ecr.us-east-1.amazonaws.com/bcos-app-staging@sha256:0123
    subnets=subnet-a,subnet-b security-groups=sg-1)

# The task keeps RUNNING: its log lines must show up while it runs; then the job is cancelled.
cancel_case() {
    local signal=$1 want=$2
    new_scenario staging
    task_state PROVISIONING >"$SC/ecs.describe-tasks.1.json"
    task_state RUNNING >"$SC/ecs.describe-tasks.2.json"
    start_action "${action_inputs[@]}"
    wait_for "$SC/out" "migration.applied applied 0001_init" 15
    # still running: no STOPPED answer exists in this scenario, and the step is alive
    kill -0 "$STEP_PID" || fail "the step ended before it was cancelled"
    assert_eq "$(calls ecs stop-task)" 0 "stop-task before the cancel"
    local t0=$SECONDS
    kill "-$signal" "$STEP_PID"
    step_exit
    assert_eq "$RC" "$want" "the step's exit code after SIG$signal"
    # the runner sends SIGTERM 7.5 s after SIGINT and kills 2.5 s later: stop-task must be sent well before
    [ $((SECONDS - t0)) -le 7 ] || fail "took $((SECONDS - t0)) s to stop after SIG$signal"
    assert_eq "$(calls ecs stop-task)" 1 "stop-task calls"
    assert_eq "$(call_json ecs stop-task 'c["params"]["--task"]')" "$TASK_ARN" "the stopped task"
    assert_eq "$(call_json ecs stop-task 'c["params"]["--cluster"]')" bcos-staging-cluster "its cluster"
    assert_contains "$SC/summary" "cancelled"
    assert_contains "$SC/outputs" "exit-code=$want"
    # nothing of the step is left running (the fake aws or a sleep would keep polling)
    sleep 0.5
    local before after
    before=$(calls ecs describe-tasks)
    sleep 0.5
    after=$(calls ecs describe-tasks)
    assert_eq "$after" "$before" "describe-tasks calls after the step ended"
}

test_action_streams_while_running_and_sigint_stops_the_task() { cancel_case INT 130; }
test_action_streams_while_running_and_sigterm_stops_the_task() { cancel_case TERM 143; }

test_action_green_run_summary_and_outputs() {
    new_scenario staging
    task_state RUNNING >"$SC/ecs.describe-tasks.1.json"
    task_state RUNNING >"$SC/ecs.describe-tasks.2.json"
    task_state STOPPED 0 "Essential container in task exited" >"$SC/ecs.describe-tasks.3.json"
    start_action "${action_inputs[@]}"
    step_exit
    assert_eq "$RC" 0 "exit code"
    # streamed during RUNNING: the first get-log-events came before the STOPPED answer
    python3 - "$SC/calls.jsonl" <<'PY' || fail "no log read while the task was RUNNING"
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1])]
first_log = next(i for i, c in enumerate(calls) if c["op"] == "get-log-events")
third_describe = [i for i, c in enumerate(calls) if c["op"] == "describe-tasks"][2]
sys.exit(0 if first_log < third_describe else 1)
PY
    assert_contains "$SC/out" "::group::migration log (/ecs/bcos-migrations-staging migration/migrator/$TASK_ID)"
    assert_contains "$SC/out" "run.finished finished exit_code=0 applied=1"
    assert_eq "$(grep -c 'run.finished' "$SC/out")" 1 "each log line printed once"
    assert_contains "$SC/outputs" "exit-code=0"
    assert_contains "$SC/outputs" "applied=1"
    assert_contains "$SC/outputs" "task-arn=$TASK_ARN"
    assert_contains "$SC/outputs" "task-definition-arn=arn:aws:ecs:us-east-1:123456789012:task-definition/bcos-migration-staging:7"
    # shellcheck disable=SC2016  # the console's own $-encoding, not a variable
    assert_contains "$SC/outputs" 'log-url=https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/$252Fecs$252Fbcos-migrations-staging/log-events/migration$252Fmigrator$252F'"$TASK_ID"
    assert_contains "$SC/summary" "### Migration on staging: exit 0 (success)"
    assert_contains "$SC/summary" "| Applied | 1 |"
    assert_contains "$SC/summary" "| Exit code | 0 |"
    assert_eq "$(calls logs describe-log-groups)" 0 "the stack owns the log group: not looked up"
    assert_eq "$(call_json ecs run-task 'c["params"]["--started-by"]')" github-actions "started-by"
}

test_action_exits_with_the_task_code() {
    new_scenario staging
    log_events 5 >"$SC/logs.get-log-events.json"
    task_state STOPPED 5 "Essential container in task exited" >"$SC/ecs.describe-tasks.1.json"
    start_action "${action_inputs[@]}" command="verify"
    step_exit
    assert_eq "$RC" 5 "exit code"
    assert_eq "$(call_json ecs run-task 'json.loads(c["files"][c["params"]["--overrides"]])["containerOverrides"][0]["command"]')" \
        '["verify"]' "command input"
    assert_contains "$SC/err" "::error title=migration::migration task $TASK_ID exited 5"
    assert_contains "$SC/summary" "exit 5 (drift"
}

test_action_iam_auth_switch() {
    new_scenario staging
    task_state STOPPED 0 >"$SC/ecs.describe-tasks.1.json"
    start_action "${action_inputs[@]}" iam-auth-url="postgres://migrator@db.example.internal:5432/app?sslmode=verify-full"
    step_exit
    assert_eq "$RC" 0 "exit code"
    call_json ecs register-task-definition 'c["files"][c["params"]["--cli-input-json"]]' >"$SC/registered.json"
    python3 - "$SC/registered.json" <<'PY' || fail "the IAM-auth task definition is not as expected"
import json, sys
env = {e["name"]: e["value"] for e in json.load(open(sys.argv[1]))["containerDefinitions"][0]["environment"]}
assert env["MIGRATOR_IAM_AUTH"] == "true", env
assert env["DATABASE_URL"] == "postgres://migrator@db.example.internal:5432/app?sslmode=verify-full", env
assert "DATABASE_SECRET_ID" not in env, env
PY
    # a URL with a password is refused, and not echoed
    new_scenario staging
    start_action "${action_inputs[@]}" iam-auth-url="postgres://migrator:hunter2-secret@db.example.internal/app"
    step_exit
    assert_eq "$RC" 64 "exit code for a URL with a password"
    assert_not_contains "$SC/err" "hunter2-secret"
    assert_eq "$(calls ecs register-task-definition)" 0 "nothing registered"
}

test_install_into_app_copies_the_kit() {
    local app
    app=$(mktemp -d "${TMPDIR:-/tmp}/app.XXXXXX")
    git -C "$app" init -q
    "$REPO_DIR/deploy/install-into-app.sh" "$app" >"$app.out"
    cmp "$REPO_DIR/deploy/github/deploy.yml" "$app/.github/workflows/deploy.yml"
    cmp "$REPO_DIR/deploy/github/actions/run-migration/action.yml" "$app/.github/actions/run-migration/action.yml"
    [ -x "$app/.github/actions/run-migration/run-migration-task.sh" ] || fail "the action's script is not executable"
    cmp "$REPO_DIR/task-definitions/production.json" "$app/task-definitions/production.json"
    assert_eq "$(git -C "$app" diff --cached --name-only | wc -l)" 5 "files staged"
    assert_contains "$app.out" "app.Dockerfile.example"
    # the workflow's `uses: ./.github/actions/run-migration` resolves in the app's layout
    grep -q 'uses: ./.github/actions/run-migration$' "$app/.github/workflows/deploy.yml" || fail "the workflow does not use the local action"
    rm -rf "$app" "$app.out"
}

# run_workflow_step NAME [ENV=VALUE...]: the `run` script of deploy/github/deploy.yml's step NAME, with
# its `env` (expressions filled from the given values), as the runner runs it. Sets RC.
run_workflow_step() {
    local name=$1
    shift
    "$DEPLOY_PYTHON" - "$REPO_DIR/deploy/github/deploy.yml" "$name" "$SC/wf-step.sh" "$SC/wf-step.env" "$@" <<'PY'
import re, shlex, sys
import yaml
wf, name, script, env_file, *pairs = sys.argv[1:]
values = dict(p.split("=", 1) for p in pairs)
step = next(s for s in yaml.safe_load(open(wf))["jobs"]["deploy"]["steps"] if s.get("name") == name)
open(script, "w").write(step["run"])
with open(env_file, "w") as f:
    for k, v in step.get("env", {}).items():
        # every expression of a step's env is given by the test, by the variable's name
        f.write(f"{k}={shlex.quote(values[k] if '${{' in str(v) else str(v))}\n")
    for k, v in values.items():
        if k not in step.get("env", {}):
            f.write(f"{k}={shlex.quote(v)}\n")
PY
    : >"$SC/outputs"
    : >"$SC/summary"
    RC=0
    (
        set -a
        # shellcheck disable=SC1091
        . "$SC/wf-step.env"
        set +a
        cd "$SC" || exit
        exec env PATH="$FAKE_BIN:$PATH" GITHUB_OUTPUT="$SC/outputs" GITHUB_STEP_SUMMARY="$SC/summary" \
            bash --noprofile --norc -e -o pipefail "$SC/wf-step.sh" >"$SC/out" 2>"$SC/err"
    ) || RC=$?
}

test_workflow_reads_the_stack_outputs() {
    new_scenario staging
    cat >"$SC/cloudformation.describe-stacks.json" <<'JSON'
[{"OutputKey": "RepositoryUri", "OutputValue": "111122223333.dkr.ecr.eu-central-1.amazonaws.com/bcos-app-staging"},
 {"OutputKey": "ClusterName", "OutputValue": "bcos-staging-cluster"},
 {"OutputKey": "SubnetIds", "OutputValue": "subnet-a,subnet-b"},
 {"OutputKey": "TaskSecurityGroupId", "OutputValue": "sg-0task"},
 {"OutputKey": "AppServiceName", "OutputValue": "bcos-app"}]
JSON
    run_workflow_step "Read the stack's outputs" DEPLOY_ENV=staging
    assert_eq "$RC" 0 "exit code"
    assert_eq "$(call_json cloudformation describe-stacks 'c["params"]["--stack-name"]')" bcos-migrator-staging "stack"
    assert_eq "$(cat "$SC/outputs")" "$(printf '%s\n' \
        repository-uri=111122223333.dkr.ecr.eu-central-1.amazonaws.com/bcos-app-staging cluster=bcos-staging-cluster \
        subnets=subnet-a,subnet-b security-group=sg-0task app-service=bcos-app)" "step outputs"
    # the output names the later steps read are the ones this step writes
    python3 - "$REPO_DIR/deploy/github/deploy.yml" "$SC/outputs" <<'PY' || fail "a step reads an output the stack step does not write"
import re, sys
used = set(re.findall(r"steps\.stack\.outputs\.([a-z-]+)", open(sys.argv[1]).read()))
written = {l.split("=", 1)[0] for l in open(sys.argv[2]) if "=" in l}
sys.exit(0 if used <= written else f"missing: {used - written}")
PY
}

test_workflow_deploys_the_app_onto_the_same_image() {
    new_scenario staging
    echo "arn:aws:ecs:eu-central-1:111122223333:task-definition/bcos-app-staging:3" >"$SC/ecs.describe-services.json"
    cat >"$SC/ecs.describe-task-definition.json" <<'JSON'
{"taskDefinitionArn": "arn:aws:ecs:eu-central-1:111122223333:task-definition/bcos-app-staging:3", "revision": 3,
 "status": "ACTIVE", "family": "bcos-app-staging", "compatibilities": ["EC2", "FARGATE"], "registeredAt": "2026-11-01T00:00:00Z",
 "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}], "registeredBy": "arn:aws:sts::111122223333:assumed-role/x/y",
 "containerDefinitions": [{"name": "app", "image": "111122223333.dkr.ecr.eu-central-1.amazonaws.com/bcos-app-staging@sha256:old"},
                          {"name": "sidecar", "image": "public.ecr.aws/sidecar:1"}]}
JSON
    echo "arn:aws:ecs:eu-central-1:111122223333:task-definition/bcos-app-staging:4" >"$SC/ecs.register-task-definition.json"
    echo "arn:aws:ecs:eu-central-1:111122223333:service/bcos-staging-cluster/bcos-app" >"$SC/ecs.update-service.json"
    : >"$SC/ecs.wait.json"
    local image=111122223333.dkr.ecr.eu-central-1.amazonaws.com/bcos-app-staging@sha256:new
    run_workflow_step "Deploy the app onto the same image" CLUSTER=bcos-staging-cluster SERVICE=bcos-app \
        IMAGE="$image" APP_CONTAINER=app
    assert_eq "$RC" 0 "exit code"
    call_json ecs register-task-definition 'c["files"][c["params"]["--cli-input-json"]]' >"$SC/app-td.json"
    python3 - "$SC/app-td.json" "$image" <<'PY' || fail "the app's new task definition is not as expected"
import json, sys
td = json.load(open(sys.argv[1]))
assert [c["image"] for c in td["containerDefinitions"]] == [sys.argv[2], "public.ecr.aws/sidecar:1"], td
for key in ("taskDefinitionArn", "revision", "status", "compatibilities", "registeredAt", "requiresAttributes", "registeredBy"):
    assert key not in td, key
PY
    assert_eq "$(call_json ecs update-service 'c["params"]["--task-definition"]')" \
        "arn:aws:ecs:eu-central-1:111122223333:task-definition/bcos-app-staging:4" "the service's new revision"
    assert_eq "$(calls ecs wait)" 1 "waited for the service"
    # a container name the task definition does not have stops the step before anything is registered
    new_scenario staging
    echo "arn:aws:ecs:eu-central-1:111122223333:task-definition/bcos-app-staging:3" >"$SC/ecs.describe-services.json"
    echo '{"family": "bcos-app-staging", "containerDefinitions": [{"name": "web", "image": "x"}]}' >"$SC/ecs.describe-task-definition.json"
    run_workflow_step "Deploy the app onto the same image" CLUSTER=bcos-staging-cluster SERVICE=bcos-app IMAGE="$image" APP_CONTAINER=app
    [ "$RC" -ne 0 ] || fail "the step passed without the app's container"
    assert_contains "$SC/err" "has no container 'app'"
    assert_eq "$(calls ecs register-task-definition)" 0 "nothing registered"
}

# The control: the same step without `exec` is what the issue reproduced. Signalled the same way,
# the shell dies and its child keeps polling a task that nobody stops. (Cleaned up afterwards.)
test_action_control_without_exec_the_task_is_left_running() {
    new_scenario staging
    task_state RUNNING >"$SC/ecs.describe-tasks.1.json"
    STEP_WITHOUT_EXEC=1 start_action "${action_inputs[@]}"
    wait_for "$SC/out" "migration.applied" 15
    kill -TERM "$STEP_PID"
    step_exit
    local before after stops
    before=$(calls ecs describe-tasks)
    sleep 1
    after=$(calls ecs describe-tasks)
    stops=$(calls ecs stop-task)
    # cleanup (the orphan then stops the fake task itself, so count before)
    kill -TERM -- "-$STEP_PID" 2>/dev/null || true
    assert_eq "$RC" 143 "the shell's exit code"
    assert_eq "$stops" 0 "stop-task calls without exec"
    [ "$after" -gt "$before" ] || fail "the orphaned script stopped polling ($before -> $after)"
}
