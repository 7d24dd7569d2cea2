#!/usr/bin/env bash
# run-unit.sh [--root DIR] UNIT_FILE [INSTANCE]: runs a systemd service unit's ExecStart in the
# foreground the way systemd would start it, where systemd cannot run (containers, chroots, the
# package and three-host tests). With --root, UNIT_FILE is a path inside DIR and the command runs
# chrooted into DIR (with DIR's own user database, setpriv and files).
#
# Honoured, from the unit's [Service] section and its drop-ins in /etc/systemd/system/<unit>.d/
# (for an instance also the template's): ExecStart (with %i %I %n %N %p %u %h %S %%), User=,
# Group= (with the user's supplementary groups, as systemd's initgroups) and SupplementaryGroups=,
# Environment= and EnvironmentFile= (a "-" prefix: optional), WorkingDirectory=, LimitNOFILE=,
# UMask=, StateDirectory= and StateDirectoryMode= (created and chowned as systemd does),
# NoNewPrivileges= and an empty CapabilityBoundingSet=. Sandboxing (Protect*, Private*,
# Restrict*, SystemCallFilter, ...) needs systemd and is not applied; ExecStartPre and the like
# are refused rather than skipped. The process replaces this script (exec), so the caller's pid
# is the node's: SIGTERM to it is systemd's stop.
set -euo pipefail

die() { printf '[run-unit] FAILED: %s\n' "$*" >&2; exit 1; }
usage() { echo "usage: $0 [--root DIR] UNIT_FILE [INSTANCE]" >&2; exit 2; }

ROOT=""
if [ "${1:-}" = --root ]; then
  [ $# -ge 2 ] || usage
  ROOT=$(cd "$2" && pwd); shift 2
fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
UNIT_PATH=$1
INSTANCE=${2:-}
[ "$(id -u)" -eq 0 ] || die "needs root (to switch to the unit's user)"
[ -f "$ROOT$UNIT_PATH" ] || die "no unit file $ROOT$UNIT_PATH"

UNIT_FILE_NAME=$(basename "$UNIT_PATH")   # kaa-node.service or kaa-node@.service
SUFFIX=${UNIT_FILE_NAME##*.}
PREFIX=${UNIT_FILE_NAME%.*}
PREFIX=${PREFIX%@}
if [[ $UNIT_FILE_NAME == *@.* ]]; then
  [ -n "$INSTANCE" ] || die "$UNIT_FILE_NAME is a template: name the instance"
  UNIT_NAME="$PREFIX@$INSTANCE.$SUFFIX"
else
  [ -z "$INSTANCE" ] || die "$UNIT_FILE_NAME is not a template: it takes no instance"
  UNIT_NAME=$UNIT_FILE_NAME
fi

# The unit file, then its drop-ins (the template's before the instance's), as systemd reads them.
sources=("$ROOT$UNIT_PATH")
dropin_dirs=("/etc/systemd/system/$UNIT_FILE_NAME.d")
[ "$UNIT_NAME" = "$UNIT_FILE_NAME" ] || dropin_dirs+=("/etc/systemd/system/$UNIT_NAME.d")
for dir in "${dropin_dirs[@]}"; do
  for f in "$ROOT$dir"/*.conf; do
    if [ -f "$f" ]; then sources+=("$f"); fi
  done
done

# Splits $1 into words as systemd does for ExecStart= and Environment=: whitespace separates,
# "double" and 'single' quotes group, a backslash escapes the next character. Sets WORDS.
split_words() {
  local s=$1 i=0 c quote="" word="" have=""
  WORDS=()
  while [ $i -lt ${#s} ]; do
    c=${s:i:1}
    if [ -n "$quote" ]; then
      if [ "$c" = "$quote" ]; then quote=""
      elif [ "$c" = "\\" ] && [ "$quote" = '"' ]; then i=$((i + 1)); word+=${s:i:1}
      else word+=$c; fi
    else
      case $c in
        ' ' | $'\t') if [ -n "$have" ]; then WORDS+=("$word"); word=""; have=""; fi ;;
        '"' | "'") quote=$c; have=1 ;;
        "\\") i=$((i + 1)); word+=${s:i:1}; have=1 ;;
        *) word+=$c; have=1 ;;
      esac
    fi
    i=$((i + 1))
  done
  [ -z "$quote" ] || die "unbalanced quote in: $s"
  if [ -n "$have" ]; then WORDS+=("$word"); fi
}

# Settings, in the order the sources give them; an empty assignment resets a list.
EXEC="" USER_NAME="" GROUP_NAME="" WORKDIR="" NOFILE="" UMASK_VALUE=0022 STATE_MODE=0755 NNP=""
EMPTY_BOUNDING=""
ENVIRONMENT=() ENV_FILES=() SUPP_GROUPS=() STATE_DIRS=()
for src in "${sources[@]}"; do
  section="" pending=""
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ $line == *\\ ]]; then pending+="${line%\\} "; continue; fi
    line="$pending$line" pending=""
    line="${line#"${line%%[![:space:]]*}"}"
    case $line in '' | '#'* | ';'*) continue ;; '['*']') section=$line; continue ;; esac
    [ "$section" = "[Service]" ] || continue
    key=${line%%=*} value=${line#*=}
    key="${key%"${key##*[![:space:]]}"}"
    value="${value#"${value%%[![:space:]]*}"}"
    case $key in
      ExecStart) EXEC=$value ;;
      User) USER_NAME=$value ;;
      Group) GROUP_NAME=$value ;;
      SupplementaryGroups) if [ -z "$value" ]; then SUPP_GROUPS=(); else split_words "$value"; SUPP_GROUPS+=("${WORDS[@]}"); fi ;;
      Environment) if [ -z "$value" ]; then ENVIRONMENT=(); else split_words "$value"; ENVIRONMENT+=("${WORDS[@]}"); fi ;;
      EnvironmentFile) if [ -z "$value" ]; then ENV_FILES=(); else ENV_FILES+=("$value"); fi ;;
      WorkingDirectory) WORKDIR=$value ;;
      LimitNOFILE) NOFILE=$value ;;
      UMask) UMASK_VALUE=$value ;;
      StateDirectory) if [ -z "$value" ]; then STATE_DIRS=(); else split_words "$value"; STATE_DIRS+=("${WORDS[@]}"); fi ;;
      StateDirectoryMode) STATE_MODE=$value ;;
      NoNewPrivileges) case $value in yes | true | on | 1) NNP=1 ;; *) NNP="" ;; esac ;;
      CapabilityBoundingSet) if [ -z "$value" ]; then EMPTY_BOUNDING=1; else EMPTY_BOUNDING=""; fi ;;
      ExecStartPre | ExecStartPost | ExecCondition | RootDirectory | RootImage | DynamicUser | PAMName)
        die "$key= is not supported here (in $src)" ;;
      *) ;; # sandboxing and supervision: systemd's business
    esac
  done <"$src"
done
[ -n "$EXEC" ] || die "no ExecStart= in $UNIT_PATH"

# Specifiers, as systemd expands them in the settings used here.
user_home=/root
if [ -n "$USER_NAME" ]; then
  passwd_entry=$(chroot "${ROOT:-/}" getent passwd "$USER_NAME") || die "no user $USER_NAME${ROOT:+ in $ROOT}"
  user_home=$(cut -d: -f6 <<<"$passwd_entry")
fi
expand() {
  local s=$1 out="" c
  while [ -n "$s" ]; do
    if [ "${s:0:1}" = % ]; then
      c=${s:1:1} s=${s:2}
      case $c in
        i | I) out+=$INSTANCE ;;
        n) out+=$UNIT_NAME ;;
        N) out+=${UNIT_NAME%.*} ;;
        p) out+=$PREFIX ;;
        u) out+=${USER_NAME:-root} ;;
        h) out+=$user_home ;;
        S) out+=/var/lib ;;
        %) out+=% ;;
        *) die "specifier %$c is not supported here" ;;
      esac
    else
      out+=${s:0:1} s=${s:1}
    fi
  done
  printf '%s' "$out"
}

# ExecStart: systemd's prefixes ("-", "@", "+", "!", ":") are not honoured but for "-".
EXEC=$(expand "$EXEC")
EXEC=${EXEC#-}
case $EXEC in [@+!:]*) die "ExecStart prefix ${EXEC:0:1} is not supported here" ;; esac
split_words "$EXEC"
ARGV=("${WORDS[@]}")
[[ ${ARGV[0]} == /* ]] || die "ExecStart must name an absolute path: ${ARGV[0]}"

# The environment systemd gives a service: a fixed PATH, the user's identity, then Environment=,
# then the environment files (which win).
ENVS=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
if [ -n "$USER_NAME" ]; then
  ENVS+=("HOME=$user_home" "USER=$USER_NAME" "LOGNAME=$USER_NAME" "SHELL=$(cut -d: -f7 <<<"$passwd_entry")")
fi
for assignment in "${ENVIRONMENT[@]}"; do ENVS+=("$(expand "$assignment")"); done
for file in "${ENV_FILES[@]}"; do
  optional=""
  if [ "${file:0:1}" = - ]; then optional=1 file=${file:1}; fi
  file=$(expand "$file")
  if [ ! -f "$ROOT$file" ]; then
    [ -n "$optional" ] || die "EnvironmentFile $file does not exist"
    continue
  fi
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line#"${line%%[![:space:]]*}"}"
    case $line in '' | '#'* | ';'*) continue ;; esac
    [[ $line == *=* ]] || continue
    key=${line%%=*} value=${line#*=}
    key="${key%"${key##*[![:space:]]}"}"
    value="${value#"${value%%[![:space:]]*}"}"
    if [[ $value == \"*\" || $value == \'*\' ]] && [ ${#value} -ge 2 ]; then value=${value:1:${#value}-2}; fi
    ENVS+=("$key=$value")
  done <"$ROOT$file"
done

# State directories under /var/lib, owned by the unit's user, as systemd creates them at start.
for dir in "${STATE_DIRS[@]}"; do
  dir=/var/lib/$(expand "$dir")
  mkdir -p "$ROOT$dir"
  if [ -n "$USER_NAME" ]; then chroot "${ROOT:-/}" chown "$USER_NAME:${GROUP_NAME:-$USER_NAME}" "$dir"; fi
  chmod "$STATE_MODE" "$ROOT$dir"
done

WORKDIR=$(expand "${WORKDIR:-/}")
WORKDIR=${WORKDIR#-}
[ "$WORKDIR" != "~" ] || WORKDIR=$user_home

nofile_soft="" nofile_hard=""
if [ -n "$NOFILE" ]; then
  nofile_soft=${NOFILE%%:*} nofile_hard=${NOFILE#*:}
  [ "$nofile_soft" != infinity ] || nofile_soft=unlimited
  [ "$nofile_hard" != infinity ] || nofile_hard=unlimited
fi

privileges=()
if [ -n "$USER_NAME" ]; then
  privileges=(/usr/bin/setpriv --reuid="$USER_NAME" --regid="${GROUP_NAME:-$USER_NAME}")
  if [ ${#SUPP_GROUPS[@]} -eq 0 ]; then
    privileges+=(--init-groups)
  else
    groups=$(chroot "${ROOT:-/}" id -Gn "$USER_NAME" | tr ' ' ',')
    privileges+=(--groups="$groups,$(IFS=,; echo "${SUPP_GROUPS[*]}")")
  fi
  privileges+=(--inh-caps=-all)
  if [ -n "$EMPTY_BOUNDING" ]; then privileges+=(--bounding-set=-all); fi
  if [ -n "$NNP" ]; then privileges+=(--no-new-privs); fi
  privileges+=(--)
fi

# As root: the fd limit (raising the hard limit needs CAP_SYS_RESOURCE, which systemd has but a
# container may lack: then the limit stays at the container's, with a warning), umask and
# directory; then a clean environment, the unit's user, and the command.
chroot_cmd=()
[ -z "$ROOT" ] || chroot_cmd=(chroot "$ROOT")
# shellcheck disable=SC2016 # expanded by the inner shell
exec "${chroot_cmd[@]}" /bin/sh -c '
  soft=$1 hard=$2
  if [ -n "$soft" ]; then
    if ! ulimit -H -n "$hard" 2>/dev/null; then
      hard=$(ulimit -H -n)
      echo "[run-unit] warning: cannot raise the open files limit to $2 here (no CAP_SYS_RESOURCE), it stays $hard" >&2
      if [ "$soft" = unlimited ] || { [ "$hard" != unlimited ] && [ "$soft" -gt "$hard" ]; }; then soft=$hard; fi
    fi
    ulimit -S -n "$soft" || exit 1
  fi
  umask "$3" && cd "$4" || exit 1
  shift 4
  exec "$@"' run-unit "$nofile_soft" "$nofile_hard" "$UMASK_VALUE" "$WORKDIR" \
  /usr/bin/env -i "${ENVS[@]}" "${privileges[@]}" "${ARGV[@]}"
