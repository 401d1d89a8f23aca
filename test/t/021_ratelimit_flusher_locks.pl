# The rate limit flusher and row locks (issue 16, item 4): a row somebody
# holds locked (an application's SELECT ... FOR UPDATE, an operator's open
# UPDATE, an erasure in progress) holds back only its own key; every other
# key is still written within a second or so, and the locked key is
# written once the lock goes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

$PostgreSQL::Test::Utils::timeout_default = 60;

my $node = PostgreSQL::Test::Cluster->new('flusher_locks');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sipcall'
sipcall.database = 'postgres'
sipcall.maintenance_interval = 0
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION sipcall CASCADE;
INSERT INTO sipcall.users (id, nextcloud_user_id)
SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'fl-' || g
  FROM generate_series(1, 3) g;
});
my $u1 = '00000000-0000-4000-8000-000000000001';
my $u2 = '00000000-0000-4000-8000-000000000002';
my $u3 = '00000000-0000-4000-8000-000000000003';

# poll $sql until it returns 't', for at most $secs seconds
sub wait_for
{
	my ($sql, $secs) = @_;
	my $t0 = time;
	while (time - $t0 < $secs)
	{
		return 1 if $node->safe_psql('postgres', $sql) eq 't';
		usleep(100_000);
	}
	return 0;
}
sub check
{
	my ($user, $endpoint, $n) = @_;
	$node->safe_psql('postgres',
		"SELECT sipcall.check_rate_limit('$user', '$endpoint', 1000) FROM generate_series(1, $n)");
}
sub count_of
{
	my ($user, $endpoint) = @_;
	return "(SELECT request_count FROM sipcall.rate_limits WHERE user_id = '$user' AND endpoint = '$endpoint')";
}

check($u1, 'a', 1);
check($u2, 'b', 1);
ok(wait_for("SELECT count(*) = 2 FROM sipcall.rate_limits", 10), 'both rows written');

# --- an application holds one row FOR UPDATE --------------------------------
my $bg = $node->background_psql('postgres');
$bg->query_safe("BEGIN; SELECT request_count FROM sipcall.rate_limits WHERE user_id = '$u1' AND endpoint = 'a' FOR UPDATE");
check($u1, 'a', 4);
check($u2, 'b', 4);
check($u3, 'new', 2);    # a key with no row yet
ok(wait_for("SELECT " . count_of($u2, 'b') . " = 5 AND " . count_of($u3, 'new') . " = 2", 5),
	'FOR UPDATE on one row: the other keys are written within 5 s');
is($node->safe_psql('postgres', "SELECT " . count_of($u1, 'a')), '1', 'the locked row is left as it is');
check($u2, 'b', 1);
ok(wait_for("SELECT " . count_of($u2, 'b') . " = 6", 5), 'and later counts of other keys too');
$bg->query_safe('COMMIT');
ok(wait_for("SELECT " . count_of($u1, 'a') . " = 5", 5),
	'once the lock goes, the locked key is written');

# --- an operator's open UPDATE (the README's recipe) ------------------------
$bg->query_safe("BEGIN; UPDATE sipcall.rate_limits SET request_count = 0 WHERE user_id = '$u1' AND endpoint = 'a'");
check($u1, 'a', 2);
check($u2, 'b', 3);
ok(wait_for("SELECT " . count_of($u2, 'b') . " = 9", 5),
	'open UPDATE of one row: the other keys are written within 5 s');
$bg->query_safe('COMMIT');
is($node->safe_psql('postgres', "SELECT request_count FROM sipcall.rate_limit_status('$u1', 'a')"),
	'0', 'the committed edit takes effect');

# --- an erasure in progress locks the user's row ----------------------------
check($u3, 'other', 1);
ok(wait_for("SELECT " . count_of($u3, 'other') . " = 1", 5), 'row of the user to erase written');
$bg->query_safe("BEGIN; SELECT sipcall.delete_user_data('$u3')");
check($u3, 'later', 1);    # counted before the erasure commits: a new row
check($u2, 'b', 1);
ok(wait_for("SELECT " . count_of($u2, 'b') . " = 10", 5),
	'erasure in progress: the other keys are written within 5 s');
$bg->query_safe('ROLLBACK');
ok(wait_for("SELECT " . count_of($u3, 'later') . " = 1", 5),
	'after the erasure rolled back, the new row of its user is written');
$bg->quit;

ok(!$node->log_contains('terminated by signal'), 'no crash');
$node->stop;
done_testing();
