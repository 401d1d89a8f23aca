--
-- encrypt_data / decrypt_data: round trips, the envelope, every failure mode.
--
SELECT extnamespace::regnamespace AS pgcrypto_schema
  FROM pg_extension WHERE extname = 'pgcrypto' \gset

-- declarations: strictness, volatility, parallel safety
SELECT proname, proisstrict, provolatile, proparallel
  FROM pg_proc
 WHERE pronamespace = 'sipcall'::regnamespace
   AND proname IN ('encrypt_data', 'decrypt_data')
 ORDER BY 1;

-- the installation salt: 16 random bytes in hex, a default row
SELECT config_value::text ~ '^"[0-9a-f]{32}"$' AS salt_ok, is_default
  FROM sipcall.system_config WHERE config_key = 'crypto.kdf_salt';

-- round trips: ASCII, Unicode, empty, 1 MB
SELECT sipcall.decrypt_data(sipcall.encrypt_data('+4915112345678', 'k1'), 'k1');
SELECT sipcall.decrypt_data(sipcall.encrypt_data('Grüße, 東京, 🙂', 'k1'), 'k1');
SELECT sipcall.decrypt_data(sipcall.encrypt_data('', 'k1'), 'k1') = '' AS empty_ok;
SELECT sipcall.decrypt_data(sipcall.encrypt_data(t, 'k1'), 'k1') = t AS mb_ok,
       length(t)
  FROM (SELECT string_agg(md5(i::text), '') AS t
          FROM generate_series(1, 32768) i) s;
-- a Unicode passphrase, and a long one
SELECT sipcall.decrypt_data(sipcall.encrypt_data('x', 'schlüssel 🔑'), 'schlüssel 🔑');
SELECT sipcall.decrypt_data(sipcall.encrypt_data('y', repeat('p', 5000)), repeat('p', 5000));

-- the envelope: magic, version, scheme, key id length, KDF, iterations,
-- salt length, the installation's salt, and 12 + n + 16 bytes after it
SELECT substr(e, 1, 6) AS magic_version_scheme_idlen,
       substr(e, 11, 6) AS kdf_iterations_saltlen,
       encode(substr(e, 17, 16), 'hex') =
         (SELECT config_value #>> '{}' FROM sipcall.system_config
           WHERE config_key = 'crypto.kdf_salt') AS salt_is_installation_salt,
       length(e) - 32 AS nonce_ct_tag
  FROM (SELECT sipcall.encrypt_data('+4915112345678', 'k1') AS e) s;

-- the key id depends on the key only
SELECT count(DISTINCT substr(sipcall.encrypt_data('a', 'k1'), 7, 4)) AS one_id,
       count(DISTINCT substr(sipcall.encrypt_data('a', 'k' || (i % 2 + 1)), 7, 4)) AS two_ids
  FROM generate_series(1, 4) i;

-- two encryptions of the same text differ (fresh nonce each time)
SELECT sipcall.encrypt_data('same', 'k1') <> sipcall.encrypt_data('same', 'k1') AS differ;
SELECT count(DISTINCT substr(sipcall.encrypt_data('same', 'k1'), 33, 12)) AS distinct_nonces
  FROM generate_series(1, 1000);

-- NULL in, NULL out
SELECT sipcall.encrypt_data(NULL, 'k1') IS NULL AS a,
       sipcall.encrypt_data('x', NULL) IS NULL AS b,
       sipcall.decrypt_data(NULL, 'k1') IS NULL AS c,
       sipcall.decrypt_data('\x00', NULL) IS NULL AS d;

-- empty key: 22023, for both functions and before looking at the data
\set VERBOSITY sqlstate
SELECT sipcall.encrypt_data('x', '');
SELECT sipcall.decrypt_data(sipcall.encrypt_data('x', 'k1'), '');
SELECT sipcall.decrypt_data('\x00', '');
\set VERBOSITY default

-- wrong key: 39000 with the contract's message
SELECT sipcall.decrypt_data(sipcall.encrypt_data('+4915112345678', 'k1'), 'k2');
SELECT sipcall.decrypt_data(sipcall.encrypt_data('+4915112345678', 'k1'), 'K1');

-- foreign bytes: 39000
SELECT sipcall.decrypt_data('\x', 'k1');
SELECT sipcall.decrypt_data('\x00', 'k1');
SELECT sipcall.decrypt_data('\x534345', 'k1');
SELECT sipcall.decrypt_data(convert_to('+4915112345678', 'UTF8'), 'k1');
SELECT sipcall.decrypt_data('\xc30d', 'k1');
SELECT sipcall.decrypt_data(sha256('x') || sha256('y') || sha256('z'), 'k1');

-- every byte of a short envelope flipped, and every truncation:
-- each must fail with 39000 and nothing else
CREATE TEMP TABLE crypto_env AS
  SELECT sipcall.encrypt_data('12345', 'k1') AS e;

CREATE FUNCTION pg_temp.crypto_try(e bytea, k text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sipcall.decrypt_data(e, k);
    RETURN 'decrypted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END;
$$;

SELECT length(e) AS envelope_length FROM crypto_env;
SELECT pg_temp.crypto_try(e, 'k1') AS intact FROM crypto_env;

SELECT r, count(*) AS positions
  FROM crypto_env,
       generate_series(0, length(e) - 1) pos,
       LATERAL pg_temp.crypto_try(set_byte(e, pos, get_byte(e, pos) # 1), 'k1') r
 GROUP BY 1 ORDER BY 1;

SELECT r, count(*) AS truncations
  FROM crypto_env,
       generate_series(0, length(e) - 1) len,
       LATERAL pg_temp.crypto_try(substr(e, 1, len), 'k1') r
 GROUP BY 1 ORDER BY 1;

-- trailing bytes and a swapped tag fail too
SELECT pg_temp.crypto_try(e || '\x00'::bytea, 'k1') AS appended FROM crypto_env;
SELECT pg_temp.crypto_try(substr(sipcall.encrypt_data('12345', 'k1'), 1, length(e) - 16) ||
                          substr(e, length(e) - 15), 'k1') AS other_tag
  FROM crypto_env;

-- OpenPGP messages of pgcrypto decrypt, found through pg_extension: the
-- search path holds no pgcrypto here
CREATE TEMP TABLE crypto_pgp AS
  SELECT :pgcrypto_schema.pgp_sym_encrypt('+4915112345678', 'seed key') AS e,
         :pgcrypto_schema.pgp_sym_encrypt('Grüße', 'seed key', 'cipher-algo=aes256, s2k-count=65536') AS e2;
SET search_path = pg_temp;
SELECT sipcall.decrypt_data(e, 'seed key'), sipcall.decrypt_data(e2, 'seed key')
  FROM crypto_pgp;
SELECT pg_temp.crypto_try(e, 'other key') AS pgp_wrong_key FROM crypto_pgp;
SELECT pg_temp.crypto_try(substr(e, 1, length(e) - 3), 'seed key') AS pgp_truncated FROM crypto_pgp;
SELECT pg_temp.crypto_try(set_byte(e, length(e) - 5, get_byte(e, length(e) - 5) # 1), 'seed key')
       AS pgp_tampered FROM crypto_pgp;
RESET search_path;

-- through the table, as the app does, and in a query run by parallel workers
CREATE TEMP TABLE crypto_rows AS
  SELECT i, sipcall.encrypt_data('+49151' || i, 'k1') AS e
    FROM generate_series(1, 2000) i;
SELECT count(*) FILTER (WHERE sipcall.decrypt_data(e, 'k1') = '+49151' || i) AS ok
  FROM crypto_rows;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
CREATE TABLE crypto_par AS
  SELECT i, sipcall.encrypt_data('+49151' || i, 'k1') AS e
    FROM generate_series(1, 5000) i;
ANALYZE crypto_par;
SELECT count(*) FILTER (WHERE sipcall.decrypt_data(e, 'k1') = '+49151' || i) AS ok_parallel
  FROM crypto_par;
RESET ALL;
DROP TABLE crypto_par;

-- a role with no privilege on sipcall's tables encrypts and decrypts (the
-- salt is read as the extension owner), in a fresh session
CREATE TABLE crypto_keep AS
  SELECT sipcall.encrypt_data('12345', 'k1') AS e,
         :pgcrypto_schema.pgp_sym_encrypt('+4915112345678', 'seed key') AS p;
SELECT current_user AS crypto_admin \gset
CREATE ROLE regress_crypto_user LOGIN;
GRANT USAGE ON SCHEMA sipcall TO regress_crypto_user;
GRANT SELECT ON crypto_keep TO regress_crypto_user;
\c - regress_crypto_user
SELECT has_table_privilege('sipcall.system_config', 'SELECT') AS can_read_config;
SELECT sipcall.decrypt_data(sipcall.encrypt_data('+4915112345678', 'k1'), 'k1');
SELECT sipcall.decrypt_data(e, 'k1'), sipcall.decrypt_data(p, 'seed key') FROM crypto_keep;
\c - :crypto_admin

-- pgp_sym_decrypt needs EXECUTE, as if called directly
SELECT extnamespace::regnamespace AS pgcrypto_schema
  FROM pg_extension WHERE extname = 'pgcrypto' \gset
REVOKE EXECUTE ON FUNCTION :pgcrypto_schema.pgp_sym_decrypt(bytea, text) FROM PUBLIC;
SET ROLE regress_crypto_user;
SELECT sipcall.decrypt_data(p, 'seed key') FROM crypto_keep;
RESET ROLE;
GRANT EXECUTE ON FUNCTION :pgcrypto_schema.pgp_sym_decrypt(bytea, text) TO PUBLIC;
SET ROLE regress_crypto_user;
SELECT sipcall.decrypt_data(p, 'seed key') FROM crypto_keep;
RESET ROLE;

-- A key this session stretched serves the role it was stretched for only:
-- after SET ROLE the other role stretches it itself (neither cache tells it
-- whether the passphrase was used here before; second review, G6)
SELECT length(sipcall.encrypt_data('x', 'k-role')) > 0 AS admin_encrypts;
SET client_min_messages = debug1;
SET ROLE regress_crypto_user;
SELECT length(sipcall.encrypt_data('x', 'k-role')) > 0 AS other_role_stretches;
RESET ROLE;
SELECT length(sipcall.encrypt_data('x', 'k-role')) > 0 AS admin_from_cache;
RESET client_min_messages;

-- a damaged or missing salt row is reported when a session first needs
-- it; stored values still decrypt (they carry their salt)
\c
BEGIN;
UPDATE sipcall.system_config SET config_value = '"zz"' WHERE config_key = 'crypto.kdf_salt';
SELECT sipcall.decrypt_data(e, 'k1') FROM crypto_keep;
SELECT sipcall.encrypt_data('x', 'k1');
ROLLBACK;
BEGIN;
DELETE FROM sipcall.system_config WHERE config_key = 'crypto.kdf_salt';
SELECT sipcall.encrypt_data('x', 'k1');
ROLLBACK;
SELECT sipcall.decrypt_data(sipcall.encrypt_data('x', 'k1'), 'k1');
SELECT config_value::text ~ '^"[0-9a-f]{32}"$' AS salt_ok, is_default
  FROM sipcall.system_config WHERE config_key = 'crypto.kdf_salt';

DROP TABLE crypto_keep;
REVOKE USAGE ON SCHEMA sipcall FROM regress_crypto_user;
DROP ROLE regress_crypto_user;
