-- bench/call_insert_plain.sql: bench/call_insert.sql with the numbers NOT
-- encrypted, run on the seed's schema: the ceiling that no cipher can beat
-- there.  A call plus three events in one transaction, seed columns only.
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
VALUES (:call_id, 'CHANNEL_ANSWER', '{"codec": "OPUS"}');
INSERT INTO call_events (call_id, event_type, event_data)
VALUES (:call_id, 'CHANNEL_HANGUP', '{"sip_hangup_cause": "NORMAL_CLEARING"}');
END;
