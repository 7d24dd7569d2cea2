#!/usr/bin/env bash
# Builds the release artifacts into dist/ (`make dist`), from a clean checkout:
#   dist/kaa-node_<version>-<revision>_amd64.deb        the Debian package (cargo-deb, metadata in
#                                                       node/Cargo.toml), checked with lintian
#   dist/kaa-node-<version>-linux-x86_64.tar.gz         the same files for other distributions:
#       kaa-node-<version>/{bin/kaa-node, share/ui/, etc/node.toml, lib/systemd/system/*.service,
#       share/bare-metal/, LICENSE, README.md, docs/install.md}
# The tarball's binary is the package's (stripped) one. Both archives are reproducible: file
# times are the last commit's (SOURCE_DATE_EPOCH), owners root, entries sorted.
#
# Environment:
#   KAA_PACKAGE_PROFILE=release|dev  cargo profile to package (default release; the package
#                                    test uses dev, reusing the test build)
#   KAA_PACKAGE_REVISION=N           Debian revision (default 1); the upgrade test builds 2
#   KAA_DIST_DIR=DIR                 output folder (default dist/)
#   KAA_PACKAGE_NO_BUILD=1           package the UI and binary already built (the package test's
#                                    second revision: the same software, packaged again)
set -euo pipefail
umask 022
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"

log() { printf '[dist] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

PROFILE=${KAA_PACKAGE_PROFILE:-release}
REVISION=${KAA_PACKAGE_REVISION:-1}
OUT=${KAA_DIST_DIR:-$REPO/dist}
CARGO=${CARGO:-cargo}
CARGO_DEB=${CARGO_DEB:-${CARGO_HOME:-$HOME/.cargo}/bin/cargo-deb}
[[ $REVISION =~ ^[0-9A-Za-z.+~]+$ ]] || die "KAA_PACKAGE_REVISION=$REVISION is not a Debian revision"
# File times in both archives: the last commit's. Set for cargo-deb and tar only, not for cargo
# build, whose fingerprints would change with it.
EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}

# What the package ships besides the build; named here so a missing one fails clearly.
for f in LICENSE README.md docs/install.md deploy/package/node.toml deploy/bare-metal/setup-host.sh \
  deploy/package/kaa-node.service deploy/package/kaa-node@.service; do
  [ -f "$f" ] || die "$f is missing"
done
[ -x deploy/bare-metal/setup-host.sh ] || die "deploy/bare-metal/setup-host.sh is not executable"

NO_BUILD=${KAA_PACKAGE_NO_BUILD:-}
if [ -z "$NO_BUILD" ]; then
  log "admin UI"
  "${MAKE:-make}" --no-print-directory ui >&2
fi
[ -f admin-ui/dist/index.html ] || die "admin-ui/dist is not built"

# Built as `make standalone` and `make ui-test` build it (the whole workspace's features), so the
# binary those made is reused. cargo-deb packages it from target/<profile dir> (--no-build): it
# refuses to build the dev profile itself, and the package test wants the test build.
# The test build's package is compressed fast (8 s instead of 45 s for its larger binary).
deb_options=()
case $PROFILE in
  release) build=(--release) ;;
  dev) build=() deb_options=(--profile dev --fast) ;;
  *) die "KAA_PACKAGE_PROFILE=$PROFILE: expected release or dev" ;;
esac
if [ -z "$NO_BUILD" ]; then
  log "kaa-node ($PROFILE)"
  "$CARGO" build "${build[@]}" --locked --bin kaa-node
fi

version=$("$CARGO" pkgid -p kaa-node) version=${version##*[@#]}
deb="$OUT/kaa-node_${version}-${REVISION}_amd64.deb"
mkdir -p "$OUT"
rm -f "$deb"
log "Debian package $deb"
# cargo-deb warns that the dev profile is not meant for releases: it is not, it is the test build.
SOURCE_DATE_EPOCH=$EPOCH "$CARGO_DEB" -p kaa-node --no-build "${deb_options[@]}" --deb-revision "$REVISION" -o "$deb" 2>&1 \
  | grep -v -e 'dev profile is not supported' -e 'To enable debug symbols set' >&2 || true
[ -s "$deb" ] || die "cargo-deb made no $deb"

# Lintian: errors fail the build, warnings are printed (node/Cargo.toml's package ships the
# overrides, each with its reason, in deploy/package/debian/lintian-overrides).
log "lintian $deb"
lintian_out=$(lintian --fail-on error "$deb" 2>&1) || {
  printf '%s\n' "$lintian_out" >&2
  die "lintian found errors in $deb"
}
lintian_out=$(printf '%s\n' "$lintian_out" | grep -v 'running with root privileges' || true)
if [ -n "$lintian_out" ]; then printf '%s\n' "$lintian_out" >&2; else log "lintian: no errors, no warnings"; fi

# The tarball, from the package's own files.
tarball="$OUT/kaa-node-${version}-linux-x86_64.tar.gz"
log "tarball $tarball"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dpkg-deb -x "$deb" "$stage/deb"
top="$stage/kaa-node-$version"
mkdir -p "$top/bin" "$top/share" "$top/etc" "$top/lib/systemd/system" "$top/docs"
cp -a "$stage/deb/usr/bin/kaa-node" "$top/bin/"
cp -a "$stage/deb/usr/share/kaa-node/ui" "$stage/deb/usr/share/kaa-node/bare-metal" "$top/share/"
cp -a "$stage/deb/etc/kaa-node/node.toml" "$top/etc/"
cp -a "$stage/deb/usr/lib/systemd/system/"kaa-node*.service "$top/lib/systemd/system/"
cp -a "$stage/deb/usr/share/doc/kaa-node/install.md" "$top/docs/"
install -m 0644 LICENSE README.md "$top/"
tar --sort=name --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$stage" -cf - "kaa-node-$version" | gzip -n >"$tarball.tmp"
mv "$tarball.tmp" "$tarball"
ls -l "$deb" "$tarball" >&2
