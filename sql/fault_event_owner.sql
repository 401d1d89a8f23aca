--
-- Issue 16, item 2: the user_id of a call event is always its call's.
-- An event filed under another user escaped export_user_data and
-- delete_user_data.  Now a user_id given with an event must be the call's
-- (else 23503), one left out is filled in, and events follow their call
-- when it changes owner.
-- In one transaction rolled back at the end: the exports and erasures
-- made here leave no audit rows for gdpr.sql to count.
--
SET client_min_messages = warning;
\set VERBOSITY default
BEGIN;
\set ON_ERROR_ROLLBACK on

INSERT INTO sipcall.users (id, nextcloud_user_id)
VALUES ('9e000000-0000-4000-8000-000000000001', 'owner_alice'),
       ('9e000000-0000-4000-8000-000000000002', 'owner_bob'),
       ('9e000000-0000-4000-8000-000000000003', 'owner_carol');
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
VALUES ('9eca0000-0000-4000-8000-000000000001', '9e000000-0000-4000-8000-000000000001',
        sipcall.encrypt_data('+4915100001', 'owner-key'), '2026-01-05 10:00:00+00'),
       ('9eca0000-0000-4000-8000-000000000002', '9e000000-0000-4000-8000-000000000002',
        sipcall.encrypt_data('+4915100002', 'owner-key'), '2026-01-06 10:00:00+00');

-- another user's id, or a random one: rejected
INSERT INTO sipcall.call_events (call_id, event_type, event_data, user_id, "timestamp")
VALUES ('9eca0000-0000-4000-8000-000000000001', 'CHANNEL_ANSWER', '{"secret": 1}',
        '9e000000-0000-4000-8000-000000000002', '2026-01-05 10:00:01+00');
INSERT INTO sipcall.call_events (call_id, event_type, user_id, "timestamp")
VALUES ('9eca0000-0000-4000-8000-000000000001', 'CHANNEL_ANSWER',
        'ffffffff-0000-4000-8000-000000000000', '2026-01-05 10:00:01+00');
-- the call's own user, or none: accepted
INSERT INTO sipcall.call_events (call_id, event_type, event_data, user_id, "timestamp")
VALUES ('9eca0000-0000-4000-8000-000000000001', 'CHANNEL_ANSWER', '{"a": 1}',
        '9e000000-0000-4000-8000-000000000001', '2026-01-05 10:00:01+00'),
       ('9eca0000-0000-4000-8000-000000000001', 'CHANNEL_HANGUP', '{"a": 2}',
        NULL, '2026-01-05 10:01:01+00'),
       ('9eca0000-0000-4000-8000-000000000002', 'CHANNEL_ANSWER', '{"b": 1}',
        NULL, '2026-01-06 10:00:01+00');
SELECT call_id, event_type, user_id FROM sipcall.call_events
 WHERE call_id::text LIKE '9eca%' ORDER BY "timestamp";

-- updating an event: user_id cannot be changed away from the call's
UPDATE sipcall.call_events SET user_id = '9e000000-0000-4000-8000-000000000002'
 WHERE event_data = '{"a": 1}';
-- nor set to a third user together with a move to another call
UPDATE sipcall.call_events SET call_id = '9eca0000-0000-4000-8000-000000000002',
       user_id = '9e000000-0000-4000-8000-000000000003'
 WHERE event_data = '{"a": 2}';
-- a move to another call with user_id left alone takes the new call's user
UPDATE sipcall.call_events SET call_id = '9eca0000-0000-4000-8000-000000000002'
 WHERE event_data = '{"a": 2}' RETURNING call_id, user_id;
UPDATE sipcall.call_events SET call_id = '9eca0000-0000-4000-8000-000000000001',
       user_id = '9e000000-0000-4000-8000-000000000001'
 WHERE event_data = '{"a": 2}' RETURNING call_id, user_id;

-- a call that changes owner takes its events along
UPDATE sipcall.calls SET user_id = '9e000000-0000-4000-8000-000000000003'
 WHERE id = '9eca0000-0000-4000-8000-000000000002';
SELECT call_id, event_type, user_id FROM sipcall.call_events
 WHERE call_id::text LIKE '9eca%' ORDER BY "timestamp";
UPDATE sipcall.calls SET user_id = '9e000000-0000-4000-8000-000000000002'
 WHERE id = '9eca0000-0000-4000-8000-000000000002';

-- the try of the issue: an event of Alice's call filed under Bob
INSERT INTO sipcall.call_events (call_id, event_type, event_data, user_id, "timestamp")
VALUES ('9eca0000-0000-4000-8000-000000000001', 'CHANNEL_BRIDGE', '{"kept": "secret"}',
        '9e000000-0000-4000-8000-000000000002', '2026-01-05 10:00:30+00');
-- export sees every event of Alice's call, erasure removes them all
SELECT jsonb_path_query_array(sipcall.export_user_data('9e000000-0000-4000-8000-000000000001', 'owner-key'),
                              '$.call_events[*].event_data') AS alice_events;
SELECT jsonb_path_query_array(sipcall.export_user_data('9e000000-0000-4000-8000-000000000002', 'owner-key'),
                              '$.call_events[*].event_data') AS bob_events;
SELECT sipcall.delete_user_data('9e000000-0000-4000-8000-000000000001');
SELECT call_id, event_type, user_id FROM sipcall.call_events
 WHERE call_id::text LIKE '9eca%' ORDER BY "timestamp";
SELECT count(*) AS alice_left FROM sipcall.call_events
 WHERE call_id = '9eca0000-0000-4000-8000-000000000001'
    OR user_id = '9e000000-0000-4000-8000-000000000001';

ROLLBACK;
\set ON_ERROR_ROLLBACK off
