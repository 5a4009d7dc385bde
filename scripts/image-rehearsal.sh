#!/usr/bin/env bash
# Rehearses the runtime image on a machine without a Docker engine (README, "Deploy to ECS").
#
#   scripts/image-rehearsal.sh [--podman] [--keep-cache|--clean-cache] [BINARY]
#
# (a) always: the runtime root. `debootstrap --variant=minbase --include=libpq5,libcurl4,ca-certificates
#     bookworm` (cached), the stripped release BINARY and migrations/ copied in as the Dockerfile lays
#     them out (/usr/local/bin/migrator, /app/migrations, user 10001), then under chroot, as user 10001,
#     with the root mounted read-only (the task definitions' readonlyRootFilesystem):
#     `migrator up` (exit 0, every journal entry recorded), `up` again (nothing pending), `status`,
#     `verify` (exit 0), and a closed port (exit 3), against PostgreSQL over 127.0.0.1 in a database of
#     its own. Also: `objdump -p` NEEDED names nothing beyond glibc, libstdc++/libgcc, libpq5 and
#     libcrypto (libssl3, a dependency of libpq5), and `ldd` inside the root resolves every library
#     from Debian packages of that root. libcurl4 is not NEEDED (migrator opens libcurl.so.4 with
#     dlopen on the Secrets Manager path only), so: the root's linker cache has libcurl.so.4 and `ldd`
#     resolves its dependencies, and a Secrets Manager fetch against a closed port on 127.0.0.1 fails
#     as a connection error (exit 6), not a missing libcurl.
# (b) with --podman (or REHEARSAL_PODMAN=1): the real Dockerfile, unchanged, built with podman (runc,
#     explicit ulimits, host network): the debootstrap root is imported under the runtime FROM name;
#     the builder FROM name is a bookworm root with the Swift image's packages whose toolchain is this
#     machine's /opt/swift, bind-mounted read-only (and /opt/swift-packages, where git finds the
#     dependencies); the RDS CA bundle is a local stand-in served on 127.0.0.1 with its sha256 as the
#     build argument. Then the image is run with `podman run --network=host --read-only` against the
#     same PostgreSQL, its metadata checked, a wrong checksum shown to fail the build, and its size
#     reported. (b) is a second full release build in a container: minutes on 2 cores, hence opt-in.
#
# BINARY: $1, else $MIGRATOR_BIN, else .build-release/release/migrator (from
#   swift build -c release --static-swift-stdlib --product migrator --scratch-path .build-release).
# PostgreSQL: $MIGRATOR_TEST_DATABASE_URL (a superuser URL on 127.0.0.1; a database is created and
#   dropped in it), else a throwaway server from scripts/lib/common.sh.
# REHEARSAL_CONTEXT (default: this repository's work tree): the podman build context; `head` builds
#   `git archive HEAD` instead (what CI's fresh clone holds, whatever the work tree has in progress).
# REHEARSAL_CACHE (default /var/cache/migrator-image-rehearsal): the debootstrap roots and podman's
#   storage, kept between runs. REHEARSAL_MIGRATIONS_DIR (default migrations, relative to the
#   repository: it is also the MIGRATIONS_DIR build argument). DEBIAN_MIRROR (default:
#   the Debian mirror of /etc/apt/sources.list*). Needs root (debootstrap, mount, chroot).
# Prints "image-rehearsal: N passed, 0 failed" and exits non-zero when a check failed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

PODMAN_MODE=${REHEARSAL_PODMAN:-0}
CLEAN_CACHE=0
BINARY=""
while [ $# -gt 0 ]; do
    case $1 in
        --podman) PODMAN_MODE=1; shift ;;
        --clean-cache) CLEAN_CACHE=1; shift ;;
        --keep-cache) CLEAN_CACHE=0; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1" ;;
        *) BINARY=$1; shift ;;
    esac
done
BINARY=${BINARY:-${MIGRATOR_BIN:-.build-release/release/migrator}}
[ -f "$BINARY" ] || die "no migrator binary at $BINARY: build it with
  swift build -c release --static-swift-stdlib --product migrator --scratch-path .build-release
or pass its path (argument or MIGRATOR_BIN)"
BINARY=$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")
[ "$(id -u)" -eq 0 ] || die "needs root: debootstrap, mount and chroot"

CACHE=${REHEARSAL_CACHE:-/var/cache/migrator-image-rehearsal}
MIGRATIONS_SRC=${REHEARSAL_MIGRATIONS_DIR:-migrations}
SUITE=bookworm
RUNTIME_PACKAGES=libpq5,libcurl4,ca-certificates
# what the official swift:*-bookworm image installs, less lldb's python/z3 and gnupg
BUILDER_PACKAGES=binutils,git,libc6-dev,libcurl4-openssl-dev,libedit2,libgcc-12-dev,libsqlite3-0,libstdc++-12-dev,libxml2-dev,libncurses-dev,pkg-config,tzdata,zlib1g-dev,ca-certificates
# libcurl.so.4 is not among them: migrator opens it with dlopen, only when it fetches a secret.
# libcrypto.so.3 (libssl3, which libpq5 depends on): CFastHMAC links it.
ALLOWED_NEEDED='^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libutil\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libpq\.so\.5|libcrypto\.so\.3)$'

PASSED=0
FAILED=0
check() { # check NAME COMMAND...: one counted check
    local name=$1
    shift
    if "$@"; then
        PASSED=$((PASSED + 1))
        log "ok   $name"
    else
        FAILED=$((FAILED + 1))
        log "FAIL $name"
    fi
}
T_START=$SECONDS
timing() { log "time: $1 took $((SECONDS - $2)) s"; }

ensure_debs debootstrap binutils postgresql-client
[ "$PODMAN_MODE" = 1 ] && ensure_debs podman runc

# ------------------------------------------------------------------ cleanup
WORK=""
ROOT=""
MOUNTS=()
DB_NAME=""
ADMIN_URL=""
HTTP_PID=""
OWN_POSTGRES=0
cleanup() {
    local rc=$? m i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        m=${MOUNTS[$i]}
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: could not unmount $m"
    done
    [ -n "$HTTP_PID" ] && kill "$HTTP_PID" 2>/dev/null
    if [ -n "$DB_NAME" ] && [ -n "$ADMIN_URL" ]; then
        psql -q -X "$ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    # only the server this script started (a caller's PG_DIR is inherited through the environment)
    [ "$OWN_POSTGRES" = 1 ] && stop_postgres
    # only after every mount is gone: never rm -rf through a live bind mount
    if [ -n "$WORK" ] && ! grep -qF " $WORK" /proc/mounts; then rm -rf "$WORK"; fi
    if [ "$CLEAN_CACHE" = 1 ]; then
        [ -d "$CACHE/podman" ] && podman --root "$CACHE/podman" --runroot /run/migrator-image-rehearsal \
            system reset --force >/dev/null 2>&1
        rm -rf "$CACHE"
    fi
    return $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/run.XXXXXX")

# ------------------------------------------------------------------ the Debian mirror
debian_mirror() {
    [ -n "${DEBIAN_MIRROR:-}" ] && { echo "$DEBIAN_MIRROR"; return; }
    local f uri
    # deb822 .sources: the URIs of a stanza whose Suites name the release itself (not -security)
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk -v suite="$SUITE" '
            /^$/ { if (u != "" && s) { print u; exit } u = ""; s = 0 }
            /^URIs:/ { u = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) s = 1 }
            END { if (u != "" && s) print u }' "$f" | head -n1)
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    # one-line format: deb [opts] URI SUITE COMPONENTS
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        sed -E 's/\[[^]]*\]//' | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }')
    echo "${uri:-http://deb.debian.org/debian}"
}

# cached_root NAME PACKAGES: a debootstrap root under $CACHE, made once per package list and mirror.
cached_root() {
    local name=$1 packages=$2 mirror stamp dir t0
    mirror=$(debian_mirror)
    dir="$CACHE/$name"
    stamp="variant=minbase suite=$SUITE include=$packages mirror=$mirror"
    if [ -f "$dir/.rehearsal-stamp" ] && [ "$(cat "$dir/.rehearsal-stamp")" = "$stamp" ]; then
        log "using cached $name root ($dir)"
        echo "$dir"
        return
    fi
    rm -rf "$dir" "$dir.tmp"
    log "debootstrap $SUITE minbase + $packages from $mirror into $dir"
    t0=$SECONDS
    debootstrap --variant=minbase --include="$packages" "$SUITE" "$dir.tmp" "$mirror" >"$WORK/debootstrap-$name.log" 2>&1 ||
        { tail -n 30 "$WORK/debootstrap-$name.log" >&2; die "debootstrap of $name failed"; }
    rm -rf "$dir.tmp/var/cache/apt/archives/"*.deb "$dir.tmp/var/lib/apt/lists/"*_Packages 2>/dev/null || true
    echo "$stamp" >"$dir.tmp/.rehearsal-stamp"
    mv "$dir.tmp" "$dir"
    timing "debootstrap $name" "$t0" >&2
    echo "$dir"
}

# ------------------------------------------------------------------ PostgreSQL and a database of our own
if [ -n "${MIGRATOR_TEST_DATABASE_URL:-}" ]; then
    ADMIN_URL=$MIGRATOR_TEST_DATABASE_URL
    log "using PostgreSQL at MIGRATOR_TEST_DATABASE_URL"
else
    ensure_debs postgresql openssl
    OWN_POSTGRES=1
    PG_DIR=""
    PG_PORT=""
    start_postgres "$(pg_bindir)"
    ADMIN_URL=$PG_URL
fi
DB_NAME="image_rehearsal_$$_$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
psql -q -X -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "CREATE DATABASE \"$DB_NAME\"" >/dev/null
DB_URL=$(python3 -c 'import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$ADMIN_URL" "$DB_NAME")
CLOSED_PORT_URL=$(python3 -c 'import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
print(u.urlunsplit(p._replace(netloc=p.netloc.rsplit("@", 1)[0] + "@127.0.0.1:" + sys.argv[2])))' "$DB_URL" "$(free_port)")
JOURNAL_ENTRIES=$(python3 -c 'import json, sys
print(len(json.load(open(sys.argv[1]))["entries"]))' "$MIGRATIONS_SRC/meta/_journal.json" 2>/dev/null) ||
    die "$MIGRATIONS_SRC/meta/_journal.json is missing or not a drizzle journal"
log "migrations: $MIGRATIONS_SRC ($JOURNAL_ENTRIES journal entries); database $DB_NAME"

# recorded_rows: rows in the tracking table of our database (default schema and table).
recorded_rows() {
    psql -X -A -t "$DB_URL" -c 'SELECT count(*) FROM drizzle.__drizzle_migrations' 2>/dev/null | tr -d ' '
}
# last_line_is_finished FILE CODE: the run ended with a run.finished event carrying CODE.
last_line_is_finished() {
    python3 - "$1" "$2" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]).read().splitlines() if l.strip()]
try:
    last = json.loads(lines[-1])
except (IndexError, ValueError):
    sys.exit(f"last line is not JSON: {lines[-1:]}")
ok = last.get("event") == "run.finished" and str(last.get("exit_code")) == sys.argv[2]
if not ok:
    sys.exit(f"last line: {lines[-1]}")
PY
}
# expect_exit WANT LABEL COMMAND...: runs COMMAND, output to $WORK/LABEL.out, compares its exit code.
expect_exit() {
    local want=$1 label=$2 rc=0
    shift 2
    "$@" >"$WORK/$label.out" 2>"$WORK/$label.err" || rc=$?
    if [ "$rc" != "$want" ]; then
        log "$label: exit $rc, expected $want"
        sed 's/^/    | /' "$WORK/$label.out" "$WORK/$label.err" | tail -n 40 >&2
        return 1
    fi
}

# ------------------------------------------------------------------ (a) the binary itself
T_A=$SECONDS
STRIPPED="$WORK/migrator"
strip -o "$STRIPPED" "$BINARY"
chmod 0755 "$STRIPPED"
BIN_SIZE=$(stat -c %s "$BINARY")
STRIPPED_SIZE=$(stat -c %s "$STRIPPED")
log "binary $BINARY: $BIN_SIZE bytes, stripped $STRIPPED_SIZE bytes ($((STRIPPED_SIZE / 1024 / 1024)) MiB)"

needed_ok() {
    local needed bad
    needed=$(objdump -p "$STRIPPED" | awk '$1 == "NEEDED" { print $2 }')
    log "NEEDED: $(echo "$needed" | tr '\n' ' ')"
    bad=$(echo "$needed" | grep -Ev "$ALLOWED_NEEDED" || true)
    [ -z "$bad" ] || { log "NEEDED beyond glibc, libstdc++/libgcc, libpq5, libcrypto (libcurl must be dlopen-ed): $bad"; return 1; }
    if ! echo "$needed" | grep -q '^libpq\.so\.5$'; then
        log "expected libpq.so.5 among NEEDED"
        return 1
    fi
    # no Swift runtime library: --static-swift-stdlib put it into the binary
    ! echo "$needed" | grep -q -i swift
}
check "objdump -p: NEEDED only glibc, libstdc++/libgcc, libpq5, libcrypto (not libcurl4)" needed_ok

# libpq's SCRAM login binds to the HMAC_CTX functions CFastHMAC defines only if the binary exports
# them; a link that dropped them would still work, only slower, so nothing else would notice.
hmac_exported() {
    local exported
    exported=$(nm -D --defined-only "$STRIPPED" | awk '$2 == "T" && $3 ~ /^HMAC_/ { print $3 }' | sort | tr '\n' ' ')
    log "exported HMAC functions: $exported"
    [ "$exported" = "HMAC_CTX_copy HMAC_CTX_free HMAC_CTX_get_md HMAC_CTX_new HMAC_CTX_reset HMAC_CTX_set_flags HMAC_Final HMAC_Init HMAC_Init_ex HMAC_Update HMAC_size " ]
}
check "nm -D: the HMAC_CTX functions libpq's login binds to are exported" hmac_exported

# ------------------------------------------------------------------ (a) the runtime root
RUNTIME_CACHE=$(cached_root runtime-$SUITE "$RUNTIME_PACKAGES")
t0=$SECONDS
ROOT="$WORK/root"
cp -a "$RUNTIME_CACHE" "$ROOT"
rm -f "$ROOT/.rehearsal-stamp"
# laid out as the Dockerfile's base and final stages do
install -m 0755 "$STRIPPED" "$ROOT/usr/local/bin/migrator"
mkdir -p "$ROOT/app/migrations"
cp -R "$MIGRATIONS_SRC/." "$ROOT/app/migrations/"
chown -R 0:0 "$ROOT/app"
chmod -R a+rX,go-w "$ROOT/app"
chroot "$ROOT" groupadd --gid 10001 migrator
chroot "$ROOT" useradd --no-log-init --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin migrator
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
timing "runtime root prepared" "$t0"

ldd_ok() {
    chroot "$ROOT" ldd /usr/local/bin/migrator >"$WORK/ldd.out" 2>&1 || { cat "$WORK/ldd.out" >&2; return 1; }
    if grep -q 'not found' "$WORK/ldd.out"; then grep 'not found' "$WORK/ldd.out" >&2; return 1; fi
    local libs pkgs
    libs=$(awk '/=>/ { print $3 }' "$WORK/ldd.out" | sort -u)
    # every library comes from a package of the runtime root (resolving usrmerge's /lib -> /usr/lib)
    pkgs=$(for l in $libs; do
        chroot "$ROOT" dpkg -S "$(chroot "$ROOT" readlink -f "$l")" 2>/dev/null ||
            chroot "$ROOT" dpkg -S "${l#/usr}" 2>/dev/null || echo "UNOWNED: $l"
    done | cut -d: -f1 | sort -u)
    log "ldd in the runtime root: $(echo "$libs" | wc -l) libraries from: $(echo "$pkgs" | tr '\n' ' ')"
    ! echo "$pkgs" | grep -q UNOWNED
}
check "ldd inside the runtime root resolves every library" ldd_ok

# libcurl is opened with dlopen("libcurl.so.4"), which the linker cache must resolve at run time
libcurl_ok() {
    local lib
    lib=$(chroot "$ROOT" /sbin/ldconfig -p | awk '$1 == "libcurl.so.4" { print $NF; exit }')
    [ -n "$lib" ] || { log "libcurl.so.4 is not in the runtime root's linker cache"; return 1; }
    chroot "$ROOT" ldd "$lib" >"$WORK/ldd-libcurl.out" 2>&1 || { cat "$WORK/ldd-libcurl.out" >&2; return 1; }
    if grep 'not found' "$WORK/ldd-libcurl.out" >&2; then return 1; fi
    log "libcurl.so.4 in the runtime root: $lib ($(chroot "$ROOT" dpkg -S "$(chroot "$ROOT" readlink -f "$lib")" 2>/dev/null | cut -d: -f1))"
}
check "runtime root: libcurl.so.4 (for dlopen) and its dependencies resolve" libcurl_ok

# read-only root (readonlyRootFilesystem) with /proc, as ECS runs it
mount --bind "$ROOT" "$ROOT" && MOUNTS+=("$ROOT")
mount -o remount,bind,ro "$ROOT"
mount -t proc proc "$ROOT/proc" && MOUNTS+=("$ROOT/proc")

in_root() { # in_root DATABASE_URL ARGS...: migrator as user 10001 in the read-only runtime root
    local url=$1
    shift
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/nonexistent \
        MIGRATIONS_DIR=/app/migrations DATABASE_URL="$url" MIGRATOR_ENVIRONMENT=rehearsal \
        MIGRATOR_CONNECT_TIMEOUT=3s \
        chroot --userspec=10001:10001 "$ROOT" /usr/local/bin/migrator "$@"
}
check "chroot: root filesystem is read-only" bash -c "! chroot --userspec=10001:10001 '$ROOT' /usr/bin/touch /app/x 2>/dev/null"
check "chroot: migrator --version" expect_exit 0 version in_root "$DB_URL" --version
t0=$SECONDS
check "chroot: migrator up exits 0" expect_exit 0 up in_root "$DB_URL" up
timing "chroot migrator up" "$t0"
check "chroot: up ends with run.finished exit_code 0" last_line_is_finished "$WORK/up.out" 0
check "chroot: every journal entry recorded ($JOURNAL_ENTRIES)" test "$(recorded_rows)" = "$JOURNAL_ENTRIES"
check "chroot: migrator up again exits 0 (nothing pending)" expect_exit 0 up-again in_root "$DB_URL" up
check "chroot: second up applied nothing" test "$(recorded_rows)" = "$JOURNAL_ENTRIES"
check "chroot: migrator status exits 0" expect_exit 0 status in_root "$DB_URL" status
check "chroot: migrator verify exits 0" expect_exit 0 verify in_root "$DB_URL" verify
check "chroot: unreachable database exits 3" expect_exit 3 closed-port in_root "$CLOSED_PORT_URL" up
secret_in_root() { # the Secrets Manager path (which dlopens libcurl.so.4) against a closed port on 127.0.0.1
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/nonexistent \
        MIGRATIONS_DIR=/app/migrations MIGRATOR_ENVIRONMENT=rehearsal DATABASE_SECRET_ID=rehearsal/no-such-secret \
        AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=AKIDREHEARSAL AWS_SECRET_ACCESS_KEY=rehearsal-not-a-key \
        AWS_ENDPOINT_URL="http://127.0.0.1:$(free_port)" AWS_MAX_ATTEMPTS=1 AWS_EC2_METADATA_DISABLED=true \
        chroot --userspec=10001:10001 "$ROOT" /usr/local/bin/migrator up
}
check "chroot: Secrets Manager fetch from a closed port exits 6" expect_exit 6 secret-closed-port secret_in_root
check "chroot: ... as a connection error, so libcurl was loaded" bash -c "grep -q 'AWS network error' '$WORK/secret-closed-port.out' && ! grep -q 'cannot load libcurl' '$WORK/secret-closed-port.out' '$WORK/secret-closed-port.err'"
check "chroot: every stdout line is JSON" python3 -c 'import json, sys
for f in sys.argv[1:]:
    for l in open(f):
        json.loads(l)' "$WORK/up.out" "$WORK/up-again.out" "$WORK/verify.out" "$WORK/closed-port.out" "$WORK/secret-closed-port.out"
check "chroot: no password in any output" bash -c "! grep -rqF -- '$(python3 -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).password or "no-password-in-url")' "$DB_URL")' '$WORK'/*.out '$WORK'/*.err"
T_A_DONE=$((SECONDS - T_A))
log "time: (a) runtime-root rehearsal took $T_A_DONE s"
for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[$i]}"; done
MOUNTS=()

# ------------------------------------------------------------------ (b) the real Dockerfile with podman
T_B_DONE=""
IMAGE_SIZE=""
if [ "$PODMAN_MODE" = 1 ]; then
    T_B=$SECONDS
    RUNROOT=/run/migrator-image-rehearsal
    PODMAN=(podman --root "$CACHE/podman" --runroot "$RUNROOT" --runtime runc --cgroup-manager cgroupfs
        --events-backend file --storage-driver "${REHEARSAL_STORAGE_DRIVER:-overlay}")
    # Explicit limits: without them runc fails here with "error setting rlimit type 7 (nofile):
    # operation not permitted" (podman's default nofile exceeds the hard limit, and there is no
    # CAP_SYS_RESOURCE to raise it); nproc at the hard limit fails the same way, 4096 works.
    NOFILE=$(ulimit -Hn)
    if [ "$NOFILE" = unlimited ] || [ "$NOFILE" -gt 65536 ]; then NOFILE=65536; fi
    read -r -a ULIMITS <<<"${REHEARSAL_ULIMITS:---ulimit nofile=$NOFILE:$NOFILE --ulimit nproc=4096:4096}"
    TAG=localhost/migrator:rehearsal

    # the FROM names of the Dockerfile (stages and scratch aside)
    mapfile -t FROMS < <(awk 'toupper($1) == "FROM" { print $2 }' Dockerfile | grep -v -x scratch |
        grep -v -x -F -f <(awk 'toupper($1) == "FROM" && toupper($3) == "AS" { print $4 }' Dockerfile))
    BUILDER_FROM=""
    RUNTIME_FROM=""
    for f in "${FROMS[@]}"; do
        case $f in
            swift:*-"$SUITE" | docker.io/library/swift:*-"$SUITE") BUILDER_FROM=$f ;;
            debian:"$SUITE"-slim | docker.io/library/debian:"$SUITE"-slim) RUNTIME_FROM=$f ;;
            *) die "Dockerfile FROM $f: no stand-in for it (expected swift:*-$SUITE and debian:$SUITE-slim)" ;;
        esac
    done
    if [ -z "$BUILDER_FROM" ] || [ -z "$RUNTIME_FROM" ]; then
        die "Dockerfile: expected a swift:*-$SUITE and a debian:$SUITE-slim FROM"
    fi
    full_name() { case $1 in */*) echo "$1" ;; *) echo "docker.io/library/$1" ;; esac; }

    # import_standin NAME ROOT [--change ...]: ROOT imported as image NAME, unless NAME already holds
    # exactly this root (a label carries its stamp): an unchanged base keeps podman's layer cache.
    import_standin() {
        local name=$1 root=$2 stamp have
        shift 2
        stamp=$({ cat "$root/.rehearsal-stamp"; cat "$root/etc/gitconfig" 2>/dev/null; echo "$*"; } | sha256sum | cut -c1-16)
        have=$("${PODMAN[@]}" image inspect --format '{{index .Config.Labels "org.migrator.rehearsal.stamp"}}' "$name" 2>/dev/null || true)
        if [ "$have" = "$stamp" ]; then
            log "stand-in $name is up to date"
            return
        fi
        log "importing $root as $name"
        tar -C "$root" --exclude=./.rehearsal-stamp -cf - . |
            "${PODMAN[@]}" import --change "LABEL org.migrator.rehearsal.stamp=$stamp" --change 'CMD ["/bin/bash"]' \
                "$@" - "$name" >/dev/null
    }
    t0=$SECONDS
    # runtime stand-in: the debootstrap root as it is
    import_standin "$(full_name "$RUNTIME_FROM")" "$RUNTIME_CACHE"
    # builder stand-in: the Swift image's packages, the toolchain from the bind mount on PATH, and git
    # told to read github.com from the local package mirror (when this machine has one)
    BUILDER_CACHE=$(cached_root builder-$SUITE "$BUILDER_PACKAGES")
    GITCONFIG="$WORK/gitconfig"
    : >"$GITCONFIG"
    BUILD_MOUNTS=(-v /opt/swift:/opt/swift:ro)
    if [ -d /opt/swift-packages ]; then
        git config --file "$GITCONFIG" --add url./opt/swift-packages/.insteadOf https://github.com/
        BUILD_MOUNTS+=(-v /opt/swift-packages:/opt/swift-packages:ro)
    fi
    git config --file "$GITCONFIG" --add safe.directory '*'
    cmp -s "$GITCONFIG" "$BUILDER_CACHE/etc/gitconfig" || cp "$GITCONFIG" "$BUILDER_CACHE/etc/gitconfig"
    import_standin "$(full_name "$BUILDER_FROM")" "$BUILDER_CACHE" \
        --change 'ENV PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    timing "podman stand-in images imported" "$t0"

    # the RDS CA bundle stand-in: two certificates of this machine's CA store, served on loopback
    mkdir -p "$WORK/ca"
    awk '/BEGIN CERTIFICATE/ { n++ } n <= 2 { print } n > 2 { exit }' /etc/ssl/certs/ca-certificates.crt >"$WORK/ca/global-bundle.pem"
    CA_SHA=$(sha256sum "$WORK/ca/global-bundle.pem" | awk '{print $1}')
    HTTP_PORT=$(free_port)
    python3 -m http.server "$HTTP_PORT" --bind 127.0.0.1 --directory "$WORK/ca" >"$WORK/http.log" 2>&1 &
    HTTP_PID=$!
    for _ in $(seq 50); do
        python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
            "http://127.0.0.1:$HTTP_PORT/global-bundle.pem" 2>/dev/null && break
        sleep 0.1
    done
    CA_URL="http://127.0.0.1:$HTTP_PORT/global-bundle.pem"

    CONTEXT=${REHEARSAL_CONTEXT:-.}
    if [ "$CONTEXT" = head ]; then
        CONTEXT="$WORK/context"
        mkdir -p "$CONTEXT"
        git archive HEAD | tar -x -C "$CONTEXT"
        [ -d "$CONTEXT/$MIGRATIONS_SRC" ] || cp -R "$MIGRATIONS_SRC" "$CONTEXT/$MIGRATIONS_SRC"
        log "build context: git archive HEAD ($(git rev-parse --short HEAD))"
    fi
    build() { # build LOG ARGS...: podman build of this repository's Dockerfile, unchanged
        local logf=$1
        shift
        "${PODMAN[@]}" build --pull=never --network=host "${ULIMITS[@]}" "${BUILD_MOUNTS[@]}" \
            --build-arg RDS_CA_BUNDLE_URL="$CA_URL" --build-arg MIGRATIONS_DIR="$MIGRATIONS_SRC" \
            -f "$PWD/Dockerfile" "$@" "$CONTEXT" >"$logf" 2>&1
    }
    t0=$SECONDS
    build_ok() {
        build "$WORK/podman-build.log" --build-arg RDS_CA_BUNDLE_SHA256="$CA_SHA" -t "$TAG" ||
            { tail -n 60 "$WORK/podman-build.log" >&2; return 1; }
    }
    check "podman build of the Dockerfile" build_ok
    BUILD_TIME=$((SECONDS - t0))
    log "time: podman build took $BUILD_TIME s"
    # tag the build stage too (all cached, seconds), so that pruning below keeps its layers: the next
    # run reuses its apt and `swift package resolve` layers, and all of it when Sources/ is unchanged
    build "$WORK/podman-build-stage.log" --build-arg RDS_CA_BUNDLE_SHA256="$CA_SHA" --target build \
        -t "$TAG-build" || log "warning: tagging the build stage failed (the next run starts cold)"
    cp "$WORK/podman-build.log" "$CACHE/last-podman-build.log" 2>/dev/null || true

    if "${PODMAN[@]}" image exists "$TAG"; then
        IMAGE_SIZE=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$TAG")
        log "image $TAG: $IMAGE_SIZE bytes ($((IMAGE_SIZE / 1024 / 1024)) MiB)"
        meta_ok() {
            local m
            m=$("${PODMAN[@]}" image inspect --format '{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .Config.Cmd}}|{{range .Config.Env}}{{.}};{{end}}' "$TAG")
            log "image config: $m"
            [[ $m == '10001:10001|["/usr/local/bin/migrator"]|["up"]|'*MIGRATIONS_DIR=/app/migrations\;* ]]
        }
        check "image: user 10001, ENTRYPOINT migrator, CMD up, MIGRATIONS_DIR" meta_ok
        contents_ok() {
            # shellcheck disable=SC2016  # expanded by the container's shell
            "${PODMAN[@]}" run --rm --runtime runc --network=none --read-only "${ULIMITS[@]}" -e CA_SHA="$CA_SHA" \
                --entrypoint /bin/bash "$TAG" -c '
                set -e
                test "$(id -u)" = 10001
                sha256sum /etc/ssl/certs/rds-global-bundle.pem | grep -q "^$CA_SHA "
                test -f /app/migrations/meta/_journal.json
                dpkg-query -W -f="\${Package}\n" libpq5 libcurl4 ca-certificates >/dev/null
                ldconfig -p | grep -q "^[[:space:]]*libcurl\.so\.4 "  # dlopen-ed, not NEEDED
                for t in swift swiftc gcc cc curl; do if command -v "$t"; then exit 1; fi; done
                test ! -e /usr/include/libpq-fe.h
                test -z "$(ls /var/lib/apt/lists | grep -v -e ^lock$ -e ^partial$ -e ^auxfiles$)"
            ' >"$WORK/contents.out" 2>&1 || { cat "$WORK/contents.out" >&2; return 1; }
        }
        check "image: RDS bundle verified, migrations in /app, runtime packages only, apt lists removed" contents_ok
        psql -q -X "$ADMIN_URL" -c "DROP DATABASE \"$DB_NAME\" WITH (FORCE)" -c "CREATE DATABASE \"$DB_NAME\"" >/dev/null
        run_image() { # run_image DATABASE_URL ARGS...
            local url=$1
            shift
            "${PODMAN[@]}" run --rm --runtime runc --network=host --read-only "${ULIMITS[@]}" \
                -e DATABASE_URL="$url" -e MIGRATOR_ENVIRONMENT=rehearsal -e MIGRATOR_CONNECT_TIMEOUT=3s "$TAG" "$@"
        }
        t0=$SECONDS
        check "podman run: default command (up) exits 0" expect_exit 0 podman-up run_image "$DB_URL"
        timing "podman run up" "$t0"
        check "podman run: up ends with run.finished exit_code 0" last_line_is_finished "$WORK/podman-up.out" 0
        check "podman run: every journal entry recorded ($JOURNAL_ENTRIES)" test "$(recorded_rows)" = "$JOURNAL_ENTRIES"
        check "podman run: status exits 0" expect_exit 0 podman-status run_image "$DB_URL" status
        check "podman run: unreachable database exits 3" expect_exit 3 podman-closed run_image "$CLOSED_PORT_URL"
        wrong_sha_fails() {
            ! build "$WORK/podman-wrong-sha.log" --build-arg RDS_CA_BUNDLE_SHA256="$(printf '0%.0s' $(seq 64))" \
                --target base -t localhost/migrator:rehearsal-wrong-sha &&
                grep -q 'FAILED' "$WORK/podman-wrong-sha.log"
        }
        check "podman build: a wrong RDS_CA_BUNDLE_SHA256 fails the build" wrong_sha_fails
        missing_sha_fails() {
            ! build "$WORK/podman-no-sha.log" --target base -t localhost/migrator:rehearsal-no-sha &&
                grep -q 'RDS_CA_BUNDLE_SHA256 is not set' "$WORK/podman-no-sha.log"
        }
        check "podman build: no RDS_CA_BUNDLE_SHA256 fails the build" missing_sha_fails
    fi
    kill "$HTTP_PID" 2>/dev/null || true
    HTTP_PID=""
    # keep the cache bounded: layers of earlier builds that no tagged image uses any more
    "${PODMAN[@]}" image prune --force >/dev/null 2>&1 || true
    log "podman storage: $(du -sh "$CACHE/podman" 2>/dev/null | cut -f1) in $CACHE/podman"
    T_B_DONE=$((SECONDS - T_B))
    log "time: (b) podman rehearsal took $T_B_DONE s (of which podman build $BUILD_TIME s)"
else
    log "(b) podman build of the Dockerfile skipped: pass --podman or set REHEARSAL_PODMAN=1"
fi

log "summary: stripped binary $STRIPPED_SIZE bytes; ${IMAGE_SIZE:+image $IMAGE_SIZE bytes; }(a) ${T_A_DONE} s${T_B_DONE:+; (b) $T_B_DONE s}; total $((SECONDS - T_START)) s"
echo "image-rehearsal: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
