# The Nextcloud admin manual's procedure, with no extra option or step:
# pg_dump db -f f.sql, createdb new, psql -d new -f f.sql (each statement in
# its own transaction, triggers on, the dump's own order).  Every row of
# every table comes back with no error, twice in a row (the copy's dump
# restored again), and the copy works (SipcallDump.pm).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SipcallDump;

my $node = new_node('plain');
fill($node, 'src');

my $before = snapshot($node, 'src');
restore_psql($node, 'src', 'copy1', 'first restore');
same_as($node, 'copy1', $before, 'first restore');
works_like_the_source($node, 'copy1', 'first restore');

# the copy, changed by the checks (maintenance, an export), dumped again
$before = snapshot($node, 'copy1');
restore_psql($node, 'copy1', 'copy2', 'second restore');
same_as($node, 'copy2', $before, 'second restore');
works_like_the_source($node, 'copy2', 'second restore');

$node->stop;
done_testing();
