-- bench/call_insert_plain_multi.sql: bench/call_insert_multi.sql (a call plus three
-- events as one multi-row INSERT) with plain numbers.
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
VALUES (:call_id, 'CHANNEL_CREATE', '{"codec": "OPUS"}'),
       (:call_id, 'CHANNEL_ANSWER', '{"codec": "OPUS"}'),
       (:call_id, 'CHANNEL_HANGUP', '{"sip_hangup_cause": "NORMAL_CLEARING"}');
END;
