-- bench/rate_limit.sql: one check per transaction, a random user of :users,
-- a limit that is never reached (throughput, every answer true)
\set u random(1, :users)
SELECT check_rate_limit(('00000000-0000-4000-8000-' || lpad(:u::text, 12, '0'))::uuid,
                        'api/calls', 1000000000, 60);
