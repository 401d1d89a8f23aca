--
-- Scheduling maintenance with pg_cron (preloaded by test/regress.conf).
--
-- without the pg_cron extension: a clear error, SQLSTATE 55000, with a hint
DO $$
BEGIN
    PERFORM sipcall.schedule_maintenance();
EXCEPTION WHEN OTHERS THEN
    DECLARE
        state text; msg text; hint text;
    BEGIN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                hint = PG_EXCEPTION_HINT;
        RAISE NOTICE '% %', state, msg;
        RAISE NOTICE 'hint: %', hint;
    END;
END;
$$;
\set VERBOSITY terse
SELECT sipcall.unschedule_maintenance();
\set VERBOSITY default

CREATE EXTENSION pg_cron;

-- The jobs below are never committed: pg_cron's scheduler only sees
-- committed jobs, so none of them can fire while the suite runs.  Each
-- statement gets its own savepoint, so that an error leaves the rest.
\set ON_ERROR_ROLLBACK on
BEGIN;

-- the default schedule: every ten minutes, running run_maintenance()
SELECT sipcall.schedule_maintenance() AS jobid \gset
SELECT jobid = :jobid AS same_job, jobname, schedule, command, database = current_database() AS here
  FROM cron.job;

-- calling again updates the same job
SELECT sipcall.schedule_maintenance('*/5 * * * *') = :jobid AS same_job;
SELECT count(*) AS jobs, min(schedule) AS schedule FROM cron.job;

-- pg_cron rejects a bad schedule, and the job stays as it was
\set VERBOSITY terse
SELECT sipcall.schedule_maintenance('every now and then');
SELECT sipcall.schedule_maintenance(NULL);
\set VERBOSITY default
SELECT schedule FROM cron.job;

-- unscheduling removes it; a second time there is nothing to remove
SELECT sipcall.unschedule_maintenance();
SELECT sipcall.unschedule_maintenance();
SELECT count(*) AS jobs FROM cron.job;

ROLLBACK;
\set ON_ERROR_ROLLBACK off

-- not for everyone
SELECT has_function_privilege('public', 'sipcall.schedule_maintenance(text)', 'EXECUTE') AS public_may_schedule,
       has_function_privilege('public', 'sipcall.unschedule_maintenance()', 'EXECUTE') AS public_may_unschedule;

DROP EXTENSION pg_cron;
