#!/usr/bin/env bash
# Lays out the runtime image's whole file system in ROOTFS: the migrator BINARY, exactly the shared
# libraries it loads (its ldd closure, resolved on this Debian system), the CA certificates, the RDS
# CA bundle when present, and a non-root user 10001. No shell, no package manager, nothing else.
# Run by the Dockerfile's rootfs stage (debian:bookworm-slim with libpq5, libcurl4 and
# ca-certificates) and, the same way, by scripts/image-rehearsal.sh in a debootstrap chroot.
#
#   make-rootfs.sh BINARY ROOTFS
set -euo pipefail
BINARY=$1
ROOTFS=$2

die() { echo "make-rootfs: $*" >&2; exit 1; }
[ -x "$BINARY" ] || die "no executable $BINARY"
[ ! -e "$ROOTFS" ] || [ -z "$(ls -A "$ROOTFS")" ] || die "$ROOTFS is not empty"
mkdir -p "$ROOTFS"

# copy_file PATH: PATH's content at the same place under ROOTFS, with the directories resolved as on
# this system (usrmerge: /lib is /usr/lib), so the loader finds it in its default search path.
copy_file() {
    local dir
    dir=$(readlink -f "$(dirname "$1")")
    mkdir -p "$ROOTFS$dir"
    cp -L "$1" "$ROOTFS$dir/$(basename "$1")"
}

# closure FILE: every library FILE loads, and the dynamic loader, per ldd
closure() {
    local out
    out=$(ldd "$1") || die "ldd $1 failed"
    if grep -q 'not found' <<<"$out"; then die "$1: $(grep 'not found' <<<"$out" | tr -s ' \t' ' ')"; fi
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out"
}

libs=$(closure "$BINARY")
# (a here-string, not process substitution: a build chroot may have no /dev/fd)
while IFS= read -r lib; do
    if [ -n "$lib" ]; then copy_file "$lib"; fi
done <<<"$(sort -u <<<"$libs")"
# the loader's own names (/lib64/ld-linux-x86-64.so.2, /lib -> usr/lib) as on this system
for link in /lib /lib64 /lib32 /libx32 /sbin /bin; do
    if [ -L "$link" ] && [ -d "$ROOTFS$(readlink -f "$link")" ]; then ln -s "$(readlink "$link")" "$ROOTFS$link"; fi
done

install -D -m 0755 "$BINARY" "$ROOTFS/usr/local/bin/migrator"
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
if [ -f /etc/ssl/certs/rds-global-bundle.pem ]; then
    install -m 0644 /etc/ssl/certs/rds-global-bundle.pem "$ROOTFS/etc/ssl/certs/rds-global-bundle.pem"
fi
# glibc reads users, groups and hosts through NSS: `files` and `dns` are built into libc.so.6, the
# `compat` default of a missing nsswitch.conf is not, so name them
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$ROOTFS/etc/nsswitch.conf"
printf 'root:x:0:0:root:/root:/nonexistent\nmigrator:x:10001:10001:migrator:/nonexistent:/nonexistent\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\nmigrator:x:10001:\n' >"$ROOTFS/etc/group"
mkdir -p "$ROOTFS/app" "$ROOTFS/tmp"
chmod 1777 "$ROOTFS/tmp"
chmod 0755 "$ROOTFS/app"
echo "make-rootfs: $(find "$ROOTFS" -type f | wc -l) files, $(du -sb "$ROOTFS" | cut -f1) bytes in $ROOTFS"
