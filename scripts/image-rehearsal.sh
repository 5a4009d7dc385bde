#!/usr/bin/env bash
# Rehearses the runtime image on a machine without a Docker engine (docs/deploy-ecs.md).
#
#   scripts/image-rehearsal.sh [--podman] [--keep-cache|--clean-cache] [BINARY]
#
# (a) the distroless image. A `debootstrap --variant=minbase --include=libpq5,libcurl4,ca-certificates
#     bookworm` root (cached) stands in for the Dockerfile's rootfs stage: the stripped BINARY goes
#     to /usr/local/bin/migrator and deploy/image/make-rootfs.sh runs in it under chroot, exactly as
#     the Dockerfile runs it, laying out the image's whole file system. Checks: its size (at most 50 MB,
#     reported), no shell, no package manager, no executable but migrator, no migrations; `objdump -p`
#     NEEDED names only glibc, libstdc++/libgcc, libpq5, libcurl4 and OpenSSL; the dynamic loader
#     inside the image resolves every library (LD_TRACE_LOADED_OBJECTS, no shell needed); the
#     committed RDS CA checksum file is well formed and the Dockerfile's `sha256sum -c` refuses a
#     bundle that does not match it. Then, as the container runs (chroot, cwd /app, user 10001, the
#     root read-only): --version; `up` without MIGRATIONS_DIR exits 2; with a folder at the default
#     /app/migrations (bind-mounted) `up` applies it, a second `up` applies nothing, `status`,
#     `verify`; a closed port exits 3; a Secrets Manager fetch from a closed port exits 6 as a
#     connection error (libcurl and the CA store are in the image); every stdout line is JSON; no
#     password in any output.
# (b) the app-image bake-in (deploy/image/app.Dockerfile.example): the same bookworm root with the
#     three packages the example installs, the binary and RDS bundle copied out of the image (a),
#     the migrations at /app/lib/db/migrations with MIGRATIONS_DIR set: `ldd` resolves every library
#     from Debian packages of that root, `up` applies the folder, `status` exits 0, the secret path
#     exits 6 as a connection error.
# (c) with --podman (or REHEARSAL_PODMAN=1): the real Dockerfile built with podman (runc, explicit
#     ulimits, host network): the debootstrap roots are imported under its FROM names, the Swift
#     toolchain bind-mounted; the RDS CA bundle is a local stand-in whose checksum replaces the
#     committed one in a copy of the build context. The image's metadata, file list and size are
#     checked, it runs `up` against PostgreSQL with the folder mounted, and a build with the
#     committed checksum against the stand-in must fail. A second full release build: opt-in.
#
# BINARY: $1, else $MIGRATOR_BIN, else .build-release/release/migrator (from
#   swift build -c release --static-swift-stdlib --product migrator --scratch-path .build-release).
# PostgreSQL: $MIGRATOR_TEST_DATABASE_URL (a superuser URL on 127.0.0.1; a database is created and
#   dropped in it), else a throwaway server from scripts/lib/common.sh.
# REHEARSAL_CACHE (default /var/cache/migrator-image-rehearsal): the debootstrap roots and podman's
#   storage, kept between runs. REHEARSAL_MIGRATIONS_DIR (default migrations, relative to the
#   repository). DEBIAN_MIRROR (default: the Debian mirror of /etc/apt/sources.list*). Needs root
#   (debootstrap, mount, chroot).
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
IMAGE_LIMIT=$((50 * 1000 * 1000))
BUILDER_PACKAGES=binutils,git,libc6-dev,libcurl4-openssl-dev,libedit2,libgcc-12-dev,libsqlite3-0,libstdc++-12-dev,libxml2-dev,libncurses-dev,pkg-config,tzdata,zlib1g-dev,ca-certificates
# the libraries migrator itself links; their own dependencies come with them (make-rootfs.sh)
ALLOWED_NEEDED='^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libutil\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libpq\.so\.5|libcurl\.so\.4|libcrypto\.so\.3|libssl\.so\.3|libz\.so\.1)$'

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

# ------------------------------------------------------------------ the binary itself
T_A=$SECONDS
STRIPPED="$WORK/migrator"
strip -o "$STRIPPED" "$BINARY"
chmod 0755 "$STRIPPED"
STRIPPED_SIZE=$(stat -c %s "$STRIPPED")
log "binary $BINARY: $(stat -c %s "$BINARY") bytes, stripped $STRIPPED_SIZE bytes ($((STRIPPED_SIZE / 1024 / 1024)) MiB)"

NEEDED=$(objdump -p "$STRIPPED" | awk '$1 == "NEEDED" { print $2 }')
needed_ok() {
    local bad
    log "NEEDED: $(echo "$NEEDED" | tr '\n' ' ')"
    bad=$(echo "$NEEDED" | grep -Ev "$ALLOWED_NEEDED" || true)
    [ -z "$bad" ] || { log "NEEDED beyond glibc, libstdc++/libgcc, libpq5, libcurl4, OpenSSL, zlib: $bad"; return 1; }
    echo "$NEEDED" | grep -q '^libpq\.so\.5$' || { log "expected libpq.so.5 among NEEDED"; return 1; }
    # libcurl is linked (issue 13), so the image's closure holds it and its dependencies
    echo "$NEEDED" | grep -q '^libcurl\.so\.4$' || { log "expected libcurl.so.4 among NEEDED"; return 1; }
    # no Swift runtime library: --static-swift-stdlib put it into the binary
    ! echo "$NEEDED" | grep -q -i swift
}
check "objdump -p: NEEDED only glibc, libstdc++/libgcc, libpq5, libcurl4, OpenSSL" needed_ok

# ------------------------------------------------------------------ (a) the distroless image
RUNTIME_CACHE=$(cached_root runtime-$SUITE "$RUNTIME_PACKAGES")
t0=$SECONDS
BUILDER="$WORK/rootfs-stage"
cp -a "$RUNTIME_CACHE" "$BUILDER"
rm -f "$BUILDER/.rehearsal-stamp"
install -m 0755 "$STRIPPED" "$BUILDER/usr/local/bin/migrator"
install -m 0755 deploy/image/make-rootfs.sh "$BUILDER/usr/local/sbin/make-rootfs.sh"
# the RDS bundle cannot be downloaded here: two certificates of this machine's CA store stand in
awk '/BEGIN CERTIFICATE/ { n++ } n <= 2 { print } n > 2 { exit }' /etc/ssl/certs/ca-certificates.crt \
    >"$BUILDER/etc/ssl/certs/rds-global-bundle.pem"
mount -t proc proc "$BUILDER/proc" && MOUNTS+=("$BUILDER/proc")
chroot "$BUILDER" /usr/local/sbin/make-rootfs.sh /usr/local/bin/migrator /rootfs >"$WORK/make-rootfs.log" 2>&1 ||
    { cat "$WORK/make-rootfs.log" >&2; die "make-rootfs.sh failed"; }
umount "$BUILDER/proc" && unset 'MOUNTS[-1]'
IMAGE="$BUILDER/rootfs"
timing "image root laid out ($(cat "$WORK/make-rootfs.log"))" "$t0"

IMAGE_BYTES=$(du -sb "$IMAGE" | cut -f1)
log "image file system: $IMAGE_BYTES bytes ($((IMAGE_BYTES / 1000 / 1000)) MB); largest files:"
find "$IMAGE" -type f -printf '%s %P\n' | sort -rn | head -n 8 | awk '{ printf "    %6.1f MB  %s\n", $1 / 1e6, $2 }' >&2
check "image: at most 50 MB uncompressed ($IMAGE_BYTES bytes)" test "$IMAGE_BYTES" -le "$IMAGE_LIMIT"
no_shell_no_apt() {
    local f bad=0
    for f in bin/sh bin/bash bin/dash usr/bin/sh usr/bin/bash usr/bin/dash usr/bin/apt usr/bin/apt-get \
        usr/bin/dpkg usr/bin/perl usr/bin/env usr/bin/ldd var/lib/dpkg; do
        if [ -e "$IMAGE/$f" ]; then log "image has /$f"; bad=1; fi
    done
    # the only executable file that is not a shared library (the loader is one: ld-linux*.so.*)
    f=$(find "$IMAGE" -type f -perm /111 ! -name '*.so*' -printf '/%P\n')
    [ "$f" = /usr/local/bin/migrator ] || { log "executables in the image: $f"; bad=1; }
    return $bad
}
check "image: no shell, no package manager, no executable but migrator" no_shell_no_apt
check "image: no migrations folder" test -z "$(find "$IMAGE" -name '_journal.json' -o -name '*.sql' | head -n1)"
check "image: CA store, RDS bundle, user 10001" bash -c "test -s '$IMAGE/etc/ssl/certs/ca-certificates.crt' &&
    test -s '$IMAGE/etc/ssl/certs/rds-global-bundle.pem' && grep -q '^migrator:x:10001:10001:' '$IMAGE/etc/passwd'"
checksum_file_ok() {
    grep -Eq '^[0-9a-f]{64}  global-bundle\.pem$' deploy/image/rds-ca-bundle.sha256 &&
        [ "$(wc -l <deploy/image/rds-ca-bundle.sha256)" -eq 1 ]
}
check "deploy/image/rds-ca-bundle.sha256: one sha256 line for global-bundle.pem" checksum_file_ok
wrong_bundle_refused() { # the Dockerfile's check, on a bundle that is not the pinned one
    mkdir -p "$WORK/ca-check"
    cp deploy/image/rds-ca-bundle.sha256 "$WORK/ca-check/"
    cp "$BUILDER/etc/ssl/certs/rds-global-bundle.pem" "$WORK/ca-check/global-bundle.pem"
    ! (cd "$WORK/ca-check" && sha256sum -c rds-ca-bundle.sha256) >/dev/null 2>&1
}
check "the Dockerfile's sha256sum -c refuses a bundle that is not the pinned one" wrong_bundle_refused

# as the container runs: read-only root, /proc, cwd /app (WORKDIR), user 10001, no shell in between.
# The runtime makes the /proc mount point (the image has none); the Swift runtime reads the
# arguments from /proc/self/cmdline, so without it `migrator --version` runs `up`.
mkdir -p "$IMAGE/proc"
mount --bind "$IMAGE" "$IMAGE" && MOUNTS+=("$IMAGE")
mount -o remount,bind,ro "$IMAGE"
mount -t proc proc "$IMAGE/proc" && MOUNTS+=("$IMAGE/proc")
in_image() { # in_image ENV... -- ARGS...: migrator in the image, as `docker run IMAGE ARGS` would
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    env -i "${envs[@]}" python3 -S -c 'import os, sys
root = sys.argv[1]
os.chroot(root)
os.chdir("/app")
os.setgroups([])
os.setgid(10001)
os.setuid(10001)
env = dict(os.environ)
if env.pop("REHEARSAL_TRACE_LOADER", None):  # for the program only, not for this python
    env["LD_TRACE_LOADED_OBJECTS"] = "1"
os.execve("/usr/local/bin/migrator", ["/usr/local/bin/migrator"] + sys.argv[2:], env)' "$IMAGE" "$@"
}
loader_ok() {
    in_image REHEARSAL_TRACE_LOADER=1 -- >"$WORK/trace.out" 2>&1 || true
    if grep -q 'not found' "$WORK/trace.out"; then grep 'not found' "$WORK/trace.out" >&2; return 1; fi
    log "the image's loader resolves $(grep -c '=> /' "$WORK/trace.out") libraries"
    grep -q 'libpq\.so\.5 => /' "$WORK/trace.out"
}
check "image: the dynamic loader resolves every library inside the image" loader_ok
version_ok() { expect_exit 0 version in_image -- --version && grep -Eq '^[0-9]+\.[0-9]+' "$WORK/version.out"; }
check "image: migrator --version prints the version" version_ok
no_folder() {
    expect_exit 2 no-folder in_image DATABASE_URL="$DB_URL" MIGRATOR_ENVIRONMENT=rehearsal -- up || return 1
    log "without MIGRATIONS_DIR: $(cat "$WORK/no-folder.err" "$WORK/no-folder.out" | grep -o '"message":"[^"]*"' | tail -n1)"
    grep -q 'migrations' "$WORK/no-folder.out" "$WORK/no-folder.err"
}
check "image: up without MIGRATIONS_DIR (and nothing at /app/migrations) exits 2 naming the folder" no_folder
# a folder at the default path: bind-mounted, as a volume would be
mkdir -p "$WORK/app-volume/migrations"
cp -R "$MIGRATIONS_SRC/." "$WORK/app-volume/migrations/"
mount --bind "$WORK/app-volume" "$IMAGE/app" && MOUNTS+=("$IMAGE/app")
run_image() { in_image DATABASE_URL="$1" MIGRATOR_ENVIRONMENT=rehearsal MIGRATOR_CONNECT_TIMEOUT=3s -- "${@:2}"; }
t0=$SECONDS
check "image: up with a folder at /app/migrations exits 0" expect_exit 0 up run_image "$DB_URL" up
timing "image migrator up" "$t0"
check "image: up ends with run.finished exit_code 0" last_line_is_finished "$WORK/up.out" 0
check "image: every journal entry recorded ($JOURNAL_ENTRIES)" test "$(recorded_rows)" = "$JOURNAL_ENTRIES"
check "image: up again exits 0" expect_exit 0 up-again run_image "$DB_URL" up
check "image: second up applied nothing" test "$(recorded_rows)" = "$JOURNAL_ENTRIES"
check "image: status exits 0" expect_exit 0 status run_image "$DB_URL" status
check "image: verify exits 0" expect_exit 0 verify run_image "$DB_URL" verify
check "image: unreachable database exits 3" expect_exit 3 closed-port run_image "$CLOSED_PORT_URL" up
secret_env() { # the Secrets Manager path against a closed port on 127.0.0.1
    echo DATABASE_SECRET_ID=rehearsal/no-such-secret AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=AKIDREHEARSAL \
        AWS_SECRET_ACCESS_KEY=rehearsal-not-a-key "AWS_ENDPOINT_URL=http://127.0.0.1:$(free_port)" \
        AWS_MAX_ATTEMPTS=1 AWS_EC2_METADATA_DISABLED=true MIGRATOR_ENVIRONMENT=rehearsal
}
# shellcheck disable=SC2046  # secret_env's words are the variables
check "image: Secrets Manager fetch from a closed port exits 6" expect_exit 6 secret-closed-port in_image $(secret_env) -- up
check "image: ... as a connection error (libcurl loaded)" bash -c "grep -q 'AWS network error' '$WORK/secret-closed-port.out' &&
    ! grep -qi 'cannot load libcurl' '$WORK/secret-closed-port.out' '$WORK/secret-closed-port.err'"
check "image: every stdout line is JSON" python3 -c 'import json, sys
for f in sys.argv[1:]:
    for l in open(f):
        json.loads(l)' "$WORK/up.out" "$WORK/up-again.out" "$WORK/verify.out" "$WORK/closed-port.out" "$WORK/secret-closed-port.out"
PASSWORD=$(python3 -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).password or "no-password-in-url")' "$DB_URL")
check "image: no password in any output" bash -c "! grep -rqF -- '$PASSWORD' '$WORK'/*.out '$WORK'/*.err"
for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[$i]}"; done
MOUNTS=()
T_A_DONE=$((SECONDS - T_A))
log "time: (a) distroless image rehearsal took $T_A_DONE s"

# ------------------------------------------------------------------ (b) baked into a Debian app image
T_B=$SECONDS
APP="$WORK/app-image"
cp -a "$RUNTIME_CACHE" "$APP"
rm -f "$APP/.rehearsal-stamp"
install -m 0755 "$IMAGE/usr/local/bin/migrator" "$APP/usr/local/bin/migrator"
install -m 0644 "$IMAGE/etc/ssl/certs/rds-global-bundle.pem" "$APP/etc/ssl/certs/rds-global-bundle.pem"
mkdir -p "$APP/app/lib/db/migrations"
cp -R "$MIGRATIONS_SRC/." "$APP/app/lib/db/migrations/"
printf '127.0.0.1\tlocalhost\n' >"$APP/etc/hosts"
# the node image's user
chroot "$APP" groupadd --gid 1000 node
chroot "$APP" useradd --no-log-init --uid 1000 --gid 1000 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin node
app_ldd_ok() {
    chroot "$APP" ldd /usr/local/bin/migrator >"$WORK/ldd.out" 2>&1 || { cat "$WORK/ldd.out" >&2; return 1; }
    if grep -q 'not found' "$WORK/ldd.out"; then grep 'not found' "$WORK/ldd.out" >&2; return 1; fi
    local libs pkgs
    libs=$(awk '/=>/ { print $3 }' "$WORK/ldd.out" | sort -u)
    pkgs=$(for l in $libs; do
        chroot "$APP" dpkg -S "$(chroot "$APP" readlink -f "$l")" 2>/dev/null ||
            chroot "$APP" dpkg -S "${l#/usr}" 2>/dev/null || echo "UNOWNED: $l"
    done | cut -d: -f1 | sort -u)
    log "app image: $(echo "$libs" | wc -l) libraries from: $(echo "$pkgs" | tr '\n' ' ')"
    ! echo "$pkgs" | grep -q UNOWNED
}
check "app image: ldd resolves every library from the packages the example installs" app_ldd_ok
mount -t proc proc "$APP/proc" && MOUNTS+=("$APP/proc")
psql -q -X "$ADMIN_URL" -c "DROP DATABASE \"$DB_NAME\" WITH (FORCE)" -c "CREATE DATABASE \"$DB_NAME\"" >/dev/null
in_app() { # in_app ENV... -- ARGS...: migrator in the app image as the migration task runs it
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/nonexistent MIGRATIONS_DIR=/app/lib/db/migrations "${envs[@]}" \
        /usr/sbin/chroot --userspec=1000:1000 "$APP" /usr/local/bin/migrator "$@"
}
check "app image: up with MIGRATIONS_DIR=/app/lib/db/migrations exits 0" expect_exit 0 app-up \
    in_app DATABASE_URL="$DB_URL" MIGRATOR_ENVIRONMENT=rehearsal -- up
check "app image: every journal entry recorded ($JOURNAL_ENTRIES)" test "$(recorded_rows)" = "$JOURNAL_ENTRIES"
check "app image: status exits 0" expect_exit 0 app-status in_app DATABASE_URL="$DB_URL" -- status
# shellcheck disable=SC2046  # secret_env's words are the variables
check "app image: Secrets Manager fetch from a closed port exits 6" expect_exit 6 app-secret in_app $(secret_env) -- up
check "app image: ... as a connection error (libcurl loaded)" grep -q 'AWS network error' "$WORK/app-secret.out"
for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[$i]}"; done
MOUNTS=()
T_B_DONE=$((SECONDS - T_B))
log "time: (b) app image rehearsal took $T_B_DONE s"

# ------------------------------------------------------------------ (c) the real Dockerfile with podman
T_C_DONE=""
OCI_SIZE=""
if [ "$PODMAN_MODE" = 1 ]; then
    T_C=$SECONDS
    PODMAN=(podman --root "$CACHE/podman" --runroot /run/migrator-image-rehearsal --runtime runc
        --cgroup-manager cgroupfs --events-backend file --storage-driver "${REHEARSAL_STORAGE_DRIVER:-overlay}")
    # Explicit limits: without them runc fails here with "error setting rlimit type 7 (nofile):
    # operation not permitted" (podman's default nofile exceeds the hard limit).
    NOFILE=$(ulimit -Hn)
    if [ "$NOFILE" = unlimited ] || [ "$NOFILE" -gt 65536 ]; then NOFILE=65536; fi
    ULIMITS=(--ulimit "nofile=$NOFILE:$NOFILE" --ulimit nproc=4096:4096)
    TAG=localhost/migrator:rehearsal
    full_name() { case $1 in */*) echo "$1" ;; *) echo "docker.io/library/$1" ;; esac; }
    BUILDER_FROM=$(awk 'toupper($1) == "FROM" && $2 ~ /^swift:/ { print $2; exit }' Dockerfile)
    RUNTIME_FROM=$(awk 'toupper($1) == "FROM" && $2 ~ /^debian:/ { print $2; exit }' Dockerfile)
    if [ -z "$BUILDER_FROM" ] || [ -z "$RUNTIME_FROM" ]; then die "Dockerfile: expected a swift:*-$SUITE and a debian:$SUITE-slim FROM"; fi
    import_standin() { # import_standin NAME ROOT [--change ...]
        local name=$1 root=$2
        shift 2
        log "importing $root as $name"
        tar -C "$root" --exclude=./.rehearsal-stamp -cf - . |
            "${PODMAN[@]}" import --change 'CMD ["/bin/bash"]' "$@" - "$name" >/dev/null
    }
    import_standin "$(full_name "$RUNTIME_FROM")" "$RUNTIME_CACHE"
    BUILDER_CACHE=$(cached_root builder-$SUITE "$BUILDER_PACKAGES")
    BUILD_MOUNTS=(-v /opt/swift:/opt/swift:ro)
    if [ -d /opt/swift-packages ]; then
        git config --file "$BUILDER_CACHE/etc/gitconfig" --replace-all url./opt/swift-packages/.insteadOf https://github.com/
        BUILD_MOUNTS+=(-v /opt/swift-packages:/opt/swift-packages:ro)
    fi
    git config --file "$BUILDER_CACHE/etc/gitconfig" --replace-all safe.directory '*'
    import_standin "$(full_name "$BUILDER_FROM")" "$BUILDER_CACHE" \
        --change 'ENV PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    # the RDS bundle stand-in, served on loopback; a copy of the context pins its checksum instead
    mkdir -p "$WORK/ca" "$WORK/context"
    cp "$BUILDER/etc/ssl/certs/rds-global-bundle.pem" "$WORK/ca/global-bundle.pem"
    HTTP_PORT=$(free_port)
    python3 -m http.server "$HTTP_PORT" --bind 127.0.0.1 --directory "$WORK/ca" >"$WORK/http.log" 2>&1 &
    HTTP_PID=$!
    sleep 1
    git archive HEAD | tar -x -C "$WORK/context"
    (cd "$WORK/ca" && sha256sum global-bundle.pem) >"$WORK/context/deploy/image/rds-ca-bundle.sha256"
    build() { # build CONTEXT LOG ARGS...
        local context=$1 logf=$2
        shift 2
        "${PODMAN[@]}" build --pull=never --network=host "${ULIMITS[@]}" "${BUILD_MOUNTS[@]}" \
            --build-arg RDS_CA_BUNDLE_URL="http://127.0.0.1:$HTTP_PORT/global-bundle.pem" \
            -f "$context/Dockerfile" "$@" "$context" >"$logf" 2>&1
    }
    build_ok() { build "$WORK/context" "$WORK/podman-build.log" -t "$TAG" || { tail -n 60 "$WORK/podman-build.log" >&2; return 1; }; }
    check "podman build of the Dockerfile" build_ok
    if "${PODMAN[@]}" image exists "$TAG"; then
        OCI_SIZE=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$TAG")
        check "podman image: at most 50 MB ($OCI_SIZE bytes)" test "$OCI_SIZE" -le "$IMAGE_LIMIT"
        meta_ok() {
            local m
            m=$("${PODMAN[@]}" image inspect --format '{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .Config.Cmd}}|{{.Config.WorkingDir}}|{{range .Config.Env}}{{.}};{{end}}' "$TAG")
            log "image config: $m"
            [[ $m == '10001:10001|["/usr/local/bin/migrator"]|["up"]|/app|'* ]] && [[ $m != *MIGRATIONS_DIR* ]]
        }
        check "podman image: user 10001, ENTRYPOINT migrator, CMD up, WORKDIR /app, no MIGRATIONS_DIR" meta_ok
        files_ok() {
            local cid
            cid=$("${PODMAN[@]}" create "$TAG")
            "${PODMAN[@]}" export "$cid" | tar -t >"$WORK/podman-files.txt"
            "${PODMAN[@]}" rm "$cid" >/dev/null
            ! grep -Eq '^(\./)?(usr/)?bin/(sh|bash|dash|apt|dpkg)$' "$WORK/podman-files.txt" &&
                ! grep -q '_journal.json' "$WORK/podman-files.txt"
        }
        check "podman image: no shell, no package manager, no migrations" files_ok
        psql -q -X "$ADMIN_URL" -c "DROP DATABASE \"$DB_NAME\" WITH (FORCE)" -c "CREATE DATABASE \"$DB_NAME\"" >/dev/null
        check "podman run: up with the folder mounted at /app/migrations exits 0" expect_exit 0 podman-up \
            "${PODMAN[@]}" run --rm --network=host --read-only "${ULIMITS[@]}" -v "$PWD/$MIGRATIONS_SRC:/app/migrations:ro" \
            -e DATABASE_URL="$DB_URL" -e MIGRATOR_ENVIRONMENT=rehearsal "$TAG"
        check "podman run: every journal entry recorded ($JOURNAL_ENTRIES)" test "$(recorded_rows)" = "$JOURNAL_ENTRIES"
        check "podman run: no folder exits 2" expect_exit 2 podman-no-folder \
            "${PODMAN[@]}" run --rm --network=host --read-only "${ULIMITS[@]}" -e DATABASE_URL="$DB_URL" "$TAG"
    fi
    pinned_refused() { # the committed checksum does not match the stand-in: the build must stop
        mkdir -p "$WORK/context-pinned"
        git archive HEAD | tar -x -C "$WORK/context-pinned"
        ! build "$WORK/context-pinned" "$WORK/podman-pinned.log" --target rootfs -t "$TAG-pinned" &&
            grep -q 'FAILED' "$WORK/podman-pinned.log"
    }
    check "podman build: a bundle that does not match deploy/image/rds-ca-bundle.sha256 fails the build" pinned_refused
    kill "$HTTP_PID" 2>/dev/null || true
    HTTP_PID=""
    "${PODMAN[@]}" image prune --force >/dev/null 2>&1 || true
    T_C_DONE=$((SECONDS - T_C))
else
    log "(c) podman build of the Dockerfile skipped: pass --podman or set REHEARSAL_PODMAN=1"
fi

log "summary: stripped binary $STRIPPED_SIZE bytes; image file system $IMAGE_BYTES bytes${OCI_SIZE:+; podman image $OCI_SIZE bytes}; (a) $T_A_DONE s; (b) $T_B_DONE s${T_C_DONE:+; (c) $T_C_DONE s}; total $((SECONDS - T_START)) s"
echo "image-rehearsal: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
