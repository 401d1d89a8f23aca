/*
 * Analytics views.  Days are UTC days, whatever the session's TimeZone.
 */

CREATE VIEW @extschema@.call_statistics AS
SELECT pg_catalog.date_trunc('day', initiated_at, 'UTC') AS call_date,
       count(*) AS total_calls,
       count(CASE WHEN status = 'completed' THEN 1 END) AS completed_calls,
       avg(duration_seconds) AS avg_duration,
       sum(cost_cents) AS total_cost_cents,
       avg(quality_score) AS avg_quality
  FROM @extschema@.calls
 GROUP BY pg_catalog.date_trunc('day', initiated_at, 'UTC')
 ORDER BY call_date DESC;

COMMENT ON VIEW @extschema@.call_statistics IS
    'Calls per UTC day, computed live from sipcall.calls';

CREATE VIEW @extschema@.user_activity AS
SELECT u.id,
       u.display_name,
       count(c.id) AS total_calls,
       max(c.initiated_at) AS last_call,
       sum(c.cost_cents) AS total_cost_cents,
       avg(c.quality_score) AS avg_quality
  FROM @extschema@.users u
  LEFT JOIN @extschema@.calls c ON u.id = c.user_id
 GROUP BY u.id, u.display_name;

COMMENT ON VIEW @extschema@.user_activity IS
    'Per user: number of calls, last call, total cost and average quality';
