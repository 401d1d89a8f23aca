--
-- Versions: the update paths, a database left on 1.0 under the newest
-- library, and the guard of entry points that 1.0 does not declare.
-- Runs in a database of its own, so that the suite's sipcall stays as it is.
--
SELECT source, target, path
  FROM pg_extension_update_paths('sipcall')
 WHERE path IS NOT NULL
 ORDER BY 1, 2;
SELECT default_version FROM pg_available_extensions WHERE name = 'sipcall';

CREATE DATABASE regress_sipcall_v10;
\c regress_sipcall_v10
SET client_min_messages = warning;
CREATE EXTENSION sipcall VERSION '1.0' CASCADE;
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'sipcall';

-- 1.0 works with the newest library
SELECT sipcall.decrypt_data(sipcall.encrypt_data('+4915112345678', 'k1'), 'k1');
SELECT to_regprocedure('sipcall.key_id(text)') IS NULL AS no_key_id_in_1_0;

-- a 1.1 entry point declared by hand in a 1.0 database is refused
CREATE FUNCTION public.key_id_by_hand(text) RETURNS text
    AS 'sipcall', 'sipcall_key_id' LANGUAGE C STRICT;
SELECT public.key_id_by_hand('k1');
DROP FUNCTION public.key_id_by_hand(text);

ALTER EXTENSION sipcall UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'sipcall';

-- key_id is the identifier that envelopes carry (bytes 7 to 10)
SELECT sipcall.key_id('k1') ~ '^[0-9a-f]{8}$' AS hex,
       sipcall.key_id('k1') = encode(substring(sipcall.encrypt_data('x', 'k1') FROM 7 FOR 4), 'hex') AS matches,
       sipcall.key_id('k1') <> sipcall.key_id('k2') AS differs;
SELECT sipcall.key_id('');
SELECT sipcall.key_id(NULL) IS NULL AS strict;

-- not for PUBLIC
CREATE ROLE regress_sipcall_v_nobody;
GRANT USAGE ON SCHEMA sipcall TO regress_sipcall_v_nobody;
SET ROLE regress_sipcall_v_nobody;
SELECT sipcall.key_id('k1');
SELECT sipcall.decrypt_data(sipcall.encrypt_data('+49', 'k1'), 'k1');
RESET ROLE;
REVOKE USAGE ON SCHEMA sipcall FROM regress_sipcall_v_nobody;
DROP ROLE regress_sipcall_v_nobody;

\c contrib_regression
DROP DATABASE regress_sipcall_v10;
