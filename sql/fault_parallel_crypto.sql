--
-- Issue 16, item 3: encrypt_data and decrypt_data are PARALLEL SAFE and
-- work in parallel workers.  A worker is a new process: it reads the salt
-- on its first use, which used to take the latest snapshot and fail with
-- "cannot update SecondarySnapshot during a parallel operation".
--
SET client_min_messages = warning;

CREATE TABLE fault_nums AS
SELECT n, n::text AS t FROM generate_series(1, 2000) n;
ANALYZE fault_nums;

-- serial figures first
SET max_parallel_workers_per_gather = 0;
CREATE TABLE fault_serial AS
SELECT n, sipcall.encrypt_data(t, 'par-key') AS e,
       CASE WHEN n % 500 = 0 THEN pgp_sym_encrypt(t, 'par-key') END AS pgp
  FROM fault_nums;
SELECT count(*) FILTER (WHERE sipcall.decrypt_data(e, 'par-key') = n::text) AS serial_ok,
       count(*) FILTER (WHERE sipcall.decrypt_data(pgp, 'par-key') = n::text) AS serial_pgp_ok
  FROM fault_serial;
ANALYZE fault_serial;

-- a parallel plan, with the rows in the workers only
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (costs off)
SELECT count(sipcall.encrypt_data(t, 'par-key')) FROM fault_nums;
SELECT count(sipcall.encrypt_data(t, 'par-key')) AS encrypted FROM fault_nums;
-- round trip in the workers, a key new to them too
SELECT count(*) FILTER (WHERE sipcall.decrypt_data(sipcall.encrypt_data(t, 'par-key'), 'par-key') = t) AS round_trip,
       count(*) FILTER (WHERE sipcall.decrypt_data(sipcall.encrypt_data(t, 'par-other'), 'par-other') = t) AS other_key
  FROM fault_nums;
-- what the workers decrypt equals what the serial plan decrypts
EXPLAIN (costs off)
SELECT count(*) FILTER (WHERE sipcall.decrypt_data(e, 'par-key') = n::text) AS parallel_ok,
       count(*) FILTER (WHERE sipcall.decrypt_data(pgp, 'par-key') = n::text) AS parallel_pgp_ok
  FROM fault_serial;
SELECT count(*) FILTER (WHERE sipcall.decrypt_data(e, 'par-key') = n::text) AS parallel_ok,
       count(*) FILTER (WHERE sipcall.decrypt_data(pgp, 'par-key') = n::text) AS parallel_pgp_ok
  FROM fault_serial;
-- a wrong key is the usual error, from a worker as from the leader
\set VERBOSITY terse
SELECT count(sipcall.decrypt_data(e, 'not-the-key')) FROM fault_serial;
\set VERBOSITY default

RESET parallel_leader_participation;
RESET max_parallel_workers_per_gather;
RESET min_parallel_table_scan_size;
RESET parallel_tuple_cost;
RESET parallel_setup_cost;
DROP TABLE fault_nums, fault_serial;
