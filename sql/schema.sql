--
-- The schema: every seed table, column and default, every view.
--
CREATE EXTENSION sipcall CASCADE;

-- seed columns with their types, nullability and defaults
SELECT table_name, column_name, data_type, character_maximum_length AS len,
       is_nullable, column_default
  FROM information_schema.columns
 WHERE table_schema = 'sipcall'
   AND table_name IN ('users', 'calls', 'call_events', 'system_config',
                      'audit_logs', 'rate_limits', 'daily_call_summary')
 ORDER BY table_name, ordinal_position;

-- views
SELECT table_name FROM information_schema.views
 WHERE table_schema = 'sipcall' ORDER BY 1;
SELECT column_name FROM information_schema.columns
 WHERE table_schema = 'sipcall' AND table_name = 'call_statistics'
 ORDER BY ordinal_position;
SELECT column_name FROM information_schema.columns
 WHERE table_schema = 'sipcall' AND table_name = 'user_activity'
 ORDER BY ordinal_position;

-- partitioning: parents, keys and default partitions
SELECT c.relname, pg_get_partkeydef(c.oid)
  FROM pg_class c
 WHERE c.relnamespace = 'sipcall'::regnamespace AND c.relkind = 'p'
 ORDER BY 1;
SELECT inhparent::regclass, inhrelid::regclass
  FROM pg_inherits
 WHERE inhparent IN ('sipcall.calls'::regclass, 'sipcall.call_events'::regclass,
                     'sipcall.audit_logs'::regclass)
   AND pg_get_expr((SELECT relpartbound FROM pg_class WHERE oid = inhrelid), inhrelid) = 'DEFAULT'
 ORDER BY 1;

-- install makes no monthly partition: what it made from now() would differ
-- between the day of a dump and that of its restore (the first maintenance
-- cycle or create_partition makes them)
SELECT count(*) AS monthly_partitions
  FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid
 WHERE i.inhparent IN ('sipcall.calls'::regclass, 'sipcall.call_events'::regclass,
                       'sipcall.audit_logs'::regclass)
   AND p.relname NOT LIKE '%default';

-- the parents have no index of their own (a restored partition brings its
-- own, which an index of the parent would collide with); each partition has
-- its keys and indexes, the default partitions' being the template
SELECT indrelid::regclass AS parent_index
  FROM pg_index
 WHERE indrelid IN ('sipcall.calls'::regclass, 'sipcall.call_events'::regclass,
                    'sipcall.audit_logs'::regclass);
SELECT indisprimary AS pk, pg_get_indexdef(indexrelid)
  FROM pg_index
 WHERE indrelid IN ('sipcall.calls_default'::regclass, 'sipcall.call_events_default'::regclass,
                    'sipcall.audit_logs_default'::regclass)
 ORDER BY indrelid::regclass::text, 1 DESC, 2;

-- keys and uniqueness
SELECT conrelid::regclass, conname, pg_get_constraintdef(oid)
  FROM pg_constraint
 WHERE connamespace = 'sipcall'::regnamespace AND contype IN ('p', 'u', 'f')
   AND conparentid = 0
   AND conrelid IN (SELECT oid FROM pg_class WHERE relname IN
       ('users', 'calls', 'call_keys', 'call_events', 'system_config', 'audit_logs',
        'rate_limits', 'daily_call_summary') AND relnamespace = 'sipcall'::regnamespace)
 ORDER BY 1::text, 2;

-- default configuration
-- (the KDF salt is random per installation: crypto.sql checks its form)
SELECT config_key,
       CASE config_key WHEN 'crypto.kdf_salt' THEN '"(random)"' ELSE config_value END AS config_value,
       is_default
  FROM sipcall.system_config ORDER BY 1;

-- every table, view and function has a comment
SELECT c.relname AS uncommented
  FROM pg_class c
 WHERE c.relnamespace = 'sipcall'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
   AND obj_description(c.oid, 'pg_class') IS NULL;
SELECT p.proname AS uncommented
  FROM pg_proc p
 WHERE p.pronamespace = 'sipcall'::regnamespace
   AND obj_description(p.oid, 'pg_proc') IS NULL;

-- every table and sequence is registered for pg_dump (call_keys included:
-- its foreign keys order a restore); monthly partitions, made later, are not
-- members and are dumped whole
SELECT c.relname AS unregistered
  FROM pg_class c
 WHERE c.relnamespace = 'sipcall'::regnamespace AND c.relkind IN ('r', 'p', 'S')
   AND c.oid <> ALL ((SELECT extconfig FROM pg_extension WHERE extname = 'sipcall')::oid[])
 ORDER BY 1;
