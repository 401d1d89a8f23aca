/*
 * Analytics views.  Days are UTC days, whatever the session's TimeZone.
 *
 * Every function and operator is schema-qualified, and the script runs
 * with search_path pinned to pg_catalog and sipcall's schema, so the
 * views are bound to pg_catalog's (by OID) whatever schemas and search
 * paths exist when they are created or read.
 */

CREATE VIEW @extschema@.call_statistics AS
SELECT pg_catalog.date_trunc('day', initiated_at, 'UTC') AS call_date,
       pg_catalog.count(*) AS total_calls,
       pg_catalog.count(CASE WHEN status OPERATOR(pg_catalog.=) 'completed' THEN 1 END) AS completed_calls,
       pg_catalog.avg(duration_seconds) AS avg_duration,
       pg_catalog.sum(cost_cents) AS total_cost_cents,
       pg_catalog.avg(quality_score) AS avg_quality
  FROM @extschema@.calls
 GROUP BY pg_catalog.date_trunc('day', initiated_at, 'UTC')
 ORDER BY call_date DESC;

COMMENT ON VIEW @extschema@.call_statistics IS
    'Calls per UTC day, computed live from sipcall.calls';

CREATE VIEW @extschema@.user_activity AS
SELECT u.id,
       u.display_name,
       pg_catalog.count(c.id) AS total_calls,
       pg_catalog.max(c.initiated_at) AS last_call,
       pg_catalog.sum(c.cost_cents) AS total_cost_cents,
       pg_catalog.avg(c.quality_score) AS avg_quality
  FROM @extschema@.users u
  LEFT JOIN @extschema@.calls c ON u.id OPERATOR(pg_catalog.=) c.user_id
 GROUP BY u.id, u.display_name;

COMMENT ON VIEW @extschema@.user_activity IS
    'Per user: number of calls, last call, total cost and average quality';
