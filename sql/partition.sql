--
-- Seed-style inserts, partition routing, keys across partitions, and
-- sipcall.create_partition.  Sessions run in PST8PDT: months are UTC.
--
SET client_min_messages = warning;

INSERT INTO sipcall.users (id, nextcloud_user_id, display_name)
VALUES ('00000000-0000-0000-0000-00000000a001', 'part_alice', 'Alice');

-- the contract's inserts, verbatim apart from the values
INSERT INTO sipcall.calls (user_id, destination_number_enc, status)
     VALUES ('00000000-0000-0000-0000-00000000a001', pgp_sym_encrypt('+4915112345678', 'k'), 'initiated')
  RETURNING (tableoid::regclass)::text
            = format('sipcall.calls_y%s', to_char(now() AT TIME ZONE 'UTC', 'YYYY"m"MM')) AS in_current_month;

INSERT INTO sipcall.call_events (call_id, event_type, event_data)
     SELECT id, 'CHANNEL_ANSWER', '{"codec":"OPUS"}' FROM sipcall.calls
      WHERE user_id = '00000000-0000-0000-0000-00000000a001'
  RETURNING user_id,
            (tableoid::regclass)::text
            = format('sipcall.call_events_y%s', to_char(now() AT TIME ZONE 'UTC', 'YYYY"m"MM')) AS in_current_month;

-- past, a UTC month boundary seen from PST8PDT, and the far future
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000c0001', '00000000-0000-0000-0000-00000000a001', '\x01', '2020-03-15 12:00+00', 'fs-1'),
       ('00000000-0000-0000-0000-0000000c0002', '00000000-0000-0000-0000-00000000a001', '\x01', '2020-03-31 23:30:00-08', 'fs-2'),
       ('00000000-0000-0000-0000-0000000c0003', '00000000-0000-0000-0000-00000000a001', '\x01', '2199-12-31 23:59:59+00', 'fs-3');
SELECT id, tableoid::regclass FROM sipcall.calls
 WHERE id::text LIKE '00000000-0000-0000-0000-0000000c%' ORDER BY id;

INSERT INTO sipcall.call_events (call_id, event_type, "timestamp")
VALUES ('00000000-0000-0000-0000-0000000c0001', 'CHANNEL_CREATE', '2020-03-15 12:00+00'),
       ('00000000-0000-0000-0000-0000000c0001', 'CHANNEL_ANSWER', '2020-03-15 12:00:05+00'),
       ('00000000-0000-0000-0000-0000000c0002', 'CHANNEL_CREATE', '2020-04-01 07:30+00');

-- keys across partitions: call_uuid and id stay unique (23505)
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-00000000a001', '\x01', now(), 'fs-1');
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000c0001', '00000000-0000-0000-0000-00000000a001', '\x01', '2031-01-01');
-- a NULL call_uuid may repeat, as with a UNIQUE column
INSERT INTO sipcall.calls (user_id, destination_number_enc) VALUES
    ('00000000-0000-0000-0000-00000000a001', '\x01'),
    ('00000000-0000-0000-0000-00000000a001', '\x01');

-- dangling references: 23503 (the rows are of a month without a partition,
-- so that the messages name the default partitions, whatever the date)
INSERT INTO sipcall.call_events (call_id, event_type, "timestamp")
VALUES ('00000000-0000-0000-0000-0000000c0999', 'CHANNEL_CREATE', '2019-06-15 12:00+00');
-- (the foreign key itself, when the trigger is bypassed by giving user_id)
INSERT INTO sipcall.call_events (call_id, event_type, user_id, "timestamp")
VALUES ('00000000-0000-0000-0000-0000000c0998', 'CHANNEL_CREATE',
        '00000000-0000-0000-0000-00000000a001', '2019-06-15 12:00+00');
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at)
VALUES ('00000000-0000-0000-0000-00000000ffff', '\x01', '2019-06-15 12:00+00');

-- create_partition moves the month's rows out of the default partition,
-- keeps the events of moved calls, and leaves other months alone
SELECT sipcall.create_partition('sipcall.calls', '2020-03-02');
SELECT sipcall.create_partition('sipcall.call_events', '2020-03-31');
SELECT id, tableoid::regclass FROM sipcall.calls
 WHERE id::text LIKE '00000000-0000-0000-0000-0000000c%' ORDER BY id;
SELECT call_id, event_type, tableoid::regclass FROM sipcall.call_events
 WHERE call_id::text LIKE '00000000-0000-0000-0000-0000000c%' ORDER BY id;
SELECT count(*) AS call_keys_of_moved_calls FROM sipcall.call_keys
 WHERE id::text LIKE '00000000-0000-0000-0000-0000000c%';
SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = 'sipcall.calls_y2020m03'::regclass;

-- idempotent
SELECT sipcall.create_partition('sipcall.calls', '2020-03-31');
SELECT count(*) FROM pg_inherits WHERE inhparent = 'sipcall.calls'::regclass
   AND inhrelid::regclass::text = 'sipcall.calls_y2020m03';

-- the new partitions are not extension members and not registered for
-- pg_dump, which then dumps them whole; each has the default partition's
-- keys and indexes (the parents have none)
SELECT c.relname,
       c.oid = ANY (e.extconfig) AS registered,
       EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.refobjid = e.oid
                 AND d.deptype = 'e') AS member,
       obj_description(c.oid, 'pg_class') AS comment
  FROM pg_class c, pg_extension e
 WHERE e.extname = 'sipcall' AND c.relname IN ('calls_y2020m03', 'call_events_y2020m03')
 ORDER BY 1;
SELECT indexrelid::regclass, indisprimary AS pk,
       regexp_replace(pg_get_indexdef(indexrelid), '^.* USING ', '') AS def
  FROM pg_index WHERE indrelid = 'sipcall.calls_y2020m03'::regclass
 ORDER BY indexrelid::regclass::text;
SELECT count(*) AS parent_indexes FROM pg_index
 WHERE indrelid IN ('sipcall.calls'::regclass, 'sipcall.call_events'::regclass);

-- moved rows are intact and unique keys still hold in the new partition
SELECT count(*) FROM sipcall.calls_y2020m03 WHERE destination_number_enc = '\x01';
INSERT INTO sipcall.calls (user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-00000000a001', '\x01', '2020-03-20', 'fs-2');

-- a call whose key row is already there, identical (as a restore loads
-- call_keys before calls), is accepted; an identical second call is not:
-- the partition's primary key holds its id, initiated_at and user_id
INSERT INTO sipcall.call_keys (id, call_uuid, user_id, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000c0004', 'fs-4',
        '00000000-0000-0000-0000-00000000a001', '2020-03-10 10:00+00');
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000c0004', '00000000-0000-0000-0000-00000000a001',
        '\x01', '2020-03-10 10:00+00', 'fs-4')
RETURNING tableoid::regclass;
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000c0004', '00000000-0000-0000-0000-00000000a001',
        '\x02', '2020-03-10 10:00+00', 'fs-4');
-- a key row that differs in anything is a duplicate id
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at, call_uuid)
VALUES ('00000000-0000-0000-0000-0000000c0004', '00000000-0000-0000-0000-00000000a001',
        '\x02', '2020-03-10 10:00+00', 'fs-4b');
SELECT count(*) AS calls_c0004 FROM sipcall.calls
 WHERE id = '00000000-0000-0000-0000-0000000c0004';
DELETE FROM sipcall.calls WHERE id = '00000000-0000-0000-0000-0000000c0004';
-- every call refers to its key row (calls_id_fkey)
DELETE FROM sipcall.call_keys WHERE id = '00000000-0000-0000-0000-0000000c0001';

-- deleting a call removes its events, wherever they are
DELETE FROM sipcall.calls WHERE id = '00000000-0000-0000-0000-0000000c0001';
SELECT count(*) AS events_left FROM sipcall.call_events
 WHERE call_id = '00000000-0000-0000-0000-0000000c0001';
SELECT count(*) AS key_left FROM sipcall.call_keys
 WHERE id = '00000000-0000-0000-0000-0000000c0001';

-- moving a call to another month keeps its events and its key
UPDATE sipcall.calls SET initiated_at = '2020-03-01 00:00+00'
 WHERE id = '00000000-0000-0000-0000-0000000c0002';
SELECT c.tableoid::regclass, e.call_id = c.id AS event_follows,
       k.initiated_at = c.initiated_at AS key_follows
  FROM sipcall.calls c
  JOIN sipcall.call_events e ON e.call_id = c.id
  JOIN sipcall.call_keys k ON k.id = c.id
 WHERE c.id = '00000000-0000-0000-0000-0000000c0002';

-- a call given to another user takes its events along
INSERT INTO sipcall.users (id, nextcloud_user_id)
VALUES ('00000000-0000-0000-0000-00000000a002', 'part_bob');
UPDATE sipcall.calls SET user_id = '00000000-0000-0000-0000-00000000a002'
 WHERE id = '00000000-0000-0000-0000-0000000c0002';
SELECT DISTINCT e.user_id, k.user_id AS key_user
  FROM sipcall.call_events e JOIN sipcall.call_keys k ON k.id = e.call_id
 WHERE e.call_id = '00000000-0000-0000-0000-0000000c0002';
-- an event moved to another call takes that call's user
UPDATE sipcall.call_events SET call_id = (SELECT id FROM sipcall.calls
        WHERE user_id = '00000000-0000-0000-0000-00000000a001' LIMIT 1)
 WHERE call_id = '00000000-0000-0000-0000-0000000c0002'
RETURNING user_id;
DELETE FROM sipcall.users WHERE id = '00000000-0000-0000-0000-00000000a002';

-- a new id for a call: its key row and its events follow, in its
-- partition and into another one
BEGIN;
INSERT INTO sipcall.call_events (call_id, event_type, "timestamp")
VALUES ('00000000-0000-0000-0000-0000000c0003', 'CHANNEL_CREATE', '2020-03-15 12:00+00');
UPDATE sipcall.calls SET id = '00000000-0000-0000-0000-0000000c0009'
 WHERE id = '00000000-0000-0000-0000-0000000c0003';
SELECT (SELECT count(*) FROM sipcall.call_keys WHERE id = '00000000-0000-0000-0000-0000000c0009') AS key,
       (SELECT count(*) FROM sipcall.call_keys WHERE id = '00000000-0000-0000-0000-0000000c0003') AS old_key,
       (SELECT count(*) FROM sipcall.call_events WHERE call_id = '00000000-0000-0000-0000-0000000c0009') AS events;
UPDATE sipcall.calls SET id = '00000000-0000-0000-0000-0000000c000a', initiated_at = '2020-03-02 00:00+00'
 WHERE id = '00000000-0000-0000-0000-0000000c0009'
RETURNING tableoid::regclass;
SELECT k.id, k.initiated_at = c.initiated_at AS key_follows, e.call_id = c.id AS event_follows,
       (SELECT count(*) FROM sipcall.call_keys WHERE id = '00000000-0000-0000-0000-0000000c0009') AS old_key
  FROM sipcall.calls c
  JOIN sipcall.call_keys k ON k.id = c.id
  JOIN sipcall.call_events e ON e.call_id = c.id
 WHERE c.id = '00000000-0000-0000-0000-0000000c000a';
-- a new id that is taken: 23505
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000c0005', '00000000-0000-0000-0000-00000000a001', '\x01', '2020-03-05');
UPDATE sipcall.calls SET id = '00000000-0000-0000-0000-0000000c0005'
 WHERE id = '00000000-0000-0000-0000-0000000c000a';
ROLLBACK;

-- TRUNCATE of calls empties call_keys and call_events with it
BEGIN;
TRUNCATE sipcall.calls;
SELECT (SELECT count(*) FROM sipcall.calls) AS calls,
       (SELECT count(*) FROM sipcall.call_keys) AS keys,
       (SELECT count(*) FROM sipcall.call_events) AS events;
ROLLBACK;

-- bad input
SELECT sipcall.create_partition('sipcall.users', '2020-01-01');
SELECT sipcall.create_partition('pg_catalog.pg_class', '2020-01-01');
SELECT sipcall.create_partition('sipcall.calls_default', '2020-01-01');
SELECT sipcall.create_partition('sipcall.calls', 'infinity');
SELECT sipcall.create_partition('sipcall.calls', '10000-01-01');
SELECT sipcall.create_partition(NULL, '2020-01-01') IS NULL AS strict;
SELECT sipcall.create_partition('sipcall.calls', NULL) IS NULL AS strict;
CREATE TABLE sipcall.audit_logs_y2019m01 (x int);
SELECT sipcall.create_partition('sipcall.audit_logs', '2019-01-05');
DROP TABLE sipcall.audit_logs_y2019m01;

-- only privileged roles may create partitions
CREATE ROLE sipcall_part_app;
GRANT USAGE ON SCHEMA sipcall TO sipcall_part_app;
SET ROLE sipcall_part_app;
SELECT sipcall.create_partition('sipcall.calls', '2020-05-01');
RESET ROLE;
REVOKE USAGE ON SCHEMA sipcall FROM sipcall_part_app;
DROP ROLE sipcall_part_app;

-- clean up
DELETE FROM sipcall.users WHERE id = '00000000-0000-0000-0000-00000000a001';
SELECT count(*) FROM sipcall.calls WHERE user_id = '00000000-0000-0000-0000-00000000a001';
