# The maintenance worker and streaming replication: on a hot standby it
# does not run (a standby cannot write) and logs nothing; after promotion
# it starts and runs cycles on the new primary.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

$PostgreSQL::Test::Utils::timeout_default = 60;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sipcall'
sipcall.database = 'postgres'
sipcall.maintenance_interval = 1
});
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION sipcall CASCADE');
ok($primary->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM sipcall.maintenance_log WHERE run_by = 'worker' AND finished_at IS NOT NULL"),
	'the primary runs maintenance');

$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

my $offset = -s $standby->logfile;
sleep 3;    # three intervals on the standby
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'sipcall maintenance'"),
	'0', 'no maintenance worker on the standby');
my $log = slurp_file($standby->logfile);
unlike($log, qr/(ERROR|WARNING|FATAL|PANIC)/, 'the standby logs no error');
unlike($log, qr/sipcall maintenance worker started/, 'the standby starts no worker');

# promote: the worker starts and does the maintenance of the new primary
$primary->stop('fast');
$standby->promote;
my $promoted_at = $standby->safe_psql('postgres', 'SELECT now()');
ok($standby->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'sipcall maintenance'"),
	'the worker starts after promotion');
ok($standby->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM sipcall.maintenance_log
		  WHERE run_by = 'worker' AND finished_at IS NOT NULL AND error IS NULL
		    AND started_at >= '$promoted_at'"),
	'the promoted server runs maintenance cycles');
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM sipcall.maintenance_log WHERE finished_at IS NULL
		    AND id < (SELECT max(id) FROM sipcall.maintenance_log)"),
	'0', 'no cycle is left looking unfinished (one the old primary left running is marked interrupted)');
$standby->stop('fast');

done_testing();
