--
-- Issue 16, item 7: the daily summary tracks changes made through a
-- partition of calls too.  The change tracking is statement triggers,
-- which fire only on the table a statement names: DML aimed at
-- calls_default or a monthly partition went unseen.  Uses calls of 2002
-- only (days are UTC days).
--
SET client_min_messages = warning;

SELECT sipcall.create_partition('sipcall.calls', '2002-06-01');
SELECT sipcall.refresh_daily_summary();

INSERT INTO sipcall.users (id, nextcloud_user_id)
VALUES ('9f000000-0000-4000-8000-000000000001', 'summary_part');

CREATE TEMP VIEW part_summary_diff AS
WITH truth AS (
    SELECT (initiated_at AT TIME ZONE 'UTC')::date AS call_date,
           count(*) AS total_calls,
           count(*) FILTER (WHERE status = 'completed') AS completed_calls,
           round(avg(duration_seconds)) AS avg_duration,
           sum(cost_cents) AS total_cost_cents
      FROM sipcall.calls
     WHERE initiated_at >= '2002-01-01 00:00+00' AND initiated_at < '2003-01-01 00:00+00'
     GROUP BY 1),
mine AS (
    SELECT * FROM sipcall.daily_call_summary
     WHERE call_date >= '2002-01-01' AND call_date < '2003-01-01')
(SELECT 'missing' AS what, * FROM (TABLE truth EXCEPT TABLE mine) a)
UNION ALL
(SELECT 'extra', * FROM (TABLE mine EXCEPT TABLE truth) b)
ORDER BY 2, 1;

-- every partition of calls has the four tracking triggers
SELECT c.relname, count(*) AS track_triggers
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE t.tgname LIKE 'calls\_track\_%'
   AND c.relname IN ('calls', 'calls_default', 'calls_y2002m06')
 GROUP BY 1 ORDER BY 1;

-- INSERT into a monthly partition and into the default partition
INSERT INTO sipcall.calls_y2002m06 (user_id, destination_number_enc, status,
                                    initiated_at, duration_seconds, cost_cents)
VALUES ('9f000000-0000-4000-8000-000000000001', '\x01', 'completed', '2002-06-10 12:00+00', 60, 5),
       ('9f000000-0000-4000-8000-000000000001', '\x01', 'failed', '2002-06-11 12:00+00', NULL, NULL);
INSERT INTO sipcall.calls_default (user_id, destination_number_enc, status,
                                   initiated_at, duration_seconds, cost_cents)
VALUES ('9f000000-0000-4000-8000-000000000001', '\x01', 'completed', '2002-07-01 08:00+00', 30, 2),
       ('9f000000-0000-4000-8000-000000000001', '\x01', 'completed', '2002-07-02 08:00+00', 90, 7);
SELECT sipcall.refresh_daily_summary();
SELECT * FROM part_summary_diff;
SELECT call_date, total_calls FROM sipcall.daily_call_summary
 WHERE call_date >= '2002-01-01' AND call_date < '2003-01-01' ORDER BY 1;

-- UPDATE and DELETE on the partitions
UPDATE sipcall.calls_y2002m06 SET status = 'completed', duration_seconds = 10
 WHERE initiated_at = '2002-06-11 12:00+00';
UPDATE sipcall.calls_default SET cost_cents = 100
 WHERE initiated_at = '2002-07-01 08:00+00';
DELETE FROM sipcall.calls_default WHERE initiated_at = '2002-07-02 08:00+00';
SELECT sipcall.refresh_daily_summary();
SELECT * FROM part_summary_diff;
SELECT call_date, total_calls, completed_calls, total_cost_cents FROM sipcall.daily_call_summary
 WHERE call_date >= '2002-01-01' AND call_date < '2003-01-01' ORDER BY 1;

-- a partition made while calls has no default partition gets them too
BEGIN;
ALTER TABLE sipcall.calls DETACH PARTITION sipcall.calls_default;
SELECT sipcall.create_partition('sipcall.calls', '2002-08-01');
SELECT count(*) AS track_triggers FROM pg_trigger
 WHERE tgrelid = 'sipcall.calls_y2002m08'::regclass AND tgname LIKE 'calls\_track\_%';
ROLLBACK;

-- a statement on calls itself marks a day once, not once more per partition
SELECT sipcall.refresh_daily_summary();
SELECT count(*) AS dirty FROM sipcall.daily_summary_dirty;
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at)
VALUES ('9f000000-0000-4000-8000-000000000001', '\x01', '2002-06-12 12:00+00');
UPDATE sipcall.calls SET status = 'completed' WHERE initiated_at = '2002-06-12 12:00+00';
SELECT call_date, count(*) FROM sipcall.daily_summary_dirty GROUP BY 1 ORDER BY 1;

-- TRUNCATE of a partition
TRUNCATE sipcall.calls_y2002m06;
SELECT sipcall.refresh_daily_summary();
SELECT * FROM part_summary_diff;

-- clean up: nothing of 2002 left, in calls or in the summary
DELETE FROM sipcall.calls_default WHERE user_id = '9f000000-0000-4000-8000-000000000001';
-- (a TRUNCATE of a partition leaves its calls' rows in call_keys)
DELETE FROM sipcall.call_keys WHERE user_id = '9f000000-0000-4000-8000-000000000001';
DELETE FROM sipcall.users WHERE id = '9f000000-0000-4000-8000-000000000001';
DROP TABLE sipcall.calls_y2002m06;
SELECT sipcall.refresh_daily_summary();
SELECT count(*) AS left_2002 FROM sipcall.daily_call_summary
 WHERE call_date >= '2002-01-01' AND call_date < '2003-01-01';
