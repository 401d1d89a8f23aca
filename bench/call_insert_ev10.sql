-- bench/call_insert_ev10.sql: a call with two encrypted numbers plus TEN events,
-- one INSERT each, in one transaction (an event feed sends many per call).
-- Written against the seed's columns only, like bench/call_insert.sql, so the
-- same text runs on both databases; the key is a bind parameter.
\set u random(1, :users)
\set n random(0, 9999999999)
BEGIN;
INSERT INTO calls (user_id, destination_number_enc, caller_id_enc, call_uuid, status)
VALUES (('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid,
        encrypt_data('+4915' || lpad(:n::text, 10, '0'), :key),
        encrypt_data('+4930' || lpad(:u::text, 10, '0'), :key),
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
