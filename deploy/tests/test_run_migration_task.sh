# shellcheck shell=bash
# Tests of scripts/run-migration-task.sh against the fake aws. Each test_* function runs in its own
# subshell under `set -euo pipefail` (deploy/tests/run.sh).

test_exit_0_passes_through() {
    new_scenario staging
    task_state PROVISIONING >"$SC/ecs.describe-tasks.1.json"
    task_state RUNNING >"$SC/ecs.describe-tasks.2.json"
    task_state STOPPED 0 "Essential container in task exited" EssentialContainerExited >"$SC/ecs.describe-tasks.3.json"
    run_task staging --image 111122223333.dkr.ecr.us-east-1.amazonaws.com/bcos-migrator@sha256:0123 \
        --subnets subnet-aaa,subnet-bbb --security-groups sg-123
    assert_eq "$RC" 0 "exit code"
    # what was registered: the file, with the image and the caller's account filled in, and valid
    call_json ecs register-task-definition 'c["files"][c["params"]["--cli-input-json"]]' >"$SC/registered.json"
    python3 "$TESTS_DIR/validate_task_definitions.py" --env staging "$SC/registered.json"
    assert_contains "$SC/registered.json" '"image": "111122223333.dkr.ecr.us-east-1.amazonaws.com/bcos-migrator@sha256:0123"'
    assert_contains "$SC/registered.json" '"executionRoleArn": "arn:aws:iam::111122223333:role/bcos-migration-execution-staging"'
    assert_contains "$SC/registered.json" '"taskRoleArn": "arn:aws:iam::111122223333:role/bcos-migration-task-staging"'
    assert_not_contains "$SC/registered.json" 123456789012
    # how it was run
    assert_eq "$(call_json ecs run-task 'c["params"]["--cluster"]')" bcos-staging-cluster cluster
    assert_eq "$(call_json ecs run-task 'c["params"]["--launch-type"]')" FARGATE "launch type"
    assert_eq "$(call_json ecs run-task 'c["params"]["--task-definition"]')" \
        "arn:aws:ecs:us-east-1:123456789012:task-definition/bcos-migration-staging:7" "task definition"
    assert_eq "$(call_json ecs run-task 'json.loads(c["files"][c["params"]["--network-configuration"]])')" \
        '{"awsvpcConfiguration": {"subnets": ["subnet-aaa", "subnet-bbb"], "securityGroups": ["sg-123"], "assignPublicIp": "DISABLED"}}' \
        "network configuration"
    assert_eq "$(call_json ecs run-task '"--overrides" in c["params"]')" False "no command override"
    assert_eq "$(call_json ecs run-task 'c["options"]["--region"]')" us-east-1 region
    assert_eq "$(calls ecs describe-tasks)" 3 "describe-tasks polls"
    assert_eq "$(calls ecs stop-task)" 0 "stop-task calls"
    assert_eq "$(calls logs create-log-group)" 0 "create-log-group calls (the group exists)"
    # the log stream of this task, printed readably
    assert_eq "$(call_json logs get-log-events 'c["params"]["--log-stream-name"]')" "migration/migrator/$TASK_ID" "log stream"
    assert_eq "$(call_json logs get-log-events 'c["params"]["--log-group-name"]')" /ecs/bcos-migrations-staging "log group"
    assert_contains "$SC/out" '2026-11-25T15:00:02.300Z INFO migration.applied applied 0001_init migration=0001_init index=1 duration_ms=12'
    assert_contains "$SC/out" 'run.finished finished exit_code=0 applied=1'
    assert_contains "$SC/out" 'a line that is not JSON'
    assert_contains "$SC/err" "PROVISIONING"
    assert_contains "$SC/err" "RUNNING"
    assert_contains "$SC/err" "exited 0: success"
}

test_exit_1_passes_through() {
    new_scenario production
    log_events 1 >"$SC/logs.get-log-events.json"
    task_state RUNNING >"$SC/ecs.describe-tasks.1.json"
    task_state STOPPED 1 "Essential container in task exited" >"$SC/ecs.describe-tasks.2.json"
    AWS_ACCOUNT_ID=123456789012 run_task production --image example/migrator:1 --subnets subnet-p --security-groups sg-p
    assert_eq "$RC" 1 "exit code"
    assert_eq "$(call_json ecs run-task 'c["params"]["--cluster"]')" bcos-production-cluster cluster
    assert_contains "$SC/out" 'ERROR migration.failed migration failed migration=0002_users sqlstate=42P01'
    assert_contains "$SC/err" "exited 1: a migration failed"
    assert_contains "$SC/err" "deploy stopped"
}

test_other_exit_codes_pass_through() {
    local code
    for code in 3 5 143; do
        new_scenario staging
        task_state STOPPED "$code" "Essential container in task exited" >"$SC/ecs.describe-tasks.1.json"
        run_task staging --image i --subnets s --security-groups g
        assert_eq "$RC" "$code" "exit code"
    done
}

test_no_exit_code_fails_with_stopped_reason() {
    new_scenario staging
    task_state PENDING >"$SC/ecs.describe-tasks.1.json"
    task_state STOPPED - "CannotPullContainerError: pull image manifest has been retried 5 time(s): not found" \
        TaskFailedToStart >"$SC/ecs.describe-tasks.2.json"
    GITHUB_ACTIONS=true run_task staging --image i --subnets s --security-groups g
    assert_eq "$RC" 69 "exit code"
    assert_contains "$SC/err" "stopped without an exit code: CannotPullContainerError: pull image manifest has been retried 5 time(s): not found (stopCode TaskFailedToStart)"
    assert_contains "$SC/err" "never started"
    assert_eq "$(calls logs get-log-events)" 0 "no log fetch for a task that never started"
}

test_never_stops_hits_the_limit() {
    new_scenario staging
    task_state RUNNING >"$SC/ecs.describe-tasks.1.json"
    local t0=$SECONDS
    MIGRATION_TIMEOUT=4 MIGRATION_POLL_INTERVAL=0.2 run_task staging --image i --subnets s --security-groups g
    assert_eq "$RC" 124 "exit code"
    [ $((SECONDS - t0)) -lt 20 ] || fail "took $((SECONDS - t0)) s for a 4 s limit"
    [ "$(calls ecs describe-tasks)" -ge 2 ] || fail "polled only $(calls ecs describe-tasks) times"
    assert_eq "$(calls ecs stop-task)" 1 "stop-task calls"
    assert_contains "$SC/err" "did not stop within 4 s"
    assert_eq "$(call_json ecs stop-task 'c["params"]["--reason"]')" "migration exceeded MIGRATION_TIMEOUT=4s" "stop reason"
    assert_contains "$SC/out" "run.finished"   # the logs so far are printed
}

test_never_stops_can_be_left_running() {
    new_scenario staging
    task_state RUNNING >"$SC/ecs.describe-tasks.1.json"
    STOP_ON_TIMEOUT=false MIGRATION_TIMEOUT=0 run_task staging --image i --subnets s --security-groups g
    assert_eq "$RC" 124 "exit code"
    assert_eq "$(calls ecs stop-task)" 0 "stop-task calls"
}

test_run_task_failures_are_a_failure() {
    new_scenario staging
    cat >"$SC/ecs.run-task.json" <<'JSON'
{"tasks": [], "failures": [{"arn": "arn:aws:ecs:us-east-1:123456789012:cluster/bcos-staging-cluster", "reason": "MISSING"}]}
JSON
    run_task staging --image i --subnets s --security-groups g
    assert_eq "$RC" 69 "exit code"
    assert_contains "$SC/err" "run-task started no task: arn:aws:ecs:us-east-1:123456789012:cluster/bcos-staging-cluster: MISSING"
    assert_eq "$(calls ecs describe-tasks)" 0 "describe-tasks calls"
}

test_aws_errors_are_a_failure() {
    new_scenario staging
    echo "An error occurred (AccessDeniedException) when calling the RegisterTaskDefinition operation: not authorized" \
        >"$SC/ecs.register-task-definition.err"
    run_task staging --image i --subnets s --security-groups g
    assert_eq "$RC" 70 "exit code"
    assert_contains "$SC/err" "register-task-definition failed: An error occurred (AccessDeniedException)"
    assert_eq "$(calls ecs run-task)" 0 "run-task calls"
}

test_describe_tasks_errors_are_retried() {
    new_scenario staging
    echo "An error occurred (ThrottlingException): Rate exceeded" >"$SC/ecs.describe-tasks.1.err"
    task_state RUNNING >"$SC/ecs.describe-tasks.2.json"
    task_state STOPPED 0 >"$SC/ecs.describe-tasks.3.json"
    run_task staging --image i --subnets s --security-groups g
    assert_eq "$RC" 0 "exit code"
    assert_contains "$SC/err" "describe-tasks failed, retrying: An error occurred (ThrottlingException)"
}

test_usage_errors() {
    new_scenario staging
    run_task staging --subnets s --security-groups g
    assert_eq "$RC" 64 "no image"
    assert_contains "$SC/err" "no image"
    MIGRATOR_IMAGE=i run_task staging --security-groups g
    assert_eq "$RC" 64 "no subnets"
    MIGRATOR_IMAGE=i SUBNETS=s run_task staging
    assert_eq "$RC" 64 "no security groups"
    run_task qa --image i --subnets s --security-groups g
    assert_eq "$RC" 64 "unknown environment"
    assert_contains "$SC/err" "qa.json does not exist"
    run_task --image i --subnets s --security-groups g
    assert_eq "$RC" 64 "no environment"
    RC=0
    env AWS_REGION=eu-west-1 PATH="$FAKE_BIN:$PATH" "$REPO_DIR/scripts/run-migration-task.sh" staging \
        --image i --subnets s --security-groups g >"$SC/out" 2>"$SC/err" || RC=$?
    assert_eq "$RC" 64 "region mismatch"
    assert_contains "$SC/err" "AWS_REGION=eu-west-1 but"
    assert_eq "$(calls ecs register-task-definition)" 0 "nothing registered"
}

test_command_override_and_log_group_creation() {
    new_scenario staging
    echo '{"logGroups": []}' >"$SC/logs.describe-log-groups.json"
    task_state STOPPED 0 >"$SC/ecs.describe-tasks.1.json"
    SUBNETS="subnet-a, subnet-b" SECURITY_GROUPS=sg-1 run_task staging --image i -- baseline --through 0003_x --dry-run
    assert_eq "$RC" 0 "exit code"
    assert_eq "$(call_json ecs run-task 'json.loads(c["files"][c["params"]["--overrides"]])')" \
        '{"containerOverrides": [{"name": "migrator", "command": ["baseline", "--through", "0003_x", "--dry-run"]}]}' overrides
    assert_eq "$(call_json ecs run-task 'json.loads(c["files"][c["params"]["--network-configuration"]])["awsvpcConfiguration"]["subnets"]')" \
        '["subnet-a", "subnet-b"]' subnets
    assert_eq "$(call_json logs create-log-group 'c["params"]["--log-group-name"]')" /ecs/bcos-migrations-staging "created group"
    assert_eq "$(call_json logs put-retention-policy 'c["params"]["--retention-in-days"]')" 30 retention
}

test_log_lines_same_with_jq_and_python() {
    command -v jq >/dev/null || fail "jq is not installed (deploy/tests/run.sh installs it)"
    new_scenario production
    log_events 1 >"$SC/logs.get-log-events.json"
    task_state STOPPED 1 >"$SC/ecs.describe-tasks.1.json"
    MIGRATOR_JSON_TOOL=jq run_task production --image i --subnets s --security-groups g
    cp "$SC/out" "$SC/out.jq"
    MIGRATOR_JSON_TOOL=python3 run_task production --image i --subnets s --security-groups g
    diff -u "$SC/out.jq" "$SC/out" || fail "jq and python3 format the log lines differently"
    [ "$(wc -l <"$SC/out")" -eq 5 ] || fail "expected 5 log lines, got $(wc -l <"$SC/out")"
}

test_logs_are_paged_and_waited_for() {
    new_scenario staging
    echo "An error occurred (ResourceNotFoundException): The specified log stream does not exist." \
        >"$SC/logs.get-log-events.1.err"
    log_events 0 >"$SC/logs.get-log-events.2.json"
    python3 - "$SC/logs.get-log-events.2.json" <<'PY' >"$SC/logs.get-log-events.3.json"
import json, sys
d = json.load(open(sys.argv[1]))
d["events"] = [{"timestamp": 1, "message": "second page", "ingestionTime": 2}]
d["nextForwardToken"] = "f/2"
print(json.dumps(d))
PY
    task_state STOPPED 0 >"$SC/ecs.describe-tasks.1.json"
    MIGRATION_LOG_WAIT=4 run_task staging --image i --subnets s --security-groups g
    assert_eq "$RC" 0 "exit code"
    assert_contains "$SC/out" "run.finished"
    assert_contains "$SC/out" "second page"
    assert_eq "$(calls logs get-log-events)" 4 "get-log-events calls (missing stream, page 1, page 2, end)"
}

# scripts/ci-deploy-example.sh with a fake docker: the app is deployed only after a green migration.
ci_example() {
    local code=$1
    new_scenario staging
    log_events "$code" >"$SC/logs.get-log-events.json"
    task_state STOPPED "$code" >"$SC/ecs.describe-tasks.1.json"
    echo "not-a-real-password" >"$SC/ecr.get-login-password.json"
    RC=0
    env -u AWS_REGION -u AWS_DEFAULT_REGION -u GITHUB_ACTIONS PATH="$FAKE_BIN:$TESTS_DIR/fake-docker:$PATH" \
        MIGRATION_POLL_INTERVAL=0.05 MIGRATION_LOG_WAIT=0 AWS_ACCOUNT_ID=123456789012 \
        IMAGE_TAG=abc123 SUBNETS=subnet-a SECURITY_GROUPS=sg-a BUILD_CONTEXT="$SC" \
        "$REPO_DIR/scripts/ci-deploy-example.sh" staging -- touch "$SC/app-deployed" >"$SC/out" 2>"$SC/err" || RC=$?
}

test_ci_example_deploys_after_green_migration() {
    ci_example 0
    assert_eq "$RC" 0 "exit code"
    [ -f "$SC/app-deployed" ] || fail "the app was not deployed"
    assert_contains "$SC/docker.log" "login --username AWS --password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert_contains "$SC/docker.log" "build --pull --platform linux/amd64 --tag 123456789012.dkr.ecr.us-east-1.amazonaws.com/bcos-app-staging:abc123 $SC"
    assert_contains "$SC/docker.log" "push 123456789012.dkr.ecr.us-east-1.amazonaws.com/bcos-app-staging:abc123"
    # the task runs the pushed image by digest
    assert_eq "$(call_json ecs register-task-definition 'json.loads(c["files"][c["params"]["--cli-input-json"]])["containerDefinitions"][0]["image"]')" \
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/bcos-app-staging@sha256:1111111111111111111111111111111111111111111111111111111111111111" image
}

test_ci_example_stops_the_deploy_on_failure() {
    ci_example 5
    assert_eq "$RC" 5 "exit code"
    [ ! -f "$SC/app-deployed" ] || fail "the app was deployed after a failed migration"
    assert_contains "$SC/err" "not deploying"
}
