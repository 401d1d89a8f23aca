# Nobody but a superuser drops sipcall, also on a server that does not
# preload it (issue 14).  The check is a hook of the library; a fresh
# session that has not loaded the library yet gets it from the event
# trigger sipcall_drop_guard, which fires at the start of every DDL
# statement and calls into the library.  The app's role owns its database
# and so public, where CREATE EXTENSION sipcall CASCADE put pgcrypto: its
# DROP SCHEMA public CASCADE, as the first statement of a new session,
# must not drop sipcall.  With the event trigger disabled it would (the
# last check shows the test can tell).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('drop_guard');
$node->init;
$node->start;
is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'), '',
	'sipcall is not preloaded');

$node->safe_psql('postgres', q{
CREATE ROLE app LOGIN;
CREATE DATABASE nc OWNER app;
});
$node->safe_psql('nc', 'CREATE EXTENSION sipcall CASCADE');
is($node->safe_psql('nc', q{
	SELECT n.nspname || ' ' || n.nspowner::regrole FROM pg_extension e
	  JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgcrypto'}),
	'public pg_database_owner', 'pgcrypto is in public, which the app owns');

sub app_drops_public
{
	my ($rc, $out, $err) = $node->psql('nc', 'DROP SCHEMA public CASCADE',
		extra_params => [ '-U', 'app' ]);
	return $err;
}
sub sipcall_count
{
	return $node->safe_psql('nc',
		q{SELECT count(*) FROM pg_extension WHERE extname IN ('sipcall', 'pgcrypto')});
}

like(app_drops_public(), qr/only a superuser may drop extension "sipcall"/,
	'a new session of the app cannot drop sipcall by a cascade');
is(sipcall_count(), '2', 'sipcall and pgcrypto are still there');

# the same attack, with the event trigger off: the library is not loaded in
# the app's new session, and the drop goes through
$node->safe_psql('nc', 'ALTER EVENT TRIGGER sipcall_drop_guard DISABLE');
unlike(app_drops_public(), qr/only a superuser/,
	'without the event trigger, nothing stops it');
is(sipcall_count(), '0', 'and sipcall is gone: the event trigger is what loads the check');

$node->stop;
done_testing();
