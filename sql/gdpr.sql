--
-- GDPR export and erasure.  Nothing here depends on ciphertext bytes: only
-- on decrypted values and SQLSTATEs.
--
SET client_min_messages = warning;

INSERT INTO sipcall.users (id, nextcloud_user_id, email, display_name, privacy_consent)
VALUES ('9d000000-0000-4000-8000-000000000001', 'gdpr_alice', 'alice@example.org', 'Alice', true),
       ('9d000000-0000-4000-8000-000000000002', 'gdpr_bob', 'bob@example.org', 'Bob', false);

INSERT INTO sipcall.calls (id, user_id, destination_number_enc, caller_id_enc, status,
                           initiated_at, duration_seconds, cost_cents)
VALUES ('9dca0000-0000-4000-8000-000000000001', '9d000000-0000-4000-8000-000000000001',
        sipcall.encrypt_data('+4915112345678', 'gdpr-key'), sipcall.encrypt_data('+4930111', 'gdpr-key'),
        'completed', '2026-01-05 10:00:00+00', 60, 12),
       ('9dca0000-0000-4000-8000-000000000002', '9d000000-0000-4000-8000-000000000001',
        sipcall.encrypt_data('+33123456', 'gdpr-key'), NULL,
        'failed', '2025-12-05 10:00:00+00', NULL, NULL),
       ('9dca0000-0000-4000-8000-000000000003', '9d000000-0000-4000-8000-000000000002',
        sipcall.encrypt_data('+4420999', 'gdpr-key'), NULL,
        'completed', '2026-01-06 10:00:00+00', 5, 1);
INSERT INTO sipcall.call_events (call_id, event_type, event_data, "timestamp")
VALUES ('9dca0000-0000-4000-8000-000000000001', 'CHANNEL_ANSWER', '{"codec": "OPUS"}', '2026-01-05 10:00:02+00'),
       ('9dca0000-0000-4000-8000-000000000001', 'CHANNEL_HANGUP', '"normal"', '2026-01-05 10:01:02+00'),
       ('9dca0000-0000-4000-8000-000000000003', 'CHANNEL_ANSWER', NULL, '2026-01-06 10:00:01+00');
INSERT INTO sipcall.rate_limits (user_id, endpoint, request_count)
VALUES ('9d000000-0000-4000-8000-000000000001', '/call', 3),
       ('9d000000-0000-4000-8000-000000000002', '/call', 1);
INSERT INTO sipcall.audit_logs (user_id, action, resource_type, resource_id, details,
                                ip_address, user_agent, "timestamp")
VALUES ('9d000000-0000-4000-8000-000000000001', 'gdpr_t_login', 'session', 's1', '{"ok": true}',
        '192.0.2.1', 'Firefox', '2026-01-05 09:00:00+00'),
       ('9d000000-0000-4000-8000-000000000002', 'gdpr_t_admin_view', 'user',
        'user:9d000000-0000-4000-8000-000000000001', '{"why": "support"}',
        '192.0.2.2', 'curl', '2026-01-05 09:30:00+00'),
       (NULL, 'gdpr_t_note', NULL, NULL, '{"about": "9D000000-0000-4000-8000-000000000001"}',
        NULL, NULL, '2026-01-05 09:40:00+00'),
       ('9d000000-0000-4000-8000-000000000002', 'gdpr_t_bob', 'session', 's2', '{"ok": true}',
        '192.0.2.2', 'curl', '2026-01-05 09:50:00+00');

-- the export: seed keys and shape, numbers decrypted, calls by initiated_at
-- (serial ids and now()-dependent times left out)
WITH e AS (SELECT sipcall.export_user_data('9d000000-0000-4000-8000-000000000001', 'gdpr-key') AS j)
SELECT jsonb_pretty(jsonb_set(jsonb_set(j #- '{user,created_at}' #- '{user,updated_at}',
         '{call_events}', (SELECT jsonb_agg(x - 'id') FROM jsonb_array_elements(j -> 'call_events') x)),
         '{audit_logs}', (SELECT jsonb_agg(x - 'id') FROM jsonb_array_elements(j -> 'audit_logs') x)))
  FROM e;
SELECT (SELECT array_agg(x -> 'id' ORDER BY x -> 'id') FROM jsonb_array_elements(j -> 'call_events') x)
       = (SELECT array_agg(to_jsonb(id) ORDER BY id) FROM sipcall.call_events
           WHERE user_id = '9d000000-0000-4000-8000-000000000001') AS event_ids_ok
  FROM sipcall.export_user_data('9d000000-0000-4000-8000-000000000001', 'gdpr-key') AS j;

-- it equals a reference built in SQL, also as text, and survives a round trip
WITH e AS (SELECT sipcall.export_user_data('9d000000-0000-4000-8000-000000000001', 'gdpr-key') AS j),
     r AS (SELECT jsonb_build_object(
       'user', (SELECT to_jsonb(u) FROM sipcall.users u WHERE u.id = '9d000000-0000-4000-8000-000000000001'),
       'calls', (SELECT jsonb_agg(jsonb_build_object('id', c.id,
                    'destination_number', sipcall.decrypt_data(c.destination_number_enc, 'gdpr-key'),
                    'caller_id', sipcall.decrypt_data(c.caller_id_enc, 'gdpr-key'), 'status', c.status,
                    'initiated_at', c.initiated_at, 'duration_seconds', c.duration_seconds,
                    'cost_cents', c.cost_cents) ORDER BY c.initiated_at)
                   FROM sipcall.calls c WHERE c.user_id = '9d000000-0000-4000-8000-000000000001'),
       'call_events', (SELECT jsonb_agg(jsonb_build_object('id', v.id, 'call_id', v.call_id,
                    'event_type', v.event_type, 'event_data', v.event_data,
                    'timestamp', v."timestamp") ORDER BY v."timestamp")
                   FROM sipcall.call_events v WHERE v.user_id = '9d000000-0000-4000-8000-000000000001'),
       'audit_logs', (SELECT jsonb_agg(jsonb_build_object('id', a.id, 'action', a.action,
                    'resource_type', a.resource_type, 'resource_id', a.resource_id,
                    'details', a.details, 'ip_address', a.ip_address, 'user_agent', a.user_agent,
                    'timestamp', a."timestamp") ORDER BY a."timestamp", a.id)
                   FROM sipcall.audit_logs a WHERE a.user_id = '9d000000-0000-4000-8000-000000000001')) AS j)
SELECT e.j = r.j AS equal, e.j::text = r.j::text AS same_text,
       e.j::text::jsonb = e.j AS round_trip,
       e.j @> '{"calls": [{"caller_id": null, "destination_number": "+33123456"}]}' AS contains,
       (e.j #>> '{calls,1,cost_cents}')::int + 1 AS cost_plus_one
  FROM e, r;

-- each export is audited, with counts and no phone numbers
SELECT action, resource_type, resource_id, details - 'requested_by' AS details,
       details::text LIKE '%+49%' OR details::text LIKE '%+33%' AS has_number
  FROM sipcall.audit_logs
 WHERE action = 'gdpr_export' AND user_id = '9d000000-0000-4000-8000-000000000001'
 ORDER BY id;

-- a user without calls: empty arrays
INSERT INTO sipcall.users (id, nextcloud_user_id) VALUES ('9d000000-0000-4000-8000-000000000003', 'gdpr_carol');
SELECT e - 'user' AS rest, e #>> '{user,nextcloud_user_id}' AS who
  FROM sipcall.export_user_data('9d000000-0000-4000-8000-000000000003', 'any key') AS e;

-- many rows stored out of order, with equal times: ordered by time, then
-- id, whatever order the scan finds them in (the export orders them itself)
INSERT INTO sipcall.users (id, nextcloud_user_id) VALUES ('9d000000-0000-4000-8000-000000000004', 'gdpr_dave');
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, caller_id_enc, status,
                           initiated_at, duration_seconds, cost_cents, quality_score)
SELECT md5('call' || i)::uuid, '9d000000-0000-4000-8000-000000000004',
       sipcall.encrypt_data('+49' || i, 'gdpr-key'),
       CASE WHEN i % 3 = 0 THEN NULL ELSE sipcall.encrypt_data('+33' || i, 'gdpr-key') END,
       repeat('s', i % 7), '2026-02-01 00:00:00+00'::timestamptz + (i % 50) * interval '1 minute',
       i * 1000003, CASE WHEN i % 5 = 0 THEN NULL ELSE i END, 0.5
  FROM generate_series(1, 300) i ORDER BY md5(i::text);
INSERT INTO sipcall.call_events (call_id, event_type, event_data, "timestamp")
SELECT md5('call' || (i % 300 + 1))::uuid, repeat('e', i % 5),
       CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN jsonb_build_object('n', i / 7.0)
                  WHEN 2 THEN to_jsonb(i * 1.25) ELSE jsonb_build_array(i, 'x') END,
       '2026-02-01 00:00:00+00'::timestamptz + (i % 40) * interval '1 second'
  FROM generate_series(1, 900) i ORDER BY md5('e' || i);
-- rows updated (their old versions still in the indexes) and deleted: fewer
-- rows are exported than the user_id index gives
UPDATE sipcall.calls SET status = status || 'x'
 WHERE user_id = '9d000000-0000-4000-8000-000000000004' AND cost_cents % 7 = 0;
UPDATE sipcall.call_events SET event_type = event_type || 'u'
 WHERE user_id = '9d000000-0000-4000-8000-000000000004' AND id % 11 = 0;
DELETE FROM sipcall.call_events
 WHERE user_id = '9d000000-0000-4000-8000-000000000004' AND id % 13 = 0;
WITH e AS (SELECT sipcall.export_user_data('9d000000-0000-4000-8000-000000000004', 'gdpr-key') AS j),
     r AS (SELECT jsonb_build_object(
       'calls', (SELECT jsonb_agg(jsonb_build_object('id', c.id,
                    'destination_number', sipcall.decrypt_data(c.destination_number_enc, 'gdpr-key'),
                    'caller_id', sipcall.decrypt_data(c.caller_id_enc, 'gdpr-key'), 'status', c.status,
                    'initiated_at', c.initiated_at, 'duration_seconds', c.duration_seconds,
                    'cost_cents', c.cost_cents) ORDER BY c.initiated_at, c.id)
                   FROM sipcall.calls c WHERE c.user_id = '9d000000-0000-4000-8000-000000000004'),
       'call_events', (SELECT jsonb_agg(jsonb_build_object('id', v.id, 'call_id', v.call_id,
                    'event_type', v.event_type, 'event_data', v.event_data,
                    'timestamp', v."timestamp") ORDER BY v."timestamp", v.id)
                   FROM sipcall.call_events v WHERE v.user_id = '9d000000-0000-4000-8000-000000000004')) AS j)
SELECT jsonb_array_length(e.j -> 'calls') AS calls, jsonb_array_length(e.j -> 'call_events') AS events,
       e.j -> 'calls' = r.j -> 'calls' AS calls_equal,
       (e.j -> 'calls')::text = (r.j -> 'calls')::text AS calls_same_text,
       e.j -> 'call_events' = r.j -> 'call_events' AS events_equal,
       (e.j -> 'call_events')::text = (r.j -> 'call_events')::text AS events_same_text,
       e.j::text::jsonb = e.j AS round_trip
  FROM e, r;

-- rows stored in order, one of them deleted: one row fewer than the index
-- gives, and the data moves back over the JEntry left unused
INSERT INTO sipcall.users (id, nextcloud_user_id) VALUES ('9d000000-0000-4000-8000-000000000006', 'gdpr_frank');
-- (and integers at the edges of numeric's base-10000 digits and of int4)
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at,
                           duration_seconds, cost_cents)
SELECT md5('frank' || i)::uuid, '9d000000-0000-4000-8000-000000000006',
       sipcall.encrypt_data('+4930' || i, 'gdpr-key'), '2026-03-01 00:00:00+00'::timestamptz + i * interval '1 hour',
       (ARRAY[0, -1, 7, 2147483647, -2147483648])[i], (ARRAY[9999, -10000, 7, 100000000, 12340000])[i]
  FROM generate_series(1, 5) i ORDER BY i;
DELETE FROM sipcall.calls WHERE id = md5('frank3')::uuid;
SELECT jsonb_path_query_array(e -> 'calls', '$[*].destination_number') AS numbers,
       jsonb_path_query_array(e -> 'calls', '$[*].initiated_at') AS times,
       jsonb_path_query_array(e -> 'calls', '$[*].duration_seconds') AS durations,
       jsonb_path_query_array(e -> 'calls', '$[*].cost_cents') AS costs,
       e -> 'calls' = (SELECT jsonb_agg(jsonb_build_object('id', c.id, 'destination_number',
                                 sipcall.decrypt_data(c.destination_number_enc, 'gdpr-key'),
                                 'caller_id', NULL, 'status', c.status, 'initiated_at', c.initiated_at,
                                 'duration_seconds', c.duration_seconds, 'cost_cents', c.cost_cents)
                                 ORDER BY c.initiated_at)
                         FROM sipcall.calls c WHERE c.user_id = '9d000000-0000-4000-8000-000000000006') AS equal
  FROM sipcall.export_user_data('9d000000-0000-4000-8000-000000000006', 'gdpr-key') AS e;

-- rows in a partition that is itself partitioned are exported too; its
-- month lies a century ahead of the clock, where no premake reaches
SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '100 years') AT TIME ZONE 'UTC'
       AS sub_month \gset
SELECT format('CREATE TABLE sipcall.calls_gdpr_sub PARTITION OF sipcall.calls
                   FOR VALUES FROM (%L) TO (%L) PARTITION BY HASH (user_id)',
              :'sub_month', :'sub_month'::timestamptz + interval '1 month') AS ddl \gset
:ddl;
CREATE TABLE sipcall.calls_gdpr_sub_0 PARTITION OF sipcall.calls_gdpr_sub
    FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE sipcall.calls_gdpr_sub_1 PARTITION OF sipcall.calls_gdpr_sub
    FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
VALUES ('9dca0000-0000-4000-8000-0000000000ff', '9d000000-0000-4000-8000-000000000004',
        sipcall.encrypt_data('+4999', 'gdpr-key'), :'sub_month'::timestamptz + interval '14 days 12 hours');
SELECT jsonb_array_length(e -> 'calls') AS calls,
       e #>> '{calls,-1,id}' AS last_call, e #>> '{calls,-1,destination_number}' AS number
  FROM sipcall.export_user_data('9d000000-0000-4000-8000-000000000004', 'gdpr-key') AS e;
DELETE FROM sipcall.calls WHERE id = '9dca0000-0000-4000-8000-0000000000ff';
DROP TABLE sipcall.calls_gdpr_sub;

-- NULL in, NULL out
SELECT sipcall.export_user_data(NULL, 'gdpr-key') IS NULL AS null_id,
       sipcall.export_user_data('9d000000-0000-4000-8000-000000000001', NULL) IS NULL AS null_key;

-- errors: unknown user, wrong key; nothing is returned and nothing audited
\set VERBOSITY sqlstate
SELECT sipcall.export_user_data('9d000000-0000-4000-8000-0000000000ff', 'gdpr-key');
SELECT count(*) AS exports_before FROM sipcall.audit_logs WHERE action = 'gdpr_export';
SELECT sipcall.export_user_data('9d000000-0000-4000-8000-000000000001', 'not the key');
\set VERBOSITY default
SELECT count(*) AS exports_after FROM sipcall.audit_logs WHERE action = 'gdpr_export';

-- the search path cannot redirect decrypt_data
CREATE SCHEMA gdpr_evil;
CREATE FUNCTION gdpr_evil.decrypt_data(bytea, text) RETURNS text
    LANGUAGE sql AS $$SELECT 'hijacked'$$;
SET search_path = gdpr_evil, public;
SELECT sipcall.export_user_data('9d000000-0000-4000-8000-000000000001', 'gdpr-key')
       #>> '{calls,0,destination_number}' AS number;
RESET search_path;
DROP SCHEMA gdpr_evil CASCADE;

-- privileges: revoked from PUBLIC; a grant of EXECUTE is all a role needs
CREATE ROLE gdpr_app;
GRANT USAGE ON SCHEMA sipcall TO gdpr_app;
SET ROLE gdpr_app;
SELECT sipcall.export_user_data('9d000000-0000-4000-8000-000000000001', 'gdpr-key');
SELECT sipcall.delete_user_data('9d000000-0000-4000-8000-000000000001');
RESET ROLE;
GRANT EXECUTE ON FUNCTION sipcall.export_user_data(uuid, text),
                          sipcall.delete_user_data(uuid) TO gdpr_app;
SET ROLE gdpr_app;
SELECT jsonb_array_length(sipcall.export_user_data('9d000000-0000-4000-8000-000000000001', 'gdpr-key') -> 'calls') AS calls;
SELECT count(*) FROM sipcall.calls;  -- no table privileges of its own
RESET ROLE;

-- erasure
SELECT sipcall.delete_user_data('9d000000-0000-4000-8000-000000000001') AS erased;
SELECT (SELECT count(*) FROM sipcall.users WHERE id = '9d000000-0000-4000-8000-000000000001') AS users,
       (SELECT count(*) FROM sipcall.calls WHERE user_id = '9d000000-0000-4000-8000-000000000001') AS calls,
       (SELECT count(*) FROM sipcall.call_keys WHERE user_id = '9d000000-0000-4000-8000-000000000001') AS call_keys,
       (SELECT count(*) FROM sipcall.call_events WHERE user_id = '9d000000-0000-4000-8000-000000000001') AS events,
       (SELECT count(*) FROM sipcall.rate_limits WHERE user_id = '9d000000-0000-4000-8000-000000000001') AS rate_limits;
-- no audit entry holds the id anywhere, in any case
SELECT count(*) AS mentions
  FROM sipcall.audit_logs
 WHERE user_id = '9d000000-0000-4000-8000-000000000001'
    OR lower(resource_id) LIKE '%9d000000-0000-4000-8000-000000000001%'
    OR lower(details::text) LIKE '%9d000000-0000-4000-8000-000000000001%';
-- their entries keep action and time; others keep what is not about them
SELECT action, "timestamp", user_id IS NULL AS no_user, resource_type, resource_id,
       details, ip_address, user_agent
  FROM sipcall.audit_logs
 WHERE action LIKE 'gdpr_t_%'
 ORDER BY "timestamp", id;
SELECT action, user_id IS NULL AS no_user, resource_type, resource_id,
       details - 'requested_by' AS details, count(*)
  FROM sipcall.audit_logs
 WHERE action = 'gdpr_export'
 GROUP BY 1, 2, 3, 4, 5 ORDER BY 2, 5::text;
-- the erasure is recorded, with counts and nothing personal
SELECT action, user_id, resource_type, resource_id, details - 'requested_by' AS details,
       details ? 'requested_by' AS has_requester, ip_address, user_agent
  FROM sipcall.audit_logs WHERE action = 'gdpr_erasure';
-- the others' data is untouched
SELECT (SELECT count(*) FROM sipcall.calls WHERE user_id = '9d000000-0000-4000-8000-000000000002') AS bob_calls,
       (SELECT count(*) FROM sipcall.call_keys WHERE user_id = '9d000000-0000-4000-8000-000000000002') AS bob_keys,
       (SELECT count(*) FROM sipcall.call_events WHERE user_id = '9d000000-0000-4000-8000-000000000002') AS bob_events,
       (SELECT count(*) FROM sipcall.rate_limits WHERE user_id = '9d000000-0000-4000-8000-000000000002') AS bob_limits;
-- the person is gone for the export, and a second erasure says false
\set VERBOSITY sqlstate
SELECT sipcall.export_user_data('9d000000-0000-4000-8000-000000000001', 'gdpr-key');
\set VERBOSITY default
SELECT sipcall.delete_user_data('9d000000-0000-4000-8000-000000000001') AS erased_again,
       sipcall.delete_user_data(NULL) AS erased_null;
-- a call id of the erased person can be used again
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
VALUES ('9dca0000-0000-4000-8000-000000000001', '9d000000-0000-4000-8000-000000000002',
        sipcall.encrypt_data('+1555', 'gdpr-key'), '2026-01-07 00:00:00+00');

-- erasure is one transaction: rolled back, everything is back
BEGIN;
SELECT sipcall.delete_user_data('9d000000-0000-4000-8000-000000000002') AS erased;
ROLLBACK;
SELECT jsonb_array_length(sipcall.export_user_data('9d000000-0000-4000-8000-000000000002', 'gdpr-key') -> 'calls') AS bob_calls;

-- an erasure leaves the daily summary like any delete: after a refresh it
-- equals a from-scratch aggregation of the calls that remain
SELECT sipcall.refresh_daily_summary();
SELECT sipcall.delete_user_data('9d000000-0000-4000-8000-000000000002') AS erased;
SELECT sipcall.refresh_daily_summary();
SELECT count(*) AS summary_differences FROM (
    (SELECT * FROM sipcall.daily_call_summary
     EXCEPT
     SELECT (initiated_at AT TIME ZONE 'UTC')::date, count(*),
            count(*) FILTER (WHERE status = 'completed'),
            round(avg(duration_seconds)), sum(cost_cents)
       FROM sipcall.calls GROUP BY 1)
    UNION ALL
    (SELECT (initiated_at AT TIME ZONE 'UTC')::date, count(*),
            count(*) FILTER (WHERE status = 'completed'),
            round(avg(duration_seconds)), sum(cost_cents)
       FROM sipcall.calls GROUP BY 1
     EXCEPT
     SELECT * FROM sipcall.daily_call_summary)) d;
SELECT count(*) AS erased_days_left FROM sipcall.daily_call_summary
 WHERE call_date = '2026-01-07';

-- timestamps are written as to_jsonb() writes them, in the session's time
-- zone: across transitions, offsets with seconds (local mean time),
-- fractions of a second, and the values written by the general path
-- (infinities, years BC and past 9999)
INSERT INTO sipcall.users (id, nextcloud_user_id) VALUES ('9d000000-0000-4000-8000-000000000005', 'gdpr_erin');
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
SELECT md5('tz' || ts)::uuid, '9d000000-0000-4000-8000-000000000005', enc, ts
  FROM (SELECT sipcall.encrypt_data('+4911', 'gdpr-key') AS enc) k,
       (SELECT generate_series('1850-01-01 00:00:00+00'::timestamptz, '2250-01-01 00:00:00+00',
                               interval '97 days 5 hours 13 minutes 29.123457 seconds') AS ts
        UNION
        SELECT '2026-03-29 01:00:00+00'::timestamptz + d * interval '1 microsecond'
          FROM generate_series(-1, 1) d
        UNION
        SELECT '2026-10-25 01:00:00+00'::timestamptz + d * interval '1 microsecond'
          FROM generate_series(-1, 1) d
        UNION
        SELECT t::timestamptz FROM unnest(ARRAY['2026-06-01 12:00:00.5+00', '2026-06-01 12:00:00.000001+00',
                                               '2026-06-01 12:00:00.12+00', '1969-12-31 23:59:59.999999+00',
                                               '1999-12-31 23:59:59.9+00', '0001-01-01 00:00:00+00',
                                               '9999-12-31 23:59:59.999999+00', '0044-03-15 12:00:00+00 BC',
                                               '10000-01-02 12:00:00+00', 'infinity', '-infinity']) t) s;
CREATE FUNCTION pg_temp.zone_mismatches(zone text, OUT n bigint, OUT differ bigint)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('TimeZone', zone, true);
    SELECT count(*), count(*) FILTER (WHERE e ->> 'initiated_at' IS DISTINCT FROM to_jsonb(c.initiated_at) ->> 0)
      INTO n, differ
      FROM jsonb_array_elements(sipcall.export_user_data('9d000000-0000-4000-8000-000000000005',
                                                         'gdpr-key') -> 'calls') e
      JOIN sipcall.calls c ON c.id = (e ->> 'id')::uuid;
END
$$;
SELECT zone, (pg_temp.zone_mismatches(zone)).*
  FROM unnest(ARRAY['UTC', 'Europe/Berlin', 'America/New_York', 'America/St_Johns',
                    'Australia/Lord_Howe', 'Asia/Kathmandu', 'Europe/Amsterdam',
                    'Africa/Monrovia', 'Pacific/Chatham', 'America/Sao_Paulo', 'EST5EDT',
                    '<+0330>-03:30']) zone;
SELECT e #>> '{calls,0,initiated_at}' AS first, e #>> '{calls,-1,initiated_at}' AS last
  FROM sipcall.export_user_data('9d000000-0000-4000-8000-000000000005', 'gdpr-key') e;
SELECT e #>> '{calls,1,initiated_at}' AS bc, e #>> '{calls,-2,initiated_at}' AS year_10000
  FROM sipcall.export_user_data('9d000000-0000-4000-8000-000000000005', 'gdpr-key') e;

-- clean up
SET ROLE gdpr_app;
SELECT sipcall.delete_user_data('9d000000-0000-4000-8000-000000000002'),
       sipcall.delete_user_data('9d000000-0000-4000-8000-000000000003'),
       sipcall.delete_user_data('9d000000-0000-4000-8000-000000000004'),
       sipcall.delete_user_data('9d000000-0000-4000-8000-000000000005'),
       sipcall.delete_user_data('9d000000-0000-4000-8000-000000000006');
RESET ROLE;
DELETE FROM sipcall.audit_logs WHERE action IN ('gdpr_export', 'gdpr_erasure') OR action LIKE 'gdpr_t_%';
REVOKE ALL ON SCHEMA sipcall FROM gdpr_app;
REVOKE ALL ON FUNCTION sipcall.export_user_data(uuid, text), sipcall.delete_user_data(uuid) FROM gdpr_app;
DROP ROLE gdpr_app;
