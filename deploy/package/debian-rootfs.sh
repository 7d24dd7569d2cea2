#!/usr/bin/env bash
# debian-rootfs.sh DEST: makes DEST a fresh Debian 12 (bookworm) minbase root, as a machine an
# operator installs the kaa-node package on, for the package test and the three-host test.
# The root comes from a tarball cached under ~/.cache/kaa-rs (made with debootstrap on first use
# and again once it is a week old, with its apt lists fetched so that `apt-get install ./x.deb`
# resolves dependencies without an `apt-get update`); unpacking it takes a few seconds.
# Runs as root. DEST must not exist or be empty. Nothing is mounted: callers mount /proc and /dev
# themselves (and unmount them).
set -euo pipefail

log() { printf '[rootfs] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

[ $# -eq 1 ] || { echo "usage: $0 DEST" >&2; exit 2; }
DEST=$1
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, file owners)"
if [ -e "$DEST" ] && [ -n "$(ls -A "$DEST")" ]; then die "$DEST exists and is not empty"; fi

CACHE=${KAA_INFRA_CACHE:-$HOME/.cache/kaa-rs}
MIRROR=${KAA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
TARBALL=$CACHE/debian-12-minbase.tar.gz
MAX_AGE_DAYS=7

make_tarball() {
  local work rc=0
  mkdir -p "$CACHE"
  work=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  log "debootstrap bookworm (minbase) from $MIRROR, once; log in $work.log"
  debootstrap --variant=minbase bookworm "$work/root" "$MIRROR" >"$work.log" 2>&1 || rc=$?
  if [ $rc -eq 0 ]; then
    # The security and updates suites, as a Debian 12 install has them, then their lists.
    cat >"$work/root/etc/apt/sources.list" <<SOURCES
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://security.debian.org/debian-security bookworm-security main
SOURCES
    cp /etc/resolv.conf "$work/root/etc/resolv.conf"
    chroot "$work/root" apt-get -qq update >>"$work.log" 2>&1 || rc=$?
    : >"$work/root/etc/resolv.conf"
  fi
  if [ $rc -ne 0 ]; then
    tail -n 30 "$work.log" >&2
    rm -rf "$work"
    die "debootstrap or apt-get update failed (log: $work.log)"
  fi
  tar -C "$work/root" --numeric-owner -czf "$work/root.tar.gz" .
  mv "$work/root.tar.gz" "$TARBALL"
  rm -rf "$work" "$work.log"
}

if [ ! -s "$TARBALL" ] || [ -n "$(find "$TARBALL" -mtime +"$MAX_AGE_DAYS")" ]; then
  command -v debootstrap >/dev/null || die "no debootstrap (deploy/local/package-deps.sh installs it)"
  make_tarball
fi
mkdir -p "$DEST"
tar -C "$DEST" --numeric-owner -xzf "$TARBALL"
# Name resolution for apt inside the root, as the host resolves.
cp /etc/resolv.conf "$DEST/etc/resolv.conf"
