/*
 * TEMPORARY stand-in for sipcall.encrypt_data / sipcall.decrypt_data,
 * written by the gdpr branch so that export_user_data can be developed and
 * tested before src/crypto.c is merged.  DROP THIS FILE AT MERGE: the real
 * functions (branch crypto) replace it with the same signatures.
 *
 * They wrap pgcrypto's pgp_sym_encrypt / pgp_sym_decrypt, which raise
 * SQLSTATE 39000 on a wrong key, like the real ones.  pgcrypto's schema is
 * looked up once, here, and written into the function bodies.
 */
DO $stub$
DECLARE
    pgcrypto_schema text := (SELECT n.nspname
                               FROM pg_catalog.pg_extension e
                               JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                              WHERE e.extname = 'pgcrypto');
BEGIN
    EXECUTE pg_catalog.format($f$
        CREATE FUNCTION @extschema@.encrypt_data(data text, key text)
        RETURNS bytea LANGUAGE plpgsql STRICT VOLATILE PARALLEL SAFE
        AS 'BEGIN RETURN %I.pgp_sym_encrypt(data, key); END'$f$, pgcrypto_schema);
    EXECUTE pg_catalog.format($f$
        CREATE FUNCTION @extschema@.decrypt_data(encrypted_data bytea, key text)
        RETURNS text LANGUAGE plpgsql STRICT IMMUTABLE PARALLEL SAFE
        AS 'BEGIN RETURN %I.pgp_sym_decrypt(encrypted_data, key); END'$f$, pgcrypto_schema);
END;
$stub$;

COMMENT ON FUNCTION @extschema@.encrypt_data(text, text) IS
    'TEMPORARY stub (pgcrypto pgp_sym_encrypt), replaced by the C implementation at merge';
COMMENT ON FUNCTION @extschema@.decrypt_data(bytea, text) IS
    'TEMPORARY stub (pgcrypto pgp_sym_decrypt), replaced by the C implementation at merge';
