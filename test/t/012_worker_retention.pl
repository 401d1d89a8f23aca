# Retention by the worker alone, against the real lifecycle functions
# (premake_partitions, cleanup_old_call_events, cleanup_old_audit_logs):
# expired call events and audit entries disappear with no manual call,
# a fault injected into the configuration (a bad row written by a superuser
# with the validation triggers off, API.md Clarification 12) is recorded as
# a failed step while the other steps go on, and the worker recovers once
# the row is fixed.
#
# Depends on the lifecycle branch: with the temporary stubs of
# src/sql/71_lifecycle_stub.sql it fails.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

$PostgreSQL::Test::Utils::timeout_default = 30;

my $node = PostgreSQL::Test::Cluster->new('retention');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sipcall'
sipcall.database = 'postgres'
sipcall.maintenance_interval = 1
sipcall.error_naptime = 1
});
$node->start;

# an old call with events of 200 days ago in their own (past) partitions,
# fresh events beside them, and audit entries of 400 days ago
$node->safe_psql('postgres', q{
CREATE EXTENSION sipcall CASCADE;
INSERT INTO sipcall.users (id, nextcloud_user_id)
VALUES ('00000000-0000-4000-8000-00000000ee01', 'retention-user');
SELECT sipcall.create_partition('sipcall.calls', (now() - interval '200 days')::date);
SELECT sipcall.create_partition('sipcall.call_events', (now() - interval '200 days')::date);
SELECT sipcall.create_partition('sipcall.audit_logs', (now() - interval '400 days')::date);
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, status, initiated_at)
VALUES ('00000000-0000-4000-8000-0000000ca111', '00000000-0000-4000-8000-00000000ee01',
        '\x00', 'completed', now() - interval '200 days'),
       ('00000000-0000-4000-8000-0000000ca112', '00000000-0000-4000-8000-00000000ee01',
        '\x00', 'completed', now() - interval '1 day');
INSERT INTO sipcall.call_events (call_id, event_type, "timestamp")
SELECT '00000000-0000-4000-8000-0000000ca111', 'CHANNEL_ANSWER', now() - interval '200 days'
  FROM generate_series(1, 10);
INSERT INTO sipcall.call_events (call_id, event_type, "timestamp")
VALUES ('00000000-0000-4000-8000-0000000ca112', 'CHANNEL_ANSWER', now() - interval '1 day');
INSERT INTO sipcall.audit_logs (action, "timestamp")
SELECT 'old_action', now() - interval '400 days' FROM generate_series(1, 5);
});
is($node->safe_psql('postgres',
		"SELECT count(*) FROM sipcall.call_events WHERE \"timestamp\" < now() - interval '100 days'"),
	'10', 'expired events are there to begin with');

ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM sipcall.call_events WHERE \"timestamp\" < now() - interval '100 days'"),
	'expired call events disappear with no manual call');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM sipcall.audit_logs WHERE \"timestamp\" < now() - interval '395 days'"),
	'expired audit entries disappear with no manual call');
is($node->safe_psql('postgres', 'SELECT count(*) FROM sipcall.call_events'),
	'1', 'recent events stay');
is($node->safe_psql('postgres', 'SELECT count(*) FROM sipcall.calls'),
	'2', 'calls stay (no calls retention configured)');

# a bad configuration row, written past the validation
$node->safe_psql('postgres', q{
ALTER TABLE sipcall.system_config DISABLE TRIGGER USER;
UPDATE sipcall.system_config SET config_value = '"banana"' WHERE config_key = 'retention.call_events';
ALTER TABLE sipcall.system_config ENABLE TRIGGER USER;
});
my $from = $node->safe_psql('postgres', 'SELECT max(id) FROM sipcall.maintenance_log');
ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM sipcall.maintenance_log
		  WHERE run_by = 'worker' AND id > $from AND error LIKE 'cleanup_old_call_events: %'"),
	'the step that reads the bad row fails and is recorded');
my $err_id = $node->safe_psql('postgres',
	"SELECT max(id) FROM sipcall.maintenance_log WHERE error LIKE 'cleanup_old_call_events: %'");
is($node->safe_psql('postgres',
		"SELECT count(*) FROM sipcall.maintenance_log l, jsonb_array_elements(l.result->'steps') s
		  WHERE l.id = $err_id AND s->>'status' = 'ok'"),
	'5', 'the other five steps of that cycle ran');
ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM sipcall.maintenance_log
		  WHERE run_by = 'worker' AND id > $err_id AND finished_at IS NOT NULL"),
	'the next cycle still runs');

$node->safe_psql('postgres',
	"UPDATE sipcall.system_config SET config_value = '\"90 days\"' WHERE config_key = 'retention.call_events'");
$from = $node->safe_psql('postgres', 'SELECT max(id) FROM sipcall.maintenance_log');
ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM sipcall.maintenance_log
		  WHERE run_by = 'worker' AND id > $from AND finished_at IS NOT NULL AND error IS NULL"),
	'once the row is fixed, cycles succeed again');

$node->stop('fast');
done_testing();
