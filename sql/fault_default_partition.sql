--
-- Issue 16, item 1: a managed table whose default partition an operator
-- has detached.  create_partition and premake used to crash the server
-- (or, later, refuse); a monthly partition is now made as a copy of
-- another partition, and only a table left with no partition at all is a
-- clear error.  Everything runs in transactions that are rolled back.
--
SET client_min_messages = warning;

-- the keys and indexes of a partition, with its own name taken out
CREATE FUNCTION pg_temp.shape(part regclass) RETURNS SETOF text
LANGUAGE sql AS $$
    SELECT replace(pg_get_indexdef(i.indexrelid),
                   (SELECT relname FROM pg_class WHERE oid = part), 'P')
      FROM pg_index i WHERE i.indrelid = part
     ORDER BY 1
$$;

BEGIN;
-- a month made the usual way, from the default partition
SELECT sipcall.create_partition('sipcall.audit_logs', '2001-01-01');
ALTER TABLE sipcall.audit_logs DETACH PARTITION sipcall.audit_logs_default;
-- the crash of the issue: no default partition
SELECT sipcall.create_partition('sipcall.audit_logs', '2001-02-01');
SELECT sipcall.create_partition('sipcall.audit_logs', '2001-02-15');
-- same keys and indexes as the default partition's
SELECT ARRAY(SELECT pg_temp.shape('sipcall.audit_logs_y2001m02'))
       = ARRAY(SELECT pg_temp.shape('sipcall.audit_logs_default')) AS same_shape;
SELECT * FROM pg_temp.shape('sipcall.audit_logs_y2001m02');
-- rows route to it; a row of a month with no partition has nowhere to go
INSERT INTO sipcall.audit_logs (action, "timestamp")
     VALUES ('fault', '2001-02-03 00:00+00') RETURNING tableoid::regclass;
INSERT INTO sipcall.audit_logs (action, "timestamp") VALUES ('fault', '1999-01-01 00:00+00');
ROLLBACK;

-- premake and drain go on for every table, the one without default too
BEGIN;
SELECT sipcall.create_partition('sipcall.call_events', '2001-01-01');
ALTER TABLE sipcall.call_events DETACH PARTITION sipcall.call_events_default;
SELECT sipcall.premake_partitions() >= 0 AS premade;
SELECT t, format('sipcall.%s_y%s', t, to_char(now() AT TIME ZONE 'UTC', 'YYYY"m"MM'))::regclass IS NOT NULL AS current_month
  FROM unnest(ARRAY['calls', 'call_events', 'audit_logs']) t;
SELECT sipcall.drain_default_partitions() >= 0 AS drained;
ROLLBACK;

-- a table left with no partition at all: a clear error, no crash
BEGIN;
ALTER TABLE sipcall.audit_logs DETACH PARTITION sipcall.audit_logs_default;
DO $$
DECLARE p regclass;
BEGIN
    FOR p IN SELECT inhrelid::regclass FROM pg_inherits
              WHERE inhparent = 'sipcall.audit_logs'::regclass
    LOOP
        EXECUTE format('DROP TABLE %s', p);
    END LOOP;
END
$$;
SELECT sipcall.create_partition('sipcall.audit_logs', '2001-02-01');
ROLLBACK;
BEGIN;
ALTER TABLE sipcall.audit_logs DETACH PARTITION sipcall.audit_logs_default;
DO $$
DECLARE p regclass;
BEGIN
    FOR p IN SELECT inhrelid::regclass FROM pg_inherits
              WHERE inhparent = 'sipcall.audit_logs'::regclass
    LOOP
        EXECUTE format('DROP TABLE %s', p);
    END LOOP;
END
$$;
SELECT sipcall.premake_partitions();
ROLLBACK;

-- the server is still up, the default partition back in place
SELECT inhrelid::regclass FROM pg_inherits
 WHERE inhparent = 'sipcall.audit_logs'::regclass
   AND inhrelid = 'sipcall.audit_logs_default'::regclass;
