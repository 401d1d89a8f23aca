--
-- Partition lifecycle and retention: configuration checks, premake, drain,
-- the default_partition_rows view, and the three cleanups.
--
-- Times are built on the UTC clock, relative to now(); the output shows
-- counts and booleans only.  The session runs in PST8PDT (pg_regress).
--

-- ok, or the SQLSTATE and message of the error sql raises
CREATE FUNCTION pg_temp.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END;
$$;

-- the moment this file started at minus iv on the UTC clock, as sipcall
-- computes cutoffs: rows are placed and months are named from one moment,
-- so a month that begins while the file runs moves nothing (the cleanups'
-- own cutoffs are seconds later, well inside the minute of margin the
-- boundary rows keep)
CREATE TEMP TABLE test_clock AS SELECT now() AS started_at;
CREATE FUNCTION pg_temp.ago(iv interval) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT ((started_at AT TIME ZONE 'UTC') - iv) AT TIME ZONE 'UTC' FROM test_clock
$$;

-- the partition of tbl for the UTC month holding ts
CREATE FUNCTION pg_temp.part_of(tbl text, ts timestamptz) RETURNS regclass
LANGUAGE sql STABLE AS $$
    SELECT to_regclass(format('sipcall.%s_y%s', tbl,
                              to_char(ts AT TIME ZONE 'UTC', 'YYYY"m"MM')))
$$;

-- start from a clean slate: nothing expired, nothing in default partitions
SELECT sipcall.drain_default_partitions() >= 0 AS drained;
SELECT sipcall.cleanup_old_call_events() >= 0 AS cleaned,
       sipcall.cleanup_old_audit_logs() >= 0 AS cleaned;

--
-- Configuration is checked when it is written.
--
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '"soon"'
                      WHERE config_key = 'retention.call_events'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '"0 days"'
                      WHERE config_key = 'retention.call_events'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '"-3 months"'
                      WHERE config_key = 'retention.audit_logs'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '90'
                      WHERE config_key = 'retention.audit_logs'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = 'null'
                      WHERE config_key = 'retention.call_events'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '"5000 years"'
                      WHERE config_key = 'retention.audit_logs'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '["1 year"]'
                      WHERE config_key = 'retention.calls'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '"1 day -2 days"'
                      WHERE config_key = 'retention.calls'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '0'
                      WHERE config_key = 'partition.premake_months'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '25'
                      WHERE config_key = 'partition.premake_months'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '2.5'
                      WHERE config_key = 'partition.premake_months'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '"3"'
                      WHERE config_key = 'partition.premake_months'$$);
-- an INSERT is checked too (and would replace the installed default)
SELECT pg_temp.try($$INSERT INTO sipcall.system_config (config_key, config_value)
                     VALUES ('retention.call_events', '"a fortnight"')$$);
-- nothing changed
SELECT config_key, config_value, is_default FROM sipcall.system_config
 WHERE config_key LIKE 'retention.%' OR config_key LIKE 'partition.%' ORDER BY 1;
-- good values pass: ISO 8601, mixed units, null for calls, 1 and 24 months
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '"P1Y"'
                      WHERE config_key = 'retention.audit_logs'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '"1 year 2 days 3 hours"'
                      WHERE config_key = 'retention.calls'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = 'null'
                      WHERE config_key = 'retention.calls'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '24'
                      WHERE config_key = 'partition.premake_months'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '1'
                      WHERE config_key = 'partition.premake_months'$$);
-- a value means the same whatever IntervalStyle writes or reads it (issue
-- 14, review F6): "-1 25:00:00" is an hour in IntervalStyle postgres but
-- minus two days and an hour in sql_standard, which a database's owner may
-- make the default of every session and of the worker; sipcall always
-- reads the postgres way
SET IntervalStyle = sql_standard;
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '"-1 25:00:00"'
                      WHERE config_key = 'retention.audit_logs'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '"1 -25:00:00"'
                      WHERE config_key = 'retention.audit_logs'$$);
RESET IntervalStyle;
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '"1 -25:00:00"'
                      WHERE config_key = 'retention.audit_logs'$$);
SELECT pg_temp.try($$UPDATE sipcall.system_config SET config_value = '"P1Y"'
                      WHERE config_key = 'retention.audit_logs'$$);
-- an INSERT of a key replaces its installed default (system_config_defaults)
SELECT pg_temp.try($$INSERT INTO sipcall.system_config (config_key, config_value)
                     VALUES ('retention.call_events', '"90 days"')$$);
SELECT count(*), bool_and(NOT is_default) AS user_row FROM sipcall.system_config
 WHERE config_key = 'retention.call_events';
-- other keys are not sipcall's to check
SELECT pg_temp.try($$INSERT INTO sipcall.system_config (config_key, config_value)
                     VALUES ('retention_test.app_setting', '{"anything": [1, 2]}')$$);
DELETE FROM sipcall.system_config WHERE config_key = 'retention_test.app_setting';
-- a bad value that got in with the check disabled makes the cleanup fail
ALTER TABLE sipcall.system_config DISABLE TRIGGER system_config_validate;
UPDATE sipcall.system_config SET config_value = '"never"'
 WHERE config_key = 'retention.audit_logs';
ALTER TABLE sipcall.system_config ENABLE TRIGGER system_config_validate;
SELECT pg_temp.try('SELECT sipcall.cleanup_old_audit_logs()');
UPDATE sipcall.system_config SET config_value = '"1 year"'
 WHERE config_key = 'retention.audit_logs';

--
-- Premake: the current UTC month and the next partition.premake_months.
--
UPDATE sipcall.system_config SET config_value = '5'
 WHERE config_key = 'partition.premake_months';
-- one transaction, so that the months counted, premade and checked are
-- those of one moment (premake reads the transaction's start time), also
-- when a month begins while the test runs
BEGIN;
CREATE TEMP TABLE missing AS
SELECT count(*) AS n
  FROM unnest(ARRAY['calls', 'call_events', 'audit_logs']) t,
       generate_series(0, 5) i
 WHERE pg_temp.part_of(t, ((now() AT TIME ZONE 'UTC') + i * interval '1 month') AT TIME ZONE 'UTC') IS NULL;
SELECT sipcall.premake_partitions() = (SELECT n FROM missing) AS made_the_missing;
SELECT sipcall.premake_partitions() AS made_again;
SELECT count(*) AS present
  FROM unnest(ARRAY['calls', 'call_events', 'audit_logs']) t,
       generate_series(0, 5) i
 WHERE pg_temp.part_of(t, ((now() AT TIME ZONE 'UTC') + i * interval '1 month') AT TIME ZONE 'UTC') IS NOT NULL;
COMMIT;
-- new partitions are not extension members (pg_dump dumps them whole);
-- the default partition is
SELECT i.inhrelid::regclass AS member
  FROM pg_inherits i JOIN pg_depend d ON d.objid = i.inhrelid
 WHERE i.inhparent = 'sipcall.audit_logs'::regclass
   AND d.classid = 'pg_class'::regclass AND d.deptype = 'e';
UPDATE sipcall.system_config SET config_value = '3'
 WHERE config_key = 'partition.premake_months';

--
-- The default partitions, and draining them.
--
INSERT INTO sipcall.audit_logs (action, "timestamp")
SELECT 'retention_test', pg_temp.ago(-interval '30 months') + i * interval '1 hour'
  FROM generate_series(1, 3) i;
INSERT INTO sipcall.audit_logs (action, "timestamp")
SELECT 'retention_test', pg_temp.ago(interval '40 months') + i * interval '1 hour'
  FROM generate_series(1, 2) i;
SELECT table_name, default_partition, row_count FROM sipcall.default_partition_rows;
SELECT sipcall.drain_default_partitions() AS rows_moved;
SELECT table_name, row_count FROM sipcall.default_partition_rows;
SELECT pg_temp.part_of('audit_logs', pg_temp.ago(-interval '30 months')) IS NOT NULL AS future_made,
       pg_temp.part_of('audit_logs', pg_temp.ago(interval '40 months')) IS NOT NULL AS past_made;
SELECT count(*) AS rows_kept FROM sipcall.audit_logs WHERE action = 'retention_test';
SELECT sipcall.drain_default_partitions() AS moved_again;

--
-- Retention of call events: 90 days.
--
INSERT INTO sipcall.users (id, nextcloud_user_id)
VALUES ('5e7e0000-0000-4000-8000-000000000001', 'retention-test');

-- partitions back in time; the month of 400 days ago has none (default)
SELECT count(sipcall.create_partition(t::regclass, (pg_temp.ago(a) AT TIME ZONE 'UTC')::date))
  FROM unnest(ARRAY['sipcall.calls', 'sipcall.call_events']) t,
       unnest(ARRAY[interval '200 days', interval '91 days', interval '90 days',
                    interval '89 days']) a;

CREATE TEMP TABLE ev_times (label text, ts timestamptz, n integer);
INSERT INTO ev_times VALUES
    ('400 days',        pg_temp.ago(interval '400 days'), 2),
    ('200 days',        pg_temp.ago(interval '200 days'), 3),
    ('91 days',         pg_temp.ago(interval '91 days'), 2),
    ('cutoff - 1 min',  pg_temp.ago(interval '90 days') - interval '1 minute', 1),
    ('cutoff + 1 min',  pg_temp.ago(interval '90 days') + interval '1 minute', 1),
    ('89 days',         pg_temp.ago(interval '89 days'), 2),
    ('now',             now(), 1);
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
SELECT gen_random_uuid(), '5e7e0000-0000-4000-8000-000000000001', '\x00', ts
  FROM ev_times;
INSERT INTO sipcall.call_events (call_id, event_type, "timestamp")
SELECT c.id, 'retention_test', c.initiated_at
  FROM ev_times e JOIN sipcall.calls c ON c.initiated_at = e.ts,
       generate_series(1, e.n);
SELECT row_count AS events_in_default FROM sipcall.default_partition_rows
 WHERE table_name = 'call_events';

SELECT sipcall.cleanup_old_call_events() AS events_removed;
SELECT e.label, count(ce.id) AS left
  FROM ev_times e LEFT JOIN sipcall.call_events ce
       ON ce."timestamp" = e.ts AND ce.event_type = 'retention_test'
 GROUP BY e.label, e.ts ORDER BY e.ts;
SELECT pg_temp.part_of('call_events', pg_temp.ago(interval '200 days')) IS NULL AS expired_month_dropped,
       pg_temp.part_of('call_events', pg_temp.ago(interval '89 days')) IS NOT NULL AS kept_month_kept,
       pg_temp.part_of('calls', pg_temp.ago(interval '200 days')) IS NOT NULL AS calls_untouched;
SELECT count(*) AS calls_left FROM sipcall.calls
 WHERE user_id = '5e7e0000-0000-4000-8000-000000000001';
SELECT sipcall.cleanup_old_call_events() AS removed_again;

-- The rows of an expired month are counted exactly, whichever way: through
-- its smallest index where VACUUM marked the heap pages all-visible (with
-- the pages changed since then counted tuple by tuple), or page by page.
-- (The times are fixed once: a slow run must not shift the ranges.)
SELECT pg_temp.ago(interval '300 days') AS t300 \gset
SELECT count(sipcall.create_partition('sipcall.call_events', (pg_temp.ago(a) AT TIME ZONE 'UTC')::date))
  FROM unnest(ARRAY[interval '300 days', interval '330 days']) a;
INSERT INTO sipcall.call_events (call_id, event_type, event_data, "timestamp")
SELECT c.id, 'count_test', jsonb_build_object('i', i),
       :'t300'::timestamptz + i * interval '1 second'
  FROM (SELECT id FROM sipcall.calls
         WHERE user_id = '5e7e0000-0000-4000-8000-000000000001' LIMIT 1) c,
       generate_series(1, 4000) i;
-- the month of 300 days: all-visible, then partly deleted and updated
VACUUM (FREEZE) sipcall.call_events;
SELECT relallvisible > 0 AS all_visible_marked
  FROM pg_class WHERE oid = pg_temp.part_of('call_events', :'t300'::timestamptz);
DELETE FROM sipcall.call_events
 WHERE event_type = 'count_test'
   AND "timestamp" BETWEEN :'t300'::timestamptz
                       AND :'t300'::timestamptz + interval '500 seconds';
UPDATE sipcall.call_events SET event_data = '{"updated": true}'
 WHERE event_type = 'count_test' AND "timestamp" > :'t300'::timestamptz + interval '3900 seconds'
   AND "timestamp" < :'t300'::timestamptz + interval '1 day';
-- the month of 330 days: never vacuumed, counted page by page
INSERT INTO sipcall.call_events (call_id, event_type, "timestamp")
SELECT call_id, event_type, "timestamp" - interval '30 days' FROM sipcall.call_events
 WHERE event_type = 'count_test';
DELETE FROM sipcall.call_events
 WHERE event_type = 'count_test'
   AND "timestamp" BETWEEN (:'t300'::timestamptz - interval '30 days')
                       AND (:'t300'::timestamptz - interval '30 days') + interval '1000 seconds';
SELECT count(*) AS expired_rows FROM sipcall.call_events
 WHERE "timestamp" < pg_temp.ago(interval '90 days');
SELECT sipcall.cleanup_old_call_events() AS events_removed;
SELECT count(*) AS expired_left FROM sipcall.call_events
 WHERE "timestamp" < pg_temp.ago(interval '90 days');

--
-- Retention of audit logs: 1 year.
--
SELECT sipcall.create_partition('sipcall.audit_logs',
                                (pg_temp.ago(interval '2 years') AT TIME ZONE 'UTC')::date)
       IS NOT NULL AS made;
INSERT INTO sipcall.audit_logs (action, "timestamp") VALUES
    ('retention_test', pg_temp.ago(interval '2 years')),
    ('retention_test', pg_temp.ago(interval '1 year') - interval '1 minute'),
    ('retention_test', pg_temp.ago(interval '1 year') + interval '1 minute'),
    ('retention_test', now());
-- 2 drained rows of 40 months ago, 2 years ago, and the minute before the cutoff
SELECT sipcall.cleanup_old_audit_logs() AS audit_removed;
SELECT count(*) AS audit_left,
       bool_and("timestamp" >= pg_temp.ago(interval '1 year')) AS all_newer
  FROM sipcall.audit_logs WHERE action = 'retention_test';
SELECT pg_temp.part_of('audit_logs', pg_temp.ago(interval '2 years')) IS NULL AS dropped,
       pg_temp.part_of('audit_logs', pg_temp.ago(interval '40 months')) IS NULL AS dropped;

--
-- Retention of calls: off by default; when set, calls go with their events
-- and keys, and without firing triggers (the daily summary keeps them).
--
SELECT sipcall.cleanup_old_calls() AS calls_removed_when_unset;
UPDATE sipcall.system_config SET config_value = '"180 days"'
 WHERE config_key = 'retention.calls';
SELECT sipcall.cleanup_old_calls() >= 0 AS cleaned;

SELECT sipcall.create_partition('sipcall.calls',
                                (pg_temp.ago(interval '400 days') AT TIME ZONE 'UTC')::date)
       IS NOT NULL AS made;
CREATE TEMP TABLE call_times (label text, ts timestamptz, gone boolean);
INSERT INTO call_times VALUES
    ('400 days',        pg_temp.ago(interval '400 days'), true),
    ('300 days',        pg_temp.ago(interval '300 days'), true),
    ('cutoff - 1 min',  pg_temp.ago(interval '180 days') - interval '1 minute', true),
    ('cutoff + 1 min',  pg_temp.ago(interval '180 days') + interval '1 minute', false);
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, call_uuid, initiated_at)
SELECT gen_random_uuid(), '5e7e0000-0000-4000-8000-000000000001', '\x00',
       'retention-test-' || label, ts
  FROM call_times;
-- two events per call, one of them months after the call
INSERT INTO sipcall.call_events (call_id, event_type, "timestamp")
SELECT c.id, 'retention_calls', c.initiated_at + d
  FROM call_times t JOIN sipcall.calls c ON c.initiated_at = t.ts,
       unnest(ARRAY[interval '1 minute', interval '150 days']) d;

CREATE TABLE public.retention_trigger_log (op text);
CREATE FUNCTION public.retention_trigger_log() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.retention_trigger_log VALUES (TG_OP);
    RETURN NULL;
END;
$$;
CREATE TRIGGER retention_test_log AFTER DELETE ON sipcall.calls
    FOR EACH STATEMENT EXECUTE FUNCTION public.retention_trigger_log();

SELECT sipcall.cleanup_old_calls() AS calls_removed;
SELECT t.label, count(c.id) AS calls, t.gone
  FROM call_times t LEFT JOIN sipcall.calls c ON c.initiated_at = t.ts
 GROUP BY t.label, t.ts, t.gone ORDER BY t.ts;
SELECT count(*) AS events_left FROM sipcall.call_events WHERE event_type = 'retention_calls';
SELECT count(*) AS keys_left FROM sipcall.call_keys WHERE call_uuid LIKE 'retention-test-%';
SELECT count(*) AS dangling_events FROM sipcall.call_events e
 WHERE NOT EXISTS (SELECT 1 FROM sipcall.calls c WHERE c.id = e.call_id);
SELECT count(*) AS dangling_keys FROM sipcall.call_keys k
 WHERE NOT EXISTS (SELECT 1 FROM sipcall.calls c WHERE c.id = k.id);
SELECT count(*) AS triggers_fired FROM public.retention_trigger_log;
SELECT pg_temp.part_of('calls', pg_temp.ago(interval '400 days')) IS NULL AS calls_month_dropped;
SELECT sipcall.cleanup_old_calls() AS removed_again;

DROP TRIGGER retention_test_log ON sipcall.calls;
DROP FUNCTION public.retention_trigger_log();
DROP TABLE public.retention_trigger_log;
UPDATE sipcall.system_config SET config_value = 'null'
 WHERE config_key = 'retention.calls';

--
-- Dropped partitions leave nothing behind in the config-dump registration,
-- and the only registered partitions are the default ones.
--
SELECT count(*) AS dangling_extconfig
  FROM pg_extension e, unnest(e.extconfig) o
 WHERE e.extname = 'sipcall' AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = o);
SELECT c.relname AS registered_partitions
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent IN ('sipcall.calls'::regclass, 'sipcall.call_events'::regclass,
                       'sipcall.audit_logs'::regclass)
   AND c.oid = ANY ((SELECT extconfig FROM pg_extension WHERE extname = 'sipcall')::oid[])
 ORDER BY 1;

-- clean up
DELETE FROM sipcall.audit_logs WHERE action = 'retention_test';
DELETE FROM sipcall.users WHERE id = '5e7e0000-0000-4000-8000-000000000001';
SELECT count(*) AS leftovers FROM sipcall.call_events
 WHERE event_type IN ('retention_test', 'retention_calls');
