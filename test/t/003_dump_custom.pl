# The DBA's procedure, with no extra option or step: pg_dump -Fc db -f
# f.dump, createdb new, pg_restore -d new f.dump; and the same with
# pg_restore -j 4 (the data of several tables loaded at once, in the order
# the dump's dependencies allow).  Each twice in a row, as in
# 002_dump_plain.pl.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SipcallDump;

my $node = new_node('custom');
fill($node, 'src');

for my $run ([ 'serial', 'c' ], [ 'parallel', 'j', '-j', '4' ])
{
	my ($mode, $prefix, @opts) = @$run;
	my $from = 'src';
	# Not yet: pg_restore -j loads the data of tables in any order (the
	# largest first), and the foreign keys between sipcall's tables, made by
	# CREATE EXTENSION before any data, reject rows loaded before those they
	# refer to.  pg_dump orders extension tables' data by their foreign keys
	# in the archive's order only, not in its dependencies, which are all
	# that pg_restore -j follows.  See README, "Backup and restore".
	# (the checks run in SipcallDump's package, whose $TODO Test::More reads)
	local $SipcallDump::TODO = $mode eq 'parallel'
	  ? 'pg_restore -j: data loaded in any order, foreign keys made before it' : undef;
	for my $gen (1, 2)
	{
		my $to = "$prefix$gen";
		my $label = "pg_restore @opts, generation $gen";
		my $before = snapshot($node, $from);
		restore_custom($node, $from, $to, $label, @opts);
		same_as($node, $to, $before, $label);
		works_like_the_source($node, $to, $label);
		$from = $to;
	}
}

$node->stop;
done_testing();
