# Security of the two background workers and of the shared key cache.
#
# A hostile role owns the database the workers serve (and so its schema
# public), plants look-alike operators, functions and aggregates there that
# record the role they run as (and make the role a superuser when they run
# as one), and sets ALTER DATABASE ... SET search_path = public, pg_catalog
# before either worker connects, with read-only transactions, short
# timeouts and plpgsql's extra errors for good measure.  Then the maintenance worker runs cycles
# over calls, events and audit rows in the default partitions, and the
# rate-limit flusher writes counters: no look-alike may run as anyone but
# the hostile role, and the role gains nothing.
#
# Then a flood of throw-away keys from another database and role must not
# evict the application's key from the shared cache: a fresh connection's
# first decrypt finds it there (sipcall says so at DEBUG1) instead of
# stretching it again.  Another role's connection does not find it there.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename qw(dirname);
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('security');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sipcall'
sipcall.database = 'nc'
sipcall.maintenance_interval = 0
sipcall.key_cache_size = 8
});
$node->start;

$node->safe_psql('postgres', q{
CREATE ROLE nextcloud LOGIN;
CREATE DATABASE nc OWNER nextcloud;
CREATE ROLE stranger LOGIN;
CREATE ROLE stranger1 LOGIN;
CREATE ROLE stranger2 LOGIN;
CREATE ROLE stranger3 LOGIN;
CREATE ROLE stranger4 LOGIN;
CREATE DATABASE other OWNER stranger;
});

# ---- the trap, set by the database's owner ----
$node->safe_psql('nc',
	slurp_file(dirname(__FILE__) . '/../lookalikes.sql')
	  . 'ALTER DATABASE nc SET search_path = public, pg_catalog;',
	extra_params => [ '-U', 'nextcloud' ]);

# sipcall, installed by a superuser, and the README's grants to the app
$node->safe_psql('nc', q{
CREATE EXTENSION sipcall CASCADE;
GRANT USAGE ON SCHEMA sipcall TO nextcloud;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sipcall TO nextcloud;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA sipcall TO nextcloud;
GRANT USAGE ON SCHEMA sipcall TO stranger;
});
$node->safe_psql('other', q{
CREATE EXTENSION sipcall CASCADE;
GRANT USAGE ON SCHEMA sipcall TO stranger, stranger1, stranger2, stranger3, stranger4;
});

# the application's rows: far past months, in the default partitions, for
# the worker to drain, expire and summarise
my $u1 = '00000000-0000-0000-0000-000000000001';
$node->safe_psql('nc', qq{
INSERT INTO sipcall.users (id, nextcloud_user_id) VALUES ('$u1', 'alice');
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, status, initiated_at, duration_seconds, cost_cents)
VALUES ('10000000-0000-0000-0000-000000000001', '$u1', '\\x01', 'completed', '2001-03-10 10:00+00', 60, 12),
       ('10000000-0000-0000-0000-000000000002', '$u1', '\\x01', 'completed', '2001-03-11 10:00+00', 30, 5);
INSERT INTO sipcall.call_events (call_id, event_type, "timestamp")
VALUES ('10000000-0000-0000-0000-000000000001', 'CHANNEL_ANSWER', '2001-03-10 10:00:05+00');
INSERT INTO sipcall.audit_logs (user_id, action, "timestamp") VALUES ('$u1', 'login', '2001-03-10 09:00+00');
}, extra_params => [ '-U', 'nextcloud' ]);

# The database's owner gives every session in it, the workers' too, more
# settings that would stall them or change what their SQL means: were the
# workers to keep them, no cycle would write anything (read-only
# transactions), steps would be cancelled or fail to get locks, and a
# failing step would end the worker (exit_on_error).
$node->safe_psql('nc', q{
ALTER DATABASE nc SET default_transaction_read_only = on;
ALTER DATABASE nc SET statement_timeout = '100ms';
ALTER DATABASE nc SET lock_timeout = '1ms';
ALTER DATABASE nc SET transform_null_equals = on;
DO $$ BEGIN END $$;  -- loads plpgsql, so its settings are known
ALTER DATABASE nc SET plpgsql.extra_errors = 'all';
ALTER DATABASE nc SET exit_on_error = on;
}, extra_params => [ '-U', 'nextcloud' ]);
# the flusher connected at start: make it connect again, under the trap
$node->restart;

# Our own sessions in nc, the superuser's and the application's, undo the
# trap: it would catch them too (a superuser typing into a trapped
# database is not what this test is about).
my $undo = 'SET default_transaction_read_only = off; SET statement_timeout = 0;'
  . ' SET lock_timeout = 0; SET transform_null_equals = off;'
  . " SET plpgsql.extra_errors = 'none'; ";
my $safe = $undo . 'SET search_path = pg_catalog, pg_temp; ';
sub safe_query { return $node->safe_psql('nc', $safe . $_[0]); }
sub poll_safe
{
	my ($query) = @_;
	for (my $i = 0; $i < 1800; $i++)
	{
		return 1 if safe_query($query) eq 't';
		usleep(100_000);
	}
	return 0;
}

# ---- the maintenance worker: a few cycles under the trap ----
$node->append_conf('postgresql.conf', 'sipcall.maintenance_interval = 1');
$node->reload;
ok( poll_safe(
		"SELECT count(*) >= 3 FROM sipcall.maintenance_log WHERE run_by = 'worker' AND finished_at IS NOT NULL"),
	'the maintenance worker ran three cycles in the hostile database');
is( safe_query(
		"SELECT result->>'status' FROM sipcall.maintenance_log WHERE run_by = 'worker' ORDER BY id LIMIT 1"),
	'ok', 'its first cycle went well');
is(safe_query('SELECT count(*) FROM ONLY sipcall.calls_default'),
	'0', 'the worker drained the default partition');
is(safe_query('SELECT count(*) FROM sipcall.daily_call_summary'),
	'2', 'and summarised the two days');

# A failing step ends only that step, also where the database's owner set
# exit_on_error = on, which would turn the step's error into the worker's
# exit (second review, G3): the app holds the summary's lock, so that the
# refresh fails in the worker's next cycles.
my $worker_pid = safe_query(
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'sipcall maintenance'");
my $last_id = safe_query('SELECT max(id) FROM sipcall.maintenance_log');
my $holder = $node->background_psql('nc', extra_params => [ '-U', 'nextcloud' ]);
$holder->query_safe($undo . 'BEGIN; LOCK TABLE sipcall.daily_call_summary IN SHARE UPDATE EXCLUSIVE MODE');
ok( poll_safe(
		"SELECT count(*) > 0 FROM sipcall.maintenance_log, jsonb_array_elements(result->'steps') st"
		  . " WHERE id > $last_id AND run_by = 'worker' AND finished_at IS NOT NULL"
		  . " AND st->>'step' = 'refresh_daily_summary' AND st->>'status' = 'error'"),
	'a worker cycle finished with the refresh failed');
$holder->query_safe('COMMIT');
$holder->quit;
is( safe_query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'sipcall maintenance'"),
	$worker_pid, 'and the worker is the same process: exit_on_error did not end it');

# ---- the flusher: counters written under the trap ----
$node->safe_psql('nc',
	$undo . "SELECT sipcall.check_rate_limit('$u1', 'POST /calls', 100) FROM generate_series(1, 7)",
	extra_params => [ '-U', 'nextcloud' ]);
ok( poll_safe(
		"SELECT request_count = 7 FROM sipcall.rate_limits WHERE user_id = '$u1' AND endpoint = 'POST /calls'"),
	'the flusher wrote the counter');
$node->safe_psql('nc',
	$undo . "SELECT sipcall.check_rate_limit('$u1', 'POST /calls', 100) FROM generate_series(1, 3)",
	extra_params => [ '-U', 'nextcloud' ]);
ok( poll_safe(
		"SELECT request_count = 10 FROM sipcall.rate_limits WHERE user_id = '$u1' AND endpoint = 'POST /calls'"),
	'and updated it');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'sipcall rate limit flusher' AND datname = 'nc'"),
	'the flusher is connected to the hostile database');

# ---- the verdict ----
# (the trap works: in the hostile role's own session the look-alikes run)
$node->safe_psql('nc', $undo . "SELECT 'a'::varchar = 'a'::varchar, count(*) FROM (VALUES (1)) v",
	extra_params => [ '-U', 'nextcloud' ]);
is( $node->safe_psql('nc',
		$safe . "SELECT string_agg(fn || ' as ' || who, ', ' ORDER BY fn, who) FROM public.lookalike_log WHERE who <> 'nextcloud'"),
	'', 'no look-alike ran as anyone but the hostile role');
is( $node->safe_psql('nc',
		$safe . "SELECT rolsuper::text || rolcreaterole::text || rolcreatedb::text FROM pg_roles WHERE rolname = 'nextcloud'"),
	'falsefalsefalse', 'the hostile role gained nothing');
ok( $node->safe_psql('nc', $safe . "SELECT count(*) > 0 FROM public.lookalike_log WHERE who = 'nextcloud'")
	  eq 't', 'the look-alikes do run in the hostile role\'s own sessions');

# ---- the shared key cache against a flood of throw-away keys ----
$node->safe_psql('nc',
	$undo . "CREATE TABLE public.secret AS SELECT sipcall.encrypt_data('+4915112345678', 'the real key') AS e",
	extra_params => [ '-U', 'nextcloud' ]);

# a fresh connection's first decrypt: from the shared cache, or stretched?
sub first_decrypt
{
	my ($stdout, $stderr);
	$node->psql('nc',
		$undo . "SET client_min_messages = debug1; SELECT sipcall.decrypt_data(e, 'the real key') FROM public.secret",
		stdout => \$stdout, stderr => \$stderr,
		extra_params => [ '-U', 'nextcloud' ]);
	return ($stdout, $stderr);
}
my ($out, $err) = first_decrypt();
is($out, '+4915112345678', 'a fresh connection decrypts');
like($err, qr/found in the shared key cache/, 'with the key from the shared cache');

# 100 throw-away keys from another database, by four roles, so that the
# cache of 8 fills up (fewer under valgrind), and 16 more from the
# application's own database by another role
my $each = ($ENV{SANITIZE} // '') eq 'valgrind' ? 6 : 25;
for my $r (1 .. 4)
{
	$node->safe_psql('other',
		"SELECT count(sipcall.encrypt_data('x', 'throw-away $r ' || g)) FROM generate_series(1, $each) g",
		extra_params => [ '-U', "stranger$r" ]);
}
$node->safe_psql('nc',
	$undo . "SELECT count(sipcall.encrypt_data('x', 'junk ' || g)) FROM generate_series(1, 16) g",
	extra_params => [ '-U', 'stranger' ]);
my $flood = 4 * $each + 16;

($out, $err) = first_decrypt();
is($out, '+4915112345678', "after $flood throw-away keys a fresh connection decrypts");
like($err, qr/found in the shared key cache/, 'still with the key from the shared cache');
unlike($err, qr/stretching a key/, 'without stretching it again');

# The app's key in the shared cache serves the app only (review F7): for
# another role of the same database it is stretched afresh, so that role
# cannot test guesses of the passphrase at the cost of a hash.
my ($o3, $e3) = ('', '');
$node->psql('nc',
	$undo . "SET client_min_messages = debug1; SELECT length(sipcall.encrypt_data('x', 'the real key')) > 0",
	stdout => \$o3, stderr => \$e3, extra_params => [ '-U', 'stranger' ]);
is($o3, 't', 'another role may use the same passphrase');
like($e3, qr/stretching a key/, 'but stretches it itself');
unlike($e3, qr/found in the shared key cache/, 'the shared cache does not serve it the app\'s key');

# the flood did use the cache: a throw-away key of the stranger's own is there
my ($o2, $e2) = ('', '');
$node->psql('other',
	"SET client_min_messages = debug1; SELECT length(sipcall.encrypt_data('x', 'throw-away 4 $each'))",
	stdout => \$o2, stderr => \$e2, extra_params => [ '-U', 'stranger4' ]);
like($e2, qr/found in the shared key cache/, 'the stranger\'s latest key is cached (for the stranger)');

$node->stop;
done_testing();
