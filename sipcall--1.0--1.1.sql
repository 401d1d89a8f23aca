/* sipcall--1.0--1.1.sql: update a 1.0 installation to 1.1 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION sipcall UPDATE TO '1.1'" to load this file. \quit

/*
 * As in the install script: every name and operator below resolves through
 * pg_catalog and sipcall's own schema only.
 */
SET LOCAL search_path = pg_catalog, pg_temp;

/*---- key rotation: a passphrase's identifier ----*/

CREATE FUNCTION @extschema@.key_id(key text)
RETURNS text
AS 'MODULE_PATHNAME', 'sipcall_key_id'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.key_id(text) IS
    'The identifier (hex) that encrypt_data writes into envelopes made with this passphrase here; matches the key inventory';

REVOKE ALL ON FUNCTION @extschema@.key_id(text) FROM PUBLIC;

/*---- key rotation: decryption and export with several keys ----*/

/*
 * PARALLEL UNSAFE, unlike the single-key form: an OpenPGP message tried
 * with a wrong key is caught in a subtransaction, and PostgreSQL 15
 * refuses to start one in parallel mode (in the leader too).
 */
CREATE FUNCTION @extschema@.decrypt_data(encrypted_data bytea, keys text[])
RETURNS text
AS 'MODULE_PATHNAME', 'sipcall_decrypt_data_keys'
LANGUAGE C STRICT STABLE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.decrypt_data(bytea, text[]) IS
    'Decrypts with the key whose identifier the envelope carries (OpenPGP messages: each key in order); no matching key raises 39000';

CREATE FUNCTION @extschema@.export_user_data(target_user_id uuid, encryption_keys text[])
RETURNS jsonb
LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'sipcall_export_user_data_keys';

COMMENT ON FUNCTION @extschema@.export_user_data(uuid, text[]) IS
    'As export_user_data(uuid, text), each number decrypted with the key whose identifier it carries (OpenPGP messages: each key in order)';

REVOKE ALL ON FUNCTION @extschema@.export_user_data(uuid, text[]) FROM PUBLIC;
