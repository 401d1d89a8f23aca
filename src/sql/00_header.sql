/* sipcall--1.1.sql: assembled by make from the files in src/sql, edit those */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION sipcall CASCADE" to load this file. \quit


/*
 * Every name and operator below resolves through pg_catalog and sipcall's
 * own schema only, whatever search_path CREATE EXTENSION runs with (which
 * holds the schema of pgcrypto, often public): the views and defaults are
 * bound now, by OID.  SET LOCAL ends with this script.
 */
SET LOCAL search_path = pg_catalog, pg_temp;

/*
 * The schema must be a new one of our own.  CREATE EXTENSION uses a schema
 * sipcall that exists already, whoever made it: a database owner could make
 * it before a superuser installs sipcall, fill it with operators such as
 * =(varchar, varchar) that pg_catalog lacks, and every comparison below and
 * in the triggers would then run the owner's code as a superuser.  So the
 * schema has to belong to the installing role or a superuser, and hold
 * nothing yet.  (pg_dump writes CREATE SCHEMA sipcall before CREATE
 * EXTENSION; that schema is the restoring superuser's, and empty.)  This
 * runs before anything resolves a name through @extschema@, and names
 * every operator it uses.
 */
DO $check_schema$
DECLARE
    nsp   oid;
    owner oid;
    held  text;
BEGIN
    SELECT n.oid, n.nspowner INTO nsp, owner
      FROM pg_catalog.pg_namespace n
     WHERE n.nspname OPERATOR(pg_catalog.=) 'sipcall';
    IF owner OPERATOR(pg_catalog.<>) (SELECT r.oid FROM pg_catalog.pg_roles r
                                        WHERE r.rolname OPERATOR(pg_catalog.=) current_user)
       AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r
                 WHERE r.oid OPERATOR(pg_catalog.=) owner) THEN
        RAISE EXCEPTION 'schema "sipcall" already exists and is owned by role "%"',
                        pg_catalog.pg_get_userbyid(owner)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'sipcall installs only into a schema of the installing role or of a superuser, which another role could not have filled with its own operators and functions.',
                  HINT = 'Drop the schema or give it to the installing role (ALTER SCHEMA sipcall OWNER TO ...), check what it holds, then install again.';
    END IF;
    -- everything but sipcall's own pg_extension row, being made
    SELECT pg_catalog.string_agg(o.what, ', ' ORDER BY o.what)
      INTO held
      FROM (SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) AS what
              FROM pg_catalog.pg_depend d
             WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
               AND d.refobjid OPERATOR(pg_catalog.=) nsp
               AND d.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_extension'::pg_catalog.regclass) o;
    IF held IS NOT NULL THEN
        RAISE EXCEPTION 'schema "sipcall" already exists and is not empty'
            USING ERRCODE = 'duplicate_schema',
                  DETAIL = 'It holds: ' || held || '.  sipcall installs only into an empty schema: objects already there could take the place of the ones it resolves by name.',
                  HINT = 'Move or drop what the schema holds, then install again.';
    END IF;
END
$check_schema$;

SET LOCAL search_path = pg_catalog, @extschema@, pg_temp;
