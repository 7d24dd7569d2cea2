#!/usr/bin/env bash
# test-install.sh (`make test-package`): the Debian package's life on a fresh Debian 12 machine,
# a chroot made by debian-rootfs.sh. Builds revisions 1 and 2 of the package (build.sh, the dev
# build unless KAA_PACKAGE_PROFILE says otherwise), checks the unit files with
# `systemd-analyze verify`, then in the chroot: installs revision 1 with apt-get, checks the user,
# files, modes and conffile; starts the node from the unit exactly as it says (run-unit.sh) and
# logs in as the first admin through the admin API; edits node.toml as an operator would;
# upgrades to revision 2 (the edit, keys and data stay); removes (data stays) and purges (data
# goes). Prints each check; exits non-zero at the first that fails. Runs as root.
# KAA_KEEP_TEST_ROOT=1 keeps the work folder (printed) for a look afterwards.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/deploy/package

log() { printf '[package-test] %s\n' "$*" >&2; }
ok() { printf '[package-test] ok   %s\n' "$*" >&2; }
fail() { printf '[package-test] FAIL %s\n' "$*" >&2; exit 1; }
# check DESCRIPTION COMMAND...: prints the check and fails the test when the command fails.
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}'; }

[ "$(id -u)" -eq 0 ] || fail "needs root (chroot, mounts, apt-get in the chroot)"
started=$(date +%s.%N)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kaa-package-test.XXXXXX")
ROOT=$WORK/root
DIST=$WORK/dist
NODE_PID=""
NODE_LOG=$WORK/node.log
ADMIN_PASSWORD="package-test-$RANDOM-$RANDOM"

stop_node() {
  [ -n "$NODE_PID" ] || return 0
  kill -TERM "$NODE_PID" 2>/dev/null || true
  local rc=0
  wait "$NODE_PID" || rc=$?
  NODE_PID=""
  return $rc
}
mounted() { findmnt -rn --mountpoint "$1" >/dev/null; }
cleanup() {
  local rc=$?
  stop_node || true
  local m safe=1
  for m in "$ROOT/dev" "$ROOT/proc"; do
    if mounted "$m"; then umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; fi
    if mounted "$m"; then log "cannot unmount $m"; safe=""; fi
  done
  if [ $rc -ne 0 ] && [ -f "$NODE_LOG" ]; then
    log "---- last 40 lines of the node's output ----"
    tail -n 40 "$NODE_LOG" >&2
  fi
  # Never delete a tree that still has the host's /dev bound into it.
  if [ -n "${KAA_KEEP_TEST_ROOT:-}" ] || [ -z "$safe" ]; then
    log "work folder kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  if [ $rc -eq 0 ]; then log "passed in $(elapsed "$started") s"; else log "FAILED after $(elapsed "$started") s"; fi
}
trap cleanup EXIT

in_root() { chroot "$ROOT" "$@"; }
apt_in_root() {
  in_root env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Options::=--force-confold "$@" \
    >>"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log" >&2; return 1; }
}
# mode owner group of a path in the root, e.g. "700 kaa kaa".
perms() { in_root stat -c '%a %U %G' "$1"; }
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
sha() { sha256sum "$@" | awk '{print $1}'; }
# dpkg's word on kaa-node in the root: "<status> <version>", or nothing once purged.
# shellcheck disable=SC2016 # dpkg-query's own ${field} syntax
pkg_status() { in_root dpkg-query -W -f='${Status} ${Version}' kaa-node 2>/dev/null || true; }
# shellcheck disable=SC2016
conffiles() { in_root dpkg-query -W -f='${Conffiles}\n' kaa-node; }

# The six ports the conffile names, by key, in order: admin.port, node.thrift_port,
# operations tcp/http, bootstrap tcp/http.
DEFAULT_PORTS=(8080 9090 9997 9999 9888 9889)
# A free block of six ports at or after $1 (steps of 10).
free_ports() {
  local base=$1 p all
  while [ "$base" -lt 65000 ]; do
    all=1
    for p in $(seq "$base" $((base + 5))); do port_free "$p" || { all=""; break; }; done
    if [ -n "$all" ]; then seq "$base" $((base + 5)); return 0; fi
    base=$((base + 10))
  done
  return 1
}
# Sets the six ports of a node's configuration (as an operator edits it): admin, thrift,
# operations, bootstrap; CONF defaults to the conffile.
set_ports() { # admin thrift ops_tcp ops_http bs_tcp bs_http
  local conf=$ROOT${CONF:-/etc/kaa-node/node.toml}
  awk -v a="$1" -v t="$2" -v ot="$3" -v oh="$4" -v bt="$5" -v bh="$6" '
    /^\[/ { section = $0 }
    section == "[admin]" && /^port = / { $0 = "port = " a }
    section == "[node]" && /^thrift_port = / { $0 = "thrift_port = " t }
    section == "[operations]" && /^tcp_port = / { $0 = "tcp_port = " ot }
    section == "[operations]" && /^http_port = / { $0 = "http_port = " oh }
    section == "[bootstrap]" && /^tcp_port = / { $0 = "tcp_port = " bt }
    section == "[bootstrap]" && /^http_port = / { $0 = "http_port = " bh }
    { print }' "$conf" >"$conf.new"
  cat "$conf.new" >"$conf" && rm "$conf.new"
  ADMIN_PORT=$1
}

# Starts an installed unit (kaa-node.service, or the template with an instance) as systemd would
# and waits for /ready on ADMIN_PORT.
start_node() { # [UNIT_FILE INSTANCE]
  local unit=${1:-kaa-node.service} instance=${2:-}
  log "starting ${unit/@/@$instance} (run-unit.sh) on admin port $ADMIN_PORT"
  "$HERE/run-unit.sh" --root "$ROOT" "/lib/systemd/system/$unit" ${instance:+"$instance"} >>"$NODE_LOG" 2>&1 &
  NODE_PID=$!
  local t0; t0=$(date +%s.%N)
  for _ in $(seq 1 300); do
    if curl -sf "http://127.0.0.1:$ADMIN_PORT/ready" >/dev/null; then
      ok "the node is ready on 127.0.0.1:$ADMIN_PORT after $(elapsed "$t0") s"
      return 0
    fi
    kill -0 "$NODE_PID" 2>/dev/null || { NODE_PID=""; fail "the node exited before it was ready"; }
    sleep 0.2
  done
  fail "the node was not ready within 60 s"
}
api() { # METHOD PATH [JSON]: prints the body; fails on a non-2xx status
  local args=(-sS -f -X "$1" "http://127.0.0.1:$ADMIN_PORT/api/v1$2" -H 'content-type: application/json')
  [ -z "${TOKEN:-}" ] || args+=(-H "authorization: Bearer $TOKEN")
  [ $# -lt 3 ] || args+=(-d "$3")
  curl "${args[@]}"
}
login() {
  TOKEN=""
  TOKEN=$(api POST /auth/login "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" | jq -er .token)
}
keys_fingerprint() { # [DATA_DIR]
  (cd "$ROOT${1:-/var/lib/kaa-node}/keys" && sha256sum node.private node.public) | sha256sum | cut -c1-16
}

# ---- build ----------------------------------------------------------------------------------
export KAA_PACKAGE_PROFILE=${KAA_PACKAGE_PROFILE:-dev}
# One time stamp for both builds, even if a commit lands in between.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct)}
export SOURCE_DATE_EPOCH
t0=$(date +%s.%N)
# Revision 2 packages the same build again (an upgrade of the packaging alone).
for revision in 1 2; do
  no_build=""
  [ "$revision" = 1 ] || no_build=1
  KAA_DIST_DIR=$DIST/$revision KAA_PACKAGE_REVISION=$revision KAA_PACKAGE_NO_BUILD=$no_build \
    "$HERE/build.sh" 2>"$WORK/build-$revision.log" \
    || { tail -n 40 "$WORK/build-$revision.log" >&2; fail "build.sh (revision $revision)"; }
done
grep -E '^[EWIN]: ' "$WORK/build-1.log" >&2 || true
DEB1=$(ls "$DIST"/1/kaa-node_*-1_amd64.deb)
DEB2=$(ls "$DIST"/2/kaa-node_*-2_amd64.deb)
TARBALL=$(ls "$DIST"/1/kaa-node-*-linux-x86_64.tar.gz)
ok "built $(basename "$DEB1"), $(basename "$DEB2"), $(basename "$TARBALL") ($KAA_PACKAGE_PROFILE) in $(elapsed "$t0") s, lintian without errors"

# The tarball: what it holds.
top=$(basename "$TARBALL" -linux-x86_64.tar.gz)
listing=$(tar -tzvf "$TARBALL")
for entry in bin/kaa-node share/ui/index.html etc/node.toml lib/systemd/system/kaa-node.service \
  lib/systemd/system/kaa-node@.service share/bare-metal/setup-host.sh LICENSE README.md docs/install.md; do
  grep -q " $top/$entry\$" <<<"$listing" || fail "the tarball has no $top/$entry"
done
grep -qE "^-rwxr-xr-x 0/0 .* $top/share/bare-metal/setup-host.sh\$" <<<"$listing" \
  || fail "setup-host.sh in the tarball is not rwxr-xr-x, owner 0/0"
ok "the tarball holds the binary, UI, node.toml, both units, bare-metal setup, LICENSE, README, install.md"
# Reproducible: the two builds (whose revision only the .deb's control data names) made the same
# tarball and the same files in the .deb, byte for byte.
check "the tarball is reproducible (both builds made the same bytes)" \
  [ "$(sha "$TARBALL")" = "$(sha "$DIST/2/$(basename "$TARBALL")")" ]
check "the .deb's files are reproducible (both builds' data.tar, same bytes)" \
  [ "$(dpkg-deb --fsys-tarfile "$DEB1" | sha)" = "$(dpkg-deb --fsys-tarfile "$DEB2" | sha)" ]

# ---- unit files -----------------------------------------------------------------------------
# systemd-analyze verify in a root holding the host's systemd units, the package's units and
# its binary (verify checks that ExecStart's program exists); any complaint fails.
verify_root=$WORK/verify
mkdir -p "$verify_root/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$verify_root/usr/lib/systemd/"
dpkg-deb -x "$DEB1" "$verify_root"
verify_out=$(systemd-analyze verify --root="$verify_root" kaa-node.service kaa-node@test.service 2>&1) \
  || { printf '%s\n' "$verify_out" >&2; fail "systemd-analyze verify kaa-node.service kaa-node@test.service"; }
[ -z "$verify_out" ] || { printf '%s\n' "$verify_out" >&2; fail "systemd-analyze verify printed warnings"; }
ok "systemd-analyze verify: kaa-node.service and kaa-node@test.service, no complaints"
rm -rf "$verify_root"

# ---- a fresh Debian 12 ----------------------------------------------------------------------
t0=$(date +%s.%N)
"$HERE/debian-rootfs.sh" "$ROOT"
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
ok "fresh Debian $(cat "$ROOT/etc/debian_version") root in $(elapsed "$t0") s"
cp "$DEB1" "$DEB2" "$ROOT/tmp/"

# ---- install --------------------------------------------------------------------------------
t0=$(date +%s.%N)
check "apt-get install ./$(basename "$DEB1")" apt_in_root install "/tmp/$(basename "$DEB1")"
ok "installed in $(elapsed "$t0") s"
check "dpkg: kaa-node $(basename "$DEB1" | cut -d_ -f2) installed" \
  [ "$(pkg_status)" = "install ok installed $(basename "$DEB1" | cut -d_ -f2)" ]
passwd_kaa=$(in_root getent passwd kaa) || fail "no user kaa"
IFS=: read -r _ _ kaa_uid kaa_gid _ kaa_home kaa_shell <<<"$passwd_kaa"
check "user kaa is a system user (uid $kaa_uid < 1000)" [ "$kaa_uid" -lt 1000 ]
check "kaa's home is /var/lib/kaa-node" [ "$kaa_home" = /var/lib/kaa-node ]
check "kaa has no login shell" [ "$kaa_shell" = /usr/sbin/nologin ]
check "group kaa is kaa's primary group" [ "$(in_root getent group kaa | cut -d: -f3)" = "$kaa_gid" ]
check "/var/lib/kaa-node is 700 kaa kaa" [ "$(perms /var/lib/kaa-node)" = "700 kaa kaa" ]
check "/etc/kaa-node/tls is 750 root kaa" [ "$(perms /etc/kaa-node/tls)" = "750 root kaa" ]
check "/usr/bin/kaa-node is 755 root root" [ "$(perms /usr/bin/kaa-node)" = "755 root root" ]
check "/etc/kaa-node/node.toml is 644 root root" [ "$(perms /etc/kaa-node/node.toml)" = "644 root root" ]
check "/usr/share/kaa-node/ui/index.html is there" [ -f "$ROOT/usr/share/kaa-node/ui/index.html" ]
check "/usr/share/kaa-node/bare-metal/setup-host.sh is executable" \
  [ "$(perms /usr/share/kaa-node/bare-metal/setup-host.sh)" = "755 root root" ]
check "/usr/share/doc/kaa-node/install.md is there" [ -f "$ROOT/usr/share/doc/kaa-node/install.md" ]
check "kaa-node.service is under /lib/systemd/system" [ -f "$ROOT/lib/systemd/system/kaa-node.service" ]
check "kaa-node@.service is under /lib/systemd/system" [ -f "$ROOT/lib/systemd/system/kaa-node@.service" ]
check "/etc/kaa-node/node.toml is a conffile" \
  grep -q '^ /etc/kaa-node/node.toml [0-9a-f]\{32\}$' <<<"$(conffiles)"
check "kaa-node.service is enabled (multi-user.target wants it)" \
  [ "$(readlink "$ROOT/etc/systemd/system/multi-user.target.wants/kaa-node.service")" = /lib/systemd/system/kaa-node.service ]
check "the template kaa-node@.service is not enabled" \
  [ -z "$(find "$ROOT/etc/systemd/system" -name 'kaa-node@*')" ]
check "kaa-node check-config accepts the installed node.toml" \
  in_root /usr/bin/kaa-node check-config --config /etc/kaa-node/node.toml >/dev/null

# ---- first start, as installed --------------------------------------------------------------
ADMIN_PORT=8080
taken=()
for p in "${DEFAULT_PORTS[@]}"; do port_free "$p" || taken+=("$p"); done
if [ ${#taken[@]} -eq 0 ]; then
  log "the default ports are free: the node starts with node.toml as installed"
else
  mapfile -t ports < <(free_ports 28080)
  [ ${#ports[@]} -eq 6 ] || fail "no six free ports from 28080"
  log "ports ${taken[*]} are taken on this machine: node.toml moved to ${ports[*]}"
  set_ports "${ports[@]}"
fi
# The first admin's password, through the environment file the unit reads (0640 root:kaa).
printf 'KAA_ADMIN_PASSWORD=%s\n' "$ADMIN_PASSWORD" >"$ROOT/etc/kaa-node/environment"
in_root chown root:kaa /etc/kaa-node/environment
chmod 0640 "$ROOT/etc/kaa-node/environment"
start_node
status=$(cat "/proc/$NODE_PID/status")
check "the node runs as user kaa (uid $kaa_uid)" grep -qP "^Uid:\t$kaa_uid\t$kaa_uid\t" <<<"$status"
check "the node runs as group kaa (gid $kaa_gid)" grep -qP "^Gid:\t$kaa_gid\t$kaa_gid\t" <<<"$status"
check "the node has no new privileges (NoNewPrivileges=yes)" grep -qP '^NoNewPrivs:\t1$' <<<"$status"
check "the node has an empty capability bounding set" grep -qP '^CapBnd:\t0+$' <<<"$status"
check "the node's working directory is /var/lib/kaa-node" \
  [ "$(readlink "/proc/$NODE_PID/cwd")" = "$ROOT/var/lib/kaa-node" ]
check "the admin UI is served from /usr/share/kaa-node/ui" \
  grep -q 'id="root"' <<<"$(curl -sf "http://127.0.0.1:$ADMIN_PORT/")"
check "the first admin logs in with KAA_ADMIN_PASSWORD from /etc/kaa-node/environment" login
check "the admin creates a tenant" api POST /tenants '{"name":"package-test"}' >/dev/null
check "the node made its key pair in /var/lib/kaa-node/keys (node.private 600 kaa kaa)" \
  [ "$(perms /var/lib/kaa-node/keys/node.private)" = "600 kaa kaa" ]
KEYS=$(keys_fingerprint)
t0=$(date +%s.%N)
check "SIGTERM stops the node gracefully (exit 0)" stop_node
ok "stopped in $(elapsed "$t0") s"

# ---- an operator's edit, then the upgrade ---------------------------------------------------
# New ports and a comment of the operator's; no admin password any more: after the upgrade the
# admin must come from the database, not be created again.
mapfile -t ports < <(free_ports 38080)
[ ${#ports[@]} -eq 6 ] || fail "no six free ports from 38080"
set_ports "${ports[@]}"
echo "# edited by the package test" >>"$ROOT/etc/kaa-node/node.toml"
: >"$ROOT/etc/kaa-node/environment"
EDITED=$(sha "$ROOT/etc/kaa-node/node.toml")
log "node.toml edited: ports ${ports[*]}"

t0=$(date +%s.%N)
check "apt-get install ./$(basename "$DEB2") upgrades without a question" \
  apt_in_root install "/tmp/$(basename "$DEB2")"
ok "upgraded in $(elapsed "$t0") s"
check "dpkg: kaa-node $(basename "$DEB2" | cut -d_ -f2) installed" \
  [ "$(pkg_status)" = "install ok installed $(basename "$DEB2" | cut -d_ -f2)" ]
check "the edited node.toml is kept as it was" [ "$(sha "$ROOT/etc/kaa-node/node.toml")" = "$EDITED" ]
check "no node.toml.dpkg-dist / .dpkg-new / .dpkg-old beside it" \
  [ -z "$(find "$ROOT/etc/kaa-node" -name 'node.toml.dpkg-*')" ]
check "the keys are unchanged (fingerprint $KEYS)" [ "$(keys_fingerprint)" = "$KEYS" ]
check "/var/lib/kaa-node is still 700 kaa kaa" [ "$(perms /var/lib/kaa-node)" = "700 kaa kaa" ]
start_node
check "the admin still logs in (the SQLite metadata survived the upgrade)" login
check "the tenant made before the upgrade is there" \
  jq -e 'any(.items[]; .name == "package-test")' <<<"$(api GET /tenants)" >/dev/null
check "the node still has the same keys after a start" [ "$(keys_fingerprint)" = "$KEYS" ]
check "SIGTERM stops the node gracefully (exit 0)" stop_node

# ---- a second node on the machine: the template kaa-node@.service ---------------------------
# Instance "second": /etc/kaa-node/second.toml (a copy of node.toml on other ports) and
# second.environment; its own data dir /var/lib/kaa-node/second, whatever the copy says.
cp "$ROOT/etc/kaa-node/node.toml" "$ROOT/etc/kaa-node/second.toml"
mapfile -t ports < <(free_ports 48080)
[ ${#ports[@]} -eq 6 ] || fail "no six free ports from 48080"
CONF=/etc/kaa-node/second.toml set_ports "${ports[@]}"
printf 'KAA_ADMIN_PASSWORD="%s"\n' "$ADMIN_PASSWORD-2" >"$ROOT/etc/kaa-node/second.environment"
start_node kaa-node@.service second
check "instance second keeps its data in /var/lib/kaa-node/second (700 kaa kaa)" \
  [ "$(perms /var/lib/kaa-node/second)" = "700 kaa kaa" ]
check "instance second has a key pair of its own" \
  [ "$(keys_fingerprint /var/lib/kaa-node/second)" != "$KEYS" ]
ADMIN_PASSWORD=$ADMIN_PASSWORD-2 check "instance second's admin logs in with its environment file's password" login
check "SIGTERM stops instance second gracefully (exit 0)" stop_node
# What `systemctl enable kaa-node@second` leaves, for the purge to clean up.
ln -s /lib/systemd/system/kaa-node@.service "$ROOT/etc/systemd/system/multi-user.target.wants/kaa-node@second.service"

# ---- remove, purge --------------------------------------------------------------------------
check "apt-get remove kaa-node" apt_in_root remove kaa-node
check "dpkg: kaa-node removed, its configuration kept" \
  [ "$(pkg_status)" = "deinstall ok config-files $(basename "$DEB2" | cut -d_ -f2)" ]
check "/usr/bin/kaa-node is gone" [ ! -e "$ROOT/usr/bin/kaa-node" ]
check "/var/lib/kaa-node is kept, with the same keys" [ "$(keys_fingerprint)" = "$KEYS" ]
check "/var/lib/kaa-node keeps the metadata database" [ -s "$ROOT/var/lib/kaa-node/metadata.db" ]
check "/etc/kaa-node/node.toml is kept as edited" [ "$(sha "$ROOT/etc/kaa-node/node.toml")" = "$EDITED" ]
check "apt-get purge kaa-node" apt_in_root purge kaa-node
purged() { case $(pkg_status) in '' | 'unknown ok not-installed'*) return 0 ;; *) return 1 ;; esac; }
check "dpkg: kaa-node is purged" purged
check "/var/lib/kaa-node is gone" [ ! -e "$ROOT/var/lib/kaa-node" ]
check "/etc/kaa-node is gone" [ ! -e "$ROOT/etc/kaa-node" ]
check "kaa-node.service and instance links are gone from /etc/systemd/system" \
  [ -z "$(find "$ROOT/etc/systemd/system" -name 'kaa-node*')" ]
check "the user kaa stays (system users are not deleted on purge)" in_root getent passwd kaa >/dev/null
