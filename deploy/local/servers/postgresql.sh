# PostgreSQL (Debian's, 15 on bookworm) on 127.0.0.1:5432 with role and database `kaa` (password `kaa`,
# CREATEDB so tests make their own databases); sourced by infra.sh (see lib.sh). No systemd and not
# Debian's own cluster: a private cluster run with pg_ctl. Run files under $KAA_INFRA_DIR/postgresql/:
# data/ (PGDATA), run/ (unix socket), postgresql.log.
#
# initdb and postgres refuse to run as root, so they run as the `postgres` OS user, which must reach
# the run dir. The default one is under the repo, and the repo may sit under a dir closed to other
# users (/root is 0700). Then $KAA_INFRA_DIR/postgresql is a symlink to a dir under /var/tmp named
# after $KAA_INFRA_DIR, rather than opening up the home dir's permissions.
#
# Environment: PG_PORT (default 5432). With another port and another KAA_INFRA_DIR, a second,
# independent server runs beside the first (a test that stops its metadata database uses one of its
# own).

PG_PORT=${PG_PORT:-5432}
PG_URL=postgresql://kaa:kaa@127.0.0.1:$PG_PORT/kaa
PG_START_TIMEOUT=${PG_START_TIMEOUT:-60}

# The newest installed major version's bin dir.
pg_bindir() {
  local d
  d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  [ -x "$d/postgres" ] && echo "$d"
}
# From / so that a cwd closed to postgres does not matter.
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

# The run dir, made reachable and writable by the postgres user (see the header).
pg_dir() {
  local d=$KAA_INFRA_DIR/postgresql
  if [ ! -L "$d" ]; then
    mkdir -p "$d" && chown postgres:postgres "$d"
    if ! as_postgres test -w "$d"; then
      local alt; alt=/var/tmp/kaa-rs-infra-$(printf %s "$KAA_INFRA_DIR" | cksum | cut -d' ' -f1)/postgresql
      mkdir -p "$alt" && chown postgres:postgres "$alt" && chmod 755 "${alt%/*}"
      rmdir "$d" && ln -s "$alt" "$d"
    fi
  fi
  readlink -f "$d"
}

postgresql_install() {
  apt_install postgresql
}

pg_bootstrap_sql() {
  cat <<'SQL'
SELECT 'CREATE ROLE kaa LOGIN CREATEDB PASSWORD ''kaa'''
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'kaa') \gexec
SELECT 'CREATE DATABASE kaa OWNER kaa'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'kaa') \gexec
SQL
}

postgresql_probe() {
  [ "$(PGCONNECT_TIMEOUT=3 psql "$PG_URL" -XAtqc 'select 1' 2>/dev/null)" = 1 ]
}

postgresql_start() {
  if postgresql_probe; then log "postgresql: already up"; return 0; fi
  local bin dir t0; t0=$(date +%s.%N)
  bin=$(pg_bindir) || { fail_server postgresql "" "no /usr/lib/postgresql/*/bin"; return 1; }
  dir=$(pg_dir) || { fail_server postgresql "" "cannot make a run dir the postgres user can use"; return 1; }
  local log=$dir/postgresql.log
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    rm -rf "$dir/data"
    as_postgres "$bin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=peer \
      --auth-host=scram-sha-256 --no-sync >"$dir/initdb.log" 2>&1 \
      || { fail_server postgresql "$dir/initdb.log" "initdb failed"; return 1; }
  fi
  as_postgres mkdir -p "$dir/run"
  [ -f "$log" ] && mv -f "$log" "$log.1"
  # -w: returns once the server accepts connections (or has failed).
  as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$log" -w -t "$PG_START_TIMEOUT" start -o \
    "-c listen_addresses=127.0.0.1 -p $PG_PORT -k '$dir/run' -c max_connections=200" >/dev/null \
    || { fail_server postgresql "$log" "pg_ctl start failed"; return 1; }
  # Role and database, idempotent (over the unix socket as the postgres superuser).
  pg_bootstrap_sql | as_postgres psql -XAtq -v ON_ERROR_STOP=1 -h "$dir/run" -p "$PG_PORT" -U postgres \
    -d postgres >/dev/null || { fail_server postgresql "$log" "creating role/database kaa failed"; return 1; }
  wait_until 10 "" postgresql_probe >/dev/null \
    || { fail_server postgresql "$log" "no answer on $PG_URL"; return 1; }
  log "postgresql up in $(elapsed "$t0")s"
}

postgresql_stop() {
  # The resolved run dir: pg_ctl runs as postgres, who may not pass through $KAA_INFRA_DIR itself.
  local bin dir; dir=$(readlink -f "$KAA_INFRA_DIR/postgresql")
  [ -f "$dir/data/postmaster.pid" ] || return 0
  bin=$(pg_bindir) || return 1
  as_postgres "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 || return 0  # stale pid file
  as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
}
