--
-- Key rotation (1.1): decrypt_data(bytea, text[]) and
-- export_user_data(uuid, text[]) decrypt each value with the key whose
-- identifier it carries; OpenPGP messages are tried with each key in
-- order.  Nothing here depends on the date or on ciphertext bytes.
--
SELECT extnamespace::regnamespace AS pgcrypto_schema
  FROM pg_extension WHERE extname = 'pgcrypto' \gset

-- declarations: as the single-key forms, but decrypt_data(bytea, text[])
-- is PARALLEL UNSAFE (see below)
SELECT p.oid::regprocedure AS function, proisstrict, provolatile, proparallel,
       prosecdef, proconfig,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute
  FROM pg_proc p
 WHERE pronamespace = 'sipcall'::regnamespace
   AND proname IN ('decrypt_data', 'export_user_data')
 ORDER BY 1::text;

CREATE TEMP TABLE rd AS
SELECT sipcall.encrypt_data('+491511', 'rot-k1') AS e1,
       sipcall.encrypt_data('+491522', 'rot-k2') AS e2,
       :pgcrypto_schema.pgp_sym_encrypt('+491533', 'rot-k1') AS p1,
       :pgcrypto_schema.pgp_sym_encrypt('+491544', 'rot-k2') AS p2;

-- envelopes under either key, keys in either order
SELECT sipcall.decrypt_data(e1, ARRAY['rot-k2', 'rot-k1']) AS e1_21,
       sipcall.decrypt_data(e1, ARRAY['rot-k1', 'rot-k2']) AS e1_12,
       sipcall.decrypt_data(e2, ARRAY['rot-k2', 'rot-k1']) AS e2_21,
       sipcall.decrypt_data(e2, ARRAY['rot-k1', 'rot-k2']) AS e2_12,
       sipcall.decrypt_data(e1, ARRAY['rot-k1']) AS e1_1
  FROM rd;

-- pgcrypto messages under either key, keys in either order
SELECT sipcall.decrypt_data(p1, ARRAY['rot-k2', 'rot-k1']) AS p1_21,
       sipcall.decrypt_data(p1, ARRAY['rot-k1', 'rot-k2']) AS p1_12,
       sipcall.decrypt_data(p2, ARRAY['rot-k2', 'rot-k1']) AS p2_21,
       sipcall.decrypt_data(p2, ARRAY['rot-k1', 'rot-k2']) AS p2_12,
       sipcall.decrypt_data(p2, ARRAY['rot-k2']) AS p2_2,
       sipcall.decrypt_data(p1, ARRAY['rot-k3', 'rot-k2', 'rot-k1']) AS p1_321
  FROM rd;

-- NULL and empty elements match nothing; the other keys still do
SELECT sipcall.decrypt_data(e1, ARRAY[NULL, 'rot-k1']) AS e1_null,
       sipcall.decrypt_data(e2, ARRAY['', 'rot-k2']) AS e2_empty,
       sipcall.decrypt_data(p1, ARRAY[NULL, '', 'rot-k1']) AS p1_null_empty,
       sipcall.decrypt_data(p2, ARRAY['rot-k2', NULL]) AS p2_null_last
  FROM rd;

-- STRICT: NULL in, NULL out
SELECT sipcall.decrypt_data(NULL::bytea, ARRAY['rot-k1']) IS NULL AS a,
       sipcall.decrypt_data(e1, NULL::text[]) IS NULL AS b
  FROM rd;

-- many values under both keys in one statement and one transaction (the
-- OpenPGP ones under rot-k1 cost a caught error each: the transaction
-- stays usable)
BEGIN;
CREATE TEMP TABLE rd_many AS
SELECT i, CASE WHEN i % 4 = 0 THEN sipcall.encrypt_data('n' || i, 'rot-k1')
               WHEN i % 4 = 1 THEN sipcall.encrypt_data('n' || i, 'rot-k2')
               WHEN i % 4 = 2 THEN :pgcrypto_schema.pgp_sym_encrypt('n' || i, 'rot-k1', 's2k-count=65536')
               ELSE :pgcrypto_schema.pgp_sym_encrypt('n' || i, 'rot-k2', 's2k-count=65536') END AS v
  FROM generate_series(1, 40) i;
SELECT count(*) FILTER (WHERE sipcall.decrypt_data(v, ARRAY['rot-k2', 'rot-k1']) = 'n' || i) AS ok_21,
       count(*) FILTER (WHERE sipcall.decrypt_data(v, ARRAY['rot-k1', 'rot-k2']) = 'n' || i) AS ok_12
  FROM rd_many;
SELECT count(*) AS still_usable FROM rd_many;
COMMIT;

-- known keys are not stretched again, nor is a key that did not match
SET client_min_messages = debug1;
SELECT sipcall.decrypt_data(e1, ARRAY['rot-k2', 'rot-k1']) AS e1_21,
       sipcall.decrypt_data(e2, ARRAY['rot-k1', 'rot-k2']) AS e2_12
  FROM rd;
-- a new key is stretched once, whether it matched or not
SELECT sipcall.decrypt_data(e1, ARRAY['rot-k5', 'rot-k1']) AS first FROM rd;
SELECT sipcall.decrypt_data(e1, ARRAY['rot-k5', 'rot-k1']) AS again FROM rd;
RESET client_min_messages;

-- PARALLEL UNSAFE (a subtransaction catches a wrong OpenPGP key, and
-- PostgreSQL 15 starts none in parallel mode): forcing parallel mode
-- changes nothing
SET force_parallel_mode = on;
SELECT sipcall.decrypt_data(e1, ARRAY['rot-k2', 'rot-k1']) AS e1_par FROM rd;
SELECT sipcall.decrypt_data(p1, ARRAY['rot-k2', 'rot-k1']) AS p1_par FROM rd;
RESET force_parallel_mode;

-- no matching key: 39000, as a wrong key for the single-key form
SELECT sipcall.decrypt_data(e1, ARRAY['rot-k3']) FROM rd;
\set VERBOSITY sqlstate
SELECT sipcall.decrypt_data(e1, ARRAY['rot-k3', 'rot-k2']) FROM rd;
SELECT sipcall.decrypt_data(p1, ARRAY['rot-k3', 'rot-k2']) FROM rd;
SELECT sipcall.decrypt_data(p1, ARRAY['rot-k2']) FROM rd;
-- empty array, only NULL or empty elements
SELECT sipcall.decrypt_data(e1, '{}'::text[]) FROM rd;
SELECT sipcall.decrypt_data(p1, '{}'::text[]) FROM rd;
SELECT sipcall.decrypt_data(e1, ARRAY[NULL]::text[]) FROM rd;
SELECT sipcall.decrypt_data(p1, ARRAY[NULL, '']) FROM rd;
-- the right identifier, a tampered ciphertext; not our format at all
SELECT sipcall.decrypt_data(overlay(e1 PLACING '\xff'::bytea FROM length(e1) - 20),
                            ARRAY['rot-k2', 'rot-k1']) FROM rd;
SELECT sipcall.decrypt_data('\x00'::bytea, ARRAY['rot-k1']);
\set VERBOSITY default

-- the error can be caught, and names no key
DO $$
BEGIN
  PERFORM sipcall.decrypt_data(p1, ARRAY['rot-k3', 'rot-k2']) FROM rd;
EXCEPTION WHEN external_routine_invocation_exception THEN
  RAISE NOTICE 'caught %: % (key named: %)', SQLSTATE, SQLERRM, SQLERRM ~ 'rot-k';
END
$$;

-- export: a user whose numbers are all under one key, and one whose
-- numbers are under two keys and in both formats
SET client_min_messages = warning;
INSERT INTO sipcall.users (id, nextcloud_user_id, email, display_name, privacy_consent)
VALUES ('9e000000-0000-4000-8000-000000000001', 'rot_one', 'one@example.org', 'One', true),
       ('9e000000-0000-4000-8000-000000000002', 'rot_two', 'two@example.org', 'Two', true);
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, caller_id_enc, status,
                           initiated_at, duration_seconds, cost_cents)
VALUES ('9eca0000-0000-4000-8000-000000000001', '9e000000-0000-4000-8000-000000000001',
        sipcall.encrypt_data('+4915100001', 'rot-k1'), sipcall.encrypt_data('+4930100001', 'rot-k1'),
        'completed', '2026-01-05 10:00:00+00', 60, 12),
       ('9eca0000-0000-4000-8000-000000000002', '9e000000-0000-4000-8000-000000000001',
        sipcall.encrypt_data('+4915100002', 'rot-k1'), NULL,
        'failed', '2025-12-05 10:00:00+00', NULL, NULL),
       ('9eca0000-0000-4000-8000-000000000003', '9e000000-0000-4000-8000-000000000002',
        sipcall.encrypt_data('+4915200001', 'rot-k1'), sipcall.encrypt_data('+4930200001', 'rot-k2'),
        'completed', '2026-01-06 10:00:00+00', 5, 1),
       ('9eca0000-0000-4000-8000-000000000004', '9e000000-0000-4000-8000-000000000002',
        :pgcrypto_schema.pgp_sym_encrypt('+4915200002', 'rot-k1'),
        :pgcrypto_schema.pgp_sym_encrypt('+4930200002', 'rot-k2'),
        'completed', '2026-01-07 10:00:00+00', 7, 2),
       ('9eca0000-0000-4000-8000-000000000005', '9e000000-0000-4000-8000-000000000002',
        sipcall.encrypt_data('+4915200003', 'rot-k2'), NULL,
        'initiated', '2026-01-08 10:00:00+00', NULL, NULL);
RESET client_min_messages;

-- all under one key: the same document as the single-key form (each
-- export adds its own audit entry, so audit_logs is left out)
SELECT (sipcall.export_user_data('9e000000-0000-4000-8000-000000000001', ARRAY['rot-k2', 'rot-k1']) - 'audit_logs')
     = (sipcall.export_user_data('9e000000-0000-4000-8000-000000000001', 'rot-k1') - 'audit_logs')
       AS same_as_single_key,
       (sipcall.export_user_data('9e000000-0000-4000-8000-000000000001', ARRAY['rot-k1']) - 'audit_logs')
     = (sipcall.export_user_data('9e000000-0000-4000-8000-000000000001', 'rot-k1') - 'audit_logs')
       AS same_with_one_key;

-- under two keys: every number decrypted, calls by initiated_at
SELECT c ->> 'id' AS id, c ->> 'destination_number' AS destination_number,
       c ->> 'caller_id' AS caller_id, c ->> 'status' AS status
  FROM jsonb_array_elements(sipcall.export_user_data('9e000000-0000-4000-8000-000000000002',
                                                     ARRAY['rot-k2', 'rot-k1']) -> 'calls') c;
SELECT jsonb_array_length(sipcall.export_user_data('9e000000-0000-4000-8000-000000000002',
                                                   ARRAY['rot-k1', 'rot-k2']) -> 'calls') AS calls;
-- ... and an audit entry each time, without keys
SELECT action, details ->> 'calls' AS calls, details::text ~ 'rot-k' AS key_named
  FROM sipcall.audit_logs
 WHERE user_id = '9e000000-0000-4000-8000-000000000002' ORDER BY id;

-- a number under neither key: 39000 and nothing written
SELECT count(*) AS audit_before FROM sipcall.audit_logs
 WHERE user_id = '9e000000-0000-4000-8000-000000000002' \gset
\set VERBOSITY sqlstate
SELECT sipcall.export_user_data('9e000000-0000-4000-8000-000000000002', ARRAY['rot-k2']);
SELECT sipcall.export_user_data('9e000000-0000-4000-8000-000000000002', ARRAY['rot-k1', 'rot-k3']);
SELECT sipcall.export_user_data('9e000000-0000-4000-8000-000000000002', '{}'::text[]);
-- unknown user: P0002
SELECT sipcall.export_user_data('9e000000-0000-4000-8000-0000000000ff', ARRAY['rot-k1']);
\set VERBOSITY default
SELECT count(*) = :audit_before AS nothing_written FROM sipcall.audit_logs
 WHERE user_id = '9e000000-0000-4000-8000-000000000002';

-- privileges: a role with USAGE on the schema only may decrypt (as with
-- the single-key form), but not export until granted EXECUTE, and then
-- needs no table privileges
CREATE ROLE rot_app;
GRANT USAGE ON SCHEMA sipcall TO rot_app;
GRANT SELECT ON rd TO rot_app;
SET ROLE rot_app;
SELECT sipcall.decrypt_data(e2, ARRAY['rot-k1', 'rot-k2']) AS e2,
       sipcall.decrypt_data(p1, ARRAY['rot-k2', 'rot-k1']) AS p1
  FROM rd;
\set VERBOSITY sqlstate
SELECT sipcall.export_user_data('9e000000-0000-4000-8000-000000000002', ARRAY['rot-k1', 'rot-k2']);
SELECT sipcall.export_user_data('9e000000-0000-4000-8000-000000000002', 'rot-k1');
SELECT count(*) FROM sipcall.calls;
\set VERBOSITY default
RESET ROLE;
GRANT EXECUTE ON FUNCTION sipcall.export_user_data(uuid, text[]) TO rot_app;
SET ROLE rot_app;
SELECT jsonb_array_length(sipcall.export_user_data('9e000000-0000-4000-8000-000000000002',
                                                   ARRAY['rot-k1', 'rot-k2']) -> 'calls') AS calls;
RESET ROLE;

-- clean up
SELECT sipcall.delete_user_data('9e000000-0000-4000-8000-000000000001'),
       sipcall.delete_user_data('9e000000-0000-4000-8000-000000000002');
DROP TABLE rd, rd_many;
REVOKE ALL ON FUNCTION sipcall.export_user_data(uuid, text[]) FROM rot_app;
REVOKE USAGE ON SCHEMA sipcall FROM rot_app;
DROP ROLE rot_app;
