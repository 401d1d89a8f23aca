--
-- Key rotation (1.1): reencrypt, rotate_key, key_inventory.  In a
-- database of its own, so that no other test's calls are counted; key ids
-- are shown by the name of their key, since they depend on the
-- installation's random salt.
--
CREATE DATABASE regress_rotation;
\c regress_rotation
SET client_min_messages = warning;
CREATE EXTENSION sipcall CASCADE;
SELECT extnamespace::regnamespace AS pgcrypto_schema
  FROM pg_extension WHERE extname = 'pgcrypto' \gset

-- declarations and privileges
SELECT p.oid::regprocedure AS routine, p.prokind, p.prosecdef, p.proconfig,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_may
  FROM pg_proc p
 WHERE p.pronamespace = 'sipcall'::regnamespace
   AND p.proname IN ('reencrypt', 'rotate_key', 'key_inventory')
 ORDER BY 1::text;

-- three months with partitions, one month that lands in the default one
SELECT sipcall.create_partition('sipcall.calls', d)::text
  FROM unnest(ARRAY['2025-01-01', '2025-02-01', '2025-03-01']::date[]) d;

CREATE TABLE regress_keys (name text, key text);
INSERT INTO regress_keys
VALUES ('k1', 'rot-key-one'), ('k2', 'rot-key-two'), ('k3', 'rot-key-three');

-- what each value is and should decrypt to: its format and its key
CREATE TABLE regress_plain (n int, col text, plain text, fmt text, key text);
INSERT INTO regress_plain VALUES
  (1, 'd', '+491001', 'env', 'k1'), (1, 'c', '+491002', 'env', 'k1'),
  (2, 'd', '+492001', 'env', 'k2'), (2, 'c', '+492002', 'pgp', 'k1'),
  (3, 'd', '+493001', 'env', 'k3'),
  (4, 'd', '+494001', 'pgp', 'k1'), (4, 'c', '+494002', 'env', 'k1'),
  (5, 'd', '+495001', 'pgp', 'k3'), (5, 'c', '+495002', 'env', 'k2'),
  (6, 'd', '+496001', 'env', 'k1'), (6, 'c', '+496002', 'pgp', 'k3'),
  (7, 'd', '+497001', 'env', 'k1'),
  (8, 'd', '+498001', 'pgp', 'k1'), (8, 'c', '+498002', 'env', 'k3'),
  (9, 'd', '+499001', 'pgp', 'k2'), (9, 'c', '+499002', 'pgp', 'k2');

SET search_path = public, :pgcrypto_schema;
CREATE FUNCTION regress_enc(p regress_plain) RETURNS bytea LANGUAGE sql AS $$
  SELECT CASE WHEN p.fmt = 'env' THEN sipcall.encrypt_data(p.plain, k.key)
              ELSE pgp_sym_encrypt(p.plain, k.key) END
    FROM regress_keys k WHERE k.name = p.key
$$;
INSERT INTO sipcall.users (id, nextcloud_user_id)
VALUES ('70000000-0000-4000-8000-000000000001', 'rot_alice');
INSERT INTO sipcall.calls (id, user_id, initiated_at, destination_number_enc, caller_id_enc)
SELECT ('7c000000-0000-4000-8000-00000000000' || n)::uuid,
       '70000000-0000-4000-8000-000000000001',
       (ARRAY['2025-01-10', '2025-01-11', '2025-02-10', '2025-02-11', '2025-03-10',
              '2025-03-11', '2024-06-10', '2024-06-11', '2025-02-12'])[n]::timestamptz,
       (SELECT regress_enc(p) FROM regress_plain p WHERE p.n = c.n AND p.col = 'd'),
       (SELECT regress_enc(p) FROM regress_plain p WHERE p.n = c.n AND p.col = 'c')
  FROM generate_series(1, 9) c(n);
SELECT tableoid::regclass AS partition, count(*) FROM sipcall.calls GROUP BY 1 ORDER BY 1;

-- the inventory, key ids by name
CREATE VIEW regress_inventory AS
SELECT i.column_name, i.format, k.name AS key, i.values
  FROM sipcall.key_inventory() i
  LEFT JOIN regress_keys k ON sipcall.key_id(k.key) = i.key_id
 ORDER BY 1 DESC, 2, 3;
SELECT * FROM regress_inventory;

-- every value decrypts to its plaintext with the key regress_plain names
CREATE VIEW regress_check AS
SELECT pg_catalog.count(*) AS values_checked,
       pg_catalog.count(*) FILTER (WHERE sipcall.decrypt_data(
           CASE p.col WHEN 'd' THEN c.destination_number_enc ELSE c.caller_id_enc END,
           k.key) = p.plain) AS decrypt_ok
  FROM regress_plain p
  JOIN sipcall.calls c ON c.id = ('7c000000-0000-4000-8000-00000000000' || p.n)::uuid
  JOIN regress_keys k ON k.name = p.key;
SELECT * FROM regress_check;

-- reencrypt on single values
SELECT sipcall.reencrypt(sipcall.encrypt_data('x', 'rot-key-three'), 'rot-key-one', 'rot-key-two') IS NULL AS env_other_key,
       sipcall.reencrypt(pgp_sym_encrypt('x', 'rot-key-three'), 'rot-key-one', 'rot-key-two') IS NULL AS pgp_other_key,
       sipcall.reencrypt(sipcall.encrypt_data('x', 'rot-key-one'), 'rot-key-one', 'rot-key-one') IS NULL AS env_same_key,
       sipcall.reencrypt('\x0001', 'rot-key-one', 'rot-key-two') IS NULL AS unknown,
       sipcall.decrypt_data(sipcall.reencrypt(sipcall.encrypt_data('x', 'rot-key-one'),
                                              'rot-key-one', 'rot-key-two'), 'rot-key-two') AS env,
       sipcall.decrypt_data(sipcall.reencrypt(pgp_sym_encrypt('y', 'rot-key-one'),
                                              'rot-key-one', 'rot-key-two'), 'rot-key-two') AS pgp,
       substr(sipcall.reencrypt(pgp_sym_encrypt('y', 'rot-key-one'), 'rot-key-one', 'rot-key-one'), 1, 3) AS pgp_same_key;

-- a wrong old key converts nothing
CALL sipcall.rotate_key('rot-key-nothing', 'rot-key-two');
SELECT values_converted, values_skipped, conflicts, errors, status
  FROM sipcall.key_rotations ORDER BY id DESC LIMIT 1;

-- batch_size and duty out of range: 22023, before anything is written
\set VERBOSITY sqlstate
CALL sipcall.rotate_key('rot-key-one', 'rot-key-two', 0);
CALL sipcall.rotate_key('rot-key-one', 'rot-key-two', 2, 0);
CALL sipcall.rotate_key('rot-key-one', 'rot-key-two', 2, 1.5);
CALL sipcall.rotate_key('rot-key-one', 'rot-key-two', 2, NULL);
\set VERBOSITY default
SELECT count(*) AS runs FROM sipcall.key_rotations;

-- k1 -> k2, two rows a batch: several commits; working half the time
-- (a sleep after each batch as long as the batch) changes nothing else
CREATE TABLE regress_before AS SELECT * FROM sipcall.calls;
CALL sipcall.rotate_key('rot-key-one', 'rot-key-two', 2, 0.5);
UPDATE regress_plain SET key = 'k2' WHERE key = 'k1';
SELECT * FROM regress_inventory;
SELECT * FROM regress_check;
-- values under k2 and k3 were not rewritten
SELECT p.n, p.col, p.key
  FROM regress_plain p
  JOIN sipcall.calls c ON c.id = ('7c000000-0000-4000-8000-00000000000' || p.n)::uuid
  JOIN regress_before b ON b.id = c.id
 WHERE CASE p.col WHEN 'd' THEN c.destination_number_enc = b.destination_number_enc
                  ELSE c.caller_id_enc = b.caller_id_enc END
 ORDER BY 1, 2;
SELECT old_key_id = sipcall.key_id('rot-key-one') AS old_id_ok,
       new_key_id = sipcall.key_id('rot-key-two') AS new_id_ok,
       values_converted, values_skipped, conflicts, errors, status,
       finished_at >= started_at AS finished, run_by = current_user AS run_by_ok
  FROM sipcall.key_rotations ORDER BY id DESC LIMIT 1;
SELECT a.action, a.resource_type, a.resource_id = r.id::text AS resource_is_run,
       a.details - 'old_key_id' - 'new_key_id' - 'requested_by' AS details,
       a.details->>'old_key_id' = sipcall.key_id('rot-key-one') AS old_id_ok,
       a.details->>'requested_by' = current_user AS requested_by_ok,
       a::text NOT LIKE '%rot-key%' AS no_key_in_audit,
       r::text NOT LIKE '%rot-key%' AS no_key_in_progress
  FROM sipcall.audit_logs a
  JOIN sipcall.key_rotations r ON r.id = (SELECT max(id) FROM sipcall.key_rotations)
 WHERE a.action = 'key_rotation' AND a.resource_id = r.id::text;

-- a second call finds nothing to do and changes nothing
CREATE TABLE regress_after AS SELECT * FROM sipcall.calls;
CALL sipcall.rotate_key('rot-key-one', 'rot-key-two', 2);
SELECT values_converted, values_skipped, conflicts, status
  FROM sipcall.key_rotations ORDER BY id DESC LIMIT 1;
SELECT count(*) AS rows_changed
  FROM sipcall.calls c JOIN regress_after a USING (id)
 WHERE (c.*)::text <> (a.*)::text;

-- k2 -> k2: the OpenPGP messages under k2 become envelopes, nothing else moves
CALL sipcall.rotate_key('rot-key-two', 'rot-key-two');
SELECT values_converted, values_skipped, status
  FROM sipcall.key_rotations ORDER BY id DESC LIMIT 1;
SELECT c.id, c.destination_number_enc = a.destination_number_enc AS dest_same,
       c.caller_id_enc IS NOT DISTINCT FROM a.caller_id_enc AS caller_same
  FROM sipcall.calls c JOIN regress_after a USING (id)
 WHERE (c.*)::text <> (a.*)::text
 ORDER BY 1;
UPDATE regress_plain SET fmt = 'env' WHERE key = 'k2';
SELECT * FROM regress_inventory;
SELECT * FROM regress_check;

-- a value that cannot be re-encrypted (an envelope under k1 with a broken
-- tag): its row is left as it is and counted as an error, the batch goes on
INSERT INTO sipcall.calls (id, user_id, initiated_at, destination_number_enc, caller_id_enc)
SELECT '7c000000-0000-4000-8000-000000000010', '70000000-0000-4000-8000-000000000001',
       '2025-01-12', overlay(e PLACING '\xff'::bytea FROM length(e)), pgp_sym_encrypt('+4910', 'rot-key-one')
  FROM sipcall.encrypt_data('+4910', 'rot-key-one') e;
INSERT INTO sipcall.calls (id, user_id, initiated_at, destination_number_enc)
VALUES ('7c000000-0000-4000-8000-000000000011', '70000000-0000-4000-8000-000000000001',
        '2025-01-13', sipcall.encrypt_data('+4911', 'rot-key-one'));
CALL sipcall.rotate_key('rot-key-one', 'rot-key-two', 10);
SELECT values_converted, values_skipped, conflicts, errors, status
  FROM sipcall.key_rotations ORDER BY id DESC LIMIT 1;
SELECT id, sipcall.decrypt_data(destination_number_enc, 'rot-key-two') AS number
  FROM sipcall.calls WHERE id = '7c000000-0000-4000-8000-000000000011';
SELECT substr(caller_id_enc, 1, 3) = 'SCE' AS caller_converted
  FROM sipcall.calls WHERE id = '7c000000-0000-4000-8000-000000000010';

-- arguments
\set VERBOSITY terse
CALL sipcall.rotate_key('rot-key-one', 'rot-key-two', 0);
CALL sipcall.rotate_key('', 'rot-key-two');
CALL sipcall.rotate_key(NULL, 'rot-key-two');

-- a procedure that commits cannot run inside a transaction block
BEGIN;
CALL sipcall.rotate_key('rot-key-one', 'rot-key-two');
ROLLBACK;

-- table privileges are not enough
CREATE ROLE regress_rot_tables;
GRANT USAGE ON SCHEMA sipcall TO regress_rot_tables;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA sipcall TO regress_rot_tables;
SET ROLE regress_rot_tables;
CALL sipcall.rotate_key('rot-key-one', 'rot-key-two');
SELECT * FROM sipcall.key_inventory();
SELECT sipcall.reencrypt('\x00', 'rot-key-one', 'rot-key-two');
SELECT count(*) FROM sipcall.key_rotations;
RESET ROLE;
\set VERBOSITY default

\c contrib_regression
DROP DATABASE regress_rotation;
DROP ROLE regress_rot_tables;
