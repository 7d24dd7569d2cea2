# ZooKeeper 3.8 (Debian's jars) standalone on 127.0.0.1:2181, for leader election and cluster membership
# tests; sourced by infra.sh (see lib.sh). No systemd: java runs ZooKeeperServerMain directly.
# Run files under $KAA_INFRA_DIR/zookeeper/: zoo.cfg (rendered from deploy/local/zookeeper/zoo.cfg at
# every start), data/, zookeeper.log, zookeeper.pid.

ZK_RUN=$KAA_INFRA_DIR/zookeeper
ZK_LOG=$ZK_RUN/zookeeper.log
ZK_PIDFILE=$ZK_RUN/zookeeper.pid
ZK_CLASSPATH=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar
ZK_START_TIMEOUT=${ZK_START_TIMEOUT:-60}
ZK_LOG_LEVEL=${ZK_LOG_LEVEL:-warn}  # slf4j-simple level: error warn info debug

zookeeper_install() {
  # `zookeeper` brings the jars (libzookeeper-java, with its dependencies in the jar's Class-Path) and
  # no service; slf4j-simple is the logger binding.
  command -v java >/dev/null || apt_install default-jre-headless
  apt_install zookeeper libslf4j-java
}

# The four-letter word `ruok` answered with `imok`.
zookeeper_probe() {
  local reply
  reply=$(exec 2>/dev/null 3<>/dev/tcp/127.0.0.1/2181 && printf ruok >&3 && timeout 3 cat <&3)
  [ "$reply" = imok ]
}

zookeeper_start() {
  if zookeeper_probe; then log "zookeeper: already up"; return 0; fi
  if port_open 2181; then fail_server zookeeper "" "port 2181 is taken by a process not answering ruok"; return 1; fi
  zookeeper_stop
  mkdir -p "$ZK_RUN/data"
  sed "s|@DATA@|$ZK_RUN/data|" "$DEPLOY_LOCAL/zookeeper/zoo.cfg" >"$ZK_RUN/zoo.cfg"
  [ -f "$ZK_LOG" ] && mv -f "$ZK_LOG" "$ZK_LOG.1"
  local jvm=(-Xms32m -Xmx256m -Dzookeeper.jmx.log4j.disable=true
    -Dorg.slf4j.simpleLogger.defaultLogLevel="$ZK_LOG_LEVEL" -Dorg.slf4j.simpleLogger.showDateTime=true
    -Dorg.slf4j.simpleLogger.dateTimeFormat="yyyy-MM-dd HH:mm:ss.SSS")
  spawn "$ZK_LOG" "$ZK_PIDFILE" java "${jvm[@]}" -cp "$ZK_CLASSPATH" \
    org.apache.zookeeper.server.ZooKeeperServerMain "$ZK_RUN/zoo.cfg"
  local secs rc=0
  secs=$(wait_until "$ZK_START_TIMEOUT" "$(cat "$ZK_PIDFILE")" zookeeper_probe) || rc=$?
  if [ $rc -ne 0 ]; then
    zookeeper_stop
    fail_server zookeeper "$ZK_LOG" "no answer to ruok on 127.0.0.1:2181 (wait_until rc=$rc)"; return 1
  fi
  log "zookeeper up in ${secs}s"
}

zookeeper_stop() {
  if pidfile_pid "$ZK_PIDFILE" ZooKeeperServerMain >/dev/null; then stop_pidfile "$ZK_PIDFILE" 20; fi
  rm -f "$ZK_PIDFILE"
}
