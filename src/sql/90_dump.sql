/*
 * pg_dump: the tables' rows belong to the user, not to the extension.
 * Partitions made later by sipcall.create_partition are registered the
 * same way when they are made.  call_keys is left out on purpose: it is
 * rebuilt by the triggers on calls while a dump is restored.
 */
SELECT pg_catalog.pg_extension_config_dump('@extschema@.users', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.calls', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.calls_default', '');
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
