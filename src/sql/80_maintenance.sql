/*
 * Maintenance: the cycle (src/maintenance.c), its log, the incremental
 * daily summary (src/summary.c) and scheduling with pg_cron.
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

/*---- the incremental daily summary ----*/

/*
 * The UTC days whose calls changed since the last refresh, one entry per
 * day and backend at most (stripe: the backend's slot), so that writers
 * lock their own entry and never wait on one another; refresh removes
 * what it has handled (src/summary.c).
 */
CREATE TABLE @extschema@.daily_summary_dirty (
    call_date date NOT NULL,
    stripe    integer NOT NULL DEFAULT 0
);

COMMENT ON TABLE @extschema@.daily_summary_dirty IS
    'UTC days whose calls changed since the last sipcall.refresh_daily_summary() (filled by triggers on calls)';

/*
 * SECURITY DEFINER: whoever changes calls may not write the dirty list
 * itself.  Its search_path is pinned (here, and again by its C code around
 * every statement it runs), so the caller's search_path cannot steer it,
 * and it fires only on calls.
 */
CREATE FUNCTION @extschema@.calls_track_trigger()
RETURNS trigger
LANGUAGE c SECURITY DEFINER
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'sipcall_calls_track_trigger';

REVOKE ALL ON FUNCTION @extschema@.calls_track_trigger() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.calls_track_trigger() IS
    'Records in sipcall.daily_summary_dirty the UTC days touched by a change to sipcall.calls';

CREATE TRIGGER calls_track_insert
    AFTER INSERT ON @extschema@.calls
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_track_trigger();
CREATE TRIGGER calls_track_update
    AFTER UPDATE ON @extschema@.calls
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_track_trigger();
CREATE TRIGGER calls_track_delete
    AFTER DELETE ON @extschema@.calls
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_track_trigger();
CREATE TRIGGER calls_track_truncate
    AFTER TRUNCATE ON @extschema@.calls
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_track_trigger();

/*
 * Statement triggers fire only on the table a statement names and are not
 * cloned to partitions: each partition has the same four, for statements
 * aimed at it directly (the monthly ones get them from create_partition,
 * sipcall_summary_track_partition in src/summary.c).
 */
CREATE TRIGGER calls_track_insert
    AFTER INSERT ON @extschema@.calls_default
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_track_trigger();
CREATE TRIGGER calls_track_update
    AFTER UPDATE ON @extschema@.calls_default
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_track_trigger();
CREATE TRIGGER calls_track_delete
    AFTER DELETE ON @extschema@.calls_default
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_track_trigger();
CREATE TRIGGER calls_track_truncate
    AFTER TRUNCATE ON @extschema@.calls_default
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_track_trigger();

CREATE FUNCTION @extschema@.refresh_daily_summary()
RETURNS void
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_refresh_daily_summary';

COMMENT ON FUNCTION @extschema@.refresh_daily_summary() IS
    'Recomputes the rows of sipcall.daily_call_summary whose days had calls inserted, changed or deleted since the last refresh';

REVOKE ALL ON FUNCTION @extschema@.refresh_daily_summary() FROM PUBLIC;

CREATE FUNCTION @extschema@.rebuild_daily_summary()
RETURNS bigint
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_rebuild_daily_summary';

COMMENT ON FUNCTION @extschema@.rebuild_daily_summary() IS
    'Recomputes sipcall.daily_call_summary from scratch (forgetting days whose calls expired); returns the number of days';

REVOKE ALL ON FUNCTION @extschema@.rebuild_daily_summary() FROM PUBLIC;

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
SELECT pg_catalog.pg_extension_config_dump('@extschema@.daily_summary_dirty', '');
