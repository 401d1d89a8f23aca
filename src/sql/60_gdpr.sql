/*
 * GDPR export and erasure (src/gdpr.c).
 *
 * Both run their statements as the extension's owner, so a role needs
 * only EXECUTE (and USAGE on the schema), never privileges on the tables:
 *
 *   GRANT USAGE ON SCHEMA sipcall TO app;
 *   GRANT EXECUTE ON FUNCTION sipcall.export_user_data(uuid, text),
 *                             sipcall.delete_user_data(uuid) TO app;
 */

CREATE FUNCTION @extschema@.export_user_data(target_user_id uuid, encryption_key text)
RETURNS jsonb
LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'sipcall_export_user_data';

COMMENT ON FUNCTION @extschema@.export_user_data(uuid, text) IS
    'Everything stored about a user (user, calls with decrypted numbers, call events, audit entries) as jsonb; records the export in audit_logs';

REVOKE ALL ON FUNCTION @extschema@.export_user_data(uuid, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.delete_user_data(target_user_id uuid)
RETURNS boolean
LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'sipcall_delete_user_data';

COMMENT ON FUNCTION @extschema@.delete_user_data(uuid) IS
    'Erases a user with their calls, call events and rate limits, anonymises the audit entries that name them, records the erasure; false if there was no such user';

REVOKE ALL ON FUNCTION @extschema@.delete_user_data(uuid) FROM PUBLIC;

-- since 1.1: the export during a key rotation, with the old and new keys
CREATE FUNCTION @extschema@.export_user_data(target_user_id uuid, encryption_keys text[])
RETURNS jsonb
LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'sipcall_export_user_data_keys';

COMMENT ON FUNCTION @extschema@.export_user_data(uuid, text[]) IS
    'As export_user_data(uuid, text), each number decrypted with the key whose identifier it carries (OpenPGP messages: each key in order)';

REVOKE ALL ON FUNCTION @extschema@.export_user_data(uuid, text[]) FROM PUBLIC;
