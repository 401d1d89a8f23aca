/* sipcall--1.0.sql: assembled by make from the files in src/sql, edit those */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION sipcall CASCADE" to load this file. \quit


/*
 * Every name and operator below resolves through pg_catalog and sipcall's
 * own schema only, whatever search_path CREATE EXTENSION runs with (which
 * holds the schema of pgcrypto, often public): the views and defaults are
 * bound now, by OID.  SET LOCAL ends with this script.
 */
SET LOCAL search_path = pg_catalog, @extschema@, pg_temp;
