/*
 * Partition lifecycle and retention (src/lifecycle.c, src/retention.c).
 * Settings: system_config keys 'partition.premake_months',
 * 'retention.call_events', 'retention.audit_logs', 'retention.calls'
 * (README, "Configuration").
 */

CREATE FUNCTION @extschema@.premake_partitions()
RETURNS integer
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_premake_partitions';

COMMENT ON FUNCTION @extschema@.premake_partitions() IS
    'Makes the missing partitions of calls, call_events and audit_logs for the current UTC month and the next partition.premake_months; returns how many were made';

CREATE FUNCTION @extschema@.drain_default_partitions()
RETURNS bigint
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_drain_default_partitions';

COMMENT ON FUNCTION @extschema@.drain_default_partitions() IS
    'Makes the partition of every month that has rows in a default partition, moving them there; returns how many rows moved';

CREATE FUNCTION @extschema@.cleanup_old_call_events()
RETURNS integer
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_cleanup_old_call_events';

COMMENT ON FUNCTION @extschema@.cleanup_old_call_events() IS
    'Removes call events older than retention.call_events (dropping whole expired months); returns how many rows went';

CREATE FUNCTION @extschema@.cleanup_old_audit_logs()
RETURNS integer
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_cleanup_old_audit_logs';

COMMENT ON FUNCTION @extschema@.cleanup_old_audit_logs() IS
    'Removes audit log entries older than retention.audit_logs (dropping whole expired months); returns how many rows went';

CREATE FUNCTION @extschema@.cleanup_old_calls()
RETURNS integer
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_cleanup_old_calls';

COMMENT ON FUNCTION @extschema@.cleanup_old_calls() IS
    'When retention.calls is set, removes older calls with their events and keys, leaving daily_call_summary as it was; returns how many calls went';

REVOKE ALL ON FUNCTION @extschema@.premake_partitions() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.drain_default_partitions() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.cleanup_old_call_events() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.cleanup_old_audit_logs() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.cleanup_old_calls() FROM PUBLIC;

/* How far premake has fallen behind: rows waiting in the default partitions. */
CREATE VIEW @extschema@.default_partition_rows AS
SELECT 'calls'::pg_catalog.text AS table_name,
       '@extschema@.calls_default'::pg_catalog.regclass AS default_partition,
       (SELECT pg_catalog.count(*) FROM ONLY @extschema@.calls_default) AS row_count
UNION ALL
SELECT 'call_events', '@extschema@.call_events_default'::pg_catalog.regclass,
       (SELECT pg_catalog.count(*) FROM ONLY @extschema@.call_events_default)
UNION ALL
SELECT 'audit_logs', '@extschema@.audit_logs_default'::pg_catalog.regclass,
       (SELECT pg_catalog.count(*) FROM ONLY @extschema@.audit_logs_default);

COMMENT ON VIEW @extschema@.default_partition_rows IS
    'Per partitioned table, the rows sitting in its default partition (not 0: premake fell behind; sipcall.drain_default_partitions() moves them)';

/*
 * Validation of the settings this module owns.  Triggers fire in name
 * order: system_config_defaults, then system_config_validate; an error
 * from either undoes the whole statement.
 */
CREATE FUNCTION @extschema@.system_config_validate_trigger()
RETURNS trigger
LANGUAGE c
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'sipcall_system_config_validate';

REVOKE ALL ON FUNCTION @extschema@.system_config_validate_trigger() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.system_config_validate_trigger() IS
    'Rejects a bad value of partition.premake_months or a retention.* key (22023, naming the key)';

CREATE TRIGGER system_config_validate
    BEFORE INSERT OR UPDATE ON @extschema@.system_config
    FOR EACH ROW EXECUTE FUNCTION @extschema@.system_config_validate_trigger();
