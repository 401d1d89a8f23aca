-- bench/rate_limit_one.sql: every client on one (user, endpoint) key
SELECT check_rate_limit('00000000-0000-4000-8000-000000000001'::uuid,
                        'api/hot', 1000000000, 60);
