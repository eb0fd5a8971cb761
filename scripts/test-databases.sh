#!/usr/bin/env bash
# The database stage: starts a throwaway PostgreSQL and MariaDB on loopback in temporary
# directories, runs the servreg tests that need them, and stops and removes both servers.
# Usage: scripts/test-databases.sh BUILD_DIR   (BUILD_DIR holds tests/servreg_tests)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_dir="${1:?usage: $0 BUILD_DIR}"
tests="$build_dir/tests/servreg_tests"
[ -x "$tests" ] || { echo "test-databases: $tests not found" >&2; exit 1; }
started_at=$SECONDS

# postgresql-15 is Debian 12's; elsewhere the unversioned package brings the current one.
pg_package=postgresql-15
apt-cache show postgresql-15 >/dev/null 2>&1 || pg_package=postgresql
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || ensure_packages "$pg_package"
ensure_packages mariadb-server mariadb-client python3

pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
mariadbd="$(command -v mariadbd || echo /usr/sbin/mariadbd)"

# A password that needs percent-encoding in a URL, and its encoded form.
db_user=servreg
db_password='p@ss w:rd/%'
db_password_url='p%40ss%20w%3Ard%2F%25'

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

work="$(mktemp -d /tmp/servreg-databases.XXXXXX)"
chmod 755 "$work"
pg_dir="$work/postgresql"
my_dir="$work/mariadb"

summary=""
cleanup() {
    local status=$?
    [ -x "$pg_dir/stop.sh" ] && "$pg_dir/stop.sh" >/dev/null 2>&1 || true
    [ -x "$my_dir/stop.sh" ] && "$my_dir/stop.sh" >/dev/null 2>&1 || true
    [ -x "$work/failover/stop.sh" ] && "$work/failover/stop.sh" >/dev/null 2>&1 || true
    rm -rf "$work"
    echo "==> database stage took $((SECONDS - started_at)) s"
    [ -n "$summary" ] && echo "$summary"
    exit "$status"
}
trap cleanup EXIT INT TERM

fail_with_log() {
    echo "test-databases: $1" >&2
    [ -f "$2" ] && tail -n 30 "$2" >&2
    summary="databases: 0 passed, 1 failed"
    exit 1
}

# --- PostgreSQL, under its own user: it refuses to run as root ---------------------------------
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$pg_dir" postgres
    as_pg=(runuser -u postgres --)
fi
mkdir -p "$pg_dir/sock"
[ "$(id -u)" -eq 0 ] && chown -R postgres "$pg_dir"
pg_port="$(free_port)"
"${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$pg_dir/initdb.log" 2>&1 ||
    fail_with_log "initdb failed" "$pg_dir/initdb.log"
# fsync off: the tests kill servers, never the machine, and a killed server keeps what the OS
# was given; with it on, each scratch database and each crash recovery costs seconds.
cat >"$pg_dir/start.sh" <<EOF
#!/bin/sh
exec ${as_pg[*]} "$pg_bin/pg_ctl" -s -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 30 \\
    -o "-p $pg_port -k $pg_dir/sock -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c checkpoint_timeout=30s -c max_connections=200" start
EOF
# -m immediate: the server dies as in a crash, and comes back through WAL recovery.
cat >"$pg_dir/stop.sh" <<EOF
#!/bin/sh
exec ${as_pg[*]} "$pg_bin/pg_ctl" -s -D "$pg_dir/data" -m immediate -w -t 30 stop
EOF
chmod 755 "$pg_dir/start.sh" "$pg_dir/stop.sh"
"$pg_dir/start.sh" >/dev/null || fail_with_log "PostgreSQL did not start" "$pg_dir/server.log"
"${as_pg[@]}" "$pg_bin/psql" -q -v ON_ERROR_STOP=1 -h "$pg_dir/sock" -p "$pg_port" -U postgres \
    -d postgres >/dev/null <<EOF || fail_with_log "creating the PostgreSQL user failed" /dev/null
CREATE ROLE $db_user LOGIN CREATEDB PASSWORD '$db_password';
CREATE DATABASE servreg OWNER $db_user;
EOF

# --- MariaDB ----------------------------------------------------------------------------------
mkdir -p "$my_dir"
my_port="$(free_port)"
my_user=()
[ "$(id -u)" -eq 0 ] && my_user=(--user=root)
mariadb-install-db --no-defaults --datadir="$my_dir/data" "${my_user[@]}" \
    --auth-root-authentication-method=normal --skip-test-db >"$my_dir/install.log" 2>&1 ||
    fail_with_log "mariadb-install-db failed" "$my_dir/install.log"
my_client=(mariadb --no-defaults --protocol=socket --socket="$my_dir/mysqld.sock" -u root)
cat >"$my_dir/start.sh" <<EOF
#!/bin/sh
# Starts mariadbd in the background and waits until it answers.
"$mariadbd" --no-defaults --datadir="$my_dir/data" --socket="$my_dir/mysqld.sock" \\
    --port=$my_port --bind-address=127.0.0.1 --pid-file="$my_dir/mysqld.pid" ${my_user[*]} \\
    --skip-name-resolve --innodb-buffer-pool-size=64M --innodb-log-file-size=16M \\
    --max-connections=200 --log-error="$my_dir/server.log" >/dev/null 2>&1 </dev/null &
i=0
while [ \$i -lt 300 ]; do
    mariadb-admin --no-defaults --protocol=socket --socket="$my_dir/mysqld.sock" -u root \\
        --connect-timeout=1 ping >/dev/null 2>&1 && exit 0
    sleep 0.1
    i=\$((i + 1))
done
exit 1
EOF
# SIGKILL: the server dies as in a crash, and comes back through InnoDB recovery.
cat >"$my_dir/stop.sh" <<EOF
#!/bin/sh
pid=\$(cat "$my_dir/mysqld.pid" 2>/dev/null) || exit 0
kill -KILL "\$pid" 2>/dev/null || exit 0
while kill -0 "\$pid" 2>/dev/null; do sleep 0.05; done
rm -f "$my_dir/mysqld.pid"
EOF
chmod 755 "$my_dir/start.sh" "$my_dir/stop.sh"
"$my_dir/start.sh" || fail_with_log "MariaDB did not start" "$my_dir/server.log"
"${my_client[@]}" <<EOF || fail_with_log "creating the MariaDB user failed" /dev/null
CREATE DATABASE servreg;
CREATE USER '$db_user'@'%' IDENTIFIED BY '$db_password';
GRANT ALL PRIVILEGES ON *.* TO '$db_user'@'%';
EOF

# --- Freezing: SIGSTOP, then SIGCONT, to every process of a server (a server that hangs) ------
# $1: the server's pid file; $2: kill's signal. PostgreSQL's backends are the postmaster's
# children; MariaDB is one process.
cat >"$work/signal-server.sh" <<'EOF'
#!/bin/sh
pid=$(head -n 1 "$1") || exit 1
exec kill "-$2" "$pid" $(pgrep -P "$pid")
EOF
chmod 755 "$work/signal-server.sh"

# --- A PostgreSQL pair for the failover test: a primary and its synchronous streaming standby ---
fo_dir="$work/failover"
mkdir -p "$fo_dir/sock"
[ "$(id -u)" -eq 0 ] && chown -R postgres "$fo_dir"
fo_primary_port="$(free_port)"
fo_standby_port="$(free_port)"
fo_psql=("${as_pg[@]}" "$pg_bin/psql" -q -v ON_ERROR_STOP=1 -h "$fo_dir/sock" -p "$fo_primary_port"
    -U postgres -d postgres)
"${as_pg[@]}" "$pg_bin/initdb" -D "$fo_dir/primary" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$fo_dir/initdb.log" 2>&1 ||
    fail_with_log "initdb of the failover primary failed" "$fo_dir/initdb.log"
fo_options="-k $fo_dir/sock -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
"${as_pg[@]}" "$pg_bin/pg_ctl" -s -D "$fo_dir/primary" -l "$fo_dir/primary.log" -w -t 30 \
    -o "-p $fo_primary_port $fo_options" start >/dev/null ||
    fail_with_log "the failover primary did not start" "$fo_dir/primary.log"
echo "CREATE ROLE $db_user LOGIN CREATEDB PASSWORD '$db_password'; CREATE DATABASE servreg OWNER $db_user;" |
    "${fo_psql[@]}" >/dev/null || fail_with_log "creating the failover user failed" /dev/null
# -R: the copy starts as a standby streaming from the primary.
"${as_pg[@]}" "$pg_bin/pg_basebackup" -h "$fo_dir/sock" -p "$fo_primary_port" -U postgres \
    -D "$fo_dir/standby" -R -X stream -c fast >"$fo_dir/basebackup.log" 2>&1 ||
    fail_with_log "pg_basebackup failed" "$fo_dir/basebackup.log"
"${as_pg[@]}" "$pg_bin/pg_ctl" -s -D "$fo_dir/standby" -l "$fo_dir/standby.log" -w -t 30 \
    -o "-p $fo_standby_port $fo_options" start >/dev/null ||
    fail_with_log "the failover standby did not start" "$fo_dir/standby.log"
# Synchronous from now on, on the primary only (ALTER SYSTEM writes the primary's own file):
# a commit waits for the standby, and the standby, once promoted, waits for no one.
echo "ALTER SYSTEM SET synchronous_standby_names = '*'; SELECT pg_reload_conf();" |
    "${fo_psql[@]}" >/dev/null || fail_with_log "setting up synchronous replication failed" /dev/null
fo_sync_state() {
    "${fo_psql[@]}" -tA -c "SELECT sync_state FROM pg_stat_replication" 2>/dev/null
}
wait_for '[ "$(fo_sync_state)" = sync ]' 20 ||
    fail_with_log "the standby did not become synchronous" "$fo_dir/standby.log"
cat >"$fo_dir/stop.sh" <<EOF
#!/bin/sh
${as_pg[*]} "$pg_bin/pg_ctl" -s -D "$fo_dir/primary" -m immediate -w -t 30 stop
${as_pg[*]} "$pg_bin/pg_ctl" -s -D "$fo_dir/standby" -m immediate -w -t 30 stop
exit 0
EOF
chmod 755 "$fo_dir/stop.sh"

echo "==> PostgreSQL on 127.0.0.1:$pg_port, MariaDB on 127.0.0.1:$my_port, a PostgreSQL pair on 127.0.0.1:$fo_primary_port and :$fo_standby_port ready after $((SECONDS - started_at)) s"

export SERVREG_TEST_POSTGRES_URL="postgresql://$db_user:$db_password_url@127.0.0.1:$pg_port/servreg"
export SERVREG_TEST_POSTGRES_STOP="$pg_dir/stop.sh"
export SERVREG_TEST_POSTGRES_START="$pg_dir/start.sh"
export SERVREG_TEST_MYSQL_URL="mysql://$db_user:$db_password_url@127.0.0.1:$my_port/servreg"
export SERVREG_TEST_MYSQL_STOP="$my_dir/stop.sh"
export SERVREG_TEST_MYSQL_START="$my_dir/start.sh"
export SERVREG_TEST_POSTGRES_FREEZE="$work/signal-server.sh $pg_dir/data/postmaster.pid STOP"
export SERVREG_TEST_POSTGRES_THAW="$work/signal-server.sh $pg_dir/data/postmaster.pid CONT"
export SERVREG_TEST_MYSQL_FREEZE="$work/signal-server.sh $my_dir/mysqld.pid STOP"
export SERVREG_TEST_MYSQL_THAW="$work/signal-server.sh $my_dir/mysqld.pid CONT"
export SERVREG_TEST_FAILOVER_URL="postgresql://$db_user:$db_password_url@127.0.0.1:$fo_primary_port,127.0.0.1:$fo_standby_port/servreg?target_session_attrs=read-write"
export SERVREG_TEST_FAILOVER_SQLALCHEMY_URL="postgresql://$db_user:$db_password_url@/servreg?host=127.0.0.1:$fo_primary_port&host=127.0.0.1:$fo_standby_port&target_session_attrs=read-write"
export SERVREG_TEST_FAILOVER_STANDBY_URL="postgresql://$db_user:$db_password_url@127.0.0.1:$fo_standby_port/servreg"
export SERVREG_TEST_FAILOVER_KILL_PRIMARY="${as_pg[*]} $pg_bin/pg_ctl -s -D $fo_dir/primary -m immediate -w -t 30 stop"
export SERVREG_TEST_FAILOVER_PROMOTE="${as_pg[*]} $pg_bin/pg_ctl -s -D $fo_dir/standby -w -t 30 promote"

# The tests named Databases/Suite.Test/Postgres and .../MariaDB (and .../SQLite, which ctest
# has run already and costs little) need these servers; without the variables they skip.
output="$work/tests.log"
status=0
"$tests" --gtest_filter="${SERVREG_TEST_DB_FILTER:-Databases/*}" \
    --gtest_color=no 2>&1 | tee "$output" || status=$?
passed=$(grep -c '^\[       OK \]' "$output" || true)
failed=$(grep -c '^\[  FAILED  \] .*(' "$output" || true)
skipped=$(grep -c '^\[  SKIPPED \]' "$output" || true)
if [ "$skipped" -gt 0 ]; then
    echo "test-databases: $skipped tests were skipped although the servers are running" >&2
    status=1
fi
if [ "$passed" -eq 0 ]; then
    echo "test-databases: no test ran" >&2
    status=1
fi
summary="databases: $passed passed, $failed failed, $skipped skipped"
exit "$status"
