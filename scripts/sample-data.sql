--
-- Sample data for `make demo`: a few users and a few hundred calls over the
-- last six months, numbers encrypted with the demo key 'demo-key'.
--
\set ON_ERROR_STOP 1
\set demo_key 'demo-key'

-- partitions for the current month and the next three, as the first
-- maintenance cycle makes them (CREATE EXTENSION makes none), and for the
-- months of the history
SELECT sipcall.premake_partitions() AS partitions_premade;
SELECT count(sipcall.create_partition(t, m::date)) AS partitions_made
  FROM unnest(ARRAY['sipcall.calls', 'sipcall.call_events', 'sipcall.audit_logs']::regclass[]) t,
       generate_series(now() - interval '6 months', now(), interval '1 month') m;

INSERT INTO sipcall.users (nextcloud_user_id, email, display_name, privacy_consent, privacy_consent_date, last_login)
VALUES ('alice', 'alice@example.org', 'Alice Example', true, now() - interval '200 days', now() - interval '1 hour'),
       ('bob', 'bob@example.org', 'Bob Example', true, now() - interval '190 days', now() - interval '2 days'),
       ('carol', 'carol@example.org', 'Carol Example', true, now() - interval '100 days', now() - interval '5 days'),
       ('dave', 'dave@example.org', 'Dave Example', false, NULL, NULL);

-- about 400 calls: random destinations, statuses, durations and costs
INSERT INTO sipcall.calls (user_id, destination_number_enc, caller_id_enc, call_uuid, status,
                           direction, initiated_at, answered_at, ended_at, duration_seconds,
                           cost_cents, codec, quality_score, disconnect_reason)
SELECT u.id,
       sipcall.encrypt_data('+49151' || lpad((g * 7919 % 10000000)::text, 7, '0'), :'demo_key'),
       sipcall.encrypt_data('+4930' || lpad((g % 1000)::text, 6, '0'), :'demo_key'),
       'demo-' || g,
       s.status,
       CASE WHEN g % 5 = 0 THEN 'inbound' ELSE 'outbound' END,
       t.at,
       CASE WHEN s.status = 'completed' THEN t.at + interval '8 seconds' END,
       t.at + interval '8 seconds' + d.secs * interval '1 second',
       CASE WHEN s.status = 'completed' THEN d.secs END,
       CASE WHEN s.status = 'completed' THEN 1 + d.secs / 30 END,
       'OPUS',
       CASE WHEN s.status = 'completed' THEN round((3 + random() * 2)::numeric, 2) END,
       CASE WHEN s.status = 'completed' THEN 'NORMAL_CLEARING' ELSE 'NO_ANSWER' END
  FROM generate_series(1, 400) g
  CROSS JOIN LATERAL (SELECT id FROM sipcall.users
                       ORDER BY nextcloud_user_id OFFSET g % 3 LIMIT 1) u
  CROSS JOIN LATERAL (SELECT now() - (g * 0.45) * interval '1 day' AS at) t
  CROSS JOIN LATERAL (SELECT (ARRAY['completed', 'completed', 'completed', 'failed', 'busy'])[1 + g % 5] AS status) s
  CROSS JOIN LATERAL (SELECT 20 + (g * 37) % 900 AS secs) d;

-- three FreeSWITCH events per call
INSERT INTO sipcall.call_events (call_id, event_type, event_data, "timestamp")
SELECT c.id, e.type, jsonb_build_object('codec', c.codec), c.initiated_at + e.offs
  FROM sipcall.calls c
  CROSS JOIN (VALUES ('CHANNEL_CREATE', interval '0'),
                     ('CHANNEL_ANSWER', interval '8 seconds'),
                     ('CHANNEL_HANGUP', interval '60 seconds')) e(type, offs);

INSERT INTO sipcall.audit_logs (user_id, action, resource_type, resource_id, ip_address, user_agent, "timestamp")
SELECT user_id, 'call_placed', 'call', id::text, '192.0.2.10', 'Nextcloud SIPCall', initiated_at
  FROM sipcall.calls WHERE direction = 'outbound';

SELECT sipcall.refresh_daily_summary();
