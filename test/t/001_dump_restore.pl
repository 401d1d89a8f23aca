# The README's own procedure ("Backup and restore", the one documented
# before the standard tools worked unchanged) keeps working: pg_dump
# --load-via-partition-root, psql --single-transaction with SET CONSTRAINTS
# ALL DEFERRED, then drain_default_partitions().  Twice in a row, with the
# source and the checks of SipcallDump.pm.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SipcallDump;

my $node = new_node('dump');
fill($node, 'src');

my $from = 'src';
for my $gen (1, 2)
{
	my $to = "copy$gen";
	my $label = "README procedure, generation $gen";
	my $before = snapshot($node, $from);
	my $file = "$PostgreSQL::Test::Utils::tmp_check/$to.sql";
	my @rc = run_quiet('pg_dump', '--load-via-partition-root', '-f', $file,
		$node->connstr($from));
	is("$rc[0] $rc[2]", '0 ', "$label: pg_dump --load-via-partition-root");
	@rc = run_quiet('createdb', '-h', $node->host, '-p', $node->port, $to);
	is("$rc[0] $rc[2]", '0 ', "$label: createdb");
	@rc = run_quiet('psql', '-X', '--single-transaction', '-v', 'ON_ERROR_STOP=1',
		'-c', 'SET CONSTRAINTS ALL DEFERRED', '-f', $file, $node->connstr($to));
	is($rc[0], 0, "$label: psql exits with 0");
	is($rc[2], '', "$label: psql reports no error");
	@rc = run_quiet('psql', '-X', '-c', 'SELECT sipcall.drain_default_partitions()',
		$node->connstr($to));
	is("$rc[0] $rc[2]", '0 ', "$label: drain_default_partitions()");

	# the drain has moved the rows of the default partitions into partitions
	# of their months (works_like_the_source checks where every row is)
	delete $before->{$_} for grep { /partition/ } keys %$before;
	same_as($node, $to, $before, $label);
	works_like_the_source($node, $to, $label);
	$from = $to;
}

$node->stop;
done_testing();
