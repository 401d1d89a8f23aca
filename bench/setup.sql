/*
 * bench/setup.sql: the generated data, loaded the same way into both
 * benchmark databases (bench_seed and bench_sipcall).
 *
 * Run by bench/run with psql variables:
 *   sipcall       true in bench_sipcall, false in bench_seed
 *   have_encrypt  true where encrypt_data() exists
 *   t0            today 00:00 UTC (end of the generated call history)
 *   n_nums n_users n_calls n_export n_audit key
 * The database's search_path ("sipcall, public" or "seed, public") decides
 * which design the unqualified table and function names below refer to.
 * Everything is a deterministic function of the row number and t0, so both
 * databases hold identical rows (except for ciphertexts, which each design
 * makes with its own encrypt_data).
 */
\set ON_ERROR_STOP on
\timing on

CREATE SCHEMA bench;

/* user n: 00000000-0000-4000-8000-<n, 12 digits> (pgbench builds the same) */
CREATE FUNCTION bench.uid(n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid $$;

/*
 * Stand-in ciphertext for bulk history rows (64 bytes, the size of an
 * encrypted phone number): encrypting 500,000 rows with the seed's
 * pgp_sym_encrypt would take over a minute, and no workload over the
 * history decrypts them.  The export user's calls are really encrypted.
 */
CREATE FUNCTION bench.fake_enc(n bigint) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT sha256(int8send(n)) || sha256(int8send(-n)) $$;

/* initiated_at of history call j: n_calls calls evenly over 182 days before t0 */
SELECT format($f$
CREATE FUNCTION bench.call_ts(j bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $b$ SELECT %L::timestamptz - interval '182 days'
                + (j - 1) * (interval '182 days' / %s) $b$
$f$, :'t0', :n_calls) \gexec

CREATE TABLE bench.params AS
SELECT :'t0'::timestamptz AS t0, :n_users::bigint AS n_users,
       :n_calls::bigint AS n_calls;

/* 15-byte phone numbers for the encryption workloads */
CREATE TABLE bench.nums AS
SELECT i, '+4915' || lpad(((i::bigint * 7919 + 12345) % 10000000000)::text, 10, '0') AS num
  FROM generate_series(1, :n_nums) i;
ALTER TABLE bench.nums ADD PRIMARY KEY (i);

/* the pgbench exactness check of check_rate_limit writes its answers here */
CREATE UNLOGGED TABLE bench.rl_result (ok boolean);

/*---- users: n_users app users, plus the export/erasure user ----*/
INSERT INTO users (id, nextcloud_user_id, email, display_name,
                   privacy_consent, privacy_consent_date, last_login)
SELECT bench.uid(i), 'nc-user-' || i, 'user' || i || '@example.org',
       'User ' || i, true, :'t0'::timestamptz - interval '400 days',
       :'t0'::timestamptz - interval '1 hour'
  FROM generate_series(1, :n_users) i;

INSERT INTO users (id, nextcloud_user_id, email, display_name,
                   privacy_consent, privacy_consent_date, last_login)
VALUES (bench.uid(1000001), 'nc-export-user', 'export@example.org',
        'Export User', true, :'t0'::timestamptz - interval '400 days',
        :'t0'::timestamptz - interval '1 hour');

/*---- call history: n_calls calls over the 182 days before t0 ----*/
INSERT INTO calls (id, user_id, destination_number_enc, caller_id_enc,
                   call_uuid, status, direction, initiated_at, answered_at,
                   ended_at, duration_seconds, cost_cents, currency, codec,
                   quality_score, disconnect_reason, created_at, updated_at)
SELECT md5('call' || j)::uuid, bench.uid(1 + j % :n_users),
       bench.fake_enc(j), bench.fake_enc(-j), 'fs-' || j,
       CASE WHEN j % 10 < 7 THEN 'completed'
            WHEN j % 10 < 9 THEN 'failed' ELSE 'busy' END,
       'outbound', ts, ts + interval '5 seconds',
       ts + (5 + j % 600) * interval '1 second', j % 600, (j % 600) / 6,
       'EUR', 'OPUS', 1 + (j % 400) / 100.0, 'NORMAL_CLEARING', ts, ts
  FROM (SELECT j, bench.call_ts(j) AS ts
          FROM generate_series(1, :n_calls) j) s;

/*
 * Call events for the retention workloads, loaded by bench/run through
 * bench.load_events(lo, hi, cnt, salt): cnt events evenly in [lo, hi),
 * each referring to a history call.  They are bulk-loaded with
 * session_replication_role = replica (no per-row foreign-key checks or
 * triggers; the rows are valid by construction), the same way in both
 * databases.
 */
\if :sipcall
CREATE FUNCTION bench.load_events(lo timestamptz, hi timestamptz, cnt bigint, salt bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    nc bigint := (SELECT n_calls FROM bench.params);
    nu bigint := (SELECT n_users FROM bench.params);
BEGIN
    PERFORM set_config('session_replication_role', 'replica', true);
    INSERT INTO sipcall.call_events (call_id, event_type, event_data, "timestamp",
                                     user_id)
    SELECT md5('call' || j)::uuid,
           (ARRAY['CHANNEL_CREATE', 'CHANNEL_ANSWER', 'DTMF', 'CHANNEL_HANGUP'])[1 + i % 4],
           '{"codec": "OPUS", "sip_hangup_cause": "NORMAL_CLEARING"}'::jsonb,
           lo + (i - 1) * ((hi - lo) / cnt),
           bench.uid(1 + j % nu)
      FROM (SELECT i, 1 + (i * 7 + salt) % nc AS j
              FROM generate_series(1, cnt) i) s;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('session_replication_role', 'origin', true);
    RETURN n;
END
$$;
\else
CREATE FUNCTION bench.load_events(lo timestamptz, hi timestamptz, cnt bigint, salt bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    nc bigint := (SELECT n_calls FROM bench.params);
BEGIN
    PERFORM set_config('session_replication_role', 'replica', true);
    INSERT INTO seed.call_events (call_id, event_type, event_data, "timestamp")
    SELECT md5('call' || j)::uuid,
           (ARRAY['CHANNEL_CREATE', 'CHANNEL_ANSWER', 'DTMF', 'CHANNEL_HANGUP'])[1 + i % 4],
           '{"codec": "OPUS", "sip_hangup_cause": "NORMAL_CLEARING"}'::jsonb,
           lo + (i - 1) * ((hi - lo) / cnt)
      FROM (SELECT i, 1 + (i * 7 + salt) % nc AS j
              FROM generate_series(1, cnt) i) s;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('session_replication_role', 'origin', true);
    RETURN n;
END
$$;
\endif

/*---- the export/erasure user: n_export calls, 3 events each, n_audit audit rows ----*/

/* 1,000 destination numbers and the user's own caller id, really encrypted */
\if :have_encrypt
CREATE TABLE bench.ct AS
SELECT k, encrypt_data('+4930' || lpad(((k * 7717 + 1) % 10000000000)::text, 10, '0'), :'key') AS enc
  FROM generate_series(0, 1000) k;
\else
CREATE TABLE bench.ct AS
SELECT k, bench.fake_enc(10000000 + k) AS enc
  FROM generate_series(0, 1000) k;
\endif

INSERT INTO calls (id, user_id, destination_number_enc, caller_id_enc,
                   call_uuid, status, direction, initiated_at, answered_at,
                   ended_at, duration_seconds, cost_cents, currency, codec,
                   quality_score, disconnect_reason, created_at, updated_at)
SELECT md5('xcall' || j)::uuid, bench.uid(1000001), d.enc, c.enc, 'fs-x-' || j,
       CASE WHEN j % 10 < 7 THEN 'completed' ELSE 'failed' END,
       'outbound', ts, ts + interval '5 seconds',
       ts + (5 + j % 600) * interval '1 second', j % 600, (j % 600) / 6,
       'EUR', 'OPUS', 1 + (j % 400) / 100.0, 'NORMAL_CLEARING', ts, ts
  FROM (SELECT j, :'t0'::timestamptz - interval '182 days' + interval '17 minutes'
                  + (j - 1) * (interval '182 days' / :n_export) AS ts
          FROM generate_series(1, :n_export) j) s
  JOIN bench.ct d ON d.k = s.j % 1000
  JOIN bench.ct c ON c.k = 1000;

/* events as the FreeSWITCH feed writes them: the seed's columns only */
INSERT INTO call_events (call_id, event_type, event_data, "timestamp")
SELECT md5('xcall' || j)::uuid, e.type, e.data, ts + e.off
  FROM (SELECT j, :'t0'::timestamptz - interval '182 days' + interval '17 minutes'
                  + (j - 1) * (interval '182 days' / :n_export) AS ts
          FROM generate_series(1, :n_export) j) s,
       (VALUES ('CHANNEL_CREATE', '{"codec": "OPUS"}'::jsonb, interval '0'),
               ('CHANNEL_ANSWER', '{"codec": "OPUS"}'::jsonb, interval '5 seconds'),
               ('CHANNEL_HANGUP', '{"sip_hangup_cause": "NORMAL_CLEARING"}'::jsonb,
                interval '10 minutes')) AS e(type, data, off);

INSERT INTO audit_logs (user_id, action, resource_type, resource_id, details,
                        ip_address, user_agent, "timestamp")
SELECT bench.uid(1000001), 'login', 'session', 'session-' || k,
       jsonb_build_object('client', 'nextcloud', 'n', k), '192.0.2.7',
       'Mozilla/5.0 (X11; Linux x86_64)', :'t0'::timestamptz - k * interval '1 hour'
  FROM generate_series(1, :n_audit) k;
