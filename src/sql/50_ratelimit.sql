/*
 * Rate limits (src/ratelimit.c, src/ratelimit_flusher.c).
 */

CREATE FUNCTION @extschema@.check_rate_limit(user_id uuid, endpoint text,
                                             max_requests integer,
                                             window_minutes integer DEFAULT 60)
RETURNS boolean
LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_check_rate_limit';

COMMENT ON FUNCTION @extschema@.check_rate_limit(uuid, text, integer, integer) IS
    'Counts one request of the user at the endpoint in a fixed window of window_minutes and says whether it is allowed (at most max_requests per window); rejected requests are not counted';

CREATE FUNCTION @extschema@.rate_limit_status(user_id uuid, endpoint text,
                                              max_requests integer DEFAULT NULL,
                                              window_minutes integer DEFAULT NULL,
                                              OUT request_count integer,
                                              OUT window_start timestamptz,
                                              OUT window_duration_minutes integer,
                                              OUT reset_at timestamptz,
                                              OUT remaining integer)
RETURNS record
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_rate_limit_status';

COMMENT ON FUNCTION @extschema@.rate_limit_status(uuid, text, integer, integer) IS
    'The live rate-limit state of the user at the endpoint (requests in the running window, its start and end, and the remaining budget when max_requests is given), counting nothing';

/*
 * Operator edits of rate_limits, and erasure of users, reach the counters
 * kept in shared memory when they commit.
 */
CREATE FUNCTION @extschema@.rate_limits_invalidate()
RETURNS trigger
LANGUAGE c
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'sipcall_rate_limits_invalidate';

COMMENT ON FUNCTION @extschema@.rate_limits_invalidate() IS
    'Makes the next check_rate_limit reload the rate_limits rows that a committed change touched';

/* fires only on rate_limits (and, with argument 'users', on users) */
REVOKE ALL ON FUNCTION @extschema@.rate_limits_invalidate() FROM PUBLIC;

CREATE TRIGGER rate_limits_invalidate
    AFTER INSERT OR UPDATE OR DELETE ON @extschema@.rate_limits
    FOR EACH ROW EXECUTE FUNCTION @extschema@.rate_limits_invalidate();

CREATE TRIGGER rate_limits_invalidate_truncate
    AFTER TRUNCATE ON @extschema@.rate_limits
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.rate_limits_invalidate();

CREATE TRIGGER users_rate_limits_invalidate
    AFTER DELETE OR UPDATE OF id ON @extschema@.users
    FOR EACH ROW EXECUTE FUNCTION @extschema@.rate_limits_invalidate('users');

/* also with session_replication_role = replica (restores, replication) */
ALTER TABLE @extschema@.rate_limits ENABLE ALWAYS TRIGGER rate_limits_invalidate;
ALTER TABLE @extschema@.rate_limits ENABLE ALWAYS TRIGGER rate_limits_invalidate_truncate;
ALTER TABLE @extschema@.users ENABLE ALWAYS TRIGGER users_rate_limits_invalidate;
