--
-- Nobody but a superuser drops sipcall, not even by a cascade (issue 14,
-- review F1).  The app's role owns its database and so its schema public;
-- pgcrypto is trusted, so the role may create it itself before sipcall is
-- installed.  Either ownership used to let it drop sipcall with every
-- call record: DROP EXTENSION pgcrypto CASCADE, DROP SCHEMA public CASCADE,
-- DROP OWNED BY itself CASCADE, or any drop that cascades into pgcrypto.
-- Runs in a database of its own.  (specs/drop_guard_rename.spec: the same
-- with a schema renamed under a waiting DROP SCHEMA.)
--
SELECT current_user AS dg_admin \gset
CREATE ROLE regress_sipcall_dg_app LOGIN;
CREATE DATABASE regress_sipcall_dg OWNER regress_sipcall_dg_app;
\c regress_sipcall_dg regress_sipcall_dg_app
-- the database's owner makes pgcrypto, in public, its own schema
CREATE EXTENSION pgcrypto;
SELECT e.extname, r.rolname AS owner, n.nspname AS schema, n.nspowner::regrole AS schema_owner
  FROM pg_extension e JOIN pg_roles r ON r.oid = e.extowner
  JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'pgcrypto';

-- a superuser installs sipcall and grants the app its tables
\c regress_sipcall_dg :dg_admin
CREATE EXTENSION sipcall;
GRANT USAGE ON SCHEMA sipcall TO regress_sipcall_dg_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sipcall TO regress_sipcall_dg_app;
INSERT INTO sipcall.users (id, nextcloud_user_id)
     VALUES ('00000000-0000-0000-0000-0000000000d9', 'dg');
SELECT evtname, evtevent, evtenabled, evttags FROM pg_event_trigger;

-- the app tries each cascade: refused, and nothing is gone
\c regress_sipcall_dg regress_sipcall_dg_app
\set VERBOSITY default
DROP EXTENSION pgcrypto CASCADE;
DROP EXTENSION IF EXISTS nonesuch, pgcrypto CASCADE;
DROP SCHEMA public CASCADE;
-- (DROP OWNED also revokes grants, with a WARNING for each it cannot)
SET client_min_messages = error;
DROP OWNED BY regress_sipcall_dg_app CASCADE;
DROP OWNED BY CURRENT_USER CASCADE;
RESET client_min_messages;
-- a cascade through objects the statement does not name: pgcrypto is the
-- app's, so it may add a view of its own to it, then drop what the view
-- reads (second review, G2)
CREATE TABLE public.app_t (x int);
CREATE VIEW public.app_v AS SELECT x FROM public.app_t;
ALTER EXTENSION pgcrypto ADD VIEW public.app_v;
DROP TABLE public.app_t CASCADE;
ALTER EXTENSION pgcrypto DROP VIEW public.app_v;
DROP VIEW public.app_v;
DROP TABLE public.app_t;
\set VERBOSITY terse
SELECT extname FROM pg_extension WHERE extname IN ('pgcrypto', 'sipcall') ORDER BY 1;
SELECT count(*) AS users FROM sipcall.users;
-- drops that do not reach sipcall go on as before
CREATE SCHEMA app_own;
CREATE TABLE app_own.t (x int);
DROP SCHEMA app_own CASCADE;
DROP SCHEMA public;
DROP EXTENSION pgcrypto;
-- the guard is not the app's to call or to disable
SELECT sipcall.drop_guard();
ALTER EVENT TRIGGER sipcall_drop_guard DISABLE;
SET session_replication_role = replica;

-- a superuser may still drop sipcall, also by a cascade
\c regress_sipcall_dg :dg_admin
SELECT sipcall.drop_guard();
-- but nobody renames sipcall's schema: the database's owner could then
-- make a new schema sipcall whose tables sipcall's code would write to
\set VERBOSITY default
ALTER SCHEMA sipcall RENAME TO sipcall_moved;
\set VERBOSITY terse
SELECT n.nspname FROM pg_namespace n JOIN pg_extension e ON e.extnamespace = n.oid
 WHERE e.extname = 'sipcall';
-- other changes to the schema, and renames of other schemas, go on
ALTER SCHEMA sipcall OWNER TO CURRENT_USER;
CREATE SCHEMA dg_other;
ALTER SCHEMA dg_other RENAME TO dg_other2;
DROP SCHEMA dg_other2;
BEGIN;
DROP SCHEMA public CASCADE;
SELECT count(*) AS left_over FROM pg_extension WHERE extname IN ('pgcrypto', 'sipcall');
ROLLBACK;
DROP EXTENSION sipcall;
SELECT count(*) AS guards FROM pg_event_trigger WHERE evtname = 'sipcall_drop_guard';

\c contrib_regression :dg_admin
DROP DATABASE regress_sipcall_dg;
DROP ROLE regress_sipcall_dg_app;
