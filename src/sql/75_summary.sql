/*
 * The incremental daily summary (src/summary.c): the list of changed days,
 * the triggers that fill it, refresh and rebuild.  The table of figures,
 * daily_call_summary, is in 10_tables.sql.
 */

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

SELECT pg_catalog.pg_extension_config_dump('@extschema@.daily_summary_dirty', '');
