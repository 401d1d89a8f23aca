/*
 * Keeping the registry of calls, call_keys (10_tables.sql), in step with
 * calls, row by row (src/callkeys.c has the insert and update trigger, and
 * what C code that bypasses these triggers calls).
 */

/*
 * Every trigger function of sipcall fires only on its own table (or that
 * table's partitions; elsewhere it raises 39P01), is not executable by
 * PUBLIC (firing a trigger needs no EXECUTE privilege; attaching one does)
 * and resolves no name through the search_path of whoever fires it: the
 * plpgsql ones pin it, and the two C ones on the path of every insert
 * (calls_keys_trigger, call_events_fill_trigger) schema-qualify every name
 * and operator of their statements instead, which saves setting and
 * restoring search_path on every row (about 10 µs each).
 *
 * Keeping call_keys in step with calls.  An UPDATE that changes a call's
 * month moves the row to another partition, which PostgreSQL carries out
 * as BEFORE UPDATE on the old partition, a DELETE there and an INSERT into
 * the new one.  The registry row must survive the move (its deletion would
 * cascade to the call's events), so:
 *  - BEFORE UPDATE brings the registry row up to date; a new id gets a
 *    registry row of its own, and the events move to it (the old row
 *    cannot take the new id: calls_id_fkey still sees the old id in the
 *    call until its update is done);
 *  - BEFORE INSERT adds the registry row, or finds it already up to date
 *    when the insert is the second half of such a move, or when a restore
 *    has loaded call_keys first;
 *  - AFTER DELETE, and AFTER UPDATE of id, remove the registry row of the
 *    old id (and by cascade its events) only if no row of calls has that
 *    id any more.
 */
CREATE FUNCTION @extschema@.calls_keys_trigger()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'sipcall_calls_keys';

COMMENT ON FUNCTION @extschema@.calls_keys_trigger() IS
    'Adds and updates the row of sipcall.call_keys of a call';

REVOKE ALL ON FUNCTION @extschema@.calls_keys_trigger() FROM PUBLIC;

/*
 * Only an UPDATE that sets a registry column can change one: the others
 * (a status, a duration, a re-encrypted number) do not fire the trigger.
 */
CREATE TRIGGER calls_keys
    BEFORE INSERT OR UPDATE OF id, call_uuid, user_id, initiated_at
    ON @extschema@.calls
    FOR EACH ROW EXECUTE FUNCTION @extschema@.calls_keys_trigger();

CREATE FUNCTION @extschema@.calls_forget_trigger()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.trigger_check_table('calls_forget_trigger', 'calls', TG_RELID, TG_NAME);
    IF NOT EXISTS (SELECT FROM @extschema@.calls WHERE id = OLD.id) THEN
        DELETE FROM @extschema@.call_keys WHERE id = OLD.id;
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION @extschema@.calls_forget_trigger() IS
    'Removes the row of sipcall.call_keys, and so the events, of a deleted call (or of the old id of a call)';

REVOKE ALL ON FUNCTION @extschema@.calls_forget_trigger() FROM PUBLIC;

CREATE TRIGGER calls_forget
    AFTER DELETE ON @extschema@.calls
    FOR EACH ROW EXECUTE FUNCTION @extschema@.calls_forget_trigger();
CREATE TRIGGER calls_forget_old_id
    AFTER UPDATE OF id ON @extschema@.calls
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION @extschema@.calls_forget_trigger();

CREATE FUNCTION @extschema@.calls_truncate_trigger()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.trigger_check_table('calls_truncate_trigger', 'calls', TG_RELID, TG_NAME);
    /*
     * call_keys cannot be truncated while calls refers to it (calls_id_fkey)
     * unless calls is truncated in the same statement, which it cannot be
     * from its own trigger: its rows go by DELETE, after the events.
     */
    TRUNCATE @extschema@.call_events;
    DELETE FROM @extschema@.call_keys;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION @extschema@.calls_truncate_trigger() IS
    'Empties sipcall.call_events and sipcall.call_keys when sipcall.calls is truncated';

REVOKE ALL ON FUNCTION @extschema@.calls_truncate_trigger() FROM PUBLIC;

CREATE TRIGGER calls_truncate
    AFTER TRUNCATE ON @extschema@.calls
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_truncate_trigger();
