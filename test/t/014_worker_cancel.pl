# pg_cancel_backend on the workers (issue 16, item 9): a cancel ends the
# maintenance step that is running, which is recorded as cancelled; the
# worker goes on in the same process, and its next cycle succeeds.  A
# cancel while a worker is idle, or of the rate limit flusher, ends no
# process either.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

$PostgreSQL::Test::Utils::timeout_default = 60;

my $node = PostgreSQL::Test::Cluster->new('cancel');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sipcall'
sipcall.database = 'postgres'
sipcall.maintenance_interval = 1
sipcall.error_naptime = 1
sipcall.lock_timeout = 60000
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION sipcall CASCADE;
INSERT INTO sipcall.users (id, nextcloud_user_id)
VALUES ('00000000-0000-4000-8000-000000000001', 'cancel-user');
});
my $u1 = '00000000-0000-4000-8000-000000000001';

my $worker_q = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'sipcall maintenance'};
my $flusher_q = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'sipcall rate limit flusher'};
my $last_q = q{SELECT coalesce(max(id), 0) FROM sipcall.maintenance_log
                WHERE run_by = 'worker' AND finished_at IS NOT NULL};

ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM sipcall.maintenance_log
		  WHERE run_by = 'worker' AND error IS NULL AND finished_at IS NOT NULL"),
	'the worker runs good cycles');
my $pid = $node->safe_psql('postgres', $worker_q);

# --- a cancel of a step that waits for a lock -------------------------------
# premake (the first step) waits for this lock, at most sipcall.lock_timeout
# (60 s here, so that the cancel lands while it waits)
my $bg = $node->background_psql('postgres');
$bg->query_safe('BEGIN; LOCK TABLE sipcall.calls IN SHARE UPDATE EXCLUSIVE MODE');
ok($node->poll_query_until('postgres',
		"SELECT wait_event_type = 'Lock' AND query = 'premake_partitions'
		   FROM pg_stat_activity WHERE pid = $pid"),
	'the premake step waits for the lock');
my $before = $node->safe_psql('postgres', $last_q);
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"), 't', 'cancel sent');
# the next step (drain) waits for the same lock: end it by letting go
ok($node->poll_query_until('postgres',
		"SELECT wait_event_type = 'Lock' AND query = 'drain_default_partitions'
		   FROM pg_stat_activity WHERE pid = $pid"),
	'the cycle goes on with the next step');
$bg->query_safe('COMMIT');
$bg->quit;
ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM sipcall.maintenance_log
		  WHERE run_by = 'worker' AND id > $before AND finished_at IS NOT NULL"),
	'the cycle finishes');
my $cycle = $node->safe_psql('postgres',
	"SELECT min(id) FROM sipcall.maintenance_log WHERE run_by = 'worker' AND id > $before AND finished_at IS NOT NULL");
is($node->safe_psql('postgres',
		"SELECT string_agg(s->>'status', ',' ORDER BY o)
		   FROM sipcall.maintenance_log l,
		        jsonb_array_elements(l.result->'steps') WITH ORDINALITY AS e(s, o)
		  WHERE l.id = $cycle"),
	'cancelled,ok,ok,ok,ok,ok', 'the cancelled step is recorded as cancelled, the others ran');
like($node->safe_psql('postgres', "SELECT error FROM sipcall.maintenance_log WHERE id = $cycle"),
	qr/^premake_partitions: canceling statement due to user request$/, 'and named in the error column');
is($node->safe_psql('postgres', $worker_q), $pid, 'the worker is the same process');
ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM sipcall.maintenance_log
		  WHERE run_by = 'worker' AND id > $cycle AND finished_at IS NOT NULL AND error IS NULL"),
	'the next cycle succeeds');

# --- cancels while the worker is idle ---------------------------------------
for my $i (1 .. 5)
{
	$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
	usleep(150_000);
}
$before = $node->safe_psql('postgres', $last_q);
ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM sipcall.maintenance_log
		  WHERE run_by = 'worker' AND id > $before AND finished_at IS NOT NULL"),
	'cycles go on after cancels between cycles');
is($node->safe_psql('postgres', $worker_q), $pid, 'still the same worker process');

# --- the rate limit flusher -------------------------------------------------
$node->safe_psql('postgres', "SELECT sipcall.check_rate_limit('$u1', 'c1', 100)");
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM sipcall.rate_limits WHERE endpoint = 'c1'"),
	'the flusher writes counters');
my $fpid = $node->safe_psql('postgres', $flusher_q);
for my $i (1 .. 5)
{
	$node->safe_psql('postgres', "SELECT pg_cancel_backend($fpid)");
	usleep(150_000);
}
$node->safe_psql('postgres', "SELECT sipcall.check_rate_limit('$u1', 'c2', 100)");
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM sipcall.rate_limits WHERE endpoint = 'c2'"),
	'the flusher still writes counters after cancels');
is($node->safe_psql('postgres', $flusher_q), $fpid, 'the flusher is the same process');

ok(!$node->log_contains('terminated by signal|exited with exit code'), 'no worker exit in the log');
$node->stop;
done_testing();
