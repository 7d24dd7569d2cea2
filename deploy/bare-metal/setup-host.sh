#!/usr/bin/env bash
# Sets up one kaa-rs cluster host on which the kaa-node package is installed: writes
# /etc/kaa-node/node.toml (cluster mode) and /etc/kaa-node/environment (secrets), installs the
# internode TLS certificate, creates the node's endpoint keys, checks the configuration and that
# ZooKeeper, SQL and the endpoint store answer, then starts kaa-node.service and waits for /ready.
# Run as root on each host; `setup-host.sh --help` lists the flags. docs/install.md walks through a
# three-host cluster with it. Re-running with the same flags changes nothing.
#
# It works on the installed package's layout; for tests, the environment may point it elsewhere:
# KAA_ETC_DIR (/etc/kaa-node), KAA_DATA_DIR (/var/lib/kaa-node), KAA_BIN (/usr/bin/kaa-node),
# KAA_SHARE_DIR (/usr/share/kaa-node), KAA_USER (kaa; its group has the same name).
set -euo pipefail

ETC_DIR=${KAA_ETC_DIR:-/etc/kaa-node}
DATA_DIR=${KAA_DATA_DIR:-/var/lib/kaa-node}
KAA_BIN=${KAA_BIN:-/usr/bin/kaa-node}
SHARE_DIR=${KAA_SHARE_DIR:-/usr/share/kaa-node}
RUN_USER=${KAA_USER:-kaa}
UNIT=kaa-node.service
PROG=${0##*/}

usage() {
  cat <<EOF
Usage: $PROG --public-host HOST --zookeeper LIST [--zookeeper-auth USER:PASSWORD] [flags]

Sets up this host as a kaa-rs cluster node and starts it (run as root, after installing the
kaa-node package). Writes $ETC_DIR/node.toml (the previous one is kept as node.toml.<time>)
and $ETC_DIR/environment (secrets, mode 0640 root:$RUN_USER), installs the internode TLS
certificate in $ETC_DIR/tls/, creates the node keys in $DATA_DIR/keys (as user $RUN_USER),
runs \`kaa-node check-config\` and \`kaa-node check-deps\` (retrying for --wait seconds), then
\`systemctl enable --now kaa-node\` and waits for /ready. Without systemd, or with --no-start,
it prints how to start the node instead. Running it again with the same flags changes nothing.
Every flag also takes the form --flag=VALUE (for a value that starts with --).

Node:
  --node-id NAME            unique node id, also the certificate's name (default: short host name)
  --services LIST           comma-separated: control, operations, bootstrap (default: all three)
  --public-host HOST        IP address (or DNS name) the other nodes reach this one at (required);
                            node.thrift_host, and the host endpoints are told to connect to
  --endpoint-host HOST      host endpoints connect to, if not --public-host (a DNS name, say)
  --admin-host IP           interface of the admin port 8080: /health, /ready, /metrics, the admin
                            API and UI (default: 0.0.0.0, every interface)
  --admin-password SECRET   password of the first admin user "admin", created on the first start
                            of the first Control node (or env KAA_ADMIN_PASSWORD; 8+ characters;
                            without it the node prints a generated one to the journal once)
ZooKeeper:
  --zookeeper LIST          host[:port],... of the ensemble (port 2181 by default) (required)
  --zookeeper-auth U:P      digest credentials, the same on every node (or env KAA_ZK_AUTH) (required)
  --zookeeper-chroot PATH   root znode of this cluster (default: /kaa)
Storage (Control and Operations nodes):
  --sql URL                 metadata database, postgres://USER:PASSWORD@HOST:5432/DB
                            (or mysql://...); its password goes to the environment file
  --endpoint-store KIND     cassandra, mongodb or sql (default: cassandra with --cassandra,
                            mongodb with --mongodb)
  --cassandra LIST          host[:port],... Cassandra contact points (port 9042 by default)
  --cassandra-dc NAME       the ring's datacenter: a NetworkTopologyStrategy keyspace (default: dc1;
                            "" for SimpleStrategy)
  --replication N           replicas of each endpoint-store row (default: 3)
  --consistency LEVEL       of every endpoint-store statement: quorum, local_quorum, one, ...
                            (default: quorum)
  --keyspace NAME           Cassandra keyspace (default: kaa)
  --mongodb URL             MongoDB connection string (endpoint store mongodb)
  --mongodb-database NAME   (default: kaa)
  --endpoint-url URL        SQL endpoint store: a database of its own, not the --sql one
Internode TLS (one of; without either, the certificate installed for --node-id is kept):
  --ca-dir DIR              the cluster CA (\`kaa-node certs init\`): issues this node's certificate
                            for --public-host into $ETC_DIR/tls/ (kept when still good)
  --tls-ca FILE --tls-cert FILE --tls-key FILE
                            a certificate issued elsewhere, copied into $ETC_DIR/tls/
  --renew-cert              issue the certificate again even if the one installed is still good
Public TLS (optional; files stay where they are and must be readable by user $RUN_USER):
  --admin-tls-cert FILE --admin-tls-key FILE        HTTPS on the admin port
  --endpoint-tls-cert FILE --endpoint-tls-key FILE  TLS on the Operations and Bootstrap ports
Run:
  --wait SECONDS            how long to wait for dependencies, then for /ready (default: 120)
  --no-start                set up only; print how to start the node
  --dry-run                 check the flags and print the node.toml it would write; change nothing
  -h, --help                this text

Example (host 1 of three, every service):
  $PROG --node-id kaa-1 --public-host 10.0.0.11 \\
      --zookeeper 10.0.0.11,10.0.0.12,10.0.0.13 --zookeeper-auth "kaa:\$ZK_SECRET" \\
      --sql "postgres://kaa:\$PG_SECRET@10.0.0.11:5432/kaa" \\
      --cassandra 10.0.0.11,10.0.0.12,10.0.0.13 --cassandra-dc dc1 --replication 3 \\
      --ca-dir /root/kaa-ca --admin-password "\$ADMIN_SECRET"
EOF
}

die() { echo "$PROG: $*" >&2; exit 1; }
usage_error() { echo "$PROG: $*" >&2; echo "Run '$PROG --help' for the flags." >&2; exit 2; }
say() { echo "==> $*"; }
indent() { local line; while IFS= read -r line; do printf '    %s\n' "$line"; done; }

# ---------------------------------------------------------------------------------------------
# Validation helpers. Every value that ends up in node.toml passes one of them, and toml_string
# quotes it.

is_ipv4() {
  local IFS=. octets o
  [[ $1 =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
  read -ra octets <<<"$1"
  for o in "${octets[@]}"; do
    [[ $o =~ ^(0|[1-9][0-9]*)$ ]] && ((o <= 255)) || return 1
  done
}

is_ipv6() {
  [[ $1 == *:* && $1 =~ ^[0-9A-Fa-f:.]+$ && $1 != *:::* ]] || return 1
  # At most one "::", and at most eight groups.
  local rest=${1/::/}
  [[ $rest != *::* ]] || return 1
  local colons=${1//[^:]/}
  ((${#colons} <= 7))
}

is_ip() { is_ipv4 "$1" || is_ipv6 "$1"; }

# A DNS name: letters, digits, hyphens, dots; not all digits and dots (that is a bad IPv4 address).
is_dns_name() {
  [[ $1 =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$ ]] \
    && [[ ! $1 =~ ^[0-9.]+$ ]] && ((${#1} <= 253))
}

is_host() { is_ip "$1" || is_dns_name "$1"; }

# The host an address flag names must be an IP address or a DNS name.
check_host() { # FLAG VALUE
  is_host "$2" || usage_error "$1: '$2' is neither a valid IP address nor a DNS name"
}

# host[:port] list -> "host:port" lines, the default port added; IPv6 addresses as [addr]:port.
host_ports() { # FLAG LIST DEFAULT_PORT
  local flag=$1 list=$2 default=$3 item host port
  [[ -n $list ]] || usage_error "$flag: empty list"
  local IFS=,
  for item in $list; do
    item=${item//[[:space:]]/}
    [[ -n $item ]] || usage_error "$flag: empty entry in '$list'"
    if [[ $item =~ ^\[([0-9A-Fa-f:.]+)\](:([0-9]+))?$ ]]; then
      host=${BASH_REMATCH[1]} port=${BASH_REMATCH[3]:-$default}
      is_ipv6 "$host" || usage_error "$flag: '$host' is not a valid IPv6 address"
      host="[$host]"
    elif [[ $item =~ ^([^:]+)(:([0-9]+))?$ ]]; then
      host=${BASH_REMATCH[1]} port=${BASH_REMATCH[3]:-$default}
      check_host "$flag" "$host"
    else
      usage_error "$flag: '$item' is not host[:port] (write an IPv6 address as [addr]:port)"
    fi
    if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((port < 1 || port > 65535)); then
      usage_error "$flag: bad port in '$item'"
    fi
    echo "$host:$port"
  done
}

# A TOML basic string: backslash and quote escaped (flag values hold no control characters).
toml_string() {
  local value=$1
  value=${value//\\/\\\\}
  value=${value//\"/\\\"}
  printf '"%s"' "$value"
}

# A TOML array of strings from newline-separated values.
toml_array() {
  local out="" line
  while IFS= read -r line; do
    [[ -n $line ]] || continue
    out+="${out:+, }$(toml_string "$line")"
  done <<<"$1"
  printf '[%s]' "$out"
}

# URL without its password: scheme://user:secret@host/... -> scheme://user@host/... (sets
# URL_PUBLIC and URL_HAS_SECRET). The user information ends at the authority's last '@'.
split_url_secret() {
  URL_PUBLIC=$1 URL_HAS_SECRET=0
  [[ $1 =~ ^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)(.*)$ ]] || return 0
  local scheme=${BASH_REMATCH[1]} authority=${BASH_REMATCH[2]} rest=${BASH_REMATCH[3]}
  [[ $authority == *@* ]] || return 0
  local userinfo=${authority%@*} hosts=${authority##*@}
  [[ $userinfo == *:* ]] || return 0
  URL_PUBLIC="$scheme${userinfo%%:*}@$hosts$rest"
  URL_HAS_SECRET=1
}

# Arguments as a shell would take them back: quoted only where needed.
shell_words() {
  local word out=""
  for word in "$@"; do
    if [[ ! $word =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then word="'${word//\'/\'\\\'\'}'"; fi
    out+="${out:+ }$word"
  done
  printf '%s' "$out"
}

# A value for the environment file, read alike by systemd's EnvironmentFile= and a POSIX shell.
env_line() { # NAME VALUE
  local name=$1 value=$2
  [[ $value != *[$'\n\r']* ]] || die "$name: the value holds a line break"
  if [[ $value =~ ^[A-Za-z0-9_@%+=:,./^-]*$ ]]; then
    printf '%s=%s\n' "$name" "$value"
  else
    [[ $value != *\'* ]] || die "$name: the value holds a single quote, which the environment file cannot carry; choose another secret"
    printf "%s='%s'\n" "$name" "$value"
  fi
}

# ---------------------------------------------------------------------------------------------
# Flags.

NODE_ID="" SERVICES="control,operations,bootstrap" PUBLIC_HOST="" ENDPOINT_HOST="" ADMIN_HOST="0.0.0.0"
ADMIN_PASSWORD=${KAA_ADMIN_PASSWORD:-}
ZK_LIST="" ZK_AUTH=${KAA_ZK_AUTH:-} ZK_CHROOT="/kaa"
SQL_URL="" ENDPOINT_STORE="" CASSANDRA_LIST="" CASSANDRA_DC="dc1" REPLICATION=3 CONSISTENCY="quorum"
KEYSPACE="kaa" MONGODB_URL="" MONGODB_DATABASE="kaa" ENDPOINT_URL=""
CA_DIR="" TLS_CA="" TLS_CERT="" TLS_KEY="" RENEW_CERT=0 KEEP_CERT=0
ADMIN_TLS_CERT="" ADMIN_TLS_KEY="" ENDPOINT_TLS_CERT="" ENDPOINT_TLS_KEY=""
WAIT=120 NO_START=0 DRY_RUN=0
# The command line as written into node.toml, secrets left out.
RECORDED_FLAGS=()

# A flag's value is the next argument, unless that looks like a flag (--flag=VALUE takes any).
need_value() { [[ $# -ge 2 && ( $2 != --* || $JOINED == 1 ) ]] || usage_error "$1 needs a value"; }

JOINED=0
while [[ $# -gt 0 ]]; do
  flag=$1
  case $flag in
    -h|--help) usage; exit 0 ;;
    --no-start) NO_START=1; shift; continue ;;
    --dry-run) DRY_RUN=1; shift; continue ;;
    --renew-cert) RENEW_CERT=1; shift; continue ;;
    --*=*) set -- "${flag%%=*}" "${flag#*=}" "${@:2}"; JOINED=1; continue ;;
    --node-id|--services|--public-host|--endpoint-host|--admin-host|--admin-password|--zookeeper|\
    --zookeeper-auth|--zookeeper-chroot|--sql|--endpoint-store|--cassandra|--cassandra-dc|\
    --replication|--consistency|--keyspace|--mongodb|--mongodb-database|--endpoint-url|--ca-dir|\
    --tls-ca|--tls-cert|--tls-key|--admin-tls-cert|--admin-tls-key|--endpoint-tls-cert|\
    --endpoint-tls-key|--wait) need_value "$@"; JOINED=0 ;;
    --*) usage_error "unknown flag '$flag'" ;;
    *) usage_error "unexpected argument '$flag'" ;;
  esac
  value=$2
  [[ $value != *[[:cntrl:]]* ]] || usage_error "$flag: the value holds a control character"
  case $flag in
    --node-id) NODE_ID=$value ;;
    --services) SERVICES=$value ;;
    --public-host) PUBLIC_HOST=$value ;;
    --endpoint-host) ENDPOINT_HOST=$value ;;
    --admin-host) ADMIN_HOST=$value ;;
    --admin-password) ADMIN_PASSWORD=$value ;;
    --zookeeper) ZK_LIST=$value ;;
    --zookeeper-auth) ZK_AUTH=$value ;;
    --zookeeper-chroot) ZK_CHROOT=$value ;;
    --sql) SQL_URL=$value ;;
    --endpoint-store) ENDPOINT_STORE=$value ;;
    --cassandra) CASSANDRA_LIST=$value ;;
    --cassandra-dc) CASSANDRA_DC=$value ;;
    --replication) REPLICATION=$value ;;
    --consistency) CONSISTENCY=$value ;;
    --keyspace) KEYSPACE=$value ;;
    --mongodb) MONGODB_URL=$value ;;
    --mongodb-database) MONGODB_DATABASE=$value ;;
    --endpoint-url) ENDPOINT_URL=$value ;;
    --ca-dir) CA_DIR=$value ;;
    --tls-ca) TLS_CA=$value ;;
    --tls-cert) TLS_CERT=$value ;;
    --tls-key) TLS_KEY=$value ;;
    --admin-tls-cert) ADMIN_TLS_CERT=$value ;;
    --admin-tls-key) ADMIN_TLS_KEY=$value ;;
    --endpoint-tls-cert) ENDPOINT_TLS_CERT=$value ;;
    --endpoint-tls-key) ENDPOINT_TLS_KEY=$value ;;
    --wait) WAIT=$value ;;
  esac
  case $flag in
    --admin-password|--zookeeper-auth) ;;
    --sql|--mongodb|--endpoint-url) split_url_secret "$value"; RECORDED_FLAGS+=("$flag" "$URL_PUBLIC") ;;
    --wait|--ca-dir|--tls-*) ;;
    *) RECORDED_FLAGS+=("$flag" "$value") ;;
  esac
  shift 2
done

# ---------------------------------------------------------------------------------------------
# Checks of the flags, each against the others.

[[ $WAIT =~ ^[0-9]+$ ]] || usage_error "--wait: '$WAIT' is not a number of seconds"

[[ -n $PUBLIC_HOST ]] || usage_error "--public-host is required: the address the other nodes reach this host at"
check_host --public-host "$PUBLIC_HOST"
ENDPOINT_HOST=${ENDPOINT_HOST:-$PUBLIC_HOST}
check_host --endpoint-host "$ENDPOINT_HOST"
is_ip "$ADMIN_HOST" || usage_error "--admin-host: '$ADMIN_HOST' is not an IP address (0.0.0.0 for every interface)"

if [[ -z $NODE_ID ]]; then
  NODE_ID=$(hostname -s 2>/dev/null || true)
  [[ -n $NODE_ID ]] || usage_error "--node-id is required (the host name is unknown)"
fi
[[ $NODE_ID =~ ^[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}$ ]] \
  || usage_error "--node-id: '$NODE_ID' must be 1-63 letters, digits, '.', '-' or '_', not starting with '.'"

CONTROL=false OPERATIONS=false BOOTSTRAP=false
IFS=, read -ra service_list <<<"$SERVICES"
((${#service_list[@]} > 0)) || usage_error "--services: name at least one of control, operations, bootstrap"
for service in "${service_list[@]}"; do
  case ${service//[[:space:]]/} in
    control) CONTROL=true ;;
    operations) OPERATIONS=true ;;
    bootstrap) BOOTSTRAP=true ;;
    *) usage_error "--services: unknown service '$service' (control, operations, bootstrap)" ;;
  esac
done
NEEDS_STORAGE=false
if [[ $CONTROL == true || $OPERATIONS == true ]]; then NEEDS_STORAGE=true; fi

[[ -n $ZK_LIST ]] || usage_error "--zookeeper is required: the ensemble's host[:port] list"
ZK_CONNECT=$(host_ports --zookeeper "$ZK_LIST" 2181 | paste -sd, -)
[[ -n $ZK_AUTH ]] || usage_error "--zookeeper-auth (or env KAA_ZK_AUTH) is required: user:password, the same on every node"
[[ $ZK_AUTH =~ ^[^:]+:.+$ ]] || usage_error "--zookeeper-auth: must be user:password, both non-empty"
[[ $ZK_AUTH != [\[\{\"\']* ]] || usage_error "--zookeeper-auth: must not start with a bracket or a quote"
[[ $ZK_CHROOT =~ ^(/[A-Za-z0-9._-]+)+$ ]] || usage_error "--zookeeper-chroot: '$ZK_CHROOT' is not an absolute znode path such as /kaa"

if [[ -n $ADMIN_PASSWORD ]]; then
  ((${#ADMIN_PASSWORD} >= 8)) || usage_error "--admin-password: at least 8 characters"
  [[ $CONTROL == true ]] || usage_error "--admin-password: only a Control node creates the first admin (add control to --services)"
fi

# Endpoint store: which backend, and the flags that belong to it.
if [[ -z $ENDPOINT_STORE ]]; then
  if [[ -n $CASSANDRA_LIST && -n $MONGODB_URL ]]; then
    usage_error "--cassandra and --mongodb: choose one endpoint store (--endpoint-store)"
  elif [[ -n $CASSANDRA_LIST ]]; then ENDPOINT_STORE=cassandra
  elif [[ -n $MONGODB_URL ]]; then ENDPOINT_STORE=mongodb
  elif [[ -n $ENDPOINT_URL ]]; then ENDPOINT_STORE=sql
  fi
fi
case $ENDPOINT_STORE in
  "") [[ $NEEDS_STORAGE == false ]] \
        || usage_error "--services includes control or operations, which need an endpoint store: give --cassandra LIST (or --mongodb URL, or --endpoint-store sql --endpoint-url URL)" ;;
  cassandra)
    [[ -n $CASSANDRA_LIST ]] || usage_error "--endpoint-store cassandra needs --cassandra host,host,host"
    [[ -z $MONGODB_URL ]] || usage_error "--mongodb contradicts --endpoint-store cassandra"
    [[ -z $ENDPOINT_URL ]] || usage_error "--endpoint-url is for --endpoint-store sql, not cassandra"
    CONTACT_POINTS=$(host_ports --cassandra "$CASSANDRA_LIST" 9042)
    [[ -z $CASSANDRA_DC || $CASSANDRA_DC =~ ^[A-Za-z0-9_-]{1,64}$ ]] || usage_error "--cassandra-dc: '$CASSANDRA_DC' is not a datacenter name"
    [[ $REPLICATION =~ ^[1-9][0-9]?$ ]] || usage_error "--replication: '$REPLICATION' is not a replica count (1-99)"
    case $CONSISTENCY in
      any|one|two|three|quorum|all|local_quorum|local_one|each_quorum) ;;
      *) usage_error "--consistency: '$CONSISTENCY' is not one of any, one, two, three, quorum, all, local_quorum, local_one, each_quorum" ;;
    esac
    [[ $KEYSPACE =~ ^[A-Za-z][A-Za-z0-9_]{0,47}$ ]] || usage_error "--keyspace: '$KEYSPACE' is not a Cassandra keyspace name"
    contact_count=$(wc -l <<<"$CONTACT_POINTS")
    if ((REPLICATION > 1 && contact_count < REPLICATION)); then
      echo "$PROG: note: --replication $REPLICATION with $contact_count contact point(s): the ring needs at least $REPLICATION members" >&2
    fi ;;
  mongodb)
    [[ -n $MONGODB_URL ]] || usage_error "--endpoint-store mongodb needs --mongodb mongodb://..."
    [[ -z $CASSANDRA_LIST ]] || usage_error "--cassandra contradicts --endpoint-store mongodb"
    [[ $MONGODB_URL =~ ^mongodb(\+srv)?:// ]] || usage_error "--mongodb: '$MONGODB_URL' is not a mongodb:// URL"
    [[ $MONGODB_DATABASE =~ ^[A-Za-z0-9_-]{1,63}$ ]] || usage_error "--mongodb-database: '$MONGODB_DATABASE' is not a database name" ;;
  sql)
    [[ -n $ENDPOINT_URL ]] || usage_error "--endpoint-store sql needs --endpoint-url URL (a database of its own)"
    [[ -z $CASSANDRA_LIST && -z $MONGODB_URL ]] || usage_error "--cassandra/--mongodb contradict --endpoint-store sql"
    [[ $ENDPOINT_URL =~ ^(postgres|postgresql|mysql|sqlite):// ]] || usage_error "--endpoint-url: '$ENDPOINT_URL' is not a postgres://, mysql:// or sqlite:// URL"
    [[ $ENDPOINT_URL != "$SQL_URL" ]] || usage_error "--endpoint-url: must be another database than --sql (both keep their own migrations)" ;;
  *) usage_error "--endpoint-store: '$ENDPOINT_STORE' is not cassandra, mongodb or sql" ;;
esac

if [[ $NEEDS_STORAGE == true ]]; then
  [[ -n $SQL_URL ]] || usage_error "--services includes control or operations, which need the metadata database: give --sql postgres://user:password@host:5432/db"
fi
if [[ -n $SQL_URL ]]; then
  [[ $SQL_URL =~ ^(postgres|postgresql|mysql|sqlite):// ]] || usage_error "--sql: '$SQL_URL' is not a postgres://, mysql:// or sqlite:// URL"
fi

# Internode TLS: the CA, or three files.
if [[ -n $CA_DIR ]]; then
  [[ -z $TLS_CA && -z $TLS_CERT && -z $TLS_KEY ]] || usage_error "--ca-dir contradicts --tls-ca/--tls-cert/--tls-key: give one or the other"
  [[ -f $CA_DIR/ca.pem && -f $CA_DIR/ca.key ]] || usage_error "--ca-dir: no ca.pem and ca.key in '$CA_DIR' (make the CA with 'kaa-node certs init --dir DIR')"
elif [[ -n $TLS_CA || -n $TLS_CERT || -n $TLS_KEY ]]; then
  [[ -n $TLS_CA && -n $TLS_CERT && -n $TLS_KEY ]] || usage_error "--tls-ca, --tls-cert and --tls-key go together"
  for file in "$TLS_CA" "$TLS_CERT" "$TLS_KEY"; do [[ -f $file ]] || usage_error "no such file: $file"; done
  ((RENEW_CERT == 0)) || usage_error "--renew-cert needs --ca-dir"
elif [[ -f $ETC_DIR/tls/ca.pem && -f $ETC_DIR/tls/$NODE_ID.pem && -f $ETC_DIR/tls/$NODE_ID.key ]]; then
  ((RENEW_CERT == 0)) || usage_error "--renew-cert needs --ca-dir"
  KEEP_CERT=1
else
  usage_error "internode TLS: give --ca-dir DIR (the cluster CA) or --tls-ca, --tls-cert and --tls-key (no certificate for $NODE_ID in $ETC_DIR/tls yet)"
fi

check_tls_pair() { # CERT_FLAG CERT_FILE KEY_FLAG KEY_FILE
  [[ -n $2 || -n $4 ]] || return 0
  [[ -n $2 && -n $4 ]] || usage_error "$1 and $3 go together"
  [[ $2 == /* && $4 == /* ]] || usage_error "$1 and $3 take absolute paths"
  [[ -f $2 ]] || usage_error "$1: no such file: $2"
  [[ -f $4 ]] || usage_error "$3: no such file: $4"
}
check_tls_pair --admin-tls-cert "$ADMIN_TLS_CERT" --admin-tls-key "$ADMIN_TLS_KEY"
check_tls_pair --endpoint-tls-cert "$ENDPOINT_TLS_CERT" --endpoint-tls-key "$ENDPOINT_TLS_KEY"

# ---------------------------------------------------------------------------------------------
# What it writes.

TLS_DIR=$ETC_DIR/tls
CONFIG=$ETC_DIR/node.toml
ENV_FILE=$ETC_DIR/environment

SQL_TOML="" SQL_SECRET=""
if [[ -n $SQL_URL ]]; then
  split_url_secret "$SQL_URL"
  SQL_TOML=$URL_PUBLIC
  ((URL_HAS_SECRET == 0)) || SQL_SECRET=$SQL_URL
fi
ENDPOINT_URL_TOML="" ENDPOINT_URL_SECRET=""
case $ENDPOINT_STORE in
  mongodb) store_url=$MONGODB_URL ;;
  sql) store_url=$ENDPOINT_URL ;;
  *) store_url="" ;;
esac
if [[ -n $store_url ]]; then
  split_url_secret "$store_url"
  ENDPOINT_URL_TOML=$URL_PUBLIC
  ((URL_HAS_SECRET == 0)) || ENDPOINT_URL_SECRET=$store_url
fi

# The listener lines [operations] and [bootstrap] share: every interface, the host devices are
# told, TLS in front when given.
device_listener() {
  printf 'bind_host = "0.0.0.0"\npublic_host = %s\ntls_certificate = %s\ntls_private_key = %s\n' \
    "$(toml_string "$ENDPOINT_HOST")" "$(toml_string "$ENDPOINT_TLS_CERT")" "$(toml_string "$ENDPOINT_TLS_KEY")"
}

render_config() {
  local q=toml_string
  cat <<EOF
# kaa-node configuration of cluster node $NODE_ID, written by setup-host.sh:
#   setup-host.sh $(shell_words "${RECORDED_FLAGS[@]}")
# (secrets and TLS sources left out). Re-run setup-host.sh to change it: it keeps this file as
# node.toml.<time> before writing a new one. Keys not set here keep their defaults, which
# \`kaa-node print-config\` prints with comments. Secrets are in $ENV_FILE:
# its KAA_SECTION__KEY variables win over this file (kaa-node.service reads it).

[node]
# Unique in the cluster; the internode certificate is issued for it.
id = $($q "$NODE_ID")
mode = "cluster"
# Node keys (keys/) and the file appenders' root (appenders/).
data_dir = $($q "$DATA_DIR")
# The address other nodes call this one at: internode Thrift, mutual TLS.
thrift_host = $($q "$PUBLIC_HOST")
thrift_port = 9090

[admin]
# /health, /ready, /metrics; on Control nodes the admin API and UI. Keep it on the operators' network.
host = $($q "$ADMIN_HOST")
port = 8080
tls_certificate = $($q "$ADMIN_TLS_CERT")
tls_private_key = $($q "$ADMIN_TLS_KEY")

[zookeeper]
connect = $($q "$ZK_CONNECT")
chroot = $($q "$ZK_CHROOT")
# auth (digest user:password, the same on every node): KAA_ZOOKEEPER__AUTH in $ENV_FILE.

[cluster]
# Issued by the cluster CA for $PUBLIC_HOST.
tls_ca = $($q "$TLS_DIR/ca.pem")
tls_cert = $($q "$TLS_DIR/$NODE_ID.pem")
tls_key = $($q "$TLS_DIR/$NODE_ID.key")

[control]
enabled = $CONTROL
ui_dir = $($q "$SHARE_DIR/ui")

[operations]
enabled = $OPERATIONS
# Endpoint transports (Kaatcp 9997, HTTP 9999) on every interface; endpoints are told $ENDPOINT_HOST.
$(device_listener)

[bootstrap]
enabled = $BOOTSTRAP
# Bootstrap transports (Kaatcp 9888, HTTP 9889).
$(device_listener)
EOF
  if [[ -n $SQL_TOML ]]; then
    printf '\n[sql]\n'
    [[ -z $SQL_SECRET ]] || echo "# The URL with its password: KAA_SQL__URL in $ENV_FILE."
    echo "url = $($q "$SQL_TOML")"
  fi
  case $ENDPOINT_STORE in
    cassandra)
      cat <<EOF

[endpoint_store]
backend = "cassandra"
contact_points = $(toml_array "$CONTACT_POINTS")
keyspace = $($q "$KEYSPACE")
# kaa-node creates the keyspace if it is missing: NetworkTopologyStrategy with replication_factor
# replicas in datacenter (SimpleStrategy when datacenter is empty); the driver prefers that DC.
datacenter = $($q "$CASSANDRA_DC")
replication_factor = $REPLICATION
# Of every endpoint-store statement, and of log appenders writing to this Cassandra.
consistency = $($q "$CONSISTENCY")
EOF
      ;;
    mongodb)
      printf '\n[endpoint_store]\nbackend = "mongodb"\n'
      [[ -z $ENDPOINT_URL_SECRET ]] || echo "# The URL with its password: KAA_ENDPOINT_STORE__URL in $ENV_FILE."
      echo "url = $($q "$ENDPOINT_URL_TOML")"
      echo "database = $($q "$MONGODB_DATABASE")" ;;
    sql)
      printf '\n[endpoint_store]\nbackend = "sql"\n'
      [[ -z $ENDPOINT_URL_SECRET ]] || echo "# The URL with its password: KAA_ENDPOINT_STORE__URL in $ENV_FILE."
      echo "url = $($q "$ENDPOINT_URL_TOML")" ;;
  esac
}

# The environment file: the variables this script manages are replaced, every other line kept
# (KAA_ADMIN_USER, say). KAA_ADMIN_PASSWORD is kept unless a new one is given; it comes last.
render_environment() {
  local managed='^(KAA_ZOOKEEPER__AUTH|KAA_SQL__URL|KAA_ENDPOINT_STORE__URL|KAA_ADMIN_PASSWORD)='
  if [[ -f $ENV_FILE ]]; then
    grep -Ev "$managed" "$ENV_FILE" || true
  else
    cat <<EOF
# Secrets of kaa-node.service (EnvironmentFile=), one KEY=value a line; mode 0640 root:$RUN_USER.
# KAA_SECTION__KEY variables override node.toml's [section] key. setup-host.sh rewrites the
# KAA_ZOOKEEPER__AUTH, KAA_SQL__URL and KAA_ENDPOINT_STORE__URL lines (KAA_ADMIN_PASSWORD when
# given one) and keeps the others.
# KAA_ADMIN_USER / KAA_ADMIN_PASSWORD name the first admin, created on the first start of the
# first Control node only; remove the password once you have logged in and changed it.
EOF
  fi
  echo "$env_text"
  if [[ -z $ADMIN_PASSWORD && -f $ENV_FILE ]]; then grep -E '^KAA_ADMIN_PASSWORD=' "$ENV_FILE" || true; fi
}

# The lines of the variables this script manages.
render_environment_lines() {
  env_line KAA_ZOOKEEPER__AUTH "$ZK_AUTH"
  [[ -z $SQL_SECRET ]] || env_line KAA_SQL__URL "$SQL_SECRET"
  [[ -z $ENDPOINT_URL_SECRET ]] || env_line KAA_ENDPOINT_STORE__URL "$ENDPOINT_URL_SECRET"
  [[ -z $ADMIN_PASSWORD ]] || env_line KAA_ADMIN_PASSWORD "$ADMIN_PASSWORD"
}

# Every secret must fit the environment file: checked before anything is written.
env_text=$(render_environment_lines)
config_text=$(render_config)

if ((DRY_RUN)); then
  say "would write $CONFIG:"
  echo "$config_text"
  say "would write $ENV_FILE with: KAA_ZOOKEEPER__AUTH${SQL_SECRET:+ KAA_SQL__URL}${ENDPOINT_URL_SECRET:+ KAA_ENDPOINT_STORE__URL}${ADMIN_PASSWORD:+ KAA_ADMIN_PASSWORD}"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# The host.

[[ $(id -u) == 0 ]] || die "run me as root (I write $ETC_DIR and start $UNIT)"
[[ -x $KAA_BIN ]] || die "$KAA_BIN is missing: install the kaa-node package first (apt install ./kaa-node_<version>_amd64.deb)"
getent passwd "$RUN_USER" >/dev/null || die "user $RUN_USER does not exist: install the kaa-node package first"
getent group "$RUN_USER" >/dev/null || die "group $RUN_USER does not exist: install the kaa-node package first"
for file in "$ADMIN_TLS_CERT" "$ADMIN_TLS_KEY" "$ENDPOINT_TLS_CERT" "$ENDPOINT_TLS_KEY"; do
  [[ -z $file ]] || setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups test -r "$file" \
    || die "$file is not readable by user $RUN_USER (chgrp $RUN_USER and chmod 0640 a key)"
done

CHANGED=0
STAMP=$(date -u +%Y%m%dT%H%M%SZ)

# Installs CONTENT (stdin) as FILE with MODE and OWNER unless FILE already holds it; a replaced
# file is kept as FILE.<time> when KEEP is 1.
install_text() { # FILE MODE OWNER KEEP
  local file=$1 mode=$2 owner=$3 keep=$4 content tmp
  content=$(cat; echo .)
  content=${content%.}
  if [[ -f $file ]] && cmp -s "$file" <(printf '%s' "$content"); then
    chmod "$mode" "$file"; chown "$owner" "$file"
    say "$file unchanged"
    return 0
  fi
  tmp=$(mktemp "$file.new.XXXXXX")
  printf '%s' "$content" >"$tmp"
  chmod "$mode" "$tmp"; chown "$owner" "$tmp"
  if [[ -f $file ]] && ((keep)); then
    cp -p "$file" "$file.$STAMP"
    say "kept the previous $file as $file.$STAMP"
  fi
  mv -f "$tmp" "$file"
  say "wrote $file"
  CHANGED=1
}

install -d -m 0755 -o root -g root "$ETC_DIR"
install -d -m 0750 -o root -g "$RUN_USER" "$TLS_DIR"
if [[ ! -d $DATA_DIR ]]; then
  install -d -m 0700 -o "$RUN_USER" -g "$RUN_USER" "$DATA_DIR"
fi

# 1. node.toml and the environment file.
install_text "$CONFIG" 0640 "root:$RUN_USER" 1 <<<"$config_text"
CONFIG_CHANGED=$CHANGED
environment=$(render_environment)
install_text "$ENV_FILE" 0640 "root:$RUN_USER" 0 <<<"$environment"

# 2. The internode certificate.
# Is CERT for PUBLIC_HOST and good for 30 more days? Without openssl to tell, it is trusted as long
# as node.toml (which names the host) did not change.
cert_covers_host() { # CERT
  command -v openssl >/dev/null || return "$CONFIG_CHANGED"
  openssl x509 -in "$1" -noout -checkend $((30 * 86400)) >/dev/null || return 1
  local sans
  sans=$(openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null) || return 1
  if is_ip "$PUBLIC_HOST"; then grep -qiwF "IP Address:$PUBLIC_HOST" <<<"$sans"
  else grep -qiwF "DNS:$PUBLIC_HOST" <<<"$sans"; fi
}
cert=$TLS_DIR/$NODE_ID.pem key=$TLS_DIR/$NODE_ID.key
if ((KEEP_CERT)); then
  say "internode certificate $cert kept (no --ca-dir or --tls-* given)"
  cert_covers_host "$cert" \
    || echo "$PROG: note: the kept certificate may not name $PUBLIC_HOST or may expire within 30 days; if so, run me again with --ca-dir DIR --renew-cert" >&2
elif [[ -n $CA_DIR ]]; then
  if ((RENEW_CERT == 0)) && [[ -f $cert && -f $key ]] && cmp -s "$CA_DIR/ca.pem" "$TLS_DIR/ca.pem" \
     && cert_covers_host "$cert"; then
    say "internode certificate $cert is still good"
  else
    issue_dir=$(mktemp -d "$TLS_DIR/.issue.XXXXXX")
    san=(--ip "$PUBLIC_HOST")
    is_ip "$PUBLIC_HOST" || san=(--dns "$PUBLIC_HOST")
    "$KAA_BIN" certs issue --ca-dir "$CA_DIR" --name "$NODE_ID" "${san[@]}" --out "$issue_dir" >/dev/null \
      || { rm -rf "$issue_dir"; die "kaa-node certs issue failed"; }
    chown "root:$RUN_USER" "$issue_dir"/*
    chmod 0644 "$issue_dir/ca.pem" "$issue_dir/$NODE_ID.pem"
    chmod 0640 "$issue_dir/$NODE_ID.key"
    mv -f "$issue_dir/ca.pem" "$TLS_DIR/ca.pem"
    mv -f "$issue_dir/$NODE_ID.key" "$key"
    mv -f "$issue_dir/$NODE_ID.pem" "$cert"
    rmdir "$issue_dir"
    say "issued the internode certificate $cert for $PUBLIC_HOST from the CA in $CA_DIR"
    CHANGED=1
  fi
else
  install_text "$TLS_DIR/ca.pem" 0644 "root:$RUN_USER" 0 <"$TLS_CA"
  install_text "$cert" 0644 "root:$RUN_USER" 0 <"$TLS_CERT"
  install_text "$key" 0640 "root:$RUN_USER" 0 <"$TLS_KEY"
fi

# Commands as the service user, with the environment file's variables only (as the unit runs).
as_service_user() {
  local env=(PATH=/usr/sbin:/usr/bin:/sbin:/bin "HOME=$DATA_DIR") line name value
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
    name=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
    if [[ $value =~ ^\'(.*)\'$ || $value =~ ^\"(.*)\"$ ]]; then value=${BASH_REMATCH[1]}; fi
    env+=("$name=$value")
  done <"$ENV_FILE"
  (cd "$DATA_DIR" && env -i "${env[@]}" setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups -- "$@")
}

# 3. The node's endpoint key pair (as the node would make it on its first start).
key_report=$(as_service_user "$KAA_BIN" keys init --data-dir "$DATA_DIR") \
  || die "kaa-node keys init failed"
say "node keys in $DATA_DIR/keys:"
indent <<<"$key_report"

# 4. The configuration, then the servers it names.
if ! check_output=$(as_service_user "$KAA_BIN" check-config --config "$CONFIG" 2>&1); then
  echo "$check_output" >&2
  die "kaa-node check-config refused $CONFIG (with $ENV_FILE)"
fi
say "configuration checked"

say "checking ZooKeeper, SQL and the endpoint store (up to ${WAIT}s)"
deadline=$((SECONDS + WAIT))
while :; do
  if deps_output=$(as_service_user "$KAA_BIN" check-deps --config "$CONFIG" --timeout 10s 2>&1); then
    indent <<<"$deps_output"
    break
  fi
  if ((SECONDS >= deadline)); then
    indent <<<"$deps_output" >&2
    die "dependencies still failing after ${WAIT}s (see above); fix them and run me again"
  fi
  echo "    still failing ($((deadline - SECONDS))s left):"
  grep -v '^ok ' <<<"$deps_output" | indent | indent || true
  sleep 5
done

# 5. Start.
start_command="systemctl enable --now $UNIT"
if ((NO_START)) || [[ ! -d /run/systemd/system ]]; then
  why="--no-start"
  ((NO_START)) || why="systemd is not running here"
  say "set up; not starting ($why). Start the node with:"
  echo "    $start_command"
  echo "  or, without systemd, in the foreground as the unit runs it:"
  echo "    runuser -u $RUN_USER -- sh -c 'set -a; . $ENV_FILE; exec $KAA_BIN --config $CONFIG'"
  exit 0
fi

systemctl enable --quiet "$UNIT" || die "systemctl enable $UNIT failed"
if systemctl is-active --quiet "$UNIT"; then
  if ((CHANGED)); then
    say "restarting $UNIT (its configuration changed)"
    systemctl restart "$UNIT"
  else
    say "$UNIT already runs this configuration"
  fi
else
  say "starting $UNIT"
  systemctl start "$UNIT" || die "systemctl start $UNIT failed: see journalctl -u $UNIT"
fi

# /ready: 200 once storage and ZooKeeper answer. Plain HTTP through bash; HTTPS through curl.
ready_host=$ADMIN_HOST
case $ready_host in 0.0.0.0) ready_host=127.0.0.1 ;; ::) ready_host=::1 ;; esac
ready_status() {
  if [[ -n $ADMIN_TLS_CERT ]]; then
    local url_host=$ready_host
    is_ipv6 "$url_host" && url_host="[$url_host]"
    curl -ks -o /dev/null -m 3 -w '%{http_code}' "https://$url_host:8080/ready" || true
    return
  fi
  (exec 3<>"/dev/tcp/$ready_host/8080" || exit 0
   printf 'GET /ready HTTP/1.0\r\nHost: %s\r\n\r\n' "$ready_host" >&3
   timeout 3 head -n1 <&3 | awk '{print $2}') 2>/dev/null || true
}
if [[ -n $ADMIN_TLS_CERT ]] && ! command -v curl >/dev/null; then
  say "started; install curl to let me wait for https://$ready_host:8080/ready"
  exit 0
fi
deadline=$((SECONDS + WAIT))
until [[ $(ready_status) == 200 ]]; do
  if ! systemctl is-active --quiet "$UNIT"; then
    journalctl -u "$UNIT" -n 30 --no-pager >&2 || true
    die "$UNIT stopped (last lines of its journal above)"
  fi
  ((SECONDS < deadline)) || die "$UNIT runs but /ready did not answer 200 within ${WAIT}s: see journalctl -u $UNIT and curl $ready_host:8080/ready"
  sleep 2
done
say "node $NODE_ID is ready: http://$ready_host:8080/ready answers 200"
