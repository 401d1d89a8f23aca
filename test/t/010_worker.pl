# The maintenance background worker on one server: it waits quietly for the
# extension, then runs cycles on its own (the summary catches up with no
# manual call); SIGHUP changes its cadence; an error in a cycle is recorded
# and the next cycle still runs (same process); kill -9 is survived;
# SIGTERM and a server shutdown are prompt.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

# fail within a minute rather than three
$PostgreSQL::Test::Utils::timeout_default = 60;

my $node = PostgreSQL::Test::Cluster->new('worker');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sipcall'
sipcall.database = 'postgres'
sipcall.maintenance_interval = 0
sipcall.error_naptime = 1
# the test framework turns this off; a real server has it on
restart_after_crash = on
});
$node->start;

my $worker_q = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'sipcall maintenance'};
my $last_worker_cycle = q{SELECT coalesce(max(id), 0) FROM sipcall.maintenance_log
                           WHERE run_by = 'worker' AND finished_at IS NOT NULL};

# wait until the worker has finished a cycle with an id above $after
sub wait_cycle
{
	my ($after, $what) = @_;
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) > 0 FROM sipcall.maintenance_log
			  WHERE run_by = 'worker' AND finished_at IS NOT NULL AND id > $after"),
		$what);
}

# --- interval 0: the worker stays out of the database until a reload -------
sleep 1;
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'sipcall maintenance'"),
	'0', 'with the interval at 0 the worker is not connected');
$node->safe_psql('postgres', 'ALTER SYSTEM SET sipcall.maintenance_interval = 1');
$node->reload;

# --- without the extension: running, connected, and silent ---------------
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity
		  WHERE backend_type = 'sipcall maintenance'
		    AND application_name = 'sipcall maintenance' AND datname = 'postgres'"),
	'after the reload the worker connects, and shows in pg_stat_activity with its backend_type and application_name');
my $log_offset = -s $node->logfile;
sleep 3;    # three intervals with no extension
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/(ERROR|WARNING|FATAL|PANIC)/, 'no error spam while the extension is missing');

# --- the extension appears: cycles start, with no manual call ---------------
$node->safe_psql('postgres', 'CREATE EXTENSION sipcall CASCADE');
wait_cycle(0, 'worker runs cycles once the extension is created');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM sipcall.maintenance_log
		  WHERE run_by = 'worker' AND (error IS NOT NULL OR result->>'status' <> 'ok')"),
	'0', 'worker cycles succeed');
is($node->safe_psql('postgres',
		"SELECT string_agg(s->>'step', ',' ORDER BY o)
		   FROM (SELECT result FROM sipcall.maintenance_log WHERE run_by = 'worker'
		          ORDER BY id DESC LIMIT 1) l,
		        jsonb_array_elements(l.result->'steps') WITH ORDINALITY AS e(s, o)"),
	'premake_partitions,drain_default_partitions,cleanup_old_call_events,cleanup_old_audit_logs,refresh_daily_summary,cleanup_old_calls',
	'a worker cycle runs every step');

# --- the summary follows any mix of changes, refreshed by the worker --------
$node->safe_psql('postgres', q{
INSERT INTO sipcall.users (id, nextcloud_user_id)
SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'tap-user-' || g
  FROM generate_series(1, 4) g;
SELECT sipcall.create_partition('sipcall.calls', d::date)
  FROM generate_series(now() - interval '3 months', now(), interval '1 month') d;
INSERT INTO sipcall.calls (user_id, destination_number_enc, status, initiated_at, duration_seconds, cost_cents)
SELECT ('00000000-0000-4000-8000-' || lpad((1 + g % 4)::text, 12, '0'))::uuid, '\x00',
       CASE WHEN g % 3 = 0 THEN 'failed' ELSE 'completed' END,
       now() - g * interval '7 hours', g % 300, g % 50
  FROM generate_series(1, 400) g;
UPDATE sipcall.calls SET status = 'completed', duration_seconds = 77 WHERE status = 'failed' AND cost_cents < 10;
UPDATE sipcall.calls SET initiated_at = initiated_at - interval '40 days' WHERE cost_cents = 13;
DELETE FROM sipcall.calls WHERE cost_cents = 21;
DELETE FROM sipcall.users WHERE id = '00000000-0000-4000-8000-000000000002';
});
my $diff_q = q{
SELECT count(*) = 0 FROM (
  (SELECT (initiated_at AT TIME ZONE 'UTC')::date, count(*), count(*) FILTER (WHERE status = 'completed'),
          round(avg(duration_seconds)), sum(cost_cents)
     FROM sipcall.calls GROUP BY 1
   EXCEPT SELECT * FROM sipcall.daily_call_summary)
  UNION ALL
  (SELECT * FROM sipcall.daily_call_summary
   EXCEPT SELECT (initiated_at AT TIME ZONE 'UTC')::date, count(*), count(*) FILTER (WHERE status = 'completed'),
          round(avg(duration_seconds)), sum(cost_cents)
     FROM sipcall.calls GROUP BY 1)) d};
ok($node->poll_query_until('postgres', $diff_q),
	'the worker brings daily_call_summary to a from-scratch GROUP BY over calls');
ok($node->safe_psql('postgres', 'SELECT count(*) FROM sipcall.daily_call_summary') > 30,
	'the summary holds the days');

# --- SIGHUP: a new interval applies without restart --------------------------
my $pid = $node->safe_psql('postgres', $worker_q);
# gaps between the starts of consecutive worker cycles after id $after
my $gaps_q = sub {
	my ($after) = @_;
	return "SELECT min(g), max(g) FROM (
	          SELECT extract(epoch FROM started_at - lag(started_at) OVER (ORDER BY id)) AS g
	            FROM sipcall.maintenance_log WHERE run_by = 'worker' AND id > $after) x
	         WHERE g IS NOT NULL";
};
my $before = $node->safe_psql('postgres', $last_worker_cycle);
wait_cycle($before + 2, 'three more cycles at 1 s');
my ($min1, $max1) = split /\|/, $node->safe_psql('postgres', $gaps_q->($before));
ok($max1 < 1.8, "cycles 1 s apart before the reload (max gap $max1 s)");

$node->safe_psql('postgres', 'ALTER SYSTEM SET sipcall.maintenance_interval = 3');
$node->reload;
sleep 1;
$before = $node->safe_psql('postgres', $last_worker_cycle);
wait_cycle($before + 2, 'three more cycles after the reload');
my ($min3, $max3) = split /\|/, $node->safe_psql('postgres', $gaps_q->($before));
ok($min3 > 2.5 && $max3 < 4.5, "cycles 3 s apart after the reload (gaps $min3 .. $max3 s)");
is($node->safe_psql('postgres', $worker_q), $pid, 'same worker process after the reload');
$node->safe_psql('postgres', 'ALTER SYSTEM SET sipcall.maintenance_interval = 1');
$node->reload;

# --- an error inside a cycle is recorded, and the worker goes on -------------
$node->safe_psql('postgres', q{
ALTER TABLE sipcall.daily_call_summary
    ADD CONSTRAINT tap_fault CHECK (call_date <> '2003-03-03') NOT VALID;
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at)
VALUES ('00000000-0000-4000-8000-000000000001', '\x00', '2003-03-03 12:00+00');
});
ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM sipcall.maintenance_log
		  WHERE run_by = 'worker' AND error LIKE 'refresh_daily_summary: %tap_fault%'"),
	'the failing step is recorded in maintenance_log');
my $err_id = $node->safe_psql('postgres',
	"SELECT max(id) FROM sipcall.maintenance_log WHERE error LIKE '%tap_fault%'");
is($node->safe_psql('postgres',
		"SELECT string_agg(s->>'status', ',' ORDER BY o)
		   FROM sipcall.maintenance_log l,
		        jsonb_array_elements(l.result->'steps') WITH ORDINALITY AS e(s, o)
		  WHERE l.id = $err_id"),
	'ok,ok,ok,ok,error,ok', 'the other steps of that cycle ran');
wait_cycle($err_id, 'the next cycle still runs');
is($node->safe_psql('postgres', $worker_q), $pid, 'no restart: the same worker process');
ok($node->log_contains('sipcall maintenance step "refresh_daily_summary"', $log_offset),
	'the error is logged with the step as context');
$node->safe_psql('postgres', 'ALTER TABLE sipcall.daily_call_summary DROP CONSTRAINT tap_fault');
my $fixed = $node->safe_psql('postgres', 'SELECT max(id) FROM sipcall.maintenance_log');
ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM sipcall.maintenance_log
		  WHERE run_by = 'worker' AND id > $fixed AND error IS NULL AND finished_at IS NOT NULL"),
	'once the fault is gone, cycles succeed again');
is($node->safe_psql('postgres',
		"SELECT total_calls FROM sipcall.daily_call_summary WHERE call_date = '2003-03-03'"),
	'1', 'and the day the fault held back is summarised');

# --- kill -9 of the worker: the server recovers, the worker is back ----------
$before = $node->safe_psql('postgres', $last_worker_cycle);
kill 'KILL', $pid;
ok($node->poll_query_until('postgres', 'SELECT true'), 'server accepts connections after kill -9 of the worker');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity
		  WHERE backend_type = 'sipcall maintenance' AND pid <> $pid"),
	'a new worker process is running');
$before = $node->safe_psql('postgres', $last_worker_cycle);
wait_cycle($before, 'the new worker runs cycles');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM sipcall.maintenance_log WHERE run_by = 'worker' AND finished_at IS NULL
		    AND id < (SELECT max(id) FROM sipcall.maintenance_log)"),
	'0', 'no cycle is left looking unfinished');

# --- SIGTERM: the worker exits within a second -------------------------------
$pid = $node->safe_psql('postgres', $worker_q);
my $t0 = time;
kill 'TERM', $pid;
my $gone = 0;
while (time - $t0 < 5)
{
	if (!kill(0, $pid))
	{
		$gone = 1;
		last;
	}
	usleep(20_000);
}
my $took = time - $t0;
ok($gone && $took < 1.0, sprintf('SIGTERM ends the worker in %.3f s', $took));

# --- a fast shutdown is prompt ------------------------------------------------
$t0 = time;
$node->stop('fast');
$took = time - $t0;
ok($took < 5, sprintf('fast shutdown took %.2f s', $took));

done_testing();
