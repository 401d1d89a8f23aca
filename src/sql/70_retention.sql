/*
 * Retention (src/retention.c).  Settings: system_config keys
 * 'retention.call_events', 'retention.audit_logs', 'retention.calls'
 * (README, "Configuration").
 */

CREATE FUNCTION @extschema@.cleanup_old_call_events()
RETURNS integer
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_cleanup_old_call_events';

COMMENT ON FUNCTION @extschema@.cleanup_old_call_events() IS
    'Removes call events older than retention.call_events (dropping whole expired months); returns how many rows went';

CREATE FUNCTION @extschema@.cleanup_old_audit_logs()
RETURNS integer
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_cleanup_old_audit_logs';

COMMENT ON FUNCTION @extschema@.cleanup_old_audit_logs() IS
    'Removes audit log entries older than retention.audit_logs (dropping whole expired months); returns how many rows went';

CREATE FUNCTION @extschema@.cleanup_old_calls()
RETURNS integer
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_cleanup_old_calls';

COMMENT ON FUNCTION @extschema@.cleanup_old_calls() IS
    'When retention.calls is set, removes older calls with their events and keys, leaving daily_call_summary as it was; returns how many calls went';

REVOKE ALL ON FUNCTION @extschema@.cleanup_old_call_events() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.cleanup_old_audit_logs() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.cleanup_old_calls() FROM PUBLIC;
