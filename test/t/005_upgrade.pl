# The upgrade path: every released SQL version of sipcall is installed,
# filled (calls across many months, a partition five years ahead, rows
# waiting in the default partitions, events, audit rows, rate limits,
# changed settings, a summary, a maintenance log), and updated with
# ALTER EXTENSION sipcall UPDATE.  Then:
#  (a) the catalog of the updated extension equals that of a fresh install
#      of the newest version given the same monthly partitions
#      (test/catalog.sql: every member object and its definition, ACLs,
#      config-dump registrations, columns, constraints, indexes, triggers,
#      comments); any difference fails and is printed;
#  (b) every row is intact and the updated database works like a fresh one
#      (SipcallDump.pm's checks; test/run also runs the whole regress suite
#      on a database updated from each released version);
#  (c) pg_dump and psql restore of the updated database bring every row back.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename qw(dirname);
use SipcallDump;

my $node = new_node('upgrade');
my $catalog_sql = slurp_file(dirname(__FILE__) . '/../catalog.sql');

my $newest = $node->safe_psql('postgres', q{
	SELECT default_version FROM pg_available_extensions WHERE name = 'sipcall'});
my @released = split /\n/, $node->safe_psql('postgres', qq{
	SELECT source FROM pg_extension_update_paths('sipcall')
	 WHERE target = '$newest' AND path IS NOT NULL ORDER BY 1});

# every frozen install script is a released version with a path to the newest
my $sharedir = $node->config_data('--sharedir');
my @frozen = sort map { m{/sipcall--([^-]+)\.sql$} ? $1 : () }
  glob("$sharedir/extension/sipcall--*.sql");
for my $v (grep { $_ ne $newest } @frozen)
{
	ok((grep { $_ eq $v } @released), "released version $v has an update path to $newest");
}
ok((grep { $_ eq '1.0' } @released), "1.0 has an update path to $newest");

# The facts of test/catalog.sql in a database, one per line; an equal list
# means an equal sipcall.
sub catalog
{
	my ($db) = @_;
	return [ split /\n/, $node->safe_psql($db, $catalog_sql) ];
}

# ok() when both lists are equal, else the lines found on one side only
sub same_catalog
{
	my ($got, $want, $label, $got_name, $want_name) = @_;
	$got_name //= 'the updated database';
	$want_name //= 'the fresh install';
	my (%g, %w);
	$g{$_}++ for @$got;
	$w{$_}++ for @$want;
	my @only_got = grep { ($g{$_} // 0) > ($w{$_} // 0) } sort keys %g;
	my @only_want = grep { ($w{$_} // 0) > ($g{$_} // 0) } sort keys %w;
	ok(!@only_got && !@only_want, $label)
	  or diag(join("\n",
		(map { "only in $got_name: $_" } @only_got),
		(map { "only in $want_name: $_" } @only_want)));
	return;
}

for my $v (@released)
{
	(my $db = "from_$v") =~ s/\W/_/g;
	my $label = "updated from $v";
	fill($node, $db, $v);
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'sipcall'}),
		$v, "$db starts on $v");
	my $before = snapshot($node, $db);

	$node->safe_psql($db, 'ALTER EXTENSION sipcall UPDATE');
	is($node->safe_psql($db, q{SELECT extversion FROM pg_extension WHERE extname = 'sipcall'}),
		$newest, "$label: now on $newest");

	# (a) a fresh install with the same monthly partitions
	my $fresh = "fresh_for_$db";
	$node->safe_psql('postgres', "CREATE DATABASE $fresh");
	$node->safe_psql($fresh, 'CREATE EXTENSION sipcall CASCADE');
	my $months = $node->safe_psql($db, q{
		SELECT string_agg(format('(%L::regclass, %L::date)', i.inhparent::regclass,
		                         to_date(right(c.relname, 7), 'YYYY"m"MM')), ', ')
		  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		 WHERE i.inhparent IN ('sipcall.calls'::regclass, 'sipcall.call_events'::regclass,
		                       'sipcall.audit_logs'::regclass)
		   AND c.relname ~ '_y[0-9]{4}m[0-9]{2}$'});
	$node->safe_psql($fresh, qq{
		SELECT count(sipcall.create_partition(t, d)) FROM (VALUES $months) v(t, d)});
	same_catalog(catalog($db), catalog($fresh), "$label: the catalog equals a fresh install's");
	my $fresh_keys = $node->safe_psql($fresh,
		q{SELECT string_agg(config_key, ',' ORDER BY config_key) FROM sipcall.system_config});
	is($node->safe_psql($db, qq{
		SELECT count(*) FROM unnest(string_to_array('$fresh_keys', ',')) k
		 WHERE NOT EXISTS (SELECT 1 FROM sipcall.system_config c WHERE c.config_key = k)}),
		'0', "$label: every setting a fresh install has exists");

	# (b) the data and the behaviour
	same_as($node, $db, $before, $label);
	is($node->safe_psql($db, qq{
		SELECT count(*) FROM sipcall.calls
		 WHERE encode(substring(destination_number_enc FROM 7 FOR 4), 'hex')
		       <> sipcall.key_id('$SipcallDump::KEY')}),
		'0', "$label: key_id matches every number written before the update");
	works_like_the_source($node, $db, $label);

	# the updated database rotates its key
	$node->safe_psql($db, qq{
SET client_min_messages = warning;
CALL sipcall.rotate_key('$SipcallDump::KEY', 'upgrade-new-key', 50);});
	is($node->safe_psql($db, q{
		SELECT count(*) FILTER (WHERE encode(substring(destination_number_enc FROM 7 FOR 4), 'hex')
		                              <> sipcall.key_id('upgrade-new-key'))
		       || ' ' || count(*) FILTER (WHERE sipcall.decrypt_data(destination_number_enc, 'upgrade-new-key') IS NULL)
		       || ' ' || (SELECT status FROM sipcall.key_rotations ORDER BY id DESC LIMIT 1)
		  FROM sipcall.calls}),
		'0 0 finished', "$label: rotate_key moves every number to the new key");

	# (c) dump and restore of the updated database
	my $again = snapshot($node, $db);
	restore_psql($node, $db, "${db}_copy", "$label, dumped");
	same_as($node, "${db}_copy", $again, "$label, dumped");
	same_catalog(catalog("${db}_copy"), catalog($db), "$label, dumped: the same catalog",
		'the restored copy', 'the updated database');
}

$node->stop;
done_testing();
