/* sipcall--1.0.sql: assembled by make from the files in src/sql, edit those */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION sipcall CASCADE" to load this file. \quit

