# pg_upgrade from one PostgreSQL 15 cluster to a new one (the binary-upgrade
# path every major upgrade takes: pg_dump --binary-upgrade for the schema,
# then the data files), first in copy mode (the default), then the upgraded
# cluster again with --link.  Every row of every table is kept, the copy
# works, and the background worker's next cycle in it is clean.
use strict;
use warnings;
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SipcallDump;

my $old = new_node('old');
fill($old, 'src');
my $bindir = $old->config_data('--bindir');

my $from = $old;
for my $run ([ 'copy', 'new' ], [ 'link', 'newer', '--link' ])
{
	my ($mode, $name, @opts) = @$run;
	my $before = snapshot($from, 'src');
	my $to = PostgreSQL::Test::Cluster->new($name);
	$to->init;
	$to->append_conf('postgresql.conf', "shared_preload_libraries = 'sipcall'");
	$to->append_conf('postgresql.conf', "sipcall.maintenance_interval = 0");
	$from->stop;

	# pg_upgrade writes its logs and scripts into the current directory
	my $dir = "$PostgreSQL::Test::Utils::tmp_check/upgrade-$mode";
	make_path($dir);
	chdir $dir or die "chdir $dir: $!";
	my @rc = run_quiet('pg_upgrade', '--no-sync',
		'-d', $from->data_dir, '-D', $to->data_dir,
		'-b', $bindir, '-B', $bindir, '-s', $to->host,
		'-p', $from->port, '-P', $to->port, @opts);
	is($rc[0], 0, "pg_upgrade ($mode) exits with 0");
	is($rc[2], '', "pg_upgrade ($mode) reports no error");
	diag($rc[1]) if $rc[0] != 0;

	$to->start;
	same_as($to, 'src', $before, "pg_upgrade ($mode)");
	works_like_the_source($to, 'src', "pg_upgrade ($mode)");
	$from = $to;
}

# the worker, serving the upgraded database, runs a clean cycle
$from->append_conf('postgresql.conf', "sipcall.database = 'src'");
$from->append_conf('postgresql.conf', "sipcall.maintenance_interval = 1");
$from->restart;
ok($from->poll_query_until('src', q{
	SELECT count(*) > 0 FROM sipcall.maintenance_log
	 WHERE run_by = 'worker' AND finished_at IS NOT NULL}),
	'the worker ran a cycle in the upgraded database');
is($from->safe_psql('src', q{
	SELECT count(*) FROM sipcall.maintenance_log
	 WHERE run_by = 'worker' AND (error IS NOT NULL OR result->>'status' <> 'ok')}),
	'0', "the worker's cycles are clean");

$from->stop;
done_testing();
