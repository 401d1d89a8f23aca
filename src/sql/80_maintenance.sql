/*
 * Maintenance: the cycle (src/maintenance.c), its log and scheduling with
 * pg_cron.
 */

/*---- maintenance_log ----*/

CREATE TABLE @extschema@.maintenance_log (
    id          bigserial PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    finished_at timestamptz,
    run_by      text NOT NULL
                CONSTRAINT maintenance_log_run_by_check
                CHECK (run_by IN ('worker', 'pg_cron', 'manual')),
    result      jsonb,
    error       text
);

COMMENT ON TABLE @extschema@.maintenance_log IS
    'One row per maintenance cycle (worker, pg_cron or manual); keeps the last 30 days, at most 10000 rows';
COMMENT ON COLUMN @extschema@.maintenance_log.finished_at IS
    'NULL while a worker cycle runs';
COMMENT ON COLUMN @extschema@.maintenance_log.result IS
    'What run_maintenance() returned: status, run_by, started_at, duration_ms and one entry per step';
COMMENT ON COLUMN @extschema@.maintenance_log.error IS
    'The failed steps and their messages, NULL when every step went well';

/*---- run_maintenance ----*/

CREATE FUNCTION @extschema@.run_maintenance()
RETURNS jsonb
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_run_maintenance';

COMMENT ON FUNCTION @extschema@.run_maintenance() IS
    'One maintenance cycle in the caller''s transaction (each step in a subtransaction); returns what each step did, or that it skipped because another cycle runs';

REVOKE ALL ON FUNCTION @extschema@.run_maintenance() FROM PUBLIC;

/*---- pg_cron ----*/

CREATE FUNCTION @extschema@.schedule_maintenance(schedule text DEFAULT '*/10 * * * *')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    IF schedule IS NULL THEN
        RAISE EXCEPTION 'schedule must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Give a cron schedule such as ''*/10 * * * *''.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart the server and run CREATE EXTENSION pg_cron.';
    END IF;
    -- a job of the same name and user is updated in place
    RETURN cron.schedule('sipcall maintenance', schedule,
                         'SELECT @extschema@.run_maintenance()');
END;
$$;

COMMENT ON FUNCTION @extschema@.schedule_maintenance(text) IS
    'Registers (or reschedules) the pg_cron job "sipcall maintenance" that runs sipcall.run_maintenance(); returns its job id';

REVOKE ALL ON FUNCTION @extschema@.schedule_maintenance(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.unschedule_maintenance()
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    job bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart the server and run CREATE EXTENSION pg_cron.';
    END IF;
    SELECT j.jobid INTO job
      FROM cron.job j
     WHERE j.jobname = 'sipcall maintenance' AND j.username = current_user;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    RETURN cron.unschedule(job);
END;
$$;

COMMENT ON FUNCTION @extschema@.unschedule_maintenance() IS
    'Removes the pg_cron job made by sipcall.schedule_maintenance(); false if there was none';

REVOKE ALL ON FUNCTION @extschema@.unschedule_maintenance() FROM PUBLIC;

/*---- pg_dump ----*/

SELECT pg_catalog.pg_extension_config_dump('@extschema@.maintenance_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.maintenance_log_id_seq', '');
