-- bench/call_insert_plain_ev10.sql: bench/call_insert_ev10.sql (a call plus ten
-- events, one INSERT each, in one transaction) with plain numbers.
-- The numbers NOT encrypted (as bench/call_insert_plain.sql): run on the
-- seed's schema, the ceiling no cipher can beat there.  Seed columns only.
\set u random(1, :users)
\set n random(0, 9999999999)
BEGIN;
INSERT INTO calls (user_id, destination_number_enc, caller_id_enc, call_uuid, status)
VALUES (('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid,
        convert_to('+4915' || lpad(:n::text, 10, '0'), 'UTF8'),
        convert_to('+4930' || lpad(:u::text, 10, '0'), 'UTF8'),
        gen_random_uuid()::text, 'initiated')
RETURNING id AS call_id \gset
INSERT INTO call_events (call_id, event_type, event_data)
VALUES (:call_id, 'CHANNEL_CREATE', '{"codec": "OPUS"}');
INSERT INTO call_events (call_id, event_type, event_data)
VALUES (:call_id, 'CHANNEL_PROGRESS', '{"codec": "OPUS"}');
INSERT INTO call_events (call_id, event_type, event_data)
VALUES (:call_id, 'CHANNEL_PROGRESS_MEDIA', '{"codec": "OPUS"}');
INSERT INTO call_events (call_id, event_type, event_data)
VALUES (:call_id, 'CHANNEL_ANSWER', '{"codec": "OPUS"}');
INSERT INTO call_events (call_id, event_type, event_data)
VALUES (:call_id, 'DTMF', '{"dtmf_digit": "1"}');
INSERT INTO call_events (call_id, event_type, event_data)
VALUES (:call_id, 'DTMF', '{"dtmf_digit": "2"}');
INSERT INTO call_events (call_id, event_type, event_data)
VALUES (:call_id, 'CHANNEL_HOLD', '{"codec": "OPUS"}');
INSERT INTO call_events (call_id, event_type, event_data)
VALUES (:call_id, 'CHANNEL_UNHOLD', '{"codec": "OPUS"}');
INSERT INTO call_events (call_id, event_type, event_data)
VALUES (:call_id, 'CHANNEL_BRIDGE', '{"codec": "OPUS"}');
INSERT INTO call_events (call_id, event_type, event_data)
VALUES (:call_id, 'CHANNEL_HANGUP', '{"sip_hangup_cause": "NORMAL_CLEARING"}');
END;
