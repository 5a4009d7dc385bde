#!/usr/bin/env bash
# The deploy pipeline as one shell script, for CI systems other than GitHub Actions (GitHub Actions:
# deploy/github/deploy.yml; docs/deploy-ecs.md): build the app's image (migrator baked in,
# deploy/image/app.Dockerfile.example) for linux/amd64, push it to the environment's repository, run
# the migration task with it, and deploy the application only when the migration exited 0. Any
# non-zero code stops the deploy with that code.
#
#   scripts/ci-deploy-example.sh ENV [-- DEPLOY COMMAND...]
#
# ENV is staging or production. The DEPLOY COMMAND runs after a green migration, for example
#   -- aws ecs update-service --cluster bcos-staging-cluster --service bcos-app --force-new-deployment
#
# Environment: BUILD_CONTEXT (required: the app's checkout, with its Dockerfile), SUBNETS and
# SECURITY_GROUPS (for run-migration-task.sh; the stack's SubnetIds and TaskSecurityGroupId outputs),
# AWS_ACCOUNT_ID (default: sts), ECR_REPOSITORY (default bcos-app-ENV, the stack's repository),
# IMAGE_TAG (default: git rev-parse --short=12 HEAD of BUILD_CONTEXT). The region is the task
# definition's.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
export AWS_PAGER=""

log() { printf '%s ci-deploy: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 64; }

ENV_NAME=${1:-}
[ -n "$ENV_NAME" ] || die "usage: $0 ENV [-- DEPLOY COMMAND...]"
shift
DEPLOY=()
if [ "${1:-}" = "--" ]; then
    shift
    DEPLOY=("$@")
fi
TD_FILE="$REPO_DIR/task-definitions/$ENV_NAME.json"
[ -f "$TD_FILE" ] || die "no task definition $TD_FILE"
CONTEXT=${BUILD_CONTEXT:-}
[ -d "${CONTEXT:-/nonexistent}" ] || die "set BUILD_CONTEXT to the app's checkout (its Dockerfile bakes migrator in)"

REGION=$(python3 -S -c 'import json, sys
td = json.load(open(sys.argv[1]))
print(next(c for c in td["containerDefinitions"] if c["name"] == "migrator")["logConfiguration"]["options"]["awslogs-region"])' "$TD_FILE")
ACCOUNT=${AWS_ACCOUNT_ID:-$(aws sts get-caller-identity --region "$REGION" --query Account --output text)}
REGISTRY="$ACCOUNT.dkr.ecr.$REGION.amazonaws.com"
REPOSITORY="$REGISTRY/${ECR_REPOSITORY:-bcos-app-$ENV_NAME}"
TAG=${IMAGE_TAG:-$(git -C "$CONTEXT" rev-parse --short=12 HEAD)}

log "building $REPOSITORY:$TAG"
aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "$REGISTRY"
docker build --pull --platform linux/amd64 --tag "$REPOSITORY:$TAG" "$CONTEXT"
docker push "$REPOSITORY:$TAG"
# Run exactly the bytes that were pushed: the digest, not the tag.
IMAGE=$(docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$REPOSITORY:$TAG" |
    grep -m1 "^$REPOSITORY@sha256:") || die "no digest for $REPOSITORY:$TAG after the push"
log "pushed $IMAGE"

rc=0
AWS_ACCOUNT_ID=$ACCOUNT "$SCRIPT_DIR/run-migration-task.sh" "$ENV_NAME" --image "$IMAGE" || rc=$?
if [ "$rc" -ne 0 ]; then
    log "migration exited $rc: not deploying the application"
    exit "$rc"
fi

if [ ${#DEPLOY[@]} -gt 0 ]; then
    log "migration green: deploying (${DEPLOY[*]})"
    "${DEPLOY[@]}"
else
    log "migration green (no deploy command given)"
fi
