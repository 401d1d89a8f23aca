--
-- The incremental daily summary: change tracking on calls, refresh,
-- rebuild.  Uses calls of 2001 only (days are UTC days; this session runs
-- in PST8PDT, so local and UTC days differ in the evening).
--
SET client_min_messages = warning;

SELECT sipcall.create_partition('sipcall.calls', '2001-03-01');
SELECT sipcall.create_partition('sipcall.calls', '2001-04-01');

-- bring the summary up to date with whatever other tests left
SELECT sipcall.refresh_daily_summary();

-- from-scratch aggregation of the 2001 calls, and the differences
CREATE TEMP VIEW summary_diff AS
WITH truth AS (
    SELECT (initiated_at AT TIME ZONE 'UTC')::date AS call_date,
           count(*) AS total_calls,
           count(*) FILTER (WHERE status = 'completed') AS completed_calls,
           round(avg(duration_seconds)) AS avg_duration,
           sum(cost_cents) AS total_cost_cents
      FROM sipcall.calls
     WHERE initiated_at >= '2001-01-01 00:00+00' AND initiated_at < '2002-01-01 00:00+00'
     GROUP BY 1),
mine AS (
    SELECT * FROM sipcall.daily_call_summary
     WHERE call_date >= '2001-01-01' AND call_date < '2002-01-01')
(SELECT 'missing' AS what, * FROM (TABLE truth EXCEPT TABLE mine) a)
UNION ALL
(SELECT 'extra', * FROM (TABLE mine EXCEPT TABLE truth) b)
ORDER BY 2, 1;

INSERT INTO sipcall.users (id, nextcloud_user_id)
VALUES ('00000000-0000-4000-8000-0000000000a1', 'summary-alice'),
       ('00000000-0000-4000-8000-0000000000b2', 'summary-bob');

-- inserts: one statement touching three UTC days, one near UTC midnight
-- (2001-03-10 17:30 PST is 2001-03-11 01:30 UTC)
INSERT INTO sipcall.calls (user_id, destination_number_enc, status, initiated_at,
                           duration_seconds, cost_cents)
VALUES ('00000000-0000-4000-8000-0000000000a1', '\x00', 'completed', '2001-03-10 10:00+00', 60, 10),
       ('00000000-0000-4000-8000-0000000000a1', '\x00', 'completed', '2001-03-10 11:00+00', 90, 15),
       ('00000000-0000-4000-8000-0000000000a1', '\x00', 'failed',    '2001-03-10 17:30 PST', NULL, NULL),
       ('00000000-0000-4000-8000-0000000000b2', '\x00', 'completed', '2001-03-12 09:00+00', 30, 5),
       ('00000000-0000-4000-8000-0000000000b2', '\x00', 'initiated', '2001-03-31 23:59:59+00', NULL, NULL);

-- the dirty days are UTC days
SELECT DISTINCT call_date FROM sipcall.daily_summary_dirty
 WHERE call_date >= '2001-01-01' ORDER BY 1;

SELECT sipcall.refresh_daily_summary();
SELECT count(*) AS dirty_left FROM sipcall.daily_summary_dirty;
SELECT * FROM sipcall.daily_call_summary
 WHERE call_date >= '2001-01-01' AND call_date < '2002-01-01' ORDER BY 1;
SELECT * FROM summary_diff;

-- an update of status, duration and cost
UPDATE sipcall.calls SET status = 'completed', duration_seconds = 45, cost_cents = 7
 WHERE initiated_at = '2001-03-31 23:59:59+00';
SELECT DISTINCT call_date FROM sipcall.daily_summary_dirty ORDER BY 1;
SELECT sipcall.refresh_daily_summary();
SELECT * FROM summary_diff;

-- an update that moves a call to another partition (March -> April):
-- both its old and its new day are dirty
UPDATE sipcall.calls SET initiated_at = '2001-04-02 08:00+00'
 WHERE initiated_at = '2001-03-31 23:59:59+00';
SELECT tableoid::regclass, status FROM sipcall.calls
 WHERE initiated_at = '2001-04-02 08:00+00';
SELECT DISTINCT call_date FROM sipcall.daily_summary_dirty ORDER BY 1;
SELECT sipcall.refresh_daily_summary();
SELECT * FROM sipcall.daily_call_summary
 WHERE call_date >= '2001-03-31' AND call_date < '2001-04-03' ORDER BY 1;
SELECT * FROM summary_diff;

-- a call in a month without a partition lands in the default partition
INSERT INTO sipcall.calls (user_id, destination_number_enc, status, initiated_at, duration_seconds)
VALUES ('00000000-0000-4000-8000-0000000000b2', '\x00', 'completed', '2001-07-04 12:00+00', 100);
SELECT sipcall.refresh_daily_summary();
SELECT * FROM summary_diff;

-- a plain delete
DELETE FROM sipcall.calls WHERE initiated_at = '2001-03-10 11:00+00';
SELECT sipcall.refresh_daily_summary();
SELECT * FROM summary_diff;

-- erasure: deleting a user cascades to their calls, whose days go
DELETE FROM sipcall.users WHERE id = '00000000-0000-4000-8000-0000000000b2';
SELECT DISTINCT call_date FROM sipcall.daily_summary_dirty ORDER BY 1;
SELECT sipcall.refresh_daily_summary();
SELECT * FROM sipcall.daily_call_summary
 WHERE call_date >= '2001-01-01' AND call_date < '2002-01-01' ORDER BY 1;
SELECT * FROM summary_diff;

-- retention deletes with session_replication_role = replica: the day
-- keeps its last figures, even through later refreshes
SET session_replication_role = replica;
DELETE FROM sipcall.calls WHERE initiated_at < '2001-03-11 00:00+00';
-- (with triggers off, the key registry is retention's to clean too)
DELETE FROM sipcall.call_keys
 WHERE initiated_at >= '2001-01-01 00:00+00' AND initiated_at < '2001-03-11 00:00+00';
RESET session_replication_role;
SELECT count(*) AS dirty_after_retention FROM sipcall.daily_summary_dirty;
SELECT sipcall.refresh_daily_summary();
SELECT * FROM sipcall.daily_call_summary
 WHERE call_date >= '2001-01-01' AND call_date < '2002-01-01' ORDER BY 1;
-- ... and the full rebuild forgets it
SELECT sipcall.rebuild_daily_summary() > 0 AS rebuilt;
SELECT * FROM sipcall.daily_call_summary
 WHERE call_date >= '2001-01-01' AND call_date < '2002-01-01' ORDER BY 1;
SELECT * FROM summary_diff;

-- a change in a rolled-back subtransaction leaves nothing behind
BEGIN;
SAVEPOINT s;
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at)
VALUES ('00000000-0000-4000-8000-0000000000a1', '\x00', '2001-03-20 12:00+00');
ROLLBACK TO s;
COMMIT;
SELECT count(*) AS dirty_after_rollback FROM sipcall.daily_summary_dirty;

-- the trigger function refuses to be used any other way
CREATE TEMP TABLE t (initiated_at timestamptz);
CREATE TRIGGER t BEFORE INSERT ON t FOR EACH ROW
    EXECUTE FUNCTION sipcall.calls_track_trigger();
INSERT INTO t VALUES (now());
DROP TABLE t;

-- refresh and rebuild are not for everyone
SELECT has_function_privilege('public', 'sipcall.refresh_daily_summary()', 'EXECUTE') AS public_may_refresh,
       has_function_privilege('public', 'sipcall.rebuild_daily_summary()', 'EXECUTE') AS public_may_rebuild;

-- clean up
DELETE FROM sipcall.users WHERE id = '00000000-0000-4000-8000-0000000000a1';
SELECT sipcall.refresh_daily_summary();
SELECT count(*) AS my_days_left FROM sipcall.daily_call_summary
 WHERE call_date >= '2001-01-01' AND call_date < '2002-01-01';
