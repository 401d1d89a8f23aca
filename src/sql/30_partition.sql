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

/* Partitions for the current month and the next three (UTC). */
SELECT @extschema@.create_partition(t, (m.month)::date)
  FROM unnest(ARRAY['@extschema@.calls', '@extschema@.call_events',
                    '@extschema@.audit_logs']::regclass[]) AS t,
       generate_series(date_trunc('month', now() AT TIME ZONE 'UTC'),
                       date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months',
                       interval '1 month') AS m(month);
