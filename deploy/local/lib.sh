# Shared helpers for the local infrastructure scripts; sourced by infra.sh, never run on its own.
#
# Layout (all overridable from the environment):
#   KAA_INFRA_DIR    run data and logs of every server: $KAA_INFRA_DIR/<server>/
#                    (default: ~/.local/state/kaa-rs/infra: the servers own fixed ports, so there is
#                    one set per machine whichever checkout starts or stops them)
#   KAA_INFRA_CACHE  downloads and builds kept between runs (jars, binaries)       (default: ~/.cache/kaa-rs)
#
# Every server script under servers/ defines four functions, named after the server:
#   <name>_install   install what is missing (idempotent, quiet when nothing to do)
#   <name>_start     start on 127.0.0.1 unless already answering; return only once it answers
#   <name>_stop      stop cleanly (and wait for the process to exit)
#   <name>_probe     exit 0 if the server answers a real request right now

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEPLOY_LOCAL="$REPO_ROOT/deploy/local"
KAA_INFRA_DIR=${KAA_INFRA_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/kaa-rs/infra}
KAA_INFRA_CACHE=${KAA_INFRA_CACHE:-$HOME/.cache/kaa-rs}
mkdir -p "$KAA_INFRA_DIR" "$KAA_INFRA_CACHE"

log() { printf '[infra] %s\n' "$*" >&2; }

# Fails the current server with its name and the tail of its log.
fail_server() { # name logfile message
  local name=$1 logfile=$2; shift 2
  log "FAILED: $name: $*"
  if [ -n "$logfile" ] && [ -f "$logfile" ]; then
    log "---- last 60 lines of $logfile ----"
    tail -n 60 "$logfile" >&2
  fi
  return 1
}

# True if something accepts TCP connections on <host>:<port> (host 127.0.0.1 unless given).
port_open() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }

# True if process <pid> is running. A zombie is not: an exited daemon stays one until PID 1 reaps it,
# which here can take seconds.
pid_alive() { # pid
  kill -0 "$1" 2>/dev/null || return 1
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# Polls <probe command...> every 0.2 s for up to <seconds>; also fails early if <pid> died.
# Prints the elapsed seconds on success.
wait_until() { # seconds pid probe...
  local limit=$1 pid=$2; shift 2
  local start; start=$(date +%s.%N)
  local deadline; deadline=$(awk -v s="$start" -v l="$limit" 'BEGIN{printf "%.3f\n", s+l}')
  while :; do
    if "$@" >/dev/null 2>&1; then
      awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f\n", e-s}'
      return 0
    fi
    if [ -n "$pid" ] && ! pid_alive "$pid"; then return 2; fi
    if awk -v d="$deadline" -v n="$(date +%s.%N)" 'BEGIN{exit !(n>d)}'; then return 1; fi
    sleep 0.2
  done
}

# Seconds since <t0> (a `date +%s.%N`), with one decimal.
elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f\n", e-s}'; }

# Sends SIGTERM to the pid in <pidfile>, waits up to <seconds>, then SIGKILL.
stop_pidfile() { # pidfile seconds
  local pidfile=$1 limit=${2:-30} pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if pid_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((limit * 5))); do pid_alive "$pid" || break; sleep 0.2; done
    if pid_alive "$pid"; then log "pid $pid did not stop in ${limit}s, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$pidfile"
}

# Prints the pid in <pidfile> if that process is alive and its command line contains <pattern>
# (a stale pid file whose pid was reused by another process does not count).
pidfile_pid() { # pidfile pattern
  local pid
  [ -f "$1" ] && pid=$(cat "$1") && [ -n "$pid" ] || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$2" || return 1
  echo "$pid"
}

# Starts <command...> detached from this shell (own session, stdin closed, stdout+stderr appended to
# <logfile>) and writes its pid to <pidfile>; the pid is the command's own (nohup and setsid exec).
spawn() { # logfile pidfile command...
  local logfile=$1 pidfile=$2; shift 2
  nohup setsid "$@" </dev/null >>"$logfile" 2>&1 &
  echo $! >"$pidfile"
}

apt_updated=""
# Installs Debian packages that are not installed yet. Waits for the dpkg lock (several servers may
# install at once) and keeps packages from starting their own service (we start servers ourselves).
apt_install() { # packages...
  local missing=() p rc=0 policy=/usr/sbin/policy-rc.d own_policy=""
  for p in "$@"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local apt=(apt-get -o DPkg::Lock::Timeout=600 -qq)
  if [ -z "$apt_updated" ]; then "${apt[@]}" update >&2 || return 1; apt_updated=1; fi
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; own_policy=1; fi
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "${missing[@]}" \
    >"$KAA_INFRA_DIR/apt.log" 2>&1 || rc=$?
  if [ -n "$own_policy" ]; then rm -f "$policy"; fi
  [ $rc -eq 0 ] || fail_server apt "$KAA_INFRA_DIR/apt.log" "apt-get install ${missing[*]} failed"
}

# Installs the cargo subcommand crate `name` at exactly `version` into $CARGO_HOME/bin (a no-op
# when that version is there), failing loudly with the install log.
cargo_install_pinned() { # name version
  local name=$1 version=$2 home=${CARGO_HOME:-$HOME/.cargo}
  if ! "$home/bin/$name" --version 2>/dev/null | grep -q " $version\$"; then
    log "installing $name $version"
    cargo install --quiet --locked --root "$home" "$name@$version" \
      >"$KAA_INFRA_DIR/$name-install.log" 2>&1 \
      || fail_server "$name" "$KAA_INFRA_DIR/$name-install.log" "cargo install $name failed"
  fi
  "$home/bin/$name" --version 2>/dev/null | grep -q " $version\$" \
    || { log "FAILED: no $name $version in $home/bin after installing it"; exit 1; }
}
