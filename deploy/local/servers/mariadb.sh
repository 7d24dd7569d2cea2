# MariaDB (Debian's, 10.11 on bookworm) on 127.0.0.1:3306 with user `kaa` (password `kaa`, all privileges
# so tests make their own databases) and database `kaa`; sourced by infra.sh (see lib.sh). No systemd
# and not Debian's own instance: a private data dir, mariadbd started directly (as root, --user=root).
# Run files under $KAA_INFRA_DIR/mariadb/: data/, mariadb.sock, mariadb.pid, mariadb.log; root can log in
# over the socket: mariadb --no-defaults -S $KAA_INFRA_DIR/mariadb/mariadb.sock -uroot

MARIADB_RUN=$KAA_INFRA_DIR/mariadb
MARIADB_LOG=$MARIADB_RUN/mariadb.log
MARIADB_PIDFILE=$MARIADB_RUN/mariadb.pid
MARIADB_SOCK=$MARIADB_RUN/mariadb.sock
MARIADB_START_TIMEOUT=${MARIADB_START_TIMEOUT:-60}

mariadb_install() {
  apt_install mariadb-server mariadb-client
}

mariadb_probe() {
  local out
  out=$(mariadb --no-defaults --connect-timeout=3 -h127.0.0.1 -P3306 -ukaa -pkaa kaa -NBe 'select 1' 2>/dev/null)
  [ "$out" = 1 ]
}

mariadb_start() {
  if mariadb_probe; then log "mariadb: already up"; return 0; fi
  local t0; t0=$(date +%s.%N)
  if ! pidfile_pid "$MARIADB_PIDFILE" mariadbd >/dev/null; then
    if port_open 3306; then fail_server mariadb "" "port 3306 is taken by another process"; return 1; fi
    mkdir -p "$MARIADB_RUN"
    [ -f "$MARIADB_LOG" ] && mv -f "$MARIADB_LOG" "$MARIADB_LOG.1"
    if [ ! -d "$MARIADB_RUN/data/mysql" ]; then
      rm -rf "$MARIADB_RUN/data"
      mariadb-install-db --no-defaults --datadir="$MARIADB_RUN/data" --user=root --skip-test-db \
        >"$MARIADB_RUN/install-db.log" 2>&1 \
        || { fail_server mariadb "$MARIADB_RUN/install-db.log" "mariadb-install-db failed"; return 1; }
    fi
    rm -f "$MARIADB_SOCK"
    # Our pid file, not mariadbd's own (which it deletes at shutdown, before it has exited).
    spawn "$MARIADB_LOG" "$MARIADB_PIDFILE" mariadbd --no-defaults --user=root \
      --datadir="$MARIADB_RUN/data" --socket="$MARIADB_SOCK" --pid-file="$MARIADB_RUN/data/mariadbd.pid" \
      --port=3306 --bind-address=127.0.0.1 --skip-name-resolve --max-connections=200 \
      --character-set-server=utf8mb4 --innodb-buffer-pool-size=64M --performance-schema=OFF
  fi
  local rc=0
  wait_until "$MARIADB_START_TIMEOUT" "$(cat "$MARIADB_PIDFILE")" \
    mariadb-admin --no-defaults -S "$MARIADB_SOCK" -uroot ping >/dev/null || rc=$?
  if [ $rc -ne 0 ]; then
    mariadb_stop
    fail_server mariadb "$MARIADB_LOG" "no answer on $MARIADB_SOCK (wait_until rc=$rc)"; return 1
  fi
  # User and database, idempotent; as root over the socket (root@localhost authenticates by unix_socket).
  mariadb --no-defaults -S "$MARIADB_SOCK" -uroot >/dev/null <<'SQL' \
    || { fail_server mariadb "$MARIADB_LOG" "creating user/database kaa failed"; return 1; }
CREATE DATABASE IF NOT EXISTS kaa;
CREATE USER IF NOT EXISTS 'kaa'@'%' IDENTIFIED BY 'kaa';
CREATE USER IF NOT EXISTS 'kaa'@'localhost' IDENTIFIED BY 'kaa';
CREATE USER IF NOT EXISTS 'kaa'@'127.0.0.1' IDENTIFIED BY 'kaa';
GRANT ALL PRIVILEGES ON *.* TO 'kaa'@'%' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'kaa'@'localhost' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'kaa'@'127.0.0.1' WITH GRANT OPTION;
SQL
  wait_until 10 "" mariadb_probe >/dev/null \
    || { fail_server mariadb "$MARIADB_LOG" "no answer as kaa on 127.0.0.1:3306"; return 1; }
  log "mariadb up in $(elapsed "$t0")s"
}

mariadb_stop() {
  # SIGTERM is mariadbd's clean shutdown; stop_pidfile waits for the exit.
  if pidfile_pid "$MARIADB_PIDFILE" mariadbd >/dev/null; then stop_pidfile "$MARIADB_PIDFILE" 60; fi
  rm -f "$MARIADB_PIDFILE"
}
