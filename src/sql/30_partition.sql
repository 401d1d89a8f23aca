/*
 * Monthly partitions (src/partition.c).
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
