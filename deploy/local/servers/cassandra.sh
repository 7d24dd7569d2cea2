# Apache Cassandra 5.0 as a single test node on 127.0.0.1:9042; sourced by infra.sh (see lib.sh).
#
# The jars come from Maven Central (deploy/local/cassandra/pom.xml, ~/.m2 as the download cache) into
# $KAA_INFRA_CACHE/cassandra-<version>/lib; java runs CassandraDaemon directly (no tarball, no bin/cassandra),
# with the flags of deploy/local/cassandra/jvm17.options. Run files under $KAA_INFRA_DIR/cassandra/:
#   conf/cassandra.yaml  rendered from deploy/local/cassandra/cassandra.yaml.tmpl at every start
#   data/ commitlog/ saved_caches/ hints/   the node's data, kept across down/up
#   logs/cassandra.log   stdout+stderr of the JVM (previous run: cassandra.log.1)
#   cassandra.pid
# Ports: 9042 CQL, 7000 storage, 7199 JMX (localhost only; for deploy/local/cassandra/nodetool.sh).
# Environment: CASSANDRA_VERSION (default below), CASSANDRA_HEAP (default 768M), CASSANDRA_START_TIMEOUT (s),
# CASSANDRA_JVM_OPTS (extra JVM flags, space-separated, added last), CASSANDRA_CQL_PORT,
# CASSANDRA_STORAGE_PORT, CASSANDRA_JMX_PORT. With other ports and another KAA_INFRA_DIR, a second,
# independent node runs beside the first (a test that stops its storage uses one of its own).
# A ring member on another address (the three-host test runs one per network namespace):
# CASSANDRA_HOST (the address it answers CQL and JMX on; default 127.0.0.1), CASSANDRA_YAML (its own
# cassandra.yaml, used as is instead of the rendered local template) and CASSANDRA_RACKDC (its
# cassandra-rackdc.properties, for GossipingPropertyFileSnitch).

CASSANDRA_VERSION=${CASSANDRA_VERSION:-5.0.9}
CASSANDRA_HEAP=${CASSANDRA_HEAP:-768M}
CASSANDRA_START_TIMEOUT=${CASSANDRA_START_TIMEOUT:-180}
CASSANDRA_CQL_PORT=${CASSANDRA_CQL_PORT:-9042}
CASSANDRA_STORAGE_PORT=${CASSANDRA_STORAGE_PORT:-7000}
CASSANDRA_JMX_PORT=${CASSANDRA_JMX_PORT:-7199}
CASSANDRA_HOST=${CASSANDRA_HOST:-127.0.0.1}
CASSANDRA_YAML=${CASSANDRA_YAML:-}
CASSANDRA_RACKDC=${CASSANDRA_RACKDC:-}
CASSANDRA_SRC=$DEPLOY_LOCAL/cassandra
CASSANDRA_HOME=$KAA_INFRA_CACHE/cassandra-$CASSANDRA_VERSION
CASSANDRA_LIB=$CASSANDRA_HOME/lib
CASSANDRA_RUN=$KAA_INFRA_DIR/cassandra
CASSANDRA_LOG=$CASSANDRA_RUN/logs/cassandra.log
CASSANDRA_PIDFILE=$CASSANDRA_RUN/cassandra.pid

# The java to run Cassandra 5.0 with: it supports Java 11 and 17 only.
cassandra_java() {
  local j
  for j in /usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/java-11-openjdk-*/bin/java "$(command -v java 2>/dev/null)"; do
    [ -x "$j" ] || continue
    case "$("$j" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/{print $2}')" in
      11|17) echo "$j"; return 0 ;;
    esac
  done
  return 1
}

# Stamp of a complete lib dir: the pom and the version it was resolved with.
cassandra_lib_stamp() {
  echo "$CASSANDRA_VERSION $(md5sum <"$CASSANDRA_SRC/pom.xml" | cut -d' ' -f1)"
}

cassandra_install() {
  cassandra_java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  command -v python3 >/dev/null || apt_install python3
  local marker=$CASSANDRA_HOME/.complete
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$(cassandra_lib_stamp)" ] \
     && [ -f "$CASSANDRA_LIB/cassandra-all-$CASSANDRA_VERSION.jar" ]; then
    return 0
  fi
  log "cassandra: fetching Cassandra $CASSANDRA_VERSION jars from Maven Central into $CASSANDRA_LIB"
  local t0=$SECONDS tmp=$CASSANDRA_HOME/lib.partial
  rm -rf "$tmp" "$marker"
  mkdir -p "$CASSANDRA_HOME"
  local mvnlog=$CASSANDRA_HOME/mvn.log
  if ! mvn -B -q -Dstyle.color=never -f "$CASSANDRA_SRC/pom.xml" -Dcassandra.version="$CASSANDRA_VERSION" \
         dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvnlog" 2>&1; then
    rm -rf "$tmp"; fail_server cassandra "$mvnlog" "mvn dependency:copy-dependencies failed"; return 1
  fi
  if [ ! -f "$tmp/cassandra-all-$CASSANDRA_VERSION.jar" ] || ! ls "$tmp"/jamm-*.jar >/dev/null 2>&1; then
    rm -rf "$tmp"; log "cassandra: cassandra-all or jamm jar missing after download"; return 1
  fi
  rm -rf "$CASSANDRA_LIB"
  mv "$tmp" "$CASSANDRA_LIB"
  cassandra_lib_stamp >"$marker"
  log "cassandra: $(ls "$CASSANDRA_LIB" | wc -l) jars fetched in $((SECONDS - t0))s"
}

# Pid from the pid file if that process is alive and is our Cassandra; else nothing.
cassandra_pid() {
  local pid
  [ -f "$CASSANDRA_PIDFILE" ] || return 1
  pid=$(cat "$CASSANDRA_PIDFILE")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "CassandraDaemon" || return 1
  echo "$pid"
}

cassandra_probe() {
  python3 "$DEPLOY_LOCAL/cql_ping.py" --host "$CASSANDRA_HOST" --port "$CASSANDRA_CQL_PORT" --timeout 3 -q \
    --query "SELECT release_version FROM system.local"
}

cassandra_start() {
  if cassandra_probe; then log "cassandra: already up"; return 0; fi
  local pid java secs rc=0
  if pid=$(cassandra_pid); then
    log "cassandra: pid $pid is still starting, waiting for it"
  else
    rm -f "$CASSANDRA_PIDFILE"
    local p
    for p in $CASSANDRA_CQL_PORT $CASSANDRA_STORAGE_PORT $CASSANDRA_JMX_PORT; do
      if port_open "$p" "$CASSANDRA_HOST"; then
        fail_server cassandra "" "port $p on $CASSANDRA_HOST is taken by another process"; return 1
      fi
    done
    java=$(cassandra_java) || { fail_server cassandra "" "no Java 11 or 17 found (Cassandra 5.0 needs one)"; return 1; }
    local jamm; jamm=$(ls "$CASSANDRA_LIB"/jamm-*.jar 2>/dev/null | head -n1)
    [ -n "$jamm" ] || { fail_server cassandra "" "no jars in $CASSANDRA_LIB (install first)"; return 1; }

    mkdir -p "$CASSANDRA_RUN"/{conf,data,commitlog,saved_caches,hints,cdc_raw,triggers,logs,tmp}
    if [ -n "$CASSANDRA_YAML" ]; then
      cp "$CASSANDRA_YAML" "$CASSANDRA_RUN/conf/cassandra.yaml"
    else
      sed -e "s|@RUN@|$CASSANDRA_RUN|g" -e "s|@CQL_PORT@|$CASSANDRA_CQL_PORT|g" \
          -e "s|@STORAGE_PORT@|$CASSANDRA_STORAGE_PORT|g" \
          "$CASSANDRA_SRC/cassandra.yaml.tmpl" >"$CASSANDRA_RUN/conf/cassandra.yaml"
    fi
    if [ -n "$CASSANDRA_RACKDC" ]; then cp "$CASSANDRA_RACKDC" "$CASSANDRA_RUN/conf/cassandra-rackdc.properties"; fi
    cp "$CASSANDRA_SRC/logback.xml" "$CASSANDRA_RUN/conf/logback.xml"
    [ -f "$CASSANDRA_LOG" ] && mv -f "$CASSANDRA_LOG" "$CASSANDRA_LOG.1"

    local flags=()
    mapfile -t flags < <(sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' "$CASSANDRA_SRC/jvm17.options")
    flags+=(
      "-Xms$CASSANDRA_HEAP" "-Xmx$CASSANDRA_HEAP"
      "-XX:HeapDumpPath=$CASSANDRA_RUN/logs"
      "-javaagent:$jamm"
      # JNA and the native libs unpack here and must be able to exec from it.
      "-Djava.io.tmpdir=$CASSANDRA_RUN/tmp" "-Djna.tmpdir=$CASSANDRA_RUN/tmp"
      "-Dcassandra.config=file://$CASSANDRA_RUN/conf/cassandra.yaml"
      "-Dcassandra.storagedir=$CASSANDRA_RUN" "-Dcassandra.logdir=$CASSANDRA_RUN/logs"
      "-Dcassandra.triggers_dir=$CASSANDRA_RUN/triggers"
      "-Dlogback.configurationFile=file://$CASSANDRA_RUN/conf/logback.xml"
      "-Dcassandra.jmx.local.port=$CASSANDRA_JMX_PORT" "-Djava.rmi.server.hostname=127.0.0.1"
      # Keeps stdout/stderr open (CassandraDaemon closes them otherwise).
      "-Dcassandra-foreground=yes"
    )
    if [ -n "${CASSANDRA_JVM_OPTS:-}" ]; then local extra; read -ra extra <<<"$CASSANDRA_JVM_OPTS"; flags+=("${extra[@]}"); fi
    # The conf dir is on the class path for cassandra-rackdc.properties.
    flags+=(-cp "$CASSANDRA_RUN/conf:$CASSANDRA_LIB/*" org.apache.cassandra.service.CassandraDaemon)
    # setsid: the node outlives this shell and its terminal. As root, CAP_IPC_LOCK is dropped so that
    # Cassandra's mlockall fails (a harmless warning) instead of pinning the whole heap in RAM.
    local launch=(setsid)
    if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then launch+=(setpriv --bounding-set=-ipc_lock); fi
    ( ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
      cd "$CASSANDRA_RUN" && exec "${launch[@]}" "$java" "${flags[@]}" </dev/null >"$CASSANDRA_LOG" 2>&1 ) &
    pid=$!
    echo "$pid" >"$CASSANDRA_PIDFILE"
    log "cassandra: starting $CASSANDRA_VERSION (pid $pid, heap $CASSANDRA_HEAP, log $CASSANDRA_LOG)"
  fi
  secs=$(wait_until "$CASSANDRA_START_TIMEOUT" "$pid" cassandra_probe) || rc=$?
  case $rc in
    0) log "cassandra up in ${secs}s" ;;
    2) rm -f "$CASSANDRA_PIDFILE"; fail_server cassandra "$CASSANDRA_LOG" "the process exited during start"; return 1 ;;
    *) fail_server cassandra "$CASSANDRA_LOG" "no CQL answer on $CASSANDRA_HOST:$CASSANDRA_CQL_PORT after ${CASSANDRA_START_TIMEOUT}s"
       cassandra_stop; return 1 ;;
  esac
}

cassandra_stop() {
  local pid
  if ! pid=$(cassandra_pid); then rm -f "$CASSANDRA_PIDFILE"; return 0; fi
  log "cassandra: stopping pid $pid"
  # SIGTERM runs Cassandra's drain (flush memtables, close the commit log); give it time.
  stop_pidfile "$CASSANDRA_PIDFILE" 60
}
