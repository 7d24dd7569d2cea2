# A MongoDB-wire server on 127.0.0.1:27017: FerretDB 1.x with its SQLite backend (no MongoDB build can
# be fetched here); sourced by infra.sh (see lib.sh). Probed with deploy/local/mongo_ping.py (OP_MSG ping).
#
# FerretDB is built from the Go module proxy into $KAA_INFRA_CACHE/ferretdb/<version>/ferretdb, once.
# Not with `go install …/cmd/ferretdb@version`: that binary panics at start ("Invalid
# build/version/version.txt", FerretDB issue #2982) because build/version embeds version.txt, which is
# not in the module zip, and checks it whenever the main module is FerretDB's (as it is for a binary
# built from FerretDB's own cmd/ package, even as a dependency of another module). So the module
# source is copied out of the module cache, version.txt written, and the copy built as its own module.
# Run files under $KAA_INFRA_DIR/mongodb/: sqlite/ (one SQLite file per database), state/,
# ferretdb.log, ferretdb.pid.
#
# Environment: MONGODB_PORT (default 27017). With another port and another KAA_INFRA_DIR, a second,
# private server runs beside the shared one (a test that stops its MongoDB does so).

FERRETDB_VERSION=${FERRETDB_VERSION:-v1.24.2}
FERRETDB_HOME=$KAA_INFRA_CACHE/ferretdb/$FERRETDB_VERSION
FERRETDB_BIN=$FERRETDB_HOME/ferretdb
MONGODB_PORT=${MONGODB_PORT:-27017}
MONGODB_RUN=$KAA_INFRA_DIR/mongodb
MONGODB_LOG=$MONGODB_RUN/ferretdb.log
MONGODB_PIDFILE=$MONGODB_RUN/ferretdb.pid
MONGODB_START_TIMEOUT=${MONGODB_START_TIMEOUT:-30}

mongodb_install() {
  [ -x "$FERRETDB_BIN" ] && return 0
  command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
  command -v go >/dev/null || { log "mongodb: Go (1.24 or newer) is needed to build FerretDB"; return 1; }
  log "mongodb: building FerretDB $FERRETDB_VERSION from the Go module proxy into $FERRETDB_HOME"
  local t0 mod src=$FERRETDB_HOME/src blog=$FERRETDB_HOME/build.log; t0=$(date +%s.%N)
  mkdir -p "$FERRETDB_HOME"
  mod=$(cd / && go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" 2>"$blog" \
          | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [ -z "$mod" ] || [ ! -d "$mod" ]; then fail_server mongodb "$blog" "go mod download failed"; return 1; fi
  rm -rf "$src" && cp -r "$mod" "$src" && chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  if ! (cd "$src" && go build -trimpath -o "$FERRETDB_BIN.partial" ./cmd/ferretdb) >>"$blog" 2>&1 \
     || ! "$FERRETDB_BIN.partial" --version >>"$blog" 2>&1; then
    rm -f "$FERRETDB_BIN.partial"; fail_server mongodb "$blog" "building FerretDB failed"; return 1
  fi
  mv "$FERRETDB_BIN.partial" "$FERRETDB_BIN" && rm -rf "$src"
  log "mongodb: FerretDB built in $(elapsed "$t0")s"
}

mongodb_probe() {
  python3 "$DEPLOY_LOCAL/mongo_ping.py" --port "$MONGODB_PORT" --timeout 3 -q
}

mongodb_start() {
  if mongodb_probe; then log "mongodb: already up"; return 0; fi
  if port_open "$MONGODB_PORT"; then fail_server mongodb "" "port $MONGODB_PORT is taken by a process not answering ping"; return 1; fi
  mongodb_stop
  mkdir -p "$MONGODB_RUN/sqlite" "$MONGODB_RUN/state"
  [ -f "$MONGODB_LOG" ] && mv -f "$MONGODB_LOG" "$MONGODB_LOG.1"
  spawn "$MONGODB_LOG" "$MONGODB_PIDFILE" "$FERRETDB_BIN" --handler=sqlite \
    --sqlite-url="file:$MONGODB_RUN/sqlite/" --listen-addr="127.0.0.1:$MONGODB_PORT" \
    --state-dir="$MONGODB_RUN/state" --debug-addr=- --telemetry=disable
  local secs rc=0
  secs=$(wait_until "$MONGODB_START_TIMEOUT" "$(cat "$MONGODB_PIDFILE")" mongodb_probe) || rc=$?
  if [ $rc -ne 0 ]; then
    mongodb_stop
    fail_server mongodb "$MONGODB_LOG" "no answer to ping on 127.0.0.1:$MONGODB_PORT (wait_until rc=$rc)"; return 1
  fi
  log "mongodb up in ${secs}s"
}

mongodb_stop() {
  if pidfile_pid "$MONGODB_PIDFILE" ferretdb >/dev/null; then stop_pidfile "$MONGODB_PIDFILE" 20; fi
  rm -f "$MONGODB_PIDFILE"
}
