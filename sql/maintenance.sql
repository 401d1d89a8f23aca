--
-- run_maintenance(): the shape of its result, the log, a failing step.
-- (The steps' own figures belong to the modules that implement them.)
--
SET client_min_messages = warning;

-- a cycle: six steps in order, each with a status and a duration
SELECT r->>'status' AS status, r->>'run_by' AS run_by,
       jsonb_typeof(r->'duration_ms') AS duration, r ? 'started_at' AS has_start
  FROM sipcall.run_maintenance() AS r;

CREATE TEMP TABLE cycle AS SELECT sipcall.run_maintenance() AS r;
SELECT s.ord, s.step->>'step' AS step, s.step->>'status' AS status,
       s.step ? 'result' AS has_result,
       jsonb_typeof(s.step->'duration_ms') AS duration
  FROM cycle, jsonb_array_elements(r->'steps') WITH ORDINALITY AS s(step, ord)
 ORDER BY s.ord;

-- it was recorded, as a manual run, with exactly that result
SELECT l.run_by, l.error, l.finished_at >= l.started_at AS finished,
       l.result = c.r AS same_result
  FROM sipcall.maintenance_log l, cycle c
 WHERE l.id = (SELECT max(id) FROM sipcall.maintenance_log);

-- pg_cron is recognised by its application_name
SET application_name = 'pg_cron';
SELECT sipcall.run_maintenance()->>'run_by' AS run_by;
RESET application_name;
SELECT run_by FROM sipcall.maintenance_log ORDER BY id DESC LIMIT 1;

-- a failing step (here: the summary refuses its rows) is reported and
-- recorded, and the other steps still run; nothing of it is left half done
INSERT INTO sipcall.users (id, nextcloud_user_id)
VALUES ('00000000-0000-4000-8000-0000000000c3', 'maintenance-carol');
INSERT INTO sipcall.calls (user_id, destination_number_enc, status, initiated_at, duration_seconds)
VALUES ('00000000-0000-4000-8000-0000000000c3', '\x00', 'completed', '2002-05-05 12:00+00', 10);
ALTER TABLE sipcall.daily_call_summary
    ADD CONSTRAINT maintenance_test_fault CHECK (call_date <> '2002-05-05') NOT VALID;
SET client_min_messages = notice;
TRUNCATE cycle;
INSERT INTO cycle SELECT sipcall.run_maintenance();
SET client_min_messages = warning;
SELECT r->>'status' AS status FROM cycle;
SELECT s.step->>'step' AS step, s.step->>'status' AS status,
       s.step->>'sqlstate' AS sqlstate, s.step->>'message' AS message
  FROM cycle, jsonb_array_elements(r->'steps') AS s(step)
 WHERE s.step->>'status' <> 'ok';
SELECT count(*) FILTER (WHERE s.step->>'status' = 'ok') AS steps_ok
  FROM cycle, jsonb_array_elements(r->'steps') AS s(step);
SELECT error FROM sipcall.maintenance_log ORDER BY id DESC LIMIT 1;
-- the failed refresh was rolled back: the day is still dirty, not summarised
SELECT count(*) > 0 AS still_dirty FROM sipcall.daily_summary_dirty WHERE call_date = '2002-05-05';
SELECT count(*) AS summarised FROM sipcall.daily_call_summary WHERE call_date = '2002-05-05';
-- once the fault is gone the next cycle catches up
ALTER TABLE sipcall.daily_call_summary DROP CONSTRAINT maintenance_test_fault;
SELECT sipcall.run_maintenance()->>'status' AS status;
SELECT total_calls, avg_duration FROM sipcall.daily_call_summary WHERE call_date = '2002-05-05';
DELETE FROM sipcall.users WHERE id = '00000000-0000-4000-8000-0000000000c3';
SELECT sipcall.refresh_daily_summary();
SELECT count(*) AS summarised FROM sipcall.daily_call_summary WHERE call_date = '2002-05-05';

-- a cycle runs in the caller's transaction: rolled back, it leaves no log
SELECT max(id) AS last_id INTO TEMP before_rollback FROM sipcall.maintenance_log;
BEGIN;
SELECT sipcall.run_maintenance()->>'status' AS status;
ROLLBACK;
SELECT count(*) AS logged_after_rollback
  FROM sipcall.maintenance_log WHERE id > (SELECT last_id FROM before_rollback);

-- the log keeps itself bounded: old rows and rows beyond the last 10000 go
INSERT INTO sipcall.maintenance_log (started_at, finished_at, run_by, result)
SELECT now() - interval '40 days', now() - interval '40 days', 'manual', '{}'
  FROM generate_series(1, 3);
INSERT INTO sipcall.maintenance_log (started_at, finished_at, run_by, result)
SELECT now(), now(), 'manual', '{}' FROM generate_series(1, 10005);
SELECT sipcall.run_maintenance()->>'status' AS status;
SELECT count(*) AS log_rows,
       count(*) FILTER (WHERE started_at < now() - interval '30 days') AS old_rows
  FROM sipcall.maintenance_log;
DELETE FROM sipcall.maintenance_log;

-- only the worker, pg_cron and manual runs are recorded
\set VERBOSITY terse
INSERT INTO sipcall.maintenance_log (run_by) VALUES ('someone');
\set VERBOSITY default

-- not for everyone
SELECT has_function_privilege('public', 'sipcall.run_maintenance()', 'EXECUTE') AS public_may_run;
