# The maintenance worker after a failed cycle (issue 16, item 10): the
# retry comes least(sipcall.error_naptime, sipcall.maintenance_interval)
# after the failure, and a reload after the operator fixed the cause
# re-plans the retry with the new settings, as it does after a good cycle.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

$PostgreSQL::Test::Utils::timeout_default = 60;

my $node = PostgreSQL::Test::Cluster->new('retry');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sipcall'
sipcall.database = 'postgres'
sipcall.maintenance_interval = 2
sipcall.error_naptime = 60
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION sipcall CASCADE;
INSERT INTO sipcall.users (id, nextcloud_user_id)
VALUES ('00000000-0000-4000-8000-000000000001', 'retry-user');
});

# poll $sql until it returns 't', for at most $secs seconds
sub wait_for
{
	my ($sql, $secs) = @_;
	my $t0 = time;
	while (time - $t0 < $secs)
	{
		return 1 if $node->safe_psql('postgres', $sql) eq 't';
		usleep(100_000);
	}
	return 0;
}

my $last_q = q{SELECT coalesce(max(id), 0) FROM sipcall.maintenance_log
                WHERE run_by = 'worker' AND finished_at IS NOT NULL};
ok(wait_for("SELECT count(*) > 0 FROM sipcall.maintenance_log
              WHERE run_by = 'worker' AND error IS NULL AND finished_at IS NOT NULL", 30),
	'the worker runs good cycles');

# --- a failed cycle is retried after the interval (2 s), not 60 s ---------
$node->safe_psql('postgres', q{
ALTER TABLE sipcall.daily_call_summary
    ADD CONSTRAINT tap_fault CHECK (call_date <> '2003-03-03') NOT VALID;
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at)
VALUES ('00000000-0000-4000-8000-000000000001', '\x00', '2003-03-03 12:00+00');
});
ok(wait_for("SELECT count(*) > 0 FROM sipcall.maintenance_log
              WHERE run_by = 'worker' AND error LIKE '%tap_fault%'", 10),
	'a cycle fails on the fault');
my $failed = $node->safe_psql('postgres',
	"SELECT min(id) FROM sipcall.maintenance_log WHERE error LIKE '%tap_fault%'");
ok(wait_for("SELECT count(*) > 0 FROM sipcall.maintenance_log
              WHERE run_by = 'worker' AND id > $failed AND finished_at IS NOT NULL", 10),
	'the failed cycle is retried within 10 s (error_naptime is 60 s)');
my $gap = $node->safe_psql('postgres', qq{
SELECT extract(epoch FROM n.started_at - f.finished_at)
  FROM sipcall.maintenance_log f, sipcall.maintenance_log n
 WHERE f.id = $failed
   AND n.id = (SELECT min(id) FROM sipcall.maintenance_log WHERE run_by = 'worker' AND id > $failed)});
ok($gap > 1.5 && $gap < 4, "the retry came an interval after the failure ($gap s)");

# --- a reload re-plans the retry after a failure ----------------------------
# a long interval: now a failure waits error_naptime (60 s)
$node->safe_psql('postgres', 'ALTER SYSTEM SET sipcall.maintenance_interval = 3600');
$node->reload;
ok(wait_for("SELECT count(*) = 0 FROM pg_stat_activity
              WHERE backend_type = 'sipcall maintenance' AND state = 'active'", 10),
	'the worker is between cycles');
sleep 1;
my $before = $node->safe_psql('postgres', $last_q);
is($node->safe_psql('postgres', "SELECT error IS NOT NULL FROM sipcall.maintenance_log WHERE id = $before"),
	't', 'the last cycle failed');
# the operator fixes the cause and shortens the naptime
$node->safe_psql('postgres', q{
ALTER TABLE sipcall.daily_call_summary DROP CONSTRAINT tap_fault;
ALTER SYSTEM SET sipcall.error_naptime = 1;
});
$node->reload;
ok(wait_for("SELECT count(*) > 0 FROM sipcall.maintenance_log
              WHERE run_by = 'worker' AND id > $before AND finished_at IS NOT NULL
                AND error IS NULL", 10),
	'after the reload the retry comes within 10 s, and succeeds');
is($node->safe_psql('postgres',
		"SELECT total_calls FROM sipcall.daily_call_summary WHERE call_date = '2003-03-03'"),
	'1', 'the day the fault held back is summarised');

# --- after a good cycle, the long interval holds ---------------------------
$before = $node->safe_psql('postgres', $last_q);
sleep 3;
is($node->safe_psql('postgres', $last_q), $before, 'after the good cycle, no cycle before the interval');

$node->stop;
done_testing();
