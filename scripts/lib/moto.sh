# shellcheck shell=bash
# Sourced by scripts/test.sh after scripts/lib/common.sh: a throwaway moto server (a local AWS fake)
# with IAM request authentication on, so every Secrets Manager call the tests make has its SigV4
# signature checked. Loopback only. Never run on its own.

# ensure_moto: moto's server mode and boto3 (for the setup helper), from PyPI when missing; and the
# openssl tool, with which the AWS TLS tests make their self-signed certificates.
ensure_moto() {
    ensure_debs openssl
    python3 -c 'import moto.server, boto3' 2>/dev/null && return 0
    log "installing moto[server] and boto3 (pip)"
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6' boto3 >/dev/null ||
        die "pip install moto[server] failed"
}

# start_moto: starts moto on 127.0.0.1, lets exactly the setup calls through unauthenticated
# (INITIAL_NO_AUTH_ACTION_COUNT), creates the test user, role and secrets, and exports
# MIGRATOR_TEST_MOTO_URL and MIGRATOR_TEST_MOTO_STATE (a JSON file with their ids and keys).
start_moto() {
    ensure_moto
    local setup=scripts/lib/moto_setup.py count
    count=$(python3 "$setup" --print-action-count)
    MOTO_PORT=${MOTO_PORT:-$(free_port)}
    MOTO_DIR=$(mktemp -d /tmp/migrator-moto.XXXXXX)
    MOTO_URL="http://127.0.0.1:$MOTO_PORT"
    INITIAL_NO_AUTH_ACTION_COUNT=$count AWS_EC2_METADATA_DISABLED=true \
        python3 -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" >"$MOTO_DIR/server.log" 2>&1 &
    MOTO_PID=$!
    # /moto-api/ is moto's own page, not an AWS action: polling it spends none of the unauthenticated calls.
    local i
    for i in $(seq 1 150); do
        python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$MOTO_URL/moto-api/" \
            >/dev/null 2>&1 && break
        kill -0 "$MOTO_PID" 2>/dev/null || { cat "$MOTO_DIR/server.log" >&2; die "moto exited at start"; }
        [ "$i" -eq 150 ] && { cat "$MOTO_DIR/server.log" >&2; die "moto did not answer within 30 s"; }
        sleep 0.2
    done
    python3 "$setup" setup --endpoint "$MOTO_URL" --out "$MOTO_DIR/state.json" ||
        { tail -n 50 "$MOTO_DIR/server.log" >&2; die "moto setup failed"; }
    export MIGRATOR_TEST_MOTO_URL="$MOTO_URL"
    export MIGRATOR_TEST_MOTO_STATE="$MOTO_DIR/state.json"
    export MOTO_DIR MOTO_PID
    log "moto $(python3 -c 'import moto; print(moto.__version__)') on $MOTO_URL (request authentication on after $count setup calls)"
}

stop_moto() {
    [ -n "${MOTO_PID:-}" ] || return 0
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=
    [ -n "${MOTO_DIR:-}" ] && rm -rf "$MOTO_DIR"
    MOTO_DIR=
}
