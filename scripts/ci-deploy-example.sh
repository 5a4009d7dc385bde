#!/usr/bin/env bash
# Example deploy step for CI (the README's "Deploy to ECS" has the GitHub Actions workflow that calls it): build the
# migrator image, push it to ECR, run the migration task, and deploy the application only when the
# migration exited 0. Any non-zero code stops the deploy with that code.
#
#   scripts/ci-deploy-example.sh ENV [-- DEPLOY COMMAND...]
#
# ENV is staging or production. The DEPLOY COMMAND runs after a green migration, for example
#   -- aws ecs update-service --cluster bcos-staging-cluster --service bcos-app --force-new-deployment
#
# Environment: RDS_CA_BUNDLE_SHA256 (required: the pinned checksum, see the README, "Deploy to ECS"),
# SUBNETS and SECURITY_GROUPS (for run-migration-task.sh), AWS_ACCOUNT_ID (default: sts),
# ECR_REPOSITORY (default bcos-migrator), IMAGE_TAG (default: git rev-parse --short=12 HEAD),
# MIGRATIONS_DIR (default migrations: the drizzle folder, relative to the build context),
# BUILD_CONTEXT (default: this repository). The region is the task definition's.
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
: "${RDS_CA_BUNDLE_SHA256:?set RDS_CA_BUNDLE_SHA256 (the README, The RDS CA bundle)}"

REGION=$(python3 -S -c 'import json, sys
td = json.load(open(sys.argv[1]))
print(next(c for c in td["containerDefinitions"] if c["name"] == "migrator")["logConfiguration"]["options"]["awslogs-region"])' "$TD_FILE")
ACCOUNT=${AWS_ACCOUNT_ID:-$(aws sts get-caller-identity --region "$REGION" --query Account --output text)}
REGISTRY="$ACCOUNT.dkr.ecr.$REGION.amazonaws.com"
REPOSITORY="$REGISTRY/${ECR_REPOSITORY:-bcos-migrator}"
TAG=${IMAGE_TAG:-$(git -C "$REPO_DIR" rev-parse --short=12 HEAD)}

log "building $REPOSITORY:$TAG"
aws ecr get-login-password --region "$REGION" | docker login --username AWS --password-stdin "$REGISTRY"
docker build --pull \
    --build-arg RDS_CA_BUNDLE_SHA256="$RDS_CA_BUNDLE_SHA256" \
    --build-arg MIGRATIONS_DIR="${MIGRATIONS_DIR:-migrations}" \
    --tag "$REPOSITORY:$TAG" "${BUILD_CONTEXT:-$REPO_DIR}"
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
