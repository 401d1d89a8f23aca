/*
 * Encryption of personal data (src/crypto.c, README "Encryption").
 *
 * The salt that stretches passphrases into keys is made per installation,
 * here, and kept as a default row: a restored dump's row replaces it (the
 * system_config_defaults trigger).  Every encrypted value carries the salt
 * it was made with, so changing or losing this row never makes old data
 * unreadable; it only changes the key new values are encrypted with.
 */
INSERT INTO @extschema@.system_config (config_key, config_value, description, is_default)
VALUES ('crypto.kdf_salt',
        pg_catalog.to_jsonb(pg_catalog.encode(pg_catalog.substr(
            pg_catalog.sha256(pg_catalog.convert_to(
                pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text,
                'UTF8')), 1, 16), 'hex')),
        'Salt (hex) with which encrypt_data stretches passphrases into keys; made at installation, read once per session',
        true);

CREATE FUNCTION @extschema@.encrypt_data(data text, key text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'sipcall_encrypt_data'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.encrypt_data(text, text) IS
    'Encrypts text with AES-256-GCM under a key stretched from the passphrase (PBKDF2-HMAC-SHA256, cached); pass the key as a bind parameter';

CREATE FUNCTION @extschema@.decrypt_data(encrypted_data bytea, key text)
RETURNS text
AS 'MODULE_PATHNAME', 'sipcall_decrypt_data'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.decrypt_data(bytea, text) IS
    'Decrypts what encrypt_data made, or an OpenPGP message of pgcrypto''s pgp_sym_encrypt; wrong key or tampered data raise 39000';

-- since 1.1
CREATE FUNCTION @extschema@.key_id(key text)
RETURNS text
AS 'MODULE_PATHNAME', 'sipcall_key_id'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.key_id(text) IS
    'The identifier (hex) that encrypt_data writes into envelopes made with this passphrase here; matches the key inventory';

REVOKE ALL ON FUNCTION @extschema@.key_id(text) FROM PUBLIC;

-- since 1.1: decryption during a key rotation, with the old and new keys
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
