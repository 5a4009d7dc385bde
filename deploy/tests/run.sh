#!/usr/bin/env bash
# Runs the deploy tests: the migration task runner, the composite action and scripts/ci-deploy-example.sh
# against a fake aws/docker (deploy/tests/test_*.sh), the task definitions against botocore's ECS
# model, the template's IAM policies (deploy/tests/test_policies.py), a scan for credentials, and
# scripts/lint.sh. Contacts nothing but PyPI/Debian for installs.
#
#   deploy/tests/run.sh [NAME-FILTER]     e.g. deploy/tests/run.sh never_stops
#
# Ends with "shell: N passed, M failed" and exits non-zero when anything failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh
# shellcheck source=deploy/tests/lib.sh
. deploy/tests/lib.sh
# shellcheck source=deploy/tests/test_run_migration_task.sh
. deploy/tests/test_run_migration_task.sh
# shellcheck source=deploy/tests/test_action.sh
. deploy/tests/test_action.sh

FILTER=${1:-}
# python3 by its real path: a version manager's shim (pyenv) costs 0.1 s a call, and the scripts
# under test call python3 many times
PATH="$(dirname "$(python3 -c 'import sys; print(sys.executable)')"):$PATH"
ensure_debs jq
python3 -c 'import botocore' 2>/dev/null || {
    log "installing botocore from PyPI"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore botocore
}
# the policy test reads the template with cfn-lint's decoder and the action list from parliament's
# database, the action tests read YAML: the Python beside the pinned tools scripts/lint.sh installs
# (ensure_pip_tool may put them into a venv of their own)
DEPLOY_PYTHON=$(dirname "$(ensure_pip_tool parliament "$(sed -n 's/^PARLIAMENT_VERSION=//p' scripts/lint.sh)" parliament)")/python3
ensure_pip_tool cfn-lint "$(sed -n 's/^CFN_LINT_VERSION=//p' scripts/lint.sh)" cfn-lint >/dev/null
[ -x "$DEPLOY_PYTHON" ] || DEPLOY_PYTHON=python3
"$DEPLOY_PYTHON" -c 'import cfnlint, parliament, yaml' || die "cfn-lint and parliament are not importable by $DEPLOY_PYTHON"
export DEPLOY_PYTHON

PASSED=0
FAILED=0
FAILED_NAMES=()
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/shell-tests.XXXXXX")
trap 'rm -rf "$LOGS"' EXIT

# run_test NAME COMMAND...: runs COMMAND in a subshell under set -euo pipefail, output to a log
# that is printed only on failure.
run_test() {
    local name=$1 rc=0 t0=$SECONDS
    shift
    [ -z "$FILTER" ] || [[ $name == *"$FILTER"* ]] || return 0
    set +e
    (
        set -euo pipefail
        "$@"
    ) >"$LOGS/$name.log" 2>&1
    rc=$?
    set -e
    if [ "$rc" -eq 0 ]; then
        PASSED=$((PASSED + 1))
        printf 'ok   %-55s %3ss\n' "$name" "$((SECONDS - t0))"
    else
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name")
        printf 'FAIL %-55s %3ss (exit %s)\n' "$name" "$((SECONDS - t0))" "$rc"
        sed 's/^/    | /' "$LOGS/$name.log" | tail -n 60
    fi
}

for t in $(declare -F | awk '{print $3}' | grep '^test_'); do
    run_test "${t#test_}" "$t"
done
run_test task_definition_staging python3 deploy/tests/validate_task_definitions.py task-definitions/staging.json
run_test task_definition_production python3 deploy/tests/validate_task_definitions.py task-definitions/production.json
run_test least_privilege_per_environment "$DEPLOY_PYTHON" deploy/tests/test_policies.py
run_test no_secrets_in_deploy_files python3 deploy/tests/check_no_secrets.py \
    Dockerfile .dockerignore task-definitions scripts deploy docs .github
run_test lint scripts/lint.sh

[ ${#FAILED_NAMES[@]} -eq 0 ] || echo "failed: ${FAILED_NAMES[*]}"
echo "shell: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
