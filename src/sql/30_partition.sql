/*
 * Monthly partitions (src/partition.c) and their lifecycle: premaking
 * and draining the default partitions (src/lifecycle.c, setting
 * 'partition.premake_months').
 */

CREATE FUNCTION @extschema@.create_partition(parent regclass, for_date date)
RETURNS regclass
LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_create_partition';

COMMENT ON FUNCTION @extschema@.create_partition(regclass, date) IS
    'Creates, if missing, the monthly (UTC) partition of calls, call_events or audit_logs holding for_date, moving its rows out of the default partition; returns it';

REVOKE ALL ON FUNCTION @extschema@.create_partition(regclass, date) FROM PUBLIC;

/*
 * No monthly partition is made here: what CREATE EXTENSION makes from
 * now() would differ between the day of a dump and the day of its
 * restore, and the restore's CREATE TABLE of a month made here would fail.
 * The first maintenance cycle (premake_partitions) or create_partition
 * makes them; rows arriving before wait in the default partitions and are
 * moved by the next drain.
 */

/*---- lifecycle ----*/

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

REVOKE ALL ON FUNCTION @extschema@.premake_partitions() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.drain_default_partitions() FROM PUBLIC;

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
