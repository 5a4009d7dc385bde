#!/usr/bin/env bash
# Copies the deploy kit into the app's repository and stages it (docs/deploy-ecs.md, step 7):
#   deploy/github/deploy.yml                 -> APP/.github/workflows/deploy.yml
#   deploy/github/actions/run-migration/     -> APP/.github/actions/run-migration/
#   task-definitions/{staging,production}.json -> APP/task-definitions/
# and prints the lines the app's Dockerfile needs (deploy/image/app.Dockerfile.example). Files that
# exist are replaced: the kit in the app repository is a copy of this one, not a fork.
#
#   deploy/install-into-app.sh APP_DIR
set -euo pipefail
KIT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APP=${1:?usage: deploy/install-into-app.sh APP_DIR (a git checkout of the app)}
git -C "$APP" rev-parse --git-dir >/dev/null 2>&1 || { echo "install-into-app: $APP is not a git checkout" >&2; exit 64; }

mkdir -p "$APP/.github/workflows" "$APP/.github/actions/run-migration" "$APP/task-definitions"
install -m 0644 "$KIT/deploy/github/deploy.yml" "$APP/.github/workflows/deploy.yml"
install -m 0644 "$KIT/deploy/github/actions/run-migration/action.yml" "$APP/.github/actions/run-migration/action.yml"
install -m 0755 "$KIT/deploy/github/actions/run-migration/run-migration-task.sh" \
    "$APP/.github/actions/run-migration/run-migration-task.sh"
install -m 0644 "$KIT/task-definitions/staging.json" "$KIT/task-definitions/production.json" "$APP/task-definitions/"
git -C "$APP" add .github/workflows/deploy.yml .github/actions/run-migration task-definitions/staging.json \
    task-definitions/production.json
echo "staged in $APP: .github/workflows/deploy.yml, .github/actions/run-migration/, task-definitions/"
if ! grep -q '/usr/local/bin/migrator' "$APP/Dockerfile" 2>/dev/null; then
    echo "the app's Dockerfile does not bake migrator in yet; add the lines marked 'migrator' of"
    echo "  $KIT/deploy/image/app.Dockerfile.example"
fi
