# Rate limits with sipcall preloaded: exactness under pgbench (shared and
# table paths), counts surviving a clean restart exactly, at most the last
# second of counts lost in a crash, operator TRUNCATE, other databases, and
# a shared hash too small for all keys.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('ratelimit');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sipcall'
sipcall.database = 'rl'
sipcall.maintenance_interval = 0
sipcall.ratelimit_max_entries = 128
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE rl');
$node->safe_psql('postgres', 'CREATE DATABASE other');
my $users = q{
CREATE EXTENSION sipcall CASCADE;
INSERT INTO sipcall.users (id, nextcloud_user_id)
SELECT ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, 'u' || g
  FROM generate_series(1, 300) g;
CREATE TABLE allowed (who text, at timestamptz DEFAULT clock_timestamp());
};
$node->safe_psql('rl', $users);
$node->safe_psql('other', $users);

my $u1 = '00000000-0000-0000-0000-000000000001';
my $long = 'api/' . ('x' x 80);    # too long for shared memory: table path


# ---- exact under pgbench: 8 clients, one key, 4000 attempts, limit 3000 ----
sub pgbench_exact
{
	my ($db, $endpoint, $label) = @_;
	my $script = $node->basedir . "/check_$label.sql";
	open my $fh, '>', $script or die $!;
	print $fh "INSERT INTO allowed (who) SELECT '$label' WHERE sipcall.check_rate_limit('$u1', '$endpoint', 3000, 60);\n";
	close $fh;
	$node->command_ok(
		[ 'pgbench', '-n', '-c', '8', '-j', '2', '-t', '500', '-f', $script, $db ],
		"pgbench, 8 clients on one key ($label)");
	is($node->safe_psql($db, "SELECT count(*) FROM allowed WHERE who = '$label'"),
		'3000', "exactly max_requests trues ($label)");
	is( $node->safe_psql($db,
			"SELECT request_count, remaining FROM sipcall.rate_limit_status('$u1', '$endpoint', 3000)"),
		'3000|0', "status agrees ($label)");
	ok( $node->poll_query_until($db,
			"SELECT request_count = 3000 FROM sipcall.rate_limits WHERE user_id = '$u1' AND endpoint = '$endpoint'"),
		"rate_limits shows the count ($label)");
}
pgbench_exact('rl', 'pgbench', 'shared');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'sipcall rate limit flusher' AND datname = 'rl'"),
	'the flusher runs in database rl and shows in pg_stat_activity');
pgbench_exact('rl', $long, 'table');
pgbench_exact('other', 'pgbench', 'other_db');

# in a database other than sipcall.database the table is always current
$node->safe_psql('other', "SELECT sipcall.check_rate_limit('$u1', 'now', 5)");
is($node->safe_psql('other', "SELECT request_count FROM sipcall.rate_limits WHERE endpoint = 'now'"),
	'1', 'other database: the table path writes at once');

# ---- a clean restart keeps every count exactly ----
$node->safe_psql('rl', "SELECT sipcall.check_rate_limit('$u1', 'restart', 100000) FROM generate_series(1, 20000)");
$node->restart;
is( $node->safe_psql('rl', "SELECT request_count FROM sipcall.rate_limits WHERE user_id = '$u1' AND endpoint = 'restart'"),
	'20000', 'clean restart: rate_limits holds every count');
is( $node->safe_psql('rl', "SELECT request_count FROM sipcall.rate_limit_status('$u1', 'restart')"),
	'20000', 'clean restart: the counter goes on from there');
$node->safe_psql('rl', "SELECT sipcall.check_rate_limit('$u1', 'restart', 100000)");
is( $node->safe_psql('rl', "SELECT request_count FROM sipcall.rate_limit_status('$u1', 'restart')"),
	'20001', 'clean restart: and counts on');

# ---- a crash loses at most the last second ----
{
	my $script = $node->basedir . '/crash.sql';
	open my $fh, '>', $script or die $!;
	print $fh "INSERT INTO allowed (who) SELECT 'crash' WHERE sipcall.check_rate_limit('$u1', 'crash', 1000000, 60);\n";
	close $fh;
	# crash while pgbench is still checking
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '2', '-T', '20', '-f', $script,
		  '-h', $node->host, '-p', $node->port, 'rl' ],
		'>', \$out, '2>', \$err);
	ok( $node->poll_query_until('rl', "SELECT count(*) > 300 FROM allowed WHERE who = 'crash'"),
		'checks are being made');
	sleep 1;
	$node->stop('immediate');
	$h->finish;
	$node->start;
	my ($kept, $made, $older) = split /\|/, $node->safe_psql('rl', q{
		SELECT (SELECT coalesce(max(request_count), 0) FROM sipcall.rate_limits WHERE endpoint = 'crash'),
		       count(*),
		       count(*) FILTER (WHERE at < (SELECT max(at) FROM allowed WHERE who = 'crash') - interval '1 second')
		  FROM allowed WHERE who = 'crash'});
	note "crash: $made allowed, $kept kept, $older older than the last second";
	ok($made > 100, 'crash: checks were made');
	ok($kept <= $made && $kept >= $older,
		'crash: only counts of the last second are lost');
}

# ---- operator TRUNCATE takes effect at once ----
$node->safe_psql('rl', "SELECT sipcall.check_rate_limit('$u1', 'trunc', 2) FROM generate_series(1, 3)");
ok($node->poll_query_until('rl', "SELECT count(*) = 1 FROM sipcall.rate_limits WHERE endpoint = 'trunc'"),
	'truncate: row flushed');
$node->safe_psql('rl', 'TRUNCATE sipcall.rate_limits');
is($node->safe_psql('rl', "SELECT sipcall.check_rate_limit('$u1', 'trunc', 2)"),
	't', 'truncate: the next check starts afresh');

# ---- more keys than the shared hash holds (128): still exact ----
{
	my $round = q{
		SELECT count(*) FILTER (WHERE sipcall.check_rate_limit(
		         ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, 'many', 2))
		  FROM generate_series(1, 300) g};
	my @trues = map { $node->safe_psql('rl', $round) } 1 .. 3;
	is(join(',', @trues), '300,300,0', 'full hash: each of 300 keys allowed exactly twice');
	sleep 2;
	is($node->safe_psql('rl', $round), '0', 'full hash: after eviction still blocked');
	ok( $node->poll_query_until('rl',
			"SELECT count(*) = 300 AND min(request_count) = 2 AND max(request_count) = 2 FROM sipcall.rate_limits WHERE endpoint = 'many'"),
		'full hash: the table holds every key');
}

# ---- erasure: the user is unknown again ----
$node->safe_psql('rl', "SELECT sipcall.check_rate_limit('$u1', 'gone', 5)");
$node->safe_psql('rl', "DELETE FROM sipcall.users WHERE id = '$u1'");
my ($rc, $out, $err) = $node->psql('rl', "SELECT sipcall.check_rate_limit('$u1', 'gone', 5)");
like($err, qr/user does not exist/, 'erased user: 23503 again');

ok(!$node->log_contains('TRAP|PANIC|server process .* was terminated by signal'), 'no crash in the log');
$node->stop;

# ---- without shared_preload_libraries: the table path alone ----
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', $users);
is( $plain->safe_psql('postgres',
		"SELECT string_agg(sipcall.check_rate_limit('$u1', 'plain', 2)::text, ',' ORDER BY g) FROM generate_series(1, 3) g"),
	'true,true,false', 'not preloaded: checks work');
is($plain->safe_psql('postgres', "SELECT request_count FROM sipcall.rate_limits WHERE endpoint = 'plain'"),
	'2', 'not preloaded: the table is current at once');
$plain->safe_psql('postgres', "UPDATE sipcall.rate_limits SET request_count = 0 WHERE endpoint = 'plain'");
is($plain->safe_psql('postgres', "SELECT sipcall.check_rate_limit('$u1', 'plain', 2)"),
	't', 'not preloaded: an operator edit takes effect');
$plain->stop;
done_testing();
