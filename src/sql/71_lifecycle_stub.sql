/*
 * TEMPORARY lifecycle stub, drop at merge.
 *
 * The lifecycle branch implements these functions (partition upkeep and
 * retention); run_maintenance() calls them by name.  These trivial versions
 * only let the maintenance code be built and tested on its own branch.
 */

CREATE FUNCTION @extschema@.premake_partitions()
RETURNS integer LANGUAGE sql VOLATILE AS 'SELECT 0';
COMMENT ON FUNCTION @extschema@.premake_partitions() IS 'TEMPORARY stub';

CREATE FUNCTION @extschema@.drain_default_partitions()
RETURNS bigint LANGUAGE sql VOLATILE AS 'SELECT 0::bigint';
COMMENT ON FUNCTION @extschema@.drain_default_partitions() IS 'TEMPORARY stub';

CREATE FUNCTION @extschema@.cleanup_old_call_events()
RETURNS integer LANGUAGE sql VOLATILE AS 'SELECT 0';
COMMENT ON FUNCTION @extschema@.cleanup_old_call_events() IS 'TEMPORARY stub';

CREATE FUNCTION @extschema@.cleanup_old_audit_logs()
RETURNS integer LANGUAGE sql VOLATILE AS 'SELECT 0';
COMMENT ON FUNCTION @extschema@.cleanup_old_audit_logs() IS 'TEMPORARY stub';

CREATE FUNCTION @extschema@.cleanup_old_calls()
RETURNS integer LANGUAGE sql VOLATILE AS 'SELECT 0';
COMMENT ON FUNCTION @extschema@.cleanup_old_calls() IS 'TEMPORARY stub';
