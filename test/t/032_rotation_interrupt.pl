# sipcall.rotate_key interrupted (issue 18): a run cancelled with
# pg_cancel_backend, and a run cut short by an immediate shutdown, lose
# nothing and duplicate nothing; a second CALL converts what is left and
# leaves what the first one did as it is; then every value decrypts with
# the new key to its original plaintext and nothing is left under the old
# one.  The keys never reach the server log, key_rotations or audit_logs,
# with log_statement = 'all' and log_min_messages = debug5: the test
# passes them through a table (COPY data is not logged) and a DO block
# that reads them from there.
#
# 4,000 calls in four monthly partitions (1,000 each), both numbers under
# k1, half as envelopes and half as pgcrypto OpenPGP messages, rotated 100
# rows a batch.  To interrupt a run at a known point, another session holds
# a row lock on one call (the 521st of the third partition by primary
# key): the run commits the batches before it and waits in the batch that
# holds it, with 2 * (1,000 + 1,000 + 500) = 5,000 values converted.
# (At debug5 every OpenPGP attempt logs its subtransaction with the batch
# statement as context, about 10 kB a value: the size is kept small.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SipcallDump qw(new_node);

$PostgreSQL::Test::Utils::timeout_default = 120;

my %key = (
	k1 => 'rot-secret-k1-9f3a',
	k2 => 'rot-secret-k2-4c7e',
	k3 => 'rot-secret-k3-b81d');
my $n_calls = 4000;
my $n_values = 2 * $n_calls;
my $batch = 100;
my $at_lock = 2 * (1000 + 1000 + 500);

my $node = new_node('rotation');
$node->append_conf('postgresql.conf', q{
log_statement = 'all'
log_min_messages = debug5
});
$node->restart;

my $keys_copy = join('', map { "$_\t$key{$_}\n" } sort keys %key);
$node->safe_psql('postgres', qq{
CREATE EXTENSION sipcall CASCADE;
CREATE TABLE rot_keys (name text PRIMARY KEY, k text NOT NULL);
COPY rot_keys FROM STDIN;
$keys_copy\\.
});
$node->safe_psql('postgres', q{
INSERT INTO sipcall.users (id, nextcloud_user_id)
SELECT ('00000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid, 'rot-user-' || u
  FROM generate_series(1, 4) u;
SELECT count(sipcall.create_partition('sipcall.calls',
                                      (date_trunc('month', now()) - m * interval '1 month')::date))
  FROM generate_series(1, 4) m;
-- the plaintexts, kept aside: call n is in month n % 4 back, an envelope
-- when (n / 4) is even, an OpenPGP message when odd (with the least S2K
-- iteration count, for speed: the format is the same)
CREATE TABLE rot_plain AS
SELECT n, gen_random_uuid() AS id,
       ('00000000-0000-4000-8000-' || lpad((1 + (n / 8) % 4)::text, 12, '0'))::uuid AS user_id,
       date_trunc('month', now()) - (1 + n % 4) * interval '1 month'
         + interval '10 days' + (n / 4) * interval '1 minute' AS initiated_at,
       '+4915' || lpad(n::text, 9, '0') AS dest,
       '+4930' || lpad(n::text, 7, '0') AS caller
  FROM generate_series(1, 4000) n;
INSERT INTO sipcall.calls (id, user_id, initiated_at, call_uuid, status,
                           destination_number_enc, caller_id_enc)
SELECT p.id, p.user_id, p.initiated_at, 'rot-' || p.n, 'completed',
       CASE WHEN (p.n / 4) % 2 = 0 THEN sipcall.encrypt_data(p.dest, k.k)
            ELSE pgp_sym_encrypt(p.dest, k.k, 's2k-count=1024') END,
       CASE WHEN (p.n / 4) % 2 = 0 THEN sipcall.encrypt_data(p.caller, k.k)
            ELSE pgp_sym_encrypt(p.caller, k.k, 's2k-count=1024') END
  FROM rot_plain p JOIN rot_keys k ON k.name = 'k1';
ANALYZE sipcall.calls;

-- calls whose numbers do not both decrypt, with the keys named, to their
-- plaintext; a call missing on either side counts too
CREATE FUNCTION rot_mismatches(names text[]) RETURNS bigint
LANGUAGE plpgsql AS $f$
DECLARE
    keys text[];
    r record;
    bad bigint := 0;
BEGIN
    SELECT array_agg(k.k ORDER BY array_position(names, k.name)) INTO keys
      FROM rot_keys k WHERE k.name = ANY (names);
    FOR r IN SELECT c.destination_number_enc AS d, c.caller_id_enc AS c, p.dest, p.caller
               FROM sipcall.calls c
               FULL JOIN rot_plain p
                 ON (p.id, p.initiated_at, p.user_id) = (c.id, c.initiated_at, c.user_id)
    LOOP
        BEGIN
            IF r.d IS NULL OR r.c IS NULL OR r.dest IS NULL
               OR sipcall.decrypt_data(r.d, keys) IS DISTINCT FROM r.dest
               OR sipcall.decrypt_data(r.c, keys) IS DISTINCT FROM r.caller THEN
                bad := bad + 1;
            END IF;
        EXCEPTION WHEN external_routine_invocation_exception THEN
            bad := bad + 1;
        END;
    END LOOP;
    RETURN bad;
END $f$;
});

is($node->safe_psql('postgres', q{
	SELECT string_agg(n::text, ',' ORDER BY p)
	  FROM (SELECT tableoid::regclass::text AS p, count(*) AS n FROM sipcall.calls GROUP BY 1) s}),
	'1000,1000,1000,1000', '4,000 calls in four monthly partitions');
my %id = map { $_ => $node->safe_psql('postgres',
		"SELECT sipcall.key_id(k) FROM rot_keys WHERE name = '$_'") } sort keys %key;
is($node->safe_psql('postgres', q{
	SELECT string_agg(column_name || ' ' || format || ' ' || coalesce(key_id, '-') || ' ' || "values",
	                  ', ' ORDER BY column_name, format)
	  FROM sipcall.key_inventory()}),
	"caller_id_enc envelope $id{k1} 2000, caller_id_enc openpgp - 2000, "
	  . "destination_number_enc envelope $id{k1} 2000, destination_number_enc openpgp - 2000",
	'half envelopes, half OpenPGP messages, all under k1');

# the keys from the table, never in a statement's text
sub rotation_sql
{
	my ($from, $to) = @_;
	return qq{DO \$rot\$
DECLARE
    o text;
    n text;
BEGIN
    SELECT k INTO STRICT o FROM rot_keys WHERE name = '$from';
    SELECT k INTO STRICT n FROM rot_keys WHERE name = '$to';
    CALL sipcall.rotate_key(o, n, $batch);
END
\$rot\$;};
}

sub inventory
{
	return $node->safe_psql('postgres', q{
		SELECT string_agg(column_name || ' ' || format || ' ' || coalesce(key_id, '-') || ' ' || "values",
		                  ', ' ORDER BY column_name, format, key_id)
		  FROM sipcall.key_inventory()});
}

# the run's values under the new key, from key_inventory
sub under_key
{
	my ($name) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT coalesce(sum("values"), 0) FROM sipcall.key_inventory()
		 WHERE format = 'envelope' AND key_id = '$id{$name}'});
}

# rot_mismatches with the keys named; not the code under test, and its
# 4,000 subtransactions would fill the log at debug5
sub mismatches
{
	my ($names) = @_;
	return $node->safe_psql('postgres',
		"SET log_min_messages = info;\nSELECT rot_mismatches(ARRAY[$names])");
}

# A run from $from to $to, interrupted by $interrupt (a sub given the
# run's pid) while it waits for the row lock; then checks, a second run and
# the final checks.
sub interrupted_rotation
{
	my ($from, $to, $label, $interrupt) = @_;

	my $part = $node->safe_psql('postgres', q{
		SELECT p FROM (SELECT DISTINCT tableoid::regclass::text AS p FROM sipcall.calls) s
		 ORDER BY p OFFSET 2 LIMIT 1});
	my $victim_id = $node->safe_psql('postgres',
		"SELECT id FROM $part ORDER BY id, initiated_at, user_id OFFSET 520 LIMIT 1");
	my $lock = $node->background_psql('postgres');
	my $lock_pid = $lock->query_safe('SELECT pg_backend_pid()');
	$lock->query_safe(
		"BEGIN; SELECT 1 FROM $part WHERE id = '$victim_id' FOR UPDATE");

	my $last_run = $node->safe_psql('postgres',
		'SELECT coalesce(max(id), 0) FROM sipcall.key_rotations');
	my $rot = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $rot->query_safe('SELECT pg_backend_pid()');
	$rot->query_until(qr/rotation starts/,
		"\\echo rotation starts\n" . rotation_sql($from, $to) . "\n");
	ok($node->poll_query_until('postgres', qq{
		SELECT a.wait_event_type = 'Lock' AND $lock_pid = ANY (pg_blocking_pids(a.pid))
		   AND r.values_converted > 0
		  FROM pg_stat_activity a, sipcall.key_rotations r
		 WHERE a.pid = $pid AND r.id > $last_run AND r.status = 'running'}),
		"$label: the run is in progress, batches committed, waiting for the locked call");
	my $run = $node->safe_psql('postgres',
		"SELECT id FROM sipcall.key_rotations WHERE id > $last_run");

	$interrupt->($pid, $rot, $lock);

	# what the interrupted run left
	my $done = $node->safe_psql('postgres',
		"SELECT values_converted FROM sipcall.key_rotations WHERE id = $run");
	is($node->safe_psql('postgres',
			"SELECT status || ' ' || (finished_at IS NULL) FROM sipcall.key_rotations WHERE id = $run"),
		'running true', "$label: the interrupted run's row is left running, not finished");
	is($done, $at_lock, "$label: the batches before the locked call were committed");
	is(under_key($to), $done,
		"$label: as many values under $to as the run's row says it converted");
	is($node->safe_psql('postgres', q{SELECT sum("values") FROM sipcall.key_inventory()}),
		$n_values, "$label: every value is still there");
	is(mismatches("'$to', '$from'"),
		'0', "$label: every value decrypts with $to or $from to its plaintext");
	# the rows already converted, to check that the second run leaves them be
	$node->safe_psql('postgres', qq{
		DROP TABLE IF EXISTS rot_done;
		CREATE TABLE rot_done AS
		SELECT id, destination_number_enc AS d, caller_id_enc AS c FROM sipcall.calls
		 WHERE substr(destination_number_enc, 1, 3) = '\\x534345'
		   AND substr(destination_number_enc, 7, 4) = decode('$id{$to}', 'hex')});

	# a second run finishes the job
	$node->safe_psql('postgres', "SET client_min_messages = warning;\n" . rotation_sql($from, $to));
	is($node->safe_psql('postgres', qq{
		SELECT status || ' ' || (finished_at IS NOT NULL) || ' ' || values_converted || ' '
		       || conflicts || ' ' || errors || ' ' || old_key_id || ' ' || new_key_id
		  FROM sipcall.key_rotations WHERE id > $run}),
		"finished true @{[ $n_values - $done ]} 0 0 $id{$from} $id{$to}",
		"$label: the second run finishes, converting only what was left");
	is($node->safe_psql('postgres', q{
		SELECT count(*) FROM rot_done r JOIN sipcall.calls c USING (id)
		 WHERE c.destination_number_enc = r.d AND c.caller_id_enc = r.c}),
		$done / 2, "$label: the second run left the calls converted by the first as they were");
	is(inventory(),
		"caller_id_enc envelope $id{$to} $n_calls, destination_number_enc envelope $id{$to} $n_calls",
		"$label: key_inventory: every value an envelope under $to, nothing under $from");
	is(mismatches("'$to'"),
		'0', "$label: every value decrypts with $to alone to exactly its plaintext");
	is($node->safe_psql('postgres', q{
		SELECT count(*) || ' ' || count(DISTINCT id) || ' '
		       || (SELECT count(*) FROM sipcall.call_keys) FROM sipcall.calls}),
		"$n_calls $n_calls $n_calls", "$label: as many calls as before, none twice");
	return;
}

# --- 1. a run cancelled -------------------------------------------------------
interrupted_rotation('k1', 'k2', 'cancel', sub {
	my ($pid, $rot, $lock) = @_;
	is($node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"), 't', 'cancel: cancel sent');
	# the DO ends with the error; the query after it then runs
	$rot->query('SELECT 1');
	like($rot->{stderr}, qr/canceling statement due to user request/,
		'cancel: the run ends with "canceling statement due to user request"');
	$rot->quit;
	$lock->query_safe('ROLLBACK');
	$lock->quit;
});

# --- 2. the server stopped in the middle of a run -----------------------------
# a third of the calls back to OpenPGP messages, under k2, so that this
# run meets both formats too
$node->safe_psql('postgres', q{
	UPDATE sipcall.calls c
	   SET destination_number_enc = pgp_sym_encrypt(p.dest, k.k, 's2k-count=1024'),
	       caller_id_enc = pgp_sym_encrypt(p.caller, k.k, 's2k-count=1024')
	  FROM rot_plain p, rot_keys k
	 WHERE k.name = 'k2' AND p.n % 3 = 0
	   AND (p.id, p.initiated_at, p.user_id) = (c.id, c.initiated_at, c.user_id)});
is($node->safe_psql('postgres', q{SELECT sum("values") FROM sipcall.key_inventory() WHERE format = 'openpgp'}),
	2 * 1333, 'a third of the calls as OpenPGP messages under k2');

interrupted_rotation('k2', 'k3', 'crash', sub {
	my ($pid, $rot, $lock) = @_;
	$node->stop('immediate');
	# both sessions lost their server; psql may be gone already
	eval { $rot->quit };
	eval { $lock->quit };
	$node->start;
});

# --- 3. no key anywhere ---------------------------------------------------------
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM sipcall.key_rotations r, rot_keys k WHERE strpos(r::text, k.k) > 0}),
	'0', 'no key in key_rotations');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM sipcall.audit_logs a, rot_keys k WHERE strpos(a::text, k.k) > 0}),
	'0', 'no key in audit_logs');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM sipcall.audit_logs WHERE action = 'key_rotation'}),
	'2', 'an audit row per finished run');
is($node->safe_psql('postgres', q{
	SELECT string_agg(status, ',' ORDER BY id) FROM sipcall.key_rotations}),
	'running,finished,running,finished', 'four runs recorded, the interrupted ones left running');

# At debug5 the log grows to several hundred megabytes (each OpenPGP
# attempt's subtransaction, with the batch statement as context): it is
# read in blocks, each with the end of the one before, and searched with
# index(); a match that lies wholly in that end was counted already.
my @needles = ('statement: DO $rot$', 'DEBUG:', 'key rotation: ', 'rot-secret',
	map { $key{$_} } sort keys %key);
my %seen = map { $_ => 0 } @needles;
my $keep = 64;
open(my $fh, '<', $node->logfile) or die "cannot open the server log: $!";
binmode($fh);
my $tail = '';
while (read($fh, my $block, 1 << 24))
{
	my $buf = $tail . $block;
	for my $s (@needles)
	{
		my $pos = index($buf, $s);
		while ($pos >= 0)
		{
			$seen{$s}++ if $pos + length($s) > length($tail);
			$pos = index($buf, $s, $pos + 1);
		}
	}
	$tail = substr($buf, -$keep);
}
close($fh);
ok($seen{'statement: DO $rot$'} >= 4, 'the log has the DO blocks (log_statement = all)');
ok($seen{'DEBUG:'} > 0, 'the log has debug messages');
ok($seen{'key rotation: '} > 0, "the log has the runs' notices");
for my $name (sort keys %key)
{
	is($seen{ $key{$name} }, 0, "key $name appears nowhere in the server log");
}
is($seen{'rot-secret'}, 0, 'no part of a key ("rot-secret") in the server log');

$node->stop;
# a passed run leaves no such log behind
truncate($node->logfile, 0) if Test::More->builder->is_passing;
done_testing();
