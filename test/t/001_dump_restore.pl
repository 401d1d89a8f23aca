# pg_dump of a database using sipcall, restored into an empty database by
# the procedure of the README ("Backup and restore"): no error, every row
# back, partitions made after install included, and the copy works
# (constraints, keys, sequences, decryption).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'sipcall'");
$node->append_conf('postgresql.conf', "sipcall.maintenance_interval = 0");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('postgres', 'CREATE DATABASE dst');

# A history over two years: partitions made after install (past months),
# rows left in the default partitions, and every table filled.
$node->safe_psql('src', q{
CREATE EXTENSION sipcall CASCADE;
INSERT INTO sipcall.users (id, nextcloud_user_id, display_name)
SELECT ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, 'user' || g, 'User ' || g
  FROM generate_series(1, 5) g;
SELECT sipcall.create_partition(t, d::date)
  FROM unnest(ARRAY['sipcall.calls', 'sipcall.call_events', 'sipcall.audit_logs']::regclass[]) t,
       generate_series(now() - interval '12 months', now() - interval '6 months', interval '1 month') d;
INSERT INTO sipcall.calls (user_id, destination_number_enc, caller_id_enc, call_uuid,
                           status, initiated_at, duration_seconds, cost_cents)
SELECT ('00000000-0000-0000-0000-' || lpad((1 + g % 5)::text, 12, '0'))::uuid,
       sipcall.encrypt_data('+4915' || lpad(g::text, 9, '0'), 'dump-key'),
       CASE WHEN g % 3 = 0 THEN sipcall.encrypt_data('+4930' || g, 'dump-key') END,
       'fs-' || g,
       CASE WHEN g % 4 = 0 THEN 'failed' ELSE 'completed' END,
       now() - interval '24 months' + g * interval '3 days', g % 600, g % 97
  FROM generate_series(1, 300) g;
INSERT INTO sipcall.call_events (call_id, event_type, event_data, "timestamp")
SELECT id, e, '{"codec":"OPUS"}', initiated_at + interval '1 second'
  FROM sipcall.calls, unnest(ARRAY['CHANNEL_CREATE', 'CHANNEL_ANSWER', 'CHANNEL_HANGUP']) e;
INSERT INTO sipcall.audit_logs (user_id, action, resource_type, "timestamp", ip_address)
SELECT user_id, 'call_placed', 'call', initiated_at, '192.0.2.1' FROM sipcall.calls;
INSERT INTO sipcall.rate_limits (user_id, endpoint, request_count)
SELECT id, '/api/call', 3 FROM sipcall.users;
UPDATE sipcall.system_config SET config_value = '"120 days"'
 WHERE config_key = 'retention.call_events';
INSERT INTO sipcall.system_config (config_key, config_value) VALUES ('app.theme', '"dark"');
});

my @tables = qw(users calls call_events audit_logs rate_limits system_config
  daily_call_summary call_keys);
my %before;
for my $t (@tables)
{
	$before{$t} = $node->safe_psql('src', "SELECT count(*) FROM sipcall.$t");
}
ok($before{calls} == 300 && $before{call_events} == 900, 'source database filled');
my $in_default = $node->safe_psql('src',
	'SELECT count(*) FROM sipcall.calls_default');
ok($in_default > 0, "source has $in_default calls in the default partition");

# the procedure of the README
my $dump = $PostgreSQL::Test::Utils::tmp_check . '/sipcall.sql';
$node->command_ok(
	[ 'pg_dump', '-d', $node->connstr('src'), '--load-via-partition-root', '-f', $dump ],
	'pg_dump');
my ($stdout, $stderr);
my $rc = $node->psql('dst', undef,
	extra_params => [ '--single-transaction', '-v', 'ON_ERROR_STOP=1',
		'-c', 'SET CONSTRAINTS ALL DEFERRED', '-f', $dump ],
	stdout => \$stdout, stderr => \$stderr);
is($rc, 0, 'restore succeeds');
is($stderr, '', 'restore reports no error and no warning');
$node->safe_psql('dst', 'SELECT sipcall.drain_default_partitions()');

for my $t (@tables)
{
	is($node->safe_psql('dst', "SELECT count(*) FROM sipcall.$t"),
		$before{$t}, "$t: every row restored");
}

# the same rows, not just as many
for my $q (
	'SELECT md5(string_agg(id::text || call_uuid || initiated_at::text || encode(destination_number_enc, \'hex\'), \',\' ORDER BY id)) FROM sipcall.calls',
	'SELECT md5(string_agg(id::text || call_id::text || "timestamp"::text, \',\' ORDER BY id)) FROM sipcall.call_events',
	'SELECT md5(string_agg(config_key || config_value::text, \',\' ORDER BY config_key)) FROM sipcall.system_config')
{
	is($node->safe_psql('dst', $q), $node->safe_psql('src', $q), "same content: $q");
}

# every month that had a partition has one again, every row sits in its
# month's partition, and the default partitions are empty
my $parts = q{SELECT c.relname
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent IN ('sipcall.calls'::regclass, 'sipcall.call_events'::regclass,
                       'sipcall.audit_logs'::regclass)};
my %dst_parts = map { $_ => 1 } split /\n/, $node->safe_psql('dst', $parts);
my @missing = grep { !$dst_parts{$_} } split /\n/, $node->safe_psql('src', $parts);
is("@missing", '', 'every partition of the source exists in the copy');
for my $t ([ 'calls', 'initiated_at' ], [ 'call_events', '"timestamp"' ], [ 'audit_logs', '"timestamp"' ])
{
	is($node->safe_psql('dst', qq{
		SELECT count(*) FROM sipcall.$t->[0]
		 WHERE tableoid::regclass::text
		       <> 'sipcall.$t->[0]_y' || to_char($t->[1] AT TIME ZONE 'UTC', 'YYYY"m"MM')}),
		'0', "$t->[0]: every restored row is in its month's partition");
}
is($node->safe_psql('dst',
	'SELECT count(*) FROM sipcall.calls_default'), '0',
	'restored default partition of calls drained');
is($node->safe_psql('dst', q{
	SELECT count(*) FROM pg_class c, pg_extension e
	 WHERE e.extname = 'sipcall' AND c.relnamespace = e.extnamespace
	   AND c.relkind IN ('r', 'p') AND c.relname <> 'call_keys'
	   AND NOT c.oid = ANY (e.extconfig)}), '0',
	'every restored table is registered for the next dump');

# the copy works: decryption, keys, sequences, cascades
is($node->safe_psql('dst', q{
	SELECT sipcall.decrypt_data(destination_number_enc, 'dump-key')
	  FROM sipcall.calls WHERE call_uuid = 'fs-7'}), '+4915000000007',
	'numbers decrypt in the copy');
my ($ret, $out, $err) = $node->psql('dst', q{
	INSERT INTO sipcall.calls (user_id, destination_number_enc, call_uuid)
	VALUES ('00000000-0000-0000-0000-000000000001', '\x01', 'fs-7')});
like($err, qr/calls_call_uuid_key/, 'call_uuid still unique in the copy');
is($node->safe_psql('dst', q{
	INSERT INTO sipcall.call_events (call_id, event_type)
	SELECT id, 'CHANNEL_HANGUP' FROM sipcall.calls WHERE call_uuid = 'fs-8'
	RETURNING id > 900}),
	't', 'event ids continue after the restored ones');
is($node->safe_psql('dst', q{
	SELECT last_value >= 900 FROM sipcall.call_events_id_seq}), 't',
	'sequence restored');
($ret, $out, $err) = $node->psql('dst', q{
	INSERT INTO sipcall.call_events (call_id, event_type)
	VALUES ('00000000-0000-0000-0000-00000000dead', 'X')});
like($err, qr/does not exist/, 'dangling call_id rejected in the copy');
$node->safe_psql('dst', q{DELETE FROM sipcall.calls WHERE call_uuid = 'fs-9'});
is($node->safe_psql('dst', q{
	SELECT count(*) FROM sipcall.call_events e
	 WHERE NOT EXISTS (SELECT 1 FROM sipcall.calls c WHERE c.id = e.call_id)}), '0',
	'deleting a call removes its events in the copy');

# a second generation: the copy dumps and restores just as well
$node->safe_psql('postgres', 'CREATE DATABASE dst2');
my $dump2 = $PostgreSQL::Test::Utils::tmp_check . '/sipcall2.sql';
$node->command_ok(
	[ 'pg_dump', '-d', $node->connstr('dst'), '--load-via-partition-root', '-f', $dump2 ],
	'pg_dump of the copy');
$rc = $node->psql('dst2', undef,
	extra_params => [ '--single-transaction', '-v', 'ON_ERROR_STOP=1',
		'-c', 'SET CONSTRAINTS ALL DEFERRED', '-f', $dump2 ],
	stdout => \$stdout, stderr => \$stderr);
is($rc . $stderr, '0', 'second restore without error');
is($node->safe_psql('dst2', 'SELECT count(*) FROM sipcall.calls'),
	$node->safe_psql('dst', 'SELECT count(*) FROM sipcall.calls'),
	'second restore keeps every call');

$node->stop;
done_testing();
