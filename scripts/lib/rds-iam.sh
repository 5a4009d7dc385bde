# shellcheck shell=bash
# Makes the throwaway PostgreSQL of start_postgres (scripts/lib/common.sh) check RDS IAM tokens the way
# RDS does: `pam` authentication for the IAM users (TLS only), through a PAM service whose pam_exec
# runs scripts/lib/rds_iam_verifier.py. Sourced, never run; needs root for /etc/pam.d.
#
# start_rds_iam: after start_postgres (and after start_moto, whose user key it also accepts). Writes $PG_DIR/iam/state.json (what the tests need: endpoint,
# users, keys, the verifier's log, the CA file) and exports MIGRATOR_TEST_IAM_STATE.
# stop_rds_iam: removes the PAM service (the rest goes with stop_postgres).

RDS_IAM_SERVICE=

start_rds_iam() {
    [ -n "${PG_DIR:-}" ] || die "start_rds_iam needs start_postgres first"
    [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null || {
        log "not root: the RDS IAM end-to-end tests will not run (a PAM service goes in /etc/pam.d)"
        return 1
    }
    # pam_exec and pam_permit (libpam-modules); botocore for the system python3 the verifier runs
    # under as user postgres (a pip or pyenv botocore in root's home is out of its reach).
    ensure_debs libpam-modules python3-botocore
    local dir="$PG_DIR/iam" key_secret session_secret session_token
    mkdir -p "$dir"
    cp "$(dirname "${BASH_SOURCE[0]}")/rds_iam_verifier.py" "$dir/"
    cp "$PG_DIR/data/server.crt" "$dir/root.crt"
    key_secret="iam-test-secret-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
    session_secret="iam-test-session-secret-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
    # Short: pam_exec passes at most 512 bytes of password (see the verifier).
    session_token="iamTestSessionToken/$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')+="
    cat >"$dir/config.json" <<JSON
{
  "endpoint": "localhost:$PG_PORT",
  "region": "us-east-1",
  "log": "$dir/verifier.log",
  "keys": {
    "TESTIAMKEYID000001": {"secret": "$key_secret"},
    "TESTIAMSESSION0001": {"secret": "$session_secret", "session_token": "$session_token"}
  },
  "users": {
    "migrator_iam": {},
    "migrator_iam_late": {"clock_offset_seconds": 1200}
  }
}
JSON
    cat >"$dir/state.json" <<JSON
{
  "host": "localhost",
  "port": $PG_PORT,
  "region": "us-east-1",
  "user": "migrator_iam",
  "late_user": "migrator_iam_late",
  "denied_user": "migrator_iam_denied",
  "root_cert": "$dir/root.crt",
  "verifier_log": "$dir/verifier.log",
  "verifier": "$dir/rds_iam_verifier.py",
  "verifier_config": "$dir/config.json",
  "key": {"access_key_id": "TESTIAMKEYID000001", "secret_access_key": "$key_secret"},
  "session": {"access_key_id": "TESTIAMSESSION0001", "secret_access_key": "$session_secret",
              "session_token": "$session_token"}
}
JSON
    # Moto's test user may sign tokens too, so a run can fetch a password-less secret from moto and
    # log in with the same credentials (start_moto first).
    if [ -n "${MIGRATOR_TEST_MOTO_STATE:-}" ]; then
        python3 - "$dir/config.json" "$MIGRATOR_TEST_MOTO_STATE" <<'PY' || die "could not add moto's key to the verifier"
import json, sys
config_path, moto_path = sys.argv[1], sys.argv[2]
config, user = json.load(open(config_path)), json.load(open(moto_path))["user"]
config["keys"][user["access_key_id"]] = {"secret": user["secret_access_key"]}
json.dump(config, open(config_path, "w"), indent=2)
PY
    fi
    : >"$dir/verifier.log"
    [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
    chmod 755 "$dir"
    chmod 644 "$dir/verifier.log" "$dir/root.crt" "$dir/config.json" "$dir/state.json"
    [ "$(id -u)" -eq 0 ] && chmod 666 "$dir/verifier.log"

    RDS_IAM_SERVICE="migrator-iam-$PG_PORT"
    as_root tee "/etc/pam.d/$RDS_IAM_SERVICE" >/dev/null <<PAM
# migrator tests (scripts/lib/rds-iam.sh): the password is an RDS IAM token, checked by the verifier.
auth    required pam_exec.so expose_authtok quiet /usr/bin/python3 $dir/rds_iam_verifier.py $dir/config.json
account required pam_permit.so
PAM
    # First match wins: the IAM users log in with a token over TLS and never any other way.
    local users="migrator_iam,migrator_iam_late,migrator_iam_denied" hba="$PG_DIR/data/pg_hba.conf"
    {
        echo "hostssl all $users 127.0.0.1/32 pam pamservice=$RDS_IAM_SERVICE"
        echo "host    all $users all reject"
        cat "$hba"
    } >"$hba.new"
    mv "$hba.new" "$hba"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$hba"
    "${PG_RUN[@]}" "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres \
        -c "CREATE ROLE migrator_iam LOGIN" -c "CREATE ROLE migrator_iam_late LOGIN" \
        -c "CREATE ROLE migrator_iam_denied LOGIN" -c "SELECT pg_reload_conf()" >/dev/null ||
        die "could not create the IAM roles"
    MIGRATOR_TEST_IAM_STATE="$dir/state.json"
    export MIGRATOR_TEST_IAM_STATE
    log "RDS IAM token checking on for migrator_iam* (PAM service $RDS_IAM_SERVICE)"
}

stop_rds_iam() {
    [ -n "$RDS_IAM_SERVICE" ] || return 0
    as_root rm -f "/etc/pam.d/$RDS_IAM_SERVICE"
    unset MIGRATOR_TEST_IAM_STATE
    RDS_IAM_SERVICE=
}
