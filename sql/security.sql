--
-- Security: no role gains the rights of the extension owner or of a
-- superuser through sipcall, and no caller disturbs another's state
-- (API.md, Clarification 15).
--
-- Part 1.  A hostile role owns a database and so its schema public (as the
-- Nextcloud manual sets it up), plants look-alike operators, functions and
-- aggregates there for every type sipcall compares, each of which records
-- the role it runs as (and makes the hostile role a superuser when it runs
-- as one), and puts public first on the database's search_path -- all
-- before sipcall is even installed.  Then every sipcall function, trigger
-- and view, and the maintenance cycle, run in that database, driven by the
-- hostile role and by a superuser.  No look-alike may ever run as anyone
-- but the hostile role, and the role must gain nothing.
--
SELECT current_user AS sec_admin \gset
CREATE ROLE regress_hostile LOGIN;
CREATE DATABASE regress_sec OWNER regress_hostile;
\c regress_sec regress_hostile

\i test/lookalikes.sql

-- the trap is set: public first, for every session in this database
ALTER DATABASE regress_sec SET search_path = public, pg_catalog;

-- the look-alikes work: in the hostile role's own session they run
SELECT 'a'::varchar = 'a'::varchar AS eq, count(*) AS n FROM (VALUES (1)) v;
SELECT fn FROM public.lookalike_log ORDER BY 1;
TRUNCATE public.lookalike_log;

-- a superuser installs sipcall in this database, in a session whose
-- search_path the database sets, and grants what the README says the
-- application's role needs
\c regress_sec :sec_admin
SHOW search_path;
CREATE EXTENSION sipcall CASCADE;
GRANT USAGE ON SCHEMA sipcall TO regress_hostile;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sipcall TO regress_hostile;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA sipcall TO regress_hostile;
GRANT EXECUTE ON FUNCTION sipcall.export_user_data(uuid, text),
                          sipcall.delete_user_data(uuid) TO regress_hostile;

-- the views bound pg_catalog's operators and functions when they were made:
-- they depend on no function or operator elsewhere (pg_depend lists no
-- dependency on pg_catalog's own)
SELECT DISTINCT v.relname AS view, o.nspname AS binds_from
  FROM pg_catalog.pg_class v
  JOIN pg_catalog.pg_rewrite r ON r.ev_class OPERATOR(pg_catalog.=) v.oid
  JOIN pg_catalog.pg_depend d
    ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
   AND d.objid OPERATOR(pg_catalog.=) r.oid
  JOIN LATERAL (
        SELECT p.pronamespace AS nsp FROM pg_catalog.pg_proc p
         WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND p.oid OPERATOR(pg_catalog.=) d.refobjid
        UNION ALL
        SELECT p.oprnamespace FROM pg_catalog.pg_operator p
         WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass
           AND p.oid OPERATOR(pg_catalog.=) d.refobjid) f ON true
  JOIN LATERAL (SELECT n.nspname FROM pg_catalog.pg_namespace n
                 WHERE n.oid OPERATOR(pg_catalog.=) f.nsp) o ON true
 WHERE v.relnamespace OPERATOR(pg_catalog.=) 'sipcall'::pg_catalog.regnamespace
   AND v.relkind OPERATOR(pg_catalog.=) 'v'
 ORDER BY 1, 2;

-- every SECURITY DEFINER function and every trigger function of sipcall
-- pins its search_path; trigger functions are not executable by PUBLIC
SELECT p.proname, p.prosecdef, p.proconfig,
       pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM pg_catalog.pg_proc p
 WHERE p.pronamespace OPERATOR(pg_catalog.=) 'sipcall'::pg_catalog.regnamespace
   AND (p.prosecdef OR p.prorettype OPERATOR(pg_catalog.=) 'pg_catalog.trigger'::pg_catalog.regtype)
 ORDER BY 1;

-- the application's role at work: users, calls (in a far past month, so
-- in the default partition), events, audit entries, settings, rate limits,
-- encryption, the views
\c regress_sec regress_hostile
SET search_path = public, pg_catalog, sipcall;
INSERT INTO sipcall.users (id, nextcloud_user_id, display_name) VALUES
    ('00000000-0000-0000-0000-0000000000a1', 'alice', 'Alice'),
    ('00000000-0000-0000-0000-0000000000b2', 'bob', 'Bob'),
    ('00000000-0000-0000-0000-0000000000c3', 'carol', 'Carol');
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, call_uuid, status,
                           initiated_at, duration_seconds, cost_cents, quality_score)
VALUES ('10000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000a1',
        sipcall.encrypt_data('+4915112345678', 'sec-key'), 'fs-1', 'completed',
        '2001-03-10 10:00+00', 60, 12, 4.5),
       ('10000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-0000000000a1',
        sipcall.encrypt_data('+4915112345679', 'sec-key'), 'fs-2', 'initiated',
        '2001-03-11 10:00+00', NULL, NULL, NULL),
       ('10000000-0000-0000-0000-000000000003', '00000000-0000-0000-0000-0000000000b2',
        sipcall.encrypt_data('+4915112345670', 'sec-key'), 'fs-3', 'completed',
        '2001-03-12 10:00+00', 30, 5, 3.0),
       ('10000000-0000-0000-0000-000000000004', '00000000-0000-0000-0000-0000000000c3',
        sipcall.encrypt_data('+4915112345671', 'sec-key'), 'fs-4', 'completed',
        '2001-03-12 11:00+00', 10, 1, 2.0);
INSERT INTO sipcall.call_events (call_id, event_type, event_data, "timestamp")
VALUES ('10000000-0000-0000-0000-000000000001', 'CHANNEL_ANSWER', '{"codec": "OPUS"}', '2001-03-10 10:00:05+00'),
       ('10000000-0000-0000-0000-000000000003', 'CHANNEL_ANSWER', '{"codec": "OPUS"}', '2001-03-12 10:00:05+00'),
       ('10000000-0000-0000-0000-000000000004', 'CHANNEL_HANGUP', NULL, '2001-03-12 11:00:15+00');
UPDATE sipcall.call_events SET call_id = '10000000-0000-0000-0000-000000000002'
 WHERE event_type = 'CHANNEL_HANGUP';
UPDATE sipcall.calls SET status = 'completed', duration_seconds = 20, initiated_at = '2001-04-02 09:00+00'
 WHERE call_uuid = 'fs-2';
INSERT INTO sipcall.audit_logs (user_id, action, resource_type, resource_id, "timestamp")
VALUES ('00000000-0000-0000-0000-0000000000a1', 'login', 'user', '00000000-0000-0000-0000-0000000000a1', '2001-03-10 09:00+00'),
       ('00000000-0000-0000-0000-0000000000b2', 'login', 'user', '00000000-0000-0000-0000-0000000000b2', '2001-03-12 09:00+00');
INSERT INTO sipcall.system_config (config_key, config_value) VALUES ('app.theme', '"dark"');
UPDATE sipcall.system_config SET config_value = '"light"' WHERE config_key = 'app.theme';
INSERT INTO sipcall.system_config (config_key, config_value) VALUES ('partition.premake_months', '3');
SELECT sipcall.check_rate_limit('00000000-0000-0000-0000-0000000000a1', 'POST /calls', 2) AS first,
       sipcall.check_rate_limit('00000000-0000-0000-0000-0000000000a1', 'POST /calls', 2) AS second,
       sipcall.check_rate_limit('00000000-0000-0000-0000-0000000000a1', 'POST /calls', 2) AS third;
SELECT request_count, remaining FROM sipcall.rate_limit_status('00000000-0000-0000-0000-0000000000a1', 'POST /calls', 2);
UPDATE sipcall.rate_limits SET request_count = 0 WHERE endpoint = 'POST /calls';
SELECT sipcall.check_rate_limit('00000000-0000-0000-0000-0000000000b2', 'sms', 0) AS blocked;
SELECT sipcall.decrypt_data(destination_number_enc, 'sec-key') FROM sipcall.calls WHERE call_uuid = 'fs-1';
-- erasing a user by hand: the cascade runs as the tables' owner
DELETE FROM sipcall.users WHERE nextcloud_user_id = 'carol';
SELECT count(*) AS call_statistics_days FROM sipcall.call_statistics;
SELECT display_name, total_calls FROM sipcall.user_activity ORDER BY display_name;
SELECT table_name, row_count FROM sipcall.default_partition_rows ORDER BY table_name;
SELECT pg_catalog.jsonb_typeof(sipcall.export_user_data('00000000-0000-0000-0000-0000000000a1', 'sec-key')) AS export;

-- a superuser runs every maintenance function, in a session that has the
-- hostile search_path, and changes calls and settings by hand
\c regress_sec :sec_admin
SET search_path = public, pg_catalog;
UPDATE sipcall.calls SET duration_seconds = duration_seconds;
INSERT INTO sipcall.system_config (config_key, config_value) VALUES ('retention.calls', '"1 year"');
SELECT sipcall.create_partition('sipcall.calls', '2001-06-15');
SELECT sipcall.premake_partitions() OPERATOR(pg_catalog.>=) 0 AS premade;
SELECT sipcall.drain_default_partitions() AS moved;
SELECT sipcall.refresh_daily_summary();
SELECT call_date, total_calls, completed_calls, avg_duration, total_cost_cents
  FROM sipcall.daily_call_summary ORDER BY call_date;
SELECT sipcall.rebuild_daily_summary() AS days;
SELECT sipcall.cleanup_old_call_events() AS events_removed;
SELECT sipcall.cleanup_old_audit_logs() AS audit_removed;
SELECT sipcall.cleanup_old_calls() AS calls_removed;
SELECT sipcall.run_maintenance() OPERATOR(pg_catalog.->>) 'status' AS cycle;
SELECT sipcall.run_maintenance() OPERATOR(pg_catalog.->>) 'status' AS cycle_again;
\set VERBOSITY sqlstate
SELECT sipcall.schedule_maintenance();
SELECT sipcall.unschedule_maintenance();
\set VERBOSITY default

-- still with the hostile search_path, a call and an event by hand, then
-- every kind of change to the call's keys: the C triggers on calls and
-- call_events run their statements in this session and must resolve no
-- look-alike
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, call_uuid, initiated_at)
VALUES ('10000000-0000-0000-0000-000000000005', '00000000-0000-0000-0000-0000000000a1',
        '\x01', 'fs-5', '2001-06-15 10:00+00');
INSERT INTO sipcall.call_events (call_id, event_type, "timestamp")
VALUES ('10000000-0000-0000-0000-000000000005', 'CHANNEL_CREATE', '2001-06-15 10:00+00');
UPDATE sipcall.calls SET call_uuid = 'fs-5b', user_id = '00000000-0000-0000-0000-0000000000b2'
 WHERE id OPERATOR(pg_catalog.=) '10000000-0000-0000-0000-000000000005';
UPDATE sipcall.calls SET id = '10000000-0000-0000-0000-000000000006'
 WHERE id OPERATOR(pg_catalog.=) '10000000-0000-0000-0000-000000000005';
UPDATE sipcall.calls SET initiated_at = '2001-05-15 10:00+00'
 WHERE id OPERATOR(pg_catalog.=) '10000000-0000-0000-0000-000000000006';
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, call_uuid, initiated_at)
VALUES ('10000000-0000-0000-0000-000000000007', '00000000-0000-0000-0000-0000000000a1',
        '\x01', 'fs-5b', '2001-06-16 10:00+00');
INSERT INTO sipcall.calls (id, user_id, destination_number_enc, call_uuid, initiated_at)
VALUES ('10000000-0000-0000-0000-000000000006', '00000000-0000-0000-0000-0000000000a1',
        '\x01', 'fs-6', '2001-06-16 10:00+00');
SELECT k.id, k.call_uuid, k.user_id, k.initiated_at OPERATOR(pg_catalog.=) '2001-05-15 10:00+00' AS moved,
       e.user_id AS event_user, c.tableoid::pg_catalog.regclass AS partition
  FROM sipcall.call_keys k
  JOIN sipcall.calls c ON c.id OPERATOR(pg_catalog.=) k.id
  LEFT JOIN sipcall.call_events e ON e.call_id OPERATOR(pg_catalog.=) k.id
 WHERE k.id OPERATOR(pg_catalog.=) ANY ('{10000000-0000-0000-0000-000000000005,10000000-0000-0000-0000-000000000006}');

-- the application erases a user (as the extension owner, inside)
\c regress_sec regress_hostile
SET search_path = public, pg_catalog, sipcall;
INSERT INTO sipcall.calls (user_id, destination_number_enc, status, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000000b2', sipcall.encrypt_data('+49', 'sec-key'),
        'completed', '2001-03-20 10:00+00');
SELECT sipcall.delete_user_data('00000000-0000-0000-0000-0000000000b2') AS erased;
SELECT sipcall.delete_user_data('00000000-0000-0000-0000-0000000000b2') AS erased_again;

-- and a superuser empties the tables (the TRUNCATE triggers)
\c regress_sec :sec_admin
TRUNCATE sipcall.rate_limits;
TRUNCATE sipcall.calls CASCADE;

-- the verdict: no look-alike ran as anyone but the hostile role, which
-- gained nothing
SET search_path = pg_catalog, pg_temp;
SELECT fn, who FROM public.lookalike_log WHERE who <> 'regress_hostile' ORDER BY 1, 2;
SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication
  FROM pg_roles WHERE rolname = 'regress_hostile';
SELECT count(*) AS memberships FROM pg_auth_members WHERE member = 'regress_hostile'::regrole;

\c contrib_regression :sec_admin
DROP DATABASE regress_sec;
DROP ROLE regress_hostile;

--
-- Part 2.  A trigger function of sipcall fires on its own table only.  A
-- role without EXECUTE cannot attach one at all; one attached to another
-- table by a superuser refuses to run (39P01).  This is what keeps
-- rate_limits_invalidate from being hung on a stranger's table to wipe the
-- shared rate-limit counters at every commit.
--
CREATE ROLE regress_stranger LOGIN;
CREATE SCHEMA regress_stranger AUTHORIZATION regress_stranger;
GRANT USAGE ON SCHEMA sipcall TO regress_stranger;
SET ROLE regress_stranger;
CREATE TABLE regress_stranger.t (user_id uuid, endpoint varchar(255));
CREATE TRIGGER wipe AFTER TRUNCATE ON regress_stranger.t
    FOR EACH STATEMENT EXECUTE FUNCTION sipcall.rate_limits_invalidate();
CREATE TRIGGER wipe_rows AFTER INSERT ON regress_stranger.t
    FOR EACH ROW EXECUTE FUNCTION sipcall.rate_limits_invalidate('users');
CREATE TRIGGER track AFTER INSERT ON regress_stranger.t
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sipcall.calls_track_trigger();
CREATE TRIGGER fill BEFORE INSERT ON regress_stranger.t
    FOR EACH ROW EXECUTE FUNCTION sipcall.call_events_fill_trigger();
RESET ROLE;

-- a superuser's mistake: every trigger function on a table not its own
CREATE TABLE public.sec_foreign (
    id uuid, user_id uuid, endpoint varchar(255), call_id uuid,
    call_uuid varchar(255), initiated_at timestamptz,
    config_key varchar(255), config_value jsonb, is_default boolean,
    updated_at timestamptz
);
CREATE FUNCTION pg_temp.sec_fire(fn text, timing text, events text, level text,
                                 stmt text, arg text DEFAULT '')
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER sec_t %s %s ON public.sec_foreign %s FOR EACH %s'
                   ' EXECUTE FUNCTION sipcall.%I(%s)',
                   timing, events,
                   CASE WHEN level = 'STATEMENT' AND events IN ('INSERT', 'UPDATE', 'DELETE')
                        THEN 'REFERENCING NEW TABLE AS n' ELSE '' END,
                   level, fn, arg);
    BEGIN
        EXECUTE stmt;
        EXECUTE 'DROP TRIGGER sec_t ON public.sec_foreign';
        RETURN 'ran';
    EXCEPTION WHEN OTHERS THEN
        EXECUTE 'DROP TRIGGER sec_t ON public.sec_foreign';
        RETURN SQLSTATE || ' ' || SQLERRM;
    END;
END;
$$;
SELECT fn, pg_temp.sec_fire(fn, timing, events, level, stmt, arg) AS outcome
  FROM (VALUES
    ('rate_limits_invalidate', 'AFTER', 'TRUNCATE', 'STATEMENT', 'TRUNCATE public.sec_foreign', ''),
    ('rate_limits_invalidate', 'AFTER', 'INSERT', 'ROW', 'INSERT INTO public.sec_foreign DEFAULT VALUES', ''),
    ('calls_keys_trigger', 'BEFORE', 'INSERT', 'ROW', 'INSERT INTO public.sec_foreign DEFAULT VALUES', ''),
    ('calls_truncate_trigger', 'AFTER', 'TRUNCATE', 'STATEMENT', 'TRUNCATE public.sec_foreign', ''),
    ('calls_track_trigger', 'AFTER', 'INSERT', 'STATEMENT', 'INSERT INTO public.sec_foreign DEFAULT VALUES', ''),
    ('call_events_fill_trigger', 'BEFORE', 'INSERT', 'ROW', 'INSERT INTO public.sec_foreign DEFAULT VALUES', ''),
    ('system_config_defaults_trigger', 'BEFORE', 'INSERT', 'ROW', 'INSERT INTO public.sec_foreign DEFAULT VALUES', ''),
    ('system_config_validate_trigger', 'BEFORE', 'INSERT', 'ROW', 'INSERT INTO public.sec_foreign DEFAULT VALUES', '')
  ) AS t(fn, timing, events, level, stmt, arg)
 ORDER BY 1, 2;
-- rows for the DELETE triggers to fire on
INSERT INTO public.sec_foreign (id) VALUES ('00000000-0000-0000-0000-000000000001');
SELECT fn, pg_temp.sec_fire(fn, 'AFTER', 'DELETE', 'ROW', 'DELETE FROM public.sec_foreign', arg) AS outcome
  FROM (VALUES ('rate_limits_invalidate', '''users'''), ('calls_forget_trigger', '')) AS t(fn, arg)
 ORDER BY 1;
DROP TABLE public.sec_foreign;
DROP SCHEMA regress_stranger CASCADE;
REVOKE USAGE ON SCHEMA sipcall FROM regress_stranger;
DROP ROLE regress_stranger;

--
-- Part 3.  decrypt_data never stretches a key with more iterations than
-- this installation writes: a forged count fails at once with 39000
-- instead of costing seconds of CPU.  A value made before the KDF was
-- computed in chunks still decrypts: the derived key is bit for bit the
-- same.
--
CREATE FUNCTION pg_temp.sec_try(e bytea, k text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    RETURN 'decrypted: ' || sipcall.decrypt_data(e, k);
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END;
$$;
CREATE TEMP TABLE sec_env AS SELECT sipcall.encrypt_data('12345', 'k1') AS e;
SET statement_timeout = '2s';
SELECT iterations, pg_temp.sec_try(overlay(e PLACING iterations FROM 12 FOR 4), 'k1') AS outcome
  FROM sec_env,
       (VALUES ('\x00989680'::bytea), ('\x7fffffff'::bytea), ('\x000927c1'::bytea)) AS i(iterations)
 ORDER BY 1;
SELECT pg_temp.sec_try(e, 'k1') AS intact FROM sec_env;
RESET statement_timeout;
-- made by sipcall 35084d9 (OpenSSL's PKCS5_PBKDF2_HMAC, 600,000 iterations)
SELECT sipcall.decrypt_data('\x5343450101041e435b9e01000927c010ac5262df8a9c6a96e8beb26bef0f4bbee4d833207be955a8b7f4ac8c8e2cdfbd34689f630c1b0e92011d072e4d075e3d1f659b8f7ed53053', 'kat passphrase') AS known_answer;

--
-- Part 4.  The schema sipcall must be a new one of the installer's own.
-- A database owner who makes it first, and plants in it an operator
-- pg_catalog lacks (=(varchar, varchar), which the install script's
-- triggers and checks would resolve), must not become a superuser when a
-- superuser then runs CREATE EXTENSION: the install refuses the schema
-- (42501).  A schema of a superuser that another role was let fill is
-- refused too (42P06); an empty one of a superuser, as pg_dump makes it
-- before CREATE EXTENSION, is fine.  After install, a schema that changed
-- hands stops every path with raised rights (42501).
--
CREATE ROLE regress_squatter LOGIN;
CREATE DATABASE regress_squat OWNER regress_squatter;
\c regress_squat regress_squatter
CREATE SCHEMA sipcall;
CREATE TABLE public.squat_log (who name);
GRANT INSERT ON public.squat_log TO PUBLIC;
CREATE FUNCTION sipcall.squat_eq(a varchar, b varchar) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO public.squat_log VALUES (current_user);
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r
         WHERE r.rolname OPERATOR(pg_catalog.=) current_user) THEN
        EXECUTE 'ALTER ROLE regress_squatter SUPERUSER';
    END IF;
    RETURN a::text OPERATOR(pg_catalog.=) b::text;
END;
$$;
CREATE OPERATOR sipcall.= (LEFTARG = varchar, RIGHTARG = varchar,
                           FUNCTION = sipcall.squat_eq);
\c regress_squat :sec_admin
CREATE EXTENSION sipcall CASCADE;
SELECT extname FROM pg_extension WHERE extname = 'sipcall';
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_squatter';
SELECT DISTINCT who FROM public.squat_log WHERE who <> 'regress_squatter';
-- a superuser's schema that the squatter was let fill
DROP SCHEMA sipcall CASCADE;
CREATE SCHEMA sipcall;
GRANT CREATE, USAGE ON SCHEMA sipcall TO regress_squatter;
SET ROLE regress_squatter;
CREATE FUNCTION sipcall.squat_eq(a varchar, b varchar) RETURNS boolean
LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR sipcall.= (LEFTARG = varchar, RIGHTARG = varchar,
                           FUNCTION = sipcall.squat_eq);
RESET ROLE;
CREATE EXTENSION sipcall CASCADE;
SELECT extname FROM pg_extension WHERE extname = 'sipcall';
-- an empty schema of a superuser, as a restore of pg_dump makes it
DROP SCHEMA sipcall CASCADE;
CREATE SCHEMA sipcall;
CREATE EXTENSION sipcall CASCADE;
SELECT extname FROM pg_extension WHERE extname = 'sipcall';
-- the schema changes hands after install: nothing runs with raised rights
ALTER SCHEMA sipcall OWNER TO regress_squatter;
\set VERBOSITY terse
SELECT sipcall.premake_partitions();
SELECT sipcall.refresh_daily_summary();
\set VERBOSITY default
ALTER SCHEMA sipcall OWNER TO :"sec_admin";
SELECT sipcall.refresh_daily_summary() IS NOT NULL AS refreshed;
SELECT DISTINCT who FROM public.squat_log WHERE who <> 'regress_squatter';
\c contrib_regression :sec_admin
DROP DATABASE regress_squat;
DROP ROLE regress_squatter;

--
-- Part 5.  The export decrypts as the extension's owner, but on its
-- caller's behalf: pgcrypto's pgp_sym_decrypt is checked for EXECUTE as
-- the caller, so a role refused it by decrypt_data is refused it by the
-- export too (42501).
--
CREATE ROLE regress_exporter LOGIN;
GRANT USAGE ON SCHEMA sipcall TO regress_exporter;
GRANT EXECUTE ON FUNCTION sipcall.export_user_data(uuid, text) TO regress_exporter;
INSERT INTO sipcall.users (id, nextcloud_user_id)
VALUES ('00000000-0000-0000-0000-0000000005e1', 'sec_pgp');
INSERT INTO sipcall.calls (user_id, destination_number_enc, status, initiated_at)
VALUES ('00000000-0000-0000-0000-0000000005e1',
        pgp_sym_encrypt('+4930123456', 'pgp key'), 'completed', '2019-06-01 10:00+00');
REVOKE EXECUTE ON FUNCTION pgp_sym_decrypt(bytea, text) FROM PUBLIC;
SET ROLE regress_exporter;
SELECT sipcall.decrypt_data(pgp_sym_encrypt('x', 'pgp key'), 'pgp key');
SELECT sipcall.export_user_data('00000000-0000-0000-0000-0000000005e1', 'pgp key')
       #>> '{calls,0,destination_number}';
RESET ROLE;
GRANT EXECUTE ON FUNCTION pgp_sym_decrypt(bytea, text) TO regress_exporter;
SET ROLE regress_exporter;
SELECT sipcall.export_user_data('00000000-0000-0000-0000-0000000005e1', 'pgp key')
       #>> '{calls,0,destination_number}' AS exported;
RESET ROLE;
GRANT EXECUTE ON FUNCTION pgp_sym_decrypt(bytea, text) TO PUBLIC;
REVOKE EXECUTE ON FUNCTION pgp_sym_decrypt(bytea, text) FROM regress_exporter;
SELECT sipcall.delete_user_data('00000000-0000-0000-0000-0000000005e1') IS NOT NULL AS erased;
REVOKE ALL ON FUNCTION sipcall.export_user_data(uuid, text) FROM regress_exporter;
REVOKE USAGE ON SCHEMA sipcall FROM regress_exporter;
DROP ROLE regress_exporter;
