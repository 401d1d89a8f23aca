# SipcallDump: what the dump/restore TAP tests (test/t/00[1-4]_*.pl) share.
#
# fill($node, $db) builds the source database every procedure starts from
# (issue 15): monthly partitions made at install time of the test and later
# (premade months, past months, a month five years ahead), rows in the
# default partitions, calls moved to another month, an erased user, changed
# and added settings, live rate limits, a refreshed daily summary and a
# maintenance log.
#
# snapshot($node, $db) records what must come back: every table's rows (count
# and checksum of the rows in a total order), which partition each row is in,
# the partitions, the sequences.  same_as($node, $db, $snapshot, $label)
# compares a copy with it, and works_like_the_source($node, $db, $label)
# then checks that the copy works: keys, uniqueness and foreign keys, the
# call_keys registry, sequences, decryption, export and a maintenance cycle
# (which drains the default partitions).  These last checks change the copy
# (a maintenance cycle, an export's audit row), so a second generation is
# compared with a snapshot of the copy taken just before it is dumped.
#
# restore_psql / restore_custom run the standard procedures and check that
# they exit with 0 and write nothing to stderr.
package SipcallDump;

use strict;
use warnings;
use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(new_node fill snapshot same_as works_like_the_source
  run_quiet restore_psql restore_custom);

# every table sipcall has; daily_summary_dirty is left out: a restore adds
# the restored days to it (a work list for the next refresh, which empties it).
# A table that a version has not yet (key_rotations in 1.0) is left out of
# that version's snapshot, and so of the comparison after an update.
our @TABLES = qw(users calls call_keys call_events audit_logs rate_limits
  system_config daily_call_summary maintenance_log key_rotations);

our $TODO;
our $KEY = 'dump-key';

sub user_id { sprintf('00000000-0000-0000-0000-%012d', shift) }

# A cluster with sipcall preloaded and the worker off (a test turns it on
# where it wants a worker cycle).
sub new_node
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'sipcall'");
	$node->append_conf('postgresql.conf', "sipcall.maintenance_interval = 0");
	$node->append_conf('postgresql.conf', "fsync = off");
	$node->start;
	return $node;
}

# fill($node, $db [, $version]): install sipcall (the given SQL version, or
# the default one) into a new database $db and fill it
sub fill
{
	my ($node, $db, $version) = @_;
	my $create = defined $version ? "VERSION '$version' CASCADE" : 'CASCADE';
	my $u = "('00000000-0000-0000-0000-' || lpad(%s::text, 12, '0'))::uuid";
	my $user_of = sprintf($u, '(1 + g % 6)');
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{
CREATE EXTENSION sipcall $create;
-- settings: changed (the copy's maintenance must keep the whole history),
-- and one of the application's
UPDATE sipcall.system_config SET config_value = '"10 years"'
 WHERE config_key IN ('retention.call_events', 'retention.audit_logs');
UPDATE sipcall.system_config SET config_value = '2'
 WHERE config_key = 'partition.premake_months';
INSERT INTO sipcall.system_config (config_key, config_value, description)
VALUES ('app.theme', '"dark"', 'the app''s own');
-- partitions: premade by a maintenance cycle (this month and two ahead),
-- past months (one to 24 back; the months 25 to 28 back have none, so their
-- rows wait in the default partitions), and a month five years ahead
SELECT sipcall.run_maintenance()->>'status';
SELECT count(sipcall.create_partition(t, (now() - m * interval '1 month')::date))
  FROM unnest(ARRAY['sipcall.calls', 'sipcall.call_events', 'sipcall.audit_logs']::regclass[]) t,
       generate_series(1, 24) m;
SELECT count(sipcall.create_partition(t, (now() + interval '5 years')::date))
  FROM unnest(ARRAY['sipcall.calls', 'sipcall.call_events', 'sipcall.audit_logs']::regclass[]) t;

INSERT INTO sipcall.users (id, nextcloud_user_id, email, display_name)
SELECT @{[ sprintf($u, 'g') ]}, 'user' || g, 'user' || g || '\@example.org', 'User ' || g
  FROM generate_series(1, 6) g;
-- 300 calls from 28 months back to two months ahead, 12 five years ahead
-- (in their partition) and 4 seven years ahead (in the default partition)
INSERT INTO sipcall.calls (user_id, destination_number_enc, caller_id_enc, call_uuid,
                           status, initiated_at, duration_seconds, cost_cents,
                           codec, quality_score)
SELECT $user_of,
       sipcall.encrypt_data('+4915' || lpad(g::text, 9, '0'), '$KEY'),
       CASE WHEN g % 3 = 0 THEN sipcall.encrypt_data('+4930' || g, '$KEY') END,
       'fs-' || g,
       CASE WHEN g % 4 = 0 THEN 'failed' ELSE 'completed' END,
       now() - interval '28 months' + g * interval '3 days', g % 600, g % 97,
       'OPUS', 1 + (g % 400) / 100.0
  FROM generate_series(1, 300) g;
INSERT INTO sipcall.calls (user_id, destination_number_enc, call_uuid, status, initiated_at)
SELECT $user_of, sipcall.encrypt_data('+4989' || g, '$KEY'), 'future-' || g, 'initiated',
       CASE WHEN g <= 12 THEN date_trunc('month', now() + interval '5 years') + g * interval '1 day'
            ELSE now() + interval '7 years' + g * interval '1 hour' END
  FROM generate_series(1, 16) g;
INSERT INTO sipcall.call_events (call_id, event_type, event_data, "timestamp")
SELECT id, e, jsonb_build_object('codec', 'OPUS', 'n', n), initiated_at + n * interval '1 second'
  FROM sipcall.calls, unnest(ARRAY['CHANNEL_CREATE', 'CHANNEL_ANSWER', 'CHANNEL_HANGUP']) WITH ORDINALITY e(e, n);
INSERT INTO sipcall.audit_logs (user_id, action, resource_type, resource_id, "timestamp",
                                ip_address, user_agent, details)
SELECT user_id, 'call_placed', 'call', id::text, initiated_at, '192.0.2.1', 'test',
       jsonb_build_object('call_uuid', call_uuid)
  FROM sipcall.calls;
-- calls moved to another month, and one to another year; their events follow
UPDATE sipcall.calls SET initiated_at = initiated_at - interval '1 month'
 WHERE call_uuid IN ('fs-40', 'fs-41', 'fs-150', 'fs-151', 'fs-299');
UPDATE sipcall.calls SET initiated_at = initiated_at + interval '1 year'
 WHERE call_uuid = 'fs-100';
-- an erased user (calls, events and rate limits gone, audit rows anonymised)
SELECT sipcall.delete_user_data(@{[ sprintf($u, 6) ]});
-- live rate limits, a refreshed summary
SELECT count(*) FILTER (WHERE sipcall.check_rate_limit(id, '/api/call', 10))
  FROM sipcall.users, generate_series(1, 3);
SELECT sipcall.check_rate_limit(id, 'sms', 1, 1440) FROM sipcall.users;
SELECT sipcall.refresh_daily_summary();
});
	# since 1.1: a key rotation's progress row (and its audit row); a CALL
	# that commits must be a statement of its own
	if ($node->safe_psql($db,
			q{SELECT to_regprocedure('sipcall.rotate_key(text,text,integer,real)') IS NOT NULL}) eq 't')
	{
		$node->safe_psql($db, qq{
SET client_min_messages = warning;
CALL sipcall.rotate_key('$KEY', '$KEY', 100);});
	}

	my $check = $node->safe_psql($db, q{
SELECT (SELECT count(*) FROM sipcall.calls_default) > 0,
       (SELECT count(*) FROM sipcall.call_events_default) > 0,
       (SELECT count(*) FROM sipcall.daily_call_summary) > 0,
       (SELECT count(*) FROM sipcall.rate_limits) > 0,
       (SELECT count(*) FROM sipcall.users) = 5,
       (SELECT count(*) FROM pg_inherits WHERE inhparent = 'sipcall.calls'::regclass) >= 27});
	is($check, 't|t|t|t|t|t', "source $db: defaults, summary, rate limits, partitions filled");
	return;
}

# What must come back, as a hash of strings.
sub snapshot
{
	my ($node, $db) = @_;
	my %s;
	for my $t (@TABLES)
	{
		next if $node->safe_psql($db, "SELECT to_regclass('sipcall.$t') IS NULL") eq 't';
		$s{"rows of $t"} = $node->safe_psql($db, qq{
			SELECT count(*) || ' rows, md5 ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))
			  FROM sipcall.$t t});
	}
	for my $t (qw(calls call_events audit_logs))
	{
		$s{"partition of each row of $t"} = $node->safe_psql($db, qq{
			SELECT string_agg(p || ': ' || n, ', ' ORDER BY p)
			  FROM (SELECT tableoid::regclass::text AS p, count(*) AS n
			          FROM sipcall.$t GROUP BY 1) s});
		$s{"partitions of $t"} = $node->safe_psql($db, qq{
			SELECT string_agg(inhrelid::regclass::text, ' ' ORDER BY inhrelid::regclass::text)
			  FROM pg_inherits WHERE inhparent = 'sipcall.$t'::regclass});
	}
	# one entry per sequence, so that one made by an update is not compared
	for my $line (split /\n/, $node->safe_psql($db, q{
		SELECT sequencename || ' ' || coalesce(last_value::text, 'unused')
		  FROM pg_sequences WHERE schemaname = 'sipcall' ORDER BY sequencename}))
	{
		my ($name, $value) = split / /, $line;
		$s{"sequence $name"} = $value;
	}
	return \%s;
}

sub same_as
{
	my ($node, $db, $before, $label) = @_;
	my $after = snapshot($node, $db);
	for my $k (sort keys %$before)
	{
		is($after->{$k}, $before->{$k}, "$label: $k");
	}
	return;
}

# sql run in one session; returns 'ok' or the SQLSTATE it raised
sub sqlstate
{
	my ($node, $db, $sql) = @_;
	$sql =~ s/\$\$/\$q\$/g;
	return $node->safe_psql($db, qq{
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS \$f\$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END \$f\$;
SELECT pg_temp.try(\$\$$sql\$\$);});
}

sub works_like_the_source
{
	my ($node, $db, $label) = @_;
	my $u1 = user_id(1);

	is($node->safe_psql($db, q{
		SELECT count(*) FROM sipcall.call_keys k FULL JOIN sipcall.calls c ON c.id = k.id
		 WHERE c.id IS NULL OR k.id IS NULL
		    OR (k.call_uuid, k.user_id, k.initiated_at)
		       IS DISTINCT FROM (c.call_uuid, c.user_id, c.initiated_at)}),
		'0', "$label: call_keys holds exactly one row per call, equal to it");
	is($node->safe_psql($db, q{
		SELECT count(*) FROM sipcall.call_events e
		 WHERE NOT EXISTS (SELECT 1 FROM sipcall.calls c WHERE c.id = e.call_id AND c.user_id = e.user_id)}),
		'0', "$label: every event belongs to a call of its user");

	# sequences continue past every restored id
	is($node->safe_psql($db, q{
		SELECT nextval('sipcall.call_events_id_seq') > (SELECT max(id) FROM sipcall.call_events)
		   AND nextval('sipcall.audit_logs_id_seq') > (SELECT max(id) FROM sipcall.audit_logs)
		   AND nextval('sipcall.system_config_id_seq') > (SELECT max(id) FROM sipcall.system_config)
		   AND nextval('sipcall.rate_limits_id_seq') > (SELECT max(id) FROM sipcall.rate_limits)
		   AND nextval('sipcall.maintenance_log_id_seq') > (SELECT max(id) FROM sipcall.maintenance_log)}),
		't', "$label: sequences past the restored ids");

	# uniqueness across partitions, foreign keys
	like(sqlstate($node, $db, qq{
		INSERT INTO sipcall.calls (user_id, destination_number_enc, call_uuid, initiated_at)
		VALUES ('$u1', '\\x01', 'fs-7', now() - interval '20 years')}),
		qr/^23505 .*calls_call_uuid_key/, "$label: a duplicate call_uuid gets 23505");
	like(sqlstate($node, $db, qq{
		INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
		SELECT id, '$u1', '\\x01', initiated_at + interval '2 months'
		  FROM sipcall.calls WHERE call_uuid = 'fs-8'}),
		qr/^23505 .*calls_id_key/, "$label: a duplicate id in another month gets 23505");
	like(sqlstate($node, $db, qq{
		INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at, call_uuid)
		SELECT id, user_id, destination_number_enc, initiated_at, call_uuid
		  FROM sipcall.calls WHERE call_uuid = 'fs-9'}),
		qr/^23505 /, "$label: a second identical call gets 23505");
	like(sqlstate($node, $db, q{
		INSERT INTO sipcall.call_events (call_id, event_type)
		VALUES ('00000000-0000-0000-0000-00000000dead', 'X')}),
		qr/^23503 /, "$label: a dangling event gets 23503");
	# the foreign key itself, behind the fill trigger (which rejects an
	# unknown call first); the ALTER is undone with the failed insert
	like(sqlstate($node, $db, q{
		ALTER TABLE sipcall.call_events DISABLE TRIGGER call_events_fill;
		INSERT INTO sipcall.call_events (call_id, event_type, user_id)
		VALUES ('00000000-0000-0000-0000-00000000dead', 'X', '00000000-0000-0000-0000-000000000001')}),
		qr/^23503 .*call_events_call_id_fkey/, "$label: the foreign key of events holds");
	like(sqlstate($node, $db, q{
		INSERT INTO sipcall.calls (user_id, destination_number_enc)
		VALUES ('00000000-0000-0000-0000-00000000dead', '\x01')}),
		qr/^23503 .*calls_user_id_fkey/, "$label: a call of an unknown user gets 23503");

	# decryption and export
	is($node->safe_psql($db, qq{
		SELECT sipcall.decrypt_data(destination_number_enc, '$KEY') || ' ' ||
		       sipcall.decrypt_data(caller_id_enc, '$KEY')
		  FROM sipcall.calls WHERE call_uuid = 'fs-9'}),
		'+4915000000009 +49309', "$label: numbers decrypt");
	is($node->safe_psql($db, qq{
		WITH x AS (SELECT sipcall.export_user_data('$u1', '$KEY') AS d)
		SELECT jsonb_array_length(d->'calls') = (SELECT count(*) FROM sipcall.calls WHERE user_id = '$u1')
		   AND jsonb_array_length(d->'call_events') = (SELECT count(*) FROM sipcall.call_events WHERE user_id = '$u1')
		   AND (SELECT count(*) FROM jsonb_array_elements(d->'calls') c
		         WHERE c->>'destination_number' LIKE '+49%') = jsonb_array_length(d->'calls')
		  FROM x}),
		't', "$label: the export has every call and event of the user, decrypted");

	# a maintenance cycle: clean, and it drains the default partitions
	is($node->safe_psql($db, q{SELECT sipcall.run_maintenance()->>'status'}),
		'ok', "$label: a maintenance cycle is clean");
	is($node->safe_psql($db, q{
		SELECT string_agg(table_name || ' ' || row_count, ', ' ORDER BY table_name)
		  FROM sipcall.default_partition_rows}),
		'audit_logs 0, call_events 0, calls 0',
		"$label: the default partitions are drained");
	for my $t ([ 'calls', 'initiated_at' ], [ 'call_events', '"timestamp"' ],
		[ 'audit_logs', '"timestamp"' ])
	{
		is($node->safe_psql($db, qq{
			SELECT count(*) FROM sipcall.$t->[0]
			 WHERE tableoid::regclass::text
			       <> format('sipcall.%s_y%s', '$t->[0]', to_char($t->[1] AT TIME ZONE 'UTC', 'YYYY"m"MM'))}),
			'0', "$label: every row of $t->[0] is in its month's partition");
	}
	is($node->safe_psql($db, q{
		SELECT count(*) FROM generate_series(0, 2) m, unnest(ARRAY['calls', 'call_events', 'audit_logs']) t
		 WHERE to_regclass(format('sipcall.%s_y%s', t,
		           to_char((now() AT TIME ZONE 'UTC') + m * interval '1 month', 'YYYY"m"MM'))) IS NULL}),
		'0', "$label: this month and the next two have their partitions");
	return;
}

# run a command; returns (exit status, stdout, stderr)
sub run_quiet
{
	my @cmd = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# pg_dump db -f f.sql; createdb new; psql -d new -f f.sql
sub restore_psql
{
	my ($node, $from, $to, $label) = @_;
	my $file = "$PostgreSQL::Test::Utils::tmp_check/$from-to-$to.sql";
	my @rc = run_quiet('pg_dump', '-d', $node->connstr($from), '-f', $file);
	is("$rc[0] $rc[2]", '0 ', "$label: pg_dump");
	@rc = run_quiet('createdb', '-h', $node->host, '-p', $node->port, $to);
	is("$rc[0] $rc[2]", '0 ', "$label: createdb");
	@rc = run_quiet('psql', '-X', '-d', $node->connstr($to), '-f', $file);
	is($rc[0], 0, "$label: psql exits with 0");
	is($rc[2], '', "$label: psql reports no error");
	unlike($rc[1], qr/ERROR/, "$label: no ERROR in psql's output");
	return;
}

# pg_dump -Fc db -f f.dump; createdb new; pg_restore [-j N] -d new f.dump
sub restore_custom
{
	my ($node, $from, $to, $label, @opts) = @_;
	my $file = "$PostgreSQL::Test::Utils::tmp_check/$from-to-$to.dump";
	my @rc = run_quiet('pg_dump', '-Fc', '-d', $node->connstr($from), '-f', $file);
	is("$rc[0] $rc[2]", '0 ', "$label: pg_dump -Fc");
	@rc = run_quiet('createdb', '-h', $node->host, '-p', $node->port, $to);
	is("$rc[0] $rc[2]", '0 ', "$label: createdb");
	@rc = run_quiet('pg_restore', @opts, '-d', $node->connstr($to), $file);
	is($rc[0], 0, "$label: pg_restore @opts exits with 0");
	is($rc[2], '', "$label: pg_restore @opts reports no error");
	return;
}

1;
