--
-- How a call's registry row (sipcall.call_keys) is written and read on the
-- insert path: calls_keys_trigger writes it without the executor when
-- call_keys is as sipcall made it, and runs INSERT otherwise; the events'
-- fill trigger reads the row the same transaction just wrote from where it
-- was written, and must notice when that row is no longer the call's.
--
SET client_min_messages = warning;

INSERT INTO sipcall.users (id, nextcloud_user_id)
VALUES ('00000000-0000-0000-0000-0000000ca001', 'ck_alice'),
       ('00000000-0000-0000-0000-0000000ca002', 'ck_bob');

-- the row written is the call's; the call_uuid stays unique (23505)
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000cc001', '00000000-0000-0000-0000-0000000ca001',
        '\x01', '2020-02-10 10:00+00', 'ck-1');
SELECT id, call_uuid, user_id, initiated_at AT TIME ZONE 'UTC' AS initiated_utc
  FROM sipcall.call_keys WHERE id = '00000000-0000-0000-0000-0000000cc001';
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000ca002', '\x01', '2020-05-10 10:00+00', 'ck-1');
-- two calls with one call_uuid in one statement
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000ca001', '\x01', '2020-02-11 10:00+00', 'ck-2'),
       ('00000000-0000-0000-0000-0000000ca002', '\x01', '2020-07-11 10:00+00', 'ck-2');
-- a NULL key is refused (23502), and leaves no registry row
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
VALUES (NULL, '00000000-0000-0000-0000-0000000ca001', '\x01', '2020-02-10 11:00+00');
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000cc0e1', NULL, '\x01', '2020-02-10 11:00+00');
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000cc0e2', '00000000-0000-0000-0000-0000000ca001', '\x01', NULL);
SELECT count(*) AS keys_without_call FROM sipcall.call_keys k
 WHERE NOT EXISTS (SELECT FROM sipcall.calls c WHERE c.id = k.id);

-- the inserting role needs INSERT on call_keys and SELECT on its id, as
-- the statement would (and SELECT on the row to have it found the same)
CREATE ROLE sipcall_ck_app;
GRANT USAGE ON SCHEMA sipcall TO sipcall_ck_app;
GRANT SELECT, INSERT ON sipcall.calls, sipcall.call_events TO sipcall_ck_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA sipcall TO sipcall_ck_app;
SET ROLE sipcall_ck_app;
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000ca001', '\x01', '2020-02-12 10:00+00');
RESET ROLE;
GRANT INSERT ON sipcall.call_keys TO sipcall_ck_app;
SET ROLE sipcall_ck_app;
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000ca001', '\x01', '2020-02-12 10:00+00', 'ck-app');
RESET ROLE;
GRANT SELECT (id) ON sipcall.call_keys TO sipcall_ck_app;
SET ROLE sipcall_ck_app;
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000ca001', '\x01', '2020-02-12 10:00+00', 'ck-app')
RETURNING call_uuid;
RESET ROLE;
-- a registry row there already (a restore loaded it) is looked at only
-- with SELECT on it
INSERT INTO sipcall.call_keys (id, call_uuid, user_id, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000cc007', 'ck-restored',
        '00000000-0000-0000-0000-0000000ca001', '2020-02-12 11:00+00');
SET ROLE sipcall_ck_app;
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000cc007', '00000000-0000-0000-0000-0000000ca001',
        '\x01', '2020-02-12 11:00+00', 'ck-restored');
RESET ROLE;
GRANT SELECT ON sipcall.call_keys TO sipcall_ck_app;
SET ROLE sipcall_ck_app;
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000cc007', '00000000-0000-0000-0000-0000000ca001',
        '\x01', '2020-02-12 11:00+00', 'ck-restored')
RETURNING call_uuid;
RESET ROLE;
REVOKE SELECT ON sipcall.call_keys FROM sipcall_ck_app;

-- a call_keys that has gained what an INSERT acts on (a check constraint,
-- an insert trigger, an index on an expression) gets its rows by INSERT:
-- each is obeyed
BEGIN;
ALTER TABLE sipcall.call_keys ADD CONSTRAINT ck_no_x CHECK (call_uuid <> 'x');
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000cc0e3', '00000000-0000-0000-0000-0000000ca001',
        '\x01', '2020-02-13 10:00+00', 'x');
ROLLBACK;
BEGIN;
CREATE FUNCTION pg_temp.ck_notice() RETURNS trigger LANGUAGE plpgsql
AS $$ BEGIN RAISE WARNING 'registry row for %', NEW.call_uuid; RETURN NEW; END $$;
CREATE TRIGGER ck_notice BEFORE INSERT ON sipcall.call_keys
    FOR EACH ROW EXECUTE FUNCTION pg_temp.ck_notice();
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000ca001', '\x01', '2020-02-13 10:00+00', 'ck-trig');
-- also when the row is there already: a move to another month's partition
-- inserts into call_keys by statement again (ON CONFLICT DO NOTHING, which
-- fires the trigger), as a restore that loaded call_keys first would
SELECT count(sipcall.create_partition('sipcall.calls', d::date))
  FROM (VALUES ('2018-01-01'), ('2018-02-01')) v(d);
UPDATE sipcall.calls SET initiated_at = '2018-01-13 10:00+00' WHERE call_uuid = 'ck-trig';
UPDATE sipcall.calls SET initiated_at = '2018-02-13 10:00+00' WHERE call_uuid = 'ck-trig';
SELECT c.tableoid::regclass AS partition, k.initiated_at AT TIME ZONE 'UTC' AS registry_utc
  FROM sipcall.calls c JOIN sipcall.call_keys k USING (id) WHERE c.call_uuid = 'ck-trig';
ROLLBACK;
BEGIN;
CREATE UNIQUE INDEX ck_lower ON sipcall.call_keys (lower(call_uuid));
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000ca001', '\x01', '2020-02-13 10:00+00', 'CK-1');
ROLLBACK;
-- an index on plain columns is written without the executor, and kept
BEGIN;
CREATE INDEX ck_user_time ON sipcall.call_keys (user_id, initiated_at);
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000ca001', '\x01', '2020-02-20 10:00+00');
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM sipcall.call_keys
 WHERE user_id = '00000000-0000-0000-0000-0000000ca001'
   AND initiated_at = '2020-02-20 10:00+00';
SELECT count(*) AS rows_found_through_the_new_index FROM sipcall.call_keys
 WHERE user_id = '00000000-0000-0000-0000-0000000ca001'
   AND initiated_at = '2020-02-20 10:00+00';
ROLLBACK;

-- the events of a call made in this transaction: the call's user, also
-- after the call changed owner, and no call once it is gone
BEGIN;
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000cc002', '00000000-0000-0000-0000-0000000ca001',
        '\x01', '2020-02-14 10:00+00');
INSERT INTO sipcall.call_events (call_id, event_type, "timestamp")
VALUES ('00000000-0000-0000-0000-0000000cc002', 'CHANNEL_CREATE', '2020-02-14 10:00+00')
RETURNING user_id;
UPDATE sipcall.calls SET user_id = '00000000-0000-0000-0000-0000000ca002'
 WHERE id = '00000000-0000-0000-0000-0000000cc002';
INSERT INTO sipcall.call_events (call_id, event_type, "timestamp")
VALUES ('00000000-0000-0000-0000-0000000cc002', 'CHANNEL_ANSWER', '2020-02-14 10:00:01+00')
RETURNING user_id;
SELECT event_type, user_id FROM sipcall.call_events
 WHERE call_id = '00000000-0000-0000-0000-0000000cc002' ORDER BY id;
DELETE FROM sipcall.calls WHERE id = '00000000-0000-0000-0000-0000000cc002';
INSERT INTO sipcall.call_events (call_id, event_type, "timestamp")
VALUES ('00000000-0000-0000-0000-0000000cc002', 'CHANNEL_HANGUP', '2020-02-14 10:00:02+00');
ROLLBACK;

-- a call whose insert was rolled back to a savepoint is no call
BEGIN;
SAVEPOINT s;
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000cc003', '00000000-0000-0000-0000-0000000ca001',
        '\x01', '2020-02-15 10:00+00');
ROLLBACK TO SAVEPOINT s;
INSERT INTO sipcall.call_events (call_id, event_type, "timestamp")
VALUES ('00000000-0000-0000-0000-0000000cc003', 'CHANNEL_CREATE', '2020-02-15 10:00+00');
ROLLBACK;

-- a registry rewritten (CLUSTER) in the same transaction: the call is
-- found where it is now, and is gone once deleted
BEGIN;
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000cc004', '00000000-0000-0000-0000-0000000ca001',
        '\x01', '2020-02-16 10:00+00');
CLUSTER sipcall.call_keys USING calls_id_key;
INSERT INTO sipcall.call_events (call_id, event_type, "timestamp")
VALUES ('00000000-0000-0000-0000-0000000cc004', 'CHANNEL_CREATE', '2020-02-16 10:00+00')
RETURNING user_id;
DELETE FROM sipcall.calls WHERE id = '00000000-0000-0000-0000-0000000cc004';
INSERT INTO sipcall.call_events (call_id, event_type, "timestamp")
VALUES ('00000000-0000-0000-0000-0000000cc004', 'CHANNEL_HANGUP', '2020-02-16 10:00+00');
ROLLBACK;

-- a registry emptied in place (a second TRUNCATE in the transaction that
-- gave it a new file): the address remembered for the call is past the
-- end of the file, and the call is gone (23503), no block to read (the
-- event's id is given: later tests count on call_events_id_seq)
BEGIN;
ALTER TABLE sipcall.calls DISABLE TRIGGER calls_truncate;
TRUNCATE sipcall.calls, sipcall.call_keys, sipcall.call_events;
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000cc005', '00000000-0000-0000-0000-0000000ca001',
        '\x01', '2020-02-17 10:00+00');
TRUNCATE sipcall.calls, sipcall.call_keys, sipcall.call_events;
INSERT INTO sipcall.call_events (id, call_id, event_type, "timestamp")
VALUES (0, '00000000-0000-0000-0000-0000000cc005', 'CHANNEL_CREATE', '2020-02-17 10:00+00');
ROLLBACK;

-- a registry attached as a partition keeps to its bounds (23514)
BEGIN;
CREATE TABLE ck_parent (LIKE sipcall.call_keys) PARTITION BY RANGE (initiated_at);
ALTER TABLE ck_parent ATTACH PARTITION sipcall.call_keys
    FOR VALUES FROM (MINVALUE) TO ('2100-01-01');
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000cc006', '00000000-0000-0000-0000-0000000ca001',
        '\x01', '2101-02-17 10:00+00');
ROLLBACK;

-- rights on call_keys' columns serve as they would for the statement
REVOKE INSERT ON sipcall.call_keys FROM sipcall_ck_app;
GRANT INSERT (id, call_uuid, user_id, initiated_at), SELECT (id)
    ON sipcall.call_keys TO sipcall_ck_app;
SET ROLE sipcall_ck_app;
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000ca001', '\x01', '2020-02-18 10:00+00', 'ck-cols')
RETURNING call_uuid;
RESET ROLE;

-- row security on call_keys holds for the registry row of a new call: a
-- row there that the policies hide (another user's, as a restore of
-- call_keys leaves it before its call) is neither found the same nor
-- told apart from a wrong guess by a role that the policies keep out
BEGIN;
GRANT SELECT ON sipcall.call_keys TO sipcall_ck_app;
ALTER TABLE sipcall.call_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY ck_alice ON sipcall.call_keys TO sipcall_ck_app
    USING (user_id = '00000000-0000-0000-0000-0000000ca001')
    WITH CHECK (user_id = '00000000-0000-0000-0000-0000000ca001');
INSERT INTO sipcall.call_keys (id, call_uuid, user_id, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000cc501', 'ck-hidden',
        '00000000-0000-0000-0000-0000000ca002', '2020-02-19 10:00+00');
SET ROLE sipcall_ck_app;
SAVEPOINT s;
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000cc501', '00000000-0000-0000-0000-0000000ca002',
        '\x01', '2020-02-19 10:00+00', 'ck-guess');
ROLLBACK TO s;
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000cc501', '00000000-0000-0000-0000-0000000ca002',
        '\x01', '2020-02-19 10:00+00', 'ck-hidden');
ROLLBACK TO s;
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000ca001', '\x01', '2020-02-19 10:00+00', 'ck-rls')
RETURNING call_uuid;
RESET ROLE;
ROLLBACK;

-- INSERT ... SELECT routed to a month's partition: the trigger's row comes
-- in the plan's layout, whose columns have no names; the keys are still
-- read (an id in another month, or the same call again, is 23505), and a
-- new call gets its registry row
BEGIN;
SELECT count(sipcall.create_partition('sipcall.calls', d::date))
  FROM (VALUES ('2019-03-01'), ('2019-05-01')) v(d);
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at, call_uuid)
SELECT '00000000-0000-0000-0000-0000000cc301'::uuid, u.id, '\x01', '2019-03-05 10:00+00', 'ck-sel'
  FROM sipcall.users u WHERE u.nextcloud_user_id = 'ck_alice';
SELECT tableoid::regclass AS partition, call_uuid FROM sipcall.calls
 WHERE id = '00000000-0000-0000-0000-0000000cc301';
SELECT call_uuid, initiated_at AT TIME ZONE 'UTC' AS initiated_utc FROM sipcall.call_keys
 WHERE id = '00000000-0000-0000-0000-0000000cc301';
SAVEPOINT s;
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
SELECT id, user_id, '\x01', initiated_at + interval '2 months'
  FROM sipcall.calls WHERE call_uuid = 'ck-sel';
ROLLBACK TO s;
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at, call_uuid)
SELECT id, user_id, destination_number_enc, initiated_at, call_uuid
  FROM sipcall.calls WHERE call_uuid = 'ck-sel';
ROLLBACK TO s;
-- and a move to the other month by UPDATE ... FROM
UPDATE sipcall.calls c SET initiated_at = v.t
  FROM (VALUES ('2019-05-06 10:00+00'::timestamptz)) v(t)
 WHERE c.call_uuid = 'ck-sel';
SELECT c.tableoid::regclass AS partition, k.initiated_at AT TIME ZONE 'UTC' AS registry_utc
  FROM sipcall.calls c JOIN sipcall.call_keys k USING (id) WHERE c.call_uuid = 'ck-sel';
ROLLBACK;

-- a statement that changes the call's owner and then inserts an event of
-- it (a writable CTE, a function called by the statement): the event gets
-- the owner the call has now, not the one of the statement's snapshot
-- (whose registry row this transaction has since replaced), and a call
-- the statement deleted is no call (event ids given: see above)
BEGIN;
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000cc401', '00000000-0000-0000-0000-0000000ca001',
        '\x01', '2020-02-21 10:00+00');
WITH u AS (UPDATE sipcall.calls SET user_id = '00000000-0000-0000-0000-0000000ca002'
            WHERE id = '00000000-0000-0000-0000-0000000cc401' RETURNING id)
INSERT INTO sipcall.call_events (id, call_id, event_type, "timestamp")
SELECT -401, id, 'CHANNEL_CREATE', '2020-02-21 10:00+00' FROM u
RETURNING user_id;
CREATE FUNCTION pg_temp.ck_give(c uuid, u uuid) RETURNS uuid LANGUAGE plpgsql
AS $$ BEGIN UPDATE sipcall.calls SET user_id = u WHERE id = c; RETURN c; END $$;
INSERT INTO sipcall.call_events (id, call_id, event_type, "timestamp")
SELECT -402, pg_temp.ck_give('00000000-0000-0000-0000-0000000cc401',
                             '00000000-0000-0000-0000-0000000ca001'),
       'CHANNEL_ANSWER', '2020-02-21 10:00:01+00'
RETURNING user_id;
SELECT event_type, e.user_id = c.user_id AS event_has_the_calls_user
  FROM sipcall.call_events e JOIN sipcall.calls c ON c.id = e.call_id
 WHERE e.call_id = '00000000-0000-0000-0000-0000000cc401' ORDER BY e.id DESC;
CREATE FUNCTION pg_temp.ck_drop(c uuid) RETURNS uuid LANGUAGE plpgsql
AS $$ BEGIN DELETE FROM sipcall.calls WHERE id = c; RETURN c; END $$;
INSERT INTO sipcall.call_events (id, call_id, event_type, "timestamp")
SELECT -403, pg_temp.ck_drop('00000000-0000-0000-0000-0000000cc401'),
       'CHANNEL_HANGUP', '2020-02-21 10:00:02+00';
ROLLBACK;

-- clean up
REVOKE ALL ON sipcall.calls, sipcall.call_events, sipcall.call_keys FROM sipcall_ck_app;
REVOKE USAGE ON ALL SEQUENCES IN SCHEMA sipcall FROM sipcall_ck_app;
REVOKE USAGE ON SCHEMA sipcall FROM sipcall_ck_app;
DROP ROLE sipcall_ck_app;
DELETE FROM sipcall.users WHERE nextcloud_user_id IN ('ck_alice', 'ck_bob');
SELECT count(*) AS left_over FROM sipcall.call_keys
 WHERE user_id IN ('00000000-0000-0000-0000-0000000ca001', '00000000-0000-0000-0000-0000000ca002');
