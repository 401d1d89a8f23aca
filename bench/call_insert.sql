-- bench/call_insert.sql: a call with two encrypted numbers plus three events,
-- in one transaction, written against the seed's columns only.  The key is
-- a bind parameter (pgbench -M prepared), as applications should pass it.
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
VALUES (:call_id, 'CHANNEL_ANSWER', '{"codec": "OPUS"}');
INSERT INTO call_events (call_id, event_type, event_data)
VALUES (:call_id, 'CHANNEL_HANGUP', '{"sip_hangup_cause": "NORMAL_CLEARING"}');
END;
