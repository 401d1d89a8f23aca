/*
 * pg_dump: the tables' rows belong to the user, not to the extension.
 * The monthly partitions made by sipcall.create_partition are not members
 * of the extension: pg_dump dumps them whole (definition, rows, indexes).
 * call_keys is dumped too: its foreign keys make pg_dump load it before
 * calls and call_events (see 10_tables.sql).
 */
SELECT pg_catalog.pg_extension_config_dump('@extschema@.users', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.calls', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.calls_default', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.call_keys', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.call_events', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.call_events_default', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.call_events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.system_config', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.system_config_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_logs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_logs_default', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_logs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.rate_limits', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.rate_limits_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.daily_call_summary', '');
