--
-- Rate limits: check_rate_limit and rate_limit_status.
--
-- pg_regress preloads sipcall with sipcall.database = contrib_regression, so
-- short endpoints take the shared-memory path; endpoints longer than 64
-- bytes always take the table path.  Both are tested the same way.
--
INSERT INTO sipcall.users (id, nextcloud_user_id) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'rl-alice'),
    ('a0000000-0000-0000-0000-000000000002', 'rl-bob');
CREATE TEMP TABLE rl_ep (path text, endpoint text);
INSERT INTO rl_ep VALUES ('shared', 'call'), ('table', 'call/' || repeat('x', 80));

-- wait (at most 10 s) until the flusher has written what shared memory holds
CREATE FUNCTION pg_temp.rl_wait_flushed(u uuid, e text, want integer)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..200 LOOP
        IF (SELECT request_count FROM sipcall.rate_limits
             WHERE user_id = u AND endpoint = e) IS NOT DISTINCT FROM want THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END $$;

-- NULL in, NULL out
SELECT sipcall.check_rate_limit(NULL, 'call', 1) IS NULL AS null_user,
       sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', NULL, 1) IS NULL AS null_endpoint,
       sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', 'call', NULL) IS NULL AS null_max,
       sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', 'call', 1, NULL) IS NULL AS null_window;
SELECT sipcall.rate_limit_status(NULL, 'call') IS NULL AS null_status;

-- bad arguments: 22023, on both paths
\set VERBOSITY sqlstate
SELECT sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', 'call', -1);
SELECT sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', 'call', 5, 0);
SELECT sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', 'call', 5, -60);
SELECT sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', endpoint, -1) FROM rl_ep WHERE path = 'table';
SELECT sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', endpoint, 1, 0) FROM rl_ep WHERE path = 'table';
SELECT * FROM sipcall.rate_limit_status('a0000000-0000-0000-0000-000000000001', 'call', -1);
SELECT * FROM sipcall.rate_limit_status('a0000000-0000-0000-0000-000000000001', 'call', 1, 0);
-- unknown user: 23503, on both paths, also with a zero limit
SELECT sipcall.check_rate_limit('a0000000-0000-0000-0000-00000000ffff', 'call', 5);
SELECT sipcall.check_rate_limit('a0000000-0000-0000-0000-00000000ffff', 'call', 0);
SELECT sipcall.check_rate_limit('a0000000-0000-0000-0000-00000000ffff', endpoint, 5) FROM rl_ep WHERE path = 'table';
SELECT sipcall.check_rate_limit('a0000000-0000-0000-0000-00000000ffff', endpoint, 0) FROM rl_ep WHERE path = 'table';
SELECT * FROM sipcall.rate_limit_status('a0000000-0000-0000-0000-00000000ffff', 'call');
\set VERBOSITY default
SELECT sipcall.check_rate_limit('a0000000-0000-0000-0000-00000000ffff', 'call', 5);

-- a limit of 3: three trues, then falses that are not counted
SELECT path, (SELECT array_agg(a ORDER BY g) FROM (SELECT g, sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', endpoint, 3) AS a
                                      FROM generate_series(1, 5) g) s) AS answers
  FROM rl_ep ORDER BY path;
SELECT path, s.request_count, s.remaining, s.window_duration_minutes,
       s.reset_at - s.window_start AS window_length,
       s.window_start BETWEEN now() - interval '1 minute' AND clock_timestamp() AS started_now
  FROM rl_ep, sipcall.rate_limit_status('a0000000-0000-0000-0000-000000000001', endpoint, 3) s
 ORDER BY path;
-- the status counts nothing
SELECT path, s.request_count
  FROM rl_ep, sipcall.rate_limit_status('a0000000-0000-0000-0000-000000000001', endpoint) s
 ORDER BY path;
-- a limit of 0 allows nothing and counts nothing; a higher limit allows more
SELECT path, sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', endpoint, 0) AS zero,
       sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', endpoint, 4) AS four,
       sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', endpoint, 4) AS four_again
  FROM rl_ep ORDER BY path;
-- another endpoint and another user are counted apart
SELECT sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', 'sms', 1) AS other_endpoint,
       sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000002', 'call', 1) AS other_user;
-- a user without any row: the whole budget, no window
SELECT * FROM sipcall.rate_limit_status('a0000000-0000-0000-0000-000000000002', 'never', 10);

-- the table shows the state (the shared path within a second)
SELECT pg_temp.rl_wait_flushed('a0000000-0000-0000-0000-000000000001', 'call', 4) AS flushed;
SELECT path, r.request_count, r.window_duration_minutes,
       r.window_start BETWEEN now() - interval '1 minute' AND clock_timestamp() AS started_now
  FROM rl_ep JOIN sipcall.rate_limits r ON r.endpoint = rl_ep.endpoint
 WHERE r.user_id = 'a0000000-0000-0000-0000-000000000001'
 ORDER BY path;

-- an expired window restarts with this request (window moved into the past)
UPDATE sipcall.rate_limits SET window_start = now() - interval '61 minutes'
 WHERE user_id = 'a0000000-0000-0000-0000-000000000001' AND endpoint IN (SELECT endpoint FROM rl_ep);
SELECT path, s.request_count, s.window_start IS NULL AS no_window, s.reset_at IS NULL AS no_reset, s.remaining
  FROM rl_ep, sipcall.rate_limit_status('a0000000-0000-0000-0000-000000000001', endpoint, 4) s
 ORDER BY path;
SELECT path, (SELECT array_agg(a ORDER BY g) FROM (SELECT g, sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', endpoint, 2) AS a
                                      FROM generate_series(1, 3) g) s) AS answers
  FROM rl_ep ORDER BY path;
SELECT path, s.request_count,
       s.window_start BETWEEN now() - interval '1 minute' AND clock_timestamp() AS new_window
  FROM rl_ep, sipcall.rate_limit_status('a0000000-0000-0000-0000-000000000001', endpoint) s
 ORDER BY path;
-- a longer window given by the caller keeps the old window running
UPDATE sipcall.rate_limits SET window_start = now() - interval '61 minutes', request_count = 2
 WHERE user_id = 'a0000000-0000-0000-0000-000000000001' AND endpoint IN (SELECT endpoint FROM rl_ep);
SELECT path, sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', endpoint, 2, 120) AS in_2h_window
  FROM rl_ep ORDER BY path;

-- an operator lifts a block with UPDATE: effective on the very next check
SELECT pg_temp.rl_wait_flushed('a0000000-0000-0000-0000-000000000001', 'call', 2) AS flushed;
UPDATE sipcall.rate_limits SET request_count = 0
 WHERE user_id = 'a0000000-0000-0000-0000-000000000001' AND endpoint IN (SELECT endpoint FROM rl_ep);
SELECT path, (SELECT array_agg(a ORDER BY g) FROM (SELECT g, sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', endpoint, 2, 120) AS a
                                      FROM generate_series(1, 3) g) s) AS answers
  FROM rl_ep ORDER BY path;
-- ... or with DELETE
SELECT pg_temp.rl_wait_flushed('a0000000-0000-0000-0000-000000000001', 'call', 2) AS flushed;
DELETE FROM sipcall.rate_limits
 WHERE user_id = 'a0000000-0000-0000-0000-000000000001' AND endpoint IN (SELECT endpoint FROM rl_ep);
SELECT path, s.request_count FROM rl_ep,
       sipcall.rate_limit_status('a0000000-0000-0000-0000-000000000001', endpoint) s ORDER BY path;
SELECT path, (SELECT array_agg(a ORDER BY g) FROM (SELECT g, sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', endpoint, 1) AS a
                                      FROM generate_series(1, 2) g) s) AS answers
  FROM rl_ep ORDER BY path;
-- an edit that is rolled back changes nothing
BEGIN;
UPDATE sipcall.rate_limits SET request_count = 0 WHERE user_id = 'a0000000-0000-0000-0000-000000000001';
ROLLBACK;
SELECT pg_temp.rl_wait_flushed('a0000000-0000-0000-0000-000000000001', 'call', 1) AS flushed;
SELECT path, sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', endpoint, 1) AS still_blocked
  FROM rl_ep ORDER BY path;
-- ... also when only a savepoint is rolled back; a released one counts
BEGIN;
SAVEPOINT a;
UPDATE sipcall.rate_limits SET request_count = 0 WHERE user_id = 'a0000000-0000-0000-0000-000000000001';
ROLLBACK TO SAVEPOINT a;
COMMIT;
SELECT path, sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', endpoint, 1) AS still_blocked
  FROM rl_ep ORDER BY path;
BEGIN;
SAVEPOINT b;
UPDATE sipcall.rate_limits SET request_count = 0 WHERE user_id = 'a0000000-0000-0000-0000-000000000001';
RELEASE SAVEPOINT b;
COMMIT;
SELECT path, sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000001', endpoint, 1) AS lifted
  FROM rl_ep ORDER BY path;

-- an erased user (rows removed by the cascade) is unknown again at once,
-- also for an endpoint whose counter was never written to the table
SELECT sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000002', 'fresh', 5) AS fresh;
DELETE FROM sipcall.users WHERE id = 'a0000000-0000-0000-0000-000000000002';
\set VERBOSITY sqlstate
SELECT sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000002', 'call', 5);
SELECT sipcall.check_rate_limit('a0000000-0000-0000-0000-000000000002', 'fresh', 5);
\set VERBOSITY default
SELECT count(*) AS rows_left FROM sipcall.rate_limits
 WHERE user_id = 'a0000000-0000-0000-0000-000000000002';

-- clean up
DELETE FROM sipcall.users WHERE id = 'a0000000-0000-0000-0000-000000000001';
SELECT count(*) AS rows_left FROM sipcall.rate_limits
 WHERE user_id = 'a0000000-0000-0000-0000-000000000001';
