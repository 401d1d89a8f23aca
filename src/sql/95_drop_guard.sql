/*
 * Nobody but a superuser drops sipcall, not even by a cascade from what
 * it depends on: pgcrypto, which the app's role may own (it is trusted),
 * or the schema pgcrypto lives in, which the app's role may own (public,
 * in a database it owns).  The check is a hook of the library (see
 * dropguard.c); this event trigger, at the start of every DDL statement,
 * makes sure the library is loaded when sipcall is not preloaded.  It
 * fires whatever session_replication_role says; only superusers can
 * disable it.
 */
CREATE FUNCTION @extschema@.drop_guard()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'sipcall_drop_guard'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.drop_guard() IS
    'Event trigger function: loads sipcall''s library before DDL, so that its check that only a superuser drops sipcall is in place';

REVOKE ALL ON FUNCTION @extschema@.drop_guard() FROM PUBLIC;

CREATE EVENT TRIGGER sipcall_drop_guard ON ddl_command_start
    EXECUTE FUNCTION @extschema@.drop_guard();
ALTER EVENT TRIGGER sipcall_drop_guard ENABLE ALWAYS;
