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

/*---- nobody but a superuser drops sipcall, not even by a cascade ----*/

CREATE FUNCTION @extschema@.drop_guard()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'sipcall_drop_guard'
LANGUAGE C;

COMMENT ON FUNCTION @extschema@.drop_guard() IS
    'Event trigger function: loads sipcall''s library before DDL, so that its check that only a superuser drops sipcall is in place';

REVOKE ALL ON FUNCTION @extschema@.drop_guard() FROM PUBLIC;

CREATE EVENT TRIGGER sipcall_drop_guard ON ddl_command_start
    EXECUTE FUNCTION @extschema@.drop_guard();
ALTER EVENT TRIGGER sipcall_drop_guard ENABLE ALWAYS;
