#!/usr/bin/env bash
#
# scripts/demo.sh start|stop: a private PostgreSQL cluster with sipcall
# preloaded and sample data, for trying sipcall out (make demo, make
# demo-stop).  The cluster lives in .demo/ under the project (ignored by
# git) and listens on port 54329 and on a socket in that folder.  As root,
# the server runs as the postgres OS user; if that user cannot reach the
# project folder, the cluster goes to /var/tmp instead.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
port=${SIPCALL_DEMO_PORT:-54329}
db=sipcall_demo

if [ "$(id -u)" -eq 0 ]; then
    as_pg() { runuser -u postgres -- "$@"; }
    if runuser -u postgres -- test -x "$top"; then
        dir=$top/.demo
    else
        dir=/var/tmp/sipcall-demo
    fi
else
    as_pg() { "$@"; }
    dir=$top/.demo
fi
bindir_file=$dir/bindir

stop() {
    if [ -f "$bindir_file" ] && [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$(cat "$bindir_file")/pg_ctl" -D "$dir/data" -m fast stop >/dev/null || true
    fi
}

case "${1:-start}" in
stop)
    stop
    echo "demo cluster stopped (its files stay in $dir; remove that folder to forget it)"
    exit 0
    ;;
start) ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac

stop
rm -rf "$dir"
mkdir -p "$dir"
bindir=$("$top/scripts/private-install.sh" "$dir/install")
echo "$bindir" >"$bindir_file"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"

as_pg "$bindir/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log"
cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = 'localhost'
unix_socket_directories = '$dir'
shared_preload_libraries = 'sipcall'
sipcall.database = '$db'
sipcall.maintenance_interval = 600
CONF
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null

psql=("$bindir/psql" -X -q -h "$dir" -p "$port" -U postgres)
"${psql[@]}" -d postgres -c "CREATE DATABASE $db"
"${psql[@]}" -d "$db" -v ON_ERROR_STOP=1 -c "CREATE EXTENSION sipcall CASCADE"
"${psql[@]}" -d "$db" -f "$top/scripts/sample-data.sql" >/dev/null

echo
echo "== sipcall.user_activity"
"${psql[@]}" -d "$db" -c "SELECT display_name, total_calls, last_call, total_cost_cents, round(avg_quality, 2) AS avg_quality FROM sipcall.user_activity ORDER BY display_name"
echo "== sipcall.call_statistics (last 5 days)"
"${psql[@]}" -d "$db" -c "SELECT * FROM sipcall.call_statistics LIMIT 5"
echo "== sipcall.daily_call_summary (last 5 days)"
"${psql[@]}" -d "$db" -c "SELECT * FROM sipcall.daily_call_summary ORDER BY call_date DESC LIMIT 5"

cat <<MSG
The demo cluster is running (PostgreSQL 15, sipcall preloaded, sample data).

  connect:  psql -h localhost -p $port -U postgres $db
            (or: psql -h $dir -p $port -U postgres $db)
  try:      SELECT sipcall.decrypt_data(destination_number_enc, 'demo-key'), status
              FROM sipcall.calls ORDER BY initiated_at DESC LIMIT 5;
            SELECT sipcall.export_user_data(id, 'demo-key') FROM sipcall.users
             WHERE nextcloud_user_id = 'alice';
            SELECT sipcall.run_maintenance();
  log:      $dir/server.log
  stop:     make demo-stop
MSG
