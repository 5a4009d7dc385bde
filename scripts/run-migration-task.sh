#!/usr/bin/env bash
# Runs one migration as an ECS Fargate task from a shell, with this repository's task definitions:
# the script itself lives beside the composite action that CI uses
# (deploy/github/actions/run-migration/run-migration-task.sh; its header lists the options).
#
#   scripts/run-migration-task.sh ENV --image IMAGE [--subnets a,b] [--security-groups sg] [-- ARGS...]
set -euo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export TASK_DEFINITIONS_DIR=${TASK_DEFINITIONS_DIR:-$REPO_DIR/task-definitions}
exec "$REPO_DIR/deploy/github/actions/run-migration/run-migration-task.sh" "$@"
